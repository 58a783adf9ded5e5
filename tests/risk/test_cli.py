"""The ``hrsignal risk`` commands end to end on the bundled example organisation: one thief
among four leavers, pseudonyms by default, explanations, levels, webhook, and clean errors."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.risk.conftest import EXAMPLES, FIXTURES

THIEF = "diego.siciliani@contoso.com"
LEAVERS = {THIEF, "lee.gu@contoso.com", "adele.vance@contoso.com", "grady.archie@contoso.com"}


def hrs(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``hrsignal risk --data-dir DIR ARGS`` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "hrsignal.cli", "risk", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the example organisation imported and all policies run."""
    data = tmp_path_factory.mktemp("example") / "risk"
    r = hrs(data, "import", "purview-audit", str(EXAMPLES / "purview-audit.csv.gz"))
    assert r.returncode == 0, r.stderr
    assert (
        "read 21,935 records, stored 21,935 events (2026-08-20 to 2026-10-15), rejected 0"
        in r.stdout
    )
    r = hrs(
        data,
        "import",
        "generic",
        str(EXAMPLES / "proxy.jsonl.gz"),
        "--mapping",
        str(EXAMPLES / "proxy-mapping.yaml"),
    )
    assert r.returncode == 0, r.stderr
    r = hrs(
        data,
        "run",
        "--hr",
        str(EXAMPLES / "hr-resignations.csv"),
        "--hr",
        str(EXAMPLES / "employee-profile.csv"),
    )
    assert r.returncode == 0, r.stderr
    assert "HR triggers: 4 record(s) from 2 file(s)" in r.stdout
    return data


@pytest.fixture
def example_copy(example: Path, tmp_path: Path) -> Path:
    """A private copy of the example data dir, for tests that change state."""
    dest = tmp_path / "risk"
    shutil.copytree(example, dest)
    return dest


def _alerts(data: Path, *extra: str) -> list[dict[str, Any]]:
    r = hrs(data, "alerts", "--format", "json", *extra)
    assert r.returncode == 0, r.stderr
    alerts: list[dict[str, Any]] = json.loads(r.stdout)
    return alerts


def test_only_the_thief_raises_an_alert(example: Path) -> None:
    """Four users resign; the three who work normally raise no alert, the one taking data does,
    with high severity."""
    revealed = _alerts(example, "--reveal")
    assert [(a["user"], a["policy"], a["severity"]) for a in revealed] == [
        (THIEF, "data-theft-departing-users", "high")
    ]
    scope = json.loads(hrs(example, "scope", "--reveal", "--format", "json").stdout)
    assert {s["user"] for s in scope if s["policy"] == "data-theft-departing-users"} == LEAVERS


def test_listings_are_pseudonymised_unless_revealed(example: Path) -> None:
    """Without --reveal no listing contains a user name; the pseudonym is stable."""
    for args in (
        ["alerts"],
        ["alerts", "--format", "json"],
        ["alerts", "--format", "csv"],
        ["scope"],
        ["levels"],
    ):
        out = hrs(example, *args).stdout
        assert "contoso.com" not in out, args
    first = _alerts(example)[0]["user"]
    assert first.startswith("u-") and len(first) == 14
    assert _alerts(example)[0]["user"] == first
    r = hrs(example, "reveal", first)
    assert r.stdout.strip() == THIEF


def test_an_alerts_events_hide_the_name_in_paths_devices_and_addresses(example_copy: Path) -> None:
    """The events behind an alert name the user in profile paths (C:\\Users\\diego.siciliani),
    device names (LT-DIEGOSICILIA) and addresses: without --reveal all of them show the
    pseudonym; with --reveal they are as logged."""
    aid = _alerts(example_copy)[0]["id"]
    masked = hrs(example_copy, "alert", aid, "--format", "json", "--events", "200")
    assert masked.returncode == 0, masked.stderr
    alert = json.loads(masked.stdout)
    alias = alert["user"]
    fields = [
        str(ev.get(f) or "") for ev in alert["events"] for f in ("device", "object", "target")
    ]
    assert any(f"[{alias}]" in f for f in fields)
    for name in ("diego", "sicilia"):
        assert name not in masked.stdout.casefold(), name
    shown = hrs(example_copy, "alert", aid, "--format", "json", "--events", "200", "--reveal")
    revealed = json.loads(shown.stdout)
    raw = [
        str(ev.get(f) or "") for ev in revealed["events"] for f in ("device", "object", "target")
    ]
    assert any("diego" in f.casefold() for f in raw)
    assert not any(f"[{alias}]" in f for f in raw)


def test_pseudonyms_differ_between_deployments(example: Path, tmp_path: Path) -> None:
    """Another data dir (another key) gives the same user another pseudonym."""
    from hrsignal.risk.pseudonym import pseudonym

    key = (example / "pseudonym.key").read_bytes()
    assert _alerts(example)[0]["user"] == pseudonym(key, THIEF)
    assert pseudonym(b"another deployment key..........", THIEF) != pseudonym(key, THIEF)
    assert pseudonym(key, THIEF.upper()) == pseudonym(key, THIEF)


def test_reveals_are_audited(example_copy: Path) -> None:
    """Each reveal is recorded with its time, OS account and what was shown."""
    import duckdb

    def reveals() -> list[tuple[str, str]]:
        con = duckdb.connect(str(example_copy / "risk.duckdb"), read_only=True)
        rows = con.execute("SELECT actor, what FROM reveals ORDER BY revealed_at").fetchall()
        con.close()
        return [(str(a), str(w)) for a, w in rows]

    before = reveals()
    hrs(example_copy, "alerts")
    assert reveals() == before  # a pseudonymised listing reveals nothing
    hrs(example_copy, "alerts", "--reveal")
    after = reveals()
    assert len(after) == len(before) + 1
    assert after[-1][1] == "alert list (1 alerts)" and after[-1][0]


def test_alert_explains_itself(example: Path) -> None:
    """The alert shows the trigger, indicators with baseline, boosters with peers, the
    sequences, a timeline and the raw events, still pseudonymised."""
    alert_id = _alerts(example)[0]["id"]
    r = hrs(example, "alert", alert_id, "--events", "400")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "HIGH (score 100)" in out
    assert "trigger: resignations (ResignationDate 2026-10-01, LastWorkingDate 2026-10-22)" in out
    assert "Copying files to USB" in out and "Creating archives" in out
    assert "cumulative exfiltration at peak" in out and "department 'engineering'" in out
    assert "download-obfuscate-exfiltrate-delete" in out
    assert "activity score by day" in out
    assert "FileCopiedToRemovableMedia" in out
    assert THIEF not in out and "siciliani" not in out.split("events (first")[0]
    data = json.loads(hrs(example, "alert", alert_id, "--format", "json").stdout)
    assert data["first_day"] == "2026-09-25" and data["last_day"] == "2026-10-02"
    assert data["days"] == 6
    usb = data["indicators"]["usb_copy"]
    assert usb["events"] > 6 * 15 and usb["baseline_at_peak"] < 1
    assert set(data["boosters"]) >= {
        "above_baseline",
        "cumulative_exfiltration",
        "priority_content",
    }
    assert all(e["user"] == data["user"] for e in data["events"])


def test_alerts_csv_and_levels_export(example: Path, tmp_path: Path) -> None:
    """CSV listing and the risk level export carry the same alert and user."""
    rows = list(csv.DictReader(io.StringIO(hrs(example, "alerts", "--format", "csv").stdout)))
    assert [r["severity"] for r in rows] == ["high"]
    out = tmp_path / "levels.csv"
    r = hrs(example, "levels", "--format", "csv", "--reveal", "--output", str(out))
    assert r.returncode == 0, r.stderr
    levels = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(x["user"], x["level"], x["previous"]) for x in levels] == [(THIEF, "elevated", "none")]


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP receiver on loopback."""
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook.received
    server.shutdown()
    server.server_close()


def test_level_changes_reach_the_webhook_once(
    example_copy: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    """The pending change is delivered once; dismissing the alert drops the level to none,
    which is delivered too."""
    url, received = webhook
    r = hrs(example_copy, "run", "--webhook", url)
    assert r.returncode == 0, r.stderr
    assert [(m["user"], m["level"], m["previous"]) for m in received] == [
        (THIEF, "elevated", "none")
    ]
    hrs(example_copy, "run", "--webhook", url)
    assert len(received) == 1
    alert_id = _alerts(example_copy)[0]["id"]
    assert hrs(example_copy, "status", alert_id, "dismissed").returncode == 0
    hrs(example_copy, "run", "--webhook", url)
    assert [(m["level"], m["previous"]) for m in received[1:]] == [("none", "elevated")]


def test_webhook_down_is_a_warning_and_retried(
    example_copy: Path, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    """A receiver that is down does not fail the run; the change is sent on the next run."""
    r = hrs(example_copy, "run", "--webhook", "http://127.0.0.1:9/hook")
    assert r.returncode == 0
    assert "warning: webhook http://127.0.0.1:9/hook: ConnectError" in r.stderr
    url, received = webhook
    hrs(example_copy, "run", "--webhook", url)
    assert [m["level"] for m in received] == ["elevated"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["import", "splunk", "x"], 2, "error: unknown source 'splunk'"),
        (["import", "defender", "/nonexistent/x.csv"], 2, "no such file or folder"),
        (["run"], 2, "error: no HR triggers"),
        (
            ["run", "--policy", "nope", "--hr", str(EXAMPLES / "hr-resignations.csv")],
            2,
            "error: no policy named 'nope'",
        ),
        (["run", "--since", "last week"], 2, "'last week' is not a date"),
        (["alert", "A-0000000000"], 2, "error: no alert 'A-0000000000'"),
        (["run", "--hr", str(FIXTURES / "README.md")], 1, "no valid HR record"),
    ],
)
def test_errors_are_clean(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    """User mistakes give a one-line error and the documented exit code, no traceback."""
    r = hrs(tmp_path / "risk", *args)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_policies_commands(tmp_path: Path) -> None:
    """list, show and validate (with problems listed, exit 1)."""
    r = hrs(tmp_path, "policies", "list")
    assert "data-theft-departing-users" in r.stdout and "triggers: resignations" in r.stdout
    shown = hrs(tmp_path, "policies", "show", "data-theft-departing-users").stdout
    path = tmp_path / "mine.yaml"
    path.write_text(shown.replace("activation_days: 30", "activation_days: 45"), encoding="utf-8")
    r = hrs(tmp_path, "policies", "validate", str(path))
    assert r.returncode == 1
    assert f"{path}: windows.activation_days: 45 is out of range; allowed 1-30" in r.stdout
    path.write_text(shown, encoding="utf-8")
    r = hrs(tmp_path, "policies", "validate", str(path), "--sql")
    assert r.returncode == 0 and "ok (data-theft-departing-users, 15 indicators)" in r.stdout
    assert "count(*) FILTER" in r.stdout


def test_dry_run_tests_thresholds_without_storing(example_copy: Path, tmp_path: Path) -> None:
    """`run --dry-run --policy-file` shows the alerts a candidate policy would raise and
    changes nothing stored; --dry-run with --hr is refused."""
    import duckdb

    def stored() -> list[tuple[object, ...]]:
        con = duckdb.connect(str(example_copy / "risk.duckdb"), read_only=True)
        rows = con.execute(
            "SELECT alert_id, score, severity, indicators FROM alerts ORDER BY 1"
        ).fetchall()
        rows += con.execute("SELECT count(*), sum(score) FROM user_days").fetchall()
        con.close()
        return rows

    before = stored()
    shown = hrs(example_copy, "policies", "show", "data-theft-departing-users").stdout
    strict = tmp_path / "strict.yaml"
    for old in (
        "{low: 3, medium: 10, high: 30}",
        "{low: 25, medium: 60, high: 200}",
        "{low: 20, medium: 60, high: 150}",
    ):  # USB copies, deletes, downloads
        assert old in shown
        shown = shown.replace(old, "{low: 500, medium: 600, high: 700}")
    strict.write_text(shown, encoding="utf-8")
    r = hrs(example_copy, "run", "--dry-run", "--policy-file", str(strict), "--format", "json")
    assert r.returncode == 0, r.stderr
    (summary,) = json.loads(r.stdout)
    assert summary["dry_run"] is True
    (alert,) = summary["preview"]
    assert alert["severity"] == "high" and alert["score"] < 100
    assert alert["user"].startswith("u-")
    assert stored() == before
    r = hrs(example_copy, "run", "--dry-run", "--hr", str(EXAMPLES / "hr-resignations.csv"))
    assert r.returncode == 2 and "--dry-run uses the stored HR triggers" in r.stderr
