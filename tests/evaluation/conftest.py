"""Fixtures of the evaluation tests: one small synthetic organisation in the CERT r4.2 layout
(written by the project's generator, quirks included) shared by the session, and the JSON
report of the whole harness run over it through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from hrsignal.evaluation.synth import SynthConfig, SynthResult, generate

#: Small enough for CI (the whole harness runs in seconds), big enough for 60-day baselines.
CONFIG = SynthConfig(users=120, days=220, benign_leavers=10, http_per_day=8.0, email_per_day=4.0)


@pytest.fixture(scope="session")
def org(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """A synthetic organisation with two planted scenario-2 thieves and the CERT quirks."""
    return generate(tmp_path_factory.mktemp("cert") / "r4.2", CONFIG)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``hrsignal`` as a user would (a separate process, real exit code and streams)."""
    return subprocess.run(
        [sys.executable, "-m", "hrsignal.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="session")
def report(org: SynthResult) -> dict[str, Any]:
    """The JSON report of ``hrsignal eval cert`` over the synthetic organisation."""
    done = run_cli(
        "eval", "cert", str(org.path), "--release", "r4.2", "--notice-days", "14,30,60",
        "--budget", "1,2,5,10", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result
