"""Benchmark of the insider risk engine (``hrsignal risk``).

Generates an organisation (USERS users over DAYS days, ~55 events per user-day in a realistic
mix, 2% leavers with resignations in the period, a few planted thieves among them), then
measures, each phase in a fresh child process (so peak RSS is the phase's own):

1. import from Parquet (generic importer) - events/s
2. import from CSV (generic importer, a 1/10 sample of the same events) - events/s
3. a full run of every policy
4. one more day imported, then an incremental run
5. the alerts found (the planted thieves should be the high ones)

Usage:  .venv/bin/python bench/risk.py [--users 10000] [--days 90] [--repeat 3] [--work DIR]
Results are printed as JSON and as a Markdown table (paste into bench/RESULTS-risk.md).
"""

# ruff: noqa: S608 - the benchmark builds its generator SQL from its own constants

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EVENTS_PER_USER_DAY = 55
START = "2026-06-01"
#: activity mix: (activity, per-mille) for ordinary work
MIX = [
    ("FileAccessed", 300),
    ("WebVisit", 200),
    ("FileModified", 150),
    ("FileDownloaded", 100),
    ("EmailSent", 100),
    ("Logon", 45),
    ("FileDeleted", 50),
    ("FileRenamed", 30),
    ("FilePrinted", 10),
    ("FileCopiedToRemovableMedia", 5),
    ("FileUploadedToCloud", 3),
    ("FileArchived", 3),
    ("FileSharedExternally", 2),
    ("FileCopiedToNetworkShare", 2),
]
#: exfiltration-type habits: only one user in ten ever does these (the others open a file)
_HABITS = ", ".join(
    f"'{a}'"
    for a in (
        "FileCopiedToRemovableMedia",
        "FileUploadedToCloud",
        "FileSharedExternally",
        "FileCopiedToNetworkShare",
    )
)
MAPPING = """fields: {time: time, user: user, device: device, activity: activity, object: object,
  target: target, bytes: bytes, attachments: attachments, external: external,
  destination_domain: destination_domain, sensitivity: sensitivity, url_category: url_category,
  removable_media: removable_media, record_id: record_id}
"""


def _case() -> str:
    arms, acc = [], 0
    for name, share in MIX:
        acc += share
        arms.append(f"WHEN r < {acc} THEN '{name}'")
    return "CASE " + " ".join(arms) + " ELSE 'FileAccessed' END"


def generate(work: Path, users: int, days: int) -> dict[str, Any]:
    """Write events.parquet (days), day-extra.parquet (the next day), sample.csv, HR files."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    n = users * days * EVENTS_PER_USER_DAY
    thieves = max(3, users // 1000)
    leavers = max(10, users // 50)

    def events_sql(first_day: int, n_days: int, count: int) -> str:
        return f"""
        SELECT TIMESTAMP '{START}' + INTERVAL (d) DAY + INTERVAL (28800 + hash(i, 7) % 36000) SECOND
                   AS "time",
               'user' || u || '@bench.example' AS "user",
               'PC-' || u AS device, act AS activity,
               'https://bench.sharepoint.com/sites/s' || (u % 50) || '/doc' || (hash(i, 3) % 5000)
                   AS object,
               CASE WHEN act = 'FileCopiedToRemovableMedia' THEN 'E:\\doc' END AS target,
               (hash(i, 5) % 5000000)::BIGINT AS bytes,
               CASE WHEN act = 'EmailSent' THEN (hash(i, 9) % 3)::INTEGER ELSE 0 END AS attachments,
               CASE WHEN act = 'EmailSent' THEN hash(i, 11) % 10 = 0 END AS external,
               CASE WHEN act = 'WebVisit' THEN
                   ['office.com', 'github.com', 'linkedin.com', 'news.example']
                   [(1 + hash(i, 13) % 4)::BIGINT]
               END AS destination_domain,
               CASE WHEN hash(i, 17) % 50 = 0 THEN 'Confidential' END AS sensitivity,
               CASE WHEN act = 'WebVisit' AND hash(i, 13) % 4 = 2 THEN 'job_search' END
                   AS url_category,
               act = 'FileCopiedToRemovableMedia' AS removable_media,
               'r' || i AS record_id
        FROM (SELECT i, i % {users} AS u, {first_day} + (i // {users}) % {n_days} AS d,
                     hash(i, 1) % 1000 AS r FROM range({count}) t(i)) s,
             LATERAL (SELECT CASE WHEN a IN ({_HABITS}) AND u % 10 <> 0 THEN 'FileAccessed'
                                  ELSE a END AS act FROM (SELECT {_case()} AS a))"""

    # The planted thieves: on 5 days before their resignation, download -> archive -> USB ->
    # delete, in that order.
    theft = " UNION ALL ".join(
        f"""SELECT TIMESTAMP '{START}' + INTERVAL ({days - 20 + d}) DAY + INTERVAL ({h}) HOUR
                + INTERVAL (k) SECOND AS "time", 'user{t}@bench.example' AS "user",
                'PC-{t}' AS device, '{a}' AS activity, 'secret' || k AS object,
                NULL::VARCHAR AS target, 1000000::BIGINT AS bytes, 0 AS attachments,
                NULL::BOOLEAN AS external, NULL::VARCHAR AS destination_domain,
                'Confidential' AS sensitivity, NULL::VARCHAR AS url_category,
                '{a}' = 'FileCopiedToRemovableMedia' AS removable_media,
                'theft{t}-{d}-{h}-' || k AS record_id
            FROM range({c}) t(k)"""
        for t in range(7, 7 + thieves * 97, 97)
        for d in range(5)
        for h, a, c in (
            (9, "FileDownloaded", 80),
            (11, "FileArchived", 6),
            (13, "FileCopiedToRemovableMedia", 40),
            (16, "FileDeleted", 80),
        )
    )
    started = time.perf_counter()
    con.execute(
        f"COPY ({events_sql(0, days, n)} UNION ALL {theft}) TO "
        f"'{work / 'events.parquet'}' (FORMAT PARQUET, ROW_GROUP_SIZE 1000000)"
    )
    con.execute(
        f"COPY ({events_sql(days, 1, users * EVENTS_PER_USER_DAY)}) TO "
        f"'{work / 'day-extra.parquet'}' (FORMAT PARQUET)"
    )
    con.execute(
        f"COPY (SELECT * FROM '{work / 'events.parquet'}' USING SAMPLE 10 PERCENT "
        f"(system, 42)) TO '{work / 'sample.csv'}' (HEADER)"
    )
    gen_s = time.perf_counter() - started
    total = con.execute(f"SELECT count(*) FROM '{work / 'events.parquet'}'").fetchone()
    sample = con.execute(f"SELECT count(*) FROM read_csv('{work / 'sample.csv'}')").fetchone()
    # HR: leavers resign 20 days before the end; every 7th + 97k is a thief.
    with (work / "hr.csv").open("w", encoding="utf-8") as f:
        f.write("EmailAddress,ResignationDate,LastWorkingDate\n")
        leaver_ids = set(range(7, 7 + thieves * 97, 97)) | set(range(3, users, users // leavers))
        for u in sorted(leaver_ids):
            f.write(
                f"user{u}@bench.example,{_day(days - 16)}T09:00:00Z,{_day(days + 10)}T17:00:00Z\n"
            )
    with (work / "profile.csv").open("w", encoding="utf-8") as f:
        f.write(
            "EmailAddress,EmployeeFirstName,EmployeeLastName,EmployeeAddressLine1,"
            "EmployeeZipCode,EmployeeDepartment\n"
        )
        for u in range(users):
            f.write(f"user{u}@bench.example,F{u},L{u},{u} Main St,00000,Dept{u % 40}\n")
    (work / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    return {
        "events": int(total[0]) if total else 0,
        "csv_sample": int(sample[0]) if sample else 0,
        "thieves": thieves,
        "leavers": len(leaver_ids),
        "generate_s": round(gen_s, 1),
    }


def _day(offset: int) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(START) + dt.timedelta(days=offset)).isoformat()


PHASE = r"""
import json, os, resource, sys, time
from pathlib import Path
load1 = os.getloadavg()[0]
from hrsignal.risk.store import RiskStore, StoreSettings
work, phase, memory = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = RiskStore(work / "data", StoreSettings(memory_limit=memory))
out = {}
t = time.perf_counter()
if phase in ("import_parquet", "import_csv", "import_day"):
    from hrsignal.risk.importers import import_activity
    src = {"import_parquet": "events.parquet", "import_csv": "sample.csv",
           "import_day": "day-extra.parquet"}[phase]
    if phase == "import_csv":
        store = RiskStore(work / "csvdata", StoreSettings(memory_limit=memory))
    r = import_activity(store, "generic", work / src, mapping=work / "mapping.yaml", force=True)
    out = {"read": r.read, "stored": r.stored}
elif phase in ("run_full", "run_incremental"):
    from hrsignal.risk.engine import RunOptions, run_policies
    from hrsignal.risk.policy import available_policies
    pols = list(available_policies().values())
    if phase == "run_full":
        import pyarrow as pa
        from hrsignal.risk.hr import hr_from_csv, save_triggers
        hr, _, _ = hr_from_csv(work / "hr.csv")
        _, directory, _ = hr_from_csv(work / "profile.csv")
        with store.connect() as con:
            save_triggers(con, hr, origin="bench", directory=directory)
    runs = run_policies(store, pols, RunOptions(full=phase == "run_full"))
    out = {r.policy: {"mode": r.mode, "user_days": r.user_days, "alerts": r.alerts_total,
                      "days": [r.first_day, r.last_day]} for r in runs}
elif phase == "alerts":
    from hrsignal.risk.alerts import list_alerts
    alerts = list_alerts(store, reveal=True)
    out = {"alerts": [(a["user"], a["policy"], a["severity"], a["score"]) for a in alerts]}
out["seconds"] = time.perf_counter() - t
# CPU seconds of all threads: less sensitive than wall time to the other users of the machine.
ru = resource.getrusage(resource.RUSAGE_SELF)
out["cpu_s"] = ru.ru_utime + ru.ru_stime
out["load1"] = load1
# VmHWM is this process's own peak (ru_maxrss would include the parent's, inherited at fork).
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
out["peak_rss_mib"] = int(hwm.split()[1]) / 1024
print(json.dumps(out))
"""


def phase(work: Path, name: str, memory: str) -> dict[str, Any]:
    """Run one phase in a child process; return its JSON."""
    r = subprocess.run(
        [sys.executable, "-c", PHASE, str(work), name, memory],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode:
        raise SystemExit(f"{name} failed:\n{r.stderr}")
    result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Generate once, then time each phase ``--repeat`` times on a fresh store."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hrsignal-risk-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    info = generate(work, args.users, args.days)
    print(json.dumps({"generated": info}), flush=True)
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for d in ("data", "csvdata"):
            shutil.rmtree(work / d, ignore_errors=True)
        for name in (
            "import_parquet",
            "import_csv",
            "run_full",
            "import_day",
            "run_incremental",
            "alerts",
        ):
            res = phase(work, name, args.memory_limit)
            runs.setdefault(name, []).append(res)
            print(json.dumps({name: res}), flush=True)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    rss = {k: max(r["peak_rss_mib"] for r in v) for k, v in runs.items()}
    rows = [
        (
            "import Parquet",
            f"{info['events'] / med['import_parquet']:,.0f} events/s",
            f"{med['import_parquet']:.1f} s for {info['events']:,}",
        ),
        (
            "import CSV",
            f"{info['csv_sample'] / med['import_csv']:,.0f} events/s",
            f"{med['import_csv']:.1f} s for {info['csv_sample']:,}",
        ),
        ("full run (3 policies)", f"{med['run_full']:.1f} s", ""),
        ("import one more day", f"{med['import_day']:.1f} s", ""),
        ("incremental run (1 day)", f"{med['run_incremental']:.1f} s", ""),
    ]
    print(
        f"\n{args.users:,} users x {args.days} days = {info['events']:,} events; "
        f"median of {args.repeat} runs; memory_limit {args.memory_limit}\n"
    )
    print("| phase | result | detail | peak RSS |\n|---|---|---|---|")
    keys = ["import_parquet", "import_csv", "run_full", "import_day", "run_incremental"]
    for (label, value, detail), key in zip(rows, keys, strict=True):
        print(f"| {label} | {value} | {detail} | {rss[key]:,.0f} MiB |")
    print("\nalerts:", json.dumps(runs["alerts"][-1]["alerts"][:12]))


if __name__ == "__main__":
    main()
