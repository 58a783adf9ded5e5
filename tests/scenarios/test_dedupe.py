"""Row hashes for duplicate detection: equal cells hash equal wherever they sit in a buffer."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from hrsignal.scenarios.dedupe import DuplicateTracker, hash_rows, hash_strings

CELLS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "\x00\x00", "a", "sara.davis@contoso.com"]),
    st.builds(lambda c, n: c * n, st.sampled_from("ab"), st.integers(60_000, 70_000)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(CELLS, max_size=30), st.integers(0, 3))
def test_values_hash_equal_exactly_when_equal(values: list[str], offset: int) -> None:
    """Two values of a string array get the same hash exactly when they are the same text,
    including empty values, NUL bytes, non-ASCII text and values longer than the 64 KiB steps;
    an array slice hashes like the values alone."""
    array = pa.array(["pad"] * offset + values, pa.string()).slice(offset)
    hashes = hash_strings(array).tolist()
    assert hashes == hash_strings(pa.array(values, pa.string())).tolist()
    for i, j in itertools.combinations(range(len(values)), 2):
        assert (hashes[i] == hashes[j]) == (values[i] == values[j]), (values[i], values[j])


def test_row_hash_depends_on_the_column_of_each_cell() -> None:
    """Rows with the same cells in other columns hash differently; identical rows alike."""
    a = pa.array(["x", "y", "x"], pa.string())
    b = pa.array(["y", "x", "y"], pa.string())
    hashes = hash_rows([a, b]).tolist()
    assert hashes[0] == hashes[2] and hashes[0] != hashes[1]


def test_tracker_finds_repeats_across_batches_chunks_and_numbering_gaps() -> None:
    """Over 1.2 million records in uneven batches (so they are joined into more than one
    chunk), with a gap in the record numbers and some invalid records, the tracker reports
    exactly the valid records whose hash repeats an earlier valid one, in record order."""
    rng = np.random.default_rng(7)
    tracker = DuplicateTracker()
    seen: dict[int, int] = {}
    want: list[tuple[int, int]] = []
    record = 1
    for size in [5, 70_000, 300_000, 1, 524_288, 300_000, 17]:
        hashes = rng.integers(1, 2**63, size=size, dtype=np.uint64)
        # repeat some earlier hashes (and some within the batch)
        earlier = list(seen)
        for i in rng.choice(size, size=min(size, 3), replace=False).tolist():
            if earlier:
                hashes[i] = earlier[int(rng.integers(len(earlier)))]
        if size > 10:
            hashes[size - 1] = hashes[0]
        valid = rng.random(size) > 0.01
        records = np.arange(record, record + size, dtype=np.int64)
        for rec, h, ok in zip(records.tolist(), hashes.tolist(), valid.tolist(), strict=True):
            if not ok:
                continue
            if h in seen:
                want.append((rec, seen[h]))
            else:
                seen[h] = rec
        tracker.add(hashes, records, valid)
        record += size + (1000 if size == 1 else 0)  # a gap after the one-record batch
    got = [
        (f.record, int(f.message.split("repeats record ")[1].split()[0]))
        for f in tracker.findings()
    ]
    assert got == want and len(want) > 5
    assert tracker.duplicate_records.tolist() == [rec for rec, _ in want]
