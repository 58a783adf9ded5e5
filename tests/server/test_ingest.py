"""``/api/signals`` in process: client formats, the auth matrix, statuses, the error shape."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from hrsignal.server.settings import Settings
from hrsignal.store import connectors, identity
from hrsignal.store.engine import Store
from hrsignal.store.records import read_current
from tests.server import helpers

pytestmark = pytest.mark.anyio


async def _token(client: httpx.AsyncClient, t: helpers.Tenant) -> str:
    r = await client.post(
        f"/{t.tenant_id}/oauth2/token?api-version=1.0",
        content=helpers.official_token_body(t.app_id, t.secret, t.tenant_id),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def _post(
    client: httpx.AsyncClient,
    job: str,
    token: str | None,
    body: bytes,
    ctype: str = "text/csv",
    path: str = "/api/signals",
    key: str = "jobid",
) -> httpx.Response:
    headers = {"Content-Type": ctype}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await client.post(f"{path}?{key}={job}", content=body, headers=headers)


def _assert_error_shape(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert {"status", "code", "message", "hint"} <= set(err)
    assert err["status"] == status and err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    return dict(err)


async def test_power_automate_multipart_and_jobId_key(
    client: httpx.AsyncClient, tenant: helpers.Tenant
) -> None:
    """The template's ``form-data;name = "file";filename=...`` part and its ``jobId`` key."""
    body, ctype = helpers.power_automate_multipart(helpers.resignations_csv(5))
    r = await _post(client, tenant.job_id, await _token(client, tenant), body, ctype, key="jobId")
    assert r.status_code == 200, r.text
    assert r.json()["recordsSaved"] == 5


async def test_raw_csv_body_lf_and_legacy_path(
    client: httpx.AsyncClient, tenant: helpers.Tenant
) -> None:
    """A raw text/csv body with LF line ends, on the 2020 termination path."""
    r = await _post(
        client,
        tenant.job_id,
        await _token(client, tenant),
        helpers.resignations_csv(4, crlf=False),
        path="/api/signals/hr/termination/csv",
    )
    assert r.status_code == 200, r.text
    assert r.json()["recordsReceived"] == 4 and r.json()["recordsSaved"] == 4


async def test_reupload_saves_nothing_and_a_change_is_a_new_version(
    client: httpx.AsyncClient, tenant: helpers.Tenant, store: Store
) -> None:
    """Same file again: 0 saved, all unchanged; a changed ResignationDate (not part of the
    identity, which is UPN + LastWorkingDate): 1 saved, as a new version of that record."""
    token = await _token(client, tenant)
    csv = helpers.resignations_csv(100)
    first = (await _post(client, tenant.job_id, token, csv)).json()
    again = (await _post(client, tenant.job_id, token, csv)).json()
    assert (first["recordsSaved"], again["recordsSaved"], again["recordsUnchanged"]) == (
        100,
        0,
        100,
    )
    lines = csv.decode().split("\r\n")
    email, _resigned, last = lines[1].split(",")
    lines[1] = f"{email},{last},{last}"
    changed = (await _post(client, tenant.job_id, token, "\r\n".join(lines).encode())).json()
    assert (changed["recordsSaved"], changed["recordsUnchanged"]) == (1, 99)
    current = read_current(store)
    assert current.num_rows == 100
    row = next(r for r in current.to_pylist() if r["EmailAddress"] == email)
    assert row["LastWorkingDate"] == row["ResignationDate"]


async def test_rejected_rows_are_counted_and_logged(
    client: httpx.AsyncClient, tenant: helpers.Tenant, store: Store
) -> None:
    """Invalid rows are rejected one by one, saved = valid rows exactly, and the log keeps
    every rejected row with its finding."""
    token = await _token(client, tenant)
    lines = helpers.resignations_csv(10).decode().split("\r\n")
    lines[3] = lines[3].replace("@contoso.com", "@@contoso.com")
    lines[7] = lines[7].split(",")[0] + ",not a date,2026-01-01T00:00:00Z"
    r = await _post(client, tenant.job_id, token, "\r\n".join(lines).encode())
    body = r.json()
    assert (body["recordsReceived"], body["recordsSaved"], body["recordsRejected"]) == (10, 8, 2)
    assert {e["record"] for e in body["errors"]} == {3, 7}
    admin = identity.create_admin_token(store)
    log = await client.get(
        f"/api/connectors/{tenant.job_id}/uploads", headers={"Authorization": f"Bearer {admin}"}
    )
    entry = log.json()["uploads"][0]
    assert (entry["RecordsSaved"], entry["RecordsRejected"]) == (8, 2)
    detail = await client.get(
        f"/api/connectors/{tenant.job_id}/uploads/{entry['UploadId']}",
        headers={"X-Admin-Token": admin},
    )
    assert sorted({f["record"] for f in detail.json()["Findings"]}) == [3, 7]
    as_csv = await client.get(
        f"/api/connectors/{tenant.job_id}/uploads?format=csv", headers={"X-Admin-Token": admin}
    )
    assert as_csv.text.splitlines()[0].startswith("UploadId,JobId")


def _forge(store: Store, claims: dict[str, object], *, alg: str = "RS256") -> str:
    kid, pem = identity.signing_key_pem(store)
    key = serialization.load_pem_private_key(pem, password=None)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})  # type: ignore[arg-type]


def _claims(t: helpers.Tenant, **over: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "aud": helpers.RESOURCE,
        "iss": f"http://testserver/{t.tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "appid": t.app_id,
        "tid": t.tenant_id,
    }
    claims.update(over)
    return claims


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no token", 401),
        ("not a jwt", 401),
        ("other app", 403),
        ("expired", 401),
        ("tampered", 401),
        ("alg none", 401),
        ("wrong audience", 401),
        ("wrong tenant issuer", 401),
        ("foreign key", 401),
        ("unknown job", 404),
        ("disabled job", 404),
    ],
)
async def test_upload_auth_matrix(
    client: httpx.AsyncClient, tenant: helpers.Tenant, store: Store, case: str, status: int
) -> None:
    """Each bad credential or job is refused with its status and the one error shape; nothing
    is saved."""
    job = tenant.job_id
    token: str | None = await _token(client, tenant)
    if case == "no token":
        token = None
    elif case == "not a jwt":
        token = "hello"
    elif case == "other app":
        other = helpers.make_tenant(store, name="other")
        token = await _token(client, other)
    elif case == "expired":
        token = _forge(
            store, _claims(tenant, exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200)
        )
    elif case == "tampered":
        assert token is not None
        head, payload, sig = token.split(".")
        data = json.loads(base64.urlsafe_b64decode(payload + "=="))
        data["appid"] = "someone-else"
        forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
        token = f"{head}.{forged}.{sig}"
    elif case == "alg none":
        token = jwt.encode(_claims(tenant), key=None, algorithm="none")
    elif case == "wrong audience":
        token = _forge(store, _claims(tenant, aud="https://graph.microsoft.com"))
    elif case == "wrong tenant issuer":
        token = _forge(store, _claims(tenant, iss="http://testserver/another-tenant/"))
    elif case == "foreign key":
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid, _ = identity.signing_key_pem(store)
        token = jwt.encode(_claims(tenant), key, algorithm="RS256", headers={"kid": kid})
    elif case == "unknown job":
        job = "00000000-0000-0000-0000-000000000000"
    elif case == "disabled job":
        connectors.set_enabled(store, job, False)
    r = await _post(client, job, token, helpers.resignations_csv(3))
    code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}[status]
    err = _assert_error_shape(r, status, code)
    if status == 401:
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    if case == "other app":
        assert err["message"] == "jobId and corresponding appId do not match."
    assert read_current(store).num_rows == 0


async def test_token_with_trailing_whitespace_is_accepted(
    client: httpx.AsyncClient, tenant: helpers.Tenant
) -> None:
    """``Authorization: Bearer <token>  `` (trailing spaces) works."""
    token = await _token(client, tenant)
    r = await client.post(
        f"/api/signals?jobid={tenant.job_id}",
        content=helpers.resignations_csv(1),
        headers={"Authorization": f"Bearer {token}   ", "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no file part", 400, "missing_file_part"),
        ("not csv", 400, "data_rejected"),
        ("wrong field count", 400, "data_rejected"),
        ("empty", 400, "data_rejected"),
        ("no jobid", 400, "bad_request"),
    ],
)
async def test_bad_bodies_answer_400_never_500(
    client: httpx.AsyncClient,
    tenant: helpers.Tenant,
    store: Store,
    case: str,
    status: int,
    code: str,
) -> None:
    """Bad data is a 400 with the error shape and saves nothing, even for good rows."""
    token = await _token(client, tenant)
    csv = helpers.resignations_csv(5)
    ctype = "text/csv"
    key = "jobid"
    if case == "no file part":
        body, ctype = helpers.dotnet_multipart(csv)
        body = body.replace(b"name=file", b"name=data")
    elif case == "not csv":
        body = bytes(range(256)) * 40
    elif case == "wrong field count":
        body = csv + b"short@contoso.com,2026-01-01T00:00:00Z\r\n"
    elif case == "empty":
        body = b""
    else:
        body, key = csv, "job"
    r = await _post(client, tenant.job_id, token, body, ctype, key=key)
    err = _assert_error_shape(r, status, code)
    if code == "data_rejected":
        assert err["findings"] and err["uploadId"]
    assert read_current(store).num_rows == 0


async def test_oversize_body_is_413_and_nothing_kept(store: Store, tenant: helpers.Tenant) -> None:
    """A body over the configured limit answers 413 (checked while streaming too)."""
    from hrsignal.server import create_app

    app = create_app(Settings(db_url=store.url, max_body_bytes=1000, access_log=False), store=store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        token = await _token(c, tenant)
        r = await _post(c, tenant.job_id, token, helpers.resignations_csv(100))
        _assert_error_shape(r, 413, "payload_too_large")

        async def chunks():  # type: ignore[no-untyped-def]
            yield helpers.resignations_csv(100)

        streamed = await c.post(
            f"/api/signals?jobid={tenant.job_id}",
            content=chunks(),
            headers={"Authorization": f"Bearer {token}"},
        )
        _assert_error_shape(streamed, 413, "payload_too_large")
    assert read_current(store).num_rows == 0


async def test_probe_and_health(client: httpx.AsyncClient) -> None:
    """GET /api/signals answers 200 with text; /healthz reports the database."""
    r = await client.get("/api/signals")
    assert r.status_code == 200 and "hrsignal" in r.text
    assert (await client.get("/healthz")).json()["database"] == "ok"
    _assert_error_shape(await client.get("/nowhere"), 404, "not_found")


async def test_admin_api_needs_a_token_and_manages_connectors(
    client: httpx.AsyncClient, tenant: helpers.Tenant, store: Store
) -> None:
    """Without an admin token 401; with one, create (mapping proposed from a sample header),
    list, disable and delete connectors."""
    _assert_error_shape(await client.get("/api/connectors"), 401, "unauthorized")
    bad = await client.get("/api/connectors", headers={"X-Admin-Token": "hrsadm_nope"})
    _assert_error_shape(bad, 401, "unauthorized")
    admin = {"X-Admin-Token": identity.create_admin_token(store)}
    created = await client.post(
        "/api/connectors",
        headers=admin,
        json={
            "name": "pips",
            "app_id": tenant.app_id,
            "scenarios": ["performance-improvement-plans"],
            "sample_header": ["UPN", "EffectiveDate", "ImprovementRemarks", "PerformanceRating"],
        },
    )
    assert created.status_code == 201, created.text
    job = created.json()["job_id"]
    cols = created.json()["mapping"]["scenarios"]["performance-improvement-plans"]["columns"]
    assert cols["EmailAddress"] == "UPN" and cols["Remarks"] == "ImprovementRemarks"
    listed = (await client.get("/api/connectors", headers=admin)).json()["connectors"]
    assert {c["job_id"] for c in listed} == {tenant.job_id, job}
    assert (await client.post(f"/api/connectors/{job}/disable", headers=admin)).json()[
        "enabled"
    ] is False
    assert (await client.delete(f"/api/connectors/{job}", headers=admin)).status_code == 204
    _assert_error_shape(await client.get(f"/api/connectors/{job}", headers=admin), 404, "not_found")
    missing = await client.post("/api/connectors", headers=admin, json={"name": "x"})
    _assert_error_shape(missing, 400, "bad_request")


async def test_multi_scenario_file_routes_rows_by_identifier(
    client: httpx.AsyncClient, store: Store
) -> None:
    """One connector for resignations and job level changes (HRScenario column): each row is
    saved under its scenario with its own primary date; a re-upload saves nothing."""
    header = [
        "HRScenario",
        "EmailAddress",
        "ResignationDate",
        "LastWorkingDate",
        "EffectiveDate",
        "OldLevel",
        "NewLevel",
    ]
    app = identity.create_app(
        store, "multi", tenant_id=identity.default_tenant(store), expires_in_days=5
    )
    from hrsignal.server.admin import build_mapping

    mapping = build_mapping(["resignations", "job-level-changes"], None, header)
    job = connectors.create_connector(
        store,
        name="multi",
        app_id=app.app.app_id,
        scenarios=["resignations", "job-level-changes"],
        mapping=mapping,
    ).job_id
    t = helpers.Tenant(app.app.tenant_id, app.app.app_id, app.secret, job)
    day = helpers.NOW.date().isoformat()
    csv = (
        ",".join(header) + "\r\n"
        f"Resignation,a@x.com,{day}T00:00:00Z,{day}T10:00:00Z,,,\r\n"
        f"Job level change,a@x.com,,,{day}T09:00:00Z,Level 61,Level 60\r\n"
        f"Job level change,b@x.com,,,{day}T09:00:00Z,Level 50,Level 51\r\n"
    ).encode()
    token = await _token(client, t)
    first = (await _post(client, job, token, csv)).json()
    again = (await _post(client, job, token, csv)).json()
    assert (first["recordsSaved"], again["recordsSaved"], again["recordsUnchanged"]) == (3, 0, 3)
    rows = read_current(store).to_pylist()
    by = {(r["scenario"], r["EmailAddress"]): r for r in rows}
    assert by[("job-level-changes", "b@x.com")]["NewLevel"] == "Level 51"
    assert by[("resignations", "a@x.com")]["LastWorkingDate"].hour == 10
