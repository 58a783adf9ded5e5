"""The admins' state-changing actions over HTTP (in process, httpx ASGI transport): disable,
enable and delete a connector (delete through a confirmation page), and remove an app
secret through a confirmation page; roles, CSRF and unknown ids for each."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from hrsignal.store import connectors, identity
from hrsignal.store import uploads as log_store
from hrsignal.store.engine import Store
from hrsignal.store.schema import hr_current, hr_versions, upload_rejects, uploads
from tests.server import helpers
from tests.web.conftest import Browserless, csrf_of, sign_in

pytestmark = pytest.mark.anyio

UNKNOWN = "00000000-0000-0000-0000-000000000000"


async def _upload(client: httpx.AsyncClient, tenant: helpers.Tenant, body: bytes) -> httpx.Response:
    """An upload through the real token endpoint and ingestion API."""
    tok = await client.post(
        f"/{tenant.tenant_id}/oauth2/token?api-version=1.0",
        content=helpers.official_token_body(tenant.app_id, tenant.secret, tenant.tenant_id),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert tok.status_code == 200, tok.text
    return await client.post(
        f"/api/signals?jobid={tenant.job_id}",
        content=body,
        headers={
            "Content-Type": "text/csv",
            "Authorization": f"Bearer {tok.json()['access_token']}",
        },
    )


def _rows_of(store: Store, job_id: str) -> dict[str, int]:
    """How many rows each table the CLI's delete clears holds for ``job_id``."""
    with store.read() as conn:
        ids = select(uploads.c.upload_id).where(uploads.c.job_id == job_id)
        counts = {
            "hr_current": select(func.count()).where(hr_current.c.job_id == job_id),
            "hr_versions": select(func.count()).where(hr_versions.c.job_id == job_id),
            "uploads": select(func.count()).where(uploads.c.job_id == job_id),
            "upload_rejects": select(func.count()).where(upload_rejects.c.upload_id.in_(ids)),
        }
        return {name: int(conn.execute(q).scalar_one()) for name, q in counts.items()}


def _state_cell(listing: str, name: str) -> str:
    """The State cell of the connector ``name`` in the connectors list."""
    found = re.search(rf">{re.escape(name)}</a></td>\s*<td class=\"state\">(.*?)</td>", listing)
    assert found, listing
    return re.sub(r"<[^>]+>", "", found.group(1))


async def test_disable_then_enable_shows_in_the_list_and_on_the_page(
    as_admin: Browserless, store: Store
) -> None:
    """Disabling a connector (its page's form) stores it disabled as `hrsignal connectors
    disable` does: the list and the page say so and an upload to it answers 404; enabling it
    again restores all three."""
    tenant = helpers.make_tenant(store, name="leavers")
    page = await as_admin.client.get(f"/connectors/{tenant.job_id}")
    assert f'action="/connectors/{tenant.job_id}/disable"' in page.text
    assert f'action="/connectors/{tenant.job_id}/enable"' not in page.text
    token = csrf_of(page.text)

    r = await as_admin.client.post(
        f"/connectors/{tenant.job_id}/disable", data={"csrf_token": token}
    )
    assert r.status_code == 303 and r.headers["location"] == f"/connectors/{tenant.job_id}"
    assert connectors.get_connector(store, tenant.job_id).enabled is False
    listing = await as_admin.client.get("/connectors")
    assert _state_cell(listing.text, "leavers") == "disabled"
    page = await as_admin.client.get(f"/connectors/{tenant.job_id}")
    assert re.search(r'id="state"><span class="badge">disabled</span>', page.text)
    assert "This connector is disabled" in page.text
    assert f'action="/connectors/{tenant.job_id}/enable"' in page.text
    refused = await _upload(as_admin.client, tenant, helpers.resignations_csv(2))
    assert refused.status_code == 404, refused.text

    # The job id in another case is the same connector (GUIDs compare case-insensitively).
    r = await as_admin.client.post(
        f"/connectors/{tenant.job_id.upper()}/enable", data={"csrf_token": token}
    )
    assert r.status_code == 303 and r.headers["location"] == f"/connectors/{tenant.job_id}"
    assert connectors.get_connector(store, tenant.job_id).enabled is True
    listing = await as_admin.client.get("/connectors")
    assert _state_cell(listing.text, "leavers") == "enabled"
    page = await as_admin.client.get(f"/connectors/{tenant.job_id}")
    assert 'id="state">enabled<' in page.text and "This connector is disabled" not in page.text
    accepted = await _upload(as_admin.client, tenant, helpers.resignations_csv(2))
    assert accepted.status_code == 200, accepted.text


async def test_delete_goes_through_a_confirmation_page_and_clears_what_the_cli_clears(
    as_admin: Browserless, store: Store
) -> None:
    """The connector page links to a confirmation page (no form that deletes directly) that
    names the connector and what goes (records, upload log) and what stays (the app); its
    form deletes the connector, its records and its log, exactly the rows `hrsignal
    connectors delete` removes, and another connector and the app are untouched."""
    tenant = helpers.make_tenant(store, name="leavers")
    keep = helpers.make_tenant(store, name="promotions-feed")
    lines = helpers.resignations_csv(5).decode().split("\r\n")
    lines[2] = "not-an-email,2026-10-01T00:00:00Z,2026-10-20T00:00:00Z"  # one rejected row
    r = await _upload(as_admin.client, tenant, "\r\n".join(lines).encode())
    assert r.status_code == 200 and r.json()["recordsRejected"] == 1, r.text
    assert (await _upload(as_admin.client, keep, helpers.resignations_csv(3))).status_code == 200
    before = _rows_of(store, tenant.job_id)
    assert before == {"hr_current": 4, "hr_versions": 0, "uploads": 1, "upload_rejects": 1}
    kept_before = _rows_of(store, keep.job_id)

    page = await as_admin.client.get(f"/connectors/{tenant.job_id}")
    assert f'href="/connectors/{tenant.job_id}/delete"' in page.text
    assert f'action="/connectors/{tenant.job_id}/delete"' not in page.text
    confirm = await as_admin.client.get(f"/connectors/{tenant.job_id}/delete")
    assert confirm.status_code == 200
    text = confirm.text
    assert "Delete the connector leavers?" in text and tenant.job_id in text
    deleted = re.search(r'<ul id="deleted">(.*?)</ul>', text, re.S)
    kept = re.search(r'<ul id="kept">(.*?)</ul>', text, re.S)
    assert deleted and kept
    assert "HR records" in deleted[1] and "saved 4 record(s)" in deleted[1]
    assert "upload log: 1 upload(s) with their rejected rows" in deleted[1]
    assert "the app leavers and its secrets" in kept[1]
    assert f"hrsignal connectors delete {tenant.job_id}" in text
    form = re.search(
        r'<form method="post" action="([^"]+)".*?</form>', text.split("<main")[1], re.S
    )
    assert form and form[1] == f"/connectors/{tenant.job_id}/delete"
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form[0]))
    assert fields == {"csrf_token": csrf_of(text), "confirm": "delete"}

    # A POST that did not come from the confirmation page's form deletes nothing.
    skipped = await as_admin.client.post(
        f"/connectors/{tenant.job_id}/delete", data={"csrf_token": fields["csrf_token"]}
    )
    assert skipped.status_code == 400 and "confirm it on" in skipped.text
    assert _rows_of(store, tenant.job_id) == before

    done = await as_admin.client.post(form[1], data=fields)
    assert done.status_code == 303 and done.headers["location"] == "/connectors?deleted=1"
    assert connectors.find_connector(store, tenant.job_id) is None
    assert log_store.list_uploads(store, tenant.job_id) == []
    assert _rows_of(store, tenant.job_id) == dict.fromkeys(before, 0)
    assert _rows_of(store, keep.job_id) == kept_before
    assert identity.find_app(store, tenant.app_id) is not None
    listing = await as_admin.client.get(done.headers["location"])
    assert "Connector deleted" in listing.text and "leavers</a>" not in listing.text
    assert "promotions-feed</a>" in listing.text
    gone = await _upload(as_admin.client, tenant, helpers.resignations_csv(1))
    assert gone.status_code == 404
    again = await as_admin.client.get(f"/connectors/{tenant.job_id}/delete")
    assert again.status_code == 404


def _routes(job_id: str, app_id: str, secret_id: str) -> list[tuple[str, str]]:
    secret = f"/apps/{app_id}/secrets/{secret_id}/remove"
    return [
        ("POST", f"/connectors/{job_id}/disable"),
        ("POST", f"/connectors/{job_id}/enable"),
        ("GET", f"/connectors/{job_id}/delete"),
        ("POST", f"/connectors/{job_id}/delete"),
        ("GET", secret),
        ("POST", secret),
    ]


@pytest.mark.parametrize("role", ["analyst", "investigator"])
async def test_analysts_and_investigators_get_403_on_every_admin_action(
    app: FastAPI, store: Store, role: str
) -> None:
    """Each new page and action answers 403 (a page naming the role, not a 500) to an
    analyst or investigator even with their own valid form token, and changes nothing."""
    tenant = helpers.make_tenant(store, name="leavers")
    (secret,) = identity.list_secrets(store, tenant.app_id)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await sign_in(c, role)).status_code == 303
        token = csrf_of((await c.get("/alerts")).text)
        for method, path in _routes(tenant.job_id, tenant.app_id, secret.secret_id):
            data = {"csrf_token": token, "confirm": "delete" if "connectors" in path else "remove"}
            r = await c.request(method, path, data=data if method == "POST" else None)
            assert r.status_code == 403, (method, path, r.status_code)
            assert f"({role})" in r.text and tenant.job_id not in r.text
            assert secret.hint not in r.text
    assert connectors.get_connector(store, tenant.job_id).enabled is True
    assert identity.list_secrets(store, tenant.app_id) == [secret]


async def test_admin_actions_without_the_session_csrf_token_or_from_another_origin_are_403(
    as_admin: Browserless, store: Store
) -> None:
    """Disable, enable, delete and secret removal posted with no token, a wrong token or a
    foreign Origin are refused (403) like every other form, and change nothing."""
    tenant = helpers.make_tenant(store, name="leavers")
    (secret,) = identity.list_secrets(store, tenant.app_id)
    token = await as_admin.csrf("/connectors")
    posts = [
        (path, "delete" if "connectors" in path else "remove")
        for method, path in _routes(tenant.job_id, tenant.app_id, secret.secret_id)
        if method == "POST"
    ]
    for path, confirm in posts:
        for data, headers in (
            ({"confirm": confirm}, {}),
            ({"confirm": confirm, "csrf_token": "x" * 43}, {}),
            ({"confirm": confirm, "csrf_token": token}, {"Origin": "https://evil.example"}),
        ):
            r = await as_admin.client.post(path, data=data, headers=headers)
            assert r.status_code == 403, (path, data, headers, r.status_code)
    assert connectors.get_connector(store, tenant.job_id).enabled is True
    assert _rows_of(store, tenant.job_id)["uploads"] == 0
    assert identity.list_secrets(store, tenant.app_id) == [secret]


async def test_unknown_connector_app_and_secret_ids_are_404(
    as_admin: Browserless, store: Store
) -> None:
    """Every new page and action with an unknown job id, app id or secret id is a 404 page
    (with a valid token and confirmation), never a 500, and nothing else changes."""
    tenant = helpers.make_tenant(store, name="leavers")
    (secret,) = identity.list_secrets(store, tenant.app_id)
    token = await as_admin.csrf("/connectors")
    paths = [
        *_routes(UNKNOWN, tenant.app_id, UNKNOWN),
        *_routes("not-a-guid", UNKNOWN, secret.secret_id)[4:],
        ("GET", f"/apps/{tenant.app_id}/secrets/{UNKNOWN}/remove"),
    ]
    for method, path in paths:
        data = {"csrf_token": token, "confirm": "delete" if "connectors" in path else "remove"}
        r = await as_admin.client.request(method, path, data=data if method == "POST" else None)
        assert r.status_code == 404, (method, path, r.status_code)
        assert "Not found" in r.text
    assert connectors.get_connector(store, tenant.job_id).enabled is True
    assert identity.list_secrets(store, tenant.app_id) == [secret]


async def test_secret_removal_needs_its_confirmation_page_and_stays_scoped_to_its_app(
    as_admin: Browserless, store: Store
) -> None:
    """The apps page links each secret's Remove to a confirmation page (no form that removes
    directly); the page names the app and the secret's hint, creation and expiry, and warns
    when it is the app's only credential; its form removes the secret. Without the
    confirmation nothing is removed, and another app's secret id is a 404 on the page and
    on the form."""
    payroll = identity.create_app(store, "payroll", tenant_id="t1", expires_in_days=10)
    second = identity.add_secret(store, payroll.app.app_id, expires_in_days=365)
    other = identity.create_app(store, "other", tenant_id="t1", expires_in_days=365)
    first = next(
        s
        for s in identity.list_secrets(store, payroll.app.app_id)
        if s.secret_id != second.secret_id
    )
    url = f"/apps/{payroll.app.app_id}/secrets/{first.secret_id}/remove"

    listing = await as_admin.client.get("/apps")
    assert f'href="{url}"' in listing.text
    assert "/remove" not in "".join(re.findall(r'<form[^>]*action="[^"]*"', listing.text))

    cross = f"/apps/{other.app.app_id}/secrets/{first.secret_id}/remove"
    assert (await as_admin.client.get(cross)).status_code == 404

    confirm = await as_admin.client.get(url)
    assert confirm.status_code == 200
    facts = re.search(r'<dl class="facts" id="secret">(.*?)</dl>', confirm.text, re.S)
    assert facts
    assert "payroll" in facts[1] and payroll.app.app_id in facts[1]
    assert f"<code>{first.hint}…</code>" in facts[1]
    assert f"{first.created_at:%Y-%m-%d %H:%M}Z" in facts[1]
    assert f"{first.expires_at:%Y-%m-%d %H:%M}Z" in facts[1] and "in 9 day(s)" in facts[1]
    assert 'id="last-credential"' not in confirm.text  # the app has a second secret
    assert payroll.secret not in confirm.text
    token = csrf_of(confirm.text)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', confirm.text.split("<main")[1]))
    assert fields == {"csrf_token": token, "confirm": "remove"}

    crossed = await as_admin.client.post(cross, data=fields)
    assert crossed.status_code == 404
    skipped = await as_admin.client.post(url, data={"csrf_token": token})
    assert skipped.status_code == 400 and "confirm it on" in skipped.text
    assert len(identity.list_secrets(store, payroll.app.app_id)) == 2

    removed = await as_admin.client.post(url, data=fields)
    assert removed.status_code == 303 and removed.headers["location"] == "/apps"
    assert [s.secret_id for s in identity.list_secrets(store, payroll.app.app_id)] == [
        second.secret_id
    ]
    assert len(identity.list_secrets(store, other.app.app_id)) == 1
    assert (await as_admin.client.get(url)).status_code == 404

    last = await as_admin.client.get(
        f"/apps/{payroll.app.app_id}/secrets/{second.secret_id}/remove"
    )
    assert 'id="last-credential"' in last.text and "only credential" in last.text
