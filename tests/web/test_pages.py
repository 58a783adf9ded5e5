"""The dashboard over HTTP (in process, httpx ASGI transport): sign-in, cookie flags, roles,
CSRF, reveal audit, triage, connectors from a sample, apps and secrets, rejected-row CSV."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from hrsignal.scenarios.findings import Code, error
from hrsignal.server import create_app
from hrsignal.store import connectors, identity
from hrsignal.store import uploads as log_store
from hrsignal.store.engine import Store
from hrsignal.store.schema import app_secrets
from hrsignal.web.auth import AddressThrottle
from hrsignal.web.csvsafe import safe_csv
from tests.server import helpers
from tests.web.conftest import THIEF, Browserless, csrf_of, sign_in

pytestmark = pytest.mark.anyio

ALERT = "A-64ee14497f"  # the example organisation's one alert (the thief)


def _reveals(risk_dir: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(risk_dir / "risk.duckdb"), read_only=True) as con:
        return [
            (str(a), str(w)) for a, w in con.execute("SELECT actor, what FROM reveals").fetchall()
        ]


def _alert_id(html: str) -> str:
    found = re.search(r'href="/alerts/(A-[0-9a-f]+)"', html)
    assert found
    return found.group(1)


async def test_pages_redirect_to_sign_in_without_a_session(anonymous: httpx.AsyncClient) -> None:
    """Without a session every page (GET or POST) redirects to the sign-in page with the
    page to return to; nothing is a 500 and no data is shown."""
    for method, path in (
        ("GET", "/alerts?severity=high"),
        ("GET", "/connectors"),
        ("POST", "/alerts/A-1/triage"),
        ("GET", "/uploads/x/rejected.csv"),
    ):
        r = await anonymous.request(method, path)
        assert r.status_code == 303, (path, r.status_code)
        assert r.headers["location"].startswith("/signin?next=%2F")
    r = await anonymous.get("/alerts?severity=high")
    assert r.headers["location"] == "/signin?next=%2Falerts%3Fseverity%3Dhigh"


async def test_sign_in_sets_an_httponly_lax_session_cookie_and_lands_by_role(
    anonymous: httpx.AsyncClient,
) -> None:
    """A right password sets the session cookie HttpOnly, SameSite=Lax, Path=/ (not Secure
    over plain http), and sends an analyst to the alerts and an admin to the connectors."""
    r = await sign_in(anonymous, "analyst")
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("hrsignal_session="))
    flags = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
    assert {"httponly", "path", "samesite", "max-age"} <= flags
    assert "samesite=lax" in cookie.lower() and "secure" not in flags
    page = await anonymous.get("/alerts")
    assert page.status_code == 200 and "Sign out" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


async def test_cookie_is_secure_when_served_over_https(store: Store, risk_dir: Path) -> None:
    """Behind a TLS public URL the session cookie (and the sign-in one) carry Secure."""
    settings = helpers.settings(store.url, risk_dir=str(risk_dir), public_url="https://hr.test")
    transport = httpx.ASGITransport(app=create_app(settings, store=store))
    async with httpx.AsyncClient(transport=transport, base_url="https://hr.test") as c:
        form = await c.get("/signin")
        assert "secure" in form.headers["set-cookie"].lower()
        r = await sign_in(c, "admin")
        cookie = next(
            h for h in r.headers.get_list("set-cookie") if h.startswith("hrsignal_session=")
        )
        assert "; secure" in cookie.lower()


async def test_wrong_password_unknown_name_and_missing_csrf_are_refused(
    anonymous: httpx.AsyncClient,
) -> None:
    """A wrong password and an unknown name get the same 401 page and no session; a sign-in
    post without the form's token is 403 (login CSRF)."""
    wrong = await sign_in(anonymous, "analyst", "not the password")
    unknown = await sign_in(anonymous, "nobody", "not the password")
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert "Wrong account name or password." in r.text
        assert not any(h.startswith("hrsignal_session=") for h in r.headers.get_list("set-cookie"))
    forged = await anonymous.post(
        "/signin", data={"name": "analyst", "password": "correct horse battery"}
    )
    assert forged.status_code == 403 and "sign-in form expired" in forged.text


async def test_repeated_failures_lock_sign_in_with_429(anonymous: httpx.AsyncClient) -> None:
    """After five wrong passwords the right one is refused with 429 and Retry-After."""
    for _ in range(5):
        assert (await sign_in(anonymous, "analyst", "guess")).status_code == 401
    locked = await sign_in(anonymous, "analyst")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "locked" in locked.text


async def test_sign_in_next_is_local_only(anonymous: httpx.AsyncClient) -> None:
    """``next`` may send the user back to a dashboard page, never to another site."""
    form = await anonymous.get("/signin?next=//evil.example/x")
    assert "evil" not in form.text
    r = await anonymous.post(
        "/signin",
        data={
            "name": "analyst",
            "password": "correct horse battery",
            "csrf_token": csrf_of(form.text),
            "next": "//evil.example/x",
        },
    )
    assert r.headers["location"] == "/alerts"


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("admin", "/alerts"),
        ("admin", "/people"),
        ("admin", f"/alerts/{ALERT}"),
        ("analyst", "/connectors"),
        ("analyst", "/apps"),
        ("investigator", "/connectors/new"),
        ("investigator", "/uploads/whatever/rejected.csv"),
        ("analyst", "/settings"),
    ],
)
async def test_roles_see_only_their_pages_with_403(app: FastAPI, role: str, path: str) -> None:
    """Admins do not see alerts or people; analysts and investigators do not see connectors,
    apps or upload logs: 403 with an HTML page naming the role, never the data, never 500."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        await sign_in(c, role)
        r = await c.get(path)
    assert r.status_code == 403
    assert f"({role})" in r.text and "@contoso.com" not in r.text


async def test_analyst_sees_pseudonyms_and_the_explanation(as_analyst: Browserless) -> None:
    """The alert list and the alert page show pseudonyms only; the alert page has the
    trigger, indicators with counts and baseline, peers, sequences and an SVG timeline whose
    red bars are the alerting days."""
    listing = await as_analyst.client.get("/alerts")
    assert listing.status_code == 200 and ALERT in listing.text
    assert "@contoso.com" not in listing.text and "u-" in listing.text
    page = await as_analyst.client.get(f"/alerts/{ALERT}")
    assert page.status_code == 200
    text = page.text
    assert "@contoso.com" not in text
    assert "Copying files to USB" in text and "resignation 2026-10-01" in text
    assert "engineering department" in text and "download-obfuscate-exfiltrate-delete" in text
    svg = re.search(r"<svg class=\"chart\".*?</svg>", text, re.S)
    assert svg is not None
    assert svg.group(0).count('class="bar alerting"') == 6 + 1  # six days + the legend swatch
    assert 'id="reveal"' not in text  # analysts get no reveal button


async def test_analyst_cannot_reveal_an_investigator_can_and_it_is_audited(
    as_analyst: Browserless, as_investigator: Browserless, risk_dir: Path
) -> None:
    """An analyst's reveal (even with a valid form token) is 403 and records nothing; an
    investigator's shows the name and is in the reveal audit under the account name."""
    token = await as_analyst.csrf(f"/alerts/{ALERT}")
    refused = await as_analyst.client.post(f"/alerts/{ALERT}/reveal", data={"csrf_token": token})
    assert refused.status_code == 403 and THIEF not in refused.text
    assert _reveals(risk_dir) == []
    token = await as_investigator.csrf(f"/alerts/{ALERT}")
    shown = await as_investigator.client.post(f"/alerts/{ALERT}/reveal", data={"csrf_token": token})
    assert shown.status_code == 200 and THIEF in shown.text
    assert _reveals(risk_dir) == [("investigator", f"alert {ALERT}")]


async def test_posts_without_the_session_csrf_token_or_from_another_origin_are_403(
    as_analyst: Browserless, risk_dir: Path
) -> None:
    """Triage with a missing or wrong token, or with a foreign Origin, is refused (403) and
    the alert keeps its status."""
    token = await as_analyst.csrf(f"/alerts/{ALERT}")
    for data, headers in (
        ({"action": "confirm"}, {}),
        ({"action": "confirm", "csrf_token": "x" * 43}, {}),
        ({"action": "confirm", "csrf_token": token}, {"Origin": "https://evil.example"}),
    ):
        r = await as_analyst.client.post(f"/alerts/{ALERT}/triage", data=data, headers=headers)
        assert r.status_code == 403, r.text
    with duckdb.connect(str(risk_dir / "risk.duckdb"), read_only=True) as con:
        row = con.execute("SELECT status FROM alerts WHERE alert_id = ?", [ALERT]).fetchone()
    assert row == ("needs_review",)


async def test_triage_records_who_when_and_why(as_analyst: Browserless, risk_dir: Path) -> None:
    """Dismissing needs a reason (400 without); confirm then dismiss are stored with the
    account name and shown in the alert's history; the list filters by status."""
    token = await as_analyst.csrf(f"/alerts/{ALERT}")
    url = f"/alerts/{ALERT}/triage"
    bare = await as_analyst.client.post(url, data={"action": "dismiss", "csrf_token": token})
    assert bare.status_code == 400 and "needs a reason" in bare.text
    ok = await as_analyst.client.post(url, data={"action": "confirm", "csrf_token": token})
    assert ok.status_code == 303
    await as_analyst.client.post(
        url, data={"action": "dismiss", "reason": "approved handover", "csrf_token": token}
    )
    with duckdb.connect(str(risk_dir / "risk.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT actor, status, reason, triaged_at FROM triage ORDER BY triaged_at"
        ).fetchall()
    assert [r[:3] for r in rows] == [
        ("analyst", "confirmed", None),
        ("analyst", "dismissed", "approved handover"),
    ]
    assert abs((dt.datetime.now(dt.UTC).replace(tzinfo=None) - rows[0][3]).total_seconds()) < 60
    page = await as_analyst.client.get(f"/alerts/{ALERT}")
    assert "approved handover" in page.text and 'id="triage-history"' in page.text
    dismissed = await as_analyst.client.get("/alerts?status=dismissed")
    assert ALERT in dismissed.text
    open_ = await as_analyst.client.get("/alerts?status=needs_review")
    assert ALERT not in open_.text


async def test_filters_and_sorting_refuse_unknown_values_with_400(
    as_analyst: Browserless,
) -> None:
    """A bad filter or sort value is a 400 page; a known one works."""
    assert (await as_analyst.client.get("/alerts?severity=urgent")).status_code == 400
    assert (await as_analyst.client.get("/alerts?sort=drop")).status_code == 400
    r = await as_analyst.client.get("/alerts?severity=high&sort=user&order=asc")
    assert r.status_code == 200 and 'aria-sort="ascending"' in r.text


async def test_unknown_ids_are_404_pages(as_analyst: Browserless, as_admin: Browserless) -> None:
    """Unknown alert, person, connector and upload ids are 404 pages, not 500s."""
    for client, path in (
        (as_analyst, "/alerts/A-000"),
        (as_analyst, "/people/data-theft-departing-users/u-nobody"),
        (as_analyst, "/people/..%2F..%2Fetc/passwd"),
        (as_admin, "/connectors/00000000-0000-0000-0000-000000000000"),
        (as_admin, "/uploads/nope"),
        (as_admin, "/uploads/nope/rejected.csv"),
    ):
        r = await client.client.get(path)
        assert r.status_code == 404, (path, r.status_code)


async def test_people_in_scope_with_days_left_and_person_timeline(
    as_investigator: Browserless, risk_dir: Path
) -> None:
    """People in scope lists the four leavers (pseudonyms) with trigger and last working
    dates and days left from the latest activity day; a person's page has the timeline; an
    investigator's reveal there shows the name and is audited."""
    page = await as_investigator.client.get("/people?policy=data-theft-departing-users")
    assert page.status_code == 200 and "@contoso.com" not in page.text
    rows = re.findall(r'href="(/people/data-theft-departing-users/u-[a-z0-9]+)"', page.text)
    assert len(rows) == 4
    assert "as of <strong>2026-10-15</strong>" in page.text
    assert "2026-10-22" in page.text and "7</td>" in page.text  # the thief: 7 days left
    thief_row = next(r for r in page.text.split("<tr>") if "2026-10-22" in r)
    alias = re.search(r"/people/data-theft-departing-users/(u-[a-z0-9]+)", thief_row)
    assert alias
    person = await as_investigator.client.get(f"/people/data-theft-departing-users/{alias[1]}")
    assert person.status_code == 200 and "<svg" in person.text and THIEF not in person.text
    token = csrf_of(person.text)
    shown = await as_investigator.client.post(
        f"/people/data-theft-departing-users/{alias[1]}/reveal", data={"csrf_token": token}
    )
    assert THIEF in shown.text
    assert _reveals(risk_dir)[-1] == (
        "investigator",
        f"person {alias[1]} in data-theft-departing-users",
    )


async def test_sign_out_revokes_the_session(as_analyst: Browserless) -> None:
    """After signing out, the old cookie value no longer opens a page."""
    cookie = as_analyst.client.cookies.get("hrsignal_session")
    token = await as_analyst.csrf("/alerts")
    r = await as_analyst.client.post("/signout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert cookie
    as_analyst.client.cookies.clear()
    again = await as_analyst.client.get("/alerts", headers={"Cookie": f"hrsignal_session={cookie}"})
    assert again.status_code == 303 and again.headers["location"].startswith("/signin")


async def test_admin_creates_a_connector_from_a_sample_with_the_mapping_confirmed(
    as_admin: Browserless, store: Store
) -> None:
    """Uploading a sample proposes a column for each field it recognises (aliases such as
    UPN); the admin picks the column of the one it does not, confirms, and the connector
    exists with that mapping."""
    new = identity.create_app(store, "hr-export", tenant_id="t1", expires_in_days=30)
    token = await as_admin.csrf("/connectors/new")
    sample = b"UPN,Resignation Date,LWD\r\nadele@contoso.com,2026-10-01,2026-10-30\r\n"
    proposed = await as_admin.client.post(
        "/connectors/new",
        data={
            "csrf_token": token,
            "name": "HR leavers",
            "app_id": new.app.app_id,
            "scenarios": "resignations",
        },
        files={"sample": ("leavers.csv", sample, "text/csv")},
    )
    assert proposed.status_code == 200, proposed.text
    selected = dict(
        re.findall(
            r'name="(map\.resignations\.\w+)">.*?<option value="([^"]*)" selected',
            proposed.text,
            re.S,
        )
    )
    assert selected == {  # LWD is no known alias: the admin picks it
        "map.resignations.EmailAddress": "UPN",
        "map.resignations.ResignationDate": "Resignation Date",
    }
    assert '<option value="LWD">LWD</option>' in proposed.text
    selected["map.resignations.LastWorkingDate"] = "LWD"
    form = {
        "csrf_token": token,
        "name": "HR leavers",
        "app_id": new.app.app_id,
        "scenarios": "resignations",
        **selected,
    }
    created = await as_admin.client.post("/connectors/create", data=form)
    assert created.status_code == 303
    job = created.headers["location"].split("/")[2].split("?")[0]
    c = connectors.get_connector(store, job)
    assert c.name == "HR leavers" and c.app_id == new.app.app_id
    assert c.mapping["scenarios"]["resignations"]["columns"]["LastWorkingDate"] == "LWD"
    page = await as_admin.client.get(created.headers["location"])
    assert job in page.text and "Connector created" in page.text


async def test_connector_confirmation_refuses_a_missing_required_column(
    as_admin: Browserless, store: Store
) -> None:
    """Leaving a required field unmapped is a 400 page naming it; nothing is created."""
    new = identity.create_app(store, "hr-export", tenant_id="t1", expires_in_days=30)
    token = await as_admin.csrf("/connectors/new")
    r = await as_admin.client.post(
        "/connectors/create",
        data={
            "csrf_token": token,
            "name": "x",
            "app_id": new.app.app_id,
            "scenarios": "resignations",
            "map.resignations.EmailAddress": "UPN",
        },
    )
    assert r.status_code == 400
    assert "ResignationDate" in r.text
    assert connectors.list_connectors(store) == []


async def test_apps_secret_shown_once_expiry_warned_and_removal_scoped_to_its_app(
    as_admin: Browserless, store: Store
) -> None:
    """Registering an app shows its secret once (the list shows only a hint); a secret
    expiring within 30 days is flagged; removing a secret goes through its confirmation page,
    and through another app's URL is a 404 that removes nothing (no cross-app IDOR)."""
    token = await as_admin.csrf("/apps")
    created = await as_admin.client.post(
        "/apps", data={"csrf_token": token, "name": "payroll", "expires_in_days": "10"}
    )
    assert created.status_code == 200
    secret = re.search(r'id="secret-value">(hrs_[^<]+)<', created.text)
    assert secret
    listing = await as_admin.client.get("/apps")
    assert secret[1] not in listing.text and "expires in 9 day(s)" in listing.text
    other = identity.create_app(store, "other", tenant_id="t1", expires_in_days=365)
    payroll = next(a for a in identity.list_apps(store) if a.name == "payroll")
    payroll_secret = identity.list_secrets(store, payroll.app_id)[0]
    cross = await as_admin.client.post(
        f"/apps/{other.app.app_id}/secrets/{payroll_secret.secret_id}/remove",
        data={"csrf_token": token, "confirm": "remove"},
    )
    assert cross.status_code == 404
    assert identity.list_secrets(store, payroll.app_id) == [payroll_secret]
    confirm = await as_admin.client.get(
        f"/apps/{payroll.app_id}/secrets/{payroll_secret.secret_id}/remove"
    )
    assert confirm.status_code == 200 and payroll_secret.hint in confirm.text
    removed = await as_admin.client.post(
        f"/apps/{payroll.app_id}/secrets/{payroll_secret.secret_id}/remove",
        data={"csrf_token": csrf_of(confirm.text), "confirm": "remove"},
    )
    assert removed.status_code == 303 and identity.list_secrets(store, payroll.app_id) == []
    with store.write() as conn:  # an expired secret is flagged as such
        conn.execute(
            update(app_secrets)
            .where(app_secrets.c.app_id == other.app.app_id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        )
    assert "expired" in (await as_admin.client.get("/apps")).text


async def test_rejected_rows_download_neutralises_formulas(
    app: FastAPI, as_admin: Browserless, store: Store
) -> None:
    """An upload through the real ingestion API with bad rows appears on the connector page
    with its counts; its rejected rows download as CSV in which no cell starts a formula."""
    tenant = helpers.make_tenant(store)
    tok = await as_admin.client.post(
        f"/{tenant.tenant_id}/oauth2/token?api-version=1.0",
        content=helpers.official_token_body(tenant.app_id, tenant.secret, tenant.tenant_id),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    lines = helpers.resignations_csv(5).decode().split("\r\n")
    lines[2] = '"=HYPERLINK(""http://evil.example"")",2026-10-01T00:00:00Z,2026-10-20T00:00:00Z'
    lines[4] = lines[4].split(",")[0] + ",@SUM(1),2026-10-20T00:00:00Z"
    lines[0] += ',"=1+2"'  # an unknown column whose name is a formula
    lines[1:] = [line + ",x" if line else line for line in lines[1:]]
    r = await as_admin.client.post(
        f"/api/signals?jobid={tenant.job_id}",
        content="\r\n".join(lines).encode(),
        headers={
            "Content-Type": "text/csv",
            "Authorization": f"Bearer {tok.json()['access_token']}",
        },
    )
    assert r.status_code == 200 and r.json()["recordsRejected"] == 2, r.text
    page = await as_admin.client.get(f"/connectors/{tenant.job_id}")
    assert "1 upload(s), 3 saved, 0 unchanged, 2 rejected" in page.text
    upload_id = re.search(r'href="/uploads/([0-9a-f-]+)"', page.text)
    assert upload_id
    detail = await as_admin.client.get(f"/uploads/{upload_id[1]}")
    assert 'id="n-rejected">2<' in detail.text
    download = await as_admin.client.get(f"/uploads/{upload_id[1]}/rejected.csv")
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    cells = [c for row in csv.reader(io.StringIO(download.text)) for c in row]
    assert cells[:6] == ["record", "line", "column", "severity", "code", "message"]
    assert len(cells) > 6
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    rows = list(csv.reader(io.StringIO(download.text)))
    assert [r[4] for r in rows[1:]] == ["invalid-upn", "invalid-date"]
    assert download.text.endswith("\r\n")
    # A finding whose text starts a formula (a column named "=1+2" in some mapping) is
    # written with a leading apostrophe.
    entry = log_store.get_upload(store, upload_id[1])
    forged = dataclasses.replace(entry, upload_id="u-formula")
    with store.write() as conn:
        log_store.write_upload(
            conn,
            forged,
            [error(Code.INVALID_DATE, "=1+2 is not a date", record=1, line=2, column="=1+2")],
        )
    formula = await as_admin.client.get("/uploads/u-formula/rejected.csv")
    assert formula.text.splitlines()[1] == "1,2,'=1+2,error,invalid-date,'=1+2 is not a date"


def test_safe_csv_neutralises_every_formula_prefix() -> None:
    """Cells starting with = + - @ tab CR (or full-width = + - @) get a leading apostrophe;
    other cells, numbers and None are written as they are."""
    text = safe_csv(
        ["h", "=h"],
        [["=1", "+1"], ["-1", "@x"], ["\tx", "\rx"], ["\uff1dx", "ok"], [None, 5]],
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["h", "'=h"],
        ["'=1", "'+1"],
        ["'-1", "'@x"],
        ["'\tx", "'\rx"],
        ["'\uff1dx", "ok"],
        ["", "5"],
    ]


async def test_a_multi_scenario_connector_asks_for_the_scenario_column_and_values(
    as_admin: Browserless, store: Store
) -> None:
    """With two scenarios the confirmation proposes the HRScenario column and each
    scenario's default values; the connector is created with them."""
    new = identity.create_app(store, "hr-export", tenant_id="t1", expires_in_days=30)
    token = await as_admin.csrf("/connectors/new")
    sample = (Path(__file__).parents[2] / "examples" / "hr" / "multi.csv").read_bytes()
    proposed = await as_admin.client.post(
        "/connectors/new",
        data={
            "csrf_token": token,
            "name": "all HR",
            "app_id": new.app.app_id,
            "scenarios": ["resignations", "job-level-changes"],
        },
        files={"sample": ("multi.csv", sample, "text/csv")},
    )
    assert proposed.status_code == 200, proposed.text
    assert re.search(r'<option value="HRScenario" selected>', proposed.text)
    fields = dict(re.findall(r'name="([^"]+)"(?: id="[^"]*")? value="([^"]*)"', proposed.text))
    selects = dict(
        re.findall(r'name="(map\.[^"]+)">.*?<option value="([^"]*)" selected', proposed.text, re.S)
    )
    form = {
        "csrf_token": token,
        "name": "all HR",
        "app_id": new.app.app_id,
        "scenarios": ["resignations", "job-level-changes"],
        "identifier_column": "HRScenario",
        "value.resignations": fields["value.resignations"],
        "value.job-level-changes": fields["value.job-level-changes"],
        **selects,
    }
    created = await as_admin.client.post("/connectors/create", data=form)
    assert created.status_code == 303, created.text
    (c,) = connectors.list_connectors(store)
    assert c.mapping["identifier_column"] == "HRScenario"
    assert set(c.mapping["scenarios"]) == {"resignations", "job-level-changes"}
    assert "Resignation" in str(c.mapping["scenarios"]["resignations"]["identifier_value"])


async def test_admin_manages_accounts_and_reads_the_reveal_audit(
    app: FastAPI, as_admin: Browserless, as_investigator: Browserless, store: Store
) -> None:
    """Settings shows the configuration; the admin creates an analyst who can then sign in,
    deletes that account (its session ends at once) but not their own (400); the reveal
    audit lists an investigator's reveal by account, naming no one."""
    page = await as_admin.client.get("/settings")
    assert page.status_code == 200 and "Session lifetime" in page.text
    token = csrf_of(page.text)
    made = await as_admin.client.post(
        "/settings/accounts",
        data={"csrf_token": token, "name": "sam", "role": "analyst", "password": "sam's pass"},
    )
    assert made.status_code == 303
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as sam:
        assert (await sign_in(sam, "sam", "sam's pass")).headers["location"] == "/alerts"
        assert (await sam.get("/alerts")).status_code == 200
        gone = await as_admin.client.post(
            "/settings/accounts/sam/delete", data={"csrf_token": token}
        )
        assert gone.status_code == 303
        assert (await sam.get("/alerts")).status_code == 303  # back to the sign-in page
    itself = await as_admin.client.post(
        "/settings/accounts/admin/delete", data={"csrf_token": token}
    )
    assert itself.status_code == 400 and "signed in with" in itself.text
    reveal_token = await as_investigator.csrf(f"/alerts/{ALERT}")
    await as_investigator.client.post(f"/alerts/{ALERT}/reveal", data={"csrf_token": reveal_token})
    audit = (await as_admin.client.get("/settings")).text
    assert re.search(r"<td>investigator</td><td>alert A-64ee14497f</td>", audit)
    assert THIEF not in audit


async def test_signing_in_again_ends_the_previous_session(anonymous: httpx.AsyncClient) -> None:
    """A second sign-in from the same browser replaces the session: the old cookie value no
    longer works."""
    await sign_in(anonymous, "analyst")
    first = anonymous.cookies.get("hrsignal_session")
    await sign_in(anonymous, "investigator")
    second = anonymous.cookies.get("hrsignal_session")
    assert first and second and second != first
    anonymous.cookies.clear()
    old = await anonymous.get("/alerts", headers={"Cookie": f"hrsignal_session={first}"})
    assert old.status_code == 303
    new = await anonymous.get("/alerts", headers={"Cookie": f"hrsignal_session={second}"})
    assert new.status_code == 200


async def test_oversized_forms_are_refused_before_reading(
    anonymous: httpx.AsyncClient, as_admin: Browserless
) -> None:
    """A sign-in body over 64 KiB is 413 (an HTML page, not a 500); so is a settings form."""
    big = {"name": "x" * 70_000, "password": "p", "csrf_token": "t"}
    r = await anonymous.post("/signin", data=big)
    assert r.status_code == 413 and "KiB" in r.text
    token = await as_admin.csrf("/settings")
    r = await as_admin.client.post(
        "/settings/accounts", data={"csrf_token": token, "name": "y" * 70_000}
    )
    assert r.status_code == 413


def test_address_throttle_counts_failures_per_address_in_a_window() -> None:
    """At the limit an address must wait (another address need not); the count ages out."""
    throttle = AddressThrottle(limit=2, window_s=0.3)
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") >= 1
    assert throttle.retry_after("10.0.0.2") == 0
    time.sleep(0.35)
    assert throttle.retry_after("10.0.0.1") == 0
