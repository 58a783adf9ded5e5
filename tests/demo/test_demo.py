"""``hrsignal demo``: the whole chain over real loopback TLS, its re-runs, and its served mode."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from hrsignal.cli import cli
from hrsignal.demo.chain import DATA_DIR, HR_FILE
from hrsignal.demo.tls import ensure_tls
from hrsignal.risk.alerts import list_alerts
from hrsignal.store import uploads
from hrsignal.store.engine import open_store

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
THIEF = "diego.siciliani@contoso.com"


def run_demo(*args: str) -> Result:
    """``hrsignal demo ARGS`` in-process."""
    return CliRunner().invoke(cli, ["demo", *args], catch_exceptions=False)


def rows_in(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").strip().splitlines()) - 1


def check_chain(home: Path, output: str) -> None:
    """What a finished demo run leaves: the upload log, the alerts, the printed sign-ins."""
    from hrsignal.store.accounts import authenticate
    from hrsignal.store.connectors import list_connectors

    store = open_store(f"sqlite:///{home / 'hrsignal.db'}")
    try:
        [connector] = list_connectors(store)
        [entry] = uploads.list_uploads(store, connector.job_id)
        sent = rows_in(DATA_DIR / HR_FILE)
        assert entry.records_received == sent == 4
        assert entry.records_saved == sent and entry.records_rejected == 0
        assert f"RecordsSaved {sent} (= rows sent)" in output
        for name, password, role in re.findall(r"(demo-\w+) +(\S+) +\((\w+)\)", output):
            assert authenticate(store, name, password).role == role
        assert len(re.findall(r"demo-\w+ +\S+ +\(\w+\)", output)) == 3
    finally:
        store.dispose()
    alerts = list_alerts(home / "risk", reveal=True)
    assert alerts[0]["user"] == THIEF and alerts[0]["severity"] == "high"
    table = output[output.index("alerts, most severe first") :]
    first_row = next(line for line in table.splitlines() if "@contoso.com" in line)
    assert THIEF in first_row


def test_demo_runs_the_whole_chain_and_a_rerun_starts_afresh(tmp_path: Path) -> None:
    """--no-serve: exit 0, RecordsSaved equals the rows sent, the data thief is the top alert,
    the printed sign-ins work; a second run on the same directory does it all again."""
    home = tmp_path / "demo"
    first = run_demo("--dir", str(home), "--port", "0", "--no-serve")
    assert first.exit_code == 0, first.output
    check_chain(home, first.output)
    ca_before = (home / "tls" / "ca.pem").read_bytes()

    second = run_demo("--dir", str(home), "--port", "0", "--once")
    assert second.exit_code == 0, second.output
    check_chain(home, second.output)
    assert (home / "tls" / "ca.pem").read_bytes() == ca_before  # the CA a browser trusts stays


def test_a_directory_the_demo_did_not_make_is_refused_and_left_alone(tmp_path: Path) -> None:
    """The demo starts afresh, so a non-empty foreign --dir is refused (exit 2), untouched."""
    (tmp_path / "precious.txt").write_text("keep me", encoding="utf-8")
    result = run_demo("--dir", str(tmp_path), "--port", "0", "--no-serve")
    assert result.exit_code == 2
    assert "was not made by 'hrsignal demo'" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def test_a_bad_now_is_a_usage_error() -> None:
    """--now that is not ISO 8601: exit 2 with an example, no traceback."""
    result = run_demo("--now", "1 Oct 2026", "--no-serve")
    assert result.exit_code == 2
    assert "expected e.g. 2026-10-01T00:00:00Z" in result.output


def test_tls_files_are_reused_while_valid_and_renewed_before_expiry(tmp_path: Path) -> None:
    """A second call keeps the CA; one a day before expiry makes a new one."""
    first = ensure_tls(tmp_path)
    pem = first.ca_path.read_bytes()
    assert ensure_tls(tmp_path).ca_path.read_bytes() == pem
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=89, hours=12)
    assert ensure_tls(tmp_path, now=later).ca_path.read_bytes() != pem
    assert oct(first.key_path.stat().st_mode & 0o777) == "0o600"


def test_bundled_example_is_the_repository_example() -> None:
    """The package's demo data are examples/activity's files, byte for byte."""
    for path in DATA_DIR.iterdir():
        assert path.read_bytes() == (REPO / "examples" / "activity" / path.name).read_bytes()
    assert {p.name for p in DATA_DIR.iterdir()} >= {HR_FILE, "purview-audit.csv.gz"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path, Path, list[str]]]:
    """``hrsignal demo --port 0`` in a subprocess, read until it serves."""
    home = tmp_path / "served"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hrsignal.cli", "demo", "--dir", str(home), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    url = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("dashboard"):
                url = line.split()[1].rstrip("/")
            if line.startswith("serving until Ctrl-C"):
                break
        assert url, "".join(lines)
        yield proc, url, home, home / "tls" / "ca.pem", lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_served_demo_answers_on_its_url_and_stops_on_sigint(
    served: tuple[subprocess.Popen[str], str, Path, Path, list[str]],
) -> None:
    """The printed URL answers over TLS trusted through the demo CA and the printed sign-in
    opens the dashboard's alerts; a second demo on the same directory or port is refused while
    it runs; the printed upload command works; SIGINT stops it cleanly (exit 0, port closed)."""
    proc, url, home, ca, lines = served
    tls = ssl.create_default_context(cafile=ca)
    health = httpx.get(f"{url}/healthz", verify=tls, timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"

    output = "".join(lines)
    alert_id = re.search(r"\b(A-[0-9a-f]{10})\b", output)
    password = re.search(r"demo-investigator +(\S+) +\(investigator\)", output)
    assert alert_id and password, output
    with httpx.Client(base_url=url, verify=tls, timeout=10, follow_redirects=True) as browser:
        form = browser.get("/signin")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert form.status_code == 200 and csrf
        signed_in = browser.post(
            "/signin",
            data={
                "name": "demo-investigator",
                "password": password.group(1),
                "csrf_token": csrf.group(1),
            },
        )
        assert signed_in.status_code == 200, signed_in.text
        alerts = browser.get("/alerts")
        assert alerts.status_code == 200 and alert_id.group(1) in alerts.text
        assert THIEF not in alerts.text  # pseudonyms until an investigator reveals

    same_dir = run_demo("--dir", str(home), "--port", "0", "--no-serve")
    assert same_dir.exit_code == 2
    assert "another 'hrsignal demo' is running" in same_dir.output
    port = int(url.rsplit(":", 1)[1])
    other = home.parent / "other"
    same_port = run_demo("--dir", str(other), "--port", str(port), "--no-serve")
    assert same_port.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in same_port.output

    printed = next(line for line in lines if line.strip().startswith("hrsignal upload"))
    by_hand = CliRunner().invoke(
        cli, [*shlex.split(printed)[1:], "--state-dir", str(home.parent / "state")]
    )
    assert by_hand.exit_code == 0, by_hand.output
    assert "uploaded 4 records" in by_hand.output

    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert proc.stdout is not None
    rest = proc.stdout.read()
    assert "stopping the service" in rest and "Traceback" not in "".join(lines) + rest
    time.sleep(0.1)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
