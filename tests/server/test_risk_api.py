"""The risk API of the service: alerts and risk levels over HTTP, pseudonymised unless
revealed, every reveal audited with the caller, admin authentication required, and clean
answers when no risk data exists yet."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import duckdb
import httpx
import pytest

from hrsignal.server import create_app
from hrsignal.store import identity
from hrsignal.store.engine import Store
from tests.risk.conftest import EXAMPLES
from tests.server import helpers

pytestmark = pytest.mark.anyio

THIEF = "diego.siciliani@contoso.com"


def _risk(data_dir: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hrsignal.cli", "risk", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def risk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example organisation imported and its policies run (one thief)."""
    data = tmp_path_factory.mktemp("risk-api") / "risk"
    _risk(data, "import", "purview-audit", str(EXAMPLES / "purview-audit.csv.gz"))
    _risk(data, "run", "--hr", str(EXAMPLES / "hr-resignations.csv"))
    return data


async def _client(store: Store, risk_dir: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    app = create_app(helpers.settings(store.url, risk_dir=str(risk_dir)), store=store)
    token = identity.create_admin_token(store, "soc-integration")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c, token


@pytest.fixture
async def api(store: Store, risk_dir: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An in-process client of a service reading the example risk store, and an admin token."""
    async for pair in _client(store, risk_dir):
        yield pair


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_risk_api_requires_admin_authentication(
    api: tuple[httpx.AsyncClient, str],
) -> None:
    """Without a token, or with a wrong one, the risk API answers 401 in the JSON error shape."""
    client, _token = api
    for path in ("/api/risk/levels", "/api/risk/alerts", "/api/risk/alerts/A-x"):
        r = await client.get(path)
        assert r.status_code == 401, path
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = await client.get(path, headers=_auth("hrsadm_wrong"))
        assert r.status_code == 401, path


async def test_alerts_are_pseudonymised_by_default(api: tuple[httpx.AsyncClient, str]) -> None:
    """The alert list names no user unless revealed; the thief's alert is high severity."""
    client, token = api
    r = await client.get("/api/risk/alerts", headers=_auth(token))
    assert r.status_code == 200
    body = r.json()
    assert body["revealed"] is False
    assert [(a["policy"], a["severity"]) for a in body["alerts"]] == [
        ("data-theft-departing-users", "high")
    ]
    assert "@" not in r.text


async def test_reveal_is_audited_with_the_caller(
    api: tuple[httpx.AsyncClient, str], risk_dir: Path
) -> None:
    """?reveal=true shows the user and writes the reveal audit with the API caller."""
    client, token = api
    r = await client.get("/api/risk/alerts?reveal=true", headers=_auth(token))
    assert [a["user"] for a in r.json()["alerts"]] == [THIEF]
    con = duckdb.connect(str(risk_dir / "risk.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT actor, what FROM reveals").fetchall()
    finally:
        con.close()
    assert ("api:admin-token", "alert list (1 alerts)") in rows


async def test_alert_filters_and_detail(api: tuple[httpx.AsyncClient, str]) -> None:
    """Filters narrow the list; one alert comes with its explanation; unknown ids are 404."""
    client, token = api
    r = await client.get("/api/risk/alerts?severity=low", headers=_auth(token))
    assert r.json()["alerts"] == []
    listed = (await client.get("/api/risk/alerts", headers=_auth(token))).json()["alerts"]
    r = await client.get(f"/api/risk/alerts/{listed[0]['id']}", headers=_auth(token))
    assert r.status_code == 200
    detail = r.json()
    assert detail["id"] == listed[0]["id"]
    assert detail["indicators"] and detail["timeline"]
    assert detail["trigger"]
    r = await client.get("/api/risk/alerts/A-does-not-exist", headers=_auth(token))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


async def test_bad_filter_is_a_400_not_a_500(api: tuple[httpx.AsyncClient, str]) -> None:
    """An unknown severity or format is the client's mistake: 400 with the JSON error shape."""
    client, token = api
    for path in ("/api/risk/alerts?severity=urgent", "/api/risk/levels?format=xml"):
        r = await client.get(path, headers=_auth(token))
        assert r.status_code == 400, path
        assert r.json()["error"]["code"] == "bad_request"


async def test_risk_levels_json_and_csv_export(api: tuple[httpx.AsyncClient, str]) -> None:
    """Each user's risk level is served as JSON and as a CSV export; the thief is elevated."""
    client, token = api
    revealed = (await client.get("/api/risk/levels?reveal=true", headers=_auth(token))).json()
    levels = {lv["user"]: lv["level"] for lv in revealed["levels"]}
    assert levels[THIEF] == "elevated"
    r = await client.get("/api/risk/levels?format=csv", headers=_auth(token))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["user", "level", "previous", "since", "alert_id"]
    assert len(rows) == len(revealed["levels"])
    assert "@" not in r.text


async def test_no_risk_data_yet_answers_empty_and_creates_nothing(
    store: Store, tmp_path: Path
) -> None:
    """Before any risk run the lists are empty, an alert is 404, and no store is created."""
    missing = tmp_path / "no-risk-yet"
    async for client, token in _client(store, missing):
        assert (await client.get("/api/risk/alerts", headers=_auth(token))).json()["alerts"] == []
        assert (await client.get("/api/risk/levels", headers=_auth(token))).json()["levels"] == []
        r = await client.get("/api/risk/alerts/A-1", headers=_auth(token))
        assert r.status_code == 404
    assert not missing.exists()
