"""Benchmark ``hrsignal upload`` against a plain read-and-send of the same bytes.

Starts the local stand-in for Microsoft's endpoints (``tests/fakes/microsoft.py``: TLS from a
test CA, token endpoint and ``/api/signals``, keeping counts only) on loopback, generates a
resignations file of ``--sizes`` rows, and measures, each in a fresh subprocess, the median of
``--runs`` runs of:

* ``read+hash``: read the file in 1 MiB blocks and SHA-256 it (the floor: touching the bytes);
* ``plain send``: read+hash, get one token with a bare POST, then send the file's lines in
  chunks of ``--records-per-call`` lines (header repeated) as multipart over httpx: what a
  minimal uploader with no validation, no record parsing and no checkpoint does;
* ``hrsignal upload``: the product (full validation pass, then a streamed send pass with the
  durable checkpoint), with a fresh ``--state-dir`` each run.

Peak RSS is GNU time's ``%M`` of the child (KiB). The fake checks that
every run delivered every record. Usage::

    .venv/bin/python bench/upload.py                                  # 1M rows, 3 runs
    .venv/bin/python bench/upload.py --sizes 250000 1000000 --runs 3 --write-results
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.microsoft import FakeMicrosoft  # noqa: E402 - after the path tweak

TENANT = "0f8a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
APP = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
JOB = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"
SECRET = "bench-secret-value"  # noqa: S105 - a throwaway secret of the local fake

READ_HASH = """
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    while b := f.read(1 << 20):
        h.update(b)
print(h.hexdigest())
"""

PLAIN_SEND = """
import hashlib, sys, ssl, uuid, httpx
path, base, ca, tenant, app, secret, job, per_call = sys.argv[1:9]
per_call = int(per_call)
h = hashlib.sha256()
with open(path, "rb") as f:
    while b := f.read(1 << 20):
        h.update(b)
ctx = ssl.create_default_context(cafile=ca)
with httpx.Client(verify=ctx, timeout=400) as c:
    tok = c.post(f"{base}/{tenant}/oauth2/v2.0/token", data={
        "client_id": app, "client_secret": secret, "grant_type": "client_credentials",
        "scope": "https://microsoft.onmicrosoft.com/86dfdabb-5089-4a0c-880a-cfa5a790c5b1/.default",
    }).json()["access_token"]
    def send(lines):
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\\r\\nContent-Disposition: form-data; name=\\"file\\"; "
                f"filename=\\"x.csv\\"\\r\\n\\r\\n").encode() + header + b"".join(lines) + (
                f"\\r\\n--{boundary}--\\r\\n").encode()
        r = c.post(f"{base}/api/signals", params={"jobid": job}, content=body,
                   headers={"Authorization": f"Bearer {tok}",
                            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        r.raise_for_status()
    with open(path, "rb") as f:
        header = f.readline()
        batch = []
        for line in f:
            batch.append(line)
            if len(batch) == per_call:
                send(batch)
                batch = []
        if batch:
            send(batch)
"""


def generate(path: Path, rows: int, now: dt.datetime) -> None:
    """A valid resignations file: ``rows`` records, dates inside the default window."""
    resigned = (now - dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%S.%f0+05:30")
    last = (now + dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("EmailAddress,ResignationDate,LastWorkingDate\r\n")
        block = []
        for i in range(rows):
            block.append(f"user{i:07d}@contoso.com,{resigned},{last}\r\n")
            if len(block) == 100_000:
                fh.write("".join(block))
                block = []
        fh.write("".join(block))


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB, GNU time's %M) of one child process."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")[-2000:]
            raise SystemExit(f"{shlex.join(cmd[:6])}... failed ({proc.returncode}): {err}")
        return wall, int(rss.read().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records-per-call", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    results: list[dict[str, object]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeMicrosoft(Path(tmp) / "tls", keep_rows=False) as fake,
    ):
        fake.add_app(TENANT, APP, secret=SECRET)
        fake.add_job(JOB, APP)
        ca = str(fake.ca.ca_path)
        for size in args.sizes:
            path = args.out / f"upload-resignations-{size}.csv"
            generate(path, size, now)
            mib = path.stat().st_size / 2**20
            cmds = {
                "read+hash": [sys.executable, "-c", READ_HASH, str(path)],
                "plain send": [
                    sys.executable, "-c", PLAIN_SEND, str(path), fake.url, ca, TENANT, APP,
                    SECRET, JOB, str(args.records_per_call),
                ],
            }  # fmt: skip
            timings: dict[str, list[tuple[float, int]]] = {k: [] for k in [*cmds, "hrsignal"]}
            for i in range(args.runs):
                for name, cmd in cmds.items():
                    before = fake.records_accepted
                    timings[name].append(run(cmd))
                    if name == "plain send":
                        assert fake.records_accepted - before == size
                state = Path(tmp) / f"state-{size}-{i}"
                upload = [
                    sys.executable, "-m", "hrsignal.cli", "upload", str(path),
                    "--tenant-id", TENANT, "--app-id", APP, "--job-id", JOB,
                    "--login-url", fake.url, "--ingestion-url", fake.url, "--ca-bundle", ca,
                    "--state-dir", str(state), "--records-per-call", str(args.records_per_call),
                    "--now", now.isoformat(), "--format", "json",
                ]  # fmt: skip
                before = fake.records_accepted
                env_cmd = ["env", f"HRSIGNAL_APP_SECRET={SECRET}", *upload]
                timings["hrsignal"].append(run(env_cmd))
                assert fake.records_accepted - before == size, "records lost or duplicated"
            row: dict[str, object] = {"rows": size, "mib": mib}
            for name, values in timings.items():
                wall = statistics.median(v[0] for v in values)
                rss = max(v[1] for v in values)
                row[name] = (wall, rss)
                print(
                    f"{size:>9,} rows {mib:7.1f} MiB  {name:<10} {wall:7.2f} s "
                    f"{size / wall:>12,.0f} rec/s  peak RSS {rss / 1024:7.1f} MiB",
                    flush=True,
                )
            ratio = row["hrsignal"][0] / row["plain send"][0]  # type: ignore[index]
            print(f"{'':>9} hrsignal / plain send = {ratio:.2f}x", flush=True)
            row["ratio"] = ratio
            results.append(row)
    if args.write_results:
        write_results(args, results)


def write_results(args: argparse.Namespace, results: list[dict[str, object]]) -> None:
    """bench/RESULTS-upload.md"""
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    lines = [
        "# Upload benchmark (`bench/upload.py`)",
        "",
        f"Command: `.venv/bin/python bench/upload.py --sizes {' '.join(map(str, args.sizes))} "
        f"--runs {args.runs} --write-results`  ",
        f"Machine: 2 cores, 24 GiB, Python {platform.python_version()}, {platform.system()}; "
        f"HEAD {head}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.  ",
        f"Median wall time of {args.runs} runs, each in a fresh process; peak RSS is the largest "
        "GNU time `%M` of the runs. The target is the local TLS stand-in for Microsoft "
        "(`tests/fakes/microsoft.py`) on loopback, in the benchmark's process, "
        f"{args.records_per_call} records per request.",
        "",
        "| rows | MiB | read+hash s | plain send s | hrsignal upload s | hrsignal rec/s | "
        "hrsignal / plain send | peak RSS plain send | peak RSS hrsignal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rh, ps, hs = r["read+hash"], r["plain send"], r["hrsignal"]
        lines.append(
            f"| {r['rows']:,} | {r['mib']:.0f} | {rh[0]:.2f} | {ps[0]:.2f} | "  # type: ignore[index]
            f"{hs[0]:.2f} | {r['rows'] / hs[0]:,.0f} | {r['ratio']:.2f}x | "  # type: ignore[index,operator]
            f"{ps[1] / 1024:.0f} MiB | {hs[1] / 1024:.0f} MiB |"  # type: ignore[index]
        )
    out = ROOT / "bench" / "RESULTS-upload.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
