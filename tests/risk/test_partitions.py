"""The day-partition writer behind every import: rows in any order land in their day's files,
rejects apart, with bounded buffers and open files, and failures on either side surface."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hrsignal.risk.importers import import_activity
from hrsignal.risk.importers.partitions import DayPartitionWriter, write_day_partitions
from hrsignal.risk.store import RiskStore

DAY0 = dt.datetime(2026, 9, 1, 8, 0)
SCHEMA = pa.schema(
    [
        ("time", pa.timestamp("us")),
        ("user", pa.string()),
        ("day", pa.date32()),
        ("_problem", pa.string()),
        ("_raw", pa.string()),
    ]
)


def _rows(n: int, days: int, seed: int) -> list[dict[str, object]]:
    """``n`` rows over ``days`` days in random order; every 10th is a reject (no day)."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        when = DAY0 + dt.timedelta(days=rng.randrange(days), minutes=i)
        bad = i % 10 == 3
        rows.append(
            {
                "time": when,
                "user": f"u{i}",
                "day": None if bad else when.date(),
                "_problem": "malformed_time" if bad else None,
                "_raw": f"raw{i}" if bad else None,
            }
        )
    return rows


def _batches(rows: list[dict[str, object]], size: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, len(rows), size):
        yield pa.RecordBatch.from_pylist(rows[start : start + size], schema=SCHEMA)


def _check_files(root: Path, users: int, max_group: int) -> None:
    """Every user row written once, in a file of its own day, row groups within the limit."""
    found: Counter[str] = Counter()
    for file in root.glob("_kind=*/source=generic/day=*/*.parquet"):
        meta = pq.ParquetFile(file).metadata
        assert all(meta.row_group(i).num_rows <= max_group for i in range(meta.num_row_groups))
        table = pq.read_table(file)
        assert "day" not in table.column_names
        folder = file.parent.name.removeprefix("day=")
        for rec in table.to_pylist():
            if folder == "__HIVE_DEFAULT_PARTITION__":
                assert rec["_problem"] == "malformed_time"
            else:
                assert rec["time"].date().isoformat() == folder
            found[rec["user"]] += 1
    assert found == Counter(f"u{i}" for i in range(users))


def test_unordered_rows_land_in_their_day_with_small_buffers(tmp_path: Path) -> None:
    """With tiny row groups, buffers and a 3-file limit, every row of shuffled input is written
    once, to a file of its own day (rejects to the default partition), in row groups no larger
    than the limit."""
    rows = _rows(600, days=9, seed=1)
    writer = DayPartitionWriter(
        tmp_path, "generic", SCHEMA, row_group_rows=7, buffer_rows=40, max_open=3
    )
    for batch in _batches(rows, 50):
        writer.add(batch)
    writer.close()
    assert writer.rows == 600
    _check_files(tmp_path, 600, 7)


def test_runs_of_days_land_in_their_day(tmp_path: Path) -> None:
    """Batches holding long runs of one day (time-ordered input, or blocks of two days taking
    turns, as DuckDB's parallel scan returns them) are split at the runs correctly."""
    rows = sorted(_rows(3000, days=5, seed=4), key=lambda r: str(r["day"]))
    blocks = [rows[i : i + 300] for i in range(0, 3000, 300)]
    turns = [r for pair in zip(blocks[0::2], blocks[1::2], strict=True) for r in pair[0] + pair[1]]
    for n, ordered in enumerate((rows, turns)):
        root = tmp_path / str(n)
        writer = DayPartitionWriter(root, "generic", SCHEMA)
        for batch in _batches(ordered, 1000):
            writer.add(batch)
        writer.close()
        _check_files(root, 3000, 122_880)


def test_a_shuffled_parquet_import_is_stored_by_day(store: RiskStore, tmp_path: Path) -> None:
    """A Parquet export in no particular order imports with every event in its day's
    partition, and the report counts what was stored and rejected."""
    rng = random.Random(7)
    n = 5000
    times = [DAY0 + dt.timedelta(days=rng.randrange(30), seconds=i) for i in range(n)]
    acts = ["FilePrinted" if i % 50 else "Teleported" for i in range(n)]
    source = tmp_path / "shuffled.parquet"
    pq.write_table(
        pa.table({"ts": times, "who": [f"u{i % 17}@x.com" for i in range(n)], "what": acts}),
        source,
    )
    mapping = tmp_path / "m.yaml"
    mapping.write_text("fields: {time: ts, user: who, activity: what}\n", encoding="utf-8")
    report = import_activity(store, "generic", source, mapping=mapping)
    assert (report.read, report.stored) == (n, n - 100)
    assert report.rejected == {"unknown_activity:Teleported": 100}
    pattern = str(store.events_dir / "source=generic" / "day=*" / "*.parquet")
    wrong = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning = true) "  # noqa: S608 - test path
        "WHERE CAST(time AS DATE) <> day"
    )
    assert wrong.fetchall() == [(0,)]
    days = {p.name for p in (store.events_dir / "source=generic").iterdir()}
    kept = {t.date() for t, a in zip(times, acts, strict=True) if a != "Teleported"}
    assert len(days) == len(kept)


def test_a_writer_failure_stops_the_import(tmp_path: Path) -> None:
    """When the files cannot be written (here: the target is a file), the error reaches the
    caller instead of hanging the reading side."""
    target = tmp_path / "not-a-folder"
    target.write_text("x", encoding="utf-8")
    reader = pa.RecordBatchReader.from_batches(SCHEMA, _batches(_rows(100, 3, seed=2), 10))
    with pytest.raises(OSError, match="not-a-folder"):
        write_day_partitions(reader, target, source="generic")


def test_a_reader_failure_stops_the_writer(tmp_path: Path) -> None:
    """An error while reading (DuckDB failing mid-file) reaches the caller; the writer thread
    stops without finishing the files."""

    def broken() -> Iterator[pa.RecordBatch]:
        yield from _batches(_rows(30, 3, seed=3), 10)
        raise ValueError("source broke at row 31")

    reader = pa.RecordBatchReader.from_batches(SCHEMA, broken())
    with pytest.raises(ValueError, match="row 31"):
        write_day_partitions(reader, tmp_path, source="generic")


def test_files_written_by_duckdb_before_read_with_new_ones(store: RiskStore) -> None:
    """A store holding a day written by DuckDB's COPY (how imports wrote before) and a day
    written by this writer reads as one events view with the event model's types."""
    from hrsignal.risk.events import EVENT_COLUMNS
    from tests.risk.conftest import import_events

    old_day = store.events_dir / "source=generic" / "day=2026-09-01"
    old_day.mkdir(parents=True)
    values = {"time": "'2026-09-01 10:00:00'", "user": "'old@x.com'", "activity": "'FilePrinted'"}
    cols = ", ".join(f'{values.get(c, "NULL")}::{t} AS "{c}"' for c, t in EVENT_COLUMNS.items())
    duckdb.connect().execute(
        f"COPY (SELECT {cols}, NULL::VARCHAR AS _problem, NULL::VARCHAR AS _raw) "
        f"TO '{old_day / 'old-0.parquet'}' (FORMAT PARQUET)"
    )
    import_events(
        store, [{"time": "2026-09-02 10:00:00", "user": "new@x.com", "activity": "FilePrinted"}]
    )
    with store.connect() as con:
        rows = con.execute('SELECT "user", day, typeof("time") FROM events ORDER BY day').fetchall()
        types = dict(
            con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall()
        )
    assert [(u, str(d), t) for u, d, t in rows] == [
        ("old@x.com", "2026-09-01", "TIMESTAMP"),
        ("new@x.com", "2026-09-02", "TIMESTAMP"),
    ]
    assert {c: types[c] for c in EVENT_COLUMNS} == EVENT_COLUMNS
