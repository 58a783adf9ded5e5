"""The token endpoints and discovery documents, in process (httpx ASGI transport)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import update

from hrsignal.server.oauth import parse_form
from hrsignal.store import identity
from hrsignal.store.engine import Store
from hrsignal.store.schema import app_secrets
from tests.server import helpers
from tests.server.tls import make_self_signed

pytestmark = pytest.mark.anyio
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _v1(client: httpx.AsyncClient, tenant: str, body: bytes) -> httpx.Response:
    return await client.post(f"/{tenant}/oauth2/token?api-version=1.0", content=body, headers=FORM)


async def test_official_script_v1_request_gets_entra_v1_shape(
    client: httpx.AsyncClient, tenant: helpers.Tenant
) -> None:
    """The script's exact v1 form gets every v1 field, as strings (Power Automate parses
    them as strings), and a token whose claims name the app, tenant and resource."""
    r = await _v1(
        client,
        tenant.tenant_id,
        helpers.official_token_body(tenant.app_id, tenant.secret, tenant.tenant_id),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    for key in (
        "token_type",
        "expires_in",
        "ext_expires_in",
        "expires_on",
        "not_before",
        "resource",
        "access_token",
    ):
        assert isinstance(body[key], str), key
    assert body["resource"] == helpers.RESOURCE
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["appid"], claims["tid"], claims["aud"]) == (
        tenant.app_id,
        tenant.tenant_id,
        helpers.RESOURCE,
    )
    assert int(body["expires_on"]) == claims["exp"]


async def test_power_automate_spaced_form_is_accepted(
    client: httpx.AsyncClient, tenant: helpers.Tenant
) -> None:
    """The template's ``client_id = x&\\nclient_secret = y...`` body without api-version."""
    r = await client.post(
        f"/{tenant.tenant_id}/oauth2/token",
        content=helpers.power_automate_token_body(tenant.app_id, tenant.secret, tenant.tenant_id),
        headers=FORM,
    )
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"


async def test_v2_scope_gets_integer_lifetimes(
    client: httpx.AsyncClient, tenant: helpers.Tenant
) -> None:
    """v2 takes ``scope=<resource>/.default`` and answers Entra's v2 shape."""
    r = await client.post(
        f"/{tenant.tenant_id}/oauth2/v2.0/token",
        data={
            "client_id": tenant.app_id,
            "client_secret": tenant.secret,
            "grant_type": "client_credentials",
            "scope": helpers.RESOURCE + "/.default",
        },
    )
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["expires_in"], int)
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["ver"] == "2.0" and claims["iss"].endswith(f"/{tenant.tenant_id}/v2.0")


async def test_old_resource_is_accepted(client: httpx.AsyncClient, tenant: helpers.Tenant) -> None:
    """The pre-2025 resource ``4e476d41-...`` still used by the BYOD Logic App works."""
    old = "https://microsoft.onmicrosoft.com/4e476d41-2395-42be-89ff-34cb9186a1ac"
    body = helpers.official_token_body(tenant.app_id, tenant.secret, tenant.tenant_id)
    r = await _v1(
        client,
        tenant.tenant_id,
        body.replace(
            b"86dfdabb-5089-4a0c-880a-cfa5a790c5b1", b"4e476d41-2395-42be-89ff-34cb9186a1ac"
        ),
    )
    assert r.status_code == 200
    assert r.json()["resource"] == old


def _expire_secrets(store: Store, app_id: str) -> None:
    with store.write() as conn:
        conn.execute(
            update(app_secrets)
            .where(app_secrets.c.app_id == app_id)
            .values(expires_at=identity.utcnow().replace(year=2020))
        )


@pytest.mark.parametrize(
    ("case", "status", "error", "code"),
    [
        ("wrong secret", 401, "invalid_client", 7000215),
        ("expired secret", 401, "invalid_client", 7000222),
        ("removed secret", 401, "invalid_client", 7000215),
        ("wrong tenant", 400, "unauthorized_client", 700016),
        ("unknown app", 400, "unauthorized_client", 700016),
        ("unknown resource", 400, "invalid_resource", 500011),
        ("no secret", 401, "invalid_client", 7000218),
        ("password grant", 400, "unsupported_grant_type", 70003),
        ("no client_id", 400, "invalid_request", 900144),
    ],
)
async def test_token_refusals(
    client: httpx.AsyncClient,
    tenant: helpers.Tenant,
    store: Store,
    case: str,
    status: int,
    error: str,
    code: int,
) -> None:
    """Each bad token request is refused in RFC 6749 form with Entra's AADSTS code."""
    app_id, secret, path_tenant = tenant.app_id, tenant.secret, tenant.tenant_id
    fields = {
        "client_id": app_id,
        "client_secret": secret,
        "grant_type": "client_credentials",
        "resource": helpers.RESOURCE,
    }
    if case == "wrong secret":
        fields["client_secret"] = secret + "x"
    elif case == "expired secret":
        _expire_secrets(store, app_id)
    elif case == "removed secret":
        for s in identity.list_secrets(store, app_id):
            identity.remove_secret(store, app_id, s.secret_id)
    elif case == "wrong tenant":
        path_tenant = str(uuid.uuid4())
    elif case == "unknown app":
        fields["client_id"] = str(uuid.uuid4())
    elif case == "unknown resource":
        fields["resource"] = "https://example.com/other"
    elif case == "no secret":
        del fields["client_secret"]
    elif case == "password grant":
        fields["grant_type"] = "password"
    elif case == "no client_id":
        del fields["client_id"]
    r = await client.post(f"/{path_tenant}/oauth2/token", data=fields)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}:")
    assert "access_token" not in body


async def test_rotated_secret_keeps_working(
    client: httpx.AsyncClient, tenant: helpers.Tenant, store: Store
) -> None:
    """After add-secret both secrets work; after removing the first, only the new one."""
    new = identity.add_secret(store, tenant.app_id, expires_in_days=10)
    first = identity.list_secrets(store, tenant.app_id)[0]
    for value in (tenant.secret, new.secret):
        r = await _v1(
            client,
            tenant.tenant_id,
            helpers.official_token_body(tenant.app_id, value, tenant.tenant_id),
        )
        assert r.status_code == 200
    identity.remove_secret(store, tenant.app_id, first.secret_id)
    old = await _v1(
        client,
        tenant.tenant_id,
        helpers.official_token_body(tenant.app_id, tenant.secret, tenant.tenant_id),
    )
    assert old.status_code == 401
    ok = await _v1(
        client,
        tenant.tenant_id,
        helpers.official_token_body(tenant.app_id, new.secret, tenant.tenant_id),
    )
    assert ok.status_code == 200


def _assertion(
    key_pem: bytes, x5t: str, app_id: str, aud: str, jti: str, alg: str = "RS256", exp_in: int = 300
) -> str:
    now = int(time.time())
    return jwt.encode(
        {"aud": aud, "iss": app_id, "sub": app_id, "jti": jti, "nbf": now, "exp": now + exp_in},
        key_pem,
        algorithm=alg,
        headers={"x5t": x5t},
    )


async def test_client_assertion_is_single_use_and_bound_to_the_endpoint(
    client: httpx.AsyncClient, tenant: helpers.Tenant, store: Store, tmp_path: Path
) -> None:
    """A certificate assertion (RS256 or PS256, aud = token endpoint) gets a token once;
    replaying its jti, another audience, or an unregistered certificate are refused."""
    cert = make_self_signed(tmp_path)
    registered = identity.add_certificate(store, tenant.app_id, cert.cert_pem)
    endpoint = f"http://testserver/{tenant.tenant_id}/oauth2/token"

    async def ask(assertion: str) -> httpx.Response:
        return await client.post(
            f"/{tenant.tenant_id}/oauth2/token",
            data={
                "client_id": tenant.app_id,
                "grant_type": "client_credentials",
                "resource": helpers.RESOURCE,
                "client_assertion": assertion,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            },
        )

    first = _assertion(cert.key_pem, registered.x5t, tenant.app_id, endpoint, "a1")
    assert (await ask(first)).status_code == 200
    assert (await ask(first)).json()["error"] == "invalid_client"  # replay
    ps = _assertion(cert.key_pem, registered.x5t, tenant.app_id, endpoint, "a2", alg="PS256")
    assert (await ask(ps)).status_code == 200
    wrong_aud = _assertion(
        cert.key_pem,
        registered.x5t,
        tenant.app_id,
        "https://login.microsoftonline.com/x/oauth2/token",
        "a3",
    )
    assert (await ask(wrong_aud)).json()["error_codes"] == [700212]
    other = make_self_signed(tmp_path, "other")
    unregistered = _assertion(other.key_pem, registered.x5t, tenant.app_id, endpoint, "a4")
    assert (await ask(unregistered)).status_code == 401
    expired = _assertion(cert.key_pem, registered.x5t, tenant.app_id, endpoint, "a5", exp_in=-3600)
    assert (await ask(expired)).json()["error_codes"] == [700024]


async def test_discovery_documents(client: httpx.AsyncClient, tenant: helpers.Tenant) -> None:
    """OIDC discovery names this server's endpoints, and the JWKS verifies issued tokens."""
    doc = (await client.get(f"/{tenant.tenant_id}/v2.0/.well-known/openid-configuration")).json()
    assert doc["token_endpoint"] == f"http://testserver/{tenant.tenant_id}/oauth2/v2.0/token"
    assert doc["issuer"] == f"http://testserver/{tenant.tenant_id}/v2.0"
    keys = (await client.get(doc["jwks_uri"].replace("http://testserver", ""))).json()
    token = (
        await _v1(
            client,
            tenant.tenant_id,
            helpers.official_token_body(tenant.app_id, tenant.secret, tenant.tenant_id),
        )
    ).json()["access_token"]
    key = jwt.PyJWK(keys["keys"][0])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=helpers.RESOURCE)
    assert claims["appid"] == tenant.app_id
    inst = (
        await client.get(
            "/common/discovery/instance",
            params={
                "authorization_endpoint": f"http://testserver/{tenant.tenant_id}/oauth2/v2.0/authorize",
                "api-version": "1.1",
            },
        )
    ).json()
    assert inst["tenant_discovery_endpoint"].endswith(
        f"/{tenant.tenant_id}/v2.0/.well-known/openid-configuration"
    )


def test_form_parser_ignores_spaces_and_newlines() -> None:
    """``a = 1&\\nb = x%2By`` parses to ``{a: 1, b: x+y}``."""
    assert parse_form(b"a = 1&\nb = x%2By&\n&c=") == {"a": "1", "b": "x+y", "c": ""}
