"""ISO 8601 parsing: the fast path (Arrow's cast behind a shape gate) against a reference.

The reference below is plain Python (a regular expression and calendar arithmetic), written
from the grammar in docs/validation.md, so both of the module's parsers are checked against
something that shares none of their code.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrsignal.scenarios import isodate

_GRAMMAR = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,7}))?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_EPOCH = dt.date(1970, 1, 1).toordinal()


def reference(value: str) -> tuple[int, bool, bool] | None:
    """(microseconds since the epoch, has time, has offset), or None when not accepted."""
    m = _GRAMMAR.fullmatch(value)
    if m is None:
        return None
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    try:  # year 0000 is proleptic 1 BC, a leap year like 2000
        days = dt.date(year or 2000, month, day).toordinal() - (730485 if year == 0 else 0)
    except ValueError:
        return None
    micros = (days - _EPOCH) * 86_400_000_000
    if m[4] is None:
        return micros, False, False
    hour, minute, second = int(m[4]), int(m[5]), int(m[6])
    if hour > 23 or minute > 59 or second > 59:
        return None
    micros += (hour * 3600 + minute * 60 + second) * 1_000_000
    micros += int((m[7] or "").ljust(7, "0")[:6])  # the 7th digit is below a microsecond
    zone = m[8]
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        zh, zm = int(digits[:2]), int(digits[2:])
        if zh > 23 or zm > 59:
            return None
        micros -= (1 if zone[0] == "+" else -1) * (zh * 60 + zm) * 60_000_000
    return micros, True, zone is not None


def assert_matches_reference(values: list[str], rows: np.ndarray, offset: int = 0) -> None:
    array = pa.array(["x" * 3] * offset + values, pa.string()).slice(offset)
    for parse in (isodate.parse_iso, isodate.parse_by_width):
        got = parse(array, rows)
        for i, value in enumerate(values):
            want = reference(value) if rows[i] else None
            assert bool(got.ok[i]) == (want is not None), (parse.__name__, value)
            if want is not None:
                micros, has_time, has_offset = want
                assert int(got.micros[i]) == micros, (parse.__name__, value)
                assert (bool(got.has_time[i]), bool(got.has_offset[i])) == (has_time, has_offset)


SAMPLES = [
    "2026-04-23T15:18:02.4675041+05:30",  # Microsoft's resignation sample
    "2026-11-27T17:00:00Z",
    "2026-11-27T17:00:00.000Z",
    "2026-11-27T17:00:00-0800",
    "2026-11-27T17:00:00",  # no zone: UTC assumed (a warning)
    "2026-11-27",  # date only (a warning)
    "2024-02-29T23:59:59.9999999-23:59",
    "1969-12-31T23:59:59.9999999Z",  # before the epoch: the fraction still truncates down
    "9999-12-31T23:59:59Z",  # beyond Arrow's nanosecond range: decided by numpy
    "0000-01-01T00:00:00Z",
    "1677-09-21T00:12:43Z",
]

#: Layouts Arrow's cast accepts and Microsoft's samples (and so hrsignal) do not.
ARROW_ONLY = [
    "2026-11-27 17:00:00Z",
    "2026-11-27T17:00Z",
    "2026-11-27T17Z",
    "2026-11-27T17:00:00+05",
    "2026-11-27T17:00:00.12+05",
    "2026-11-27T17:00:00.12345678Z",
    "2026-11-27T17:00:00.123456789Z",
    "2026-11-27T17:00",
]

BAD = [
    "2026-02-30T00:00:00Z",
    "2026-13-01",
    "2026-11-27T24:00:00Z",
    "2026-11-27T23:59:60Z",
    "2026-11-27T17:00:00+24:00",
    "2026-11-27T17:00:00+0560",
    "2026-11-27T17:00:00.Z",
    "27/11/2026",
    "2026-11-27T17:00:00Zx",
    "",
    "2026-11-27T17:00:00ZZ",
    "２０２６-11-27",
]


@pytest.mark.parametrize("value", SAMPLES + ARROW_ONLY + BAD)
def test_each_value_alone_matches_the_reference(value: str) -> None:
    """Every layout, alone in its array (so Arrow's all-or-nothing cast judges it alone), is
    accepted exactly when the reference accepts it, with the same instant and flags."""
    assert_matches_reference([value], np.ones(1, dtype=bool))


def test_mixed_array_with_invalid_values_matches_the_reference() -> None:
    """One array mixing zoned, naive, date-only, Arrow-only and invalid values: each value gets
    the reference's answer, and rows not selected come back not ok."""
    values = SAMPLES + ARROW_ONLY + BAD
    rows = np.arange(len(values)) % 5 != 3
    assert_matches_reference(values, rows, offset=2)


def test_gate_admits_microsoft_layouts_and_refuses_arrow_only_ones() -> None:
    """The shape gate sends Microsoft's layouts to Arrow's cast (zoned ones to the zoned cast)
    and keeps the layouts only Arrow accepts away from it."""
    values = SAMPLES[:7] + ARROW_ONLY
    gate = isodate._gate(pa.array(values), np.ones(len(values), dtype=bool))
    assert gate is not None
    fast, zoned, _timed = gate
    assert fast.tolist() == [True] * 7 + [False] * len(ARROW_ONLY)
    assert zoned[:7].tolist() == [True, True, True, True, False, False, True]


def _layouts() -> st.SearchStrategy[str]:
    digits = st.integers(0, 99).map(lambda v: f"{v:02d}")
    date = st.builds(
        lambda y, m, d: f"{y:04d}-{m}-{d}",
        st.integers(0, 9999),
        st.integers(0, 13).map(lambda v: f"{v:02d}"),
        st.integers(0, 32).map(lambda v: f"{v:02d}"),
    )
    time = st.builds(lambda h, m, s: f"T{h}:{m}:{s}", digits, digits, digits)
    fraction = st.one_of(
        st.just(""), st.text("0123456789", min_size=0, max_size=9).map(lambda f: "." + f)
    )
    zone = st.one_of(
        st.just(""),
        st.just("Z"),
        st.builds(lambda s, h, m: f"{s}{h}:{m}", st.sampled_from("+-"), digits, digits),
        st.builds(lambda s, h, m: f"{s}{h}{m}", st.sampled_from("+-"), digits, digits),
        st.builds(lambda s, h: f"{s}{h}", st.sampled_from("+-"), digits),
    )
    timed = st.builds(lambda d, t, f, z: d + t + f + z, date, time, fraction, zone)
    return st.one_of(date, timed)


def _mutated() -> st.SearchStrategy[str]:
    def mutate(value: str, at: int, char: str, how: int) -> str:
        at = at % (len(value) + 1)
        if how == 0:
            return value[:at] + char + value[at + 1 :]
        if how == 1:
            return value[:at] + char + value[at:]
        return value[:at] + value[at + 1 :]

    return st.builds(
        mutate,
        _layouts(),
        st.integers(0, 40),
        st.sampled_from(list("0123456789-:T.Z+ tz/")),
        st.integers(0, 2),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(_layouts(), min_size=1, max_size=40), st.integers(0, 3))
def test_generated_layouts_match_the_reference(values: list[str], offset: int) -> None:
    """Arrays of generated layouts (valid or not, any zone form, 0-9 fractional digits)."""
    assert_matches_reference(values, np.ones(len(values), dtype=bool), offset)


@settings(max_examples=300, deadline=None)
@given(_mutated())
def test_mutated_value_alone_matches_the_reference(value: str) -> None:
    """A layout with one character replaced, inserted or deleted, alone in its array."""
    assert_matches_reference([value], np.ones(1, dtype=bool))
