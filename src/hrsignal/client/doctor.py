"""``hrsignal doctor``: check each step between this machine and the connector, and say in
plain words what is wrong.

The checks follow the path of an upload: the proxy, DNS and TLS of the login and ingestion
hosts, a token (its decoded ``aud``, ``appid``, ``tid`` and expiry checked against the
options), and optionally a header-only POST that shows whether the job belongs to the app.
These cover the failures users report most: a firewall, a TLS-inspecting proxy, a wrong
tenant, an expired secret and an app that does not match the job.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import socket
import ssl
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import click
import httpx

from hrsignal.client.clouds import LEGACY_RESOURCE, Endpoints
from hrsignal.client.credentials import CertificateCredential, Credential
from hrsignal.client.tokens import TLS_HINT, TokenProvider, decode_claims
from hrsignal.client.transport import encode_multipart, ssl_context
from hrsignal.errors import AuthError, HrsignalError, TransportError


@dataclass(slots=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str
    hint: str | None = None
    exit_code: int = 0


def _proxy_for(url: str) -> str | None:
    scheme = urlsplit(url).scheme
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        if os.environ.get(name):
            return os.environ[name]
    return None


def check_proxy(proxy: str, timeout: float) -> Check:
    """DNS and TCP to the proxy from ``HTTPS_PROXY``."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host, port = parts.hostname or "", parts.port or 8080
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return Check(
            "proxy",
            False,
            f"cannot connect to the proxy {host}:{port} ({exc})",
            "HTTPS_PROXY names a proxy that does not answer: fix or unset it",
            5,
        )
    return Check("proxy", True, f"{host}:{port} reachable (requests go through it)")


def check_host(label: str, url: str, verify: str | bool, timeout: float) -> list[Check]:
    """DNS, then TCP and TLS (directly, when no proxy is set)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = sorted({str(a[4][0]) for a in socket.getaddrinfo(host, port)})
    except socket.gaierror as exc:
        return [
            Check(
                f"{label} DNS",
                False,
                f"{host} does not resolve ({exc.strerror})",
                "check the host name (--cloud, --login-url, --ingestion-url) and this "
                "machine's DNS",
                5,
            )
        ]
    checks = [Check(f"{label} DNS", True, f"{host} -> {', '.join(addresses[:4])}")]
    if _proxy_for(url) or parts.scheme != "https":
        return checks  # through a proxy, reachability is shown by the HTTP checks below
    ctx = ssl_context(verify)
    context = ctx if isinstance(ctx, ssl.SSLContext) else ssl.create_default_context()
    start = time.monotonic()
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert() or {}
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        checks.append(
            Check(f"{label} TLS", False, f"{host}:{port}: {exc.verify_message}", TLS_HINT, 5)
        )
        return checks
    except (TimeoutError, ConnectionError, OSError) as exc:
        checks.append(
            Check(
                f"{label} TLS",
                False,
                f"cannot connect to {host}:{port} ({exc})",
                f"a firewall may block it: allow outbound HTTPS to {parts.scheme}://{host}"
                + (f":{port}" if parts.port else ""),
                5,
            )
        )
        return checks
    expires = cert.get("notAfter")
    ms = (time.monotonic() - start) * 1000
    checks.append(
        Check(
            f"{label} TLS",
            True,
            f"{host}:{port} {version}, certificate valid until {expires} ({ms:.0f} ms)",
        )
    )
    return checks


def check_http(endpoints: Endpoints, verify: str | bool, timeout: float) -> list[Check]:
    """GET the ingestion endpoint (through the proxy when one is set): any HTTP answer shows
    it is reachable; its Date header shows the clock skew that breaks tokens."""
    url = endpoints.signals_url
    try:
        response = httpx.get(url, verify=ssl_context(verify), timeout=timeout, trust_env=True)
    except httpx.ProxyError as exc:
        return [Check("ingestion HTTP", False, f"the proxy refused: {exc}", _PROXY_HINT, 5)]
    except httpx.HTTPError as exc:
        hint = TLS_HINT if "CERTIFICATE_VERIFY_FAILED" in str(exc) else _FIREWALL_HINT
        return [Check("ingestion HTTP", False, f"GET {url} failed: {exc}", hint, 5)]
    checks = [Check("ingestion HTTP", True, f"GET {url}: HTTP {response.status_code}")]
    date = response.headers.get("Date")
    if date:
        try:
            remote = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return checks
        skew = (dt.datetime.now(dt.UTC) - remote).total_seconds()
        if abs(skew) > 300:
            checks.append(
                Check(
                    "clock",
                    False,
                    f"this machine's clock is {skew:+.0f} s off the server's",
                    "tokens are refused when clocks differ by minutes: enable NTP",
                    4,
                )
            )
    return checks


_PROXY_HINT = "check HTTPS_PROXY (and proxy credentials, if the proxy needs them)"
_FIREWALL_HINT = "a firewall or proxy may block it: allow outbound HTTPS to the ingestion host"


def check_token(endpoints: Endpoints, tokens: TokenProvider) -> tuple[list[Check], str | None]:
    """Acquire a token and check its claims against the options."""
    try:
        token = tokens.get()
    except AuthError as exc:
        return [Check("token", False, exc.message, exc.hint, 4)], None
    except TransportError as exc:
        return [Check("token", False, exc.message, exc.hint, 5)], None
    claims = decode_claims(token)
    exp = claims.get("exp")
    expires = (
        dt.datetime.fromtimestamp(int(exp), dt.UTC).isoformat(timespec="seconds")
        if isinstance(exp, int | float)
        else "?"
    )
    shown = {k: claims.get(k) for k in ("aud", "appid", "tid", "iss")}
    checks = [
        Check(
            "token",
            True,
            f"acquired: aud={shown['aud']} appid={shown['appid']} tid={shown['tid']} "
            f"expires {expires}",
        )
    ]
    aud = str(claims.get("aud", "")).rstrip("/")
    if aud and aud not in (endpoints.resource, LEGACY_RESOURCE):
        checks.append(
            Check(
                "token audience",
                False,
                f"the token is for {aud}, not the connector's resource {endpoints.resource}",
                "check --resource",
                4,
            )
        )
    appid = claims.get("appid") or claims.get("azp")
    if appid and str(appid).lower() != endpoints.app_id.lower():
        checks.append(
            Check("token app", False, f"the token is for app {appid}", "check --app-id", 4)
        )
    tid = claims.get("tid")
    if tid and "." not in endpoints.tenant_id and str(tid).lower() != endpoints.tenant_id.lower():
        checks.append(
            Check("token tenant", False, f"the token is for tenant {tid}", "check --tenant-id", 4)
        )
    return checks, token


def check_job(endpoints: Endpoints, token: str, verify: str | bool, timeout: float) -> Check:
    """POST a header-only CSV (no records): 2xx means the job accepts this app's uploads."""
    content_type, body = encode_multipart(
        b"EmailAddress,ResignationDate,LastWorkingDate\n", "hrsignal-doctor-probe.csv"
    )
    try:
        response = httpx.post(
            endpoints.signals_url,
            params={"jobid": endpoints.job_id},
            content=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
            verify=ssl_context(verify),
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        return Check("job", False, f"POST {endpoints.signals_url} failed: {exc}", None, 5)
    if response.is_success:
        return Check("job", True, f"job {endpoints.job_id} accepts uploads from this app")
    text = f"HTTP {response.status_code} {response.reason_phrase} {response.text[:300]}".strip()
    if response.status_code == 403:
        return Check(
            "job",
            False,
            text,
            "the job ID does not belong to this app ('jobId and corresponding appId do not "
            "match.'): copy both from the HR connector's flyout",
            4,
        )
    if response.status_code == 401:
        return Check("job", False, text, "the server does not accept this token", 4)
    return Check("job", False, text, None, 3)


def run_doctor(
    endpoints: Endpoints,
    credential: Credential,
    *,
    verify: str | bool = True,
    timeout: float = 10.0,
    probe_job: bool = False,
    fmt: str = "text",
) -> int:
    """Run every check, print them, and return the exit code (0 when all pass)."""
    checks: list[Check] = []
    kind = (
        f"certificate sha256={credential.sha256_thumbprint} (valid until {credential.not_after})"
        if isinstance(credential, CertificateCredential)
        else "client secret"
    )
    checks.append(
        Check(
            "settings",
            True,
            f"tenant {endpoints.tenant_id}, app {endpoints.app_id}, job {endpoints.job_id}, "
            f"{kind}; login {endpoints.login_url}, ingestion {endpoints.signals_url}, "
            f"resource {endpoints.resource}",
        )
    )
    proxy = _proxy_for(endpoints.signals_url)
    if proxy:
        checks.append(check_proxy(proxy, timeout))
    checks += check_host("login", endpoints.login_url, verify, timeout)
    if endpoints.ingestion_url != endpoints.login_url:
        checks += check_host("ingestion", endpoints.ingestion_url, verify, timeout)
    if all(c.ok for c in checks):
        checks += check_http(endpoints, verify, timeout)
    token: str | None = None
    if all(c.ok for c in checks):
        tokens = TokenProvider(endpoints, credential, verify=verify, timeout=timeout)
        try:
            found, token = check_token(endpoints, tokens)
        except HrsignalError as exc:
            found = [Check("token", False, exc.message, exc.hint, exc.exit_code)]
        finally:
            tokens.close()
        checks += found
    if probe_job and token is not None and all(c.ok for c in checks):
        checks.append(check_job(endpoints, token, verify, timeout))
    failed = [c for c in checks if not c.ok]
    if fmt == "json":
        click.echo(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            mark = click.style("ok  ", fg="green") if c.ok else click.style("FAIL", fg="red")
            click.echo(f"{mark} {c.name}: {c.detail}")
            if c.hint:
                click.echo(f"     -> {c.hint}")
        click.echo("all checks passed" if not failed else f"{len(failed)} check(s) failed")
    return failed[0].exit_code if failed else 0
