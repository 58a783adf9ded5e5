"""Load: N concurrent uploaders to one ``hrsignal serve`` process, on SQLite and PostgreSQL.

Three jobs (each its own app); job A gets four uploaders, two of which send the very same
records at the same moment, jobs B and C two each. Every uploader posts its chunks over real
HTTP on loopback as fast as the service answers. Measured: records per second, p50 and p99
chunk latency; required: every record stored, none saved twice, every answer 200, and no
"database is locked" anywhere (answers or the service's log).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability import harness, logscan
from tests.reliability.conftest import Figures

pytestmark = pytest.mark.timeout(600)


@dataclass
class Uploader:
    """One client: its job, the records it sends (by prefix and range), what happened."""

    job: harness.Job
    prefix: str
    start: int
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)


def _chunk(tmp: Path, prefix: str, start: int, n: int) -> bytes:
    return harness.resignations_csv(tmp / f"{prefix}{start}.csv", n, start=start,
                                    prefix=prefix).read_bytes()  # fmt: skip


def _token(url: str, job: harness.Job) -> str:
    answer = httpx.post(
        f"{url}/{job.tenant_id}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": job.app_id,
              "client_secret": job.secret, "scope": harness.RESOURCE + "/.default"},
        timeout=60,
    )  # fmt: skip
    return str(answer.json()["access_token"])


def run_load(tmp_path: Path, db_url: str, *, chunks: int, per_chunk: int) -> dict[str, object]:
    """Run the load; return the measurements and the audit of every job."""
    store = harness.open_store(db_url)
    jobs = [harness.make_job(store, name) for name in ("load-a", "load-b", "load-c")]
    store.dispose()
    for job in jobs:
        logscan.register_secret(job.secret)
    a, b, c = jobs
    uploaders = [
        Uploader(a, "a-shared-", 0),
        Uploader(a, "a-shared-", 0),  # the same records as the one above, at the same time
        Uploader(a, "a-", 1_000_000),
        Uploader(a, "a-", 2_000_000),
        Uploader(b, "b-", 0),
        Uploader(b, "b-", 1_000_000),
        Uploader(c, "c-", 0),
        Uploader(c, "c-", 1_000_000),
    ]
    service = harness.Service(db_url, harness.free_port(), tmp_path / "service.log")
    logscan.watch_file(service.log_path)
    service.start()
    bodies = {
        (u.prefix, u.start): [
            _chunk(tmp_path, u.prefix, u.start + k * per_chunk, per_chunk) for k in range(chunks)
        ]
        for u in uploaders
    }
    tokens = {job.job_id: _token(service.url, job) for job in jobs}
    barrier = threading.Barrier(len(uploaders))

    def send(u: Uploader) -> None:
        headers = {"Authorization": f"Bearer {tokens[u.job.job_id]}", "Content-Type": "text/csv"}
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            for body in bodies[(u.prefix, u.start)]:
                started = time.perf_counter()
                answer = client.post(
                    f"{service.url}/api/signals",
                    params={"jobid": u.job.job_id},
                    content=body,
                    headers=headers,
                )
                u.latencies.append(time.perf_counter() - started)
                u.statuses.append(answer.status_code)
                if answer.status_code != 200:
                    u.bodies.append(answer.text[:300])

    threads = [threading.Thread(target=send, args=(u,)) for u in uploaders]
    try:
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(500)
        wall = time.perf_counter() - started
    finally:
        service.stop()
    sent: dict[str, set[str]] = {job.job_id: set() for job in jobs}
    for u in uploaders:
        sent[u.job.job_id] |= {
            f"{u.prefix}{i}@contoso.com" for i in range(u.start, u.start + chunks * per_chunk)
        }
    audits = {job.job_id: harness.audit(db_url, job.job_id) for job in jobs}
    latencies = sorted(x for u in uploaders for x in u.latencies)
    return {
        "uploaders": uploaders,
        "wall": wall,
        "records_sent": len(uploaders) * chunks * per_chunk,
        "distinct": sum(len(s) for s in sent.values()),
        "stored": sum(a.stored for a in audits.values()),
        "lost": sum(audits[j].lost(sent[j]) for j in sent),
        "duplicated": sum(a.duplicated for a in audits.values()),
        "torn": sum(a.torn + a.orphans for a in audits.values()),
        "non_200": sum(1 for u in uploaders for s in u.statuses if s != 200),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "locked": sum("database is locked" in b for u in uploaders for b in u.bodies)
        + service.log().count("database is locked"),
        "errors": [b for u in uploaders for b in u.bodies][:5],
    }


def _check(result: dict[str, object], figures: Figures, node: str, db: str) -> None:
    assert result["non_200"] == 0, result["errors"]
    assert result["locked"] == 0
    assert result["lost"] == 0
    assert result["stored"] == result["distinct"]
    assert result["duplicated"] == 0
    assert result["torn"] == 0
    wall = float(result["wall"])  # type: ignore[arg-type]
    figures.add(
        f"load: 8 uploaders, 3 jobs, 2 of them sending the same records ({db})",
        node=node,
        runs=1,
        sent=result["records_sent"],
        distinct=result["distinct"],
        stored=result["stored"],
        lost=result["lost"],
        duplicated=result["duplicated"],
        errors_surfaced=result["non_200"],
        database_locked=result["locked"],
        records_per_s=round(int(result["records_sent"]) / wall),  # type: ignore[call-overload]
        p50_ms=round(float(result["p50_ms"]), 1),  # type: ignore[arg-type]
        p99_ms=round(float(result["p99_ms"]), 1),  # type: ignore[arg-type]
        wall_s=round(wall, 1),
    )


def test_load_sqlite(tmp_path: Path, figures: Figures, request: pytest.FixtureRequest) -> None:
    """SQLite: 8 uploaders x 6 chunks x 500 records; nothing lost or doubled, all 200,
    no 'database is locked'."""
    result = run_load(tmp_path, f"sqlite:///{tmp_path / 'hr.db'}", chunks=6, per_chunk=500)
    _check(result, figures, request.node.nodeid, "sqlite")


@pytest.mark.postgres
def test_load_postgres(
    tmp_path: Path, figures: Figures, request: pytest.FixtureRequest, fresh_postgres_url: str
) -> None:
    """PostgreSQL: the same load, the same guarantees."""
    result = run_load(tmp_path, fresh_postgres_url, chunks=6, per_chunk=500)
    _check(result, figures, request.node.nodeid, "postgres")


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_load_soak(
    tmp_path: Path, figures: Figures, request: pytest.FixtureRequest, db: str
) -> None:
    """8 uploaders x 50 chunks x 2,000 records (800,000 records sent)."""
    url = (
        f"sqlite:///{tmp_path / 'hr.db'}"
        if db == "sqlite"
        else str(request.getfixturevalue("fresh_postgres_url"))
    )
    result = run_load(tmp_path, url, chunks=50, per_chunk=2000)
    _check(result, figures, request.node.nodeid, f"{db}, soak")
