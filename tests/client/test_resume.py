"""Resuming: the checkpoint, a process killed mid-chunk, changed files, concurrent runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from hrsignal.client.checkpoint import Checkpoint, exclusive_lock, file_sha256
from hrsignal.errors import ConflictError
from tests.client.conftest import JOB, Target, resignations, run_cli
from tests.fakes.microsoft import accept_then_hang, delay, status

pytestmark = pytest.mark.timeout(120)


def test_killed_mid_chunk_resumes_and_resends_at_most_the_inflight_chunk(
    target: Target, tmp_path: Path
) -> None:
    """SIGKILL while chunk 3 is in flight; the rerun sends chunks 3..5 only, so every record
    arrives, chunks 1-2 once and the in-flight chunk at most twice."""
    fake = target.fake
    fake.on_upload(accept_then_hang(60), when=lambda r: r.part == 3, times=1)
    path = resignations(tmp_path / "hr.csv", 25)
    args = target.upload_args(path, "--records-per-call", "5")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hrsignal.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(r.part == 3 for r in fake.accepted):  # saved; its answer never comes
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "chunk 3 never arrived"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    checkpoint = Checkpoint.load(target.state_dir, JOB, file_sha256(path))
    assert checkpoint.through_record == 10  # chunks 1-2 acknowledged, 3 was not

    result = run_cli([*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["chunks_skipped_from_checkpoint"] == 2 and doc["chunks_sent"] == 3
    counts = Counter(row[0] for row in fake.rows(JOB))
    assert set(counts) == {f"user{i}@contoso.com" for i in range(25)}
    for i in range(25):
        expected = 2 if 10 <= i < 15 else 1  # the in-flight chunk, sent twice
        assert counts[f"user{i}@contoso.com"] == expected


def test_rerun_with_other_records_per_call_resumes_at_the_right_record(
    target: Target, tmp_path: Path
) -> None:
    """A failed run at 4 per call, resumed at 3 per call: each record arrives exactly once."""
    fake = target.fake
    fake.on_upload(status(400, "no"), when=lambda r: r.part == 3, times=1)
    path = resignations(tmp_path / "hr.csv", 14)
    assert run_cli(target.upload_args(path, "--records-per-call", "4")).exit_code == 3
    assert len(fake.rows(JOB)) == 8
    assert run_cli(target.upload_args(path, "--records-per-call", "3")).exit_code == 0
    emails = [row[0] for row in fake.rows(JOB)]
    assert sorted(emails) == sorted(f"user{i}@contoso.com" for i in range(14))


def test_a_changed_file_starts_afresh(target: Target, tmp_path: Path) -> None:
    """New content under the same name is a new upload (the key is the content hash)."""
    path = resignations(tmp_path / "hr.csv", 3)
    assert run_cli(target.upload_args(path)).exit_code == 0
    resignations(path, 4, start=100)
    assert run_cli(target.upload_args(path)).exit_code == 0
    assert len(target.fake.rows(JOB)) == 7


def test_touching_a_file_keeps_its_checkpoint(target: Target, tmp_path: Path) -> None:
    """A new mtime with the same bytes is the same upload (the official script re-sent it)."""
    path = resignations(tmp_path / "hr.csv", 3)
    assert run_cli(target.upload_args(path)).exit_code == 0
    os.utime(path, (time.time() + 100, time.time() + 100))
    assert run_cli(target.upload_args(path)).exit_code == 0
    assert len(target.fake.rows(JOB)) == 3


def test_checkpoint_records_each_acknowledged_chunk(target: Target, tmp_path: Path) -> None:
    """Per chunk: record range, chunk sha256, attempts, status and the server's upload id."""
    target.fake.on_upload(status(503), when=lambda r: r.part == 2, times=1)
    path = resignations(tmp_path / "hr.csv", 5)
    assert run_cli(target.upload_args(path, "--records-per-call", "3")).exit_code == 0
    data = Checkpoint.load(target.state_dir, JOB, file_sha256(path)).data
    assert data["completed"] is True
    chunks = data["chunks"]
    assert [(c["first_record"], c["last_record"], c["attempts"]) for c in chunks] == [
        (1, 3, 1),
        (4, 5, 2),
    ]
    assert all(c["status"] == 200 and len(c["sha256"]) == 64 and c["upload_id"] for c in chunks)


def test_checkpoint_untouched_after_a_4xx(target: Target, tmp_path: Path) -> None:
    """A 400 on the first chunk leaves no acknowledged chunk in the checkpoint."""
    target.fake.on_upload(status(400, "bad"), times=1)
    path = resignations(tmp_path / "hr.csv", 3)
    assert run_cli(target.upload_args(path)).exit_code == 3
    cp = Checkpoint.load(target.state_dir, JOB, file_sha256(path))
    assert cp.through_record == 0 and cp.chunks_acknowledged == 0


def test_concurrent_run_on_the_same_file_and_job_is_refused(target: Target, tmp_path: Path) -> None:
    """While one run holds the lock, a second run of the same file and job exits 2."""
    path = resignations(tmp_path / "hr.csv", 3)
    stem = Checkpoint(target.state_dir, JOB, file_sha256(path)).path.stem
    lock = target.state_dir / "locks" / f"{stem}.lock"
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with exclusive_lock(lock, "test"):
            holding.set()
            release.wait(30)

    # flock locks belong to the open file description, so a second open in this process
    # conflicts just as another process would.
    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        result = run_cli(target.upload_args(path))
        assert result.exit_code == 2
        assert "already being uploaded" in result.output
        assert target.fake.requests == []
    finally:
        release.set()
        thread.join()
    assert run_cli(target.upload_args(path)).exit_code == 0


def test_lock_is_exclusive(tmp_path: Path) -> None:
    """A second holder of the same lock file is refused with a ConflictError."""
    lock = tmp_path / "x.lock"
    with exclusive_lock(lock, "x"), pytest.raises(ConflictError), exclusive_lock(lock, "x"):
        pass


def test_sigterm_finishes_the_chunk_in_flight_then_stops(target: Target, tmp_path: Path) -> None:
    """SIGTERM during chunk 1 lets it be acknowledged and checkpointed, then stops (exit 5);
    the rerun sends the rest, and no record arrives twice."""
    fake = target.fake
    fake.on_upload(delay(1.5), when=lambda r: r.part == 1, times=1)
    path = resignations(tmp_path / "hr.csv", 9)
    args = target.upload_args(path, "--records-per-call", "3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hrsignal.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not fake.requests:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, err
    assert "stopping after the chunk in flight" in err
    assert Checkpoint.load(target.state_dir, JOB, file_sha256(path)).through_record == 3
    assert run_cli(args).exit_code == 0
    emails = [row[0] for row in fake.rows(JOB)]
    assert emails == [f"user{i}@contoso.com" for i in range(9)]


def test_corrupt_checkpoint_is_reported_not_ignored(target: Target, tmp_path: Path) -> None:
    """A damaged checkpoint stops with exit 2 and says how to start afresh (never silently
    re-sends or skips)."""
    path = resignations(tmp_path / "hr.csv", 3)
    cp = Checkpoint(target.state_dir, JOB, file_sha256(path))
    cp.path.parent.mkdir(parents=True)
    cp.path.write_text("{not json")
    result = run_cli(target.upload_args(path))
    assert result.exit_code == 2
    assert "unreadable" in result.output and "move it away" in result.output
    assert target.fake.requests == []


def test_unwritable_state_dir_is_a_clear_error(target: Target, tmp_path: Path) -> None:
    """A state directory that cannot be created: exit 2 naming it, nothing sent."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    path = resignations(tmp_path / "hr.csv", 3)
    args = target.upload_args(path)
    args[args.index("--state-dir") + 1] = str(blocker / "state")
    result = run_cli(args)
    assert result.exit_code == 2
    assert str(blocker) in result.output and "Traceback" not in result.output
    assert target.fake.requests == []
