"""Reading alerts, scope and risk levels: the small Python API the CLI, the dashboard and the
server use (documented in docs/risk.md).

User names are pseudonymised unless ``reveal=True``; every reveal is recorded (``reveals``).
Each function takes the data directory (or a :class:`RiskStore`) and returns plain JSON-ready
dicts, so an HTTP layer can return them as they are.
"""

# ruff: noqa: S608 - SQL is generated from validated policy data and quoted literals

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import duckdb

from hrsignal.errors import NotFoundError
from hrsignal.risk.compiler import PolicyCompiler
from hrsignal.risk.policy import Policy, available_policies
from hrsignal.risk.pseudonym import _actor as _os_actor
from hrsignal.risk.pseudonym import pseudonym, record_reveal, reveal
from hrsignal.risk.store import RiskStore, default_data_dir

StoreLike = RiskStore | str | os.PathLike[str] | None


def open_store(store: StoreLike) -> RiskStore:
    """A RiskStore from a path, a store, or None (the default data directory)."""
    if isinstance(store, RiskStore):
        return store
    return RiskStore(Path(store) if store is not None else default_data_dir())


class _Names:
    """Shows users as pseudonyms, or as themselves when revealing."""

    def __init__(self, store: RiskStore, reveal_names: bool) -> None:
        self.key = store.pseudonym_key()
        self.reveal = reveal_names

    def __call__(self, user: str | None) -> str | None:
        if user is None:
            return None
        return user if self.reveal else pseudonym(self.key, user)

    def mask(self, text: Any, user: str | None) -> Any:
        """``text`` with the user's name replaced by the pseudonym, unless revealing.

        Event fields carry names too: a profile path (``C:\\Users\\diego.siciliani\\...``),
        a device named after its owner (``LT-DIEGOSICILIA``: the 15-character NetBIOS limit
        cuts the name), a personal address (``diego.siciliani@gmail.com``). Masked: the UPN, its
        local part, the local part without separators and its prefixes down to 8 characters,
        and each part of the name of 4 characters or more; case-insensitively. This errs on the
        side of hiding (a file named after a word that is also the user's first name is masked
        too)."""
        if self.reveal or not user or not isinstance(text, str) or not text:
            return text
        return _name_pattern(user).sub(f"[{pseudonym(self.key, user)}]", text)


@functools.lru_cache(maxsize=4096)
def _name_pattern(user: str) -> re.Pattern[str]:
    """The regular expression of :meth:`_Names.mask` for ``user``."""
    upn = user.strip().casefold()
    local = upn.split("@", 1)[0]
    pieces = re.split(r"[._\-+' ]+", local)
    parts = [p for p in pieces if len(p) >= 4]
    compact = "".join(pieces)
    forms = {upn, local, *parts}
    forms.update(compact[:n] for n in range(8, len(compact) + 1))
    forms.discard("")
    alternatives = sorted(forms, key=len, reverse=True)  # the longest form wins
    return re.compile("|".join(re.escape(f) for f in alternatives), re.IGNORECASE)


def _date(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, dt.date) else None if v is None else str(v)


def _alert_row(row: tuple[Any, ...], names: _Names) -> dict[str, Any]:
    (
        aid,
        policy,
        user,
        status,
        severity,
        score,
        first,
        last,
        days,
        trigger,
        indicators,
        boosters,
        sequences,
        created,
        updated,
    ) = row
    trig = json.loads(trigger) if trigger else None
    if trig and not names.reveal:
        trig["EmailAddress"] = names(trig.get("EmailAddress"))
    return {
        "id": aid,
        "policy": policy,
        "user": names(user),
        "status": status,
        "severity": severity,
        "score": score,
        "first_day": _date(first),
        "last_day": _date(last),
        "days": days,
        "trigger": trig,
        "indicators": json.loads(indicators or "{}"),
        "boosters": json.loads(boosters or "{}"),
        "sequences": json.loads(sequences or "[]"),
        "created_at": _date(created),
        "updated_at": _date(updated),
    }


_ALERT_COLS = (
    'alert_id, policy, "user", status, severity, score, first_day, last_day, days, '
    "trigger_record, indicators, boosters, sequences, created_at, updated_at"
)


def list_alerts(
    store: StoreLike = None,
    *,
    reveal: bool = False,
    policy: str | None = None,
    severity: str | None = None,
    status: str | None = None,
    actor: str | None = None,
) -> list[dict[str, Any]]:
    """Alerts, most severe and most recent first; users pseudonymised unless ``reveal``."""
    rs = open_store(store)
    names = _Names(rs, reveal)
    where, params = [], []
    for col, value in (("policy", policy), ("severity", severity), ("status", status)):
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    sql = (
        f"SELECT {_ALERT_COLS} FROM alerts {'WHERE ' + ' AND '.join(where) if where else ''} "
        "ORDER BY score DESC, last_day DESC, alert_id"
    )
    with rs.connect() as con:
        rows = con.execute(sql, params).fetchall()
        if reveal and rows:
            record_reveal(con, f"alert list ({len(rows)} alerts)", actor=actor)
    return [_alert_row(r, names) for r in rows]


def get_alert(
    store: StoreLike,
    alert_id: str,
    *,
    reveal: bool = False,
    max_events: int = 50,
    policies: dict[str, Policy] | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """One alert with its explanation: trigger, indicators with the user's baseline, peers,
    sequences, a daily timeline over the user's window, and the raw events behind it."""
    rs = open_store(store)
    names = _Names(rs, reveal)
    with rs.connect() as con:
        row = con.execute(
            f"SELECT {_ALERT_COLS} FROM alerts WHERE alert_id = ?", [alert_id]
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"no alert {alert_id!r}", hint="list them with 'hrsignal risk alerts'"
            )
        alert = _alert_row(row, names)
        user, policy_name = str(row[2]), str(row[1])
        pol = (policies or available_policies(rs.data_dir / "policies")).get(policy_name)
        scope = con.execute(
            'SELECT window_start, window_end FROM scope_state WHERE policy = ? AND "user" = ?',
            [policy_name, user],
        ).fetchone()
        days = con.execute(
            """SELECT day, score, alerting, indicators, boosters, sequences FROM user_days
            WHERE policy = ? AND "user" = ? ORDER BY day""",
            [policy_name, user],
        ).fetchall()
        alert["window"] = {"start": _date(scope[0]), "end": _date(scope[1])} if scope else None
        alert["timeline"] = [_timeline_day(d) for d in days]
        peak = max((d for d in days if d[2]), key=lambda d: d[1], default=None)
        alert["peers"] = json.loads(peak[4])["cumulative_exfiltration"] if peak else None
        alert["events"] = _events(con, pol, user, row[6], row[7], max_events, names) if pol else []
        if reveal:
            record_reveal(con, f"alert {alert_id}", actor=actor)
    return alert


def _timeline_day(d: tuple[Any, ...]) -> dict[str, Any]:
    ind = json.loads(d[3])
    return {
        "day": _date(d[0]),
        "score": d[1],
        "alerting": d[2],
        "counts": {k: v["count"] for k, v in ind.items() if v["count"]},
    }


def _events(
    con: duckdb.DuckDBPyConnection,
    policy: Policy,
    user: str,
    first: Any,
    last: Any,
    limit: int,
    names: _Names,
) -> list[dict[str, Any]]:
    """The raw events of the alert's days that match the policy's indicators."""
    pred = PolicyCompiler(policy).any_predicate(policy.indicators)
    rows = con.execute(
        f"""SELECT "time", "user", device, activity, object, target, bytes, sensitivity,
               destination_domain, source, record_id FROM events
        WHERE "user" = ? AND day BETWEEN ? AND ? AND {pred}
        ORDER BY "time", record_id LIMIT ?""",
        [user, first, last, limit],
    ).fetchall()
    keys = (
        "time",
        "user",
        "device",
        "activity",
        "object",
        "target",
        "bytes",
        "sensitivity",
        "destination_domain",
        "source",
        "record_id",
    )
    out = []
    for r in rows:
        ev = dict(zip(keys, r, strict=True))
        ev["time"] = r[0].isoformat() if r[0] is not None else None
        ev["user"] = names(r[1])
        for field in ("device", "object", "target"):
            ev[field] = names.mask(ev[field], r[1])
        out.append(ev)
    return out


def users_in_scope(
    store: StoreLike = None,
    *,
    policy: str | None = None,
    reveal: bool = False,
    actor: str | None = None,
) -> list[dict[str, Any]]:
    """Users currently in a policy's scope, with the trigger and the window."""
    rs = open_store(store)
    names = _Names(rs, reveal)
    sql = (
        'SELECT policy, "user", trigger_record, window_start, window_end FROM scope_state'
        + (" WHERE policy = ?" if policy else "")
        + ' ORDER BY policy, "user"'
    )
    with rs.connect() as con:
        rows = con.execute(sql, [policy] if policy else []).fetchall()
        if reveal and rows:
            record_reveal(con, f"scope list ({len(rows)} users)", actor=actor)
    out = []
    for pol, user, trig, start, end in rows:
        t = json.loads(trig) if trig else {}
        out.append(
            {
                "policy": pol,
                "user": names(user),
                "trigger_scenario": t.get("scenario"),
                "window_start": _date(start),
                "window_end": _date(end),
            }
        )
    return out


def user_risk_levels(
    store: StoreLike = None, *, reveal: bool = False, actor: str | None = None
) -> list[dict[str, Any]]:
    """Every user's current insider risk level (minor / moderate / elevated; 'none' after
    a level fell back is kept so consumers see the change)."""
    rs = open_store(store)
    names = _Names(rs, reveal)
    with rs.connect() as con:
        rows = con.execute(
            'SELECT "user", level, previous, since, alert_id FROM risk_levels ORDER BY "user"'
        ).fetchall()
        if reveal and rows:
            record_reveal(con, f"risk levels ({len(rows)} users)", actor=actor)
    return [
        {
            "user": names(u),
            "level": lv,
            "previous": prev,
            "since": s.isoformat() + "Z" if isinstance(s, dt.datetime) else None,
            "alert_id": aid,
        }
        for u, lv, prev, s, aid in rows
    ]


def reveal_user(store: StoreLike, alias: str, *, actor: str | None = None) -> str:
    """The user behind a pseudonym (recorded in the reveal audit)."""
    rs = open_store(store)
    key = rs.pseudonym_key()
    with rs.connect() as con:
        user = reveal(con, key, alias, actor=actor)
    if user is None:
        raise NotFoundError(f"no known user has the pseudonym {alias!r}")
    return user


def set_alert_status(
    store: StoreLike,
    alert_id: str,
    status: str,
    reason: str | None = None,
    *,
    actor: str | None = None,
) -> None:
    """Triage: needs_review -> confirmed / dismissed -> resolved; who (``actor``: a dashboard
    account, else the OS account), when and why are recorded (:func:`triage_history`)."""
    from hrsignal.errors import UsageError

    allowed = ("needs_review", "confirmed", "dismissed", "resolved")
    if status not in allowed:
        raise UsageError(f"status {status!r}; expected one of {', '.join(allowed)}")
    rs = open_store(store)
    with rs.connect() as con:
        found = con.execute("SELECT 1 FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
        if not found:
            raise NotFoundError(f"no alert {alert_id!r}")
        con.execute(
            "UPDATE alerts SET status = ?, updated_at = now()::TIMESTAMP WHERE alert_id = ?",
            [status, alert_id],
        )
        con.execute(
            "INSERT INTO triage VALUES (?, now()::TIMESTAMP, ?, ?, ?)",
            [alert_id, actor or _os_actor(), status, reason],
        )


def triage_history(store: StoreLike, alert_id: str) -> list[dict[str, Any]]:
    """The alert's triage actions, oldest first: ``at``, ``actor``, ``status``, ``reason``."""
    rs = open_store(store)
    with rs.connect() as con:
        rows = con.execute(
            "SELECT triaged_at, actor, status, reason FROM triage WHERE alert_id = ? "
            "ORDER BY triaged_at",
            [alert_id],
        ).fetchall()
    return [
        {"at": at.isoformat() + "Z", "actor": actor, "status": st, "reason": reason}
        for at, actor, st, reason in rows
    ]


__all__ = [
    "default_data_dir",
    "get_alert",
    "list_alerts",
    "reveal_user",
    "set_alert_status",
    "triage_history",
    "user_risk_levels",
    "users_in_scope",
]
