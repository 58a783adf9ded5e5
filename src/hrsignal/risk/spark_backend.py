"""The risk engine on Apache Spark (``pip install hrsignal[spark]``): the policies' scoring query
runs where the activity logs are, in a data lake, and only the scored user-days come back.

What runs where (design):

* **Spark** reads the events (Parquet paths in the event model, such as an hrsignal data
  directory's ``events/``, or a catalog table) and runs the query that
  :class:`~hrsignal.risk.compiler.PolicyCompiler` compiles with the
  :class:`~hrsignal.risk.spark.SparkDialect`: the same policy definitions, the same logic as
  DuckDB, only the dialect's spellings differ.
* **The hrsignal store** (``risk.duckdb``) keeps everything small: HR triggers, scope and windows,
  incremental state, user-day scores, alerts, risk levels. The ``_targets`` (who and which days
  to score) and ``directory`` (departments) relations are sent to Spark as small DataFrames;
  the result (one row per in-scope user-day with activity) comes back as Arrow.

So ``risk alerts``, ``risk alert ID`` and the dashboard read alerts computed on Spark exactly as
they read DuckDB's, and the two engines' alerts, scores and explanations are equal (tested in
``tests/risk/test_spark.py``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

import duckdb

from hrsignal.errors import StoreError, UsageError
from hrsignal.risk.compiler import Dialect, PolicyCompiler
from hrsignal.risk.events import EVENT_COLUMNS
from hrsignal.risk.spark import SparkDialect

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: event-model types (DuckDB names) -> Spark SQL types
_SPARK_TYPES = {
    "TIMESTAMP": "TIMESTAMP",
    "VARCHAR": "STRING",
    "BIGINT": "BIGINT",
    "INTEGER": "INT",
    "BOOLEAN": "BOOLEAN",
}
#: a catalog table name (``table``, ``db.table``, ``catalog.db.table``) or a path table
#: (``delta.`s3://lake/events```, ``parquet.`/data/events```)
_TABLE_NAME = re.compile(r"^([A-Za-z_]\w*(\.[A-Za-z_]\w*){0,2}|[A-Za-z_]\w*\.`[^`]+`)$")
#: the columns without which no policy can be evaluated
_REQUIRED = ("time", "user", "activity")


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise UsageError(
            "the Spark engine needs PySpark, which is not installed",
            hint="pip install 'hrsignal[spark]' (and Java 17 or newer)",
        ) from None
    return pyspark


def spark_session(master: str | None = None, *, app_name: str = "hrsignal-risk") -> SparkSession:
    """The Spark session to run on: the active one (spark-submit, Databricks), or a new one.

    ``master`` is a Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``,
    ``k8s://...``); without it the session's own configuration decides (spark-submit's
    ``--master``, a cluster's default, else ``local[*]``). The session time zone is set to UTC:
    events carry naive UTC times and the day a user acted on must not depend on the cluster.
    """
    _pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        active.conf.set("spark.sql.session.timeZone", "UTC")
        return active
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        # progress bars would interleave with hrsignal's own progress lines on stderr
        .config("spark.ui.showConsoleProgress", "false")
    )
    if master:
        builder = builder.master(master)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # Java missing, a master that does not answer, ...
        raise StoreError(
            f"cannot start Spark{f' on {master}' if master else ''} ({_first_line(exc)})",
            hint="the Spark engine needs Java 17+ (JAVA_HOME) and a reachable --spark-master",
        ) from None


def load_events(spark: SparkSession, source: str) -> DataFrame:
    """The events of ``source`` (Parquet paths, comma-separated, or a catalog table) as the
    event model plus ``day``: absent optional columns are typed NULLs, ``day`` is the UTC date
    of ``time`` unless the data is partitioned by it."""
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    paths = [p.strip() for p in source.split(",") if p.strip()]
    if not paths:
        raise UsageError("--events is empty", hint="give Parquet paths or a table name")
    as_table = (
        len(paths) == 1
        and _TABLE_NAME.match(paths[0])
        and ("`" in paths[0] or not _path_exists(paths[0]))
    )
    try:
        if as_table:
            df = spark.table(paths[0])
        else:
            # Files written by different importers may differ in their optional columns.
            df = spark.read.option("mergeSchema", "true").parquet(*paths)
    except PySparkException as exc:
        what = f"table {paths[0]!r}" if as_table else f"Parquet path(s) {', '.join(paths)}"
        raise UsageError(
            f"--events: cannot read {what} ({_first_line(exc)})",
            hint="give Parquet files or folders in the event model (e.g. DATA_DIR/events) "
            "or a catalog table name",
        ) from None
    columns = set(df.columns)
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise UsageError(
            f"--events {source}: no column(s) {', '.join(missing)}; has {', '.join(df.columns)}",
            hint="the events must follow the event model (docs/risk.md, 'Activity sources')",
        )
    for name, type_ in EVENT_COLUMNS.items():
        if name not in columns:
            df = df.withColumn(name, F.lit(None).cast(_SPARK_TYPES[type_]))
    if dict(df.dtypes)["time"] == "string":
        df = df.withColumn("time", F.col("time").cast("timestamp"))
    if "day" not in columns:
        df = df.withColumn("day", F.to_date(F.col("time")))
    elif dict(df.dtypes)["day"] != "date":
        df = df.withColumn("day", F.col("day").cast("date"))
    return df


class SparkBackend:
    """A :class:`~hrsignal.risk.engine.ScoringBackend` that runs the scoring query on Spark."""

    dialect: Dialect = SparkDialect()

    def __init__(self, spark: SparkSession, events: str) -> None:
        self.spark = spark
        self.source = events
        self.events = load_events(spark, events)
        self.events.createOrReplaceTempView("events")
        self._max_day: str | None = None
        self._max_day_read = False

    def max_event_day(self) -> str | None:
        """The latest event day, read once per backend (Spark scans the ``day`` column for it,
        and a run asks once per policy)."""
        if not self._max_day_read:
            row = self.spark.sql("SELECT CAST(max(day) AS STRING) FROM events").first()
            self._max_day = None if row is None or row[0] is None else str(row[0])
            self._max_day_read = True
        return self._max_day

    def score(
        self,
        con: duckdb.DuckDBPyConnection,
        compiler: PolicyCompiler,
        days: tuple[dt.date, dt.date],
    ) -> None:
        """Send ``_targets`` and ``directory`` to Spark, run the scoring query there, and bring
        the scored user-days back into ``con`` as ``_result``.

        The events the query needs are filtered once and persisted: Spark inlines a CTE at
        each of its references, and the query refers to them a dozen times (indicators,
        baselines, peers, every sequence step), which would mean as many scans of the lake.
        """
        from pyspark import StorageLevel
        from pyspark.errors import PySparkException

        con.complete()  # the engine's last execute() may still hold a (read) result
        for name, query in (
            ("_targets", "SELECT * FROM _targets"),
            ("directory", 'SELECT "user", department FROM directory'),
        ):
            table = con.sql(query).to_arrow_table()
            self.spark.createDataFrame(table).createOrReplaceTempView(name)
        relevant = None
        try:
            relevant = self.spark.sql(compiler.events_query(days))
            relevant.persist(StorageLevel.MEMORY_AND_DISK)
            relevant.createOrReplaceTempView("_ev_relevant")
            sql = compiler.compile(days, events_relation="_ev_relevant")
            result = self.spark.sql(sql).toArrow()
        except PySparkException as exc:
            raise StoreError(
                f"policy {compiler.policy.name}: the scoring query failed on Spark "
                f"({_first_line(exc)})",
                hint="check --events (the event model's columns and types)",
            ) from None
        finally:
            if relevant is not None:
                relevant.unpersist()
        con.register("_spark_result", result)
        try:
            con.execute("CREATE OR REPLACE TEMP TABLE _result AS SELECT * FROM _spark_result")
        finally:
            con.unregister("_spark_result")


def _path_exists(path: str) -> bool:
    """A local path that exists, or a URI (``s3a://``, ``abfss://``, ``dbfs:/``...)."""
    from pathlib import Path

    return "://" in path or ":/" in path or Path(path).exists()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
