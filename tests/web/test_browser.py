"""The dashboard end to end in a real headless Chromium (Debian's, driven by Playwright).

The service runs for real on 127.0.0.1 with TLS from a test CA (so the session cookie is
``Secure``), on a SQLite store with one account per role and the example organisation's risk
store. Each screen is captured to ``tests/artifacts/dashboard/`` (not committed). Without
Chromium the tests skip with the reason, except under ``CI``, where that is a failure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import uvicorn

from hrsignal.server import create_app
from hrsignal.store import accounts, identity, open_store
from tests.fakes.ca import make_ca
from tests.server import helpers
from tests.web.conftest import PASSWORD, ROLES, THIEF

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "dashboard"
ALERT = "A-64ee14497f"


def _need_chromium() -> Any:
    """Playwright's sync API, or skip (fail under CI) when it or Chromium is missing."""
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} not found (apt-get install chromium to run the browser tests)"
    try:
        from playwright import sync_api
    except ImportError:
        problem = problem or "playwright is not installed (pip install -e .[dev])"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}, and CI is set")
        pytest.skip(problem)
    return sync_api


@dataclass
class Served:
    """The running service."""

    url: str
    ca: Path
    db_url: str
    risk_dir: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(example_risk_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``hrsignal serve``'s app under uvicorn on loopback with TLS and the dashboard."""
    _need_chromium()
    root = tmp_path_factory.mktemp("browser")
    risk_dir = root / "risk"
    shutil.copytree(example_risk_dir, risk_dir)
    db_url = f"sqlite:///{root / 'hrsignal.db'}"
    store = open_store(db_url)
    for role in ROLES:
        accounts.create_account(store, name=role, role=role, password=PASSWORD)
    app = create_app(helpers.settings(db_url, risk_dir=str(risk_dir)), store=store)
    tls = make_ca(root / "tls")
    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=str(tls.cert_path),
        ssl_keyfile=str(tls.key_path),
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(f"https://127.0.0.1:{port}", tls.ca_path, db_url, risk_dir)
    finally:
        server.should_exit = True
        thread.join(20)
        store.dispose()


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    """Headless Chromium with the flags of an offline machine."""
    sync_api = _need_chromium()
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; the test CA is not in Chromium's store."""
    context = browser.new_context(
        base_url=served.url, ignore_https_errors=True, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(30_000)  # a shared 2-core machine can be slow
    tab = context.new_page()
    yield tab
    context.close()


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, role: str) -> None:
    """Sign in through the form with the mouse-free defaults (fill, then the button)."""
    page.goto("/signin")
    page.get_by_label("Account name").fill(role)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def nav(page: Any, name: str) -> None:
    """Follow a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.type !== 'hidden')
  .filter(el => {
    const named = el.labels && el.labels.length > 0 || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby')
      || (el.tagName === 'BUTTON' && el.textContent.trim());
    return !named;
  })
  .map(el => el.outerHTML.slice(0, 120))"""


def check_accessibility(page: Any) -> None:
    """Every control is labelled, the page has a language, one h1, a main landmark, and
    each chart has an accessible name."""
    assert page.evaluate(_UNLABELLED) == [], page.url
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("h1").count() == 1, page.url
    assert page.locator("main#main").count() == 1
    for svg in page.locator("svg[role=img]").all():
        assert svg.get_attribute("aria-labelledby")
        assert svg.locator("title").count() >= 1


def _reveals(risk_dir: Path) -> list[tuple[str, str]]:
    for _ in range(50):  # the service may hold the DuckDB file for a moment
        try:
            with duckdb.connect(str(risk_dir / "risk.duckdb"), read_only=True) as con:
                rows = con.execute("SELECT actor, what FROM reveals").fetchall()
                return [(str(a), str(w)) for a, w in rows]
        except duckdb.Error:  # IOException from another process, ConnectionException from ours
            time.sleep(0.1)
    raise AssertionError("risk.duckdb stayed locked")


def test_each_role_signs_in_and_sees_only_its_pages(page: Any, served: Served) -> None:
    """Admin, analyst and investigator each sign in, land on their start page with their
    navigation, and hold a Secure, HttpOnly, SameSite=Lax session cookie; signing out ends
    the session."""
    expected = {
        "admin": ("/connectors", ["Connectors", "Apps", "Settings"]),
        "analyst": ("/alerts", ["Alerts", "People in scope"]),
        "investigator": ("/alerts", ["Alerts", "People in scope"]),
    }
    page.goto("/signin")
    check_accessibility(page)
    shot(page, "01-signin")
    for role, (landing, nav) in expected.items():
        sign_in(page, role)
        assert page.url == served.url + landing
        links = page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
        assert links == nav
        assert page.locator(".who").inner_text().startswith(role)
        cookie = next(c for c in page.context.cookies() if c["name"] == "hrsignal_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
        shot(page, f"02-home-{role}")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/signin")
        assert not any(c["name"] == "hrsignal_session" for c in page.context.cookies())
    refused = page.request.get("/connectors", max_redirects=0)
    assert refused.status == 303


def test_keyboard_only_sign_in_and_navigation(page: Any, served: Served) -> None:
    """The sign-in form starts focused on the name and is submitted with the keyboard
    alone; on the alert list the skip link is the first stop and jumps over the navigation,
    Tab reaches the alert link and Enter opens it; the focused element has a visible
    outline."""
    page.goto("/signin")
    assert page.evaluate("document.activeElement.id") == "name"
    page.keyboard.type("analyst")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/alerts")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == f"/alerts/{ALERT}":
            break
    else:
        raise AssertionError("Tab never reached the alert link")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/alerts/{ALERT}")


def _hr_file(path: Path) -> Path:
    today = dt.datetime.now(dt.UTC).replace(microsecond=0)
    resigned = (today - dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    last = (today + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [f"leaver{i}@contoso.com,{resigned},{last}" for i in range(5)]
    path.write_text("EmailAddress,ResignationDate,LastWorkingDate\n" + "\n".join(rows) + "\n")
    return path


def test_admin_creates_an_app_and_a_connector_then_a_cli_upload_shows_its_counts(
    page: Any, served: Served, tmp_path: Path
) -> None:
    """The admin registers an app (secret shown once), creates a connector from a sample file
    with the proposed mapping confirmed, uploads with ``hrsignal upload`` over loopback, and
    sees the upload and its counts on the connector's page."""
    sign_in(page, "admin")
    nav(page, "Apps")
    check_accessibility(page)
    page.get_by_label("New app name").fill("HR export")
    page.get_by_role("button", name="Register app").click()
    secret = page.locator("#secret-value").inner_text()
    app_id = page.locator("#app-id").inner_text()
    tenant_id = page.locator("dd code").first.inner_text()
    assert secret.startswith("hrs_")
    shot(page, "03-secret-shown-once")
    page.goto("/apps")
    assert secret not in page.content()
    shot(page, "04-apps")

    sample = _hr_file(tmp_path / "sample.csv")
    page.goto("/connectors/new")
    check_accessibility(page)
    page.get_by_label("Connector name").fill("Leavers")
    page.get_by_label("App that uploads").select_option(app_id)
    page.get_by_label("Sample file").set_input_files(str(sample))
    shot(page, "05-connector-new")
    page.get_by_role("button", name="Propose the mapping").click()
    assert page.get_by_label("LastWorkingDate").input_value() == "LastWorkingDate"
    check_accessibility(page)
    shot(page, "06-connector-mapping")
    page.get_by_role("button", name="Create the connector").click()
    job_id = page.locator("#job-id").inner_text()
    assert "Connector created" in page.content()

    upload = subprocess.run(
        [
            sys.executable,
            "-m",
            "hrsignal.cli",
            "upload",
            str(_hr_file(tmp_path / "hr.csv")),
            "--tenant-id",
            tenant_id,
            "--app-id",
            app_id,
            "--job-id",
            job_id,
            "--login-url",
            served.url,
            "--ingestion-url",
            served.url,
            "--ca-bundle",
            str(served.ca),
            "--state-dir",
            str(tmp_path / "state"),
            "--format",
            "json",
        ],
        env={**os.environ, "HRSIGNAL_APP_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert upload.returncode == 0, upload.stderr
    assert json.loads(upload.stdout)["status"] == "uploaded"
    page.reload()
    assert page.locator("#totals").inner_text() == ("1 upload(s), 5 saved, 0 unchanged, 0 rejected")
    shot(page, "07-connector-after-upload")
    page.locator("#uploads a").first.click()
    assert page.locator("#n-saved").inner_text() == "5"
    check_accessibility(page)
    shot(page, "08-upload")
    nav(page, "Connectors")
    assert "Leavers" in page.locator("#connectors").inner_text()
    shot(page, "09-connectors")
    nav(page, "Settings")
    assert "investigator" in page.locator("#accounts").inner_text()
    check_accessibility(page)
    shot(page, "15-settings")


def test_analyst_reads_an_alert_with_its_chart_triages_and_cannot_reveal(
    page: Any, served: Served
) -> None:
    """The analyst filters the alerts, opens the thief's alert, sees the explanation and the
    SVG activity chart with pseudonyms only, dismisses it with a reason (recorded with the
    account), and a forged reveal is refused with 403 and audits nothing."""
    sign_in(page, "analyst")
    page.get_by_label("Severity").select_option("high")
    page.get_by_role("button", name="Filter").click()
    check_accessibility(page)
    shot(page, "10-alerts")
    page.get_by_role("link", name=ALERT).click()
    assert page.get_by_role("heading", name="Indicators on the alerting days").is_visible()
    assert "Copying files to USB" in page.locator("#indicators").inner_text()
    chart = page.locator("svg#alert-chart")
    assert chart.is_visible() and chart.locator("rect.bar.alerting").count() == 7
    assert THIEF not in page.content() and page.locator("#reveal").count() == 0
    check_accessibility(page)
    shot(page, "11-alert-analyst")

    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    before = _reveals(served.risk_dir)
    forged = page.request.post(f"/alerts/{ALERT}/reveal", form={"csrf_token": token})
    assert forged.status == 403 and THIEF not in forged.text()
    assert _reveals(served.risk_dir) == before

    page.get_by_label("Reason (needed to dismiss)").fill("handover approved by manager")
    page.get_by_role("button", name="Dismiss").click()
    history = page.locator("#triage-history").inner_text()
    assert "analyst" in history and "handover approved by manager" in history
    assert page.locator("#alert-status").inner_text() == "dismissed"
    page.get_by_role("button", name="Reopen").click()
    assert page.locator("#alert-status").inner_text() == "needs review"


def test_investigator_reveals_an_identity_and_the_reveal_is_audited(
    page: Any, served: Served
) -> None:
    """The investigator sees the people in scope, a person's timeline, and on the alert
    presses "Reveal identity": the name appears and the audit names the investigator."""
    sign_in(page, "investigator")
    nav(page, "People in scope")
    check_accessibility(page)
    assert re.search(r"as of\s+2026-10-15", page.locator("main").inner_text())
    shot(page, "12-people")
    page.locator("#people a[href^='/people/']").first.click()
    assert page.locator("svg#person-chart").count() + page.locator(".empty").count() >= 1
    check_accessibility(page)
    shot(page, "13-person")
    page.goto(f"/alerts/{ALERT}")
    before = len(_reveals(served.risk_dir))
    page.get_by_role("button", name="Reveal identity").click()
    assert page.locator("#alert-user").inner_text() == THIEF
    assert "recorded in the reveal audit as investigator" in page.content()
    shot(page, "14-alert-revealed")
    audit = _reveals(served.risk_dir)
    assert len(audit) == before + 1 and audit[-1] == ("investigator", f"alert {ALERT}")


def test_admin_disables_enables_deletes_a_connector_and_removes_a_secret_after_confirming(
    page: Any, served: Served
) -> None:
    """On a connector's page the admin disables it (the page and the list say so), enables
    it, and deletes it through its confirmation page, reached from the keyboard; on the apps
    page Remove leads to a confirmation page naming the secret, whose button removes it."""
    store = open_store(served.db_url)
    try:
        tenant = helpers.make_tenant(store, name="Old feed")
        extra = identity.add_secret(store, tenant.app_id, expires_in_days=30)
    finally:
        store.dispose()
    sign_in(page, "admin")
    page.goto(f"/connectors/{tenant.job_id}")
    page.get_by_role("button", name="Disable").click()
    assert page.locator("#state").inner_text() == "disabled"
    assert "This connector is disabled" in page.locator("main").inner_text()
    check_accessibility(page)
    shot(page, "16-connector-disabled")
    nav(page, "Connectors")
    row = page.locator("#connectors tbody tr", has_text="Old feed")
    assert row.locator("td.state").inner_text() == "disabled"
    row.get_by_role("link", name="Old feed").click()
    page.get_by_role("button", name="Enable").click()
    assert page.locator("#state").inner_text() == "enabled"

    page.get_by_role("link", name="Delete…").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/connectors/{tenant.job_id}/delete")
    assert page.locator("h1").inner_text() == "Delete the connector Old feed?"
    assert "upload log" in page.locator("#deleted").inner_text()
    check_accessibility(page)
    shot(page, "17-connector-delete-confirm")
    page.get_by_role("button", name="Delete Old feed and its data").click()
    page.wait_for_url("**/connectors?deleted=1")
    assert "Connector deleted" in page.locator("main").inner_text()
    assert page.locator("#connectors tbody tr", has_text="Old feed").count() == 0

    nav(page, "Apps")
    hint = extra.secret[: len(identity.SECRET_PREFIX) + 3]
    page.get_by_role("link", name=f"Remove secret {hint}… of Old feed").click()
    facts = page.locator("#secret").inner_text()
    assert "Old feed" in facts and f"{hint}…" in facts
    check_accessibility(page)
    shot(page, "18-secret-remove-confirm")
    page.get_by_role("button", name=f"Remove the secret {hint}…").click()
    page.wait_for_url("**/apps")
    section = page.locator("section.app", has_text="Old feed")
    assert f"{hint}…" not in section.inner_text()
    assert section.locator("table.secrets tbody tr").count() == 1
