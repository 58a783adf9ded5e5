"""Factories that build HR CSV files for the scenario tests."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path

from hrsignal.scenarios import ValidationOptions, ValidationReport, validate

#: The clock every scenario test runs at (dates in the factories are relative to it).
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)

VALID_ROWS: dict[str, tuple[list[str], list[list[str]]]] = {
    "resignations": (
        ["EmailAddress", "ResignationDate", "LastWorkingDate"],
        [
            ["sara.davis@contoso.com", "2026-11-02T09:15:49Z", "2026-11-27T17:00:00Z"],
            [
                "alex.wilber@contoso.com",
                "2026-10-20T15:18:02.4675041+05:30",
                "2026-11-30T17:00:00.0000000+05:30",
            ],
        ],
    ),
    "job-level-changes": (
        ["EmailAddress", "EffectiveDate", "Remarks", "OldLevel", "NewLevel"],
        [["isaiah.langer@contoso.com", "2026-06-01T00:00:00Z", "Reorg", "Level 61", "Level 60"]],
    ),
    "performance-reviews": (
        ["EmailAddress", "EffectiveDate", "Remarks", "Rating"],
        [["pradeep.gupta@contoso.com", "2026-03-31T00:00:00Z", "Missed Q1", "1 Below"]],
    ),
    "performance-improvement-plans": (
        ["EmailAddress", "EffectiveDate", "ImprovementRemarks", "PerformanceRating"],
        [["pradeep.gupta@contoso.com", "2026-05-04T10:00:00Z", "90-day plan", "1 Below"]],
    ),
    "employee-profile": (
        [
            "EmailAddress",
            "EmployeeFirstName",
            "EmployeeLastName",
            "EmployeeAddLine1",
            "EmployeeZipCode",
            "EmployeeCity",
        ],
        [["jack.quinn@contoso.com", "Jack", "Quinn", "1 Microsoft Way", "98052", "Redmond"]],
    ),
}


def csv_text(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    delimiter: str = ",",
    lineterminator: str = "\r\n",
) -> str:
    """Serialise rows as RFC 4180 CSV."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    encoding: str = "utf-8",
    **kw: str,
) -> Path:
    """Write a CSV file and return its path."""
    path.write_bytes(csv_text(header, rows, **kw).encode(encoding))
    return path


def check(
    data: bytes | str | Path, scenario: str | None = None, **options: object
) -> ValidationReport:
    """Validate bytes, text or a path at :data:`NOW`."""
    opts = ValidationOptions(now=NOW, **options)  # type: ignore[arg-type]
    if isinstance(data, Path):
        return validate(data, scenario=scenario, options=opts)
    raw = data.encode() if isinstance(data, str) else data
    return validate(io.BytesIO(raw), scenario=scenario, options=opts, name="test.csv")


def codes(report: ValidationReport) -> list[tuple[str, int | None, str | None]]:
    """(code, record, column) of every finding, errors then warnings."""
    return [(str(f.code), f.record, f.column) for f in report.errors + report.warnings]
