"""Compile a :class:`~hrsignal.risk.policy.Policy` into one SQL query, pySigma-style.

The compiler knows the scoring model; a :class:`Dialect` knows an engine's spelling. Every engine
difference the query needs (counting with a filter, date arithmetic, range windows over days,
quantiles, JSON objects, list filtering, identifier and string quoting) is a method of the
dialect, so another engine (Spark SQL is the planned one) adds a dialect, not a rewrite. Golden
tests pin the generated SQL.

The query reads two relations the engine provides:

* ``events``: the event model (see :mod:`hrsignal.risk.events`) plus ``day``;
* ``_targets``: one row per user to score, with ``lo``/``hi`` (the days to score),
  ``window_start``/``window_end``, ``department`` and ``priority``.
* ``directory``: user -> department, for peer groups.

and returns one row per scored user-day that has any indicator activity: ``user, day, score,
alerting, indicators, boosters, sequences`` (the last three as JSON text).

Scoring (design, see docs/risk.md): each indicator's daily count gets a level against its
thresholds and that level's points; boosters add points (count above the user's own baseline
over the previous N days, cumulative exfiltration over the last N days above the department's
quantile, priority content, priority user, each sequence completed that day); the score is
capped at 100. A user-day is *alerting* when an indicator reached at least its low threshold and
the score reaches ``alert_min_score``. A day's score depends only on that day and the days
before it, which is what makes incremental runs equal to a full run.
"""

# ruff: noqa: S608 - this module generates SQL; every value goes through the dialect's quoting

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from hrsignal.risk.policy import Condition, Indicator, Policy, Sequence


class Dialect:
    """How one SQL engine spells what the compiler needs. This class is DuckDB's."""

    name = "duckdb"

    def ident(self, name: str) -> str:
        """Quote an identifier."""
        return '"' + name.replace('"', '""') + '"'

    def string(self, value: str) -> str:
        """Quote a string literal."""
        return "'" + value.replace("'", "''") + "'"

    def literal(self, value: Any) -> str:
        """A literal for a condition value."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        return self.string(str(value))

    def count_if(self, cond: str) -> str:
        """Count rows where ``cond`` holds (aggregate)."""
        return f"count(*) FILTER (WHERE {cond})"

    def date(self, value: dt.date) -> str:
        """A date literal."""
        return f"DATE '{value.isoformat()}'"

    def days_before(self, day: str, n: int) -> str:
        """``day`` minus ``n`` days, as a date."""
        return f"CAST({day} - INTERVAL {int(n)} DAY AS DATE)"

    def hours(self, n: int) -> str:
        """An interval of ``n`` hours."""
        return f"INTERVAL {int(n)} HOUR"

    def to_day(self, ts: str) -> str:
        """The date of a timestamp."""
        return f"CAST({ts} AS DATE)"

    def days_window(self, partition: str, order: str, first: int, last: int) -> str:
        """A window frame over the days ``first``..``last`` before the current row's day."""
        end = "CURRENT ROW" if last == 0 else f"INTERVAL {last} DAYS PRECEDING"
        return (
            f"(PARTITION BY {partition} ORDER BY {order} "
            f"RANGE BETWEEN INTERVAL {first} DAYS PRECEDING AND {end})"
        )

    def quantile(self, expr: str, q: float) -> str:
        """A continuous quantile aggregate."""
        return f"quantile_cont({expr}, {q!r})"

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        """A JSON object (as text) from key/expression pairs."""
        inner = ", ".join(f"{self.string(k)}, {v}" for k, v in pairs)
        return f"json_object({inner})"

    def non_null_list(self, items: list[str]) -> str:
        """A list of the non-null items (JSON-compatible)."""
        if not items:
            return "[]::VARCHAR[]"
        return f"list_filter([{', '.join(items)}], lambda x: x IS NOT NULL)"

    def cast(self, expr: str, type_: str) -> str:
        """``CAST(expr AS type)``; ``type_`` is one of TIMESTAMP, INTEGER, VARCHAR."""
        return f"CAST({expr} AS {type_})"

    def list_len(self, expr: str) -> str:
        """The length of a list."""
        return f"len({expr})"

    def json_list_text(self, expr: str) -> str:
        """A list of JSON objects as JSON text."""
        return f"CAST(to_json({expr}) AS VARCHAR)"

    def empty_json_list(self) -> str:
        """An empty list of JSON objects."""
        return "[]::JSON[]"

    def like_escape(self, text: str) -> str:
        """Escape LIKE wildcards in ``text``."""
        return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    def condition(self, cond: Condition, alias: str = "") -> str:
        """One condition of an indicator's ``where``."""
        col = (alias + "." if alias else "") + self.ident(cond.field)
        vals = cond.values
        if cond.op == "null":
            return f"({col} IS {'' if vals[0] else 'NOT '}NULL)"
        if cond.op == "eq":
            if len(vals) == 1:
                return f"({col} = {self.literal(vals[0])})"
            return f"({col} IN ({', '.join(self.literal(v) for v in vals)}))"
        if cond.op == "ne":
            return (
                f"({col} IS DISTINCT FROM {self.literal(vals[0])})"
                if len(vals) == 1
                else (f"({col} NOT IN ({', '.join(self.literal(v) for v in vals)}))")
            )
        if cond.op in ("gt", "gte", "lt", "lte"):
            sym = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[cond.op]
            return "(" + " OR ".join(f"{col} {sym} {self.literal(v)}" for v in vals) + ")"
        pattern = {"contains": "%{}%", "startswith": "{}%", "endswith": "%{}"}[cond.op]
        return (
            "("
            + " OR ".join(
                f"{col} ILIKE {self.string(pattern.format(self.like_escape(str(v))))} "
                f"ESCAPE {self.string(chr(92))}"
                for v in vals
            )
            + ")"
        )


class PolicyCompiler:
    """Turn one policy into the scoring query, for one dialect."""

    def __init__(self, policy: Policy, dialect: Dialect | None = None) -> None:
        self.policy = policy
        self.d = dialect or Dialect()

    # -- pieces --------------------------------------------------------------------------------

    def predicate(self, indicator: Indicator, alias: str = "") -> str:
        """The WHERE of one indicator."""
        return "(" + " AND ".join(self.d.condition(c, alias) for c in indicator.where) + ")"

    def any_predicate(self, indicators: list[Indicator] | tuple[Indicator, ...]) -> str:
        """Any of ``indicators`` matches."""
        return "(" + " OR ".join(self.predicate(i) for i in indicators) + ")"

    def lookback_days(self) -> int:
        """How many days before the first scored day the query must read."""
        p = self.policy
        seq_days = max((math.ceil(s.within_hours / 24) for s in p.sequences), default=0)
        return max(
            p.baseline.days if p.baseline.enabled else 0,
            p.cumulative.days - 1 if p.cumulative.enabled else 0,
            seq_days,
            0,
        )

    def _col(self, prefix: str, indicator: Indicator) -> str:
        return self.d.ident(f"{prefix}_{indicator.id}")

    def _level(self, indicator: Indicator) -> str:
        c = self._col("c", indicator)
        low, med, high = indicator.thresholds
        return (
            f"CASE WHEN {c} >= {high} THEN 3 WHEN {c} >= {med} THEN 2 "
            f"WHEN {c} >= {low} THEN 1 ELSE 0 END"
        )

    def _sequence_ctes(self, n: int, seq: Sequence) -> tuple[list[str], str]:
        """CTEs finding completed chains of ``seq``; returns (ctes, name of the per-day CTE).

        For each step's events, the latest start of a chain of the previous steps that ended
        strictly earlier is a running max over the time-ordered union (portable window
        functions, no ASOF join); the latest start is the best one for the time limit.
        """
        d = self.d
        within = d.hours(seq.within_hours)
        ctes = []
        user = d.ident("user")
        time = d.ident("time")

        def step_pred(k: int) -> str:
            return self.any_predicate([self.policy.indicator(i) for i in seq.steps[k].indicators])

        prev = f"_seq{n}_s0"
        ctes.append(
            f"{prev} AS (SELECT {user}, {time}, {time} AS start FROM _sev WHERE {step_pred(0)})"
        )
        for k in range(1, len(seq.steps)):
            name = f"_seq{n}_s{k}"
            ctes.append(
                f"""{name} AS (
    SELECT {user}, {time}, start FROM (
        SELECT {user}, {time}, k, max(start) OVER (PARTITION BY {user} ORDER BY {time}, k
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS start
        FROM (SELECT {user}, {time}, 1 AS k, start FROM {prev}
              UNION ALL
              SELECT {user}, {time}, 0 AS k, {d.cast("NULL", "TIMESTAMP")} AS start FROM _sev
              WHERE {step_pred(k)}) u
    ) w WHERE k = 0 AND start IS NOT NULL AND {time} - start <= {within})"""
            )
            prev = name
        out = f"_seq{n}"
        ctes.append(
            f"{out} AS (SELECT {user}, {d.to_day(time)} AS day, count(*) AS n, "
            f"min(start) AS first_start, min({time}) AS first_end FROM {prev} "
            f"GROUP BY {user}, {d.to_day(time)})"
        )
        return ctes, out

    # -- the query -----------------------------------------------------------------------------

    def events_query(self, days: tuple[dt.date, dt.date]) -> str:
        """The events the scoring query reads (its ``_ev`` relation), on their own.

        An engine that does not reuse a CTE referenced several times (Spark inlines it, and
        would scan the events once per reference) materialises this once and passes its name
        to :meth:`compile` as ``events_relation``. Only the columns the scoring reads are kept
        (those of the indicators' conditions, ``sensitivity`` for priority content, and the
        keys): what is materialised stays small.
        """
        d = self.d
        used = {"user", "day", "time", "sensitivity"}
        used |= {c.field for i in self.policy.indicators for c in i.where}
        inner = self._events_select(days)
        order = ["user", "day", "time", *sorted(used - {"user", "day", "time"})]
        return f"SELECT {', '.join(d.ident(c) for c in order)} FROM ({inner}) _relevant"

    def _events_select(self, days: tuple[dt.date, dt.date] | None) -> str:
        p, d = self.policy, self.d
        user, day = d.ident("user"), d.ident("day")
        look = self.lookback_days()
        # Every user's events are needed only for the peers' cumulative exfiltration (its last
        # N days); the longer baseline and sequence lookback is read for in-scope users only.
        peer_days = p.cumulative.days - 1 if p.cumulative.enabled else 0
        if days is None:
            lo, hi, source = "b.lo", "b.hi", "events e, _bounds b"
        else:
            lo, hi, source = d.date(days[0]), d.date(days[1]), "events e"
        peer_filter = f"e.{day} >= {d.days_before(lo, peer_days)}"
        return f"""SELECT e.{user}, e.{day}, e.{d.ident("time")}, e.activity, e.object,
        e.target, e.bytes, e.attachments, e.destination_domain, e.removable_media, e.external,
        e.sensitivity, e.url_category, e.device, e.record_id
    FROM {source}
    WHERE e.{day} BETWEEN {d.days_before(lo, look)} AND {hi}
      AND ({peer_filter} OR e.{user} IN (SELECT {user} FROM _targets))
      AND {self.any_predicate(p.indicators)}"""

    def compile(
        self, days: tuple[dt.date, dt.date] | None = None, *, events_relation: str | None = None
    ) -> str:
        """The scoring query (see the module docstring for its inputs and output).

        ``days`` (first and last scored day) lets the engine write the date range as
        literals, so the events' day partitions outside it are never opened; without it the
        range comes from ``_targets``. ``events_relation`` names a relation holding
        :meth:`events_query`'s rows, read instead of filtering ``events`` again.
        """
        p, d = self.policy, self.d
        user, day = d.ident("user"), d.ident("day")
        inds = p.indicators
        exfil = [i for i in inds if i.category == "exfiltration"]
        labels = p.priority_content.labels
        prio_cond = (
            f"sensitivity IN ({', '.join(d.string(x) for x in labels)})"
            if labels
            else "sensitivity IS NOT NULL"
        )
        counts = [f"{d.count_if(self.predicate(i))} AS {self._col('c', i)}" for i in inds]
        counts.append(f"{d.count_if(self.any_predicate(exfil)) if exfil else '0'} AS x_exfil")
        counts.append(f"{d.count_if(f'({self.any_predicate(inds)}) AND {prio_cond}')} AS x_prio")
        base_days = p.baseline.days
        base_w = d.days_window(f"d.{user}", f"d.{day}", base_days, 1)
        cum_w = d.days_window(f"d.{user}", f"d.{day}", max(p.cumulative.days - 1, 0), 0)
        baselines = [
            f"coalesce(sum({self._col('c', i)}) OVER {base_w}, 0) / {float(base_days)!r} "
            f"AS {self._col('b', i)}, coalesce(sum({self._col('c', i)}) OVER {base_w}, 0) "
            f"AS {self._col('s', i)}"
            for i in inds
        ]
        ev = f"SELECT * FROM {events_relation}" if events_relation else self._events_select(days)
        ctes = [
            "_bounds AS (SELECT min(lo) AS lo, max(hi) AS hi FROM _targets)",
            f"_ev AS ({ev})",
            f"_sev AS (SELECT * FROM _ev WHERE {user} IN (SELECT {user} FROM _targets))",
            f"""_daily AS (SELECT {user}, {day}, {", ".join(counts)}
    FROM _ev GROUP BY {user}, {day})""",
            f"""_feat AS (SELECT d.*, coalesce(lower(dir.department), '') AS dept,
        {", ".join(baselines)},
        sum(d.x_exfil) OVER {cum_w} AS x_cum,
        count(*) OVER {base_w} AS hist_days
    FROM _daily d LEFT JOIN directory dir ON dir.{user} = d.{user})""",
            # Rounded: engines interpolate in a different order (DuckDB 11.100000000000001,
            # Spark 11.1); six decimals make them agree and change no comparison of counts.
            f"""_peers AS (SELECT dept, {day},
        round({d.quantile("x_cum", p.cumulative.quantile)}, 6) AS peer_q,
        count(*) AS peer_n FROM _feat GROUP BY dept, {day})""",
        ]
        seq_joins, seq_points, seq_json = [], [], []
        for n, seq in enumerate(p.sequences):
            more, name = self._sequence_ctes(n, seq)
            ctes += more
            seq_joins.append(
                f"LEFT JOIN {name} ON {name}.{user} = f.{user} AND {name}.{day} = f.{day}"
            )
            found = f"{name}.n >= {seq.min_chains}"
            seq_points.append(f"CASE WHEN {found} THEN {seq.points} ELSE 0 END")
            seq_json.append(
                f"CASE WHEN {found} THEN "
                + d.json_object(
                    [
                        ("id", d.string(seq.id)),
                        ("count", f"{name}.n"),
                        ("first_start", d.cast(f"{name}.first_start", "VARCHAR")),
                        ("first_end", d.cast(f"{name}.first_end", "VARCHAR")),
                        ("points", str(seq.points)),
                    ]
                )
                + " END"
            )
        levels = [f"{self._level(i)} AS {self._col('l', i)}" for i in inds]
        pts = p.scoring.points
        ind_points = " + ".join(
            f"CASE {self._col('l', i)} WHEN 3 THEN {pts[2]} WHEN 2 THEN {pts[1]} "
            f"WHEN 1 THEN {pts[0]} ELSE 0 END"
            for i in inds
        )
        any_level = " OR ".join(f"{self._col('l', i)} >= 1" for i in inds)
        # count > multiplier x max(baseline, 1), multiplied out by the baseline's days: exact
        # in every engine (a divided baseline is a double in DuckDB and a decimal in Spark,
        # and the two disagree where the product lands on a whole count).
        above = [
            f"CASE WHEN {self._col('l', i)} >= 1 AND {self._col('c', i)} * {base_days} > "
            f"{p.baseline.multiplier!r} * greatest({self._col('s', i)}, {base_days}) "
            f"THEN {d.string(i.id)} END"
            for i in inds
        ]
        # A baseline needs history: a user seen on fewer days (new data, new joiner) has none.
        above_list = (
            f"CASE WHEN hist_days >= {p.baseline.min_history_days} THEN "
            f"{d.non_null_list(above)} ELSE {d.non_null_list([])} END"
            if p.baseline.enabled
            else d.non_null_list([])
        )
        cum = p.cumulative
        cum_hit = (
            f"(x_cum >= {cum.min_events} AND x_cum > {cum.multiplier!r} * "
            f"greatest(coalesce(peer_q, 0), 1))"
            if cum.enabled
            else "false"
        )
        prio_hit = f"(x_prio > 0 AND ({any_level}))" if p.priority_content.enabled else "false"
        booster_points = (
            f"CASE WHEN {d.list_len('above_baseline')} > 0 THEN {p.baseline.points} ELSE 0 END"
            f" + CASE WHEN cum_hit THEN {cum.points} ELSE 0 END"
            f" + CASE WHEN prio_hit THEN {p.priority_content.points} ELSE 0 END"
            f" + CASE WHEN priority AND ({any_level}) THEN {p.priority_points} ELSE 0 END"
        )
        indicators_json = d.json_object(
            [
                (
                    i.id,
                    d.json_object(
                        [
                            ("count", self._col("c", i)),
                            ("level", self._col("l", i)),
                            ("baseline", f"round({self._col('b', i)}, 3)"),
                        ]
                    ),
                )
                for i in inds
            ]
        )
        boosters_json = d.json_object(
            [
                ("above_baseline", "above_baseline"),
                (
                    "cumulative_exfiltration",
                    d.json_object(
                        [
                            ("hit", "cum_hit"),
                            ("user", "x_cum"),
                            ("peer_quantile", "peer_q"),
                            ("peers", "peer_n"),
                            ("department", "dept"),
                        ]
                    ),
                ),
                ("priority_content", d.json_object([("hit", "prio_hit"), ("events", "x_prio")])),
                ("priority_user", "priority"),
            ]
        )
        sequences_json = d.non_null_list(seq_json) if seq_json else d.empty_json_list()
        ctes.extend(
            [
                f"""_scored AS (SELECT f.*, t.priority, p.peer_q, p.peer_n,
        {", ".join(levels)},
        {" + ".join(seq_points) if seq_points else "0"} AS seq_points,
        {sequences_json} AS seqs
    FROM _targets t
    JOIN _feat f ON f.{user} = t.{user} AND f.{day} BETWEEN t.lo AND t.hi
    LEFT JOIN _peers p ON p.dept = f.dept AND p.{day} = f.{day}
    {" ".join(seq_joins)})""",
                f"""_boosted AS (SELECT *, {above_list} AS above_baseline, {cum_hit} AS cum_hit,
        {prio_hit} AS prio_hit FROM _scored)""",
            ]
        )
        return (
            "WITH "
            + ",\n".join(ctes)
            + f"""
SELECT {user}, {day},
    {d.cast(f"least(100, {ind_points} + {booster_points} + seq_points)", "INTEGER")} AS score,
    ({any_level}) AND least(100, {ind_points} + {booster_points} + seq_points)
        >= {p.scoring.alert_min_score} AS alerting,
    {d.cast(indicators_json, "VARCHAR")} AS indicators,
    {d.cast(boosters_json, "VARCHAR")} AS boosters,
    {d.json_list_text("seqs")} AS sequences
FROM _boosted"""
        )
