"""Benchmark of the dashboard's pages: server time per page on the example organisation.

Builds the example organisation's risk store (examples/activity, one thief among four leavers
and 50 users) and a SQLite store with one account per role, then requests each page REPEAT
times in process over httpx's ASGI transport (no network, so the figure is the server's own
work: session lookup, DuckDB queries, template rendering) and reports the median and p90 in
milliseconds. Sign-in is timed separately: it is argon2id verification by design.

Usage:  .venv/bin/python bench/dashboard.py [--repeat 30] [--work DIR]
Prints JSON and a Markdown table (paste into bench/RESULTS-dashboard.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from hrsignal.server import Settings, create_app
from hrsignal.store import accounts, open_store

EXAMPLES = Path(__file__).parents[1] / "examples" / "activity"
PASSWORD = "benchmark password"  # noqa: S105 - a throwaway account of the benchmark


def _risk(data_dir: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "hrsignal.cli", "risk", "--data-dir", str(data_dir), *args]
    subprocess.run(cmd, check=True, capture_output=True)


def build(work: Path) -> tuple[str, Path]:
    """The example risk store and a database with the three accounts."""
    risk = work / "risk"
    _risk(risk, "import", "purview-audit", str(EXAMPLES / "purview-audit.csv.gz"))
    mapping = str(EXAMPLES / "proxy-mapping.yaml")
    _risk(risk, "import", "generic", str(EXAMPLES / "proxy.jsonl.gz"), "--mapping", mapping)
    hr = ("--hr", str(EXAMPLES / "hr-resignations.csv"))
    _risk(risk, "run", *hr, "--hr", str(EXAMPLES / "employee-profile.csv"))
    db = f"sqlite:///{work / 'hrsignal.db'}"
    store = open_store(db)
    for role in ("admin", "analyst", "investigator"):
        accounts.create_account(store, name=role, role=role, password=PASSWORD)
    store.dispose()
    return db, risk


async def _sign_in(client: httpx.AsyncClient, name: str) -> float:
    form = await client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    start = time.perf_counter()
    r = await client.post(
        "/signin", data={"name": name, "password": PASSWORD, "csrf_token": token[1]}
    )
    elapsed = time.perf_counter() - start
    assert r.status_code == 303, r.text
    return elapsed


async def measure(db: str, risk: Path, repeat: int) -> dict[str, Any]:
    """Median and p90 (ms) of each page."""
    app = create_app(Settings(db_url=db, risk_dir=str(risk), access_log=False))
    transport = httpx.ASGITransport(app=app)
    results: dict[str, Any] = {}
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://bench") as analyst,
        httpx.AsyncClient(transport=transport, base_url="http://bench") as admin,
    ):
        signins = [await _sign_in(analyst, "analyst") for _ in range(min(repeat, 10))]
        results["POST /signin (argon2id)"] = signins
        await _sign_in(admin, "admin")
        listing = await analyst.get("/alerts")
        alert = re.search(r'href="(/alerts/A-[0-9a-f]+)"', listing.text)
        people = await analyst.get("/people")
        person = re.search(r'href="(/people/[^"]+)"', people.text)
        assert alert and person
        pages = {
            "GET /alerts": (analyst, "/alerts"),
            "GET /alerts/{id}": (analyst, alert[1]),
            "GET /people": (analyst, "/people"),
            "GET /people/{policy}/{alias}": (analyst, person[1]),
            "GET /connectors": (admin, "/connectors"),
            "GET /apps": (admin, "/apps"),
            "GET /settings": (admin, "/settings"),
        }
        for label, (client, path) in pages.items():
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                r = await client.get(path)
                times.append(time.perf_counter() - start)
                assert r.status_code == 200, (path, r.status_code)
            results[label] = times
    return {
        label: {
            "median_ms": round(statistics.median(t) * 1000, 1),
            "p90_ms": round(sorted(t)[int(len(t) * 0.9) - 1] * 1000, 1),
            "n": len(t),
        }
        for label, t in results.items()
    }


def main() -> None:
    """Run the benchmark and print the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hrsignal-dash-"))
    db, risk = build(work)
    figures = asyncio.run(measure(db, risk, args.repeat))
    print(json.dumps(figures, indent=2))
    print("\n| page | median ms | p90 ms | n |\n|---|---:|---:|---:|")
    for label, f in figures.items():
        print(f"| `{label}` | {f['median_ms']} | {f['p90_ms']} | {f['n']} |")


if __name__ == "__main__":
    main()
