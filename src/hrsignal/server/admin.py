"""The admin HTTP API: connectors and their upload log.

Protected by pluggable authenticators (see :class:`~hrsignal.server.context.AppState`): the
built-in one accepts an admin token (``Authorization: Bearer hrsadm_...`` or
``X-Admin-Token``) created on first start or with ``hrsignal apps admin-token``; the
dashboard adds its cookie session by appending an authenticator.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from hrsignal.errors import AuthError, ConfigError, UsageError
from hrsignal.scenarios import FileMapping, mapping_from_dict, propose_mapping
from hrsignal.server.context import state
from hrsignal.store import connectors as conns
from hrsignal.store import identity
from hrsignal.store import uploads as log_store
from hrsignal.web.csvsafe import neutralise


async def admin_token_auth(request: Request) -> str | None:
    """Accept a current admin token; None when the request carries none."""
    header = request.headers.get("x-admin-token", "").strip()
    if not header:
        scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip().startswith(identity.ADMIN_PREFIX):
            header = value.strip()
    if not header:
        return None
    ok = await anyio.to_thread.run_sync(identity.check_admin_token, state(request).store, header)
    if not ok:
        raise AuthError("the admin token is not valid")
    return "admin-token"


async def require_admin(request: Request) -> str:
    """Dependency: the first authenticator that recognises the caller, else 401."""
    for authenticate in state(request).admin_authenticators:
        who = await authenticate(request)
        if who:
            return who
    raise AuthError(
        "admin API: authentication required",
        hint="send Authorization: Bearer <admin token> (hrsignal apps admin-token creates one)",
    )


router = APIRouter(prefix="/api/connectors", dependencies=[Depends(require_admin)])


class ConnectorIn(BaseModel):
    """Body of ``POST /api/connectors``: a mapping document, or a sample header to propose."""

    name: str
    app_id: str
    scenarios: list[str] = Field(min_length=1)
    mapping: dict[str, Any] | None = None
    sample_header: list[str] | None = None


def build_mapping(
    scenarios: list[str], mapping: dict[str, Any] | None, header: list[str] | None
) -> FileMapping:
    """The connector mapping from a document, or proposed from a sample header."""
    if mapping is not None:
        result = mapping_from_dict(mapping, source="mapping")
    elif header:
        scenario = scenarios[0] if len(scenarios) == 1 else "multi"
        result = propose_mapping(header, scenario)
        if scenario == "multi":
            keep = {s: c for s, c in result.scenarios.items() if s in scenarios}
            missing = [s for s in scenarios if s not in keep]
            if missing:
                raise ConfigError(
                    f"the sample's header lacks the required columns of: {', '.join(missing)}"
                )
            result.scenarios = keep
            result.identifier_values = {
                s: v for s, v in result.identifier_values.items() if s in keep
            }
    else:
        raise UsageError("give a mapping document or a sample file's header")
    unknown = [s for s in result.scenarios if s not in scenarios]
    if unknown:
        raise UsageError(f"the mapping names scenarios not selected: {', '.join(unknown)}")
    return result


@router.get("")
async def list_connectors(request: Request) -> JSONResponse:
    """Every connector."""
    items = await anyio.to_thread.run_sync(conns.list_connectors, state(request).store)
    return JSONResponse({"connectors": [c.to_dict() for c in items]})


@router.post("", status_code=201)
async def create_connector(request: Request, body: ConnectorIn) -> JSONResponse:
    """Create a connector; answers its ``job_id``."""
    mapping = build_mapping(body.scenarios, body.mapping, body.sample_header)

    def create() -> conns.Connector:
        return conns.create_connector(
            state(request).store,
            name=body.name,
            app_id=body.app_id,
            scenarios=body.scenarios,
            mapping=mapping,
        )

    connector = await anyio.to_thread.run_sync(create)
    return JSONResponse(connector.to_dict(), status_code=201)


@router.get("/{job_id}")
async def show_connector(request: Request, job_id: str) -> JSONResponse:
    """One connector."""
    connector = await anyio.to_thread.run_sync(conns.get_connector, state(request).store, job_id)
    return JSONResponse(connector.to_dict())


@router.post("/{job_id}/disable")
async def disable_connector(request: Request, job_id: str) -> JSONResponse:
    """Disable a connector (its uploads then answer 404)."""
    c = await anyio.to_thread.run_sync(conns.set_enabled, state(request).store, job_id, False)
    return JSONResponse(c.to_dict())


@router.post("/{job_id}/enable")
async def enable_connector(request: Request, job_id: str) -> JSONResponse:
    """Enable a connector again."""
    c = await anyio.to_thread.run_sync(conns.set_enabled, state(request).store, job_id, True)
    return JSONResponse(c.to_dict())


@router.delete("/{job_id}", status_code=204)
async def delete_connector(request: Request, job_id: str) -> Response:
    """Delete a connector, its records and its log."""
    await anyio.to_thread.run_sync(conns.delete_connector, state(request).store, job_id)
    return Response(status_code=204)


def log_csv(entries: list[log_store.UploadEntry]) -> str:
    """The upload log as CSV (Purview's "Download log"); every cell formula-safe (the file
    name and the message come from the uploader)."""
    out = io.StringIO()
    rows = [{k: neutralise(v) for k, v in e.to_dict().items()} for e in entries]
    writer = csv.DictWriter(out, fieldnames=log_store.LOG_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@router.get("/{job_id}/uploads", response_model=None)
async def list_uploads(request: Request, job_id: str, format: str = "json") -> Response:
    """The connector's upload log, newest first (``?format=csv`` for a download)."""
    store = state(request).store
    await anyio.to_thread.run_sync(conns.get_connector, store, job_id)
    entries = await anyio.to_thread.run_sync(log_store.list_uploads, store, job_id)
    if format == "csv":
        return Response(
            log_csv(entries),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{job_id}-log.csv"'},
        )
    if format != "json":
        raise UsageError("format must be json or csv")
    return JSONResponse({"jobId": job_id, "uploads": [e.to_dict() for e in entries]})


@router.get("/{job_id}/uploads/{upload_id}")
async def show_upload(request: Request, job_id: str, upload_id: str) -> JSONResponse:
    """One upload with every finding stored for it (the rejected rows)."""
    store = state(request).store
    entry = await anyio.to_thread.run_sync(log_store.get_upload, store, upload_id)
    if entry.job_id != job_id:
        raise UsageError(f"upload {upload_id} belongs to another connector")
    findings = await anyio.to_thread.run_sync(log_store.list_findings, store, upload_id)
    return JSONResponse({**entry.to_dict(), "Findings": findings})
