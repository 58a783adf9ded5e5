"""Benchmark ``hrsignal validate`` against a plain ``csv.reader`` pass and ``frictionless``.

Generates deterministic resignations files (``EmailAddress,ResignationDate,LastWorkingDate``,
CRLF, dates in the layouts of Microsoft's samples, every row valid for the given ``--now``),
then measures, each in a fresh subprocess, the median of ``--runs`` runs:

* ``hrsignal validate FILE --now NOW --format json`` (the product);
* a plain Python ``csv.reader`` pass that does nothing but read (the baseline to beat);
* ``frictionless`` validating the same rules on a slice of the file (it is too slow for the
  whole file; rows/s is what is compared).

Wall time is measured around the subprocess; peak RSS is GNU time's ``%M`` (max resident set
size of that one process, in KiB). Usage::

    .venv/bin/python bench/validate.py                       # 1M and 10M rows, 5 runs each
    .venv/bin/python bench/validate.py --sizes 1000000 --runs 3 --write-results

Data goes to ``--out`` (default ``bench/out/``, git-ignored); generated files are reused when
their size and seed match (the name encodes both).
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
HRSIGNAL = VENV_BIN / "hrsignal"
HEADER = "EmailAddress,ResignationDate,LastWorkingDate\r\n"
DEFAULT_NOW = "2026-11-25T00:00:00Z"
CHUNK = 1_000_000

FIRST = [
    "sara", "alex", "isaiah", "pradeep", "jack", "zoe", "megan", "lidia", "nestor", "adele",
    "diego", "grady", "henrietta", "irvin", "johanna", "lee", "lynne", "miriam", "patti", "joni",
]  # fmt: skip
LAST = [
    "davis", "wilber", "langer", "gupta", "quinn", "muller", "bowen", "holloway", "wilke",
    "vance", "siciliani", "archie", "mueller", "sayers", "lorenz", "gu", "robbins", "graham",
    "fernandez", "sherman",
]  # fmt: skip
DOMAINS = ["contoso.com", "contoso.onmicrosoft.com", "fabrikam.com", "northwind.example"]
#: UTC offsets used in the files; "Z" is written as such.
OFFSETS_MIN = np.array([0, 330, -480, 60, 0, -300], dtype=np.int64)


# -- generation ------------------------------------------------------------------------------


def _offset_text(minutes: np.ndarray) -> pa.Array:
    """``Z`` for UTC, else ``+HH:MM`` / ``-HH:MM`` (a lookup: there are few distinct offsets)."""
    distinct, inverse = np.unique(minutes, return_inverse=True)
    labels = [
        "Z" if m == 0 else f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
        for m in distinct.tolist()
    ]
    return pa.array(labels, pa.string()).take(pa.array(inverse.astype(np.int32)))


def _iso(
    utc_seconds: np.ndarray, offsets: np.ndarray, rng: np.random.Generator, uniform: bool
) -> pa.Array:
    """ISO 8601 in Microsoft's sample layouts: local time, 0/3/7 fractional digits, Z/offset.

    E.g. ``2026-04-23T15:18:02.4675041+05:30``, ``2026-11-27T17:00:00Z``.
    """
    n = len(utc_seconds)
    local = pa.array(utc_seconds + offsets * 60, pa.timestamp("s"))
    base = pc.strftime(local, format="%Y-%m-%dT%H:%M:%S")
    digits = rng.choice(np.array([0, 3, 7]), size=n, p=[0.4, 0.2, 0.4])
    if uniform:
        digits[:] = 7
    frac7 = pc.utf8_lpad(pa.array(rng.integers(0, 10**7, size=n)).cast(pa.string()), 7, "0")
    frac = pc.if_else(
        pa.array(digits == 7),
        pc.binary_join_element_wise(".", frac7, ""),
        pc.if_else(
            pa.array(digits == 3),
            pc.binary_join_element_wise(".", pc.utf8_slice_codeunits(frac7, 0, 3), ""),
            pa.scalar(""),
        ),
    )
    return pc.binary_join_element_wise(base, frac, _offset_text(offsets), "")


def _chunk_bytes(
    start: int, n: int, now: dt.datetime, rng: np.random.Generator, uniform: bool
) -> bytes:
    """Rows ``start .. start+n`` as CRLF CSV bytes, built column-wise with Arrow kernels."""
    idx = np.arange(start, start + n, dtype=np.int64)
    first = pa.array(FIRST).take(pa.array(rng.integers(0, len(FIRST), n)))
    last = pa.array(LAST).take(pa.array(rng.integers(0, len(LAST), n)))
    domain = pa.array(DOMAINS).take(pa.array(rng.integers(0, len(DOMAINS), n)))
    # the running number keeps every UPN (so every record) unique: no duplicate warnings
    email = pc.binary_join_element_wise(
        first, ".", last, pa.array(idx).cast(pa.string()), "@", domain, ""
    )
    now_s = int(now.timestamp())
    # LastWorkingDate well inside the default window (-183 .. +365 days), with a margin
    lwd = now_s + rng.integers(-170 * 86400, 350 * 86400, size=n)
    # at least a day before (equal seconds plus a fraction would put it after)
    resign = lwd - rng.integers(86400, 60 * 86400, size=n)
    off_r = OFFSETS_MIN[rng.integers(0, len(OFFSETS_MIN), n)]
    off_l = OFFSETS_MIN[rng.integers(0, len(OFFSETS_MIN), n)]
    if uniform:  # one layout per column, as one HR system's export writes it
        off_r[:] = 330
        off_l[:] = 330
    rows = pc.binary_join_element_wise(
        email, _iso(resign, off_r, rng, uniform), _iso(lwd, off_l, rng, uniform), ","
    )
    lines = pc.binary_join_element_wise(rows, "", "\r\n")  # "row" + "\r\n" + ""
    arr = lines.cast(pa.large_string()) if isinstance(lines, pa.ChunkedArray) else lines
    offsets_buf, data_buf = arr.buffers()[1], arr.buffers()[2]
    offs = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    return bytes(memoryview(data_buf)[int(offs[0]) : int(offs[-1])])


def generate(path: Path, rows: int, now: dt.datetime, seed: int, uniform: bool = False) -> float:
    """Write ``rows`` records to ``path`` (atomically); return the seconds it took."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        out.write(HEADER.encode())
        for start in range(0, rows, CHUNK):
            out.write(_chunk_bytes(start, min(CHUNK, rows - start), now, rng, uniform))
    tmp.replace(path)
    return time.perf_counter() - t0


def head_slice(src: Path, dst: Path, rows: int) -> None:
    """The header and the first ``rows`` records of ``src`` (one record per line here)."""
    with src.open("rb") as inp, dst.open("wb") as out:
        for i, line in enumerate(inp):
            if i > rows:
                break
            out.write(line)


# -- the workers (each runs in its own subprocess) -------------------------------------------


def worker_csvreader(path: str) -> None:
    """Read every record with ``csv.reader`` and do nothing else; print the record count."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        n = 0
        for _ in reader:
            n += 1
    print(json.dumps({"records": n}))


def worker_frictionless(path: str, now: str) -> None:
    """Validate with frictionless the rules it can express; print rows, valid and errors."""
    from frictionless import Checklist, Resource, Schema, checks

    clock = dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
    lo = (clock - dt.timedelta(days=183)).isoformat()
    hi = (clock + dt.timedelta(days=365)).isoformat()
    upn = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"  # noqa: E501
    schema = Schema.from_descriptor(
        {
            "fields": [
                {
                    "name": "EmailAddress",
                    "type": "string",
                    "constraints": {"required": True, "pattern": upn, "maxLength": 1024},
                },
                {"name": "ResignationDate", "type": "datetime", "constraints": {"required": True}},
                {
                    "name": "LastWorkingDate",
                    "type": "datetime",
                    "constraints": {"required": True, "minimum": lo, "maximum": hi},
                },
            ]
        }
    )
    # frictionless refuses absolute paths as "not safe"; give it a base path instead
    resource = Resource(
        os.path.basename(path), basepath=os.path.dirname(path) or ".", schema=schema
    )
    checklist = Checklist(
        checks=[
            checks.duplicate_row(),
            checks.row_constraint(formula="ResignationDate <= LastWorkingDate"),
        ]
    )
    report = resource.validate(checklist, limit_errors=1000)
    task = report.tasks[0]
    print(
        json.dumps(
            {
                "records": task.stats.get("rows"),
                "valid": report.valid,
                "errors": task.stats.get("errors"),
                "first_error": report.flatten(["type", "note"])[:1],
            }
        )
    )


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Measure:
    """Runs of one tool over one file."""

    tool: str
    file: Path
    size: int  # rows of the full generated file
    rows: int  # rows this tool reads (frictionless: a slice)
    command: list[str]
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-min load average before each run
    idle: list[float] = field(default_factory=list)  # CPU idle share just before each run
    cpu: list[float] = field(default_factory=list)  # user + system CPU seconds of each run
    output: dict[str, object] = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        """Median wall time in seconds."""
        return statistics.median(self.seconds)

    @property
    def rows_per_s(self) -> float:
        """Rows per second at the median wall time."""
        return self.rows / self.median_s

    @property
    def rows_per_cpu_s(self) -> float:
        """Rows per CPU second (user + system) at the median: less sensitive to other load."""
        return self.rows / statistics.median(self.cpu)

    @property
    def peak_rss_mib(self) -> float:
        """The largest peak RSS over the runs, MiB."""
        return max(self.rss_kib) / 1024


def loadavg() -> float:
    """The 1-minute load average: the machine is shared, so other work shows up here."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def idle_fraction(window: float = 2.0) -> float:
    """Share of CPU time idle over ``window`` seconds (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total

    try:
        idle0, total0 = sample()
        time.sleep(window)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return 1.0
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(min_idle: float, max_wait: float) -> float:
    """Wait until the CPUs are at least ``min_idle`` idle (other work on a shared machine
    skews timings), at most ``max_wait`` seconds; return the idle share measured last."""
    deadline = time.monotonic() + max_wait
    idle = idle_fraction()
    while idle < min_idle and time.monotonic() < deadline:
        idle = idle_fraction()
    return idle


def run_once(command: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, int, float, str]:
    """Run ``command`` under GNU time; return wall s, peak RSS (KiB), CPU s (user+sys), stdout."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-f", "%M %U %S", "-o", tf.name, *command]
        t0 = time.perf_counter()
        proc = subprocess.run(full, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode not in ok_codes:
            raise SystemExit(
                f"{shlex.join(command)} exited {proc.returncode}:\n"
                f"{proc.stdout[:2000]}\n{proc.stderr[-2000:]}"
            )
        rss_text, user, system = Path(tf.name).read_text().strip().splitlines()[-1].split()
    return wall, int(rss_text), float(user) + float(system), proc.stdout


def sanity(m: Measure) -> None:
    """Refuse figures from a run that did not do the whole job (a fast failure is no result)."""
    out = m.output
    if out.get("records") != m.rows:
        raise SystemExit(f"{m.tool} read {out.get('records')} records, expected {m.rows}: {out}")
    if m.tool == "hrsignal" and (out.get("error_count") or out.get("valid_records") != m.rows):
        raise SystemExit(f"hrsignal found errors in a file generated valid: {out}")
    if m.tool == "frictionless" and out.get("valid") is not True:
        raise SystemExit(f"frictionless found errors in a file generated valid: {out}")


def measure(m: Measure, runs: int, min_idle: float = 0.0, max_wait: float = 0.0) -> Measure:
    """Run ``m.command`` ``runs`` times, each in a fresh process (after waiting for quiet)."""
    for _ in range(runs):
        measure_once(m, runs, min_idle, max_wait)
    return m


def measure_interleaved(
    measures: list[Measure], runs: int, min_idle: float = 0.0, max_wait: float = 0.0
) -> list[Measure]:
    """Run the tools in turn (A, B, C, A, B, C, ...): on a shared machine whose load drifts,
    each tool then sees the same mix of quiet and busy moments, so their ratio is fair."""
    for _ in range(runs):
        for m in measures:
            measure_once(m, runs, min_idle, max_wait)
    return measures


def measure_once(m: Measure, runs: int, min_idle: float = 0.0, max_wait: float = 0.0) -> None:
    """One run of ``m.command`` in a fresh process (after waiting for quiet, if asked)."""
    i = len(m.seconds)
    m.idle.append(wait_for_quiet(min_idle, max_wait) if min_idle > 0 else float("nan"))
    m.load.append(loadavg())
    wall, rss, cpu, out = run_once(m.command)
    m.seconds.append(wall)
    m.rss_kib.append(rss)
    m.cpu.append(cpu)
    if i == 0:
        data = json.loads(out)
        m.output = {
            k: data.get(k)
            for k in (
                "records",
                "valid_records",
                "error_count",
                "warning_count",
                "valid",
                "errors",
                "first_error",
            )
            if k in data
        }
        sanity(m)
    print(
        f"  {m.tool:<13} {m.rows:>10,} rows  run {i + 1}/{runs}: {wall:7.2f} s  "
        f"cpu {cpu:6.2f} s  "
        f"{rss / 1024:7.1f} MiB  (before: load {m.load[-1]:.2f}, idle {m.idle[-1]:.0%})",
        flush=True,
    )


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def commands(file: Path, now: str, slice_file: Path) -> dict[str, list[str]]:
    """The exact command each tool is measured with."""
    me = str(Path(__file__).resolve().relative_to(ROOT))
    py = _rel(Path(sys.executable))
    return {
        "hrsignal": [
            _rel(HRSIGNAL), "validate", _rel(file), "--now", now, "--format", "json",
        ],
        "csv.reader": [py, me, "_csvreader", _rel(file)],
        "frictionless": [py, me, "_frictionless", _rel(slice_file), "--now", now],
    }  # fmt: skip


def machine() -> str:
    """A one-line description of the machine."""
    mem = "?"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024**2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem} RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def code_state() -> str:
    """HEAD and a digest of the validator's sources (scenarios, cli) as they are on disk now.

    The working tree may change while a benchmark runs (others commit to it); comparing this
    before and after tells whether every run measured the same code.
    """
    import hashlib

    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    digest = hashlib.sha256()
    pkg = ROOT / "src" / "hrsignal"
    # what `hrsignal validate` runs: the scenarios package and the CLI around it
    for path in [*sorted((pkg / "scenarios").iterdir()), pkg / "cli.py", pkg / "errors.py"]:
        if path.is_file():
            digest.update(path.read_bytes())
    return f"HEAD {head}, validator sources digest {digest.hexdigest()[:12]}"


def versions() -> str:
    """Versions of the libraries that matter for the figures."""
    import frictionless

    return (
        f"pyarrow {pa.__version__}, numpy {np.__version__}, frictionless {frictionless.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    """Generate the files, measure, print a table and optionally write the results file."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_csvreader":
        worker_csvreader(argv[1])
        return 0
    if argv and argv[0] == "_frictionless":
        p = argparse.ArgumentParser(prog="validate.py _frictionless")
        p.add_argument("file")
        p.add_argument("--now", default=DEFAULT_NOW)
        a = p.parse_args(argv[1:])
        worker_frictionless(a.file, a.now)
        return 0

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--sizes", default="1000000,10000000", help="comma-separated row counts")
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    ap.add_argument("--runs-large", type=int, default=None, help="runs for sizes >= 5M rows")
    ap.add_argument("--now", default=DEFAULT_NOW, help="clock of the date window (ISO 8601)")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument(
        "--layout",
        choices=["mixed", "uniform"],
        default="mixed",
        help="mixed: each date in one of 6 layouts (0/3/7 fractional digits, Z or offsets);\n"
        "uniform: every date as 2026-04-23T15:18:02.4675041+05:30",
    )
    ap.add_argument("--frictionless-rows", type=int, default=100_000)
    ap.add_argument("--skip", default="", help="comma-separated tools to skip")
    ap.add_argument("--json", type=Path, help="also write the raw measurements here")
    ap.add_argument(
        "--min-idle",
        type=float,
        default=0.9,
        help="before each run, wait until this share of CPU is idle (0 = do not wait)",
    )
    ap.add_argument("--max-wait", type=float, default=180.0, help="seconds to wait for quiet")
    ap.add_argument(
        "--interleave",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the tools in turn, run by run (default), rather than all runs of one tool\n"
        "then the next: fairer ratios while other work comes and goes",
    )
    args = ap.parse_args(argv)

    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    args.out.mkdir(parents=True, exist_ok=True)
    skip = {s for s in args.skip.split(",") if s}
    results: list[Measure] = []
    print(machine())
    print(versions())
    before = code_state()
    print(before)
    # Bytecode for hrsignal's sources, as a regular (non-editable) pip install writes it: in an
    # editable checkout with PYTHONDONTWRITEBYTECODE set (as on the shared machine) every run
    # would otherwise compile the validator's modules again (about 50 ms of each run).
    compileall.compile_dir(str(ROOT / "src" / "hrsignal"), quiet=1)
    for size in (int(s) for s in args.sizes.split(",")):
        tag = "" if args.layout == "mixed" else f"-{args.layout}"
        path = args.out / f"resignations-{size}-seed{args.seed}{tag}.csv"
        if not path.exists():
            secs = generate(path, size, now, args.seed, args.layout == "uniform")
            print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {secs:.1f} s")
        slice_path = (
            args.out / f"resignations-{size}-seed{args.seed}{tag}-head{args.frictionless_rows}.csv"
        )
        if not slice_path.exists():
            head_slice(path, slice_path, args.frictionless_rows)
        runs = args.runs_large if (args.runs_large and size >= 5_000_000) else args.runs
        cmds = commands(path, args.now, slice_path)
        measures = []
        for tool, cmd in cmds.items():
            if tool in skip:
                continue
            rows = min(size, args.frictionless_rows) if tool == "frictionless" else size
            f = slice_path if tool == "frictionless" else path
            measures.append(Measure(tool, f, size, rows, cmd))
        if args.interleave:
            results += measure_interleaved(measures, runs, args.min_idle, args.max_wait)
        else:
            results += [measure(m, runs, args.min_idle, args.max_wait) for m in measures]
    table = render(results)
    print(table)
    after = code_state()
    if after.split(", ")[1] != before.split(", ")[1]:
        print(f"WARNING: the validator's code changed during the run: {before} -> {after}")
    elif after != before:
        print(f"(HEAD moved during the run, the validator's sources did not: {after})")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "versions": versions(),
                    "code_before": before,
                    "code_after": after,
                    "measures": [
                        {
                            "tool": m.tool,
                            "file": _rel(m.file),
                            "size": m.size,
                            "rows": m.rows,
                            "command": shlex.join(m.command),
                            "seconds": m.seconds,
                            "rss_kib": m.rss_kib,
                            "cpu_seconds": m.cpu,
                            "load_before": m.load,
                            "idle_before": m.idle,
                            "output": m.output,
                        }
                        for m in results
                    ],
                },
                indent=2,
            )
        )
    return 0


def render(results: list[Measure]) -> str:
    """A Markdown table of the medians, with the ratios against hrsignal on the same file.

    "paired" is the median over rounds of hrsignal's rows/s divided by the tool's rows/s in
    the same round (runs interleaved): the figure least moved by other load on the machine.
    """
    lines = [
        "| tool | file rows | rows measured | runs | median s | best s | rows/s (median) "
        "| peak RSS MiB | hrsignal speed-up (median) | hrsignal speed-up (paired) "
        "| CPU s (median) | rows per CPU s | hrsignal CPU efficiency |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    hr_runs = {m.size: m for m in results if m.tool == "hrsignal"}
    for m in results:
        hr = hr_runs.get(m.size)
        ratio = cratio = paired = ""
        if m.tool != "hrsignal" and hr is not None:
            ratio = f"{hr.rows_per_s / m.rows_per_s:.2f}x"
            cratio = f"{hr.rows_per_cpu_s / m.rows_per_cpu_s:.2f}x"
            pairs = [
                (hr.rows / a) / (m.rows / b) for a, b in zip(hr.seconds, m.seconds, strict=False)
            ]
            paired = f"{statistics.median(pairs):.2f}x" if pairs else ""
        lines.append(
            f"| {m.tool} | {m.size:,} | {m.rows:,} | {len(m.seconds)} | {m.median_s:.2f} | "
            f"{min(m.seconds):.2f} | "
            f"{m.rows_per_s:,.0f} | {m.peak_rss_mib:.0f} | {ratio} | {paired} | "
            f"{statistics.median(m.cpu):.2f} | {m.rows_per_cpu_s:,.0f} | {cratio} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
