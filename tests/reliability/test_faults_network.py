"""The network between uploader and service, through the fault proxy on loopback.

Connection resets (before the service sees a chunk, and after it saved one), answers held
past the uploader's read timeout, a 50% 503 storm (token endpoint included), and 429 with
``Retry-After``: each upload still finishes with every record stored exactly once. A storm
that never ends fails clearly (exit 5, the last error named) within the retry bounds, and
marks nothing as sent that was not acknowledged.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hrsignal.client.checkpoint import Checkpoint, file_sha256
from hrsignal.client.retry import RetryPolicy
from hrsignal.client.uploader import upload_file
from hrsignal.errors import TransportError
from tests.reliability import harness, logscan
from tests.reliability.conftest import Figures

pytestmark = pytest.mark.timeout(180)

RECORDS = 1000


@dataclass
class Rig:
    """A service, the proxy in front of it, and a job."""

    service: harness.Service
    proxy: harness.FaultProxy
    job: harness.Job
    db_url: str
    ca: harness.CA


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, ca: harness.CA) -> Iterator[Rig]:
    """``hrsignal serve`` (SQLite) behind a fault proxy, for the whole module."""
    tmp = tmp_path_factory.mktemp("network")
    db_url = f"sqlite:///{tmp / 'service.db'}"
    store = harness.open_store(db_url)
    job = harness.make_job(store)
    store.dispose()
    service = harness.Service(db_url, harness.free_port(), tmp / "service.log")
    logscan.watch_file(service.log_path)
    service.start()
    try:
        with harness.FaultProxy(service.port, ca) as proxy:
            yield Rig(service, proxy, job, db_url, ca)
    finally:
        service.stop()


@pytest.fixture
def rig(served: Rig) -> Rig:
    """The module's service and proxy with a new job, the proxy passing everything."""
    store = harness.open_store(served.db_url, migrate=False)
    try:
        job = harness.make_job(store, f"network-{len(served.proxy.seen)}")
    finally:
        store.dispose()
    logscan.register_secret(job.secret)
    proxy = served.proxy
    proxy.decide = lambda n, m, p: harness.PASS
    with proxy._lock:
        proxy.seen.clear()
    return Rig(served.service, proxy, job, served.db_url, served.ca)


def _signals(path: str) -> bool:
    return "/api/signals" in path


def _upload(rig: Rig, tmp_path: Path, **overrides: object) -> tuple[object, harness.Audit]:
    path = harness.resignations_csv(tmp_path / "hr.csv", RECORDS)
    settings = harness.upload_settings(
        rig.proxy.url, rig.job, tmp_path / "state", rig.ca.ca_path, records_per_call=50
    )
    for name, value in overrides.items():
        setattr(settings, name, value)
    summary = upload_file(path, settings)
    return summary, harness.audit(rig.db_url, rig.job.job_id)


def _record(
    figures: Figures,
    node: str,
    scenario: str,
    summary: object,
    found: harness.Audit,
    rig: Rig,
    acknowledged: int = RECORDS,
) -> None:
    # lost = acknowledged records the store does not hold (records never acknowledged were
    # reported as not delivered, which is the errors-surfaced column)
    sent = {f"user{i}@contoso.com" for i in range(acknowledged)}
    requests = rig.proxy.requests()
    figures.add(
        scenario,
        node=node,
        runs=1,
        sent=RECORDS,
        stored=found.stored,
        lost=found.lost(sent),
        duplicated=found.duplicated,
        errors_surfaced=0 if getattr(summary, "status", "") == "uploaded" else 1,
        retries=getattr(summary, "retries", None),
        chunk_requests=len(requests),
        faults=sum(1 for s in requests if s.action != harness.PASS),
    )


def _assert_exactly_once(summary: object, found: harness.Audit) -> None:
    assert getattr(summary, "status", None) == "uploaded", getattr(summary, "to_dict", dict)()
    sent = {f"user{i}@contoso.com" for i in range(RECORDS)}
    assert found.lost(sent) == 0
    assert found.stored == RECORDS
    assert found.duplicated == 0
    assert found.orphans == 0 and found.torn == 0


def test_connection_resets_before_and_after_the_service_saw_the_chunk(
    rig: Rig, tmp_path: Path, figures: Figures, request: pytest.FixtureRequest
) -> None:
    """A third of chunk requests reset (half before the service sees them, half after it
    saved them): the upload finishes, every record stored once."""
    rng = random.Random(1)

    def decide(n: int, method: str, path: str) -> str:
        if not _signals(path):
            return harness.PASS
        roll = rng.random()
        return (
            harness.RESET_BEFORE if roll < 0.17 else harness.RESET_AFTER if roll < 0.34 else "pass"
        )

    rig.proxy.decide = decide
    summary, found = _upload(rig, tmp_path)
    _assert_exactly_once(summary, found)
    actions = {s.action for s in rig.proxy.requests()}
    assert {harness.RESET_BEFORE, harness.RESET_AFTER} <= actions
    _record(figures, request.node.nodeid, "network: connection resets", summary, found, rig)


def test_answers_held_past_the_read_timeout_are_resent_and_saved_once(
    rig: Rig, tmp_path: Path, figures: Figures, request: pytest.FixtureRequest
) -> None:
    """A quarter of answers held 1.5 s against a 0.5 s read timeout: the uploader times out
    (the service has already saved the chunk), resends, and nothing is stored twice."""
    rng = random.Random(2)
    rig.proxy.delay_s = 1.5
    rig.proxy.decide = lambda n, m, p: (
        harness.DELAY if _signals(p) and rng.random() < 0.25 else harness.PASS
    )
    summary, found = _upload(rig, tmp_path, read_timeout=0.5)
    _assert_exactly_once(summary, found)
    assert getattr(summary, "retries", 0) >= 1
    _record(figures, request.node.nodeid, "network: answers past the timeout", summary, found, rig)


def test_a_50_percent_503_storm_on_token_and_ingestion(
    rig: Rig, tmp_path: Path, figures: Figures, request: pytest.FixtureRequest
) -> None:
    """Half of all POSTs (token requests too) answered 503 by the proxy: retried, finished,
    exactly once."""
    rng = random.Random(3)
    rig.proxy.decide = lambda n, m, p: (
        harness.ANSWER_503 if m == "POST" and rng.random() < 0.5 else harness.PASS
    )
    summary, found = _upload(rig, tmp_path)
    _assert_exactly_once(summary, found)
    storms = [s for s in rig.proxy.seen if s.action == harness.ANSWER_503]
    assert any("/oauth2/" in s.path for s in storms) or len(storms) >= 10
    _record(figures, request.node.nodeid, "network: 50% 503 storm", summary, found, rig)


def test_429_with_retry_after_is_honoured(
    rig: Rig, tmp_path: Path, figures: Figures, request: pytest.FixtureRequest
) -> None:
    """Every fifth chunk request gets 429 Retry-After: 1; the uploader waits at least that
    long before the next attempt, and finishes exactly once."""
    rig.proxy.retry_after = "1"
    rig.proxy.decide = lambda n, m, p: (
        harness.ANSWER_429 if _signals(p) and n % 5 == 0 else harness.PASS
    )
    summary, found = _upload(rig, tmp_path)
    _assert_exactly_once(summary, found)
    seen = rig.proxy.requests()
    gaps = [b.at - a.at for a, b in itertools.pairwise(seen) if a.status == 429]
    assert gaps and min(gaps) >= 0.95, gaps
    _record(figures, request.node.nodeid, "network: 429 Retry-After", summary, found, rig)


def test_an_endless_storm_fails_clearly_within_the_retry_bounds(
    rig: Rig, tmp_path: Path, figures: Figures, request: pytest.FixtureRequest
) -> None:
    """Every chunk answered 503: after 3 retries the upload fails with a transport error
    naming HTTP 503 (exit 5), and the checkpoint holds only what was acknowledged."""
    passed = {"n": 0}

    def decide(n: int, method: str, path: str) -> str:
        if not _signals(path):
            return harness.PASS
        passed["n"] += 1
        return harness.PASS if passed["n"] <= 4 else harness.ANSWER_503

    rig.proxy.decide = decide
    started = time.monotonic()
    summary, found = _upload(
        rig, tmp_path, policy=RetryPolicy(max_retries=3, max_wait=10, base=0.05, cap=0.2)
    )
    assert time.monotonic() - started < 30
    assert getattr(summary, "status", None) == "failed"
    error = getattr(summary, "error", None)
    assert isinstance(error, TransportError) and error.exit_code == 5
    assert "HTTP 503" in error.message
    path = tmp_path / "hr.csv"
    checkpoint = Checkpoint.load(tmp_path / "state", rig.job.job_id, file_sha256(path))
    assert checkpoint.data["acknowledged_records"] == 200 == found.stored
    _record(
        figures, request.node.nodeid, "network: endless 503 (must fail)", summary, found, rig, 200
    )
