"""A full disk and a read-only state directory, on small tmpfs mounts.

The service's database and temporary directory, or the uploader's state directory, live on a
tmpfs of a few MiB that a filler file then fills. Every failure must be a clear error (503
``store_unavailable`` from the service, a one-line message and exit 2 from the CLI), never a
500 or a traceback; nothing is corrupted (SQLite's integrity_check, the log consistent with
the records); and once space returns the next attempt succeeds. Mounting needs root (or
CAP_SYS_ADMIN): where it is impossible these tests are skipped and say so.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hrsignal.client.uploader import upload_file
from tests.reliability import harness, logscan
from tests.reliability.conftest import Figures

pytestmark = pytest.mark.timeout(180)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (skips the test when mounting is impossible)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, options: str) -> None:
    """Change a mount's options (``ro``, ``rw``, ``size=...``)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def fill(path: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``path`` with one file, leaving about ``leave`` bytes."""
    filler = path / "filler"
    stat = os.statvfs(path)
    free = stat.f_bavail * stat.f_frsize
    with filler.open("wb") as fh:
        remaining = max(0, free - leave)
        block = b"\0" * (1 << 20)
        while remaining > 0:
            try:
                fh.write(block[: min(len(block), remaining)])
                fh.flush()
            except OSError:
                break
            remaining -= min(len(block), remaining)
    return filler


def _token(base: str, job: harness.Job) -> str:
    answer = httpx.post(
        f"{base}/{job.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": job.app_id,
            "client_secret": job.secret,
            "scope": harness.RESOURCE + "/.default",
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _post(base: str, job: harness.Job, token: str, csv: bytes) -> httpx.Response:
    return httpx.post(
        f"{base}/api/signals",
        params={"jobid": job.job_id},
        content=csv,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        timeout=60,
    )


@pytest.mark.parametrize("tmp_on_disk", [True, False], ids=["db-and-tmp", "db-only"])
def test_service_on_a_full_disk_answers_503_then_recovers(
    tmp_path: Path, figures: Figures, request: pytest.FixtureRequest, tmp_on_disk: bool
) -> None:
    """Database (and temp directory, or not) on a full 8 MiB tmpfs: each upload answers 503
    with the one JSON error shape (never 500, no traceback in the log); once space returns
    the same uploads are saved, nothing corrupted, the log consistent with the records."""
    with tmpfs(tmp_path / "disk", "8m") as disk:
        db_url = f"sqlite:///{disk / 'hr.db'}"
        (disk / "tmp").mkdir()
        store = harness.open_store(db_url)
        job = harness.make_job(store)
        store.dispose()
        logscan.register_secret(job.secret)
        service = harness.Service(
            db_url,
            harness.free_port(),
            tmp_path / "service.log",
            env={"TMPDIR": str(disk / "tmp" if tmp_on_disk else tmp_path)},
        )
        logscan.watch_file(service.log_path)
        service.start()
        try:
            token = _token(service.url, job)
            ok = _post(service.url, job, token, _csv(tmp_path, 0, 2000))
            assert ok.status_code == 200, ok.text
            filler = fill(disk)
            statuses = []
            for k in range(1, 4):
                answer = _post(service.url, job, token, _csv(tmp_path, k * 2000, 2000))
                statuses.append(answer.status_code)
                assert answer.status_code == 503, answer.text
                error = answer.json()["error"]
                assert error["code"] == "store_unavailable"
                assert "space" in error["message"] or "full" in error["message"]
            health = httpx.get(service.url + "/healthz", timeout=10)
            assert health.status_code in (200, 503)
            filler.unlink()
            for k in range(1, 4):
                answer = _post(service.url, job, token, _csv(tmp_path, k * 2000, 2000))
                assert answer.status_code == 200, answer.text
        finally:
            service.stop()
        found = harness.audit(db_url, job.job_id)
        assert harness.sqlite_integrity(db_url) == "ok"
        log = service.log()
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
    sent = {f"user{i}@contoso.com" for i in range(8_000)}
    assert found.stored == 8_000 and found.lost(sent) == 0
    assert found.duplicated == 0 and found.orphans == 0 and found.torn == 0
    figures.add(
        "full disk under the service ("
        + ("database and temp dir" if tmp_on_disk else "database only")
        + "), then space returns",
        node=request.node.nodeid,
        runs=7,
        sent=8_000,
        stored=found.stored,
        lost=found.lost(sent),
        duplicated=found.duplicated,
        errors_surfaced=0,
        refused_while_full=f"{statuses.count(503)} x 503 store_unavailable, 0 x 500",
    )


def _csv(tmp_path: Path, start: int, n: int) -> bytes:
    return harness.resignations_csv(tmp_path / f"part{start}.csv", n, start=start).read_bytes()


def test_uploader_state_dir_on_a_full_disk_fails_clearly_and_resumes(
    tmp_path: Path, ca: harness.CA, figures: Figures, request: pytest.FixtureRequest
) -> None:
    """The uploader's state directory fills up mid-upload: the upload stops with a clear
    'cannot write' error for the checkpoint (no traceback); after space returns the rerun
    finishes, and the chunk the service saved but the checkpoint missed is not saved twice."""
    db_url = f"sqlite:///{tmp_path / 'service.db'}"
    store = harness.open_store(db_url)
    job = harness.make_job(store)
    store.dispose()
    logscan.register_secret(job.secret)
    service = harness.Service(db_url, harness.free_port(), tmp_path / "service.log")
    logscan.watch_file(service.log_path)
    path = harness.resignations_csv(tmp_path / "hr.csv", 2000)
    with tmpfs(tmp_path / "state", "1m") as state:
        service.start()
        try:
            with harness.FaultProxy(service.port, ca) as proxy:
                settings = harness.upload_settings(proxy.url, job, state, ca.ca_path)
                filler: list[Path] = []

                def on_event(n: int, p: str, phase: str) -> None:
                    if "/api/signals" in p and phase == "answered" and len(proxy.requests()) == 5:
                        filler.append(fill(state))

                proxy.on_event = on_event
                first = upload_file(path, settings)
                assert first.status == "failed"
                assert first.error is not None and "cannot write" in first.error.message
                assert "No space left" in first.error.message
                filler[0].unlink()
                proxy.on_event = lambda n, p, phase: None
                second = upload_file(path, settings)
        finally:
            service.stop()
    assert second.status == "uploaded", second.to_dict()
    found = harness.audit(db_url, job.job_id)
    sent = {f"user{i}@contoso.com" for i in range(2000)}
    assert found.stored == 2000 and found.lost(sent) == 0 and found.duplicated == 0
    figures.add(
        "full disk under the uploader's state, rerun",
        node=request.node.nodeid,
        runs=2,
        sent=2000,
        stored=found.stored,
        lost=found.lost(sent),
        duplicated=found.duplicated,
        errors_surfaced=0,
        first_run=first.error.message.splitlines()[0] if first.error else "",
    )


def test_read_only_state_directory_is_a_clear_usage_error(tmp_path: Path) -> None:
    """``hrsignal upload`` with its state directory on a read-only mount exits 2 with one
    line naming the directory and the reason, and no traceback."""
    path = harness.resignations_csv(tmp_path / "hr.csv", 10)
    with tmpfs(tmp_path / "state", "1m") as state:
        remount(state, "ro")
        job = harness.Job(
            "0f8a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
            "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
            "s3cret",
            "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
        )
        args = harness.cli_args("https://127.0.0.1:9", job, path, state, path)
        args[args.index("--ca-bundle") + 1] = str(path)  # never reached
        done = subprocess.run(
            [harness.HRSIGNAL, *args],
            capture_output=True,
            text=True,
            env={**os.environ, "HRSIGNAL_APP_SECRET": "s3cret"},
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert "Read-only file system" in done.stderr and str(state) in done.stderr
    assert "Traceback" not in done.stderr


def test_service_database_on_a_read_only_mount_refuses_to_start_clearly(
    tmp_path: Path,
) -> None:
    """``hrsignal serve`` whose SQLite database sits on a read-only mount exits 2 with a
    one-line reason, and no traceback."""
    with tmpfs(tmp_path / "db", "4m") as disk:
        store = harness.open_store(f"sqlite:///{disk / 'hr.db'}")
        store.dispose()
        remount(disk, "ro")
        done = subprocess.run(
            [harness.HRSIGNAL, "serve", "--db", f"sqlite:///{disk / 'hr.db'}", "--port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "read-only" in done.stderr.lower() or "readonly" in done.stderr.lower()
