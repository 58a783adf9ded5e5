"""Helpers for the risk engine tests: a real analytics store in a temp dir, events written as
JSON lines and imported through the real generic importer, HR triggers saved through the real
HR path, and policies built from the shipped templates with overrides."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from hrsignal.risk.engine import RunOptions, RunSummary, run_policy
from hrsignal.risk.events import EVENT_COLUMNS, ImportReport
from hrsignal.risk.hr import HR_COLUMNS, save_triggers
from hrsignal.risk.importers.generic import import_generic, mapping_from_dict
from hrsignal.risk.policy import Policy, builtin_policy_files, parse_policy
from hrsignal.risk.store import RiskStore

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parents[2] / "examples" / "activity"
THEFT = "data-theft-departing-users"
_counter = itertools.count()


@pytest.fixture
def store(tmp_path: Path) -> RiskStore:
    """An empty analytics store."""
    return RiskStore(tmp_path / "risk")


def import_events(store: RiskStore, rows: list[dict[str, Any]]) -> ImportReport:
    """Import event-model rows (``time`` as 'YYYY-MM-DD HH:MM:SS') with the generic importer."""
    path = store.data_dir.parent / f"events-{next(_counter)}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    mapping = mapping_from_dict(
        {"fields": {k: k for k in keys if k in EVENT_COLUMNS}, "format": "jsonl"}
    )
    return import_generic(store, path, mapping=mapping)


def set_hr(
    store: RiskStore, rows: list[dict[str, Any]], departments: dict[str, str] | None = None
) -> None:
    """Save HR trigger records (contract columns; dates as ISO strings)."""
    cols: dict[str, pa.Array] = {}
    for name in HR_COLUMNS:
        values = [r.get(name) for r in rows]
        if name.endswith("Date"):
            cols[name] = pa.array(
                [
                    dt.datetime.fromisoformat(v).replace(tzinfo=dt.UTC) if v else None
                    for v in values
                ],
                pa.timestamp("us", tz="UTC"),
            )
        else:
            cols[name] = pa.array(values, pa.string())
    directory = None
    if departments:
        directory = pa.table({"user": list(departments), "department": list(departments.values())})
    with store.connect() as con:
        save_triggers(con, pa.table(cols), origin="test", directory=directory)


def resignation(user: str, resigned: str, last_day: str) -> dict[str, Any]:
    """A resignation record."""
    return {
        "scenario": "resignations",
        "EmailAddress": user,
        "ResignationDate": resigned + "T09:00:00",
        "LastWorkingDate": last_day + "T17:00:00",
    }


def template_doc(name: str = THEFT) -> dict[str, Any]:
    """The YAML document of a shipped template."""
    for f in builtin_policy_files():
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        if doc["name"] == name:
            return doc
    raise KeyError(name)


def policy(name: str = THEFT, **overrides: Any) -> Policy:
    """A template, with top-level keys replaced (e.g. windows={...})."""
    doc = copy.deepcopy(template_doc(name))
    doc.update(overrides)
    pol, problems = parse_policy(doc, file="test")
    assert pol is not None, problems
    return pol


def run(store: RiskStore, pol: Policy, **options: Any) -> RunSummary:
    """Run one policy."""
    return run_policy(store, pol, RunOptions(**options))


def user_days(store: RiskStore, pol: str = THEFT) -> dict[tuple[str, str], dict[str, Any]]:
    """Scored user-days: (user, day) -> score, alerting, indicators, boosters, sequences."""
    with store.connect() as con:
        rows = con.execute(
            'SELECT "user", day, score, alerting, indicators, boosters, sequences '
            "FROM user_days WHERE policy = ? ORDER BY 1, 2",
            [pol],
        ).fetchall()
    return {
        (u, str(d)): {
            "score": s,
            "alerting": a,
            "indicators": json.loads(i),
            "boosters": json.loads(b),
            "sequences": json.loads(q),
        }
        for u, d, s, a, i, b, q in rows
    }


def ev(user: str, when: str, activity: str, **extra: Any) -> dict[str, Any]:
    """One event row."""
    return {"time": when, "user": user, "activity": activity, **extra}


def many(
    user: str, day: str, activity: str, n: int, start_hour: int = 9, **extra: Any
) -> list[dict[str, Any]]:
    """``n`` events a minute apart on ``day``."""
    base = dt.datetime.fromisoformat(f"{day}T{start_hour:02d}:00:00")
    return [
        ev(user, (base + dt.timedelta(minutes=k)).isoformat(sep=" "), activity, **extra)
        for k in range(n)
    ]
