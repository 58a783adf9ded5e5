"""Secrets never in logs, with every logger turned up to DEBUG (SQL echo included).

One scenario drives every path a secret travels: token requests with the right and a wrong
secret, a certificate-less failure, uploads, the admin API with right and wrong admin tokens,
an expired-token retry. The service runs as its own process (its whole output kept); the
uploader runs in this process with the root logger at DEBUG, so msal, httpx, httpcore and
SQLAlchemy log everything they would ever log. Neither may contain a secret, a token or an
assertion. (The session-wide scan in tests/conftest.py covers every other test too.)
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import httpx
import pytest

from hrsignal.client.credentials import Secret
from hrsignal.client.uploader import upload_file
from hrsignal.store import identity
from tests.reliability import harness, logscan

pytestmark = pytest.mark.timeout(120)


def test_no_secret_token_or_assertion_reaches_any_log(
    tmp_path: Path, ca: harness.CA, caplog: pytest.LogCaptureFixture
) -> None:
    """Service output and every in-process log record of a full session of uploads and
    admin calls, right and wrong credentials alike, contain no secret, token or admin token
    (while the scanner does find them when they are present)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # SQL echo, with parameters
    db_url = f"sqlite:///{tmp_path / 'service.db'}"
    store = harness.open_store(db_url)
    job = harness.make_job(store)
    admin = identity.create_admin_token(store, "logs")
    store.dispose()
    for value in (job.secret, admin):
        logscan.register_secret(value)
    service = harness.Service(db_url, harness.free_port(), tmp_path / "service.log")
    logscan.watch_file(service.log_path)
    service.start()
    tokens: list[str] = []
    try:
        with harness.FaultProxy(service.port, ca) as proxy:
            path = harness.resignations_csv(tmp_path / "hr.csv", 300)
            settings = harness.upload_settings(proxy.url, job, tmp_path / "state", ca.ca_path)
            ok = upload_file(path, settings)
            assert ok.status == "uploaded"
            wrong = harness.upload_settings(proxy.url, job, tmp_path / "state2", ca.ca_path)
            wrong.credential = Secret("hrs_" + "W" * 40)
            refused = upload_file(harness.resignations_csv(tmp_path / "b.csv", 5), wrong)
            assert refused.status == "failed"
            trust = ssl.create_default_context(cafile=ca.ca_path)
            with httpx.Client(verify=trust, timeout=30) as c:
                answer = c.post(
                    f"{proxy.url}/{job.tenant_id}/oauth2/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": job.app_id,
                        "client_secret": job.secret,
                        "resource": harness.RESOURCE,
                    },
                )
                tokens.append(answer.json()["access_token"])
                logscan.register_secret(tokens[0])
                c.post(
                    f"{proxy.url}/api/signals",
                    params={"jobid": job.job_id},
                    content=b"not,a\nvalid,file\n",
                    headers={"Authorization": f"Bearer {tokens[0]}", "Content-Type": "text/csv"},
                )
                c.post(
                    f"{proxy.url}/api/signals",
                    params={"jobid": job.job_id},
                    content=b"x",
                    headers={"Authorization": f"Bearer {tokens[0]}x"},
                )
                assert c.get(f"{proxy.url}/api/connectors", headers={"X-Admin-Token": admin})
                c.get(f"{proxy.url}/api/connectors", headers={"X-Admin-Token": admin + "x"})
                c.get(f"{proxy.url}/api/connectors", headers={"Authorization": f"Bearer {admin}"})
    finally:
        service.stop()
    records = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    output = service.log()
    assert len(caplog.records) > 50 and "hrsignal.access" in output
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert logscan.find_secrets(records) == []
    assert logscan.find_secrets(output) == []
    # The scan is not blind: the same values in a line are found.
    for value in (job.secret, admin, tokens[0]):
        assert logscan.find_secrets(f"oops {value} oops")
