"""Fixtures of the uploader tests: the fake Microsoft service, identities, HR files."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hrsignal.cli import cli
from tests.fakes.microsoft import FakeMicrosoft

TENANT = "0f8a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
APP = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
JOB = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"
SECRET = "s3cr3t-Value~with.chars_0123456789"


@dataclass
class Target:
    """The fake, and the options that point the CLI at it."""

    fake: FakeMicrosoft
    state_dir: Path

    def args(self, *, secret: bool = True) -> list[str]:
        """Options for upload/doctor/watch against the fake."""
        return [
            "--tenant-id",
            TENANT,
            "--app-id",
            APP,
            "--job-id",
            JOB,
            "--login-url",
            self.fake.url,
            "--ingestion-url",
            self.fake.url,
            "--ca-bundle",
            str(self.fake.ca.ca_path),
            *(["--app-secret-file", str(self.secret_file)] if secret else []),
        ]

    @property
    def secret_file(self) -> Path:
        """A file holding the right secret."""
        path = self.state_dir.parent / "secret.txt"
        if not path.exists():
            path.write_text(SECRET + "\n")
        return path

    def upload_args(self, path: Path, *extra: str) -> list[str]:
        """``upload FILE`` with fast retries and a private state dir."""
        return [
            "upload",
            str(path),
            *self.args(),
            "--state-dir",
            str(self.state_dir),
            "--retry-backoff",
            "0.01",
            *extra,
        ]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HRSIGNAL_* or proxy setting of the developer's shell leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("HRSIGNAL_") or name.lower() in ("https_proxy", "http_proxy",
                                                              "all_proxy"):  # fmt: skip
            monkeypatch.delenv(name)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeMicrosoft]:
    """A running fake with one tenant, one app (secret) and one job."""
    with FakeMicrosoft(tmp_path / "tls") as service:
        service.add_app(TENANT, APP, secret=SECRET)
        service.add_job(JOB, APP)
        yield service


@pytest.fixture
def target(fake: FakeMicrosoft, tmp_path: Path) -> Target:
    """The fake plus a state directory."""
    return Target(fake, tmp_path / "state")


def run_cli(args: list[str], env: dict[str, str] | None = None) -> Result:
    """Run ``hrsignal ARGS`` in-process."""
    runner = CliRunner()
    return runner.invoke(cli, args, env=env or {}, catch_exceptions=False)


def resignations(path: Path, n: int, *, start: int = 0, bad: tuple[int, ...] = ()) -> Path:
    """A resignations CSV of ``n`` records (record i is user{i}); ``bad`` records get an
    invalid date."""
    today = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lines = ["EmailAddress,ResignationDate,LastWorkingDate"]
    for i in range(start, start + n):
        resigned = (today - dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        last = (today + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if i - start + 1 in bad:
            last = "31/02/2026"
        lines.append(f"user{i}@contoso.com,{resigned},{last}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def new_guid() -> str:
    """A random GUID."""
    return str(uuid.uuid4())
