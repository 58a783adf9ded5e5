"""The admins' pages: connectors (with their upload log and rejected rows) and apps (secrets).

A connector is created as in Purview's wizard: upload a sample file, the mapping proposed
from its header is shown with a choice of column for every field, and the admin confirms it.
Only the header of the sample is read; the file is not kept. An app secret is shown once, on
the page that answers its creation, and is stored hashed; secrets expiring within
:data:`EXPIRY_WARNING_DAYS` are flagged.

A connector can be disabled, enabled again and deleted with the store functions the CLI's
``hrsignal connectors disable|enable|delete`` use. Deleting a connector and removing a secret
each go through a confirmation page (a GET that says what goes, whose form POSTs it); the
POST refuses a form that did not come from that page.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from hrsignal.errors import ConfigError, NotFoundError, UsageError
from hrsignal.scenarios import MULTI, open_validation, scenario_names
from hrsignal.scenarios.mapping import FileMapping
from hrsignal.scenarios.schema import get_scenario
from hrsignal.server.admin import build_mapping
from hrsignal.server.context import state
from hrsignal.store import connectors as conns
from hrsignal.store import identity
from hrsignal.store import uploads as log_store
from hrsignal.web import auth
from hrsignal.web.auth import PAGES_ADMIN, SignedIn, Viewer
from hrsignal.web.csvsafe import safe_csv
from hrsignal.web.render import PageRoute, page, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)

EXPIRY_WARNING_DAYS = 30
#: Largest sample file accepted (only its header is read).
MAX_SAMPLE_BYTES = 20 * 1024 * 1024
_FINDINGS_SHOWN = 500


async def _admin(person: SignedIn) -> Viewer:
    auth.require_role(person, PAGES_ADMIN, "this page")
    return person


AdminViewer = Annotated[Viewer, Depends(_admin)]


async def posted(request: Request, person: Viewer, *, files: int = 0) -> dict[str, Any]:
    """The form fields after the size and CSRF checks (the role is checked by ``_admin``)."""
    limit = MAX_SAMPLE_BYTES + 65536 if files else auth.MAX_FORM_BYTES
    form = await auth.read_form(request, limit=limit, files=files)
    auth.check_csrf(request, person, form.get("csrf_token"))
    if "scenarios" in form and not isinstance(form["scenarios"], list):
        form["scenarios"] = [form["scenarios"]]
    return form


def _mapping(
    scenarios: list[str], document: dict[str, Any] | None, header: list[str] | None
) -> FileMapping:
    """The mapping, with a bad one a 400 (what the admin submitted), not a server error."""
    try:
        return build_mapping(scenarios, document, header)
    except ConfigError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None


def _scenarios() -> list[str]:
    return [s for s in scenario_names() if s != MULTI]


# --- connectors ---------------------------------------------------------------------------


def _summary(store: Any, c: conns.Connector) -> dict[str, Any]:
    entries = log_store.list_uploads(store, c.job_id)
    return {
        "connector": c,
        "last": entries[0] if entries else None,
        "uploads": len(entries),
        "saved": sum(e.records_saved for e in entries),
        "unchanged": sum(e.records_unchanged for e in entries),
        "rejected": sum(e.records_rejected for e in entries),
    }


@router.get("/connectors")
async def connectors_page(request: Request, person: AdminViewer, deleted: int = 0) -> Response:
    """Every connector: scenarios, app, job id, mapping, last upload, totals, state."""
    store = state(request).store

    def load() -> tuple[list[dict[str, Any]], dict[str, str]]:
        apps = {a.app_id: a.name for a in identity.list_apps(store)}
        return [_summary(store, c) for c in conns.list_connectors(store)], apps

    rows, apps = await anyio.to_thread.run_sync(load)
    return page(request, "connectors.html", person, rows=rows, apps=apps, deleted=bool(deleted))


@router.get("/connectors/new")
async def connector_new(request: Request, person: AdminViewer) -> Response:
    """Step 1: name, app, scenarios and a sample file."""
    apps = await anyio.to_thread.run_sync(identity.list_apps, state(request).store)
    return page(request, "connector_new.html", person, apps=apps, scenarios=_scenarios())


def _field_rows(scenario: str, columns: dict[str, str]) -> list[dict[str, Any]]:
    spec = get_scenario(scenario)
    return [
        {"name": f.name, "required": f.required, "column": columns.get(f.name, "")}
        for f in spec.fields
    ]


@router.post("/connectors/new")
async def connector_propose(request: Request, person: AdminViewer) -> Response:
    """Step 2: read the sample's header and show the proposed mapping to confirm."""
    form = await posted(request, person, files=1)
    name = str(form.get("name", "")).strip()
    app_id = str(form.get("app_id", ""))
    chosen = [s for s in form.get("scenarios", []) if isinstance(s, str)]
    sample = form.get("sample")
    if not name:
        raise UsageError("give the connector a name")
    if not chosen or any(s not in _scenarios() for s in chosen):
        raise UsageError("choose at least one HR scenario from the list")
    if not isinstance(sample, UploadFile) or not sample.filename:
        raise UsageError("choose a sample file (a CSV with the header your HR system exports)")
    store = state(request).store
    app = await anyio.to_thread.run_sync(identity.get_app, store, app_id)

    def header() -> list[str]:
        with open_validation(
            sample.file,
            scenario=chosen[0] if len(chosen) == 1 else MULTI,
            name=sample.filename,
        ) as run:
            for _ in run:
                break
            return list(run.header)

    columns = await anyio.to_thread.run_sync(header)
    if not columns:
        raise UsageError(f"{sample.filename}: no header row found", hint="is it a CSV file?")
    proposed = _mapping(chosen, None, columns)
    return page(
        request,
        "connector_confirm.html",
        person,
        name=name,
        app=app,
        scenarios=chosen,
        header=columns,
        header_json=json.dumps(columns),
        sample_name=sample.filename,
        multi=len(chosen) > 1,
        identifier_column=proposed.identifier_column or "",
        mapping={
            s: {
                "fields": _field_rows(s, proposed.scenarios.get(s, {})),
                "value": ", ".join(proposed.identifier_values.get(s, [])),
            }
            for s in chosen
        },
    )


@router.post("/connectors/create")
async def connector_create(request: Request, person: AdminViewer) -> Response:
    """Step 3: create the connector with the confirmed mapping."""
    form = await posted(request, person)
    name = str(form.get("name", "")).strip()
    chosen = [s for s in form.get("scenarios", []) if isinstance(s, str)]
    if not name or not chosen or any(s not in _scenarios() for s in chosen):
        raise UsageError("the form lost its name or scenarios; start again")
    document: dict[str, Any] = {"scenarios": {}}
    if len(chosen) > 1:
        document["identifier_column"] = str(form.get("identifier_column", "")).strip()
        if not document["identifier_column"]:
            raise UsageError("several scenarios need the column that names each row's scenario")
    for s in chosen:
        cols = {}
        for f in get_scenario(s).fields:
            column = str(form.get(f"map.{s}.{f.name}", "")).strip()
            if column:
                cols[f.name] = column
        missing = [f.name for f in get_scenario(s).required if f.name not in cols]
        if missing:
            raise UsageError(f"{s}: choose a column for the required field(s) {', '.join(missing)}")
        body: dict[str, Any] = {"columns": cols}
        if len(chosen) > 1:
            values = [v.strip() for v in str(form.get(f"value.{s}", "")).split(",") if v.strip()]
            if not values:
                raise UsageError(f"{s}: give the value of the identifier column for its rows")
            body["identifier_value"] = values
        document["scenarios"][s] = body
    mapping = _mapping(chosen, document, None)
    store = state(request).store
    app_id = str(form.get("app_id", ""))
    connector = await anyio.to_thread.run_sync(
        lambda: conns.create_connector(
            store, name=name, app_id=app_id, scenarios=chosen, mapping=mapping
        )
    )
    return redirect(f"/connectors/{connector.job_id}?created=1")


@router.get("/connectors/{job_id}")
async def connector_page(
    request: Request, job_id: str, person: AdminViewer, created: int = 0
) -> Response:
    """One connector: its mapping and its upload log."""
    store = state(request).store

    def load() -> tuple[conns.Connector, list[log_store.UploadEntry], identity.App | None]:
        c = conns.get_connector(store, job_id)
        return c, log_store.list_uploads(store, job_id), identity.find_app(store, c.app_id)

    connector, entries, app = await anyio.to_thread.run_sync(load)
    return page(
        request,
        "connector.html",
        person,
        c=connector,
        app=app,
        entries=entries,
        created=bool(created),
        summary=_summary(store, connector),
    )


def _confirmed(form: dict[str, Any], action: str, where: str) -> None:
    """Refuse a POST that did not come from the confirmation page's form (400, nothing done):
    the page is where the admin reads what will go, so a stale or hand-made form that skips
    it is not enough."""
    if form.get("confirm") != action:
        raise UsageError(f"{action} was not confirmed", hint=f"confirm it on {where}")


async def _set_enabled(request: Request, job_id: str, person: Viewer, enabled: bool) -> Response:
    await posted(request, person)
    store = state(request).store

    connector = await anyio.to_thread.run_sync(lambda: conns.set_enabled(store, job_id, enabled))
    return redirect(f"/connectors/{connector.job_id}")


@router.post("/connectors/{job_id}/disable")
async def connector_disable(request: Request, job_id: str, person: AdminViewer) -> Response:
    """Disable a connector (as ``hrsignal connectors disable``): its uploads answer 404."""
    return await _set_enabled(request, job_id, person, False)


@router.post("/connectors/{job_id}/enable")
async def connector_enable(request: Request, job_id: str, person: AdminViewer) -> Response:
    """Enable a disabled connector again (as ``hrsignal connectors enable``)."""
    return await _set_enabled(request, job_id, person, True)


@router.get("/connectors/{job_id}/delete")
async def connector_delete_confirm(request: Request, job_id: str, person: AdminViewer) -> Response:
    """The confirmation page: what deleting the connector removes, and what it keeps."""
    store = state(request).store

    def load() -> tuple[dict[str, Any], identity.App | None]:
        c = conns.get_connector(store, job_id)
        return _summary(store, c), identity.find_app(store, c.app_id)

    summary, app = await anyio.to_thread.run_sync(load)
    return page(
        request,
        "connector_delete.html",
        person,
        c=summary["connector"],
        app=app,
        summary=summary,
    )


@router.post("/connectors/{job_id}/delete")
async def connector_delete(request: Request, job_id: str, person: AdminViewer) -> Response:
    """Delete a connector with its HR records and upload log (as ``hrsignal connectors
    delete``), once confirmed on its confirmation page."""
    form = await posted(request, person)
    store = state(request).store

    def remove() -> None:
        # Look it up first: an unknown job is a 404 before an unconfirmed form is a 400.
        canonical = conns.get_connector(store, job_id).job_id
        _confirmed(form, "delete", f"/connectors/{canonical}/delete")
        conns.delete_connector(store, canonical)

    await anyio.to_thread.run_sync(remove)
    return redirect("/connectors?deleted=1")


@router.get("/uploads/{upload_id}")
async def upload_page(request: Request, upload_id: str, person: AdminViewer) -> Response:
    """One upload: its counts and its rejected rows."""
    store = state(request).store

    def load() -> tuple[log_store.UploadEntry, list[dict[str, Any]]]:
        return log_store.get_upload(store, upload_id), log_store.list_findings(store, upload_id)

    entry, findings = await anyio.to_thread.run_sync(load)
    return page(
        request,
        "upload.html",
        person,
        entry=entry,
        findings=findings[:_FINDINGS_SHOWN],
        total_findings=len(findings),
    )


@router.get("/uploads/{upload_id}/rejected.csv")
async def upload_rejected_csv(request: Request, upload_id: str, person: AdminViewer) -> Response:
    """The upload's findings as CSV (Purview's "Download log"), formula-safe."""
    store = state(request).store

    def load() -> list[dict[str, Any]]:
        log_store.get_upload(store, upload_id)
        return log_store.list_findings(store, upload_id)

    findings = await anyio.to_thread.run_sync(load)
    keys = ("record", "line", "column", "severity", "code", "message")
    body = safe_csv(keys, ([f[k] for k in keys] for f in findings))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="upload-{upload_id}-rejected.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- apps -----------------------------------------------------------------------------------


def _secret_row(s: identity.SecretInfo, now: dt.datetime) -> dict[str, Any]:
    days = (s.expires_at - now).days
    state_ = "expired" if s.expires_at <= now else "soon" if days < EXPIRY_WARNING_DAYS else "ok"
    return {"secret": s, "days_left": days, "state": state_}


@router.get("/apps")
async def apps_page(request: Request, person: AdminViewer) -> Response:
    """App registrations with their secrets (hints and expiry) and certificates."""
    store = state(request).store
    now = identity.utcnow()

    def load() -> list[dict[str, Any]]:
        return [
            {
                "app": a,
                "secrets": [_secret_row(s, now) for s in identity.list_secrets(store, a.app_id)],
                "certificates": identity.list_certificates(store, a.app_id),
            }
            for a in identity.list_apps(store)
        ]

    rows = await anyio.to_thread.run_sync(load)
    return page(request, "apps.html", person, rows=rows, warning_days=EXPIRY_WARNING_DAYS)


def _days(form: dict[str, Any]) -> int:
    text = str(form.get("expires_in_days", "730")).strip()
    if not text.isdigit():
        raise UsageError("the secret's lifetime is a number of days (1-3650)")
    return int(text)


def _secret_shown(request: Request, person: Viewer, new: identity.NewSecret) -> Response:
    return page(request, "secret.html", person, new=new)


@router.post("/apps")
async def app_create(request: Request, person: AdminViewer) -> Response:
    """Register an app; its first secret is shown once."""
    form = await posted(request, person)
    store = state(request).store
    days = _days(form)

    def create() -> identity.NewSecret:
        tenant = identity.default_tenant(store)
        return identity.create_app(
            store, str(form.get("name", "")), tenant_id=tenant, expires_in_days=days
        )

    return _secret_shown(request, person, await anyio.to_thread.run_sync(create))


@router.post("/apps/{app_id}/secrets")
async def secret_create(request: Request, app_id: str, person: AdminViewer) -> Response:
    """Add a secret to an app; shown once."""
    form = await posted(request, person)
    days = _days(form)
    new = await anyio.to_thread.run_sync(
        lambda: identity.add_secret(state(request).store, app_id, expires_in_days=days)
    )
    return _secret_shown(request, person, new)


def _find_secret(
    store: Any, app_id: str, secret_id: str
) -> tuple[identity.SecretInfo, list[identity.SecretInfo]]:
    """The app's secret ``secret_id`` and all the app's secrets; 404 when the app does not
    have it (even if another app does: a secret is only ever addressed through its own app)."""
    secrets = identity.list_secrets(store, app_id)
    for s in secrets:
        if s.secret_id == secret_id:
            return s, secrets
    raise NotFoundError(f"application {app_id} has no secret {secret_id}")


@router.get("/apps/{app_id}/secrets/{secret_id}/remove")
async def secret_remove_confirm(
    request: Request, app_id: str, secret_id: str, person: AdminViewer
) -> Response:
    """The confirmation page: which app, which secret (hint, created, expiry), what follows."""
    store = state(request).store
    now = identity.utcnow()

    def load() -> tuple[identity.App, dict[str, Any], int]:
        app = identity.get_app(store, app_id)
        secret, secrets = _find_secret(store, app_id, secret_id)
        others = len(secrets) - 1 + len(identity.list_certificates(store, app_id))
        return app, _secret_row(secret, now), others

    app, row, other_credentials = await anyio.to_thread.run_sync(load)
    return page(
        request,
        "secret_remove.html",
        person,
        app=app,
        s=row,
        other_credentials=other_credentials,
        token_lifetime_s=state(request).settings.token_lifetime_s,
    )


@router.post("/apps/{app_id}/secrets/{secret_id}/remove")
async def secret_remove(
    request: Request, app_id: str, secret_id: str, person: AdminViewer
) -> Response:
    """Remove one secret of an app, once confirmed on its confirmation page."""
    form = await posted(request, person)
    store = state(request).store

    def remove() -> None:
        _find_secret(store, app_id, secret_id)  # another app's secret: 404 before the rest
        _confirmed(form, "remove", f"/apps/{app_id}/secrets/{secret_id}/remove")
        identity.remove_secret(store, app_id, secret_id)

    await anyio.to_thread.run_sync(remove)
    return redirect("/apps")
