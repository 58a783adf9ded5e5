"""HR triggers: from a CSV through the shared validator, and from the connector service's store
through ``hrsignal.store.current_hr_records`` (the contract of docs/CONTRACTS.md)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from hrsignal.errors import DataRejectedError
from hrsignal.risk.hr import HR_COLUMNS, hr_from_csv, hr_from_db, save_triggers
from hrsignal.risk.store import RiskStore
from tests.risk.conftest import EXAMPLES

HR_EXAMPLES = Path(__file__).parents[2] / "examples" / "hr"


def test_multi_scenario_csv_gives_contract_columns(store: RiskStore) -> None:
    """A multi-scenario file yields the contract's columns, dates in UTC, every scenario."""
    table, directory, rejected = hr_from_csv(HR_EXAMPLES / "multi.csv")
    assert table.column_names == list(HR_COLUMNS)
    assert rejected == 0 and directory is None
    assert sorted(table.column("scenario").to_pylist()) == [
        "job-level-changes",
        "performance-improvement-plans",
        "performance-reviews",
        "resignations",
    ]
    with store.connect() as con:
        assert save_triggers(con, table, origin="csv") == 4
        row = con.execute(
            "SELECT resignation_date FROM hr_triggers WHERE scenario = 'resignations'"
        ).fetchone()
    assert row == (dt.datetime(2026, 11, 2, 9, 15, 49),)  # naive UTC


def test_invalid_records_are_skipped_and_counted() -> None:
    """Rows the validator rejects are not triggers; their number is reported."""
    from hrsignal.scenarios import ValidationOptions, validate

    path = HR_EXAMPLES / "broken" / "resignations-mistakes.csv"
    report = validate(path, options=ValidationOptions(date_window=None))
    table, _, rejected = hr_from_csv(path)
    assert rejected == report.records - report.valid_records > 0
    assert table.num_rows == report.valid_records


def test_a_file_rejected_as_a_whole_is_an_error() -> None:
    """A file with no valid record is refused with the validator's reason."""
    with pytest.raises(DataRejectedError, match="no valid HR record"):
        hr_from_csv(HR_EXAMPLES / "broken" / "employee-profile-missing-columns.csv")


def test_employee_profile_fills_departments(store: RiskStore) -> None:
    """Employee-profile records become the directory (departments for peer groups)."""
    table, directory, _ = hr_from_csv(EXAMPLES / "employee-profile.csv")
    assert directory is not None and directory.num_rows == 50
    with store.connect() as con:
        assert save_triggers(con, table, origin="csv", directory=directory) == 0
        dept = con.execute(
            "SELECT department FROM directory WHERE \"user\" = 'diego.siciliani@contoso.com'"
        ).fetchone()
    assert dept == ("Engineering",)


def _serve_store(tmp_path: Path) -> str:
    """A connector-service database holding the example resignations, saved through the
    service's own ingestion."""
    try:
        from hrsignal.scenarios import propose_mapping
        from hrsignal.server.context import AppState
        from hrsignal.server.ingest import ingest_file
        from hrsignal.server.settings import Settings
        from hrsignal.server.tokens import TokenIssuer
        from hrsignal.store.connectors import create_connector
        from hrsignal.store.engine import open_store
        from hrsignal.store.identity import create_app
    except ImportError as exc:
        pytest.skip(f"the connector service is not importable yet ({exc.name})")
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    path = EXAMPLES / "hr-resignations.csv"
    store = open_store(url)
    try:
        secret = create_app(store, "risk-test", tenant_id="t", expires_in_days=1)
        header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        connector = create_connector(
            store,
            name="risk-test",
            app_id=secret.app.app_id,
            scenarios=["resignations"],
            mapping=propose_mapping(header, "resignations"),
        )
        settings = Settings(db_url=url, date_window=None)
        state = AppState(store=store, settings=settings, issuer=TokenIssuer(store, settings))
        ingest_file(state, connector, secret.app.app_id, path, path.name)
    finally:
        store.dispose()
    return url


def test_triggers_from_the_connector_store(tmp_path: Path) -> None:
    """`risk run --db URL` reads the records the connector service saved and finds the thief."""
    url = _serve_store(tmp_path)
    table = hr_from_db(url)
    assert sorted(table.column("EmailAddress").to_pylist()) == sorted(
        [
            "adele.vance@contoso.com",
            "diego.siciliani@contoso.com",
            "grady.archie@contoso.com",
            "lee.gu@contoso.com",
        ]
    )
    data = tmp_path / "risk"

    def hrs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hrsignal.cli", "risk", "--data-dir", str(data), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert hrs("import", "purview-audit", str(EXAMPLES / "purview-audit.csv.gz")).returncode == 0
    r = hrs("run", "--db", url, "--policy", "data-theft-departing-users")
    assert r.returncode == 0, r.stderr
    assert "HR triggers: 4 record(s) from the connector store" in r.stdout
    alerts = hrs("alerts", "--reveal", "--format", "csv").stdout
    assert "diego.siciliani@contoso.com" in alerts
    assert alerts.count("\n") == 2  # header + the one alert
