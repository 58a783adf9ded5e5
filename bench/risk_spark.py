"""Benchmark of the risk engine on Apache Spark (local mode) beside DuckDB.

For each organisation size (users x 90 days, about 55 events per user-day: the generator of
``bench/risk.py``, so the same organisation as the DuckDB benchmark), this script:

1. generates the events and HR files and imports the events into a data directory (DuckDB's
   Parquet import, ``DATA_DIR/events/source=*/day=*``), once;
2. times a **full run of the three policies** ``--repeat`` times with each engine, each run in a
   fresh child process: DuckDB over the data directory, and Spark (``local[CORES]``) reading
   the same ``DATA_DIR/events`` with HR triggers in a second data directory (as a lake
   deployment would: events outside the store);
3. checks that both engines raised the same alerts (ids, severities, scores, days,
   indicators, boosters, sequences).

Spark's session start (JVM launch) is timed separately from the run. Peak RSS is the child's
own VmHWM (for Spark: the Python driver and the JVM separately).

Usage:  .venv/bin/python bench/risk_spark.py [--users 2000,5000,10000] [--days 90] [--repeat 3]
            [--cores 2] [--driver-memory 8g] [--work DIR]
Results are printed as JSON lines and a Markdown table (for bench/RESULTS-spark.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import risk as duckdb_bench  # bench/risk.py: the DuckDB benchmark and its generator

SPARK_PHASE = r"""
import json, sys, time
from pathlib import Path
import pyarrow as pa
from hrsignal.risk.store import RiskStore
from hrsignal.risk.engine import RunOptions, run_policies
from hrsignal.risk.hr import hr_from_csv, save_triggers
from hrsignal.risk.policy import available_policies
work, cores, memory, partitions = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
store = RiskStore(work / "sparkdata")
hr, _, _ = hr_from_csv(work / "hr.csv")
_, directory, _ = hr_from_csv(work / "profile.csv")
with store.connect() as con:
    save_triggers(con, hr, origin="bench", directory=directory)
t = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master(f"local[{cores}]").appName("hrsignal-bench")
         .config("spark.driver.memory", memory).config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", partitions)
         .config("spark.sql.session.timeZone", "UTC").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
start_s = time.perf_counter() - t
from hrsignal.risk.spark_backend import SparkBackend
t = time.perf_counter()
backend = SparkBackend(spark, str(work / "data" / "events"))
runs = run_policies(store, list(available_policies().values()),
                    RunOptions(full=True, backend=backend))
seconds = time.perf_counter() - t
def hwm(pid):
    line = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM:")][0]
    return int(line.split()[1]) / 1024
out = {"seconds": seconds, "session_start_s": start_s,
       "policies": {r.policy: {"user_days": r.user_days, "alerts": r.alerts_total,
                               "seconds": round(r.seconds, 2)} for r in runs},
       "peak_rss_mib": hwm("self"),
       "jvm_peak_rss_mib": hwm(spark.sparkContext._gateway.proc.pid)}
spark.stop()
print(json.dumps(out))
"""

ALERTS = r"""
import json, sys
from hrsignal.risk.alerts import list_alerts
keep = ("id", "policy", "severity", "score", "first_day", "last_day", "days", "indicators",
        "boosters", "sequences")
alerts = list_alerts(sys.argv[1], reveal=True)
print(json.dumps(sorted(({k: a[k] for k in keep} | {"user": a["user"]} for a in alerts),
                        key=lambda a: a["id"])))
"""


def _child(code: str, *args: str) -> Any:
    r = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if r.returncode:
        raise SystemExit(f"child failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(work: Path, users: int, args: argparse.Namespace) -> dict[str, Any]:
    """Generate and import one size, then time both engines ``args.repeat`` times."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    info = duckdb_bench.generate(work, users, args.days)
    print(json.dumps({"users": users, "generated": info}), flush=True)
    imp = duckdb_bench.phase(work, "import_parquet", args.memory_limit)
    print(json.dumps({"users": users, "import": imp}), flush=True)
    duck, spark = [], []
    for _ in range(args.repeat):
        d = duckdb_bench.phase(work, "run_full", args.memory_limit)
        print(json.dumps({"users": users, "duckdb": d}), flush=True)
        duck.append(d)
        shutil.rmtree(work / "sparkdata", ignore_errors=True)
        s = _child(SPARK_PHASE, str(work), str(args.cores), args.driver_memory, args.partitions)
        print(json.dumps({"users": users, "spark": s}), flush=True)
        spark.append(s)
    a_duck = _child(ALERTS, str(work / "data"))
    a_spark = _child(ALERTS, str(work / "sparkdata"))
    same = a_duck == a_spark
    high = sum(1 for a in a_duck if a["severity"] == "high")
    return {
        "users": users,
        "events": info["events"],
        "duckdb_s": [round(r["seconds"], 2) for r in duck],
        "spark_s": [round(r["seconds"], 2) for r in spark],
        "spark_start_s": [round(r["session_start_s"], 2) for r in spark],
        "duckdb_rss": max(r["peak_rss_mib"] for r in duck),
        "spark_driver_rss": max(r["peak_rss_mib"] for r in spark),
        "spark_jvm_rss": max(r["jvm_peak_rss_mib"] for r in spark),
        "spark_policies": spark[-1]["policies"],
        "alerts": len(a_duck),
        "high_alerts": high,
        "thieves": info["thieves"],
        "identical_alerts": same,
    }


def main() -> None:
    """Measure each size; print a Markdown table of medians."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", default="2000,5000,10000", help="comma-separated sizes")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--partitions", default="8", help="spark.sql.shuffle.partitions")
    ap.add_argument("--memory-limit", default="4GB", help="DuckDB's memory_limit")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep each size's data")
    args = ap.parse_args()
    root = args.work or Path(tempfile.mkdtemp(prefix="hrsignal-spark-bench-"))
    results = []
    for users in (int(u) for u in args.users.split(",")):
        res = measure(root / f"u{users}", users, args)
        print(json.dumps({"result": res}), flush=True)
        results.append(res)
        if not args.keep:
            shutil.rmtree(root / f"u{users}", ignore_errors=True)
    base = results[0]
    print(
        f"\nfull run of the three policies, {args.days} days, median of {args.repeat}; Spark "
        f"local[{args.cores}], driver memory {args.driver_memory}, shuffle partitions "
        f"{args.partitions}\n"
    )
    print(
        "| users | events | DuckDB | Spark | Spark / DuckDB | Spark time / first size's "
        "| events / first size's | Spark session start | identical alerts |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        d, s = statistics.median(r["duckdb_s"]), statistics.median(r["spark_s"])
        s0 = statistics.median(base["spark_s"])
        print(
            f"| {r['users']:,} | {r['events']:,} | {d:.1f} s | {s:.1f} s | {s / d:.1f}x | "
            f"{s / s0:.2f}x | {r['events'] / base['events']:.2f}x | "
            f"{statistics.median(r['spark_start_s']):.1f} s | "
            f"{'yes' if r['identical_alerts'] else 'NO'} ({r['alerts']}, {r['high_alerts']} high) |"
        )


if __name__ == "__main__":
    main()
