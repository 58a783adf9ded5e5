"""SQL and CSV-formula injection through HR values, on SQLite and PostgreSQL.

HR files are written by people outside the security team: a Remarks cell, a level, an email
local part or the uploaded file's name can carry SQL or a spreadsheet formula. Stored values
must round-trip verbatim (parameters, never string-built SQL; PostgreSQL's COPY path
included), and every CSV the service exports (the upload log, the rejected rows) must open in
a spreadsheet as text, never as a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import text

from hrsignal.cli import cli
from hrsignal.scenarios import propose_mapping
from hrsignal.server import Settings, create_app
from hrsignal.store import connectors, identity, open_store
from hrsignal.store.engine import Store
from hrsignal.store.records import read_current
from tests.reliability import harness, logscan

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
HEADER = ["EmailAddress", "EffectiveDate", "Remarks", "OldLevel", "NewLevel"]
PAYLOADS = [
    "'); DROP TABLE hr_current; --",
    "1' OR '1'='1",
    'Robert"); DROP TABLE apps;--',
    "$$; DELETE FROM uploads; $$",
    "%s %(now)s {0} :job ?",
    "line one\n\\.\nline three",
    "back\\slash\\N",
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    '=HYPERLINK("http://evil.example","click")',
    "ʼ; DROP TABLE hr_versions; --",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def anyio_backend() -> str:
    """asyncio, as uvicorn runs it."""
    return "asyncio"


@pytest.fixture
def store(db_url: str) -> AsyncIterator[Store]:
    """A migrated store, on SQLite and on PostgreSQL."""
    opened = open_store(db_url)
    yield opened  # type: ignore[misc]
    opened.dispose()


def _job(store: Store) -> harness.Job:
    tenant = identity.default_tenant(store)
    new = identity.create_app(store, "levels", tenant_id=tenant, expires_in_days=30)
    logscan.register_secret(new.secret)
    conn = connectors.create_connector(
        store,
        name="levels",
        app_id=new.app.app_id,
        scenarios=["job-level-changes"],
        mapping=propose_mapping(HEADER, "job-level-changes"),
    )
    return harness.Job(new.app.tenant_id, new.app.app_id, new.secret, conn.job_id)


def _file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


async def _upload(
    app: FastAPI, job: harness.Job, body: bytes, filename: str
) -> tuple[httpx.Response, str]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        token = await c.post(
            f"/{job.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": job.app_id,
                "client_secret": job.secret,
                "scope": harness.RESOURCE + "/.default",
            },
        )
        bearer = token.json()["access_token"]
        answer = await c.post(
            "/api/signals",
            params={"jobid": job.job_id},
            files={"file": (filename, body, "text/csv")},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        admin = identity.create_admin_token(app.state.hrsignal.store)
        logscan.register_secret(admin)
        log = await c.get(
            f"/api/connectors/{job.job_id}/uploads",
            params={"format": "csv"},
            headers={"Authorization": f"Bearer {admin}"},
        )
    return answer, log.text


def _cells(document: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(document)) for cell in row]


async def test_sql_payloads_in_hr_values_are_stored_verbatim(store: Store) -> None:
    """SQL, COPY markers and parameter placeholders in Remarks and levels are saved and read
    back byte for byte; every table is intact afterwards."""
    job = _job(store)
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [[f"o'brien{i}@contoso.com", today, p[:200], p, p[::-1]] for i, p in enumerate(PAYLOADS)]
    app = create_app(Settings(db_url=store.url, date_window=None), store=store)
    answer, _ = await _upload(app, job, _file(rows), "levels.csv")
    assert answer.status_code == 200, answer.text
    assert answer.json()["recordsSaved"] == len(PAYLOADS)
    got = {r["EmailAddress"]: r for r in read_current(store, job.job_id).to_pylist()}
    for i, payload in enumerate(PAYLOADS):
        row = got[f"o'brien{i}@contoso.com"]
        assert (row["Remarks"], row["OldLevel"], row["NewLevel"]) == (
            payload[:200],
            payload,
            payload[::-1],
        )
    with store.read() as conn:
        for table in ("hr_current", "hr_versions", "uploads", "apps", "connectors"):
            conn.execute(text(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names


async def test_exported_csvs_never_start_a_cell_with_a_formula(
    store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An upload named like a formula, with formula cells in a rejected row: the upload log
    CSV (admin API and ``hrsignal connectors log --format csv``) and the rejected rows CSV
    (``--upload ID --format csv``) open as text: no cell begins with = + - @ tab or CR."""
    job = _job(store)
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [
        ["ok@contoso.com", today, "=1+1", "-L1", "@L2"],
        ["=cmd|' /C calc'!A0", "=NOW()", "x", "y", "z"],
    ]
    app = create_app(Settings(db_url=store.url, date_window=None), store=store)
    name = '=HYPERLINK("http://evil.example","open me").csv'
    answer, api_log = await _upload(app, job, _file(rows), name)
    assert answer.status_code == 200, answer.text
    upload_id = answer.json()["uploadId"]
    runner = CliRunner()
    cli_log = runner.invoke(cli, ["connectors", "log", job.job_id, "--format", "csv", "--db",
                                  store.url])  # fmt: skip
    rejects = runner.invoke(cli, ["connectors", "log", job.job_id, "--upload", upload_id,
                                  "--format", "csv", "--db", store.url])  # fmt: skip
    assert cli_log.exit_code == 0 and rejects.exit_code == 0, cli_log.output + rejects.output
    assert any("HYPERLINK" in c for c in _cells(api_log))
    assert any("cmd|" in c or "NOW()" in c for c in _cells(rejects.output))
    for document in (api_log, cli_log.output, rejects.output):
        bad = [c for c in _cells(document) if c.startswith(TRIGGERS)]
        assert bad == [], bad
