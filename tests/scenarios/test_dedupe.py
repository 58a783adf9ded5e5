"""Row hashes for duplicate detection: equal cells hash equal wherever they sit in a buffer."""

from __future__ import annotations

import itertools

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from hrsignal.scenarios.dedupe import hash_rows, hash_strings

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
