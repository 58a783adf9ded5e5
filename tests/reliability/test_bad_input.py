"""Bad input: the validator and the ingestion endpoint fuzzed, and decompression-bomb-like
files (huge lines, a million columns, deeply quoted fields) read in bounded memory and time.

The property everywhere: an answer, never a crash. The validator returns a report or raises
an :class:`~hrsignal.errors.HrsignalError`; the endpoint answers 200, 400 or 413 in the one
JSON error shape, never 500; the CLI exits 0, 1 or 2 with no traceback.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from hrsignal.errors import HrsignalError
from hrsignal.scenarios import ValidationOptions, validate
from hrsignal.server import Settings, create_app
from hrsignal.store import open_store
from tests.reliability import harness, logscan
from tests.reliability.conftest import Figures
from tests.server.conftest import run_server

pytestmark = pytest.mark.timeout(300)
FIELDS = ["EmailAddress", "ResignationDate", "LastWorkingDate", "EffectiveDate", "Remarks",
          "OldLevel", "NewLevel", "Rating", "HRScenario", "EmployeeFirstName", "Junk"]  # fmt: skip
SPECTRUM = Path(__file__).parents[1] / "fixtures" / "csv-spectrum" / "csvs"

cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", '"', '""', '"a,b"', "\r\n", "\n", "\r", "2026-02-31T00:00:00Z", "x@y.z", "\ufeff",
         "\x00", "=1+1", "a\"b", ",", "\t", "|", ";", "2026-11-25T00:00:00Z", "\u2028"]
    ),
)  # fmt: skip


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A CSV file: a header of known and unknown names, rows of any width and content, any
    line ending, quoting or none, sometimes a BOM, sometimes UTF-16 or invalid UTF-8."""
    header = draw(st.lists(st.sampled_from(FIELDS) | st.text(max_size=8), min_size=0, max_size=8))
    rows = draw(st.lists(st.lists(cells, max_size=10), max_size=12))
    out = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    writer = csv.writer(out, quoting=quoting, lineterminator=ending)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if draw(st.booleans()):
        text = text.replace('"', "", draw(st.integers(0, 3)))  # break some quoting
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=8)) + data[cut:]
    return data


@given(data=csv_files(), scenario=st.sampled_from([None, "resignations", "multi"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_validator_answers_every_generated_file(data: bytes, scenario: str | None) -> None:
    """Any generated file gets a report with consistent counts, or an HrsignalError."""
    try:
        report = validate(
            io.BytesIO(data), scenario=scenario, options=ValidationOptions(), name="f.csv"
        )
    except HrsignalError:
        return
    assert 0 <= report.valid_records <= report.records
    assert report.error_count >= 0 and report.warning_count >= 0


@dataclass
class Endpoint:
    """The service on loopback (in this process) with a job and a token."""

    base_url: str
    job_id: str
    token: str
    db_url: str


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """The service on loopback with a job and a bearer token."""
    tmp = tmp_path_factory.mktemp("fuzz")
    store = open_store(f"sqlite:///{tmp / 'hr.db'}")
    job = harness.make_job(store)
    logscan.register_secret(job.secret)
    app = create_app(Settings(db_url=store.url, access_log=False), store=store)
    for running in run_server(app, None):
        token = httpx.post(
            f"{running.base_url}/{job.tenant_id}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": job.app_id,
                  "client_secret": job.secret, "scope": harness.RESOURCE + "/.default"},
        ).json()["access_token"]  # fmt: skip
        logscan.register_secret(token)
        yield Endpoint(running.base_url, job.job_id, token, store.url)
    store.dispose()


def _post(
    endpoint: Endpoint, body: bytes, content_type: str, timeout: float = 60
) -> httpx.Response:
    return httpx.post(
        f"{endpoint.base_url}/api/signals",
        params={"jobid": endpoint.job_id},
        content=body,
        headers={"Authorization": f"Bearer {endpoint.token}", "Content-Type": content_type},
        timeout=timeout,
    )


def _answered(answer: httpx.Response) -> None:
    assert answer.status_code in (200, 400, 413), answer.text[:500]
    if answer.status_code != 200:
        error = answer.json()["error"]
        assert error["status"] == answer.status_code and error["message"]


@given(
    data=csv_files(),
    form=st.sampled_from(["raw", "multipart", "multipart-broken", "no-type"]),
    boundary=st.text(alphabet="abc-_'\"= ", min_size=1, max_size=20),
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
def test_ingestion_answers_every_generated_body(
    endpoint: Endpoint, data: bytes, form: str, boundary: str
) -> None:
    """Any generated file, raw or in a (possibly broken) multipart body, answers 200, 400 or
    413 in the JSON error shape; never 500."""
    if form == "raw":
        answer = _post(endpoint, data, "text/csv")
    elif form == "no-type":
        answer = _post(endpoint, data, "")
    else:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"'
        tail = "" if form == "multipart-broken" else f"\r\n--{boundary}--\r\n"
        body = head.encode() + b"\r\n\r\n" + data + tail.encode()
        answer = _post(endpoint, body, f'multipart/form-data; boundary="{boundary}"')
    _answered(answer)


def test_csv_spectrum_through_the_endpoint(endpoint: Endpoint) -> None:
    """Every csv-spectrum edge case posted to the endpoint answers without a 500."""
    files = sorted(SPECTRUM.glob("*.csv"))
    assert len(files) >= 10
    for path in files:
        _answered(_post(endpoint, path.read_bytes(), "text/csv"))


# --- bombs: huge lines, a million columns, deep quoting ---------------------------------------


def _bombs(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    header = b"EmailAddress,ResignationDate,LastWorkingDate\n"
    made = {
        "a 64 MiB line": header + b"a" * (64 << 20),
        "a million columns": b",".join([b"c%d" % i for i in range(1_000_000)]) + b"\n1,2\n",
        "a million-column row": header + b"," * 1_000_000 + b"\n",
        "32 MiB of doubled quotes": header + b'"' + b'""' * (16 << 20) + b'",x,y\n',
        "an unterminated quote over 8 MiB": header + b'"' + b"a,b\n" * (2 << 20),
        "a million empty lines": header + b"\n" * 1_000_000,
    }
    paths = {}
    for name, data in made.items():
        path = directory / (name.replace(" ", "-") + ".csv")
        path.write_bytes(data)
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bomb-like files."""
    return _bombs(tmp_path_factory.mktemp("bombs"))


#: Peak memory allowed for validating one bomb (the files are 5-64 MiB).
MEMORY_LIMIT_MIB = 1024


@pytest.mark.parametrize(
    "name",
    ["a 64 MiB line", "a million columns", "a million-column row", "32 MiB of doubled quotes",
     "an unterminated quote over 8 MiB", "a million empty lines"],
)  # fmt: skip
def test_bomb_like_files_are_answered_in_bounded_memory_and_time(
    name: str, bombs: dict[str, Path], figures: Figures, request: pytest.FixtureRequest
) -> None:
    """``hrsignal validate`` answers each bomb-like file (exit 0, 1 or 2, no traceback)
    within 60 s and a 1 GiB peak resident set."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", PEAK, "validate", str(bombs[name]), "--format", "json",
         "--max-findings", "5"],
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    err = done.stderr.decode(errors="replace")
    peak = _peak_mib(err)
    assert done.returncode in (0, 1, 2), err[-2000:]
    assert "Traceback" not in err and "Exception ignored" not in err, err[-2000:]
    assert elapsed < 60
    assert peak < MEMORY_LIMIT_MIB, f"{name}: {peak:.0f} MiB"
    figures.add(
        f"bomb: {name} (validate)",
        node=request.node.nodeid,
        runs=1,
        bytes=bombs[name].stat().st_size,
        exit=done.returncode,
        seconds=round(elapsed, 1),
        peak_mib=round(peak),
        errors_surfaced=0,
    )


#: Runs the CLI and reports the process's own peak resident set (VmHWM, reset at exec, so
#: not inherited from this large test process the way getrusage's maximum is).
PEAK = """
import atexit, sys
def peak():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            sys.stderr.write('PEAK_KIB ' + line.split()[1] + '\\n')
            sys.stderr.flush()
atexit.register(peak)
from hrsignal.cli import main
main(sys.argv[1:])
"""


def _peak_mib(stderr: str) -> float:
    kib = [int(line.split()[1]) for line in stderr.splitlines() if line.startswith("PEAK_KIB")]
    assert kib, stderr[-1000:]
    return kib[-1] / 1024


def _vm_hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_bomb_like_bodies_at_the_endpoint(
    bombs: dict[str, Path],
    tmp_path: Path,
    figures: Figures,
    request: pytest.FixtureRequest,
) -> None:
    """Each bomb-like file posted to ``hrsignal serve`` answers 200 (rows rejected) or 400
    (refused), never 500, and the service's peak resident set stays under 1.5 GiB."""
    db_url = f"sqlite:///{tmp_path / 'hr.db'}"
    store = open_store(db_url)
    job = harness.make_job(store)
    store.dispose()
    logscan.register_secret(job.secret)
    service = harness.Service(db_url, harness.free_port(), tmp_path / "service.log")
    logscan.watch_file(service.log_path)
    service.start()
    try:
        token = httpx.post(
            f"{service.url}/{job.tenant_id}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": job.app_id,
                  "client_secret": job.secret, "scope": harness.RESOURCE + "/.default"},
        ).json()["access_token"]  # fmt: skip
        statuses = {}
        for name, path in bombs.items():
            started = time.monotonic()
            answer = httpx.post(
                f"{service.url}/api/signals",
                params={"jobid": job.job_id},
                content=path.read_bytes(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
                timeout=120,
            )
            statuses[name] = (answer.status_code, round(time.monotonic() - started, 1))
            assert answer.status_code in (200, 400), f"{name}: {answer.text[:300]}"
        assert service.proc is not None
        peak = _vm_hwm_mib(service.proc.pid)
    finally:
        service.stop()
    assert "Traceback" not in service.log()
    assert peak < 1536, f"{peak:.0f} MiB"
    figures.add(
        "bombs at the endpoint (all six, one service)",
        node=request.node.nodeid,
        runs=len(bombs),
        statuses={k: v[0] for k, v in statuses.items()},
        seconds={k: v[1] for k, v in statuses.items()},
        peak_mib=round(peak),
        errors_surfaced=0,
    )


def test_a_short_row_that_is_not_utf8_prints_no_traceback(tmp_path: Path) -> None:
    """A row with too few fields and bytes that are not UTF-8 is one field-count finding;
    nothing is printed to stderr (Arrow's invalid-row callback used to print a traceback)."""
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"EmailAddress,ResignationDate,LastWorkingDate\n"
        b"a@contoso.com,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z\n"
        b"b\xf0\x28@contoso.com,2026-11-01T00:00:00Z\n"
    )
    done = subprocess.run(
        [harness.HRSIGNAL, "validate", str(path), "--now", "2026-11-25T00:00:00Z"],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert b"field-count" in done.stdout + done.stderr
    assert b"Traceback" not in done.stderr and b"Exception ignored" not in done.stderr


def test_a_file_with_millions_of_broken_rows_keeps_a_bounded_log(
    endpoint: Endpoint,
) -> None:
    """200,000 rows with the wrong number of fields: refused (400) with the exact count, and
    the log keeps the first 10,000 rejected rows, saying so."""
    body = b"EmailAddress,ResignationDate,LastWorkingDate\n" + b"a,b\n" * 200_000
    answer = _post(endpoint, body, "text/csv", timeout=120)
    assert answer.status_code == 400
    store = open_store(endpoint.db_url, migrate=False)
    try:
        with store.read() as conn:
            upload_id = answer.json()["error"]["uploadId"]
            kept = conn.execute(
                text("SELECT count(*) FROM upload_rejects WHERE upload_id = :u"),
                {"u": upload_id},
            ).scalar_one()
            message = conn.execute(
                text("SELECT message FROM uploads WHERE upload_id = :u"), {"u": upload_id}
            ).scalar_one()
    finally:
        store.dispose()
    assert kept == 10_000
    assert "the first 10000 of 200000 errors are kept" in message


# --- coverage-guided fuzzing (atheris) --------------------------------------------------------


def _atheris(seconds: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(SPECTRUM.glob("*.csv")):
        (corpus / path.name).write_bytes(b"\x00" + path.read_bytes())
    script = Path(__file__).with_name("fuzz_validator.py")
    return subprocess.run(
        [sys.executable, str(script), f"-max_total_time={seconds}", "-max_len=4096",
         "-timeout=20", "-rss_limit_mb=0", str(corpus)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip


def _record_fuzz(figures: Figures, node: str, seconds: int, stderr: str) -> None:
    runs = re.search(r"Done (\d+) runs in (\d+) second", stderr)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", stderr)
    figures.add(
        f"atheris on the validator, {seconds} s",
        node=node,
        runs=int(runs.group(1)) if runs else None,
        crashes=0,
        coverage_edges=int(cov[-1][0]) if cov else None,
        features=int(cov[-1][1]) if cov else None,
        errors_surfaced=0,
    )


def test_atheris_fuzzes_the_validator_without_a_crash(
    tmp_path: Path, figures: Figures, request: pytest.FixtureRequest
) -> None:
    """10 seconds of coverage-guided fuzzing from the csv-spectrum corpus: no crash, no
    exception other than HrsignalError, no stderr traceback from inside a callback."""
    done = _atheris(10, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Exception ignored" not in done.stderr, done.stderr[-3000:]
    assert "Done " in done.stderr
    _record_fuzz(figures, request.node.nodeid, 10, done.stderr)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_atheris_soak(tmp_path: Path, figures: Figures, request: pytest.FixtureRequest) -> None:
    """Ten minutes of the same."""
    done = _atheris(600, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Exception ignored" not in done.stderr
    _record_fuzz(figures, request.node.nodeid, 600, done.stderr)
