"""Saving validated HR records idempotently, reading the current ones, and retention.

An upload is staged batch by batch into a per-connection temporary table (``hr_stage``): no
lock on the database is held while the file is validated. The merge then runs in one short
write transaction, as set-based SQL:

1. drop repeats of the same identity inside the upload (the last one wins);
2. count records whose identity and content hash match the current version (unchanged);
3. move the current version of every record about to change into ``hr_versions`` (the
   history of superseded versions);
4. upsert into ``hr_current``: new identities inserted as version 1, changed ones updated to
   the next version, unchanged ones skipped (so the row count is exactly RecordsSaved);
   refresh ``refreshed_at`` of employee-profile records received again (Microsoft deletes
   profile rows not refreshed within 30 days).

A first upload writes each record once; an unchanged re-upload writes nothing.

Uploads to one job are serialised: SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by a
transaction-scoped advisory lock on the job, so two concurrent uploads lose nothing and count
each record exactly once. Content hashes are 64-bit, computed with numpy over Arrow buffers
(the validator's row hash), never per row in Python.
"""

from __future__ import annotations

import datetime as dt
import io
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


def _stage_ddl(sqlite: bool) -> str:
    seq = "seq INTEGER PRIMARY KEY" if sqlite else "seq BIGSERIAL PRIMARY KEY"
    text_cols = ", ".join(f"{c} TEXT" for c in TEXT_FIELDS.values())
    date_cols = ", ".join(f"{c} BIGINT" for c in DATE_FIELDS.values())
    return (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS hr_stage ({seq}, job_id TEXT NOT NULL, "
        f"scenario TEXT NOT NULL, upn TEXT NOT NULL, pdate BIGINT NOT NULL, "
        f"content_hash BIGINT NOT NULL, {text_cols}, {date_cols}, profile TEXT)"
    )


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


@dataclass
class MergeCounts:
    """What the merge of one upload did."""

    saved: int
    unchanged: int
    duplicate: int


class Staging:
    """Stage an upload's valid records on ``conn``, then merge them in one transaction."""

    def __init__(self, store: Store, conn: Connection, job_id: str) -> None:
        self.store = store
        self.conn = conn
        self.job_id = job_id
        self.staged = 0
        self.has_profile = False
        # 64-bit identity hashes of the staged rows: repeats inside one upload are rare, and
        # numpy finds out whether there are any without a GROUP BY over the staged rows.
        self._identities: list[np.ndarray] = []
        with conn.begin():
            conn.exec_driver_sql(_stage_ddl(store.is_sqlite))
            conn.exec_driver_sql("DELETE FROM hr_stage")

    def add(self, canonical: pa.Table, valid: np.ndarray) -> int:
        """Stage the valid rows of one validated batch; returns how many."""
        if not valid.any():
            return 0
        rows = stage_table(self.job_id, canonical, valid)
        self._identities.append(
            hash_rows(
                [
                    rows.column("scenario").combine_chunks(),
                    rows.column("upn").combine_chunks(),
                    pc.cast(rows.column("pdate"), pa.string()).combine_chunks(),
                ]
            )
        )
        self.has_profile = self.has_profile or bool(
            pc.any(pc.equal(rows.column("scenario"), PROFILE)).as_py()
        )
        with self.conn.begin():
            if self.store.is_sqlite:
                self._insert_sqlite(rows)
            else:
                self._copy_postgres(rows)
        self.staged += rows.num_rows
        return int(rows.num_rows)

    def _insert_sqlite(self, rows: pa.Table) -> None:
        # Columns that are all null are left to their default: fewer values to bind per row.
        names = [c for c in _STAGE_COLUMNS if rows.column(c).null_count < rows.num_rows]
        columns = [rows.column(c).to_pylist() for c in names]
        marks = ", ".join("?" for _ in names)
        # Column names are this module's constants; values go as parameters.
        sql = f"INSERT INTO hr_stage ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, zip(*columns, strict=True))
        finally:
            cursor.close()

    def _copy_postgres(self, rows: pa.Table) -> None:
        buffer = io.BytesIO()
        pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False))
        sql = f"COPY hr_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN (FORMAT csv)"
        raw: Any = self.conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            copy.write(buffer.getvalue())

    def merge(self, conn: Connection, *, upload_id: str, now_us: int) -> MergeCounts:
        """Merge the staged records into the store inside ``conn``'s open transaction."""
        if not self.store.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:job))"), {"job": self.job_id})
        if self.staged == 0:
            return MergeCounts(0, 0, 0)
        duplicate = 0
        identities = np.concatenate(self._identities)
        if np.unique(identities).size != identities.size:
            # Some identity repeats (or two hashes collide): the exact SQL decides; last wins.
            duplicate = conn.exec_driver_sql(
                "DELETE FROM hr_stage WHERE seq NOT IN "
                "(SELECT MAX(seq) FROM hr_stage GROUP BY scenario, upn, pdate)"
            ).rowcount
        data = list(_STAGE_COLUMNS)
        identity = (
            "c.job_id = s.job_id AND c.scenario = s.scenario AND c.upn = s.upn "
            "AND c.pdate = s.pdate"
        )
        params = {"upload": upload_id, "now": now_us}
        # 1. A record about to change: its current version moves to the history first.
        conn.execute(
            text(
                f"INSERT INTO hr_versions ({', '.join(data)}, version, upload_id, saved_at) "  # noqa: S608 - constant names
                f"SELECT {', '.join('c.' + c for c in data)}, c.version, c.upload_id, "
                f"c.saved_at FROM hr_stage s JOIN hr_current c ON {identity} "
                "WHERE c.content_hash <> s.content_hash"
            )
        )
        # 2. One upsert: new identities are inserted, changed ones updated (next version),
        #    unchanged ones skipped by the WHERE, so rowcount is exactly "saved".
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in [*data[4:], "upload_id", "saved_at", "refreshed_at"]
        )
        saved = conn.execute(
            text(
                f"INSERT INTO hr_current ({', '.join(data)}, version, upload_id, saved_at, "  # noqa: S608
                f"refreshed_at) SELECT {', '.join('s.' + c for c in data)}, 1, :upload, :now, "
                f":now FROM hr_stage s WHERE true "
                f"ON CONFLICT (job_id, scenario, upn, pdate) DO UPDATE SET {updates}, "
                "version = hr_current.version + 1 "
                "WHERE hr_current.content_hash <> excluded.content_hash"
            ),
            params,
        ).rowcount
        unchanged = self.staged - duplicate - saved
        if self.has_profile:
            conn.execute(
                text(
                    "UPDATE hr_current SET refreshed_at = :now WHERE job_id = :job "
                    "AND scenario = :profile AND EXISTS (SELECT 1 FROM hr_stage s WHERE "
                    "s.scenario = hr_current.scenario AND s.upn = hr_current.upn "
                    "AND s.pdate = hr_current.pdate)"
                ),
                {"now": now_us, "job": self.job_id, "profile": PROFILE},
            )
        conn.exec_driver_sql("DELETE FROM hr_stage")
        return MergeCounts(saved=saved, unchanged=unchanged, duplicate=duplicate)

    def discard(self) -> None:
        """Drop whatever was staged (the upload was rejected)."""
        self._identities.clear()
        self.staged = 0
        with self.conn.begin():
            self.conn.exec_driver_sql("DELETE FROM hr_stage")


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
