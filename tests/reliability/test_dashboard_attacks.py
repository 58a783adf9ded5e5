"""Attacks on the dashboard's sessions: CSRF on every form, cookie flags and fixation, role
escalation, and IDOR on alerts, people and uploads.

Written from the attacker's side and independent of tests/web: the CSRF matrix enumerates the
application's routes, so a form added later is covered without anyone listing it here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text

from hrsignal.server import create_app
from hrsignal.store import accounts, open_store
from hrsignal.store.engine import Store
from tests.reliability import harness, logscan
from tests.server import helpers
from tests.web.conftest import PASSWORD, THIEF, csrf_of, sign_in
from tests.web.conftest import example_risk_dir as example_risk_dir  # the session's store

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]
ALERT = "A-64ee14497f"  # the example organisation's alert (the thief)
ROLES = ("admin", "analyst", "investigator")


@pytest.fixture
def anyio_backend() -> str:
    """asyncio, as uvicorn runs it."""
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store with one account per role and a connector with one upload."""
    opened = open_store(f"sqlite:///{tmp_path}/hrsignal.db")
    for role in ROLES:
        accounts.create_account(opened, name=role, role=role, password=PASSWORD)
    yield opened  # type: ignore[misc]
    opened.dispose()


@pytest.fixture
def app(store: Store, example_risk_dir: Path, tmp_path: Path) -> FastAPI:
    """The service with the dashboard over a private copy of the example risk store."""
    import shutil

    risk = tmp_path / "risk"
    shutil.copytree(example_risk_dir, risk)
    return create_app(helpers.settings(store.url, risk_dir=str(risk)), store=store)


def client(app: FastAPI, base: str = "http://testserver") -> httpx.AsyncClient:
    """An in-process browser without JavaScript."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def _upload(app: FastAPI, store: Store) -> tuple[harness.Job, str]:
    job = harness.make_job(store, "dash-attacks")
    logscan.register_secret(job.secret)
    async with client(app) as c:
        token = await c.post(
            f"/{job.tenant_id}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": job.app_id,
                  "client_secret": job.secret, "scope": harness.RESOURCE + "/.default"},
        )  # fmt: skip
        body = b"EmailAddress,ResignationDate,LastWorkingDate\nbad,x,y\n"
        answer = await c.post(
            "/api/signals",
            params={"jobid": job.job_id},
            content=body,
            headers={
                "Authorization": f"Bearer {token.json()['access_token']}",
                "Content-Type": "text/csv",
            },
        )
    return job, str(answer.json()["uploadId"])


def _counts(store: Store) -> tuple[int, ...]:
    with store.read() as conn:
        return tuple(
            int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())  # noqa: S608
            for t in ("accounts", "apps", "app_secrets", "connectors")
        )


def _post_routes(app: FastAPI, values: dict[str, str]) -> list[str]:
    """Every dashboard form target (POST, outside the JSON and OAuth APIs), ids filled in."""
    paths = []
    for prefix, route in _walk(app.routes, ""):
        if not isinstance(route, APIRoute) or "POST" not in route.methods:
            continue
        path = prefix + route.path
        if path.startswith("/api/") or "oauth2" in path or path == "/signin":
            continue
        paths.append(re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path))
    return sorted(paths)


def _walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
    """Every route, descending into included routers (FastAPI keeps them nested)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(inner.routes, prefix + str(getattr(context, "prefix", "") or ""))
        else:
            yield prefix, route


async def test_every_dashboard_form_refuses_forged_posts(app: FastAPI, store: Store) -> None:
    """For every POST route of the dashboard and every role: no token, a wrong token, another
    session's token, or the right token from a foreign Origin are all 403, and no account,
    app, secret or connector changes."""
    job, _ = await _upload(app, store)
    values = {"alert_id": ALERT, "app_id": job.app_id, "job_id": job.job_id, "name": "analyst",
              "secret_id": "x", "policy": "data-theft-departing-users", "alias": "x"}  # fmt: skip
    routes = _post_routes(app, values)
    assert "/signout" in routes and any("triage" in r for r in routes) and len(routes) >= 8
    before = _counts(store)
    refused: dict[tuple[str, str, str], int] = {}
    async with client(app) as victim:
        await sign_in(victim, "admin")
        victim_token = csrf_of((await victim.get("/connectors")).text)
        for role in ROLES:
            async with client(app) as attacker:
                assert (await sign_in(attacker, role)).status_code == 303
                start = "/connectors" if role == "admin" else "/alerts"
                own = csrf_of((await attacker.get(start)).text)
                forged = {
                    "no token": ({}, {}),
                    "wrong token": ({"csrf_token": "A" * 43}, {}),
                    "another session's token": ({"csrf_token": victim_token}, {}),
                    "foreign origin": ({"csrf_token": own}, {"Origin": "https://evil.example"}),
                    "opaque origin": ({"csrf_token": own}, {"Origin": "null"}),
                }
                for path in routes:
                    for name, (data, headers) in forged.items():
                        answer = await attacker.post(
                            path,
                            data={
                                **data,
                                "name": "mallory",
                                "role": "admin",
                                "action": "confirm",
                                "reason": "x",
                                "password": "p" * 16,
                            },
                            headers=headers,
                        )
                        refused[(role, path, name)] = answer.status_code
    assert {k: v for k, v in refused.items() if v != 403} == {}
    assert _counts(store) == before


async def test_session_cookie_flags_fixation_and_revocation(app: FastAPI) -> None:
    """Over https the session cookie is Secure, HttpOnly, SameSite=Lax; a cookie planted
    before sign-in is not adopted (a new token is issued, the planted one opens nothing);
    after sign-out the old cookie opens nothing either."""
    async with client(app, "https://testserver") as c:
        c.cookies.set("hrsignal_session", "planted-by-attacker", domain="testserver")
        answer = await sign_in(c, "analyst")
        assert answer.status_code == 303
        cookie = next(
            v for k, v in answer.headers.multi_items()
            if k == "set-cookie" and v.startswith("hrsignal_session=")
        )  # fmt: skip
        flags = {p.strip().lower() for p in cookie.split(";")[1:]}
        issued = cookie.split(";")[0].split("=", 1)[1]
        assert {"secure", "httponly", "samesite=lax"} <= flags
        assert issued != "planted-by-attacker" and len(issued) >= 32
        token = csrf_of((await c.get("/alerts")).text)
        await c.post("/signout", data={"csrf_token": token})
    for value in ("planted-by-attacker", issued):
        async with client(app, "https://testserver") as replay:
            replay.cookies.set("hrsignal_session", value, domain="testserver")
            page = await replay.get("/alerts")
            assert page.status_code in (302, 303, 401) and THIEF not in page.text


async def test_role_escalation_attempts_are_refused(app: FastAPI, store: Store) -> None:
    """With valid tokens: an analyst or investigator creating an admin account or an app, an
    admin or analyst revealing an identity, a role field smuggled into the form: all 403, and
    nothing is created or revealed."""
    before = _counts(store)
    attempts: dict[tuple[str, str], int] = {}
    for role in ROLES:
        async with client(app) as c:
            await sign_in(c, role)
            start = "/connectors" if role == "admin" else "/alerts"
            token = csrf_of((await c.get(start)).text)
            targets = {
                "create an admin account": ("/settings/accounts",
                                            {"name": "mallory", "role": "admin",
                                             "password": "p" * 16}),
                "register an app": ("/apps", {"name": "mallory-app"}),
                "reveal an alert's user": (f"/alerts/{ALERT}/reveal", {"role": "investigator"}),
            }  # fmt: skip
            allowed = {
                "admin": {"create an admin account", "register an app"},
                "investigator": {"reveal an alert's user"},
            }.get(role, set())
            for name, (path, data) in targets.items():
                if name in allowed:
                    continue
                answer = await c.post(path, data={**data, "csrf_token": token})
                attempts[(role, name)] = answer.status_code
                assert THIEF not in answer.text
    assert attempts and set(attempts.values()) == {403}, attempts
    assert _counts(store) == before
    assert "mallory" not in {a.name for a in accounts.list_accounts(store)}


async def test_idor_on_uploads_alerts_and_people(app: FastAPI, store: Store) -> None:
    """An analyst or investigator cannot open a real upload or its rejected rows (403, no
    data); unknown and traversal-shaped ids are 404, never 500; a person's real address in
    the URL does not unmask them to an analyst; a dashboard session opens no JSON API."""
    job, upload_id = await _upload(app, store)
    for role in ("analyst", "investigator"):
        async with client(app) as c:
            await sign_in(c, role)
            for path in (f"/uploads/{upload_id}", f"/uploads/{upload_id}/rejected.csv",
                         f"/connectors/{job.job_id}"):  # fmt: skip
                answer = await c.get(path)
                assert answer.status_code == 403, (role, path)
                assert upload_id not in answer.text and "bad,x,y" not in answer.text
            person = await c.get(f"/people/data-theft-departing-users/{THIEF}")
            assert person.status_code in (403, 404) and "Diego" not in person.text
            alert = await c.get(f"/alerts/{ALERT}", params={"reveal": "true"})
            assert alert.status_code == 200 and THIEF not in alert.text
            for api in ("/api/connectors", "/api/risk/alerts?reveal=true", "/api/risk/levels"):
                assert (await c.get(api)).status_code == 401, api
    async with client(app) as c:
        await sign_in(c, "admin")
        for path in ("/uploads/00000000-0000-0000-0000-000000000000",
                     "/uploads/..%2F..%2Fetc%2Fpasswd/rejected.csv",
                     "/uploads/%00", "/connectors/' OR '1'='1"):  # fmt: skip
            answer = await c.get(path)
            assert answer.status_code in (400, 404), (path, answer.status_code)
        assert (await c.get("/api/connectors")).status_code == 401
