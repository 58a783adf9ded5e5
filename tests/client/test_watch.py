"""`hrsignal watch`: files appearing, half-written files, a restart, the target down, SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hrsignal.client.clouds import resolve_endpoints
from hrsignal.client.credentials import Secret
from hrsignal.client.retry import RetryPolicy
from hrsignal.client.uploader import UploadSettings
from hrsignal.client.watch import Watcher
from tests.client.conftest import APP, JOB, SECRET, TENANT, Target, resignations
from tests.fakes.microsoft import status

pytestmark = pytest.mark.timeout(120)


def _settings(target: Target, **kw: object) -> UploadSettings:
    fake = target.fake
    endpoints = resolve_endpoints(
        tenant_id=TENANT, app_id=APP, job_id=JOB, login_url=fake.url, ingestion_url=fake.url
    )
    return UploadSettings(
        endpoints=endpoints,
        credential=Secret(SECRET),
        state_dir=target.state_dir,
        verify=str(fake.ca.ca_path),
        policy=RetryPolicy(base=0.01, max_retries=1),
        **kw,  # type: ignore[arg-type]
    )


@contextmanager
def watching(watcher: Watcher) -> Iterator[Watcher]:
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        yield watcher
    finally:
        watcher.stop()
        thread.join(30)
        assert not thread.is_alive()


def wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_files_appearing_while_running_are_uploaded_and_filed(
    target: Target, tmp_path: Path
) -> None:
    """Each new export is uploaded once, moved to processed/ with a report beside it."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    watcher = Watcher(inbox, _settings(target), interval=0.2, settle=0.2)
    with watching(watcher):
        resignations(inbox / "monday.csv", 4)
        wait_for(lambda: (inbox / "processed" / "monday.csv").exists())
        resignations(inbox / "tuesday.csv", 3, start=50)
        wait_for(lambda: (inbox / "processed" / "tuesday.csv").exists())
    assert len(target.fake.rows(JOB)) == 7
    assert target.fake.tokens_issued == 1  # one token for both files
    report = json.loads((inbox / "processed" / "tuesday.csv.report.json").read_text())
    assert report["status"] == "uploaded" and report["records"] == 3
    assert report["original_name"] == "tuesday.csv"
    assert not (inbox / "monday.csv").exists()


def test_half_written_file_waits_for_the_writer(target: Target, tmp_path: Path) -> None:
    """A file still growing is not touched; once stable it is uploaded whole, once."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    full = resignations(tmp_path / "full.csv", 40).read_bytes()
    watcher = Watcher(inbox, _settings(target), interval=0.1, settle=1.5)
    with watching(watcher):
        path = inbox / "export.csv"
        with path.open("wb") as fh:
            for i in range(0, len(full), 200):  # a slow writer: a piece every 0.2 s
                fh.write(full[i : i + 200])
                fh.flush()
                time.sleep(0.2)
                assert target.fake.requests == []
        wait_for(lambda: (inbox / "processed" / "export.csv").exists())
    assert len(target.fake.requests) == 1
    assert len(target.fake.rows(JOB)) == 40


def test_restart_reuploads_nothing_already_acknowledged(target: Target, tmp_path: Path) -> None:
    """After a restart, the same content under another name is filed without a request."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    source = resignations(tmp_path / "hr.csv", 5)
    shutil.copy(source, inbox / "a.csv")
    first = Watcher(inbox, _settings(target), interval=0.1, settle=0)
    first.run(once=True)
    assert first.outcomes == [("a.csv", "uploaded")]
    requests = len(target.fake.requests)
    shutil.copy(source, inbox / "a-again.csv")
    second = Watcher(inbox, _settings(target), interval=0.1, settle=0)
    second.run(once=True)
    assert second.outcomes == [("a-again.csv", "already_uploaded")]
    assert len(target.fake.requests) == requests
    assert (inbox / "processed" / "a-again.csv.report.json").exists()


def test_target_down_retries_later(target: Target, tmp_path: Path) -> None:
    """While the service answers 503 the file stays; when it recovers the file goes through."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    target.fake.on_upload(status(503), times=None)
    resignations(inbox / "hr.csv", 3)
    watcher = Watcher(inbox, _settings(target), interval=0.3, settle=0)
    with watching(watcher):
        wait_for(lambda: ("hr.csv", "retry_later") in watcher.outcomes)
        assert (inbox / "hr.csv").exists()
        target.fake.upload_rules.clear()  # the service is back
        wait_for(lambda: (inbox / "processed" / "hr.csv").exists())
    assert len(target.fake.rows(JOB)) == 3


def test_invalid_file_goes_to_failed_with_its_findings(target: Target, tmp_path: Path) -> None:
    """A file with validation errors is moved to failed/ and its report lists the findings."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    resignations(inbox / "bad.csv", 3, bad=(2,))
    watcher = Watcher(inbox, _settings(target), interval=0.1, settle=0)
    watcher.run(once=True)
    report = json.loads((inbox / "failed" / "bad.csv.report.json").read_text())
    assert report["status"] == "refused"
    assert report["validation"]["errors"][0]["record"] == 2
    assert target.fake.requests == []


def test_sigterm_stops_the_watcher_cleanly(target: Target, tmp_path: Path) -> None:
    """`hrsignal watch` exits 0 on SIGTERM and says it stopped."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    args = [
        "watch",
        str(inbox),
        "--interval",
        "0.2",
        "--settle",
        "0",
        *target.args(),
        "--state-dir",
        str(target.state_dir),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hrsignal.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        resignations(inbox / "hr.csv", 2)
        wait_for(lambda: (inbox / "processed" / "hr.csv").exists())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "SIGTERM" in err and "stopped" in err


def test_skip_invalid_rejects_file_moves_with_the_export(target: Target, tmp_path: Path) -> None:
    """With --skip-invalid the valid records go up and the rejects file lands in processed/."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    resignations(inbox / "mixed.csv", 4, bad=(3,))
    watcher = Watcher(inbox, _settings(target, skip_invalid=True), interval=0.1, settle=0)
    watcher.run(once=True)
    assert watcher.outcomes == [("mixed.csv", "uploaded")]
    assert len(target.fake.rows(JOB)) == 3
    rejects = inbox / "processed" / "mixed.rejects.csv"
    assert "user2@contoso.com" in rejects.read_text()
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []


def test_partial_upload_is_filed_in_failed_with_its_quarantine(
    target: Target, tmp_path: Path
) -> None:
    """With quarantining, a file whose record the server refuses goes to failed/ with the
    quarantine file and a report saying partial; its other records were delivered."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    target.fake.on_upload(status(400, "bad row"),
                          when=lambda r: any(row[0] == "user1@contoso.com" for row in r.rows),
                          times=None)  # fmt: skip
    resignations(inbox / "hr.csv", 4)
    watcher = Watcher(inbox, _settings(target, quarantine=True), interval=0.1, settle=0)
    watcher.run(once=True)
    assert watcher.outcomes == [("hr.csv", "partial")]
    report = json.loads((inbox / "failed" / "hr.csv.report.json").read_text())
    assert report["status"] == "partial" and report["quarantined"] == 1
    assert "user1@contoso.com" in (inbox / "failed" / "hr.quarantine.csv").read_text()
    assert len(target.fake.rows(JOB)) == 3
