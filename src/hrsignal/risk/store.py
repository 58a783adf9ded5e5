"""The analytics store: activity events as Parquet partitioned by source and day, and the
engine's state (HR triggers, directory, user-day scores, alerts, risk levels) in one DuckDB file.

Layout of ``--data-dir``::

    events/source=<source>/day=<YYYY-MM-DD>/<import id>-<n>.parquet
    rejects/<import id>.parquet        records an import could not use, with the reason
    risk.duckdb                        state tables (see _DDL)
    pseudonym.key                      the per-deployment key of user pseudonyms (0600)

Parquet keeps events engine-neutral (DuckDB today, Spark later) and lets a daily run read only
the days it needs (hive partition pruning). DuckDB allows one writing process at a time: run
``risk import`` / ``risk run`` from one scheduler.
"""

# ruff: noqa: S608 - this module generates SQL; every value goes through sql_literal/quote_ident

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import platformdirs

from hrsignal.errors import StoreError, UsageError
from hrsignal.risk.events import EVENT_COLUMNS

#: Version of the state tables below; a data directory of another version is refused rather
#: than misread (the events themselves are plain Parquet and can be imported again).
SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS imports (
    import_id VARCHAR PRIMARY KEY, source VARCHAR, path VARCHAR, sha256 VARCHAR,
    imported_at TIMESTAMP, read BIGINT, stored BIGINT, rejected VARCHAR,
    first_day DATE, last_day DATE);
CREATE TABLE IF NOT EXISTS hr_triggers (
    scenario VARCHAR, "user" VARCHAR, resignation_date TIMESTAMP, last_working_date TIMESTAMP,
    effective_date TIMESTAMP, old_level VARCHAR, new_level VARCHAR, rating VARCHAR,
    remarks VARCHAR, origin VARCHAR);
CREATE TABLE IF NOT EXISTS directory (
    "user" VARCHAR PRIMARY KEY, display_name VARCHAR, department VARCHAR, manager VARCHAR,
    role VARCHAR);
CREATE TABLE IF NOT EXISTS user_days (
    policy VARCHAR, "user" VARCHAR, day DATE, score INTEGER, alerting BOOLEAN,
    indicators VARCHAR, boosters VARCHAR, sequences VARCHAR,
    PRIMARY KEY (policy, "user", day));
CREATE TABLE IF NOT EXISTS alerts (
    alert_id VARCHAR PRIMARY KEY, policy VARCHAR, "user" VARCHAR, status VARCHAR,
    severity VARCHAR, score INTEGER, first_day DATE, last_day DATE, days INTEGER,
    trigger_record VARCHAR, indicators VARCHAR, boosters VARCHAR, sequences VARCHAR,
    created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS policy_state (
    policy VARCHAR PRIMARY KEY, last_day DATE, scope_hash VARCHAR, policy_hash VARCHAR,
    updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS scope_state (
    policy VARCHAR, "user" VARCHAR, fingerprint VARCHAR, trigger_record VARCHAR,
    window_start DATE, window_end DATE, PRIMARY KEY (policy, "user"));
CREATE TABLE IF NOT EXISTS risk_levels (
    "user" VARCHAR PRIMARY KEY, level VARCHAR, previous VARCHAR, since TIMESTAMP,
    alert_id VARCHAR, notified BOOLEAN);
CREATE TABLE IF NOT EXISTS reveals (revealed_at TIMESTAMP, actor VARCHAR, what VARCHAR);
CREATE TABLE IF NOT EXISTS triage (
    alert_id VARCHAR, triaged_at TIMESTAMP, actor VARCHAR, status VARCHAR, reason VARCHAR);
"""
# ``triage`` (who set which status when, and why) was added within schema version 1: it is a
# new table created on the next connection, which older readers ignore, so no store is misread.


def default_data_dir() -> Path:
    """Where the analytics store lives unless ``--data-dir`` says otherwise."""
    return Path(platformdirs.user_data_dir("hrsignal")) / "risk"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """How DuckDB may use the machine: memory is bounded by configuration, not by data size."""

    memory_limit: str = "2GB"
    threads: int | None = None
    #: how long to wait for another process's lock on risk.duckdb (a run writing while the
    #: dashboard reads) before giving up
    lock_timeout: float = 10.0


class RiskStore:
    """One analytics store (a data directory). Open connections with :meth:`connect`."""

    def __init__(self, data_dir: str | os.PathLike[str], settings: StoreSettings | None = None):
        self.data_dir = Path(data_dir)
        self.settings = settings or StoreSettings()
        self.events_dir = self.data_dir / "events"
        self.rejects_dir = self.data_dir / "rejects"
        self.db_path = self.data_dir / "risk.duckdb"
        self.key_path = self.data_dir / "pseudonym.key"
        self._shared = threading.local()  # the connection of an open session(), per thread

    def ensure(self) -> None:
        """Create the directory layout (idempotent)."""
        try:
            self.events_dir.mkdir(parents=True, exist_ok=True)
            self.rejects_dir.mkdir(parents=True, exist_ok=True)
            (self.data_dir / "tmp").mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{self.data_dir}: cannot create the risk data directory ({exc.strerror})",
                hint="pass --data-dir to a writable folder",
            ) from None

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A configured DuckDB connection with the state tables and the ``events`` view.

        Inside :meth:`session` (on the same thread) this is the session's connection."""
        shared = getattr(self._shared, "con", None)
        if shared is not None:
            yield shared
            return
        if read_only and not self.db_path.exists():
            raise UsageError(
                f"{self.data_dir}: no risk data yet",
                hint="import activity with 'hrsignal risk import' and run 'hrsignal risk run'",
            )
        if not read_only:
            self.ensure()
        try:
            con = self._open(read_only)
        except duckdb.IOException as exc:
            raise StoreError(
                f"{self.db_path}: cannot open the risk database ({_first_line(exc)})",
                hint="another 'hrsignal risk' command may be writing; retry when it finishes",
            ) from None
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{_safe(self.settings.memory_limit)}'")
            con.execute(f"SET temp_directory = '{_safe(str(self.data_dir / 'tmp'))}'")
            con.execute("SET preserve_insertion_order = false")
            if self.settings.threads:
                con.execute(f"SET threads = {int(self.settings.threads)}")
            if not read_only:
                con.execute(_DDL)
                _check_version(con, self.db_path)
            con.execute(f"CREATE OR REPLACE TEMP VIEW events AS {self.events_sql()}")
            yield con
        finally:
            con.close()

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One read-write connection for several calls on this thread: while it is open, every
        :meth:`connect` of this store yields it instead of opening the database again (opening
        costs 15-30 ms; a dashboard page that reads an alert, its timeline and its triage made
        three)."""
        if getattr(self._shared, "con", None) is not None:
            yield self._shared.con
            return
        with self.connect() as con:
            self._shared.con = con
            try:
                yield con
            finally:
                self._shared.con = None

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Connect, waiting (with backoff) while another process holds the file's lock."""
        deadline = time.monotonic() + self.settings.lock_timeout
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.db_path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def events_sql(self) -> str:
        """A SELECT over every stored event (empty, with the right columns, when none)."""
        if not any(self.events_dir.glob("source=*/day=*/*.parquet")):
            cols = ", ".join(f"NULL::{t} AS {_q(c)}" for c, t in EVENT_COLUMNS.items())
            return f"SELECT {cols}, NULL::VARCHAR AS source, NULL::DATE AS day WHERE false"
        pattern = _safe(str(self.events_dir / "source=*" / "day=*" / "*.parquet"))
        return (
            "SELECT * EXCLUDE (_problem, _raw) FROM "
            f"read_parquet('{pattern}', hive_partitioning = true, union_by_name = true, "
            "hive_types = {'source': VARCHAR, 'day': DATE})"
        )

    def max_event_day(self) -> str | None:
        """The latest day with stored events, from the partition folders (no data read)."""
        days = {p.name[4:] for p in self.events_dir.glob("source=*/day=*")}
        days.discard("__HIVE_DEFAULT_PARTITION__")
        return max(days) if days else None

    def pseudonym_key(self) -> bytes:
        """The deployment's pseudonym key, created (0600) on first use."""
        self.ensure()
        if not self.key_path.exists():
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
        return self.key_path.read_bytes()


def _check_version(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
        [str(SCHEMA_VERSION)],
    )
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or row[0] != str(SCHEMA_VERSION):
        raise StoreError(
            f"{path}: written by another hrsignal version (schema {row[0] if row else '?'}, "
            f"this one reads {SCHEMA_VERSION})",
            hint="use a new --data-dir and import the activity again",
        )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _safe(text: str) -> str:
    """Escape a value for a single-quoted SQL literal."""
    return text.replace("'", "''")


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return _q(name)


def sql_literal(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + _safe(text) + "'"
