"""Serving concerns: graceful shutdown, access logs without secrets, automatic retention."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest

from hrsignal.server import create_app
from hrsignal.store import open_store
from hrsignal.store.engine import Store
from hrsignal.store.records import collapse, read_current, save_records, stage_table, to_us
from tests.server import helpers
from tests.server.conftest import run_server

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _token(base: str, t: helpers.Tenant) -> str:
    r = httpx.post(
        f"{base}/{t.tenant_id}/oauth2/token",
        content=helpers.official_token_body(t.app_id, t.secret, t.tenant_id),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    return str(r.json()["access_token"])


def test_sigterm_lets_an_inflight_upload_finish(tmp_path: Path) -> None:
    """SIGTERM arriving while an upload's body is still streaming: the server finishes that
    request (200, records saved) and then exits."""
    db = f"sqlite:///{tmp_path}/h.db"
    tenant = helpers.make_tenant(open_store(db))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "hrsignal.cli", "serve", "--db", db, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        token = _token(base, tenant)
        csv = helpers.resignations_csv(2000)
        half = len(csv) // 2
        sent_half = threading.Event()

        def body() -> Iterator[bytes]:
            yield csv[:half]
            sent_half.set()
            time.sleep(1.5)  # the signal arrives meanwhile
            yield csv[half:]

        result: dict[str, object] = {}

        def upload() -> None:
            r = httpx.post(
                f"{base}/api/signals?jobid={tenant.job_id}",
                content=body(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
                timeout=60,
            )
            result["status"] = r.status_code
            result["body"] = r.json()

        worker = threading.Thread(target=upload)
        worker.start()
        assert sent_half.wait(10)
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        worker.join(30)
        assert result["status"] == 200, result
        assert result["body"]["recordsSaved"] == 2000  # type: ignore[index]
        # uvicorn re-raises the signal once shut down, so the exit status says SIGTERM.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert read_current(open_store(db)).num_rows == 2000


async def test_access_log_has_no_secrets_or_hr_values(
    store: Store, tenant: helpers.Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """The access log names method, path, job and status, and never the secret, the token
    or an HR value from the body."""
    app = create_app(helpers.settings(store.url, access_log=True), store=store)
    caplog.set_level(logging.INFO, logger="hrsignal.access")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        r = await c.post(
            f"/{tenant.tenant_id}/oauth2/token",
            content=helpers.official_token_body(tenant.app_id, tenant.secret, tenant.tenant_id),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        token = r.json()["access_token"]
        await c.post(
            f"/api/signals?jobid={tenant.job_id}&x=secretish",
            content=helpers.resignations_csv(3),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        )
    lines = [
        json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "hrsignal.access"
    ]
    assert {(x["method"], x["path"], x["status"]) for x in lines} >= {("POST", "/api/signals", 200)}
    assert any(x["job_id"] == tenant.job_id for x in lines)
    text = caplog.text
    for secret in (tenant.secret, token, "user0@contoso.com", "secretish"):
        assert secret not in text


def test_automatic_retention_runs_while_serving(db_url: str) -> None:
    """With retention_days set, records past it are purged by the serving process itself."""
    store = open_store(db_url)
    tenant = helpers.make_tenant(store)
    now = dt.datetime.now(dt.UTC)
    last = [now - dt.timedelta(days=400), now - dt.timedelta(days=2)]
    table = pa.table(
        {
            "scenario": ["resignations"] * 2,
            "EmailAddress": ["old@x.com", "new@x.com"],
            "ResignationDate": pa.array(
                [x - dt.timedelta(days=9) for x in last], pa.timestamp("us", tz="UTC")
            ),
            "LastWorkingDate": pa.array(last, pa.timestamp("us", tz="UTC")),
        }
    )
    rows, _ = collapse([stage_table(tenant.job_id, table, np.ones(2, dtype=bool))])
    with store.write() as conn:
        save_records(store, conn, rows, job_id=tenant.job_id, upload_id="u", now_us=to_us(now))
    app = create_app(helpers.settings(store.url, retention_days=183), store=store)
    server = run_server(app, None)
    next(server)
    try:
        deadline = time.monotonic() + 20
        while read_current(store).num_rows != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.close()
    assert [r["EmailAddress"] for r in read_current(store).to_pylist()] == ["new@x.com"]
    store.dispose()


def test_serve_never_prints_an_admin_token_into_a_log(tmp_path: Path) -> None:
    """Started with its output going to a log (not a terminal), serve prints no admin token,
    only how to create one; the token is printed on a terminal (docs/server.md)."""
    db = f"sqlite:///{tmp_path}/h.db"
    outputs = []
    for _ in range(2):
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hrsignal.cli", "serve", "--db", db, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        outputs.append(err)
    assert "hrsignal apps admin-token" in outputs[0]
    assert "hrsadm_" not in outputs[0] and "hrsadm_" not in outputs[1]
