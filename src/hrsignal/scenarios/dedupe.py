"""Duplicate-record detection in bounded memory: 8 bytes per record.

Each record's cells are hashed to 64 bits with numpy straight from the Arrow buffers (a
polynomial hash summed per value over the bytes, then a 64-bit mix); no Python runs per row.
At the end the hashes are scanned in 16 buckets by their top bits, each bucket sorted on its
own, so finding repeats needs a sixteenth of the hashes' memory on top of them.

A 64-bit collision between two different records would report a false duplicate with
probability about n^2 / 2^65 (3e-6 for ten million records); a duplicate is a warning (the
record is saved once), never a rejection. That bound is for ordinary text: a polynomial hash
modulo 2^64 can be made to collide by crafted inputs (Thue-Morse strings), which an HR export
does not contain.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa

from hrsignal.scenarios.findings import Code, Finding, warning

_INVALID = np.uint64(0)
_MUL = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: an odd multiplier
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BUCKET_BITS = 4
_CHUNK_RECORDS = 1 << 20  # hashes joined per chunk (8 MiB)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit affects every output bit."""
    h = h ^ (h >> np.uint64(30))
    h = h * _MIX1
    h = h ^ (h >> np.uint64(27))
    h = h * _MIX2
    return np.asarray(h ^ (h >> np.uint64(31)), dtype=np.uint64)


#: A polynomial hash over bytes: value = sum(byte * P**i), i counted from the value's start,
#: mixed with the value's length (so runs of NUL bytes of different lengths differ too).
_P = 0x100000001B3  # the 64-bit FNV prime; odd, so it has an inverse modulo 2**64
_P_INV = pow(_P, -1, 1 << 64)
_CHUNK = 1 << 16  # bytes per step: the uint64 scratch (512 KiB) stays in the L2 cache


class _Powers:
    """P**i and P**-i modulo 2**64 for i < size, grown on demand (a value may be long)."""

    def __init__(self) -> None:
        self.up = np.zeros(0, dtype=np.uint64)
        self.down = np.zeros(0, dtype=np.uint64)

    def need(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        up, down = self.up, self.down  # read once: another thread may grow them meanwhile
        if up.size < size:
            size = max(size, _CHUNK * 2)
            up = np.full(size, _P, dtype=np.uint64)
            down = np.full(size, _P_INV, dtype=np.uint64)
            up[0] = down[0] = 1
            with np.errstate(over="ignore"):
                np.cumprod(up, out=up)
                np.cumprod(down, out=down)
            self.up, self.down = up, down
        return up, down


_POWERS = _Powers()


def hash_strings(values: pa.Array) -> np.ndarray:
    """A 64-bit hash of every value of a string array (equal values, equal hashes).

    The bytes are weighted by powers of P by their position in the buffer and summed per value
    (``np.add.reduceat``), then shifted to the value's start by ``P**-start``: three passes over
    the bytes in 64 KiB steps whatever the values' lengths, then splitmix64's finaliser.
    """
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[
        values.offset : values.offset + n + 1
    ].astype(np.int64)
    data = values.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    out = (lengths + 1).astype(np.uint64) * _MUL
    # value indices where each step starts: every value lies wholly inside one step
    cuts = np.searchsorted(offsets, np.arange(offsets[0], offsets[-1], _CHUNK), side="right") - 1
    bounds = [*sorted({0, *cuts.tolist()}), n]
    longest = max(int(offsets[j] - offsets[i]) for i, j in itertools.pairwise(bounds))
    up, down = _POWERS.need(longest + 1)
    terms = np.empty(longest + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for first, last in itertools.pairwise(bounds):
            lo, hi = int(offsets[first]), int(offsets[last])
            if hi == lo:
                continue  # only empty values: their hash is their length's
            step = terms[: hi - lo + 1]
            step[:-1] = raw[lo:hi]
            step[-1] = 0  # so that reduceat may start a (trailing, empty) value at the end
            np.multiply(step[:-1], up[: hi - lo], out=step[:-1])
            rel = offsets[first:last] - lo
            sums = np.add.reduceat(step, rel)
            sums[lengths[first:last] == 0] = 0  # reduceat gives an empty value one term
            sums *= down[rel]
            out[first:last] ^= sums
    return _mix(out)


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
        self._pending: list[np.ndarray] = []  # batches not yet joined into a chunk
        self._pending_size = 0
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
        first = int(records[0])
        if self._pending and first != self._firsts[-1] + self._pending_size:
            self._join()  # a gap in the numbering: start a new chunk
        if not self._pending:
            self._firsts.append(first)
        self._pending.append(np.where(valid, hashes, _INVALID))
        self._pending_size += len(records)
        if self._pending_size >= _CHUNK_RECORDS:
            self._join()

    def _join(self) -> None:
        """Join the pending batches into one chunk: the final scan then runs over a few large
        arrays instead of one per batch."""
        if self._pending:
            self._chunks.append(np.concatenate(self._pending))
            self._pending, self._pending_size = [], 0

    def findings(self) -> list[Finding]:
        """Warnings for every record that repeats an earlier one, in record order."""
        self._join()
        if not self._chunks:
            return []
        repeated: list[np.ndarray] = []
        shift = np.uint64(64 - _BUCKET_BITS)
        buckets = [(c >> shift).astype(np.uint8) for c in self._chunks]  # 1 byte per record
        for bucket in range(1 << _BUCKET_BITS):
            part = np.concatenate(
                [c[b == bucket] for c, b in zip(self._chunks, buckets, strict=True)]
            )
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
