"""The uploader SIGKILLed at random points of a multi-chunk upload, then rerun.

Each round forks a real uploader process (``hrsignal upload`` through the CLI's ``main``,
forked from this already-imported process so a round costs milliseconds rather than an
interpreter start) and kills it with SIGKILL at a random point: at a random moment, or when
the fault proxy sees its n-th chunk arrive, get the service's answer (the service saved it,
the uploader will never know) or hand that answer over (the uploader is about to write its
checkpoint). The next round resumes from whatever checkpoint survived. A last run without a
kill finishes; the service must hold every record exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

import hrsignal.client.commands  # noqa: F401 - imported before forking, so children start warm
from hrsignal.cli import main
from hrsignal.client.checkpoint import Checkpoint, file_sha256
from tests.reliability import harness, logscan
from tests.reliability.conftest import Figures

pytestmark = pytest.mark.timeout(300)

PHASES = ["time", "received", "answered", "forwarded"]


def _fork_upload(args: list[str], secret: str, log: Path) -> int:
    """Start an uploader process; its output goes to ``log``."""
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:  # the child: never return into pytest
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        # pytest replaced sys.stdout/stderr with its capture; the child writes to its log.
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives until _exit
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.environ["HRSIGNAL_APP_SECRET"] = secret
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _kill_rounds(
    tmp_path: Path, ca: harness.CA, *, records: int, per_call: int, kills: int, seed: int
) -> dict[str, object]:
    db_url = f"sqlite:///{tmp_path / 'service.db'}"
    store = harness.open_store(db_url)
    job = harness.make_job(store)
    store.dispose()
    logscan.register_secret(job.secret)
    service = harness.Service(db_url, harness.free_port(), tmp_path / "service.log")
    logscan.watch_file(service.log_path)
    child_log = tmp_path / "uploader.log"
    logscan.watch_file(child_log)
    path = harness.resignations_csv(tmp_path / "hr.csv", records)
    state = tmp_path / "state"
    rng = random.Random(seed)
    points: list[str] = []
    service.start()
    try:
        with harness.FaultProxy(service.port, ca) as proxy:
            args = harness.cli_args(proxy.url, job, ca.ca_path, state, path)
            args += ["--records-per-call", str(per_call)]
            target: dict[str, object] = {}

            def on_event(n: int, p: str, phase: str) -> None:
                if "/api/signals" not in p or target.get("done"):
                    return
                if phase == "received":
                    target["seen"] = int(target.get("seen", 0)) + 1  # type: ignore[call-overload]
                if target.get("seen") == target["nth"] and phase == target["phase"]:
                    time.sleep(float(target["jitter"]))  # type: ignore[arg-type]
                    os.kill(int(target["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
                    target["done"] = True

            proxy.on_event = on_event
            # Rounds go on until `kills` of them were killed (a round may finish first when
            # its kill point lies past the last chunk); the file has enough chunks for that.
            rounds = 0
            while sum(1 for p in points if not p.endswith(":finished")) < kills:
                rounds += 1
                if rounds > 3 * kills:
                    break
                phase = rng.choice(PHASES)
                nth = rng.randint(1, 3)
                jitter = rng.uniform(0, 0.02) if phase == "forwarded" else 0.0
                target.clear()
                target.update(nth=nth, phase=phase, jitter=jitter, pid=-1)
                pid = _fork_upload(args, job.secret, child_log)
                target["pid"] = pid
                if phase == "time":
                    time.sleep(rng.uniform(0.0, 0.3))
                    os.kill(pid, signal.SIGKILL)
                    target["done"] = True
                _, status = os.waitpid(pid, 0)
                killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                points.append(f"{phase}:{nth}" if killed else f"{phase}:{nth}:finished")
            # The last run: no kill, it must finish.
            target.clear()
            target.update(nth=-1, phase="none", jitter=0.0, pid=-1, done=True)
            pid = _fork_upload(args, job.secret, child_log)
            _, status = os.waitpid(pid, 0)
            final_exit = os.waitstatus_to_exitcode(status)
            signals = len(proxy.requests())
    finally:
        service.stop()
    checkpoint = Checkpoint.load(state, job.job_id, file_sha256(path))
    found = harness.audit(db_url, job.job_id)
    sent = {f"user{i}@contoso.com" for i in range(records)}
    return {
        "final_exit": final_exit,
        "completed": checkpoint.completed,
        "kills": sum(1 for p in points if not p.endswith(":finished")),
        "points": points,
        "audit": found,
        "lost": found.lost(sent),
        "requests": signals,
        "log": child_log.read_text(errors="replace")[-3000:],
        "integrity": harness.sqlite_integrity(db_url),
    }


def _check_and_record(
    result: dict[str, object], records: int, figures: Figures, node: str, scenario: str
) -> None:
    found = result["audit"]
    assert isinstance(found, harness.Audit)
    assert result["final_exit"] == 0, result["log"]
    assert result["completed"] is True
    assert result["integrity"] == "ok"
    assert found.stored == records
    assert result["lost"] == 0
    assert found.duplicated == 0
    assert found.orphans == 0 and found.torn == 0
    assert found.saved_in_log == records
    figures.add(
        scenario,
        node=node,
        runs=int(result["kills"]) + 1,  # type: ignore[call-overload]
        kills=result["kills"],
        sent=records,
        stored=found.stored,
        lost=result["lost"],
        duplicated=found.duplicated,
        errors_surfaced=0 if result["final_exit"] == 0 else 1,
        chunk_requests=result["requests"],
        uploads_logged=found.uploads,
        phases={p: sum(1 for x in result["points"] if x.startswith(p)) for p in PHASES},  # type: ignore[attr-defined]
    )


def test_uploader_killed_at_50_random_points_then_rerun_stores_each_record_once(
    tmp_path: Path, ca: harness.CA, figures: Figures, request: pytest.FixtureRequest
) -> None:
    """SIGKILL at 50 random points of a 150-chunk upload (mid-validation, before the service
    sees a chunk, after it saved one the uploader never hears of, while the checkpoint is
    written); one more run finishes: 3,000 records stored once, log consistent, file sound."""
    result = _kill_rounds(tmp_path, ca, records=3000, per_call=20, kills=50, seed=7)
    assert int(result["kills"]) >= 50, result["points"]  # type: ignore[call-overload]
    _check_and_record(result, 3000, figures, request.node.nodeid, "uploader SIGKILL, rerun")


@pytest.mark.slow
def test_uploader_killed_at_300_random_points_soak(
    tmp_path: Path, ca: harness.CA, figures: Figures, request: pytest.FixtureRequest
) -> None:
    """The same with 300 kills over a 1,000-chunk upload of 20,000 records."""
    result = _kill_rounds(tmp_path, ca, records=20_000, per_call=20, kills=300, seed=11)
    assert int(result["kills"]) >= 300, result["points"]  # type: ignore[call-overload]
    _check_and_record(
        result, 20_000, figures, request.node.nodeid, "uploader SIGKILL, rerun (soak)"
    )


def test_summary_of_an_interrupted_upload_resumes_from_the_checkpoint(
    tmp_path: Path, ca: harness.CA
) -> None:
    """A run killed after some chunks were acknowledged leaves a checkpoint the rerun
    resumes from: the rerun's JSON summary counts the chunks skipped."""
    db_url = f"sqlite:///{tmp_path / 'service.db'}"
    store = harness.open_store(db_url)
    job = harness.make_job(store)
    store.dispose()
    service = harness.Service(db_url, harness.free_port(), tmp_path / "service.log")
    path = harness.resignations_csv(tmp_path / "hr.csv", 500)
    state = tmp_path / "state"
    log = tmp_path / "uploader.log"
    service.start()
    try:
        with harness.FaultProxy(service.port, ca) as proxy:
            args = [*harness.cli_args(proxy.url, job, ca.ca_path, state, path)]
            args += ["--records-per-call", "50"]
            pids: list[int] = []

            def on_event(n: int, p: str, phase: str) -> None:
                fourth = "/api/signals" in p and len(proxy.requests()) == 4
                if fourth and phase == "forwarded" and pids:
                    time.sleep(0.2)  # the checkpoint of chunk 4 is written meanwhile
                    os.kill(pids[0], signal.SIGKILL)

            proxy.on_event = on_event
            pids.append(_fork_upload(args, job.secret, log))
            os.waitpid(pids[0], 0)
            pids.clear()
            out = tmp_path / "rerun.log"
            pid = _fork_upload(args, job.secret, out)
            _, status = os.waitpid(pid, 0)
    finally:
        service.stop()
    assert os.waitstatus_to_exitcode(status) == 0
    summary = json.loads(out.read_text()[: out.read_text().rindex("}") + 1])
    assert summary["status"] == "uploaded"
    assert summary["chunks_skipped_from_checkpoint"] >= 4
    assert harness.audit(db_url, job.job_id).stored == 500
