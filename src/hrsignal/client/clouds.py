"""Where to send: the Microsoft cloud endpoints (spec §3.2), overrides, and URL joining.

The official scripts hard-code one pair of hosts per cloud and the GCC script builds
``…office365.us//api/signals`` from a base with a trailing slash; here every URL is joined
through :func:`join_url`, so a base with or without a trailing slash gives the same URL.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from hrsignal.errors import UsageError

#: The connector's resource (audience) since 2025-03-12 (official PR #15), in every cloud.
DEFAULT_RESOURCE = "https://microsoft.onmicrosoft.com/86dfdabb-5089-4a0c-880a-cfa5a790c5b1"
#: The resource used before 2025-03-12; still accepted by older connectors.
LEGACY_RESOURCE = "https://microsoft.onmicrosoft.com/4e476d41-2395-42be-89ff-34cb9186a1ac"


@dataclass(frozen=True, slots=True)
class Cloud:
    """The login (authority host) and ingestion base of one Microsoft cloud."""

    name: str
    login_url: str
    ingestion_url: str


# The public script uses login.windows.net; login.microsoftonline.com is the same service and
# the host msal knows, so it avoids an instance-discovery round trip.
CLOUDS: dict[str, Cloud] = {
    "public": Cloud(
        "public", "https://login.microsoftonline.com", "https://webhook.ingestion.office.com"
    ),
    "gcc": Cloud(
        "gcc", "https://login.microsoftonline.com", "https://webhook-gcc.ingestion.office365.us"
    ),
    "gcc-high": Cloud(
        "gcc-high",
        "https://login.microsoftonline.us",
        "https://webhook-itarl4.ingestion.office365.us",
    ),
    "dod": Cloud(
        "dod", "https://login.microsoftonline.us", "https://webhook-itarl5.ingestion.apps.mil"
    ),
}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")
_JOB = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")


def join_url(base: str, *parts: str) -> str:
    """Join a base URL and path parts with exactly one slash between each."""
    url = base.rstrip("/")
    for part in parts:
        url += "/" + part.strip("/")
    return url


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The resolved URLs and identifiers of one upload target."""

    tenant_id: str
    app_id: str
    job_id: str
    login_url: str
    ingestion_url: str
    resource: str

    @property
    def authority(self) -> str:
        """The msal authority: the login host plus the tenant."""
        return join_url(self.login_url, self.tenant_id)

    @property
    def signals_url(self) -> str:
        """``{ingestion}/api/signals``."""
        return join_url(self.ingestion_url, "api/signals")

    @property
    def scope(self) -> str:
        """The v2 scope of the connector's resource."""
        return join_url(self.resource, ".default")

    @property
    def is_microsoft_login(self) -> bool:
        """True when the login host is one of Microsoft's (msal validates those itself)."""
        host = urlsplit(self.login_url).hostname or ""
        return any(host == urlsplit(c.login_url).hostname for c in CLOUDS.values()) or host in (
            "login.windows.net",
            "login.microsoft.com",
        )


def resolve_endpoints(
    *,
    tenant_id: str,
    app_id: str,
    job_id: str,
    cloud: str = "public",
    login_url: str | None = None,
    ingestion_url: str | None = None,
    resource: str | None = None,
) -> Endpoints:
    """Check the identifiers and pick the hosts: the cloud's, unless overridden."""
    tenant_id, app_id, job_id = tenant_id.strip(), app_id.strip(), job_id.strip()
    if not (_GUID.match(tenant_id) or _DOMAIN.match(tenant_id)):
        raise UsageError(
            f"--tenant-id {tenant_id!r} is neither a GUID nor a domain name",
            hint="copy the Directory (tenant) ID from Entra ID > Overview",
        )
    if not _GUID.match(app_id):
        raise UsageError(
            f"--app-id {app_id!r} is not a GUID",
            hint="use the Application (client) ID from Entra ID > App registrations, "
            "not the app's name or object ID",
        )
    if not _JOB.match(job_id):
        raise UsageError(
            f"--job-id {job_id!r} is not a connector job ID",
            hint="copy the Job ID shown on the HR connector's flyout in the Purview portal",
        )
    try:
        chosen = CLOUDS[cloud]
    except KeyError:
        raise UsageError(f"--cloud {cloud!r}: use one of {', '.join(CLOUDS)}") from None
    login = _check_url(login_url or chosen.login_url, "--login-url", https_only=True)
    ingestion = _check_url(ingestion_url or chosen.ingestion_url, "--ingestion-url")
    return Endpoints(
        tenant_id=tenant_id,
        app_id=app_id,
        job_id=job_id,
        login_url=login,
        ingestion_url=ingestion,
        resource=(resource or DEFAULT_RESOURCE).strip().rstrip("/"),
    )


def _check_url(url: str, option: str, *, https_only: bool = False) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"{option} {url!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        raise UsageError(f"{option} {url!r}: give the base URL, without a query")
    if parts.scheme == "http" and (https_only or not _is_loopback(parts.hostname)):
        # HR data and secrets never travel in clear text beyond this machine.
        raise UsageError(
            f"{option} {url!r} uses plain http",
            hint="use https (plain http is allowed only for a loopback ingestion URL)"
            if not https_only
            else "the token endpoint must use https",
        )
    return url.strip().rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
