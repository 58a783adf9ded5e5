"""The import pipeline shared by every source: one streaming pass from the source file(s)
to day-partitioned Parquet, with every record accounted for.

A source module supplies a SELECT producing the event columns plus ``_op`` (the source's own
operation name, for reporting), ``_raw`` (a short excerpt of the record) and ``_bad`` (a reason
when the source itself found the record malformed, else NULL). This module adds
the checks (time, user, activity); DuckDB runs the whole in *one* streaming pass, and
:mod:`~hrsignal.risk.importers.partitions` writes valid events by day and rejected records
apart, so memory stays bounded by the store's ``memory_limit`` (plus the writer's fixed
buffers) whatever the file size. Files land in a staging folder first and are moved
into ``events/`` only when the whole pass succeeded, so a failure never leaves half an import.
"""

# ruff: noqa: S608 - this module generates SQL; every value goes through sql_literal/quote_ident

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb

from hrsignal.errors import InputFileError, StoreError
from hrsignal.risk.events import EVENT_COLUMNS, ImportReport
from hrsignal.risk.importers.partitions import write_day_partitions
from hrsignal.risk.store import RiskStore, quote_ident, sql_literal

#: A flexible timestamp parser (ISO 8601 with any offset or fraction, US exports' M/D/Y).
PARSE_TIME = (
    "coalesce(TRY_CAST({x} AS TIMESTAMPTZ)::TIMESTAMP, "
    "try_strptime({x}, '%m/%d/%Y %I:%M:%S %p'), try_strptime({x}, '%m/%d/%Y %H:%M:%S'), "
    "try_strptime({x}, '%m/%d/%Y %H:%M'))"
)

Progress = Callable[[str], None]
#: rows per Arrow batch from DuckDB to the partition writer
_BATCH_ROWS = 1 << 20


def parse_time(expr: str) -> str:
    """SQL turning a text column into a naive UTC timestamp (NULL when unparseable)."""
    return PARSE_TIME.format(x=expr)


def csv_source(path: Path, *, rejects: str = "csv_rejects") -> str:
    """``read_csv`` of a file, every column as text; structurally bad lines go to a table."""
    return (
        f"read_csv({sql_literal(str(path))}, header = true, all_varchar = true, "
        "auto_detect = true, sample_size = 20480, store_rejects = true, "
        f"rejects_table = '{rejects}', rejects_scan = '{rejects}_scan', "
        "max_line_size = 16777216)"
    )


def fingerprint(paths: list[Path]) -> str:
    """SHA-256 over the files' names and contents (a re-import of the same files is skipped)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def files_in(path: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The file itself, or the files of a folder matching ``patterns`` (case-insensitive)."""
    if not path.exists():
        raise InputFileError(f"{path}: no such file or folder; check the path")
    if path.is_file():
        return [path]
    found = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and any(p.name.lower().endswith(s) for s in patterns)
    )
    if not found:
        raise InputFileError(
            f"{path}: no {' / '.join(patterns)} files in this folder",
            hint="point at an export file, or the folder that holds the exports",
        )
    return found


def run_import(
    store: RiskStore,
    *,
    source: str,
    path: Path,
    files: list[Path],
    select_sql: Callable[[duckdb.DuckDBPyConnection], str],
    force: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the records ``select_sql`` yields as ``source`` events; return the report."""
    started = time.perf_counter()
    report = ImportReport(source=source, path=str(path))
    digest = fingerprint(files)
    store.ensure()
    with store.connect() as con:
        if not force:
            row = con.execute(
                "SELECT import_id FROM imports WHERE sha256 = ? AND source = ?", [digest, source]
            ).fetchone()
            if row:
                report.import_id = str(row[0])
                report.skipped_duplicate = True
                return report
        import_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        report.import_id = import_id
        staging = store.data_dir / "staging" / import_id
        staging.mkdir(parents=True)
        try:
            if progress:
                progress(f"reading {len(files)} file(s) from {path}")
            body = select_sql(con)
            reader = con.sql(_checked(body)).to_arrow_reader(_BATCH_ROWS)
            write_day_partitions(
                reader,
                staging,
                source=source,
                progress=(lambda n: progress(f"read {n:,} records")) if progress else None,
            )
            _count(con, staging, report)
            _count_csv_rejects(con, report)
            if progress:
                progress(f"stored {report.stored:,} events, rejected {report.rejected_total:,}")
            _publish(store, staging, import_id)
            con.execute(
                "INSERT INTO imports VALUES (?, ?, ?, ?, now()::TIMESTAMP, ?, ?, ?, ?, ?)",
                [
                    import_id,
                    source,
                    str(path),
                    digest,
                    report.read,
                    report.stored,
                    json.dumps(report.rejected),
                    report.first_day,
                    report.last_day,
                ],
            )
        except duckdb.Error as exc:
            raise InputFileError(
                f"{path}: cannot be imported as {source} ({_first_line(exc)})",
                hint="check that the file is the export this source expects, "
                "or use 'generic' with a mapping",
            ) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _checked(body: str) -> str:
    """Wrap a source SELECT with the checks every event must pass; add ``day``."""
    cols = ", ".join(quote_ident(c) for c in EVENT_COLUMNS)
    return f"""
    WITH src AS ({body}),
    chk AS (
        SELECT *, CASE
            WHEN _bad IS NOT NULL THEN _bad
            WHEN "time" IS NULL THEN 'malformed_time'
            WHEN "user" IS NULL OR "user" = '' THEN 'missing_user'
            WHEN activity IS NULL THEN 'unknown_activity:' || coalesce(_op, '(none)')
        END AS _problem FROM src)
    SELECT {cols}, CASE WHEN _problem IS NULL THEN CAST("time" AS DATE) END AS day,
        _problem, CASE WHEN _problem IS NOT NULL THEN left(_raw, 2000) END AS _raw
    FROM chk"""


def _count(con: duckdb.DuckDBPyConnection, staging: Path, report: ImportReport) -> None:
    files = list(staging.glob("_kind=*/source=*/day=*/*.parquet"))
    if not files:
        return
    glob = sql_literal(str(staging / "_kind=*" / "source=*" / "day=*" / "*.parquet"))
    rows = con.execute(
        f"SELECT _problem, count(*), min(day), max(day) FROM read_parquet({glob}, "
        "hive_partitioning = true, hive_types = {'day': DATE}) GROUP BY ALL"
    ).fetchall()
    for problem, n, lo, hi in rows:
        report.read += int(n)
        if problem is None:
            report.stored += int(n)
            report.first_day, report.last_day = str(lo), str(hi)
        else:
            reason = str(problem)
            report.rejected[reason] = report.rejected.get(reason, 0) + int(n)
    examples = con.execute(
        f"SELECT _problem, _raw FROM read_parquet({glob}, hive_partitioning = true) "
        "WHERE _problem IS NOT NULL LIMIT 5"
    ).fetchall()
    report.examples = [{"reason": p, "record": r} for p, r in examples]


def _count_csv_rejects(con: duckdb.DuckDBPyConnection, report: ImportReport) -> None:
    """Lines DuckDB's CSV reader could not split (wrong column count, bad quoting)."""
    try:
        rows = con.execute(
            "SELECT line, error_type, left(csv_line, 300) FROM csv_rejects ORDER BY line"
        ).fetchall()
    except duckdb.CatalogException:
        return  # the source was not a CSV
    if rows:
        report.read += len(rows)
        report.rejected["malformed_line"] = report.rejected.get("malformed_line", 0) + len(rows)
        for line, kind, text in rows[:5]:
            report.examples.append(
                {"reason": f"malformed_line ({kind}) at line {line}", "record": text}
            )


def _publish(store: RiskStore, staging: Path, import_id: str) -> None:
    """Move the staged files into the store (renames on one file system)."""
    try:
        for n, part in enumerate(sorted(staging.glob("_kind=ok/source=*/day=*/*.parquet"))):
            dest = store.events_dir / part.parent.parent.name / part.parent.name
            dest.mkdir(parents=True, exist_ok=True)
            part.rename(dest / f"{import_id}-{n}.parquet")
        for n, part in enumerate(sorted(staging.glob("_kind=reject/**/*.parquet"))):
            part.rename(store.rejects_dir / f"{import_id}-{n}.parquet")
    except OSError as exc:
        raise StoreError(f"{store.data_dir}: cannot store the imported events ({exc})") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
