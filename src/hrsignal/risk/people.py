"""People in scope and daily activity timelines, for the dashboard.

The dashboard addresses a person by pseudonym (an alias in a URL tells nothing about who it
is) and shows the real name only to an investigator who asks, which is audited like every
reveal. Resolving an alias to the user inside these functions is not a reveal: nothing leaves
them with the name unless ``reveal=True``.

"Today" for days left is the latest day with imported activity (:func:`as_of_day`), the same
day the engine scores up to, so an installation fed yesterday's logs is not a day off, and the
bundled example data (dated around 2026-10-01) reads as it did then.
"""

# ruff: noqa: S608 - SQL below has constant text; values are bound parameters

from __future__ import annotations

import datetime as dt
import hmac
import json
from typing import Any

import duckdb

from hrsignal.errors import NotFoundError
from hrsignal.risk.alerts import StoreLike, open_store
from hrsignal.risk.pseudonym import pseudonym, record_reveal
from hrsignal.risk.store import RiskStore


def as_of_day(store: StoreLike) -> dt.date | None:
    """The latest day with imported activity (None when there is none)."""
    latest = open_store(store).max_event_day()
    return dt.date.fromisoformat(latest) if latest else None


def _day(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def people_in_scope(
    store: StoreLike = None,
    *,
    policy: str | None = None,
    reveal: bool = False,
    actor: str | None = None,
) -> list[dict[str, Any]]:
    """Users in a policy's window: alias, shown name, trigger date, last working date, days
    left (from :func:`as_of_day`), window, open alert and risk level; soonest leaver first."""
    rs = open_store(store)
    key = rs.pseudonym_key()
    as_of = as_of_day(rs)
    sql = """SELECT s.policy, s."user", s.trigger_record, s.window_start, s.window_end,
            (SELECT a.alert_id FROM alerts a WHERE a.policy = s.policy AND a."user" = s."user"
             ORDER BY a.score DESC LIMIT 1),
            (SELECT r.level FROM risk_levels r WHERE r."user" = s."user")
        FROM scope_state s""" + (" WHERE s.policy = ?" if policy else "")
    with rs.connect() as con:
        rows = con.execute(sql, [policy] if policy else []).fetchall()
        if reveal and rows:
            record_reveal(con, f"people in scope ({len(rows)} users)", actor=actor)
    out = []
    for pol, user, trig, start, end, alert_id, level in rows:
        t = json.loads(trig) if trig else {}
        trigger_day = _day(t.get("ResignationDate") or t.get("EffectiveDate"))
        last_day = _day(t.get("LastWorkingDate"))
        alias = pseudonym(key, user)
        out.append(
            {
                "policy": pol,
                "alias": alias,
                "user": user if reveal else alias,
                "trigger_scenario": t.get("scenario"),
                "trigger_date": _iso(trigger_day),
                "last_working_date": _iso(last_day),
                "days_left": (last_day - as_of).days if last_day and as_of else None,
                "window_start": _iso(_day(start)),
                "window_end": _iso(_day(end)),
                "alert_id": alert_id,
                "level": level or "none",
            }
        )
    out.sort(key=lambda p: (p["days_left"] is None, p["days_left"] or 0, p["policy"]))
    return out


def _daily(con: duckdb.DuckDBPyConnection, policy: str, user: str) -> list[dict[str, Any]]:
    """Each scored day: total matching events and the user's own baseline for that day."""
    rows = con.execute(
        """SELECT day, score, alerting, indicators FROM user_days
        WHERE policy = ? AND "user" = ? ORDER BY day""",
        [policy, user],
    ).fetchall()
    days = []
    for day, score, alerting, indicators in rows:
        ind = json.loads(indicators or "{}")
        days.append(
            {
                "day": _iso(_day(day)),
                "events": int(sum(v.get("count", 0) for v in ind.values())),
                "baseline": round(float(sum(v.get("baseline", 0.0) for v in ind.values())), 3),
                "score": int(score or 0),
                "alerting": bool(alerting),
            }
        )
    return days


def _user_of_alias(con: duckdb.DuckDBPyConnection, key: bytes, policy: str, alias: str) -> str:
    users = con.execute('SELECT "user" FROM scope_state WHERE policy = ?', [policy]).fetchall()
    for (user,) in users:
        if hmac.compare_digest(pseudonym(key, str(user)), alias):
            return str(user)
    raise NotFoundError(f"no one with pseudonym {alias!r} is in the scope of {policy!r}")


def person_timeline(
    store: StoreLike,
    policy: str,
    alias: str,
    *,
    reveal: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    """One person in a policy's scope: trigger, window and daily activity vs own baseline."""
    rs: RiskStore = open_store(store)
    key = rs.pseudonym_key()
    with rs.connect() as con:
        user = _user_of_alias(con, key, policy, alias)
        days = _daily(con, policy, user)
        if reveal:
            record_reveal(con, f"person {alias} in {policy}", actor=actor)
    person = next(
        p for p in people_in_scope(rs, policy=policy) if p["alias"] == alias
    )  # the scope row (pseudonymised), found above so it exists
    person["user"] = user if reveal else alias
    person["timeline"] = days
    return person


def alert_timeline(store: StoreLike, alert_id: str) -> list[dict[str, Any]]:
    """The daily activity vs own baseline of the alert's user under the alert's policy."""
    rs = open_store(store)
    with rs.connect() as con:
        row = con.execute(
            'SELECT policy, "user" FROM alerts WHERE alert_id = ?', [alert_id]
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no alert {alert_id!r}")
        return _daily(con, str(row[0]), str(row[1]))


def reveal_audit(store: StoreLike, *, limit: int = 200) -> list[dict[str, Any]]:
    """The latest reveals, newest first: when, who, what (an alert id or a pseudonym; the
    audit itself names no one)."""
    rs = open_store(store)
    with rs.connect() as con:
        rows = con.execute(
            "SELECT revealed_at, actor, what FROM reveals ORDER BY revealed_at DESC LIMIT ?",
            [limit],
        ).fetchall()
    return [
        {"at": at.isoformat() + "Z" if at else None, "actor": actor, "what": what}
        for at, actor, what in rows
    ]
