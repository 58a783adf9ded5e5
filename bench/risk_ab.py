"""A/B timing of ``bench/risk.py`` phases for two versions of hrsignal, interleaved.

On a shared machine the wall time of one phase follows the other users' load; running the two
versions turn about (A, B, A, B, ...) on the same generated data lets both see the same load.
Each phase runs in a fresh child process (``risk.PHASE``) with ``PYTHONPATH`` pointing at that
version's ``src``, and reports wall seconds, CPU seconds (all threads), peak RSS and the 1-min
load average before it.

Usage (the data comes from ``bench/risk.py --work DIR``; the old version from a clone)::

    git clone -q . /tmp/old && git -C /tmp/old checkout -q dcdf99a
    .venv/bin/python bench/risk_ab.py --work /tmp/rk/bench10k --old-src /tmp/old/src \\
        --phases import_parquet --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import risk  # the sibling benchmark module, importable once its folder is on the path

FIELDS = ("seconds", "cpu_s", "peak_rss_mib", "read")


def main() -> None:
    """Run the phases for each version in turn; print one JSON line per run, then medians."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--old-src", type=Path, required=True)
    ap.add_argument("--new-src", type=Path, default=Path(__file__).parents[1] / "src")
    ap.add_argument("--phases", default="import_parquet")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-limit", default="4GB")
    args = ap.parse_args()
    versions = {"old": args.old_src, "new": args.new_src}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for rep in range(args.repeat):
        for name, src in versions.items():
            for phase in args.phases.split(","):
                if phase.startswith("import"):
                    for d in ("data", "csvdata"):
                        shutil.rmtree(args.work / d, ignore_errors=True)
                load = os.getloadavg()[0]
                r = subprocess.run(
                    [sys.executable, "-c", risk.PHASE, str(args.work), phase, args.memory_limit],
                    capture_output=True,
                    text=True,
                    env=dict(os.environ, PYTHONPATH=str(src)),
                    check=False,
                )
                if r.returncode:
                    raise SystemExit(f"{name} {phase} failed:\n{r.stderr[-2000:]}")
                out = json.loads(r.stdout.strip().splitlines()[-1])
                row = {k: round(float(out[k]), 2) for k in FIELDS if k in out}
                row["load1_before"] = round(load, 2)
                results.setdefault((name, phase), []).append(row)
                print(json.dumps({"rep": rep, "version": name, "phase": phase, **row}), flush=True)
    for (name, phase), rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in ("seconds", "cpu_s")}
        print(f"{phase:16} {name}: median {med['seconds']:.1f} s wall, {med['cpu_s']:.1f} s CPU")


if __name__ == "__main__":
    main()
