"""The Entra-compatible identity endpoints: token (v1 and v2), OIDC discovery, JWKS.

Enough of Microsoft's identity platform for the official upload script, the Power Automate
template and ``msal`` to work unchanged but for the host:

* ``POST /{tenant}/oauth2/token`` (v1, ``resource``; the script adds ``?api-version=1.0``)
  and ``POST /{tenant}/oauth2/v2.0/token`` (v2, ``scope=<resource>/.default``);
* client secrets, or certificate client assertions (RS256/PS256 JWT, ``x5t`` or ``x5t#S256``,
  ``aud`` = the token endpoint, single-use ``jti``);
* form bodies parsed leniently: the Power Automate template writes ``client_id = x&\\n...``;
* failed sign-ins are throttled (429 with ``Retry-After``) per caller address and client id,
  before the secret is hashed (:mod:`hrsignal.server.throttle`);
* ``/{tenant}/v2.0/.well-known/openid-configuration``, the JWKS, and the instance-discovery
  document msal asks for (``/common/discovery/instance``).

Errors answer in RFC 6749 form with Entra's ``AADSTS`` codes where Entra has one.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus, urlparse

import anyio
import jwt
from cryptography import x509
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hrsignal.server.context import base_url, state
from hrsignal.store import identity

router = APIRouter()
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Answers that mean "wrong credentials or unknown client": they count towards throttling.
_CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


class OAuthError(Exception):
    """An RFC 6749 error answer."""

    def __init__(self, status: int, error: str, description: str, code: int | None) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.code = code

    def response(self) -> JSONResponse:
        """The error as Entra shapes it."""
        trace = str(uuid.uuid4())
        body = {
            "error": self.error,
            "error_description": (f"AADSTS{self.code}: " if self.code else "") + self.description,
            "error_codes": [self.code] if self.code else [],
            "timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace,
            "correlation_id": trace,
        }
        headers = {"Cache-Control": "no-store"}
        return JSONResponse(body, status_code=self.status, headers=headers)


def parse_form(body: bytes) -> dict[str, str]:
    """Parse a form body leniently: whitespace and newlines around ``=`` and ``&`` ignored."""
    text = body.decode("utf-8", errors="replace")
    form: dict[str, str] = {}
    for pair in text.split("&"):
        if not pair.strip():
            continue
        key, _, value = pair.partition("=")
        form[unquote_plus(key.strip())] = unquote_plus(value.strip())
    return form


def _require(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise OAuthError(
            400,
            "invalid_request",
            f"The request body must contain the following parameter: '{name}'.",
            900144,
        )
    return value


def _audience(form: dict[str, str], version: str, resources: tuple[str, ...], tenant: str) -> str:
    if version == "1.0":
        resource = _require(form, "resource")
    else:
        scope = _require(form, "scope")
        wanted = [s for s in scope.split() if s.endswith("/.default")]
        if not wanted:
            raise OAuthError(
                400,
                "invalid_scope",
                f"The provided value for the input parameter 'scope' is not valid. The scope "
                f"{scope} is not valid; use <resource>/.default for client credentials.",
                1002012,
            )
        resource = wanted[0][: -len("/.default")]
    if resource.rstrip("/") not in {r.rstrip("/") for r in resources}:
        raise OAuthError(
            400,
            "invalid_resource",
            f"The resource principal named {resource} was not found in the tenant named "
            f"{tenant}. The accepted resources are: {', '.join(resources)}.",
            500011,
        )
    return next(r for r in resources if r.rstrip("/") == resource.rstrip("/"))


def _check_assertion(request: Request, tenant: str, app_id: str, assertion: str) -> None:
    st = state(request)
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise OAuthError(
            401, "invalid_client", "The client assertion is not a JWT.", 50027
        ) from None
    # msal writes the thumbprints with base64 padding; JOSE says unpadded: accept both.
    x5t = str(header.get("x5t") or "").rstrip("=") or None
    x5t_s256 = str(header.get("x5t#S256") or "").rstrip("=") or None
    cert = identity.find_certificate(st.store, app_id, x5t=x5t, x5t_s256=x5t_s256)
    if cert is None:
        raise OAuthError(
            401,
            "invalid_client",
            f"The certificate with identifier used to sign the client assertion is not "
            f"registered on application {app_id}.",
            700027,
        )
    public = x509.load_pem_x509_certificate(cert.pem.encode("ascii")).public_key()
    base = base_url(request)
    audiences = [f"{base}/{tenant}/oauth2/token", f"{base}/{tenant}/oauth2/v2.0/token"]
    try:
        claims = jwt.decode(
            assertion,
            public,  # type: ignore[arg-type]
            algorithms=["RS256", "PS256"],
            audience=audiences,
            leeway=st.settings.leeway_s,
            options={"require": ["exp", "aud", "iss", "sub", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise OAuthError(
            401, "invalid_client", "Client assertion is not within its valid time range.", 700024
        ) from None
    except jwt.InvalidAudienceError:
        raise OAuthError(
            401,
            "invalid_client",
            f"The audience claim of the client assertion must be the token endpoint "
            f"({audiences[0]} or {audiences[1]}).",
            700212,
        ) from None
    except jwt.PyJWTError as exc:
        raise OAuthError(
            401, "invalid_client", f"Client assertion failed validation: {exc}.", 700027
        ) from None
    if claims["iss"] != app_id or claims["sub"] != app_id:
        raise OAuthError(
            401,
            "invalid_client",
            "The client assertion's iss and sub must be the client_id.",
            700027,
        )
    if int(claims["exp"]) > time.time() + 24 * 3600:
        raise OAuthError(
            401, "invalid_client", "The client assertion expires too far in the future.", 700024
        )
    expires = dt.datetime.fromtimestamp(int(claims["exp"]) + st.settings.leeway_s, dt.UTC)
    if not identity.remember_assertion(st.store, str(claims["jti"]), expires):
        raise OAuthError(
            401,
            "invalid_client",
            "The client assertion has already been used (its jti was seen before); "
            "sign a new assertion for every token request.",
            None,
        )


def _authenticate(request: Request, tenant: str, form: dict[str, str]) -> identity.App:
    st = state(request)
    client_id = _require(form, "client_id").lower()
    app = identity.find_app(st.store, client_id)
    if app is None or app.tenant_id != tenant.lower():
        raise OAuthError(
            400,
            "unauthorized_client",
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant}'. You might have sent your authentication request to the wrong tenant.",
            700016,
        )
    secret = form.get("client_secret", "").strip()
    assertion = form.get("client_assertion", "").strip()
    if assertion:
        if form.get("client_assertion_type", "").strip() != _ASSERTION_TYPE:
            raise OAuthError(
                400,
                "invalid_request",
                f"client_assertion_type must be {_ASSERTION_TYPE}.",
                50027,
            )
        _check_assertion(request, tenant, app.app_id, assertion)
        return app
    if not secret:
        raise OAuthError(
            401,
            "invalid_client",
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
            7000218,
        )
    verdict = identity.check_secret(st.store, app.app_id, secret)
    if verdict == "expired":
        raise OAuthError(
            401,
            "invalid_client",
            f"The provided client secret keys for app '{app.app_id}' are expired. Create a "
            f"new secret with `hrsignal apps add-secret {app.app_id}`.",
            7000222,
        )
    if verdict != "ok":
        raise OAuthError(
            401,
            "invalid_client",
            "Invalid client secret provided. Ensure the secret being sent in the request is "
            f"the client secret value, not the client secret ID, for a secret added to app "
            f"'{app.app_id}'.",
            7000215,
        )
    return app


async def _token(request: Request, tenant: str, version: str) -> JSONResponse:
    st = state(request)
    address = request.client.host if request.client else "unknown"
    client_id = ""
    try:
        form = parse_form(await request.body())
        client_id = form.get("client_id", "").strip().lower()[:100]
        wait = st.token_throttle.retry_after(address, client_id)
        if wait is not None:
            exc = OAuthError(
                429,
                "temporarily_unavailable",
                f"Too many failed sign-in attempts for this client from {address}; "
                f"try again in {wait} seconds.",
                50053,
            )
            response = exc.response()
            response.headers["Retry-After"] = str(wait)
            return response
        grant = _require(form, "grant_type")
        if grant != "client_credentials":
            raise OAuthError(
                400,
                "unsupported_grant_type",
                f"The grant type {grant!r} is not supported; use client_credentials.",
                70003,
            )
        audience = _audience(form, version, st.settings.resources, tenant)
        # argon2 verification is deliberately slow: keep it off the event loop.
        app = await anyio.to_thread.run_sync(_authenticate, request, tenant, form)
    except OAuthError as exc:
        if exc.error in _CREDENTIAL_ERRORS:
            st.token_throttle.failed(address, client_id)
        return exc.response()
    st.token_throttle.succeeded(address, client_id)
    base = base_url(request)
    issuer = f"{base}/{app.tenant_id}/" if version == "1.0" else f"{base}/{app.tenant_id}/v2.0"
    token, nbf, exp = st.issuer.issue(
        app_id=app.app_id,
        tenant_id=app.tenant_id,
        audience=audience,
        issuer=issuer,
        version=version,
    )
    lifetime = exp - int(time.time())
    body: dict[str, Any]
    if version == "1.0":
        # Power Automate's Parse JSON step expects every v1 field as a string.
        body = {
            "token_type": "Bearer",
            "expires_in": str(lifetime),
            "ext_expires_in": str(lifetime),
            "expires_on": str(exp),
            "not_before": str(nbf),
            "resource": audience,
            "access_token": token,
        }
    else:
        body = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.post("/{tenant}/oauth2/token")
async def token_v1(request: Request, tenant: str) -> JSONResponse:
    """Entra's v1 client-credentials endpoint (``resource``)."""
    return await _token(request, tenant.lower(), "1.0")


@router.post("/{tenant}/oauth2/v2.0/token")
async def token_v2(request: Request, tenant: str) -> JSONResponse:
    """Entra's v2 client-credentials endpoint (``scope``)."""
    return await _token(request, tenant.lower(), "2.0")


def _openid(request: Request, tenant: str, version: str) -> dict[str, Any]:
    base = base_url(request)
    prefix = f"{base}/{tenant}"
    v = "/v2.0" if version == "2.0" else ""
    return {
        "issuer": f"{prefix}/v2.0" if version == "2.0" else f"{prefix}/",
        "token_endpoint": f"{prefix}/oauth2{v}/token",
        "authorization_endpoint": f"{prefix}/oauth2{v}/authorize",
        "jwks_uri": f"{prefix}/discovery{v}/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256"],
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
        "claims_supported": ["aud", "iss", "iat", "nbf", "exp", "appid", "azp", "tid"],
        "tenant_region_scope": None,
        "cloud_instance_name": urlparse(base).netloc,
    }


@router.get("/{tenant}/v2.0/.well-known/openid-configuration")
async def openid_v2(request: Request, tenant: str) -> JSONResponse:
    """OIDC discovery, v2 (what msal reads)."""
    return JSONResponse(_openid(request, tenant.lower(), "2.0"))


@router.get("/{tenant}/.well-known/openid-configuration")
async def openid_v1(request: Request, tenant: str) -> JSONResponse:
    """OIDC discovery, v1."""
    return JSONResponse(_openid(request, tenant.lower(), "1.0"))


@router.get("/common/discovery/instance")
async def instance_discovery(request: Request) -> JSONResponse:
    """msal's instance discovery: where the tenant's OIDC document is."""
    endpoint = request.query_params.get("authorization_endpoint", "")
    parts = urlparse(endpoint).path.strip("/").split("/")
    tenant = parts[0] if parts and parts[0] else "common"
    base = base_url(request)
    host = urlparse(base).netloc
    return JSONResponse(
        {
            "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
    )


@router.get("/{tenant}/discovery/v2.0/keys")
@router.get("/{tenant}/discovery/keys")
async def jwks(request: Request, tenant: str) -> JSONResponse:
    """The token-signing public keys."""
    return JSONResponse(state(request).issuer.jwks())


@router.get("/{tenant}/oauth2/v2.0/authorize")
@router.get("/{tenant}/oauth2/authorize")
async def authorize(request: Request, tenant: str) -> JSONResponse:
    """Interactive sign-in is not offered: only the client-credentials grant exists here."""
    return OAuthError(
        400,
        "unsupported_response_type",
        "This server issues tokens to applications only (client credentials).",
        None,
    ).response()
