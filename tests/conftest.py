"""Session fixtures shared by every test area.

``postgres_url``: a throwaway PostgreSQL cluster started with Debian's binaries
(``/usr/lib/postgresql/<version>/bin``) in a temporary directory on a free loopback port, for
the whole session. PostgreSQL refuses to run as root, so when the tests run as root the cluster
runs as the ``postgres`` system user (``runuser``). Each test that wants a clean database asks
for ``fresh_postgres_url`` (a new database per test). Where the binaries are absent the
PostgreSQL tests are skipped with the reason, except under ``CI`` where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import logscan


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--runslow`` runs the soaks; ``--reliability-figures FILE`` writes RELIABILITY.md's
    figures (one JSON document of every scenario run)."""
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")
    parser.addoption(
        "--reliability-figures",
        default=None,
        metavar="FILE",
        help="write the reliability scenarios' figures to FILE (JSON)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Every log record of the session is scanned for secrets (tests/reliability/logscan)."""
    logscan.install()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` are skipped unless ``--runslow`` is given."""
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="a long soak: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


_from_workers: dict[str, list[str]] = {"found": []}
_scanned_by_workers: dict[str, int] = {"records": 0, "files": 0}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """Under pytest-xdist: collect each worker's secret-scan result (see sessionfinish)."""
    output = getattr(node, "workeroutput", {})
    _from_workers["found"] += output.get("secrets_found", [])
    for key, value in output.get("secrets_scanned", {}).items():
        _scanned_by_workers[key] = _scanned_by_workers.get(key, 0) + int(value)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a secret reached a log record or a watched log file.

    Under pytest-xdist each worker scans its own processes' logs and hands the result to the
    controller, which reports and fails the run."""
    found, scanned = logscan.finish()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput["secrets_found"] = found
        workeroutput["secrets_scanned"] = dict(scanned)
        return
    found = [*found, *_from_workers["found"]]
    keys = set(scanned) | set(_scanned_by_workers)
    scanned = {k: int(scanned.get(k, 0)) + _scanned_by_workers.get(k, 0) for k in keys}
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if found:
        if reporter is not None:
            reporter.write_line(f"SECRETS IN LOGS ({len(found)}):", red=True)
            for hit in found[:20]:
                reporter.write_line("  " + hit, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None and reporter.verbosity >= 0:
        reporter.write_line(
            f"secrets-in-logs scan: clean ({scanned['records']} log records, "
            f"{scanned['files']} process log files)"
        )


def _pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in candidates:
        if Path(directory, "initdb").exists() and Path(directory, "pg_ctl").exists():
            return Path(directory)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://`` URL of a PostgreSQL server started for this test session."""
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries not found and CI is set: install postgresql")
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql to run these)")
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="hrsignal-pg-"))
    data = root / "data"
    if user:
        shutil.chown(root, user)
        root.chmod(0o700)
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        _as_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            user,
        ),
        check=True,
        capture_output=True,
        env=env,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    subprocess.run(
        _as_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            user,
        ),
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user),
            capture_output=True,
            env=env,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL server (dropped afterwards)."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    admin = postgres_url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        for _ in range(20):
            try:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                break
            except psycopg.OperationalError:
                time.sleep(0.2)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hrsignal.db"
    return str(request.getfixturevalue("fresh_postgres_url"))
