"""Duplicate-record detection in bounded memory: 8 bytes per record.

Each valid record's cells are hashed to 64 bits (DuckDB's vectorised ``hash`` over the Arrow
batch, no Python per row); at the end the hashes are sorted once to find repeats. A 64-bit
collision between two different records would report a false duplicate with probability about
n^2 / 2^65 (3e-6 for ten million records); a duplicate is a warning, never a rejection.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from hrsignal.scenarios.findings import Code, Finding, warning

_INVALID = np.uint64(0)


class DuplicateTracker:
    """Collects one hash per record; reports later records identical to an earlier one."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._firsts: list[int] = []  # first record number of each chunk
        self._con: duckdb.DuckDBPyConnection | None = None
        #: every record that repeats an earlier one (complete, unlike capped findings)
        self.duplicate_records = np.zeros(0, dtype=np.int64)

    def hash(self, columns: list[pa.Array]) -> np.ndarray:
        """64-bit hashes of each row of a batch (thread-safe for one caller at a time)."""
        if len(columns[0]) == 0:
            return np.zeros(0, dtype=np.uint64)
        if self._con is None:
            self._con = duckdb.connect()
        names = [f"c{i}" for i in range(len(columns))]
        batch = pa.table(dict(zip(names, columns, strict=True)))
        self._con.register("batch", batch)
        args = ", ".join(names)
        hashes = self._con.execute(f"SELECT hash({args}) AS h FROM batch").fetchnumpy()["h"]  # noqa: S608 - column names are generated
        self._con.unregister("batch")
        return np.asarray(hashes, dtype=np.uint64)

    def add(self, hashes: np.ndarray, records: np.ndarray, valid: np.ndarray) -> None:
        """Keep the hashes of the valid records of a batch (``records`` are consecutive)."""
        if len(records) == 0:
            return
        hashes = hashes.copy()
        hashes[~valid] = _INVALID
        hashes[hashes == _INVALID] = _INVALID  # a real 0 hash is folded into "not compared"
        self._chunks.append(hashes)
        self._firsts.append(int(records[0]))

    def findings(self) -> list[Finding]:
        """Warnings for every record that repeats an earlier one, in record order."""
        if not self._chunks:
            return []
        all_hashes = np.concatenate(self._chunks)
        starts = np.asarray(self._firsts, dtype=np.int64)
        sizes = np.asarray([len(c) for c in self._chunks], dtype=np.int64)
        self._chunks = []
        ordered = np.sort(all_hashes)
        repeated = ordered[1:][(ordered[1:] == ordered[:-1]) & (ordered[1:] != _INVALID)]
        del ordered
        if repeated.size == 0:
            return []
        positions = np.flatnonzero(np.isin(all_hashes, np.unique(repeated)))
        # position -> record number (chunks hold consecutive records)
        chunk_index = np.searchsorted(np.cumsum(sizes), positions, side="right")
        offsets = positions - (np.cumsum(sizes) - sizes)[chunk_index]
        record_numbers = starts[chunk_index] + offsets
        first_seen: dict[int, int] = {}
        out: list[Finding] = []
        for h, rec in zip(all_hashes[positions].tolist(), record_numbers.tolist(), strict=True):
            if h in first_seen:
                out.append(
                    warning(
                        Code.DUPLICATE_RECORD,
                        f"record {rec} repeats record {first_seen[h]} exactly; it is saved once",
                        record=int(rec),
                    )
                )
            else:
                first_seen[h] = int(rec)
        self.duplicate_records = np.asarray([f.record for f in out], dtype=np.int64)
        return out
