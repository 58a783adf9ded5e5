"""Access tokens through msal (client credentials, v2 scope ``<resource>/.default``).

msal caches the token and treats it as expired five minutes early, so one token serves a whole
upload (the official script asked for a new one for every chunk and every retry). When the
ingestion endpoint still answers 401, :class:`BearerAuth` drops that token and retries the
request once with a fresh one, as httpx's documented auth flows do.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Generator
from typing import Any

import httpx
import msal
import requests

from hrsignal.client.clouds import Endpoints
from hrsignal.client.credentials import CertificateCredential, Credential, Secret
from hrsignal.errors import AuthError, TransportError

TLS_HINT = (
    "the server's certificate is not trusted: pass --ca-bundle with your private CA (or "
    "the TLS-inspecting proxy's CA), and check the system clock"
)


class TlsError(TransportError):
    """TLS failed (an untrusted or wrong certificate): retrying will not help."""


# What users most often get wrong, keyed on Entra's AADSTS error numbers.
_HINTS: dict[str, str] = {
    "7000215": "the client secret is wrong: use the secret's Value (not its Secret ID), "
    "from Entra ID > App registrations > Certificates & secrets",
    "7000222": "the client secret has expired: create a new one under Certificates & secrets "
    "and update HRSIGNAL_APP_SECRET / the secret file / Key Vault",
    "700016": "no app with this --app-id in this tenant: check --app-id, --tenant-id and "
    "--cloud (a GCC High app is not in the public cloud)",
    "90002": "the tenant does not exist: check --tenant-id (the Directory ID) and --cloud",
    "900023": "the tenant ID is malformed: check --tenant-id",
    "700027": "the certificate is not registered on the app (or has expired): upload its "
    "public part under Certificates & secrets",
    "500011": "the connector's resource is not known in this tenant: check --resource and --cloud",
    "7000229": "the app has no service principal in this tenant: grant it consent",
}


def describe_entra_error(result: dict[str, Any]) -> AuthError:
    """An :class:`AuthError` with Entra's own text and a plain-words hint."""
    desc = str(result.get("error_description") or result.get("error") or "unknown error")
    first_line = desc.splitlines()[0]
    found = re.search(r"AADSTS(\d+)", desc)
    hint = _HINTS.get(found.group(1)) if found else None
    return AuthError(f"token request refused: {first_line}", hint=hint)


def decode_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, not verified (for display and for checks in ``doctor``)."""
    try:
        payload = token.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


class _Session(requests.Session):
    """A requests session whose ``verify`` and timeout apply to every request.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's ``verify``;
    an explicit ``--ca-bundle`` must win, so it is passed on each request instead.
    """

    def __init__(self, verify: str | bool, timeout: float) -> None:
        super().__init__()
        self._verify = verify
        self._timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """requests' ``request`` with this session's ``verify`` and timeout applied."""
        if self._verify is not True:
            kwargs.setdefault("verify", self._verify)
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


class TokenProvider:
    """Acquires and caches the app's token for the connector's resource."""

    def __init__(
        self,
        endpoints: Endpoints,
        credential: Credential,
        *,
        verify: str | bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.endpoints = endpoints
        self._credential = credential
        self._verify = verify
        self._timeout = timeout
        self._app: msal.ConfidentialClientApplication | None = None
        self._session = _Session(verify, timeout)
        self._lock = threading.Lock()
        #: number of tokens obtained from the token endpoint (not from the cache)
        self.issued = 0

    def _client(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            cred: Any
            if isinstance(self._credential, Secret):
                cred = self._credential.reveal()
            else:
                assert isinstance(self._credential, CertificateCredential)
                cred = self._credential.to_msal()
            custom = not self.endpoints.is_microsoft_login
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.endpoints.app_id,
                    client_credential=cred,
                    authority=self.endpoints.authority,
                    # A self-hosted or test authority is not in Microsoft's instance list.
                    validate_authority=not custom,
                    instance_discovery=None if not custom else False,
                    http_client=self._session,
                )
            except requests.exceptions.SSLError as exc:
                raise TlsError(
                    f"TLS to the login host {self.endpoints.login_url} failed: {_reason(exc)}",
                    hint=TLS_HINT,
                ) from None
            except requests.RequestException as exc:
                raise TransportError(
                    f"cannot reach the login host {self.endpoints.login_url}: {_reason(exc)}",
                    hint="check the network, the proxy (HTTPS_PROXY) and the firewall; "
                    "`hrsignal doctor` tests each step",
                ) from None
            except ValueError as exc:
                raise AuthError(
                    f"the login host does not know tenant {self.endpoints.tenant_id!r}: "
                    f"{str(exc).splitlines()[0]}",
                    hint="check --tenant-id and --cloud (or --login-url)",
                ) from None
        return self._app

    def get(self) -> str:
        """A valid access token (from msal's cache when it has one)."""
        with self._lock:
            app = self._client()
            try:
                result = app.acquire_token_for_client(scopes=[self.endpoints.scope])
            except requests.exceptions.SSLError as exc:
                raise TlsError(
                    f"TLS to the login host {self.endpoints.login_url} failed: {_reason(exc)}",
                    hint=TLS_HINT,
                ) from None
            except requests.RequestException as exc:
                raise TransportError(
                    f"token request to {self.endpoints.login_url} failed: {_reason(exc)}"
                ) from None
            except msal.exceptions.MsalServiceError as exc:  # msal raises on 5xx/429
                raise TransportError(
                    f"the token endpoint {self.endpoints.login_url} failed: {exc}"
                ) from None
            except ValueError as exc:  # msal: malformed certificate or response
                raise AuthError(f"token request failed: {str(exc).splitlines()[0]}") from None
            if "access_token" not in result:
                if _is_transient(result):
                    raise TransportError(
                        f"the token endpoint is unavailable: "
                        f"{str(result.get('error_description', result.get('error')))[:200]}"
                    )
                raise describe_entra_error(result)
            if result.get("token_source") != "cache":
                self.issued += 1
            return str(result["access_token"])

    def close(self) -> None:
        """Close the token endpoint's connections."""
        self._session.close()

    def invalidate(self, token: str) -> None:
        """Forget ``token`` so the next :meth:`get` asks the token endpoint again."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                if entry.get("secret") == token:
                    cache.remove_at(entry)


def _is_transient(result: dict[str, Any]) -> bool:
    # msal turns a 5xx or 429 of the token endpoint into an error dict; those are retryable.
    return str(result.get("error", "")).lower() in (
        "temporarily_unavailable",
        "service_unavailable",
        "server_error",
        "http_error",
    ) or str(result.get("status", "")).startswith("5")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return type(exc).__name__ if not text else f"{type(exc).__name__}: {text[:200]}"


class BearerAuth(httpx.Auth):
    """httpx auth flow: add the bearer token; on a 401, refresh once and resend."""

    requires_request_body = True  # the body is resent after a refresh

    def __init__(self, tokens: TokenProvider) -> None:
        self.tokens = tokens
        #: how many times a 401 made us refresh the token
        self.refreshes = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the cached token; after a 401, once more with a new one."""
        token = self.tokens.get()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self.tokens.invalidate(token)
            self.refreshes += 1
            request.headers["Authorization"] = f"Bearer {self.tokens.get()}"
            yield request
