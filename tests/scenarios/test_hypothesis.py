"""Property tests: generated valid rows round-trip clean; one corrupted cell, one finding."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.scenarios.factories import NOW, check, codes, csv_text

_LOCAL = st.from_regex(r"[a-z0-9](?:[a-z0-9._'-]{0,20}[a-z0-9])?", fullmatch=True).filter(
    lambda s: ".." not in s
)
_DOMAIN = st.sampled_from(["contoso.com", "fabrikam.co.uk", "hr-data.example.org"])
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\x00"),
    max_size=40,
).filter(lambda s: s.strip() != "" and s[:1] not in "=+-@\t\r" and not s.isspace())
_NEWLINE_TEXT = st.lists(_TEXT, min_size=1, max_size=3).map("\n".join)


def _iso(moment: dt.datetime, style: int) -> str:
    if style == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 1:
        local = moment.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}1+05:30"
    local = moment.astimezone(dt.timezone(dt.timedelta(hours=-8)))
    return local.strftime("%Y-%m-%dT%H:%M:%S.%f") + "-0800"


@st.composite
def resignation_rows(draw: st.DrawFn) -> list[list[str]]:
    n = draw(st.integers(min_value=1, max_value=25))
    rows = []
    for i in range(n):
        last = NOW + dt.timedelta(seconds=draw(st.integers(-150 * 86400, 300 * 86400)))
        first = last - dt.timedelta(seconds=draw(st.integers(0, 90 * 86400)))
        style = draw(st.integers(0, 2))
        upn = f"{draw(_LOCAL)}{i}@{draw(_DOMAIN)}"
        remarks = draw(st.one_of(_TEXT, _NEWLINE_TEXT))
        rows.append([upn, _iso(first, style), _iso(last, style), remarks])
    return rows


HEADER = ["EmailAddress", "ResignationDate", "LastWorkingDate", "Remarks"]

CORRUPTIONS = [
    (0, "no-at-sign", "invalid-upn"),
    (0, "", "missing-value"),
    (1, "31/12/2026", "invalid-date"),
    (1, "2026-02-29T00:00:00Z", "invalid-date"),  # 2026 is not a leap year
    (2, "2030-01-01T00:00:00Z", "date-out-of-window"),
    (2, "2026-11-30", "date-only"),
]


def _job_level(rows: list[list[str]]) -> list[list[str]]:
    return [[r[0], r[2], r[3][:200], "Level 1", "Level 2"] for r in rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=resignation_rows())
def test_generated_rows_round_trip_with_no_findings(rows: list[list[str]]) -> None:
    """Rows generated from the schema, written as CSV, validate with no finding at all."""
    report = check(csv_text(HEADER, rows), "resignations")
    assert codes(report) == [("unknown-column", None, "Remarks")]
    assert report.valid_records == len(rows)
    levels = check(
        csv_text(
            ["EmailAddress", "EffectiveDate", "Remarks", "OldLevel", "NewLevel"], _job_level(rows)
        ),
        "job-level-changes",
    )
    assert codes(levels) == [] and levels.valid_records == len(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=resignation_rows(), data=st.data())
def test_one_corrupted_cell_gives_exactly_one_finding_there(
    rows: list[list[str]], data: st.DataObject
) -> None:
    """Corrupting one cell gives exactly one finding, at that record and column."""
    target = data.draw(st.integers(0, len(rows) - 1))
    column, value, code = data.draw(st.sampled_from(CORRUPTIONS))
    if code == "date-out-of-window" or column == 2:
        rows[target][1] = "2026-01-01T00:00:00Z"  # keep ResignationDate before the new date
    rows[target][column] = value
    report = check(csv_text(HEADER, rows), "resignations")
    found = [c for c in codes(report) if c[0] != "unknown-column"]
    assert found == [(code, target + 1, HEADER[column])]
