"""Benchmark the whole CERT evaluation harness (``hrsignal eval cert``): time and peak memory.

No CERT download is present here (and none may be committed), so the input is a synthetic
organisation in the CERT r4.2 layout written by ``hrsignal.evaluation.synth``. ``--scale 1``
matches r4.2's size: 1,000 users, 500 days, about 28 M web visits with ~60-word content
(about 14 GB of http.csv) and about 32 M rows in all; ``--scale 0.1`` has a tenth of the users.

Each run is a fresh ``hrsignal eval cert DIR --release r4.2 --format json`` subprocess (all
three notice periods, hrsignal's policy and both baselines) under GNU time: wall time around
the subprocess, peak RSS from ``%M`` (KiB). The harness's own per-stage seconds come from its
JSON report. The machine is shared with other work, so the 1-minute load average is recorded.
Usage::

    .venv/bin/python bench/eval_cert.py --scale 0.1 --runs 3
    .venv/bin/python bench/eval_cert.py --scale 1 --runs 2 --data /var/tmp/cert-synth

The generated organisation is kept under ``--data`` and reused when its configuration matches.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hrsignal.evaluation.synth import SynthConfig, generate

HRSIGNAL = Path(sys.executable).parent / "hrsignal"


def config_for(scale: float) -> SynthConfig:
    """An r4.2-sized organisation times ``scale`` (in users; the period stays 500 days)."""
    return SynthConfig(
        users=max(40, round(1000 * scale)),
        days=500,
        benign_leavers=max(10, round(85 * scale)),
        http_per_day=83.0,
        email_per_day=7.5,
        content_words=60,
        seed=20100102,
    )


def ensure_org(data: Path, config: SynthConfig) -> tuple[Path, float, dict[str, int]]:
    """Generate (or reuse) the organisation; return its folder, generation seconds, rows."""
    name = f"cert-synth-u{config.users}-d{config.days}-h{config.http_per_day:g}-s{config.seed}"
    folder = data / name
    manifest = folder / "manifest.json"
    if manifest.is_file():
        doc = json.loads(manifest.read_text())
        return folder, float(doc["seconds"]), dict(doc["rows"])
    started = time.perf_counter()
    result = generate(folder, config)
    seconds = time.perf_counter() - started
    manifest.write_text(json.dumps({"seconds": seconds, "rows": result.rows}))
    return folder, seconds, result.rows


def run_once(folder: Path, work: Path) -> dict[str, Any]:
    """One harness run under GNU time: wall seconds, peak RSS (MiB), the JSON report."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        command = [
            "/usr/bin/time", "-f", "%M", "-o", timing.name,
            str(HRSIGNAL), "eval", "cert", str(folder), "--release", "r4.2",
            "--format", "json", "--work-dir", str(work),
        ]  # fmt: skip
        load = os.getloadavg()[0]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"harness failed ({done.returncode}):\n{done.stderr[-3000:]}")
        peak_kib = int(timing.read().strip().splitlines()[-1])
    return {
        "wall_s": wall,
        "peak_rss_mib": peak_kib / 1024,
        "load_1min": load,
        "report": json.loads(done.stdout),
    }


def machine() -> str:
    """A one-line description of the machine."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    """Generate the organisation, run the harness ``--runs`` times, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1 = r4.2 size (1,000 users)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "cert-bench")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    config = config_for(args.scale)
    args.data.mkdir(parents=True, exist_ok=True)
    folder, gen_s, rows = ensure_org(args.data, config)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(machine())
    print(
        f"organisation: {config.users} users, {config.days} days, {sum(rows.values()):,} rows "
        f"({rows['http']:,} http), {size / 2**30:.2f} GiB, generated in {gen_s:.0f} s"
    )
    runs = []
    for n in range(args.runs):
        work = args.data / "work"
        work.mkdir(exist_ok=True)
        run = run_once(folder, work)
        runs.append(run)
        stages = ", ".join(f"{k} {v:.1f}" for k, v in run["report"]["seconds"].items())
        print(
            f"run {n + 1}: {run['wall_s']:.1f} s, peak RSS {run['peak_rss_mib']:.0f} MiB, "
            f"load {run['load_1min']:.1f} ({stages})"
        )
    walls = [r["wall_s"] for r in runs]
    peaks = [r["peak_rss_mib"] for r in runs]
    print(
        f"median of {len(runs)}: {statistics.median(walls):.1f} s, peak RSS "
        f"{statistics.median(peaks):.0f} MiB (max {max(peaks):.0f} MiB)"
    )
    if args.json:
        summary = {
            "machine": machine(),
            "config": {k: getattr(config, k) for k in config.__slots__ if k != "start"},
            "rows": rows,
            "bytes": size,
            "generation_s": gen_s,
            "runs": [{k: v for k, v in r.items() if k != "report"} for r in runs],
            "stages": [r["report"]["seconds"] for r in runs],
            "figures": runs[-1]["report"]["notice_days"],
        }
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
