"""HR records as the policies' triggers: from the connector service's store (``--db``, through
``hrsignal.store.current_hr_records``) or from an HR CSV (``--hr``, validated by the shared core
``hrsignal.scenarios``, so the engine sees exactly what the server would have saved).

Either way the records become one Arrow table with the columns of docs/CONTRACTS.md, which
:func:`save_triggers` stores in the analytics store (replacing the previous set: the HR system's
current state is the truth). Employee-profile records also fill the directory's departments.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hrsignal.errors import DataRejectedError, UsageError

#: The contract's columns (docs/CONTRACTS.md, "store -> risk").
HR_COLUMNS = (
    "scenario",
    "EmailAddress",
    "ResignationDate",
    "LastWorkingDate",
    "EffectiveDate",
    "OldLevel",
    "NewLevel",
    "Rating",
    "Remarks",
)
_TS = pa.timestamp("us", tz="UTC")


def hr_from_csv(path: Path) -> tuple[pa.Table, pa.Table | None, int]:
    """Valid HR records of ``path`` (any scenario or a multi-scenario file).

    Returns (trigger table, directory table or None, number of rejected records). The date
    window check is off: a past resignation is exactly what a historical run needs.
    """
    from hrsignal.scenarios import ValidationOptions, open_validation

    tables: list[pa.Table] = []
    options = ValidationOptions(date_window=None)
    with open_validation(path, options=options) as run:
        for batch in run:
            if len(batch):
                tables.append(batch.canonical.filter(pa.array(batch.valid)))
        report = run.report
    if report.file_rejected or (report.records and not report.valid_records):
        first = report.errors[0].to_dict() if report.errors else {}
        raise DataRejectedError(
            f"{path}: no valid HR record ({first.get('message', 'rejected')})",
            hint=f"run 'hrsignal validate {path}' for every finding",
        )
    if not tables:
        raise DataRejectedError(f"{path}: no HR records", hint="is this the right file?")
    table = pa.concat_tables(tables, promote_options="permissive")
    rejected = report.records - report.valid_records
    return _contract(table), _directory(table), rejected


def hr_from_file(path: Path) -> tuple[pa.Table, pa.Table | None, int]:
    """HR records of a CSV (validated, :func:`hr_from_csv`) or a ``.parquet`` export."""
    if path.suffix.lower() == ".parquet":
        return hr_from_parquet(path)
    return hr_from_csv(path)


def hr_from_parquet(path: Path) -> tuple[pa.Table, pa.Table | None, int]:
    """HR records exported as Parquet with the contract's columns (``scenario``,
    ``EmailAddress``, the dates, ...; ``EmployeeDepartment`` for employee profiles), as
    ``hrsignal risk hr-export`` writes them from the connector's store. The records were
    validated when the store saved them; rows with no ``EmailAddress`` or ``scenario`` are
    skipped and counted."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataRejectedError(
            f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})"
        ) from None
    missing = [c for c in ("scenario", "EmailAddress") if c not in table.column_names]
    if missing:
        raise DataRejectedError(
            f"{path}: no column(s) {', '.join(missing)}; has {', '.join(table.column_names)}",
            hint="export the HR records with 'hrsignal risk hr-export --db URL FILE.parquet'",
        )
    keep = pc.and_(pc.is_valid(table.column("scenario")), pc.is_valid(table.column("EmailAddress")))
    valid = table.filter(keep)
    if not valid.num_rows:
        raise DataRejectedError(f"{path}: no HR records", hint="is this the right file?")
    try:
        contract = _contract(valid)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataRejectedError(
            f"{path}: a column has the wrong type ({str(exc).splitlines()[0]})",
            hint="dates must be timestamps, other columns strings",
        ) from None
    return contract, _directory(valid), table.num_rows - valid.num_rows


def export_hr(
    output: Path, *, db_url: str | None = None, files: tuple[Path, ...] = ()
) -> tuple[int, int]:
    """Write the HR records of the connector's store (``db_url``) or of HR CSVs (``files``) to
    ``output`` as Parquet, in the shape :func:`hr_from_parquet` reads (the contract's columns,
    plus employee-profile rows with ``EmployeeDepartment``): what a Spark job on a cluster that
    cannot reach the store reads with ``--hr FILE.parquet``. Returns (records, rejected)."""
    import pyarrow.parquet as pq

    if bool(db_url) == bool(files):
        raise UsageError("give --db URL or --hr FILE (one or more), not both or neither")
    tables, rejected = [], 0
    if db_url:
        tables.append(hr_from_db(db_url))
    for file in files:
        table, directory, bad = hr_from_csv(file)
        rejected += bad
        # employee-profile rows go out once, with their department (below)
        tables.append(
            table.filter(pc.invert(pc.equal(table.column("scenario"), "employee-profile")))
        )
        if directory is not None:
            tables.append(
                pa.table(
                    {
                        "scenario": pa.array(["employee-profile"] * directory.num_rows),
                        "EmailAddress": directory.column("user"),
                        "EmployeeDepartment": directory.column("department"),
                    }
                )
            )
    table = pa.concat_tables(tables, promote_options="permissive")
    tmp = output.with_name(output.name + ".tmp")
    try:
        pq.write_table(table, tmp)
        tmp.replace(output)  # atomic: a job never reads half an export
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"{output}: cannot write ({exc.strerror})") from None
    return table.num_rows, rejected


def hr_from_db(db_url: str) -> pa.Table:
    """The latest HR records saved by the connector service (``hrsignal serve``)."""
    try:
        from hrsignal.store import current_hr_records
    except ImportError:
        raise UsageError(
            "this installation's connector store has no current_hr_records yet",
            hint="use --hr FILE with a normalized HR CSV instead",
        ) from None
    table: pa.Table = current_hr_records(db_url)
    return _contract(table)


def _contract(table: pa.Table) -> pa.Table:
    """Keep the contract's columns (nulls where a scenario lacks one), timestamps in UTC."""
    n = table.num_rows
    cols = {}
    for name in HR_COLUMNS:
        if name in table.column_names:
            col = table.column(name)
        else:
            col = pa.nulls(n, _TS if name.endswith("Date") else pa.string())
        if name.endswith("Date"):
            col = pc.cast(col, _TS)
        elif col.type != pa.string():
            col = pc.cast(col, pa.string())
        cols[name] = col
    return pa.table(cols)


def _directory(table: pa.Table) -> pa.Table | None:
    if "EmployeeDepartment" not in table.column_names:
        return None
    rows = table.filter(pc.equal(table.column("scenario"), "employee-profile"))
    if not rows.num_rows:
        return None
    return pa.table(
        {
            "user": pc.utf8_lower(rows.column("EmailAddress")),
            "department": rows.column("EmployeeDepartment"),
        }
    )


def save_triggers(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    *,
    origin: str,
    directory: pa.Table | None = None,
) -> int:
    """Replace the stored HR triggers with ``table``; return how many trigger records."""
    hr = table.filter(pc.invert(pc.equal(table.column("scenario"), "employee-profile")))
    con.register("_hr_in", hr)
    con.execute("BEGIN")
    try:
        con.execute("DELETE FROM hr_triggers")
        con.execute(
            """INSERT INTO hr_triggers SELECT scenario, lower(trim("EmailAddress")),
                timezone('UTC', "ResignationDate"), timezone('UTC', "LastWorkingDate"),
                timezone('UTC', "EffectiveDate"), "OldLevel", "NewLevel", "Rating", "Remarks", ?
            FROM _hr_in WHERE "EmailAddress" IS NOT NULL""",
            [origin],
        )
        if directory is not None:
            con.register("_dir_in", directory)
            con.execute(
                """INSERT INTO directory ("user", department)
                SELECT "user", any_value(department) FROM _dir_in GROUP BY "user"
                ON CONFLICT ("user") DO UPDATE SET department = excluded.department"""
            )
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_hr_in")
    row = con.execute("SELECT count(*) FROM hr_triggers").fetchone()
    return int(row[0]) if row else 0


def as_of(value: str | None) -> dt.date | None:
    """Parse a ``--since`` style date (YYYY-MM-DD)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{value!r} is not a date; expected YYYY-MM-DD, e.g. 2026-11-01") from None
