"""Property: cutting a file into chunks and parsing them back gives the file's records."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hrsignal.client.chunks import iter_chunks
from hrsignal.scenarios import ValidationOptions

HEADER = ["EmailAddress", "EffectiveDate", "Remarks", "Rating"]
remark = st.text(alphabet=st.sampled_from('ab é,"\n;x'), max_size=60)
rating = st.text(alphabet=st.sampled_from("123 Met,"), max_size=20)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(st.tuples(remark, rating), min_size=1, max_size=40),
    per_call=st.integers(min_value=1, max_value=50),
)
def test_chunks_round_trip_every_record(rows: list[tuple[str, str]], per_call: int) -> None:
    """Quoted commas, quotes and line breaks survive; no record is split, lost or repeated."""
    expected = [
        [f"u{i}@contoso.com", f"2026-10-{1 + i % 28:02d}T09:00:00Z", r, g]
        for i, (r, g) in enumerate(rows)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reviews.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(HEADER)
            writer.writerows(expected)
        got: list[list[str]] = []
        for chunk in iter_chunks(
            path,
            scenario="performance-reviews",
            mapping=None,
            options=ValidationOptions(date_window=None),
            records_per_call=per_call,
            skip_invalid=False,
        ):
            parsed = list(csv.reader(io.StringIO(chunk.csv.decode("utf-8"), newline="")))
            assert parsed[0] == HEADER
            assert len(parsed) - 1 == chunk.records <= per_call
            got.extend(parsed[1:])
    assert got == expected
