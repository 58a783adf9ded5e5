"""HR records as Parquet for a Spark job (``risk hr-export``, ``risk run --hr FILE.parquet``):
an export reads back as the same triggers and departments, from HR CSVs or from the connector's
store; a Parquet file without the contract's key columns is rejected with exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hrsignal.risk.hr import hr_from_csv, hr_from_parquet
from tests.risk.conftest import EXAMPLES
from tests.risk.test_hr import _serve_store


def hrs(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``hrsignal risk ARGS`` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "hrsignal.cli", "risk", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_export_of_csvs_reads_back_as_the_same_triggers_and_departments(tmp_path: Path) -> None:
    """`hr-export --hr resignations --hr profiles` -> Parquet -> the same trigger records and
    the same user -> department directory as reading the CSVs."""
    out = tmp_path / "hr.parquet"
    csvs = [EXAMPLES / "hr-resignations.csv", EXAMPLES / "employee-profile.csv"]
    r = hrs("hr-export", str(out), "--hr", str(csvs[0]), "--hr", str(csvs[1]))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"54 HR record(s) -> {out}\n"
    triggers, directory, rejected = hr_from_parquet(out)
    want_triggers, _, _ = hr_from_csv(csvs[0])
    _, want_directory, _ = hr_from_csv(csvs[1])
    assert rejected == 0
    got = triggers.filter(pa.compute.not_equal(triggers.column("scenario"), "employee-profile"))
    assert got.to_pylist() == want_triggers.to_pylist()
    assert directory is not None and want_directory is not None
    assert sorted(directory.to_pylist(), key=str) == sorted(want_directory.to_pylist(), key=str)


def test_export_from_the_connector_store(tmp_path: Path) -> None:
    """`hr-export --db URL` writes the records the connector service saved."""
    url = _serve_store(tmp_path)
    out = tmp_path / "hr.parquet"
    r = hrs("hr-export", str(out), "--db", url)
    assert r.returncode == 0, r.stderr
    triggers, directory, _ = hr_from_parquet(out)
    assert directory is None
    assert sorted(triggers.column("EmailAddress").to_pylist()) == [
        "adele.vance@contoso.com",
        "diego.siciliani@contoso.com",
        "grady.archie@contoso.com",
        "lee.gu@contoso.com",
    ]


def test_parquet_without_key_columns_or_not_parquet_is_rejected(tmp_path: Path) -> None:
    """`risk run --hr X.parquet` exits 1 with what is missing (or unreadable), no traceback."""
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"Email": ["a@b.c"]}), bad)
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet", encoding="utf-8")
    for path, message in (
        (bad, "bad.parquet: no column(s) scenario, EmailAddress; has Email"),
        (junk, "junk.parquet: not a readable Parquet file"),
    ):
        r = hrs("--data-dir", str(tmp_path / "d"), "run", "--hr", str(path))
        assert (r.returncode, message in r.stderr, "Traceback" in r.stderr) == (1, True, False), (
            r.stderr
        )


def test_export_needs_one_source(tmp_path: Path) -> None:
    """`hr-export` without --db or --hr is a usage error (exit 2)."""
    r = hrs("hr-export", str(tmp_path / "x.parquet"))
    assert r.returncode == 2
    assert "give --db URL or --hr FILE" in r.stderr
