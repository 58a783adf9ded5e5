"""End to end: `hrsignal upload` to the self-hosted `hrsignal serve`, over TLS on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hrsignal.client.checkpoint import Checkpoint, file_sha256
from tests.client.conftest import resignations, run_cli
from tests.fakes.ca import make_ca

server = pytest.importorskip("hrsignal.server", reason="hrsignal serve is not built yet")
store_pkg = pytest.importorskip("hrsignal.store", reason="the store is not built yet")
uvicorn = pytest.importorskip("uvicorn")

pytestmark = pytest.mark.timeout(120)


@dataclass
class Served:
    url: str
    ca: Path
    tenant_id: str
    app_id: str
    secret: str
    job_id: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """hrsignal serve on 127.0.0.1 with TLS, an app with a secret and a resignations job."""
    if not hasattr(server, "create_app"):
        pytest.skip("hrsignal.server has no create_app yet")
    from hrsignal.scenarios import propose_mapping
    from hrsignal.store import connectors, identity, open_store

    url = f"sqlite:///{tmp_path / 'hr.db'}"
    store = open_store(url)
    tenant = identity.default_tenant(store)
    new = identity.create_app(store, "uploader-e2e", tenant_id=tenant, expires_in_days=30)
    conn = connectors.create_connector(
        store,
        name="resignations",
        app_id=new.app.app_id,
        scenarios=["resignations"],
        mapping=propose_mapping(
            ["EmailAddress", "ResignationDate", "LastWorkingDate"], "resignations"
        ),
    )
    app = server.create_app(server.Settings(db_url=url, access_log=False), store=store)
    tls = make_ca(tmp_path / "tls")
    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=str(tls.cert_path),
        ssl_keyfile=str(tls.key_path),
        timeout_graceful_shutdown=2,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(uv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(
            f"https://127.0.0.1:{port}",
            tls.ca_path,
            new.app.tenant_id,
            new.app.app_id,
            new.secret,
            conn.job_id,
        )
    finally:
        uv.should_exit = True
        thread.join(20)
        store.dispose()


def _args(s: Served, path: Path, state: Path, *extra: str) -> list[str]:
    return [
        "upload",
        str(path),
        "--tenant-id",
        s.tenant_id,
        "--app-id",
        s.app_id,
        "--job-id",
        s.job_id,
        "--login-url",
        s.url,
        "--ingestion-url",
        s.url,
        "--ca-bundle",
        str(s.ca),
        "--state-dir",
        str(state),
        *extra,
    ]


def _responses(state: Path, job: str, path: Path) -> list[dict[str, Any]]:
    chunks = Checkpoint.load(state, job, file_sha256(path)).data["chunks"]
    return [json.loads(c["response"]) for c in chunks]


def test_upload_to_hrsignal_serve_saves_every_record_and_a_resend_saves_none(
    served: Served, tmp_path: Path
) -> None:
    """msal gets a token from the self-hosted issuer; 3 chunks are saved; --force resends
    and the idempotent server saves nothing twice."""
    path = resignations(tmp_path / "hr.csv", 12)
    env = {"HRSIGNAL_APP_SECRET": served.secret}
    state = tmp_path / "state"
    first = run_cli(_args(served, path, state, "--records-per-call", "5"), env=env)
    assert first.exit_code == 0, first.output
    saved = _responses(state, served.job_id, path)
    assert [r["recordsSaved"] for r in saved] == [5, 5, 2]
    assert all(r["uploadId"] for r in saved)
    again = run_cli(_args(served, path, state, "--records-per-call", "5", "--force"), env=env)
    assert again.exit_code == 0, again.output
    resent = _responses(state, served.job_id, path)
    assert [r["recordsSaved"] for r in resent] == [0, 0, 0]
    assert sum(r["recordsUnchanged"] for r in resent) == 12


def test_wrong_job_on_hrsignal_serve_is_refused_with_the_reason(
    served: Served, tmp_path: Path
) -> None:
    """A job the app does not own: 403/404 from the server, exit 3 or 4, nothing saved."""
    path = resignations(tmp_path / "hr.csv", 2)
    args = _args(served, path, tmp_path / "state")
    args[args.index(served.job_id)] = "00000000-0000-4000-8000-000000000000"
    result = run_cli(args, env={"HRSIGNAL_APP_SECRET": served.secret})
    assert result.exit_code in (3, 4), result.output
    assert "HTTP 40" in result.output


def test_records_the_server_rejects_are_reported(served: Served, tmp_path: Path) -> None:
    """A record valid locally (date window off) but outside the server's window is counted
    as server_rejected and warned about."""
    path = tmp_path / "far.csv"
    path.write_text(
        "EmailAddress,ResignationDate,LastWorkingDate\n"
        "near@contoso.com,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z\n"
        "far@contoso.com,2026-11-01T00:00:00Z,2031-12-01T00:00:00Z\n"
    )
    args = _args(served, path, tmp_path / "state", "--date-window", "off", "--format", "json")
    result = run_cli(args, env={"HRSIGNAL_APP_SECRET": served.secret})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["server_rejected"] == 1 and doc["status"] == "uploaded"
