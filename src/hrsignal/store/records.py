"""Saving validated HR records idempotently, reading the current ones, and retention.

An upload's valid records are shaped batch by batch into Arrow tables while the file is
validated (no database lock is held meanwhile), then :func:`collapse` keeps the last of each
identity and sorts by key, and :func:`save_records` upserts them in one short transaction:
new identities are inserted as version 1, changed ones updated to the next version, unchanged
ones skipped by the upsert's ``WHERE`` (so its row count is exactly RecordsSaved). The
database's own trigger (migration 0001) copies a superseded version into ``hr_versions``.
Employee-profile records received again get ``refreshed_at`` renewed (Microsoft deletes
profile rows not refreshed within 30 days). A first upload writes each record once; an
unchanged re-upload writes nothing. SQLite gets one ``executemany``; PostgreSQL a ``COPY``
into a temporary table and one ``INSERT ... SELECT``.

Uploads to one job are serialised: SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by a
transaction-scoped advisory lock on the job, so two concurrent uploads lose nothing and count
each record exactly once. Content hashes are 64-bit, computed with numpy over Arrow buffers
(the validator's row hash), never per row in Python.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, delete, select, text

from hrsignal.scenarios import get_scenario
from hrsignal.scenarios.dedupe import hash_rows
from hrsignal.store.engine import Store, resolve_db_url
from hrsignal.store.schema import DATE_FIELDS, TEXT_FIELDS, upload_rejects, uploads

PROFILE = "employee-profile"
_PROFILE_FIELDS = [f for f in get_scenario(PROFILE).field_names if f != "EmailAddress"]
_STAGE_COLUMNS = [
    "job_id",
    "scenario",
    "upn",
    "pdate",
    "content_hash",
    *TEXT_FIELDS.values(),
    *DATE_FIELDS.values(),
    "profile",
]
_UTC = pa.timestamp("us", tz="UTC")
_NULL_MARK = "\x00"  # hashes a missing value differently from an empty one


def to_us(value: dt.datetime) -> int:
    """Microseconds since the epoch, UTC."""
    return int(value.timestamp() * 1_000_000)


def _column(table: pa.Table, name: str, n: int, type_: pa.DataType) -> pa.Array:
    if name in table.column_names:
        return table.column(name).combine_chunks()
    return pa.nulls(n, type_)


def stage_table(job_id: str, canonical: pa.Table, valid: np.ndarray) -> pa.Table:
    """The rows of ``canonical`` marked valid, shaped as ``hr_stage`` rows (vectorised)."""
    table = canonical.filter(pa.array(valid, pa.bool_()))
    n = table.num_rows
    scenario = table.column("scenario").combine_chunks().cast(pa.string())
    email = _column(table, "EmailAddress", n, pa.string())
    out: dict[str, pa.Array] = {
        "job_id": pa.array(np.full(n, job_id, dtype=object), pa.string()),
        "scenario": scenario,
        "upn": pc.utf8_lower(pc.utf8_trim_whitespace(email)),
    }
    dates = {name: pc.cast(_column(table, name, n, _UTC), pa.int64()) for name in DATE_FIELDS}
    pdate = pa.array(np.zeros(n, dtype=np.int64))
    for name in set(scenario.unique().to_pylist()):
        primary = get_scenario(name).primary_date
        if primary is None:
            continue
        mask = pc.equal(scenario, name)
        pdate = pc.if_else(mask, pc.fill_null(dates[primary], 0), pdate)
    out["pdate"] = pdate
    # The content hash covers every canonical field the file supplied, in a fixed order.
    hashed = [scenario]
    for name in sorted(c for c in table.column_names if c != "scenario"):
        col = table.column(name).combine_chunks()
        as_text = pc.cast(pc.cast(col, pa.int64()) if col.type == _UTC else col, pa.string())
        hashed.append(pc.fill_null(as_text, _NULL_MARK))
    hashes = hash_rows(hashed) if n else np.zeros(0, dtype=np.uint64)
    out["content_hash"] = pa.array(hashes.view(np.int64))
    for name, column in TEXT_FIELDS.items():
        out[column] = _column(table, name, n, pa.string())
    for name, column in DATE_FIELDS.items():
        out[column] = dates[name]
    out["profile"] = _profiles(table, scenario, n)
    return pa.table(out)


def _profiles(table: pa.Table, scenario: pa.Array, n: int) -> pa.Array:
    present = [f for f in _PROFILE_FIELDS if f in table.column_names]
    if not present or PROFILE not in scenario.to_pylist():
        return pa.nulls(n, pa.string())
    columns = {f: table.column(f).to_pylist() for f in present}
    kinds = scenario.to_pylist()
    docs = [
        json.dumps({f: columns[f][i] for f in present}) if kinds[i] == PROFILE else None
        for i in range(n)
    ]
    return pa.array(docs, pa.string())


_KEY = ["scenario", "upn", "pdate"]


def collapse(tables: list[pa.Table]) -> tuple[pa.Table, int]:
    """Concatenate an upload's staged rows, keep the last of each identity, sort by key.

    Returns the rows and how many repeats were dropped. Repeats are rare, so a 64-bit hash
    of each identity tells numpy whether to run the exact (Arrow group-by) pass at all.
    Sorting by key makes the upsert walk the primary-key B-tree in order.
    """
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({c: pa.array([], pa.string()) for c in _STAGE_COLUMNS}), 0
    table = pa.concat_tables(tables).combine_chunks()
    n = table.num_rows
    identity = hash_rows(
        [
            table.column("scenario").chunk(0),
            table.column("upn").chunk(0),
            pc.cast(table.column("pdate"), pa.string()).chunk(0),
        ]
    )
    duplicate = 0
    if np.unique(identity).size != n:
        indexed = table.append_column("_i", pa.array(np.arange(n, dtype=np.int64)))
        last = indexed.group_by(_KEY, use_threads=False).aggregate([("_i", "max")])
        keep = pc.sort_indices(last.column("_i_max"))
        table = table.take(pc.take(last.column("_i_max"), keep))
        duplicate = n - table.num_rows
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in _KEY])
    return table.take(order), duplicate


def _upsert_sql(values: str, columns: list[str] = _STAGE_COLUMNS) -> str:
    data = ", ".join(columns)
    # Columns left out of the insert are NULL in this upload: the update sets them so.
    updates = (
        ", ".join(
            f"{c} = excluded.{c}" if c in columns else f"{c} = NULL" for c in _STAGE_COLUMNS[4:]
        )
        + ", upload_id = excluded.upload_id, saved_at = excluded.saved_at, "
        + ("refreshed_at = excluded.refreshed_at")
    )
    # DO UPDATE only when the content changed: the row count is exactly "saved", and the
    # trigger of migration 0001 moves the superseded version to hr_versions first.
    return (
        f"INSERT INTO hr_current ({data}, version, upload_id, saved_at, refreshed_at) "
        f"{values} ON CONFLICT (job_id, scenario, upn, pdate) DO UPDATE SET {updates}, "
        "version = hr_current.version + 1 "
        "WHERE hr_current.content_hash <> excluded.content_hash"
    )


def save_records(
    store: Store, conn: Connection, rows: pa.Table, *, job_id: str, upload_id: str, now_us: int
) -> int:
    """Upsert ``rows`` (from :func:`collapse`) inside ``conn``'s open transaction.

    Returns how many records were saved (new or changed). Uploads to one job are
    serialised: by ``BEGIN IMMEDIATE`` on SQLite, by an advisory lock on PostgreSQL.
    """
    if store.is_sqlite:
        saved = _save_sqlite(conn, rows, upload_id, now_us)
    else:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:job))"), {"job": job_id})
        saved = _save_postgres(conn, rows, upload_id, now_us)
    profiles = rows.filter(pc.equal(rows.column("scenario"), PROFILE)) if rows.num_rows else rows
    if profiles.num_rows:
        # A profile received again, even unchanged, is refreshed (30-day retention).
        conn.execute(
            text(
                "UPDATE hr_current SET refreshed_at = :now WHERE job_id = :job AND "
                "scenario = :profile AND upn = :upn AND pdate = 0"
            ),
            [
                {"now": now_us, "job": job_id, "profile": PROFILE, "upn": upn}
                for upn in profiles.column("upn").to_pylist()
            ],
        )
    return saved


def _save_sqlite(conn: Connection, rows: pa.Table, upload_id: str, now_us: int) -> int:
    if not rows.num_rows:
        return 0
    n = rows.num_rows
    # All-null columns are left out: fewer values to convert and bind per row.
    names = [c for c in _STAGE_COLUMNS if rows.column(c).null_count < n]
    marks = ", ".join("?" for _ in names)
    sql = _upsert_sql(f"VALUES ({marks}, 1, ?, ?, ?)", names)
    columns = [rows.column(c).to_pylist() for c in names]
    constants = [itertools.repeat(v, n) for v in (upload_id, now_us, now_us)]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, zip(*columns, *constants, strict=True))
        return int(cursor.rowcount)
    finally:
        cursor.close()


def _save_postgres(conn: Connection, rows: pa.Table, upload_id: str, now_us: int) -> int:
    if not rows.num_rows:
        return 0
    text_cols = ", ".join(f"{c} TEXT" for c in TEXT_FIELDS.values())
    date_cols = ", ".join(f"{c} BIGINT" for c in DATE_FIELDS.values())
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE hr_stage (job_id TEXT, scenario TEXT, upn TEXT, pdate BIGINT, "
        f"content_hash BIGINT, {text_cols}, {date_cols}, profile TEXT) ON COMMIT DROP"
    )
    buffer = io.BytesIO()
    pacsv.write_csv(rows.select(_STAGE_COLUMNS), buffer, pacsv.WriteOptions(include_header=False))
    raw: Any = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY hr_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN (FORMAT csv)") as copy,
    ):
        copy.write(buffer.getvalue())
    select = (
        f"SELECT {', '.join(_STAGE_COLUMNS)}, 1, %(upload)s, %(now)s, %(now)s FROM hr_stage "  # noqa: S608
        "ORDER BY scenario, upn, pdate"
    )
    result = conn.exec_driver_sql(_upsert_sql(select), {"upload": upload_id, "now": now_us})
    return int(result.rowcount)


def read_current(store: Store, job_id: str | None = None) -> pa.Table:
    """The latest version of every record (see :func:`current_hr_records`)."""
    cols = ["scenario", *TEXT_FIELDS.values(), *DATE_FIELDS.values(), "job_id", "saved_at"]
    sql = f"SELECT {', '.join(cols)} FROM hr_current"  # noqa: S608 - constant column names
    params: dict[str, Any] = {}
    if job_id is not None:
        sql += " WHERE job_id = :job"
        params["job"] = job_id
    sql += " ORDER BY job_id, scenario, upn, pdate"
    with store.read() as conn:
        rows = conn.execute(text(sql), params).all()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
    data = dict(zip(cols, columns, strict=True))
    out: dict[str, pa.Array] = {"scenario": pa.array(data["scenario"], pa.string())}
    names = {v: k for k, v in {**TEXT_FIELDS, **DATE_FIELDS}.items()}
    for column in DATE_FIELDS.values():
        out[names[column]] = pa.array(data[column], pa.int64()).cast(_UTC)
    for column in TEXT_FIELDS.values():
        out[names[column]] = pa.array(data[column], pa.string())
    out["job_id"] = pa.array(data["job_id"], pa.string())
    out["saved_at"] = pa.array(data["saved_at"], pa.int64()).cast(_UTC)
    order = [
        "scenario",
        "EmailAddress",
        "ResignationDate",
        "LastWorkingDate",
        "EffectiveDate",
        "OldLevel",
        "NewLevel",
        "Rating",
        "Remarks",
        "job_id",
        "saved_at",
    ]
    return pa.table({name: out[name] for name in order})


def current_hr_records(db_url: str) -> pa.Table:
    """The latest version of every HR record in the store at ``db_url`` (docs/CONTRACTS.md).

    Columns: ``scenario, EmailAddress, ResignationDate, LastWorkingDate, EffectiveDate,
    OldLevel, NewLevel, Rating, Remarks, job_id, saved_at``; datetimes are
    ``timestamp[us, tz=UTC]``.
    """
    from hrsignal.store.engine import open_store

    store = open_store(resolve_db_url(db_url))
    try:
        return read_current(store)
    finally:
        store.dispose()


@dataclass
class PurgeCounts:
    """What a purge deleted."""

    records: int
    versions: int
    profiles: int
    uploads: int


def purge(
    store: Store,
    *,
    older_than_days: int | None,
    profile_days: int = 30,
    now: dt.datetime | None = None,
) -> PurgeCounts:
    """Delete HR data past retention.

    * records (current and every version) whose primary date (LastWorkingDate, EffectiveDate)
      is more than ``older_than_days`` in the past (None: keep them);
    * employee-profile records not refreshed within ``profile_days`` (Microsoft's rule);
    * upload-log entries older than ``older_than_days`` (their rejected rows quote HR values).
    """
    moment = now or dt.datetime.now(dt.UTC)
    # None keeps dated records: a cutoff before any date that can be stored.
    days = older_than_days if older_than_days is not None else 0
    cutoff = to_us(moment - dt.timedelta(days=days)) if older_than_days is not None else -(2**62)
    profile_cutoff = to_us(moment - dt.timedelta(days=profile_days))
    with store.write() as conn:
        records = conn.execute(
            text("DELETE FROM hr_current WHERE scenario <> :p AND pdate < :cut"),
            {"p": PROFILE, "cut": cutoff},
        ).rowcount
        versions = conn.execute(
            text("DELETE FROM hr_versions WHERE scenario <> :p AND pdate < :cut"),
            {"p": PROFILE, "cut": cutoff},
        ).rowcount
        profiles = conn.execute(
            text("DELETE FROM hr_current WHERE scenario = :p AND refreshed_at < :cut"),
            {"p": PROFILE, "cut": profile_cutoff},
        ).rowcount
        # Profile versions go with their current row, and old ones past the same window.
        conn.execute(
            text(
                "DELETE FROM hr_versions WHERE scenario = :p AND saved_at < :cut AND NOT EXISTS "
                "(SELECT 1 FROM hr_current c WHERE c.job_id = hr_versions.job_id AND "
                "c.scenario = hr_versions.scenario AND c.upn = hr_versions.upn AND "
                "c.version = hr_versions.version)"
            ),
            {"p": PROFILE, "cut": profile_cutoff},
        )
        if older_than_days is None:
            return PurgeCounts(records, versions, profiles, 0)
        old = moment - dt.timedelta(days=days)
        old_ids = select(uploads.c.upload_id).where(uploads.c.received_at < old)
        conn.execute(delete(upload_rejects).where(upload_rejects.c.upload_id.in_(old_ids)))
        uploads_deleted = conn.execute(delete(uploads).where(uploads.c.received_at < old)).rowcount
    return PurgeCounts(records, versions, profiles, uploads_deleted)
