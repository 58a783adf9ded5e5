"""The risk engine on Apache Spark (local mode): the same policies give the same user-day
scores, alerts and explanations as DuckDB, on the bundled example organisation (through the
CLI, HR records from Parquet) and on a small organisation that exercises every template, a
window boundary and sequences (inside and just outside their time limit).

One SparkSession serves the whole test session (``spark`` fixture): starting a JVM costs
seconds, and each test reuses the fixtures' runs instead of running Spark again."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from hrsignal.cli import main
from hrsignal.risk.alerts import get_alert, list_alerts
from hrsignal.risk.engine import RunOptions, run_policy
from hrsignal.risk.policy import available_policies
from hrsignal.risk.store import RiskStore
from tests.risk.conftest import EXAMPLES, THEFT, import_events, many, resignation, set_hr

# Spark's first query compiles its code (JIT): generous on a shared, busy machine.
pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

LEAKS = "data-leaks-risky-users"
SECURITY = "security-violations-departing-users"
TIA, PAT, SAM, LOU, WES = (
    f"{n}@contoso.com" for n in ("tia.thief", "pat.peer", "sam.sec", "lou.leak", "wes.edge")
)


@pytest.fixture(scope="session")
def spark() -> Any:
    """One local Spark session (2 cores, 2 shuffle partitions, no UI) for every Spark test."""
    pytest.importorskip("pyspark")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        pytest.skip("Java is not installed (./run test installs openjdk-17-jre-headless)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("hrsignal-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def snapshot(store: RiskStore) -> dict[str, Any]:
    """Everything a run leaves for analysts: user-days (JSON parsed), alerts with their
    explanation (as ``risk alert ID --format json`` gives it, minus timestamps), scope."""
    with store.connect() as con:
        days = con.execute(
            'SELECT policy, "user", day, score, alerting, indicators, boosters, sequences '
            "FROM user_days ORDER BY 1, 2, 3"
        ).fetchall()
        scope = con.execute("SELECT * FROM scope_state ORDER BY 1, 2").fetchall()
        state = con.execute("SELECT policy, last_day FROM policy_state ORDER BY 1").fetchall()
    alerts = []
    for a in list_alerts(store, reveal=True):
        full = get_alert(store, a["id"], reveal=True)
        alerts.append({k: v for k, v in full.items() if k not in ("created_at", "updated_at")})
    return {
        "user_days": [(*r[:5], *(json.loads(x) for x in r[5:])) for r in days],
        "alerts": alerts,
        "scope": scope,
        "state": state,
    }


# -- the example organisation, through the CLI ----------------------------------------------


def hrsignal(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process (so it finds the test session's Spark)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_spark_run_equals_duckdb_on_the_example_organisation(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`risk hr-export` then `risk run --engine spark --events DIR --hr X.parquet` finds the
    example's one thief with the same user-days, alert, score and explanation as the DuckDB
    engine with the HR CSVs (the theft template; the small organisation runs all three)."""
    duck, lake = tmp_path / "duck", tmp_path / "lake"
    for source, extra in (
        ("purview-audit", [str(EXAMPLES / "purview-audit.csv.gz")]),
        (
            "generic",
            [str(EXAMPLES / "proxy.jsonl.gz"), "--mapping", str(EXAMPLES / "proxy-mapping.yaml")],
        ),
    ):
        code, _, err = hrsignal(capsys, "risk", "--data-dir", str(duck), "import", source, *extra)
        assert code == 0, err
    code, _, err = hrsignal(
        capsys,
        "risk",
        "--data-dir",
        str(duck),
        "run",
        "--policy",
        THEFT,
        "--hr",
        str(EXAMPLES / "hr-resignations.csv"),
        "--hr",
        str(EXAMPLES / "employee-profile.csv"),
    )
    assert code == 0, err
    shutil.copytree(duck / "events", lake)  # the events live elsewhere, e.g. a data lake
    hr = tmp_path / "hr.parquet"  # as a job on a cluster that cannot reach the store gets it
    code, _, err = hrsignal(
        capsys,
        "risk",
        "hr-export",
        str(hr),
        "--hr",
        str(EXAMPLES / "hr-resignations.csv"),
        "--hr",
        str(EXAMPLES / "employee-profile.csv"),
    )
    assert code == 0, err
    spark_dir = tmp_path / "spark"
    code, out_spark, err = hrsignal(
        capsys,
        "risk",
        "--data-dir",
        str(spark_dir),
        "run",
        "--policy",
        THEFT,
        "--engine",
        "spark",
        "--events",
        str(lake),
        "--hr",
        str(hr),
    )
    assert code == 0, err
    assert "Traceback" not in err
    assert "HR triggers: 4 record(s) from 1 file(s)" in out_spark
    assert (
        "data-theft-departing-users: full, 4 user(s) in scope, 4 scored over "
        "2026-06-18..2026-10-15, 6 alerting day(s); alerts: 1 new, 0 updated, 1 total"
    ) in out_spark
    assert "risk levels: 1 change(s)" in out_spark
    a, b = snapshot(RiskStore(duck)), snapshot(RiskStore(spark_dir))
    # The Spark store holds no events of its own: its explanations list no raw events.
    assert [x.pop("events") for x in b["alerts"]] == [[]]
    assert len(a["alerts"][0].pop("events")) == 50
    assert a == b
    assert [x["user"] for x in b["alerts"]] == ["diego.siciliani@contoso.com"]
    assert len(a["user_days"]) == 153


def test_cli_spark_errors_are_clean(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Spark-engine usage mistakes exit 2 with a message and a hint, never a traceback."""
    set_hr(RiskStore(tmp_path / "d"), [resignation(TIA, "2026-09-10", "2026-09-20")])
    base = ("risk", "--data-dir", str(tmp_path / "d"), "run")
    cases = [
        (("--engine", "spark"), "--engine spark needs --events PATH_OR_TABLE"),
        (("--events", str(tmp_path)), "--events and --spark-master go with --engine spark"),
        (
            ("--engine", "spark", "--events", "no_such_db.no_such_table"),
            "--events: cannot read table 'no_such_db.no_such_table'",
        ),
        (
            ("--engine", "spark", "--events", str(tmp_path / "missing.parquet")),
            "--events: cannot read Parquet path(s)",
        ),
    ]
    for args, message in cases:
        code, _, err = hrsignal(capsys, *base, *args)
        assert (code, message in err, "Traceback" in err) == (2, True, False), err


# -- a small organisation: every template, a window boundary, sequences -----------------------


def _at(day: str, hour: int, minute: int = 0) -> str:
    return f"{day} {hour:02d}:{minute:02d}:00"


def _org_events() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    first = dt.date(2026, 8, 3)
    for k in range(30):  # a month of ordinary work: a baseline for everyone
        day = (first + dt.timedelta(days=k)).isoformat()
        for user in (TIA, PAT):
            rows += many(user, day, "FileDownloaded", 5)
            rows += many(user, day, "FileCopiedToRemovableMedia", 1, start_hour=14)
        rows += many(SAM, day, "RemovableMediaMounted", 1)
    # The thief, 2026-09-14: 12 chains download -> rename -> USB (labelled) -> delete.
    for k in range(12):
        rows.append({"time": _at("2026-09-14", 9, k), "user": TIA, "activity": "FileDownloaded"})
        rows.append({"time": _at("2026-09-14", 10, k), "user": TIA, "activity": "FileRenamed"})
        rows.append(
            {
                "time": _at("2026-09-14", 11, k),
                "user": TIA,
                "activity": "FileCopiedToRemovableMedia",
                "sensitivity": "Confidential",
            }
        )
        rows.append({"time": _at("2026-09-14", 12, k), "user": TIA, "activity": "FileDeleted"})
    rows += many(TIA, "2026-09-14", "FileDownloaded", 40, start_hour=15)
    rows += many(TIA, "2026-09-14", "FileDeleted", 20, start_hour=16)
    # The peer copies a little more to USB that week (a department quantile above zero).
    rows += many(PAT, "2026-09-14", "FileCopiedToRemovableMedia", 3, start_hour=15)
    # Security violations of a leaver.
    rows += many(SAM, "2026-09-15", "MalwareDetected", 2)
    rows += many(SAM, "2026-09-15", "SecurityToolTampered", 2, start_hour=11)
    # A user on a performance improvement plan: a label downgrade, then an external share
    # 23 hours later (a chain within 24 h) and, a week later, 25 hours later (none).
    rows.append(
        {"time": _at("2026-09-08", 10), "user": LOU, "activity": "SensitivityLabelDowngraded"}
    )
    rows.append({"time": _at("2026-09-09", 9), "user": LOU, "activity": "FileSharedExternally"})
    rows += many(LOU, "2026-09-09", "FileSharedExternally", 5, start_hour=15)  # 29 h: no chain
    rows.append(
        {"time": _at("2026-09-15", 10), "user": LOU, "activity": "SensitivityLabelDowngraded"}
    )
    rows.append({"time": _at("2026-09-16", 11), "user": LOU, "activity": "FileSharedExternally"})
    rows += [
        {
            "time": _at("2026-09-09", 13, k),
            "user": LOU,
            "activity": "EmailSent",
            "external": True,
            "attachments": 2,
        }
        for k in range(4)
    ]
    rows += [  # unknown external: not an external email
        {"time": _at("2026-09-09", 14, k), "user": LOU, "activity": "EmailSent", "attachments": 1}
        for k in range(5)
    ]
    # A leaver's USB copies the day before the window opens, on its first and last day, and
    # the day after it closes (resigned 09-10, last day 09-20: window 06-12 .. 10-10).
    for day in ("2026-06-11", "2026-06-12", "2026-10-10", "2026-10-11"):
        rows += many(WES, day, "FileCopiedToRemovableMedia", 5)
    return rows


def _org_hr(store: RiskStore) -> None:
    set_hr(
        store,
        [
            resignation(TIA, "2026-09-10", "2026-09-20"),
            resignation(SAM, "2026-09-10", "2026-09-20"),
            resignation(WES, "2026-09-10", "2026-09-20"),
            {
                "scenario": "performance-improvement-plans",
                "EmailAddress": LOU,
                "EffectiveDate": "2026-09-05T00:00:00",
            },
        ],
        departments={TIA: "Engineering", PAT: "Engineering", SAM: "Sales", WES: "Sales"},
    )


@pytest.fixture(scope="module")
def org(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, RiskStore]:
    """The small organisation scored by DuckDB (``duck``) and by Spark (``spark``, reading
    the same events from a folder outside its data directory), every template."""
    root = tmp_path_factory.mktemp("org")
    duck, lake = RiskStore(root / "duck"), RiskStore(root / "spark")
    import_events(duck, _org_events())
    _org_hr(duck)
    _org_hr(lake)
    from hrsignal.risk.spark_backend import SparkBackend

    backend = SparkBackend(spark, str(duck.events_dir))
    for pol in available_policies().values():
        run_policy(duck, pol, RunOptions(full=True))
        run_policy(lake, pol, RunOptions(full=True, backend=backend))
    return {"duck": duck, "spark": lake}


def test_spark_equals_duckdb_on_every_template(org: dict[str, RiskStore]) -> None:
    """Every template: the same user-days (scores, levels, baselines, boosters, sequences)
    and the same alerts with the same explanations (the raw-event list aside)."""
    a, b = snapshot(org["duck"]), snapshot(org["spark"])
    for x in b["alerts"]:
        assert x.pop("events") == []
    for x in a["alerts"]:
        x.pop("events")
    assert a == b
    assert {x["policy"] for x in a["alerts"]} == {THEFT, LEAKS, SECURITY}


@pytest.mark.parametrize(
    ("policy", "user", "severity", "indicators"),
    [
        (THEFT, TIA, "high", {"cloud_download", "rename", "usb_copy", "delete"}),
        (SECURITY, SAM, "medium", {"malware", "tampering"}),
        (LEAKS, LOU, "medium", {"external_share", "external_email"}),
    ],
)
def test_each_template_alerts_on_spark(
    org: dict[str, RiskStore], policy: str, user: str, severity: str, indicators: set[str]
) -> None:
    """Each template raises its alert on Spark, for the right user, with its indicators."""
    alerts = [a for a in list_alerts(org["spark"], reveal=True) if a["policy"] == policy]
    assert [(a["user"], a["severity"]) for a in alerts] == [(user, severity)]
    assert set(alerts[0]["indicators"]) >= indicators


def test_window_boundary_on_spark(org: dict[str, RiskStore]) -> None:
    """The first and last day of the window are scored on Spark; the day before it opens
    and the day after it closes are not."""
    with org["spark"].connect() as con:
        days = con.execute(
            'SELECT CAST(day AS VARCHAR) FROM user_days WHERE policy = ? AND "user" = ? '
            "ORDER BY day",
            [THEFT, WES],
        ).fetchall()
    assert [d for (d,) in days] == ["2026-06-12", "2026-10-10"]


def test_sequences_on_spark(org: dict[str, RiskStore]) -> None:
    """Spark finds the download-rename-USB-delete chains (each of the 12 deletes at noon and
    the 20 in the afternoon closes one; the latest start counts, 09:11), and a label downgrade
    followed by an external share 23 hours later but not 25 hours later (the 24-hour limit)."""
    by_policy = {a["policy"]: a for a in list_alerts(org["spark"], reveal=True)}
    theft = [s for s in by_policy[THEFT]["sequences"] if s["id"].startswith("download")]
    assert [(s["day"], s["count"], s["first_start"], s["first_end"]) for s in theft] == [
        ("2026-09-14", 32, "2026-09-14 09:11:00", "2026-09-14 12:00:00")
    ]
    leaks = by_policy[LEAKS]["sequences"]
    assert [(s["id"], s["day"], s["count"]) for s in leaks] == [
        ("label-downgrade-exfiltrate", "2026-09-09", 1)
    ]


def test_events_from_a_table_without_day_or_optional_columns(
    spark: Any, org: dict[str, RiskStore], tmp_path: Path
) -> None:
    """A catalog table (here a temp view) with only some event-model columns and no ``day``
    partition is read too: ``day`` is the UTC date of ``time``, absent columns are NULL, and
    the scores equal the partitioned Parquet's."""
    from hrsignal.risk.spark_backend import SparkBackend

    lake = spark.read.parquet(str(org["duck"].events_dir)).select(
        "time", "user", "activity", "external", "attachments", "sensitivity", "url_category"
    )
    lake.createOrReplaceTempView("audit_events")
    store = RiskStore(tmp_path / "t")
    _org_hr(store)
    pol = available_policies()[THEFT]
    run_policy(store, pol, RunOptions(full=True, backend=SparkBackend(spark, "audit_events")))
    ours = snapshot(store)["user_days"]
    theirs = [r for r in snapshot(org["spark"])["user_days"] if r[0] == THEFT]
    assert ours == theirs


def test_events_from_a_path_table(spark: Any, org: dict[str, RiskStore]) -> None:
    """``--events parquet.`PATH``` (the form of ``delta.`s3://...```) reads the path as a table,
    partition columns included."""
    from hrsignal.risk.spark_backend import load_events

    events = load_events(spark, f"parquet.`{org['duck'].events_dir}`")
    assert dict(events.dtypes)["day"] == "date"
    assert events.count() == len(_org_events())
