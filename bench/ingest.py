"""Benchmark: ingestion throughput of ``hrsignal serve`` over loopback.

Posts N resignation rows in chunks of C rows (default 1,000,000 in 50,000-row chunks), as the
official script does (v1 token, .NET-style multipart, one chunk after another), to a real
``hrsignal serve`` process on 127.0.0.1, on SQLite and on PostgreSQL. Reports records saved
per second, the server's peak RSS (VmHWM), and the same for a full re-upload (every record
unchanged). Each figure is the median of ``--runs`` runs, each on a fresh database.

    .venv/bin/python bench/ingest.py --rows 1000000 --chunk 50000 --runs 3

PostgreSQL is a throwaway cluster started from /usr/lib/postgresql/*/bin (as the ``postgres``
user when run as root), with fsync on, as a server would run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote_plus

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
RESOURCE = "https://microsoft.onmicrosoft.com/86dfdabb-5089-4a0c-880a-cfa5a790c5b1"
HEADER = "EmailAddress,ResignationDate,LastWorkingDate"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chunks(rows: int, size: int) -> list[bytes]:
    """CSV chunks (header repeated, CRLF), dates inside the default LastWorkingDate window."""
    base = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    out = []
    for start in range(0, rows, size):
        lines = [HEADER]
        for i in range(start, min(rows, start + size)):
            resigned = base - dt.timedelta(days=20 + i % 120, minutes=i % 1440)
            last = resigned + dt.timedelta(days=14)
            lines.append(
                f"user{i:07d}@contoso.com,{resigned:%Y-%m-%dT%H:%M:%S}Z,{last:%Y-%m-%dT%H:%M:%S}Z"
            )
        out.append(("\r\n".join(lines) + "\r\n").encode())
    return out


def dotnet_multipart(csv: bytes, index: int) -> tuple[bytes, str]:
    boundary = str(uuid.uuid4())
    name = f"tmp_{uuid.uuid4()}{index:04d}.txt"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename={name}; "
        f"filename*=utf-8''{name}\r\n\r\n"
    ).encode()
    return head + csv + f"\r\n--{boundary}--\r\n".encode(), (
        f'multipart/form-data; boundary="{boundary}"'
    )


def cli(db: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [PY, "-m", "hrsignal.cli", *args, "--db", db, "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return dict(json.loads(out.stdout))


class Postgres:
    """A throwaway cluster for the benchmark."""

    def __init__(self) -> None:
        bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        if not bindirs:
            raise SystemExit("PostgreSQL binaries not found")
        self.bin = Path(bindirs[0])
        self.user = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="hrsignal-bench-pg-"))
        if self.user:
            shutil.chown(self.root, self.user)
        self.port = free_port()
        self._run(
            "initdb", "-D", str(self.root / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8"
        )
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-o",
            opts,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def new_database(self) -> str:
        import psycopg

        name = "bench_" + uuid.uuid4().hex[:8]
        url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_run(db: str, data: list[bytes], workdir: Path) -> dict[str, float]:
    sample = workdir / "sample.csv"
    sample.write_bytes(data[0][:2000].rsplit(b"\r\n", 1)[0] + b"\r\n")
    app = cli(db, "apps", "create", "bench")
    job = cli(
        db,
        "connectors",
        "create",
        "--name",
        "bench",
        "--app-id",
        str(app["app_id"]),
        "--scenario",
        "resignations",
        "--sample",
        str(sample),
    )
    port = free_port()
    server = subprocess.Popen(
        [PY, "-m", "hrsignal.cli", "serve", "--db", db, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        form = "&".join(
            f"{k}={quote_plus(str(v))}"
            for k, v in {
                "client_id": app["app_id"],
                "client_secret": app["secret"],
                "grant_type": "client_credentials",
                "resource": RESOURCE,
                "tenant_id": app["tenant_id"],
            }.items()
        )
        with httpx.Client(timeout=400) as client:
            token = client.post(
                f"{base}/{app['tenant_id']}/oauth2/token?api-version=1.0",
                content=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ).json()["access_token"]
            results = {}
            for label in ("first", "again"):
                saved = unchanged = 0
                start = time.perf_counter()
                for i, chunk in enumerate(data, start=1):
                    body, ctype = dotnet_multipart(chunk, i)
                    r = client.post(
                        f"{base}/api/signals?jobid={job['job_id']}",
                        content=body,
                        headers={"Content-Type": ctype, "Authorization": f"Bearer {token}"},
                    )
                    r.raise_for_status()
                    saved += r.json()["recordsSaved"]
                    unchanged += r.json()["recordsUnchanged"]
                elapsed = time.perf_counter() - start
                results[label] = elapsed
                results[f"{label}_saved"] = saved
                results[f"{label}_unchanged"] = unchanged
        results["rss"] = peak_rss_mib(server.pid)
        return results
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    data = chunks(args.rows, args.chunk)
    print(f"{args.rows:,} rows in {len(data)} chunks of {args.chunk:,}", file=sys.stderr)
    table = []
    for backend in args.backends.split(","):
        pg = Postgres() if backend == "postgres" else None
        runs = []
        try:
            for run in range(args.runs):
                with tempfile.TemporaryDirectory() as tmp:
                    db = pg.new_database() if pg else f"sqlite:///{tmp}/bench.db"
                    r = one_run(db, data, Path(tmp))
                assert r["first_saved"] == args.rows, r
                assert r["again_saved"] == 0 and r["again_unchanged"] == args.rows, r
                runs.append(r)
                print(
                    f"{backend} run {run + 1}: first {args.rows / r['first']:,.0f} rec/s, "
                    f"re-upload {args.rows / r['again']:,.0f} rec/s, "
                    f"peak RSS {r['rss']:.0f} MiB",
                    file=sys.stderr,
                )
        finally:
            if pg:
                pg.stop()
        first = statistics.median(args.rows / r["first"] for r in runs)
        again = statistics.median(args.rows / r["again"] for r in runs)
        rss = statistics.median(r["rss"] for r in runs)
        table.append(
            (
                backend,
                first,
                again,
                rss,
                statistics.median(r["first"] for r in runs),
                statistics.median(r["again"] for r in runs),
            )
        )
    print(
        "| backend | saved rec/s (first upload) | rec/s (re-upload, all unchanged) "
        "| time first / re-upload | server peak RSS |"
    )
    print("|---|---:|---:|---:|---:|")
    for backend, first, again, rss, t1, t2 in table:
        print(
            f"| {backend} | {first:,.0f} | {again:,.0f} | {t1:.1f} s / {t2:.1f} s | {rss:.0f} MiB |"
        )


if __name__ == "__main__":
    main()
