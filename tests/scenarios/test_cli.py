"""The validate / normalize / scenarios commands: exit codes, output shapes, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scenarios.factories import csv_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hr"
NOW = "2026-11-25T00:00:00Z"
RES = ["EmailAddress", "ResignationDate", "LastWorkingDate"]
GOOD = ["sara.davis@contoso.com", "2026-11-02T09:15:49Z", "2026-11-27T17:00:00Z"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "hrsignal.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "hr.csv"
    path.write_text(csv_text(RES, [GOOD]), encoding="utf-8")
    return path


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(
        csv_text(RES, [GOOD, ["nope", GOOD[1], GOOD[2]], [GOOD[0], GOOD[1], "2026-11-27"]]),
        encoding="utf-8",
    )
    return path


def test_valid_file_exits_0_with_summary(good_file: Path) -> None:
    """A valid file: exit 0 and a one-line summary naming the scenario and counts."""
    result = run("validate", str(good_file), "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"{good_file}: ok - resignations, 1 records, 1 valid; 0 errors, 0 warnings"
    )


def test_errors_exit_1_and_json_shape(bad_file: Path) -> None:
    """Errors: exit 1; JSON has the documented keys and each finding's keys."""
    result = run("validate", str(bad_file), "--now", NOW, "--format", "json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert set(doc) >= {"file", "scenario", "records", "valid_records", "errors", "warnings"}
    assert (doc["records"], doc["valid_records"]) == (3, 2)
    assert doc["errors"] == [
        {
            "record": 2,
            "line": 3,
            "column": "EmailAddress",
            "code": "invalid-upn",
            "message": doc["errors"][0]["message"],
            "value": "nope",
        }
    ]
    assert [w["code"] for w in doc["warnings"]] == ["date-only"]
    assert set(doc["warnings"][0]) == {"record", "line", "column", "code", "message", "value"}


def test_text_output_groups_findings(bad_file: Path) -> None:
    """Text output: summary, then findings grouped by code with record and column."""
    result = run("validate", str(bad_file), "--now", NOW)
    lines = result.stdout.splitlines()
    assert lines[0].endswith("3 records, 2 valid; 1 errors, 1 warnings")
    assert lines[1].strip() == "x invalid-upn (1)"
    assert lines[2].strip().startswith("record 2, EmailAddress: 'nope' is not a valid")
    assert lines[3].strip() == "! date-only (1)"


def test_warnings_only_exit_0(tmp_path: Path) -> None:
    """Warnings alone do not fail validation."""
    path = tmp_path / "w.csv"
    path.write_text(csv_text(RES, [[GOOD[0], GOOD[1], "2026-11-27"]]), encoding="utf-8")
    assert run("validate", str(path), "--now", NOW).returncode == 0


def test_max_findings_caps_list_not_counts(tmp_path: Path) -> None:
    """--max-findings limits the findings listed; the counts stay exact."""
    path = tmp_path / "many.csv"
    path.write_text(csv_text(RES, [["bad", GOOD[1], GOOD[2]]] * 50), encoding="utf-8")
    doc = json.loads(
        run("validate", str(path), "--now", NOW, "--format", "json", "--max-findings", "5").stdout
    )
    assert len(doc["errors"]) == 5 and doc["error_count"] == 50 and doc["truncated"]


def test_missing_file_exits_2_with_message(tmp_path: Path) -> None:
    """A missing file: exit 2 and a clear one-line message, no traceback."""
    result = run("validate", str(tmp_path / "nope.csv"))
    assert result.returncode == 2
    assert "no such file" in result.stderr and "Traceback" not in result.stderr


def test_empty_header_only_and_binary_files(tmp_path: Path) -> None:
    """Empty and binary files are rejected with a message; header-only passes with a warning."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    r = run("validate", str(empty), "--scenario", "resignations")
    assert r.returncode == 1 and "the file is empty" in r.stdout
    header = tmp_path / "header.csv"
    header.write_text("EmailAddress,ResignationDate,LastWorkingDate\r\n")
    r = run("validate", str(header))
    assert r.returncode == 0 and "no records" in r.stdout
    binary = tmp_path / "export.xlsx"
    binary.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    r = run("validate", str(binary), "--scenario", "resignations")
    assert r.returncode == 1 and "not text" in r.stdout and "Traceback" not in r.stderr


def test_usage_errors_exit_2(good_file: Path) -> None:
    """Bad options: exit 2 with a message."""
    assert run("validate", str(good_file), "--now", "yesterday").returncode == 2
    assert run("validate", str(good_file), "--scenario", "nope").returncode == 2
    r = run("validate", str(good_file), "--date-window", "x")
    assert r.returncode == 2 and "--date-window" in r.stderr
    r = run("validate", str(good_file), "--delimiter", "#")
    assert r.returncode == 2 and "delimiter" in r.stderr


def test_several_files_worst_exit_code(good_file: Path, bad_file: Path) -> None:
    """Several files: JSON is a list; the exit code is the worst one."""
    result = run("validate", str(good_file), str(bad_file), "--now", NOW, "--format", "json")
    assert result.returncode == 1
    assert [d["file"] for d in json.loads(result.stdout)] == [str(good_file), str(bad_file)]


def test_normalize_writes_clean_file_and_rejects(tmp_path: Path) -> None:
    """normalize: canonical names, UTC ISO dates, valid rows once; rejects with reasons."""
    src = tmp_path / "in.csv"
    src.write_text(
        csv_text(
            ["UPN", "TerminationDate", "LastWorkingDate"],
            [
                ["a@contoso.com", "2026-11-02T15:18:02.4675041+05:30", "2026-11-27"],
                ["bad", GOOD[1], GOOD[2]],
                ["a@contoso.com", "2026-11-02T15:18:02.4675041+05:30", "2026-11-27"],
            ],
        ),
        encoding="utf-16",
    )
    out = tmp_path / "clean.csv"
    result = run("normalize", str(src), "-o", str(out), "--now", NOW)
    assert result.returncode == 1  # some records were rejected
    assert out.read_text("utf-8").splitlines() == [
        '"EmailAddress","ResignationDate","LastWorkingDate"',
        '"a@contoso.com","2026-11-02T09:48:02.467504Z","2026-11-27T00:00:00.000000Z"',
    ]
    rejects = (tmp_path / "clean.rejects.csv").read_text("utf-8")
    assert '"bad"' in rejects and "invalid-upn" in rejects and ",2,3," in rejects
    # the clean file validates with no error
    assert run("validate", str(out), "--now", NOW).returncode == 0


def test_normalize_rejected_file_writes_nothing(tmp_path: Path) -> None:
    """A file rejected as a whole leaves no output behind."""
    src = tmp_path / "semi.csv"
    src.write_text("EmailAddress;ResignationDate;LastWorkingDate\r\na@b.com;x;y\r\n")
    out = tmp_path / "clean.csv"
    result = run("normalize", str(src), "-o", str(out))
    assert result.returncode == 1 and not out.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_normalize_multi_keeps_scenario_column(tmp_path: Path) -> None:
    """A multi-scenario file normalizes with HRScenario first and the union of fields."""
    out = tmp_path / "multi.csv"
    result = run("normalize", str(EXAMPLES / "multi.csv"), "-o", str(out), "--now", NOW)
    assert result.returncode == 0, result.stdout
    lines = out.read_text().splitlines()
    assert lines[0].startswith('"HRScenario","EmailAddress","ResignationDate","LastWorkingDate"')
    assert len(lines) == 5 and lines[1].startswith('"Resignation"')


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.csv")), ids=lambda p: p.name)
def test_bundled_examples_are_valid(path: Path) -> None:
    """Every bundled example validates cleanly (reviews need the scenario named)."""
    extra = ["--scenario", "performance-reviews"] if "reviews" in path.name else []
    result = run("validate", str(path), "--now", NOW, *extra)
    assert result.returncode == 0, result.stdout
    assert "0 errors, 0 warnings" in result.stdout


@pytest.mark.parametrize("path", sorted((EXAMPLES / "broken").glob("*.csv")), ids=lambda p: p.name)
def test_broken_examples_fail_with_findings(path: Path) -> None:
    """Every broken example fails with at least one error and no traceback."""
    result = run(
        "validate",
        str(path),
        "--now",
        NOW,
        "--scenario",
        "employee-profile"
        if "profile" in path.name
        else "multi"
        if "multi" in path.name
        else "resignations",
    )
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr


def test_scenarios_list_and_show() -> None:
    """scenarios list names every scenario; show gives columns as JSON."""
    listing = run("scenarios", "list").stdout
    for name in (
        "resignations",
        "job-level-changes",
        "performance-reviews",
        "performance-improvement-plans",
        "employee-profile",
        "multi",
    ):
        assert name in listing
    doc = json.loads(run("scenarios", "show", "performance-reviews", "--format", "json").stdout)
    limits = {f["name"]: f["max_length"] for f in doc["fields"]}
    assert limits["Remarks"] == 200 and limits["Rating"] == 25
