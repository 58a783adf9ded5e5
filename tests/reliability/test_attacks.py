"""Attacks on the token and ingestion endpoints: the negative matrix, brute force, injection.

Every refusal is checked for its status, its error shape, that no token is issued, and that
nothing reaches the store. The service runs in-process over httpx's ASGI transport, which
lets a test choose the caller's address (for the per-address throttling).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from sqlalchemy import text, update

from hrsignal.server import Settings, create_app
from hrsignal.server.throttle import TokenThrottle
from hrsignal.store import identity, open_store
from hrsignal.store.engine import Store
from hrsignal.store.schema import app_secrets
from tests.fakes.ca import make_app_certificate
from tests.reliability import harness, logscan

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
V2 = "/oauth2/v2.0/token"
SCOPE = harness.RESOURCE + "/.default"


@pytest.fixture
def anyio_backend() -> str:
    """asyncio, as uvicorn runs it."""
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated SQLite store."""
    opened = open_store(f"sqlite:///{tmp_path / 'hr.db'}")
    yield opened  # type: ignore[misc]
    opened.dispose()


@pytest.fixture
def jobs(store: Store) -> tuple[harness.Job, harness.Job]:
    """Two apps, each with its own connector."""
    first, second = harness.make_job(store, "victim"), harness.make_job(store, "other")
    logscan.register_secret(first.secret)
    logscan.register_secret(second.secret)
    return first, second


@pytest.fixture
def app(store: Store) -> FastAPI:
    """The service on ``store`` (access log on: it is part of what is scanned)."""
    return create_app(Settings(db_url=store.url, date_window=None), store=store)


def client(app: FastAPI, address: str = "10.0.0.1") -> httpx.AsyncClient:
    """An in-process client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _form(job: harness.Job, **changes: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": job.app_id,
        "client_secret": job.secret,
        "scope": SCOPE,
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v != "<drop>"}


def _stored(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM hr_current")).scalar_one())


def _csv(n: int = 3) -> bytes:
    today = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = ["EmailAddress,ResignationDate,LastWorkingDate"]
    for i in range(n):
        rows.append(f"u{i}@contoso.com,{today:%Y-%m-%dT%H:%M:%SZ},{today:%Y-%m-%dT%H:%M:%SZ}")
    return ("\n".join(rows) + "\n").encode()


async def _token(c: httpx.AsyncClient, job: harness.Job) -> str:
    answer = await c.post(f"/{job.tenant_id}{V2}", data=_form(job))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


# --- the token endpoint ----------------------------------------------------------------------

TOKEN_CASES: dict[str, Callable[[harness.Job, harness.Job], tuple[str, dict[str, str]]]] = {
    "wrong secret": lambda j, o: (j.tenant_id, _form(j, client_secret="hrs_" + "x" * 40)),
    "another app's secret": lambda j, o: (j.tenant_id, _form(j, client_secret=o.secret)),
    "secret id instead of value": lambda j, o: (j.tenant_id, _form(j, client_secret=j.app_id)),
    "empty secret": lambda j, o: (j.tenant_id, _form(j, client_secret="")),
    "unknown client id": lambda j, o: (j.tenant_id, _form(j, client_id=str(uuid.uuid4()))),
    "wrong tenant": lambda j, o: (str(uuid.uuid4()), _form(j)),
    "wrong resource": lambda j, o: (j.tenant_id, _form(j, scope="https://evil.example/.default")),
    "scope without /.default": lambda j, o: (j.tenant_id, _form(j, scope=harness.RESOURCE)),
    "password grant": lambda j, o: (j.tenant_id, _form(j, grant_type="password")),
    "no grant": lambda j, o: (j.tenant_id, _form(j, grant_type="<drop>")),
    "SQL in client id": lambda j, o: (j.tenant_id, _form(j, client_id="' OR '1'='1")),
    "SQL in secret": lambda j, o: (j.tenant_id, _form(j, client_secret="' OR '1'='1' --")),
}


async def test_token_endpoint_negative_matrix(
    app: FastAPI, jobs: tuple[harness.Job, harness.Job]
) -> None:
    """Each wrong request of the matrix is refused in RFC 6749 form (4xx, ``error`` set, no
    token, ``Cache-Control: no-store``), never with a 5xx."""
    answers = {}
    async with client(app) as c:
        for case, build in sorted(TOKEN_CASES.items()):
            tenant, form = build(*jobs)
            answer = await c.post(f"/{tenant}{V2}", data=form)
            body = answer.json()
            answers[case] = (
                400 <= answer.status_code < 500,
                bool(body.get("error")),
                "access_token" in body,
                answer.headers.get("cache-control"),
            )
    assert answers == {case: (True, True, False, "no-store") for case in TOKEN_CASES}


async def test_expired_and_removed_secrets_are_refused(
    app: FastAPI, store: Store, jobs: tuple[harness.Job, harness.Job]
) -> None:
    """A secret past its expiry answers 7000222 (and names the fix); a removed secret, and a
    rotated-out one, 7000215: neither issues a token."""
    job = jobs[0]
    newer = identity.add_secret(store, job.app_id, expires_in_days=5)
    logscan.register_secret(newer.secret)
    with store.write() as conn:
        conn.execute(
            update(app_secrets)
            .where(app_secrets.c.secret_id != newer.secret_id, app_secrets.c.app_id == job.app_id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    async with client(app) as c:
        expired = await c.post(f"/{job.tenant_id}{V2}", data=_form(job))
        assert expired.status_code == 401
        assert "AADSTS7000222" in expired.json()["error_description"]
        ok = await c.post(f"/{job.tenant_id}{V2}", data=_form(job, client_secret=newer.secret))
        assert ok.status_code == 200
        identity.remove_secret(store, job.app_id, newer.secret_id)
        removed = await c.post(f"/{job.tenant_id}{V2}", data=_form(job, client_secret=newer.secret))
    assert removed.status_code == 401
    assert "AADSTS7000215" in removed.json()["error_description"]
    assert "access_token" not in removed.json()


def _assertion(
    key: rsa.RSAPrivateKey, cert_der: bytes, claims: dict[str, Any], alg: str = "RS256"
) -> str:
    x5t = base64.urlsafe_b64encode(hashlib.sha1(cert_der).digest()).rstrip(b"=").decode()  # noqa: S324
    return jwt.encode(claims, key, algorithm=alg, headers={"x5t": x5t})


async def test_client_assertion_attacks(
    app: FastAPI, store: Store, jobs: tuple[harness.Job, harness.Job], tmp_path: Path
) -> None:
    """Client assertions: a replayed one, one for another endpoint, one signed by an
    unregistered key, an ``alg: none`` one, one naming another app, an expired one: all
    refused with 401 invalid_client; the first, fresh one is accepted."""
    job, other = jobs
    cert = make_app_certificate(tmp_path / "cert")
    rogue = make_app_certificate(tmp_path / "rogue", name="rogue")
    pem = cert.pem_path.read_bytes()
    identity.add_certificate(store, job.app_id, pem)
    key = serialization.load_pem_private_key(pem, password=None)
    rogue_key = serialization.load_pem_private_key(rogue.pem_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and isinstance(rogue_key, rsa.RSAPrivateKey)
    der = cert.certificate.public_bytes(serialization.Encoding.DER)
    endpoint = f"http://testserver/{job.tenant_id}{V2}"

    def claims(**changes: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "aud": endpoint,
            "iss": job.app_id,
            "sub": job.app_id,
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "exp": now + 300,
        }
        base.update(changes)
        return base

    def form(assertion: str) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": job.app_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": SCOPE,
        }

    fresh = _assertion(key, der, claims())
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=").decode()
    attacks = {
        "replayed": fresh,
        "other endpoint": _assertion(key, der, claims(aud="https://evil.example/token")),
        "unregistered key": _assertion(rogue_key, der, claims()),
        "alg none": f"{header}.{payload}.",
        "names another app": _assertion(key, der, claims(iss=other.app_id, sub=other.app_id)),
        "expired": _assertion(key, der, claims(exp=int(time.time()) - 3600)),
        "HS256 with the certificate as key": _hs256(
            claims(), cert.certificate.public_bytes(serialization.Encoding.PEM), {}
        ),
    }
    async with client(app) as c:
        first = await c.post(f"/{job.tenant_id}{V2}", data=form(fresh))
        assert first.status_code == 200, first.text
        refused = {}
        for name, assertion in attacks.items():
            answer = await c.post(f"/{job.tenant_id}{V2}", data=form(assertion))
            refused[name] = (answer.status_code, answer.json().get("error"))
    assert refused == {name: (401, "invalid_client") for name in attacks}


# --- the ingestion endpoint ------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], key: bytes, header: dict[str, str]) -> str:
    """An HS256 JWT keyed with ``key`` (PyJWT refuses to; an attacker need not)."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def _forge(store: Store, claims: dict[str, Any], *, key: Any = None, alg: str = "RS256") -> str:
    kid, pem = identity.signing_key_pem(store)
    signing = key if key is not None else serialization.load_pem_private_key(pem, None)
    return jwt.encode(claims, signing, algorithm=alg, headers={"kid": kid})


async def test_ingestion_negative_matrix(
    app: FastAPI, store: Store, jobs: tuple[harness.Job, harness.Job]
) -> None:
    """Missing, malformed, forged (``alg: none``, HS256 keyed with the public key, another
    key under our kid, a tampered payload), expired, not-yet-valid, wrong-audience and
    wrong-issuer tokens answer 401 with ``WWW-Authenticate``; another app's valid token 403;
    an unknown job 404; the admin token is not an ingestion token. Nothing is stored."""
    job, other = jobs
    async with client(app) as c:
        good = await _token(c, job)
        others = await _token(c, other)
    claims = jwt.decode(good, options={"verify_signature": False})
    kid, pem = identity.signing_key_pem(store)
    public_pem = (
        serialization.load_pem_private_key(pem, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"%s"}' % kid.encode())
    body = base64.urlsafe_b64encode(json.dumps(claims).encode())
    head, _, rest = good.partition(".")
    tampered_claims = {**claims, "appid": other.app_id}
    tampered = (
        head
        + "."
        + base64.urlsafe_b64encode(json.dumps(tampered_claims).encode()).rstrip(b"=").decode()
        + "."
        + rest.partition(".")[2]
    )
    now = int(time.time())
    admin = identity.create_admin_token(store)
    logscan.register_secret(admin)
    unauthorized = {
        "no header": {},
        "basic scheme": {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
        "empty bearer": {"Authorization": "Bearer "},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "alg none": {
            "Authorization": "Bearer "
            + none_header.rstrip(b"=").decode()
            + "."
            + body.rstrip(b"=").decode()
            + "."
        },
        "HS256 keyed with our public key": {
            "Authorization": "Bearer " + _hs256(claims, public_pem, {"kid": kid})
        },
        "another key under our kid": {
            "Authorization": "Bearer " + _forge(store, claims, key=stranger)
        },
        "tampered payload": {"Authorization": "Bearer " + tampered},
        "expired": {
            "Authorization": "Bearer "
            + _forge(store, {**claims, "exp": now - 3600, "nbf": now - 7200, "iat": now - 7200})
        },
        "not yet valid": {
            "Authorization": "Bearer " + _forge(store, {**claims, "nbf": now + 3600})
        },
        "wrong audience": {
            "Authorization": "Bearer " + _forge(store, {**claims, "aud": "https://evil.example"})
        },
        "issuer of another tenant": {
            "Authorization": "Bearer "
            + _forge(store, {**claims, "iss": f"https://x/{uuid.uuid4()}/v2.0"})
        },
        "admin token": {"Authorization": f"Bearer {admin}"},
    }
    results = {}
    async with client(app) as c:
        for name, headers in unauthorized.items():
            answer = await c.post(
                "/api/signals",
                params={"jobid": job.job_id},
                content=_csv(),
                headers={**headers, "Content-Type": "text/csv"},
            )
            error = answer.json()["error"]
            results[name] = (
                answer.status_code,
                error["code"],
                "WWW-Authenticate" in answer.headers,
            )
        forbidden = await c.post(
            "/api/signals",
            params={"jobid": job.job_id},
            content=_csv(),
            headers={"Authorization": f"Bearer {others}", "Content-Type": "text/csv"},
        )
        unknown = await c.post(
            "/api/signals",
            params={"jobid": str(uuid.uuid4())},
            content=_csv(),
            headers={"Authorization": f"Bearer {good}", "Content-Type": "text/csv"},
        )
        admin_api = await c.get("/api/connectors", headers={"Authorization": f"Bearer {good}"})
    assert results == {name: (401, "unauthorized", True) for name in unauthorized}
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["message"] == "jobId and corresponding appId do not match."
    assert unknown.status_code == 404
    assert admin_api.status_code == 401
    assert _stored(store) == 0


# --- brute force -----------------------------------------------------------------------------


async def test_brute_force_on_the_token_endpoint_is_throttled(
    app: FastAPI, jobs: tuple[harness.Job, harness.Job]
) -> None:
    """After 10 wrong secrets for one app from one address, that address gets 429 with
    Retry-After for this app, even with the right secret; the real uploader at another
    address still signs in; when the window has passed the address may try again."""
    job = jobs[0]
    clock = {"now": 1000.0}
    app.state.hrsignal.token_throttle = TokenThrottle(window_s=60, clock=lambda: clock["now"])
    wrong = _form(job, client_secret="hrs_" + "y" * 40)
    async with client(app, "203.0.113.9") as attacker, client(app, "10.0.0.5") as uploader:
        statuses = []
        for _ in range(10):
            statuses.append((await attacker.post(f"/{job.tenant_id}{V2}", data=wrong)).status_code)
        assert statuses == [401] * 10
        started = time.perf_counter()
        blocked = [await attacker.post(f"/{job.tenant_id}{V2}", data=wrong) for _ in range(50)]
        elapsed = time.perf_counter() - started
        right = await attacker.post(f"/{job.tenant_id}{V2}", data=_form(job))
        elsewhere = await uploader.post(f"/{job.tenant_id}{V2}", data=_form(job))
        clock["now"] += 61
        later = await attacker.post(f"/{job.tenant_id}{V2}", data=_form(job))
    assert {b.status_code for b in blocked} == {429}
    assert 1 <= int(blocked[0].headers["retry-after"]) <= 60
    assert blocked[0].json()["error"] == "temporarily_unavailable"
    assert elapsed < 2.0  # refused before argon2 is run: 50 refusals cost almost nothing
    assert right.status_code == 429 and "access_token" not in right.json()
    assert elsewhere.status_code == 200
    assert later.status_code == 200


async def test_client_id_enumeration_from_one_address_is_throttled(app: FastAPI) -> None:
    """100 unknown client ids from one address, then the address is refused (429) for any
    client id: guessing across apps is bounded too."""
    app.state.hrsignal.token_throttle = TokenThrottle(window_s=60)
    tenant = str(uuid.uuid4())
    async with client(app, "198.51.100.7") as c:
        for _ in range(100):
            form = {
                "grant_type": "client_credentials",
                "client_id": str(uuid.uuid4()),
                "client_secret": "x",
                "scope": SCOPE,
            }
            assert (await c.post(f"/{tenant}{V2}", data=form)).status_code == 400
        form["client_id"] = str(uuid.uuid4())
        answer = await c.post(f"/{tenant}{V2}", data=form)
    assert answer.status_code == 429
