"""Every scenario: valid files give no findings; each kind of defect gives exactly its finding."""

from __future__ import annotations

import pytest

from tests.scenarios.factories import VALID_ROWS, check, codes, csv_text


@pytest.mark.parametrize("scenario", list(VALID_ROWS))
def test_valid_file_has_no_findings(scenario: str) -> None:
    """A valid file of each scenario validates with no error and no warning."""
    header, rows = VALID_ROWS[scenario]
    report = check(csv_text(header, rows), scenario)
    assert codes(report) == []
    assert report.records == report.valid_records == len(rows)


@pytest.mark.parametrize("scenario", list(VALID_ROWS))
def test_scenario_is_detected_or_named(scenario: str) -> None:
    """The scenario is detected from the header, except reviews/PIPs, which must be named."""
    header, rows = VALID_ROWS[scenario]
    report = check(csv_text(header, rows))
    if scenario in ("performance-reviews",):
        assert report.file_rejected and "--scenario" in report.errors[0].message
    else:
        assert report.scenario == scenario and report.ok


RES = ["EmailAddress", "ResignationDate", "LastWorkingDate"]
GOOD = ["sara.davis@contoso.com", "2026-11-02T09:15:49Z", "2026-11-27T17:00:00Z"]


def _res(*rows: list[str]) -> str:
    return csv_text(RES, [GOOD, *rows])


DEFECTS = [
    # (row, expected code, column)
    (["not-an-upn", GOOD[1], GOOD[2]], "invalid-upn", "EmailAddress"),
    (["a b@contoso.com", GOOD[1], GOOD[2]], "invalid-upn", "EmailAddress"),
    (["zoë@contoso.com", GOOD[1], GOOD[2]], "invalid-upn", "EmailAddress"),
    ([".lead@contoso.com", GOOD[1], GOOD[2]], "invalid-upn", "EmailAddress"),
    (["a" * 65 + "@contoso.com", GOOD[1], GOOD[2]], "invalid-upn", "EmailAddress"),
    (["", GOOD[1], GOOD[2]], "missing-value", "EmailAddress"),
    ([GOOD[0], "", GOOD[2]], "missing-value", "ResignationDate"),
    ([GOOD[0], "02/11/2026", GOOD[2]], "invalid-date", "ResignationDate"),
    ([GOOD[0], "2026-02-30T00:00:00Z", GOOD[2]], "invalid-date", "ResignationDate"),
    ([GOOD[0], "2026-11-02T24:00:00Z", GOOD[2]], "invalid-date", "ResignationDate"),
    ([GOOD[0], "2026-11-02T09:15:49.12345678Z", GOOD[2]], "invalid-date", "ResignationDate"),
    ([GOOD[0], "2026-11-02T09:15Z", GOOD[2]], "invalid-date", "ResignationDate"),
    ([GOOD[0], "2026-11-02T09:15:49+25:00", GOOD[2]], "invalid-date", "ResignationDate"),
    ([GOOD[0], GOOD[1], "2029-01-01T00:00:00Z"], "date-out-of-window", "LastWorkingDate"),
    ([GOOD[0], GOOD[1], "2026-05-01T00:00:00Z"], "date-out-of-window", "LastWorkingDate"),
    ([GOOD[0], "2026-12-01T00:00:00Z", GOOD[2]], "date-order", "ResignationDate"),
    ([GOOD[0], GOOD[1], "2026-11-27"], "date-only", "LastWorkingDate"),
    ([GOOD[0], GOOD[1], "2026-11-27T17:00:00"], "date-without-offset", "LastWorkingDate"),
    ([GOOD[0], GOOD[1]], "field-count", None),
    ([GOOD[0], GOOD[1], GOOD[2], "extra"], "field-count", None),
]


@pytest.mark.parametrize(
    ("row", "code", "column"), DEFECTS, ids=[d[1] + str(i) for i, d in enumerate(DEFECTS)]
)
def test_each_defect_gives_exactly_its_finding(row: list[str], code: str, column: str) -> None:
    """One defect in record 2 gives exactly one finding, with its code, record and column."""
    report = check(_res(row), "resignations")
    assert codes(report) == [(code, 2, column)]
    finding = (report.errors + report.warnings)[0]
    assert finding.line == 3
    assert finding.message  # says what to try
    assert report.valid_records == (2 if finding.severity == "warning" else 1)


def test_window_can_be_relaxed_or_switched_off() -> None:
    """The LastWorkingDate window is configurable: a warning, or no check at all."""
    from hrsignal.scenarios import DateWindow, Severity

    late = _res([GOOD[0], GOOD[1], "2029-01-01T00:00:00Z"])
    warn = check(late, "resignations", date_window=DateWindow(183, 365, Severity.WARNING))
    assert warn.ok and codes(warn) == [("date-out-of-window", 2, "LastWorkingDate")]
    off = check(late, "resignations", date_window=None)
    assert off.ok and codes(off) == []
    wide = check(late, "resignations", date_window=DateWindow(183, 2000))
    assert codes(wide) == []


def test_window_edges_are_inclusive() -> None:
    """A LastWorkingDate exactly at either end of the window is accepted; a second beyond is not."""
    rows = [
        [GOOD[0], "2026-01-01T00:00:00Z", "2026-05-26T00:00:00Z"],
        [GOOD[0], "2026-01-01T00:00:00Z", "2026-05-25T23:59:59Z"],
        [GOOD[0], "2026-01-01T00:00:00Z", "2027-11-25T00:00:00Z"],
        [GOOD[0], "2026-01-01T00:00:00Z", "2027-11-25T00:00:01Z"],
    ]
    report = check(csv_text(RES, rows), "resignations")
    assert codes(report) == [
        ("date-out-of-window", 2, "LastWorkingDate"),
        ("date-out-of-window", 4, "LastWorkingDate"),
    ]


def test_text_limits_remarks_200_rating_25() -> None:
    """Remarks may hold 200 characters and Rating 25; one more is a too-long error."""
    header = ["EmailAddress", "EffectiveDate", "Remarks", "Rating"]
    rows = [
        ["a@contoso.com", "2026-03-31T00:00:00Z", "é" * 200, "r" * 25],
        ["b@contoso.com", "2026-03-31T00:00:00Z", "é" * 201, "r" * 25],
        ["c@contoso.com", "2026-03-31T00:00:00Z", "x", "r" * 26],
    ]
    report = check(csv_text(header, rows), "performance-reviews")
    assert codes(report) == [("too-long", 2, "Remarks"), ("too-long", 3, "Rating")]


def test_formula_like_cells_are_warnings() -> None:
    """A text cell a spreadsheet would execute is a warning; negative numbers are not."""
    header = ["EmailAddress", "EffectiveDate", "Remarks", "Rating"]
    rows = [
        ["a@contoso.com", "2026-03-31T00:00:00Z", '=HYPERLINK("http://x")', "-1"],
        ["b@contoso.com", "2026-03-31T00:00:00Z", "@SUM(A1)", "+2"],
    ]
    report = check(csv_text(header, rows), "performance-reviews")
    assert report.ok
    assert codes(report) == [("formula-like", 1, "Remarks"), ("formula-like", 2, "Remarks")]


def test_duplicate_rows_are_warned_once_saved_once() -> None:
    """An exact repeat of an earlier record is a warning pointing at the first one."""
    report = check(_res(GOOD, GOOD), "resignations")
    assert codes(report) == [("duplicate-record", 2, None), ("duplicate-record", 3, None)]
    assert "record 1" in report.warnings[0].message
    assert report.valid_records == 3


def test_surrounding_spaces_in_upn_and_dates_are_trimmed() -> None:
    """Spaces around a UPN or a date are an export artefact, not an error."""
    report = check(
        _res([" lee.gu@contoso.com ", " 2026-11-02T09:15:49Z", GOOD[2] + " "]), "resignations"
    )
    assert codes(report) == []


def test_aliases_are_matched_case_and_space_insensitively() -> None:
    """Older column names (UserPrincipalName, TerminationDate) match in any case and spacing."""
    text = csv_text(["user principal name", "TERMINATIONDATE", "Last Working Date"], [GOOD])
    report = check(text, "resignations")
    assert report.ok and report.valid_records == 1


def test_missing_required_column_rejects_file_with_names_tried() -> None:
    """A missing required column is one file-level error naming the columns looked for."""
    report = check(csv_text(["EmailAddress", "ResignationDate"], [GOOD[:2]]), "resignations")
    assert report.file_rejected and report.valid_records == 0
    assert codes(report) == [("missing-column", None, "LastWorkingDate")]
    assert "LastWorkingDay" in report.errors[0].message


def test_employee_profile_missing_mandatory_column_rejects_whole_file() -> None:
    """Employee profile: a missing mandatory column means none of the file is imported."""
    header = ["EmailAddress", "EmployeeFirstName", "EmployeeLastName", "EmployeeZipCode"]
    report = check(csv_text(header, [["a@contoso.com", "A", "B", "1"]]), "employee-profile")
    assert report.file_rejected and report.records == 1 and report.valid_records == 0
    assert codes(report) == [("missing-column", None, "EmployeeAddressLine1")]
    assert "whole file" in report.errors[0].message


def test_duplicate_and_unknown_columns() -> None:
    """A duplicated mapped column is an error; an unmapped column is a warning."""
    dup = check(
        csv_text(
            ["EmailAddress", "EmailAddress", "ResignationDate", "LastWorkingDate"],
            [[GOOD[0], *GOOD]],
        ),
        "resignations",
    )
    assert ("duplicate-column", None, "EmailAddress") in codes(dup)
    extra = check(csv_text([*RES, "Department"], [[*GOOD, "Sales"]]), "resignations")
    assert codes(extra) == [("unknown-column", None, "Department")]


MULTI_HEADER = [
    "HRScenario",
    "EmailAddress",
    "ResignationDate",
    "LastWorkingDate",
    "EffectiveDate",
    "Remarks",
    "Rating",
    "OldLevel",
    "NewLevel",
]


def test_multi_routes_rows_by_identifier() -> None:
    """HRScenario routes each row; each row is checked only against its scenario's fields."""
    rows = [
        ["Resignation", *GOOD, "", "", "", "", ""],
        [
            "Job level change",
            "b@contoso.com",
            "",
            "",
            "2026-06-01T00:00:00Z",
            "",
            "",
            "Level 61",
            " Level 60",
        ],
        ["performance review", "c@contoso.com", "", "", "2026-03-31T00:00:00Z", "x", "3", "", ""],
        ["Promotion", "d@contoso.com", "", "", "", "", "", "", ""],
        ["Resignation", "e@contoso.com", "", GOOD[2], "", "", "", "", ""],
    ]
    report = check(csv_text(MULTI_HEADER, rows))
    assert report.scenario == "multi"
    assert codes(report) == [
        ("unknown-scenario-value", 4, "HRScenario"),
        ("missing-value", 5, "ResignationDate"),
    ]
    assert report.valid_records == 3


def test_multi_with_explicit_mapping() -> None:
    """An explicit mapping names the identifier column and its values."""
    from hrsignal.scenarios import ValidationOptions, mapping_from_dict, validate

    mapping = mapping_from_dict(
        {
            "identifier_column": "Kind",
            "scenarios": {
                "resignations": {
                    "identifier_value": "R",
                    "columns": {
                        "EmailAddress": "User",
                        "ResignationDate": "Notice",
                        "LastWorkingDate": "Last",
                    },
                },
                "performance-reviews": {
                    "identifier_value": "PR",
                    "columns": {"EmailAddress": "User", "EffectiveDate": "When", "Rating": "Score"},
                },
            },
        }
    )
    text = csv_text(
        ["Kind", "User", "Notice", "Last", "When", "Score"],
        [
            ["R", *GOOD, "", ""],
            ["PR", "b@contoso.com", "", "", GOOD[1], "4"],
            ["Resignation", *GOOD, "", ""],
        ],
    )
    import io

    report = validate(
        io.BytesIO(text.encode()),
        mapping=mapping,
        options=ValidationOptions(
            now=__import__("tests.scenarios.factories", fromlist=["NOW"]).NOW
        ),
    )
    assert codes(report) == [("unknown-scenario-value", 3, "Kind")]
    assert report.valid_records == 2


def test_microsoft_doc_example_with_missing_commas_is_reported_per_row() -> None:
    """Microsoft's own multi-scenario example has too few fields per row: each row is named."""
    text = (
        "HRScenario,EmailAddress,ResignationDate,LastWorkingDate,EffectiveDate,Remarks,"
        "Rating,OldLevel,NewLevel\r\n"
        "Resignation,sarad@contoso.com,2026-11-02T15:18:02.4675041+05:30,"
        "2026-11-29T15:18:02.4675041+05:30,,,,\r\n"
    )
    report = check(text)
    assert codes(report) == [("field-count", 1, None)]
    assert "8 fields but the header has 9" in report.errors[0].message
