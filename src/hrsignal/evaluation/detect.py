"""hrsignal's own detection, through the risk engine: the seam the harness scores.

:func:`import_activity` runs the risk engine's CERT importer over the slim copy once;
:func:`detect` stores one HR trigger table and runs the "Data theft by departing users" policy
over the imported events, returning the alerts ranked by score. Nothing here scores activity:
every figure attributed to hrsignal comes from the engine's own policy run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from hrsignal.errors import ConfigError
from hrsignal.risk.alerts import list_alerts
from hrsignal.risk.engine import RunOptions, run_policy
from hrsignal.risk.events import ImportReport
from hrsignal.risk.hr import save_triggers
from hrsignal.risk.importers.cert import import_cert
from hrsignal.risk.policy import Policy, builtin_policy_files, load_policy_file
from hrsignal.risk.store import RiskStore

POLICY = "data-theft-departing-users"
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class UserAlert:
    """One alerted user as a method ranks them: score, first alerting day, alerting days."""

    user: str  # lower-cased e-mail (the engine's user key)
    score: float
    first_day: dt.date
    days: int
    indicators: tuple[str, ...] = ()  # what fired (hrsignal's alerts only), for tuning


@dataclass(slots=True)
class Detection:
    """A method's output for one notice period: ranked alerts and the alert count."""

    alerts: list[UserAlert]
    alert_count: int
    alerting_days: int


def load_policy(path: Path | None = None) -> Policy:
    """The policy in ``path``, or the built-in departing-users template.

    Only that one file is read, so an unrelated template being edited cannot stop a run.
    """
    if path is not None:
        return load_policy_file(path)
    for file in builtin_policy_files():
        if file.stem == POLICY:
            return load_policy_file(file)
    raise ConfigError(f"the built-in policy {POLICY!r} is missing from this installation")


def import_activity(store: RiskStore, prepared: Path, progress: Progress | None) -> ImportReport:
    """Import the slim release copy with the risk engine's CERT importer."""
    return import_cert(store, prepared, force=True, progress=progress)


def detect(
    store: RiskStore, hr: pa.Table, policy: Policy, progress: Progress | None = None
) -> Detection:
    """Run ``policy`` with ``hr`` as the only triggers; alerts ranked by score, then earliness."""
    with store.connect() as con:
        save_triggers(con, hr, origin="cert-evaluation")
    summary = run_policy(store, policy, RunOptions(full=True, progress=progress))
    rows = list_alerts(store, reveal=True, policy=policy.name)
    alerts = [
        UserAlert(
            user=str(r["user"]).lower(),
            score=float(r["score"]),
            first_day=dt.date.fromisoformat(str(r["first_day"])),
            days=int(r["days"]),
            indicators=tuple(sorted(r.get("indicators") or {})),
        )
        for r in rows
    ]
    alerts.sort(key=lambda a: (-a.score, a.first_day, a.user))
    return Detection(alerts=alerts, alert_count=len(alerts), alerting_days=summary.alerting_days)
