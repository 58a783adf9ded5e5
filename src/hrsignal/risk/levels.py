"""Each user's insider risk level, as Adaptive Protection uses them: *minor*, *moderate*,
*elevated* (from the severity of the user's open alerts: low, medium, high), or none.

An alert counts while it is not dismissed or resolved and its last alerting day is within
``active_days`` (default 30) of the latest event day, so levels fall back as activity stops.
Levels are recomputed after every run; a change is recorded with the previous level, and, when a
webhook is configured, POSTed as JSON until the receiver answers 2xx (a failed delivery is
retried on the next run, so no change is lost).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import httpx

LEVELS = {"low": "minor", "medium": "moderate", "high": "elevated"}
_RANK = {"none": 0, "minor": 1, "moderate": 2, "elevated": 3}


@dataclass(slots=True)
class LevelChange:
    """A user's level moved."""

    user: str
    level: str
    previous: str
    alert_id: str | None


def update_levels(
    con: duckdb.DuckDBPyConnection, *, as_of: str | None, active_days: int = 30
) -> list[LevelChange]:
    """Recompute every user's level from the alerts; return the changes."""
    if as_of is None:
        return []
    rows = con.execute(
        """SELECT "user", arg_max(severity, CASE severity WHEN 'high' THEN 3
                  WHEN 'medium' THEN 2 ELSE 1 END * 100000000 + score),
               arg_max(alert_id, CASE severity WHEN 'high' THEN 3
                  WHEN 'medium' THEN 2 ELSE 1 END * 100000000 + score)
        FROM alerts WHERE status NOT IN ('dismissed', 'resolved')
          AND last_day >= CAST(?::DATE - INTERVAL (?) DAY AS DATE)
        GROUP BY "user" """,
        [as_of, active_days],
    ).fetchall()
    current = {str(u): (LEVELS[str(sev)], str(aid)) for u, sev, aid in rows}
    stored = {
        str(u): str(level)
        for u, level in con.execute('SELECT "user", level FROM risk_levels').fetchall()
    }
    changes: list[LevelChange] = []
    for user in sorted(set(current) | set(stored)):
        level, aid = current.get(user, ("none", None))
        before = stored.get(user, "none")
        if level == before:
            continue
        changes.append(LevelChange(user, level, before, aid))
        con.execute(
            """INSERT OR REPLACE INTO risk_levels VALUES (?, ?, ?, now()::TIMESTAMP, ?, false)""",
            [user, level, before, aid],
        )
    return changes


def notify(
    con: duckdb.DuckDBPyConnection, url: str, *, timeout: float = 10.0
) -> tuple[int, list[str]]:
    """POST every un-notified level change to ``url``; return (sent, errors)."""
    rows = con.execute(
        """SELECT "user", level, previous, since, alert_id FROM risk_levels
        WHERE NOT notified ORDER BY since, "user" """
    ).fetchall()
    sent, errors = 0, []
    with httpx.Client(timeout=timeout) as client:
        for user, level, previous, since, aid in rows:
            body: dict[str, Any] = {
                "type": "hrsignal.risk_level_changed",
                "user": user,
                "level": level,
                "previous": previous,
                "since": _iso(since),
                "alert_id": aid,
            }
            try:
                response = client.post(url, json=body)
            except httpx.HTTPError as exc:
                errors.append(f"webhook {url}: {type(exc).__name__}: {exc}")
                break  # the receiver is down: retry everything next run
            if response.is_success:
                con.execute('UPDATE risk_levels SET notified = true WHERE "user" = ?', [user])
                sent += 1
            else:
                errors.append(f"webhook {url}: HTTP {response.status_code} for one change")
    return sent, errors


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    return None if value is None else str(value)


def rank(level: str) -> int:
    """Order of levels (none < minor < moderate < elevated)."""
    return _RANK.get(level, 0)
