"""Write an import's checked records as day-partitioned Parquet, streamed through Arrow.

DuckDB still reads, maps and checks the source (in parallel, within the store's
``memory_limit``); its result arrives here as Arrow record batches, which are split by day and
appended to one open :class:`pyarrow.parquet.ParquetWriter` per day, in a second thread so that
reading and writing overlap on two cores. Rejected records go to one file of their own.

Why not DuckDB's ``COPY ... PARTITION_BY (day)``, which the importers used first: on the 2-core
benchmark machine that import spent 2.6 times the CPU time of this one for the same files (102
vs 39 CPU seconds for 49.5 M events; see bench/RESULTS-risk.md), most of it in partitioning and
encoding, not in reading or mapping.

The layout is the one :func:`~hrsignal.risk.importers.common.run_import` publishes::

    <staging>/_kind=ok/source=<source>/day=<YYYY-MM-DD>/part-<n>.parquet
    <staging>/_kind=reject/source=<source>/day=__HIVE_DEFAULT_PARTITION__/part-<n>.parquet

Memory is bounded: at most :data:`BUFFER_ROWS` rows wait for a full row group, two batches
wait in the queue between the threads, and at most :data:`MAX_OPEN` files are open at once (a
day seen again after its file was closed gets a new file). The files have the same columns and
Parquet types as those DuckDB wrote before, so old and new files read together.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: rows per Parquet row group (DuckDB's own default, so a day's scan still runs in parallel)
ROW_GROUP_ROWS = 122_880
#: rows held in memory, across days, before the largest buffers are written out
BUFFER_ROWS = 2_000_000
#: open files at once (one per day being written)
MAX_OPEN = 128
#: columns worth dictionary encoding (few distinct values); free text is written plain
_DICTIONARY = [
    "user",
    "device",
    "activity",
    "target",
    "destination_domain",
    "sensitivity",
    "url_category",
    "_problem",
]
#: columns without min/max statistics (long free text nobody filters on by range)
_NO_STATISTICS = {"object", "target", "record_id", "_raw"}
_REJECT = "__HIVE_DEFAULT_PARTITION__"
#: average rows per run of one day below which a batch is sorted rather than sliced
_MIN_RUN = 256


class DayPartitionWriter:
    """Split record batches (with a ``day`` and a ``_problem`` column) into per-day files."""

    def __init__(
        self,
        root: Path,
        source: str,
        schema: pa.Schema,
        *,
        row_group_rows: int = ROW_GROUP_ROWS,
        buffer_rows: int = BUFFER_ROWS,
        max_open: int = MAX_OPEN,
    ) -> None:
        self.root = root
        self.source = source
        self.row_group_rows = row_group_rows
        self.buffer_rows = buffer_rows
        self.max_open = max_open
        self.schema = schema.remove(schema.get_field_index("day"))
        self.rows = 0
        self._pending: dict[str, list[pa.Table]] = {}
        self._pending_rows: dict[str, int] = {}
        self._open: OrderedDict[str, pq.ParquetWriter] = OrderedDict()
        self._files = 0

    def add(self, batch: pa.RecordBatch) -> None:
        """Route one batch's rows to their day (or to the rejects)."""
        if batch.num_rows == 0:
            return
        self.rows += batch.num_rows
        table = pa.Table.from_batches([batch])
        problem = table.column("_problem")
        if problem.null_count < table.num_rows:  # some rows are rejects
            bad = pc.is_valid(problem)
            self._buffer(_REJECT, table.filter(bad).drop_columns(["day"]))
            table = table.filter(pc.invert(bad))
            if table.num_rows == 0:
                return
        day = table.column("day")
        table = table.drop_columns(["day"])
        runs = pc.run_end_encode(day.combine_chunks())
        if len(runs.run_ends) > len(day) // _MIN_RUN:
            # Days interleaved row by row: group them (one copy of the batch).
            order = pc.sort_indices(day)
            table = table.take(order)
            runs = pc.run_end_encode(day.take(order).combine_chunks())
        # Time-ordered sources (and DuckDB's parallel scan of them) give long runs of one day:
        # their slices are views, no copy.
        start = 0
        for value, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            self._buffer(str(value), table.slice(start, end - start))
            start = end

    def close(self) -> None:
        """Write what is buffered and close every file."""
        for key in list(self._pending):
            self._flush(key)
        while self._open:
            self._open.popitem(last=False)[1].close()

    def abort(self) -> None:
        """Close every file without writing what is buffered (the import failed)."""
        self._pending.clear()
        self._pending_rows.clear()
        while self._open:
            with contextlib.suppress(OSError):  # the import failed; staging is removed
                self._open.popitem(last=False)[1].close()

    def _buffer(self, key: str, table: pa.Table) -> None:
        self._pending.setdefault(key, []).append(table)
        self._pending_rows[key] = self._pending_rows.get(key, 0) + table.num_rows
        if self._pending_rows[key] >= self.row_group_rows:
            self._flush(key)
        if sum(self._pending_rows.values()) > self.buffer_rows:
            for big in sorted(self._pending_rows, key=self._pending_rows.__getitem__)[::-1]:
                self._flush(big)
                if sum(self._pending_rows.values()) <= self.buffer_rows // 2:
                    break

    def _flush(self, key: str) -> None:
        tables = self._pending.pop(key, [])
        self._pending_rows.pop(key, None)
        if tables:
            table = pa.concat_tables(tables)
            self._writer(key).write_table(table, row_group_size=self.row_group_rows)

    def _writer(self, key: str) -> pq.ParquetWriter:
        writer = self._open.get(key)
        if writer is not None:
            self._open.move_to_end(key)
            return writer
        if len(self._open) >= self.max_open:
            self._open.popitem(last=False)[1].close()
        kind = "reject" if key == _REJECT else "ok"
        folder = self.root / f"_kind={kind}" / f"source={self.source}" / f"day={key}"
        folder.mkdir(parents=True, exist_ok=True)
        self._files += 1
        writer = pq.ParquetWriter(
            folder / f"part-{self._files}.parquet",
            self.schema,
            compression="snappy",
            use_dictionary=[c for c in _DICTIONARY if c in self.schema.names],
            write_statistics=[c for c in self.schema.names if c not in _NO_STATISTICS],
        )
        self._open[key] = writer
        return writer


def write_day_partitions(
    reader: pa.RecordBatchReader,
    root: Path,
    *,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Drain ``reader`` into day-partitioned files under ``root``; return the rows written.

    ``reader`` is consumed on the calling thread (a DuckDB error surfaces here, as it would
    from ``execute``); the files are written on a second thread.
    """
    writer = DayPartitionWriter(root, source, reader.schema)
    batches: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []
    stopped = threading.Event()

    def write() -> None:
        drained = False
        try:
            while (batch := batches.get()) is not None:
                writer.add(batch)
            drained = True
            if not stopped.is_set():
                writer.close()
                return
        except BaseException as exc:  # handed to the reading thread, which re-raises it
            failure.append(exc)
            while not drained and batches.get() is not None:  # let the reading thread stop
                pass
        writer.abort()

    thread = threading.Thread(target=write, name="hrsignal-partition-writer", daemon=True)
    thread.start()
    reported = 0
    try:
        for batch in _batches(reader):
            if failure:
                break
            batches.put(batch)
            if progress and writer.rows - reported >= 10_000_000:
                reported = writer.rows
                progress(reported)
    except BaseException:
        stopped.set()
        raise
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return writer.rows


def _batches(reader: pa.RecordBatchReader) -> Iterable[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
