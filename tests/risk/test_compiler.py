"""The policy compiler: condition quoting per operator, and golden SQL for the templates.

Regenerate the golden files after an intended change with ``HRSIGNAL_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from hrsignal.risk.compiler import Dialect, PolicyCompiler
from hrsignal.risk.policy import Condition, available_policies

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    ("cond", "sql"),
    [
        (Condition("activity", "eq", ("FilePrinted",)), "(\"activity\" = 'FilePrinted')"),
        (Condition("activity", "eq", ("A", "B")), "(\"activity\" IN ('A', 'B'))"),
        (Condition("external", "eq", (True,)), '("external" = true)'),
        (Condition("attachments", "gte", (1,)), '("attachments" >= 1)'),
        (Condition("bytes", "lt", (10.5,)), '("bytes" < 10.5)'),
        (Condition("sensitivity", "null", (False,)), '("sensitivity" IS NOT NULL)'),
        (Condition("sensitivity", "null", (True,)), '("sensitivity" IS NULL)'),
        (Condition("device", "ne", ("x",)), "(\"device\" IS DISTINCT FROM 'x')"),
        (
            Condition("object", "contains", ("50%_off",)),
            "(\"object\" ILIKE '%50\\%\\_off%' ESCAPE '\\')",
        ),
        (
            Condition("object", "startswith", ("O'Brien",)),
            "(\"object\" ILIKE 'O''Brien%' ESCAPE '\\')",
        ),
        (
            Condition("target", "endswith", (".zip", ".7z")),
            "(\"target\" ILIKE '%.zip' ESCAPE '\\' OR \"target\" ILIKE '%.7z' ESCAPE '\\')",
        ),
    ],
)
def test_condition_sql(cond: Condition, sql: str) -> None:
    """Each operator compiles to the expected DuckDB predicate, quotes and wildcards escaped."""
    assert Dialect().condition(cond) == sql


@pytest.mark.parametrize(
    ("value", "matches"),
    [("50%_off.docx", True), ("50xyoff.docx", False), ("the 50%_OFF deal", True)],
)
def test_like_escaping_matches_literally(value: str, matches: bool) -> None:
    """Wildcards in a contains value match only themselves (run on DuckDB)."""
    pred = Dialect().condition(Condition("object", "contains", ("50%_off",)))
    sql = f"SELECT {pred} FROM (SELECT ? AS object)"  # noqa: S608 - the SQL under test
    row = duckdb.connect().execute(sql, [value]).fetchone()
    assert row == (matches,)


@pytest.mark.parametrize("name", sorted(available_policies()))
def test_template_sql_is_golden(name: str) -> None:
    """Each template compiles to the reviewed query (a change shows up as a diff)."""
    sql = PolicyCompiler(available_policies()[name]).compile() + "\n"
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("HRSIGNAL_UPDATE_GOLDEN"):
        path.write_text(sql, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == sql


def test_compiled_sql_runs_on_empty_inputs() -> None:
    """Every template's query is valid DuckDB over empty inputs."""
    con = duckdb.connect()
    con.execute("""CREATE TABLE events ("time" TIMESTAMP, "user" VARCHAR, device VARCHAR,
        activity VARCHAR, object VARCHAR, target VARCHAR, bytes BIGINT, attachments INTEGER,
        destination_domain VARCHAR, removable_media BOOLEAN, external BOOLEAN,
        sensitivity VARCHAR, url_category VARCHAR, record_id VARCHAR, source VARCHAR, day DATE)""")
    con.execute("""CREATE TABLE _targets ("user" VARCHAR, window_start DATE, window_end DATE,
        department VARCHAR, priority BOOLEAN, reset BOOLEAN, lo DATE, hi DATE)""")
    con.execute('CREATE TABLE directory ("user" VARCHAR, department VARCHAR)')
    for pol in available_policies().values():
        assert con.execute(PolicyCompiler(pol).compile()).fetchall() == []


def test_lookback_covers_baseline_cumulative_and_sequences() -> None:
    """The query reads far enough back for the baseline (30 days by default)."""
    pol = available_policies()["data-theft-departing-users"]
    assert PolicyCompiler(pol).lookback_days() == 30


@pytest.mark.parametrize("name", sorted(available_policies()))
def test_spark_dialect_sql_is_golden(name: str) -> None:
    """The same policy in Spark SQL: only the dialect's spellings differ (backquotes,
    date_sub, numeric RANGE frames, percentile, named_struct/to_json, filter/size)."""
    from hrsignal.risk.spark import SparkDialect

    sql = PolicyCompiler(available_policies()[name], SparkDialect()).compile() + "\n"
    path = GOLDEN / "spark" / f"{name}.sql"
    if os.environ.get("HRSIGNAL_UPDATE_GOLDEN"):
        path.write_text(sql, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == sql
    for duckdb_only in (
        "::",
        "quantile_cont",
        "json_object",
        "list_filter",
        "lambda",
        "INTERVAL 30 DAY",
        '"user"',
    ):
        assert duckdb_only not in sql, duckdb_only


def test_spark_condition_quoting() -> None:
    """Spark literals escape quotes and backslashes with a backslash."""
    from hrsignal.risk.spark import SparkDialect

    cond = Condition("object", "startswith", ("O'Brien\\",))
    assert SparkDialect().condition(cond) == ("(`object` ILIKE 'O\\'Brien\\\\\\\\%' ESCAPE '\\\\')")
