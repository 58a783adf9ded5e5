"""Run the reliability proving ground and print RELIABILITY.md's table from that run.

    python bench/reliability.py [--runslow] [--out bench/out/reliability.json] [-- PYTEST ARGS]
    python bench/reliability.py --render bench/out/reliability.json

Every row comes from ``pytest tests/reliability --reliability-figures FILE``: each scenario
test records what it sent, what the store holds, what was lost, duplicated and surfaced as an
error. ``--render`` prints the Markdown table of an earlier run without running anything.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["sent", "stored", "lost", "duplicated", "errors_surfaced"]
DETAIL_SKIP = {"scenario", "test", "runs", *COLUMNS}


def run(out: Path, runslow: bool, extra: list[str]) -> int:
    """Run the proving ground, writing the figures to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability",
           f"--reliability-figures={out}", *(["--runslow"] if runslow else []), *extra]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT)
    print(f"# pytest exit {done.returncode} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return done.returncode


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _details(row: dict[str, Any]) -> str:
    parts = []
    for key, value in row.items():
        if key in DETAIL_SKIP:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        parts.append(f"{key.replace('_', ' ')}: {_cell(value)}")
    return "; ".join(parts)


def render(doc: dict[str, Any]) -> str:
    """The Markdown table of one run."""
    lines = [
        "| scenario | runs | records sent | records stored | lost | duplicated | errors "
        "surfaced | details | reproduce |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in doc["rows"]:
        cells = [row["scenario"], _cell(row.get("runs"))]
        cells += [_cell(row.get(c)) for c in COLUMNS]
        node = row["test"]
        cells += [_details(row), f"`pytest '{node}'`" + (" --runslow" if "soak" in node else "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runslow", action="store_true", help="include the soaks")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/reliability.json")
    parser.add_argument("--render", type=Path, default=None, help="only render this JSON")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    if args.render is None:
        code = run(args.out, args.runslow, args.pytest_args)
        source = args.out
    else:
        code, source = 0, args.render
    doc = json.loads(source.read_text(encoding="utf-8"))
    print(render(doc))
    return code


if __name__ == "__main__":
    sys.exit(main())
