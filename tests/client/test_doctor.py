"""`hrsignal doctor`: each check, and plain words for the usual failures."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.client.conftest import APP, JOB, Target, run_cli

pytestmark = pytest.mark.timeout(120)


def test_doctor_passes_and_shows_token_claims(target: Target) -> None:
    """DNS, TLS and the token pass; the token's aud, appid and tid are shown."""
    result = run_cli(["doctor", *target.args(), "--probe-job"])
    assert result.exit_code == 0, result.output
    assert "ok   login DNS" in result.output and "ok   login TLS" in result.output
    assert f"appid={APP}" in result.output and "aud=https://microsoft.onmicrosoft.com/" in (
        result.output
    )
    assert f"job {JOB} accepts uploads from this app" in result.output
    assert target.fake.rows() == []  # the probe carries no records


def test_doctor_json(target: Target) -> None:
    """--format json lists every check with ok, detail and hint."""
    result = run_cli(["doctor", *target.args(), "--format", "json"])
    doc = json.loads(result.output)
    assert doc["ok"] is True
    assert {c["name"] for c in doc["checks"]} >= {"settings", "login DNS", "login TLS", "token"}


def test_doctor_explains_a_job_of_another_app(target: Target) -> None:
    """The probe's 403 is explained as the job/app mismatch."""
    target.fake.jobs[JOB] = "00000000-0000-4000-8000-000000000000"
    result = run_cli(["doctor", *target.args(), "--probe-job"])
    assert result.exit_code == 4
    assert "jobId and corresponding appId do not match" in result.output


def test_doctor_explains_an_expired_secret(target: Target) -> None:
    """AADSTS7000222 becomes 'the client secret has expired' with what to do."""
    fake = target.fake
    from tests.fakes.microsoft import entra_error, status

    body = json.dumps(
        entra_error(
            "invalid_client",
            7000222,
            f"The provided client secret keys for app '{APP}' are expired.",
        )
    )
    fake.on_token(status(401, body), times=1)
    result = run_cli(["doctor", *target.args()])
    assert result.exit_code == 4
    assert "AADSTS7000222" in result.output and "has expired" in result.output


def test_doctor_explains_an_untrusted_certificate(target: Target) -> None:
    """Without the CA the TLS check fails and suggests --ca-bundle."""
    args = target.args()
    i = args.index("--ca-bundle")
    del args[i : i + 2]
    result = run_cli(["doctor", *args])
    assert result.exit_code == 5
    assert "FAIL login TLS" in result.output and "--ca-bundle" in result.output


def test_doctor_explains_a_blocked_port(target: Target, tmp_path: Path) -> None:
    """A host that refuses connections is reported as a possible firewall block."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    args = target.args()
    args[args.index("--ingestion-url") + 1] = f"https://127.0.0.1:{port}"
    result = run_cli(["doctor", *args])
    assert result.exit_code == 5
    assert "FAIL ingestion TLS" in result.output and "firewall" in result.output


def test_doctor_checks_the_proxy(target: Target) -> None:
    """HTTPS_PROXY pointing nowhere is reported."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli(["doctor", *target.args()], env={"HTTPS_PROXY": f"http://127.0.0.1:{port}"})
    assert result.exit_code == 5
    assert "FAIL proxy" in result.output and "HTTPS_PROXY" in result.output


def test_doctor_detects_clock_skew(target: Target) -> None:
    """A server clock an hour away from ours is reported with the NTP hint."""
    target.fake.clock_offset = 3600
    result = run_cli(["doctor", *target.args()])
    assert result.exit_code == 4
    assert "FAIL clock" in result.output and "NTP" in result.output
