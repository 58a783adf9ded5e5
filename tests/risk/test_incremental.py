"""Incremental daily runs give the same user-day scores and alerts as one full run, on the
bundled example organisation, including a trigger that arrives mid-way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hrsignal.risk.engine import RunOptions, run_policies
from hrsignal.risk.events import EVENT_COLUMNS
from hrsignal.risk.hr import hr_from_csv, save_triggers
from hrsignal.risk.importers import import_activity
from hrsignal.risk.importers.generic import import_generic, mapping_from_dict
from hrsignal.risk.policy import available_policies
from hrsignal.risk.store import RiskStore
from tests.risk.conftest import EXAMPLES

SPLITS = ["2026-09-24", "2026-09-29", "2026-10-06"]  # increments end on these days


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The example's events, imported once, exported as Parquet in four date ranges."""
    tmp = tmp_path_factory.mktemp("parts")
    source = RiskStore(tmp / "source")
    import_activity(source, "purview-audit", EXAMPLES / "purview-audit.csv.gz")
    import_activity(
        source, "generic", EXAMPLES / "proxy.jsonl.gz", mapping=EXAMPLES / "proxy-mapping.yaml"
    )
    bounds = ["0001-01-01", *SPLITS, "9999-12-31"]
    out = []
    cols = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
    with source.connect() as con:
        for k in range(len(bounds) - 1):
            path = tmp / f"part{k}.parquet"
            con.execute(
                f"COPY (SELECT {cols} FROM events WHERE day > ? AND day <= ? "  # noqa: S608 - test data export
                f"ORDER BY time, record_id) TO '{path}' (FORMAT PARQUET)",
                [bounds[k], bounds[k + 1]],
            )
            out.append(path)
    return out


def _import(store: RiskStore, path: Path) -> None:
    mapping = mapping_from_dict({"fields": {c: c for c in EVENT_COLUMNS}})
    import_generic(store, path, mapping=mapping)


def _hr(store: RiskStore, without: str | None = None) -> None:
    import pyarrow.compute as pc

    table, _, _ = hr_from_csv(EXAMPLES / "hr-resignations.csv")
    _, profile, _ = hr_from_csv(EXAMPLES / "employee-profile.csv")
    if without:
        table = table.filter(pc.not_equal(table.column("EmailAddress"), without))
    with store.connect() as con:
        save_triggers(con, table, origin="test", directory=profile)


def _state(store: RiskStore) -> tuple[list[Any], list[Any]]:
    with store.connect() as con:
        days = con.execute(
            'SELECT policy, "user", day, score, alerting, indicators, boosters, sequences '
            "FROM user_days ORDER BY ALL"
        ).fetchall()
        alerts = con.execute(
            'SELECT alert_id, policy, "user", status, severity, score, first_day, last_day, '
            "days, trigger_record, indicators, boosters, sequences FROM alerts ORDER BY ALL"
        ).fetchall()
    return days, alerts


def test_incremental_runs_equal_a_full_run(tmp_path: Path, parts: list[Path]) -> None:
    """Day-by-day imports and incremental runs (the thief's resignation arriving in the
    second increment) end with exactly the user-days and alerts of one full run."""
    policies = list(available_policies().values())
    inc = RiskStore(tmp_path / "inc")
    modes = []
    for k, part in enumerate(parts):
        _import(inc, part)
        _hr(inc, without="diego.siciliani@contoso.com" if k == 0 else None)
        modes.append({s.policy: s.mode for s in run_policies(inc, policies, RunOptions())})
    assert modes[0]["data-theft-departing-users"] == "full"
    assert all(m["data-theft-departing-users"] == "incremental" for m in modes[1:])

    full = RiskStore(tmp_path / "full")
    for part in parts:
        _import(full, part)
    _hr(full)
    run_policies(full, policies, RunOptions())

    inc_days, inc_alerts = _state(inc)
    full_days, full_alerts = _state(full)
    assert len(full_days) > 100
    assert inc_days == full_days
    assert inc_alerts == full_alerts
    assert [a[2] for a in full_alerts] == ["diego.siciliani@contoso.com"]


def test_incremental_run_scores_only_new_days(tmp_path: Path, parts: list[Path]) -> None:
    """After a full run, a run with one more increment scores from the last day onwards only."""
    policies = [available_policies()["data-theft-departing-users"]]
    store = RiskStore(tmp_path / "s")
    _import(store, parts[0])
    _hr(store)
    first = run_policies(store, policies, RunOptions())[0]
    _import(store, parts[1])
    second = run_policies(store, policies, RunOptions())[0]
    assert first.first_day is not None and first.first_day < SPLITS[0]
    assert (second.first_day, second.last_day) == (SPLITS[0], SPLITS[1])
    third = run_policies(store, policies, RunOptions(full=True))[0]
    assert third.mode == "full" and third.first_day == first.first_day
