"""Duplicate-record detection in bounded memory: 8 bytes per record.

Each record's cells are hashed to 64 bits with numpy straight from the Arrow buffers (values of
one byte length are a fixed-width matrix, read as 64-bit words and mixed); no Python runs per
row. At the end the hashes are scanned in 16 buckets by their top bits, each bucket sorted on
its own, so finding repeats needs a sixteenth of the hashes' memory on top of them.

A 64-bit collision between two different records would report a false duplicate with
probability about n^2 / 2^65 (3e-6 for ten million records); a duplicate is a warning (the
record is saved once), never a rejection.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from hrsignal.scenarios.findings import Code, Finding, warning

_INVALID = np.uint64(0)
_MUL = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: an odd multiplier
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BUCKET_BITS = 4


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit affects every output bit."""
    h = h ^ (h >> np.uint64(30))
    h = h * _MIX1
    h = h ^ (h >> np.uint64(27))
    h = h * _MIX2
    return np.asarray(h ^ (h >> np.uint64(31)), dtype=np.uint64)


def hash_strings(values: pa.Array) -> np.ndarray:
    """A 64-bit hash of every value of a string array."""
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[
        values.offset : values.offset + n + 1
    ]
    lengths = np.diff(offsets)
    data = values.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    out = np.empty(n, dtype=np.uint64)
    widths = np.unique(lengths)
    with np.errstate(over="ignore"):
        for width in widths.tolist():
            idx = None if len(widths) == 1 else np.flatnonzero(lengths == width)
            starts = offsets[:-1] if idx is None else offsets[:-1][idx]
            k = n if idx is None else idx.size
            words = (width + 7) // 8
            padded = np.zeros((k, words * 8), dtype=np.uint8)
            if width:
                if idx is None:
                    first = int(offsets[0])
                    padded[:, :width] = raw[first : first + k * width].reshape(k, width)
                else:
                    cols = starts[:, None] + np.arange(width)[None, :]
                    padded[:, :width] = raw[cols]
            h = np.full(k, np.uint64(width + 1) * _MUL, dtype=np.uint64)
            for j, word in enumerate(padded.view(np.uint64).T):
                h = _mix(h ^ (word + np.uint64(j)))
            if idx is None:
                out[:] = h
            else:
                out[idx] = h
    return out


def hash_rows(columns: list[pa.Array]) -> np.ndarray:
    """A 64-bit hash of every row (all cells, in order)."""
    h = np.zeros(len(columns[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, col in enumerate(columns):
            h = _mix(h * _MUL + hash_strings(col) + np.uint64(i))
    return h


class DuplicateTracker:
    """Collects one hash per record; reports later records identical to an earlier one."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._firsts: list[int] = []  # first record number of each chunk
        #: every record that repeats an earlier one (complete, unlike capped findings)
        self.duplicate_records = np.zeros(0, dtype=np.int64)

    def hash(self, columns: list[pa.Array]) -> np.ndarray:
        """64-bit hashes of each row of a batch."""
        if not columns or len(columns[0]) == 0:
            return np.zeros(0 if not columns else len(columns[0]), dtype=np.uint64)
        return hash_rows(columns)

    def add(self, hashes: np.ndarray, records: np.ndarray, valid: np.ndarray) -> None:
        """Keep the hashes of the valid records of a batch (``records`` are consecutive)."""
        if len(records) == 0:
            return
        hashes = np.where(valid, hashes, _INVALID)
        self._chunks.append(hashes)
        self._firsts.append(int(records[0]))

    def findings(self) -> list[Finding]:
        """Warnings for every record that repeats an earlier one, in record order."""
        if not self._chunks:
            return []
        repeated: list[np.ndarray] = []
        shift = np.uint64(64 - _BUCKET_BITS)
        for bucket in range(1 << _BUCKET_BITS):
            part = np.concatenate([c[(c >> shift) == bucket] for c in self._chunks])
            part.sort()
            dup = part[1:][(part[1:] == part[:-1]) & (part[1:] != _INVALID)]
            if dup.size:
                repeated.append(np.unique(dup))
        if not repeated:
            return []
        values = np.concatenate(repeated)
        hits: list[tuple[int, int]] = []  # (record, hash)
        for first, chunk in zip(self._firsts, self._chunks, strict=True):
            pos = np.flatnonzero(np.isin(chunk, values))
            hits.extend(zip((pos + first).tolist(), chunk[pos].tolist(), strict=True))
        hits.sort()
        first_seen: dict[int, int] = {}
        out: list[Finding] = []
        for rec, h in hits:
            if h in first_seen:
                out.append(
                    warning(
                        Code.DUPLICATE_RECORD,
                        f"record {rec} repeats record {first_seen[h]} exactly; it is saved once",
                        record=rec,
                    )
                )
            else:
                first_seen[h] = rec
        self.duplicate_records = np.asarray([f.record for f in out], dtype=np.int64)
        return out
