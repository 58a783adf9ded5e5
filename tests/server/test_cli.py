"""``hrsignal apps / connectors / purge / serve``: output and resulting database state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from hrsignal.cli import cli
from hrsignal.store import connectors as conns
from hrsignal.store import identity, open_store
from tests.server import helpers


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_apps_create_json_prints_the_secret_once_and_stores_a_hash(tmp_path: Path) -> None:
    """``apps create --format json`` gives tenant_id, app_id, secret, secret_expires; the
    store keeps only a hash, and ``apps list`` shows a hint, never the secret."""
    db = f"sqlite:///{tmp_path}/h.db"
    data = json.loads(_run("apps", "create", "hr-export", "--db", db, "--format", "json"))
    assert set(data) == {"tenant_id", "app_id", "secret", "secret_expires"}
    assert data["secret"].startswith("hrs_")
    store = open_store(db)
    assert identity.check_secret(store, data["app_id"], data["secret"]) == "ok"
    listing = _run("apps", "list", "--db", db)
    assert data["app_id"] in listing and data["secret"] not in listing
    second = json.loads(_run("apps", "create", "other", "--db", db, "--format", "json"))
    assert second["tenant_id"] == data["tenant_id"]  # one tenant per installation


def test_connectors_create_from_sample_and_log(tmp_path: Path) -> None:
    """``connectors create --sample`` proposes the mapping from the header (aliases such as
    UserPrincipalName), prints the job id; ``connectors log`` lists uploads."""
    db = f"sqlite:///{tmp_path}/h.db"
    app = json.loads(_run("apps", "create", "hr", "--db", db, "--format", "json"))
    sample = tmp_path / "sample.csv"
    sample.write_text(
        "UserPrincipalName,TerminationDate,LastWorkingDay\r\n"
        "a@contoso.com,2026-01-01T00:00:00Z,2026-01-15T00:00:00Z\r\n"
    )
    out = json.loads(
        _run(
            "connectors",
            "create",
            "--name",
            "leavers",
            "--app-id",
            app["app_id"],
            "--scenario",
            "resignations",
            "--sample",
            str(sample),
            "--db",
            db,
            "--format",
            "json",
        )
    )
    columns = out["mapping"]["scenarios"]["resignations"]["columns"]
    assert columns == {
        "EmailAddress": "UserPrincipalName",
        "ResignationDate": "TerminationDate",
        "LastWorkingDate": "LastWorkingDay",
    }
    store = open_store(db)
    assert conns.get_connector(store, out["job_id"]).name == "leavers"
    assert "no uploads yet" in _run("connectors", "log", out["job_id"], "--db", db)
    assert (
        json.loads(_run("connectors", "log", out["job_id"], "--db", db, "--format", "json")) == []
    )
    header = _run("connectors", "log", out["job_id"], "--db", db, "--format", "csv")
    assert header.startswith("UploadId,JobId,AppId,FileName,Timestamp")
    assert out["job_id"] in _run("connectors", "list", "--db", db)
    _run("connectors", "disable", out["job_id"], "--db", db)
    assert conns.get_connector(store, out["job_id"]).enabled is False
    _run("connectors", "delete", out["job_id"], "--yes", "--db", db)
    assert conns.find_connector(store, out["job_id"]) is None


def test_purge_reports_counts(tmp_path: Path) -> None:
    """``purge --older-than`` runs on an empty store and says what it deleted."""
    db = f"sqlite:///{tmp_path}/h.db"
    out = json.loads(_run("purge", "--older-than", "180", "--db", db, "--format", "json"))
    assert out == {"records": 0, "versions": 0, "profiles": 0, "uploads": 0}


def _hrsignal(*args: str, env_db: str | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ}
    if env_db:
        env["HRSIGNAL_DB"] = env_db
    return subprocess.run(
        [sys.executable, "-m", "hrsignal.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_errors_are_one_line_with_an_exit_code(tmp_path: Path) -> None:
    """A user error prints a message (no traceback) and a non-zero exit code; HRSIGNAL_DB is
    read when --db is absent."""
    db = f"sqlite:///{tmp_path}/h.db"
    missing = _hrsignal("connectors", "show", "nope", env_db=db)
    assert missing.returncode == 2
    assert "no connector with job id 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_cert = tmp_path / "c.pem"
    bad_cert.write_text("not a cert")
    store = open_store(db)
    t = helpers.make_tenant(store)
    refused = _hrsignal(
        "apps", "add-certificate", t.app_id, "--public-cert", str(bad_cert), "--db", db
    )
    assert refused.returncode == 2 and "not a PEM certificate" in refused.stderr


def test_serve_refuses_a_public_address_without_tls(tmp_path: Path) -> None:
    """``serve --host 0.0.0.0`` without TLS or --allow-insecure-http exits 2 with the reason."""
    result = _hrsignal("serve", "--host", "0.0.0.0", "--db", f"sqlite:///{tmp_path}/h.db")  # noqa: S104 - the refusal under test
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without TLS" in result.stderr
