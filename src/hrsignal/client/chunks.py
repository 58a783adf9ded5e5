"""Cutting a validated file into chunks of whole records.

Chunks are built from the validator's ``raw`` cells (every column, as read) and re-serialised
as UTF-8 comma-separated CSV under the file's original header, so a quoted field with line
breaks stays one record in one chunk, and UTF-16, tab- or pipe-separated exports are sent in
the form the connector expects.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import queue
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from hrsignal.scenarios import FileMapping, ValidatedBatch, ValidationOptions, open_validation

_WRITE = pcsv.WriteOptions(include_header=False, quoting_style="needed")


@dataclass(slots=True)
class Chunk:
    """One request's worth of records."""

    index: int  # 1-based, in file order, counting from the first record of the file
    first_record: int
    last_record: int
    records: int
    csv: bytes
    table: pa.Table | None = None  # the rows, kept so the chunk can be split after a 413
    numbers: np.ndarray | None = None  # their record numbers
    header: bytes = b""
    label: str = ""  # "", or "a"/"b"... for the halves of a split chunk

    @property
    def sha256(self) -> str:
        """SHA-256 of the CSV payload (stored in the checkpoint)."""
        return hashlib.sha256(self.csv).hexdigest()

    @property
    def name(self) -> str:
        """The chunk's number for file names: ``0003``, or ``0003a`` for half of it."""
        return f"{self.index:04d}{self.label}"

    def halves(self) -> tuple[Chunk, Chunk]:
        """Split in two (when the server says 413, the request is too large)."""
        assert self.table is not None and self.numbers is not None and self.records > 1
        mid = self.records // 2
        parts = []
        for suffix, table, numbers in (
            ("a", self.table.slice(0, mid), self.numbers[:mid]),
            ("b", self.table.slice(mid), self.numbers[mid:]),
        ):
            parts.append(
                Chunk(
                    index=self.index,
                    first_record=int(numbers[0]),
                    last_record=int(numbers[-1]),
                    records=len(numbers),
                    csv=self.header + table_csv(table),
                    table=table,
                    numbers=numbers,
                    header=self.header,
                    label=self.label + suffix,
                )
            )
        return parts[0], parts[1]


def header_line(names: list[str]) -> bytes:
    """The header as one CSV line (quoted only where needed)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(names)
    return buf.getvalue().encode("utf-8")


def table_csv(table: pa.Table) -> bytes:
    """CSV rows of ``table`` without a header."""
    sink = io.BytesIO()
    pcsv.write_csv(table, sink, write_options=_WRITE)
    return sink.getvalue()


class _Pending:
    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.records: list[np.ndarray] = []
        self.count = 0

    def add(self, table: pa.Table, records: np.ndarray) -> None:
        """Queue the kept rows of one validator batch."""
        self.tables.append(table)
        self.records.append(records)
        self.count += len(records)

    def take(self, n: int) -> tuple[pa.Table, np.ndarray]:
        """The first ``n`` queued rows (zero-copy slices) and their record numbers."""
        table = pa.concat_tables(self.tables)
        records = np.concatenate(self.records)
        self.tables = [table.slice(n)] if n < len(records) else []
        self.records = [records[n:]] if n < len(records) else []
        self.count = len(records) - n
        return table.slice(0, n), records[:n]


def iter_chunks(
    source: str | os.PathLike[str],
    *,
    scenario: str | None,
    mapping: FileMapping | None,
    options: ValidationOptions,
    records_per_call: int,
    skip_invalid: bool,
    after_record: int = 0,
) -> Iterator[Chunk]:
    """Stream the chunks of ``source`` whose records come after ``after_record``.

    Chunk numbers count from the start of the file for the same ``records_per_call`` whether
    or not a checkpoint skips the first ones, so ``part0003`` is the same records on a rerun.
    """
    pending = _Pending()
    index = 0
    head = b""
    with open_validation(source, scenario=scenario, mapping=mapping, options=options) as run:
        for batch in run:
            if not head:
                head = header_line(run.header)
            keep = batch.valid.copy() if skip_invalid else np.ones(len(batch), dtype=bool)
            if not keep.any():
                continue
            table = batch.raw.filter(pa.array(keep)) if not keep.all() else batch.raw
            pending.add(table, batch.records[keep])
            while pending.count >= records_per_call:
                index += 1
                chunk = _make(index, head, *pending.take(records_per_call), after_record)
                if chunk is not None:
                    yield chunk
        while pending.count:
            index += 1
            chunk = _make(
                index, head, *pending.take(min(records_per_call, pending.count)), after_record
            )
            if chunk is not None:
                yield chunk


def _make(
    index: int, head: bytes, table: pa.Table, records: np.ndarray, after_record: int
) -> Chunk | None:
    if records[-1] <= after_record:
        return None  # acknowledged by an earlier run
    if records[0] <= after_record:
        # The checkpoint falls inside this chunk (the last run used another
        # --records-per-call): send only the records not yet acknowledged.
        keep = records > after_record
        table, records = table.filter(pa.array(keep)), records[keep]
    return Chunk(
        index=index,
        first_record=int(records[0]),
        last_record=int(records[-1]),
        records=len(records),
        csv=head + table_csv(table),
        table=table,
        numbers=records,
        header=head,
    )


class RejectsWriter:
    """Rejected records, with their original columns plus ``_record``, ``_line`` and
    ``_errors``, written to a temporary file renamed into place only when complete."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.count = 0
        self._header = header
        self._tmp = path.with_name(f".{path.name}.tmp")
        self._fh: io.BufferedWriter | None = None

    def add(self, batch: ValidatedBatch) -> None:
        """Append the invalid records of ``batch``."""
        bad = ~batch.valid
        if not bad.any():
            return
        messages: dict[int, list[str]] = defaultdict(list)
        for f in batch.findings:
            if f.record is not None and f.is_error:
                where = f" [{f.column}]" if f.column else ""
                messages[f.record].append(f"{f.code}{where}: {f.message}")
        recs = batch.records[bad]
        errors = ["; ".join(messages.get(int(r), ["file rejected"])) for r in recs]
        table = batch.raw.filter(pa.array(bad))
        table = pa.Table.from_arrays(
            [*table.columns, pa.array(recs), pa.array(batch.lines[bad]), pa.array(errors)],
            names=[*(f"c{i}" for i in range(table.num_columns)), "_record", "_line", "_errors"],
        )
        if self._fh is None:
            self._fh = open(self._tmp, "wb")  # noqa: SIM115 - closed in finish()
            self._fh.write(header_line([*self._header, "_record", "_line", "_errors"]))
        self._fh.write(table_csv(table))
        self.count += len(recs)

    def finish(self, ok: bool = True) -> Path | None:
        """Rename the file into place (or discard it); the path when something was written."""
        if self._fh is None:
            return None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        if not ok:
            self._tmp.unlink(missing_ok=True)
            return None
        os.replace(self._tmp, self.path)
        return self.path


class Prefetched:
    """Run a chunk generator in a thread, ``depth`` chunks ahead of the sender, so reading,
    validating and serialising the next chunk overlaps the wait for the server's answer."""

    def __init__(self, source: Iterator[Chunk], depth: int = 2) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._work, args=(source,), name="hrsignal-chunks", daemon=True
        )
        self._thread.start()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, source: Iterator[Chunk]) -> None:
        try:
            for chunk in source:
                if not self._put(("chunk", chunk)):
                    break
            else:
                self._put(("end", None))
        except BaseException as exc:  # handed to the consuming thread, raised there
            self._put(("error", exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # closes the file in the thread that iterates it

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            kind, value = self._queue.get()
            if kind == "chunk":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    def close(self) -> None:
        """Stop the producer (when the sender gives up early) and wait for it."""
        self._stop.set()
        self._thread.join(timeout=30)
