"""Run policies over the analytics store: scope from HR triggers, score user-days with the
compiled query, and keep one alert per user and policy up to date.

A run is *incremental* by default: users whose trigger (and so window) is unchanged are scored
only from the last day of the previous run (or ``--since``) to the latest event day; new or
changed users are scored over their whole window; a changed policy forces a full run. Because a
day's score depends only on that day and earlier ones (see :mod:`hrsignal.risk.compiler`), the
user-day scores, and the alerts aggregated from them, equal those of a full run.
"""

# ruff: noqa: S608 - SQL is generated from validated policy data and quoted literals

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb

from hrsignal.errors import StoreError, UsageError
from hrsignal.risk.compiler import Dialect, PolicyCompiler
from hrsignal.risk.policy import Policy, Trigger
from hrsignal.risk.store import RiskStore

Progress = Callable[[str], None]


class ScoringBackend(Protocol):
    """Where the compiled scoring query runs; the default is DuckDB over the store's events.

    Everything else (scope, targets, incremental state, alerts, levels) stays in the store:
    a backend only reads the events and returns the scored user-days. The Spark backend is
    :class:`hrsignal.risk.spark_backend.SparkBackend`.
    """

    dialect: Dialect

    def max_event_day(self) -> str | None:
        """The latest day with events (``YYYY-MM-DD``), or None when there are none."""
        ...

    def score(
        self,
        con: duckdb.DuckDBPyConnection,
        compiler: PolicyCompiler,
        days: tuple[dt.date, dt.date],
    ) -> None:
        """Run the compiler's query for ``days`` over the events and ``con``'s ``_targets`` and
        ``directory``; leave its rows in ``con``'s temp table ``_result``."""
        ...


@dataclass(slots=True)
class RunSummary:
    """What one policy run did."""

    policy: str
    mode: str
    first_day: str | None = None
    last_day: str | None = None
    users_in_scope: int = 0
    users_scored: int = 0
    user_days: int = 0
    alerting_days: int = 0
    alerts_new: int = 0
    alerts_updated: int = 0
    alerts_total: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    #: with a dry run: the alerts the policy would have (user, severity, score, days)
    preview: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of ``risk run --format json``."""
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class RunOptions:
    """How to run: from which day, or everything again."""

    since: dt.date | None = None
    full: bool = False
    #: score everything and report the alerts, then roll back: nothing is stored
    dry_run: bool = False
    progress: Progress | None = None
    dialect: Dialect = field(default_factory=Dialect)
    #: run the scoring query elsewhere (its dialect replaces ``dialect``); None = DuckDB
    backend: ScoringBackend | None = None


def _trigger_sql(t: Trigger) -> str:
    cols = {
        "ResignationDate": "resignation_date",
        "LastWorkingDate": "last_working_date",
        "EffectiveDate": "effective_date",
    }
    date = cols[t.date]
    end = cols[t.end] if t.end else None
    where = [f"scenario = '{t.scenario}'", f"{date} IS NOT NULL"]
    if t.rating_at_most is not None:
        where.append(
            f"TRY_CAST(regexp_extract(rating, '(\\d+)', 1) AS INTEGER) <= {int(t.rating_at_most)}"
        )
    if t.level_downgrade:
        where.append(
            "TRY_CAST(regexp_extract(new_level, '(\\d+)', 1) AS INTEGER) < "
            "TRY_CAST(regexp_extract(old_level, '(\\d+)', 1) AS INTEGER)"
        )
    record = (
        "json_object('scenario', scenario, 'EmailAddress', \"user\", "
        "'ResignationDate', resignation_date, 'LastWorkingDate', last_working_date, "
        "'EffectiveDate', effective_date, 'OldLevel', old_level, 'NewLevel', new_level, "
        "'Rating', rating, 'Remarks', remarks, 'origin', origin)"
    )
    return (
        f'SELECT "user", {date} AS trigger_time, {end or "NULL::TIMESTAMP"} AS end_time, '
        f"CAST({record} AS VARCHAR) AS trigger_record FROM hr_triggers WHERE " + " AND ".join(where)
    )


def build_scope(con: duckdb.DuckDBPyConnection, policy: Policy) -> None:
    """Create ``_scope``: one row per in-scope user (their latest trigger) with the window."""
    w = policy.windows
    union = " UNION ALL ".join(_trigger_sql(t) for t in policy.triggers)
    filters = []
    if policy.include_groups or policy.include_users:
        groups = ", ".join(f"'{g.replace(chr(39), chr(39) * 2)}'" for g in policy.include_groups)
        users = ", ".join(f"'{u.replace(chr(39), chr(39) * 2)}'" for u in policy.include_users)
        parts = []
        if groups:
            parts.append(f"lower(d.department) IN ({groups})")
        if users:
            parts.append(f't."user" IN ({users})')
        filters.append("(" + " OR ".join(parts) + ")")
    if policy.exclude_users:
        users = ", ".join(f"'{u.replace(chr(39), chr(39) * 2)}'" for u in policy.exclude_users)
        filters.append(f't."user" NOT IN ({users})')
    prio_users = ", ".join(f"'{u.replace(chr(39), chr(39) * 2)}'" for u in policy.priority_users)
    prio_groups = ", ".join(f"'{g.replace(chr(39), chr(39) * 2)}'" for g in policy.priority_groups)
    priority = (
        " OR ".join(
            ([f't."user" IN ({prio_users})'] if prio_users else [])
            + ([f"lower(d.department) IN ({prio_groups})"] if prio_groups else [])
        )
        or "false"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _scope AS
        WITH t AS (SELECT * FROM ({union}) QUALIFY row_number() OVER (
            PARTITION BY "user" ORDER BY trigger_time DESC, trigger_record) = 1)
        SELECT t."user", t.trigger_time, t.end_time, t.trigger_record,
            CAST(CAST(t.trigger_time AS DATE) - INTERVAL {w.past_activity_days} DAY AS DATE)
                AS window_start,
            CAST(greatest(CAST(t.trigger_time AS DATE) + INTERVAL {w.activation_days} DAY,
                coalesce(CAST(t.end_time AS DATE) + INTERVAL {w.after_last_working_days} DAY,
                         CAST(t.trigger_time AS DATE))) AS DATE) AS window_end,
            coalesce(d.department, '') AS department,
            ({priority}) AS priority
        FROM t LEFT JOIN directory d ON d."user" = t."user"
        {"WHERE " + " AND ".join(filters) if filters else ""}"""
    )
    con.execute(
        """ALTER TABLE _scope ADD COLUMN fingerprint VARCHAR;
        UPDATE _scope SET fingerprint = md5(concat_ws('|', trigger_record, window_start,
            window_end, department, priority))"""
    )


def run_policy(store: RiskStore, policy: Policy, options: RunOptions) -> RunSummary:
    """Score ``policy`` and update its alerts; return the summary."""
    started = time.perf_counter()
    backend = options.backend
    max_day = backend.max_event_day() if backend else store.max_event_day()
    compiler = PolicyCompiler(policy, backend.dialect if backend else options.dialect)
    phash = policy.fingerprint()
    with store.connect() as con:
        state = con.execute(
            "SELECT last_day, policy_hash FROM policy_state WHERE policy = ?", [policy.name]
        ).fetchone()
        full = options.full or options.dry_run or state is None or state[1] != phash
        summary = RunSummary(
            policy=policy.name, mode="full" if full else "incremental", dry_run=options.dry_run
        )
        build_scope(con, policy)
        row = con.execute("SELECT count(*) FROM _scope").fetchone()
        summary.users_in_scope = int(row[0]) if row else 0
        if max_day is None:
            if not options.dry_run:
                _commit_state(con, policy, phash, None, full)
            summary.seconds = time.perf_counter() - started
            return summary
        resume = options.since or (None if full else state[0] if state else None)
        _progress(options, f"{policy.name}: {summary.mode} run up to {max_day}")
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _targets AS
            SELECT s."user", s.window_start, s.window_end, s.department, s.priority,
                (? OR p.fingerprint IS NULL OR p.fingerprint <> s.fingerprint) AS reset,
                CASE WHEN ? OR p.fingerprint IS NULL OR p.fingerprint <> s.fingerprint
                     OR ?::DATE IS NULL THEN s.window_start
                     ELSE greatest(s.window_start, ?::DATE) END AS lo,
                least(s.window_end, ?::DATE) AS hi
            FROM _scope s LEFT JOIN scope_state p ON p.policy = ? AND p."user" = s."user"
            """,
            [full, full, resume, resume, max_day, policy.name],
        )
        con.execute("DELETE FROM _targets WHERE lo > hi AND NOT reset")
        bounds = con.execute(
            "SELECT min(lo), max(hi), count(*) FROM _targets WHERE lo <= hi"
        ).fetchone()
        summary.users_scored = int(bounds[2]) if bounds else 0
        if bounds and bounds[0] is not None:
            summary.first_day, summary.last_day = str(bounds[0]), str(bounds[1])
        if summary.users_scored and bounds and bounds[0] is not None:
            # Literal dates let the engine skip the day partitions outside the range.
            if backend is not None:
                backend.score(con, compiler, (bounds[0], bounds[1]))
            else:
                _score(con, policy, compiler.compile((bounds[0], bounds[1])))
        else:  # nobody to score; removed users' days and alerts still go below
            _score(con, policy, "SELECT * EXCLUDE (policy) FROM user_days WHERE false")
        counts = con.execute("SELECT count(*), count(*) FILTER (WHERE alerting) FROM _result")
        n = counts.fetchone()
        summary.user_days, summary.alerting_days = (int(n[0]), int(n[1])) if n else (0, 0)
        con.execute("BEGIN")
        try:
            if full:
                con.execute("DELETE FROM user_days WHERE policy = ?", [policy.name])
            con.execute(
                """DELETE FROM user_days u WHERE u.policy = ? AND (
                    u."user" NOT IN (SELECT "user" FROM _scope)
                    OR EXISTS (SELECT 1 FROM _targets t WHERE t."user" = u."user"
                               AND (t.reset OR u.day BETWEEN t.lo AND t.hi)))""",
                [policy.name],
            )
            con.execute(
                'INSERT INTO user_days SELECT ?, "user", day, score, alerting, indicators, '
                "boosters, sequences FROM _result",
                [policy.name],
            )
            new, updated, total = _update_alerts(con, policy)
            summary.alerts_new, summary.alerts_updated, summary.alerts_total = new, updated, total
            _commit_state(con, policy, phash, max_day, full)
            if options.dry_run:
                summary.preview = _preview(con, policy)
                con.execute("ROLLBACK")
            else:
                con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    summary.seconds = time.perf_counter() - started
    return summary


def _score(con: duckdb.DuckDBPyConnection, policy: Policy, sql: str) -> None:
    """Leave the scored user-days in ``_result`` (DuckDB over the store's events)."""
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _result AS {sql}")
    except duckdb.Error as exc:
        raise StoreError(f"policy {policy.name}: the scoring query failed ({exc})") from None


def _preview(con: duckdb.DuckDBPyConnection, policy: Policy) -> list[dict[str, Any]]:
    rows = con.execute(
        'SELECT "user", severity, score, first_day, last_day, days FROM alerts '
        'WHERE policy = ? ORDER BY score DESC, "user"',
        [policy.name],
    ).fetchall()
    keys = ("user", "severity", "score", "first_day", "last_day", "days")
    return [
        dict(zip(keys, (str(r[0]), r[1], r[2], str(r[3]), str(r[4]), r[5]), strict=True))
        for r in rows
    ]


def _commit_state(
    con: duckdb.DuckDBPyConnection, policy: Policy, phash: str, last_day: str | None, full: bool
) -> None:
    con.execute(
        "INSERT OR REPLACE INTO policy_state VALUES (?, ?, NULL, ?, now()::TIMESTAMP)",
        [policy.name, last_day, phash],
    )
    con.execute("DELETE FROM scope_state WHERE policy = ?", [policy.name])
    con.execute(
        """INSERT INTO scope_state SELECT ?, "user", fingerprint, trigger_record,
        window_start, window_end FROM _scope""",
        [policy.name],
    )


def alert_id(policy: str, user: str) -> str:
    """The stable id of the alert of ``user`` under ``policy`` (one alert per pair)."""
    return "A-" + hashlib.sha256(f"{policy}\0{user.casefold()}".encode()).hexdigest()[:10]


def _update_alerts(con: duckdb.DuckDBPyConnection, policy: Policy) -> tuple[int, int, int]:
    """Rebuild the alerts of every user scored in this run from their alerting days."""
    rows = con.execute(
        """SELECT u."user", u.day, u.score, u.indicators, u.boosters, u.sequences
        FROM user_days u WHERE u.policy = ? AND u.alerting
          AND u."user" IN (SELECT "user" FROM _targets)
        ORDER BY u."user", u.day""",
        [policy.name],
    ).fetchall()
    by_user: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_user.setdefault(str(r[0]), []).append(r)
    triggers = dict(con.execute('SELECT "user", trigger_record FROM _scope').fetchall())
    existing = {
        str(r[0]): r[1:]
        for r in con.execute(
            "SELECT alert_id, status, score, last_day, days FROM alerts WHERE policy = ?",
            [policy.name],
        ).fetchall()
    }
    new = updated = 0
    targets = [str(r[0]) for r in con.execute('SELECT "user" FROM _targets').fetchall()]
    gone = [u for u in targets if u not in by_user]
    gone += [
        str(r[0])
        for r in con.execute(
            'SELECT "user" FROM alerts WHERE policy = ? AND "user" NOT IN '
            '(SELECT "user" FROM _scope)',
            [policy.name],
        ).fetchall()
    ]
    for user in gone:  # no alerting day any more: drop an untouched alert, keep a triaged one
        con.execute(
            "DELETE FROM alerts WHERE alert_id = ? AND status = 'needs_review'",
            [alert_id(policy.name, user)],
        )
    for user, days in by_user.items():
        aid = alert_id(policy.name, user)
        summary = summarise_days(policy, days)
        values = [
            policy.scoring.severity(summary["score"]),
            summary["score"],
            summary["first_day"],
            summary["last_day"],
            len(days),
            triggers.get(user),
            json.dumps(summary["indicators"], sort_keys=True),
            json.dumps(summary["boosters"], sort_keys=True),
            json.dumps(summary["sequences"], sort_keys=True),
        ]
        old = existing.get(aid)
        if old is None:
            con.execute(
                "INSERT INTO alerts VALUES (?, ?, ?, 'needs_review', ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " now()::TIMESTAMP, now()::TIMESTAMP)",
                [aid, policy.name, user, *values],
            )
            new += 1
        else:
            changed = (old[1], str(old[2]), old[3]) != (
                summary["score"],
                str(summary["last_day"]),
                len(days),
            )
            con.execute(
                """UPDATE alerts SET severity = ?, score = ?, first_day = ?, last_day = ?,
                days = ?, trigger_record = ?, indicators = ?, boosters = ?, sequences = ?,
                updated_at = CASE WHEN ? THEN now()::TIMESTAMP ELSE updated_at END
                WHERE alert_id = ?""",
                [*values, changed, aid],
            )
            updated += int(changed)
    total = con.execute("SELECT count(*) FROM alerts WHERE policy = ?", [policy.name]).fetchone()
    return new, updated, int(total[0]) if total else 0


def summarise_days(policy: Policy, days: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Aggregate alerting user-days: peak score, indicators, boosters, sequences."""
    indicators: dict[str, dict[str, Any]] = {}
    boosters: dict[str, list[str]] = {}
    sequences: list[dict[str, Any]] = []
    peak = max(days, key=lambda r: (r[2], r[1]))
    for _, day, _score, ind_json, boost_json, seq_json in days:
        day_s = str(day)
        for ident, v in json.loads(ind_json).items():
            if not v["count"]:
                continue
            agg = indicators.setdefault(
                ident,
                {
                    "title": policy.indicator(ident).title,
                    "events": 0,
                    "days": 0,
                    "max_level": 0,
                    "max_daily": 0,
                    "baseline_at_peak": None,
                },
            )
            agg["events"] += v["count"]
            agg["days"] += 1
            agg["max_level"] = max(agg["max_level"], v["level"])
            if v["count"] > agg["max_daily"]:
                agg["max_daily"], agg["baseline_at_peak"] = v["count"], v["baseline"]
        b = json.loads(boost_json)
        if b["above_baseline"]:
            boosters.setdefault("above_baseline", []).append(day_s)
        if b["cumulative_exfiltration"]["hit"]:
            boosters.setdefault("cumulative_exfiltration", []).append(day_s)
        if b["priority_content"]["hit"]:
            boosters.setdefault("priority_content", []).append(day_s)
        if b["priority_user"]:
            boosters.setdefault("priority_user", []).append(day_s)
        for s in json.loads(seq_json) or []:
            sequences.append({"day": day_s, **s})
    return {
        "score": int(peak[2]),
        "first_day": days[0][1],
        "last_day": days[-1][1],
        "indicators": indicators,
        "boosters": boosters,
        "sequences": sequences,
    }


def run_policies(store: RiskStore, policies: list[Policy], options: RunOptions) -> list[RunSummary]:
    """Run each policy; refuse when there are no HR triggers at all."""
    if not policies:
        raise UsageError("no policy to run", hint="see 'hrsignal risk policies list'")
    with store.connect() as con:
        row = con.execute("SELECT count(*) FROM hr_triggers").fetchone()
    if not row or not row[0]:
        raise UsageError(
            "no HR triggers: nobody is in any policy's scope",
            hint="pass --hr FILE (a resignations CSV) or --db URL (the connector's store)",
        )
    return [run_policy(store, p, options) for p in policies]


def _progress(options: RunOptions, message: str) -> None:
    if options.progress:
        options.progress(message)
