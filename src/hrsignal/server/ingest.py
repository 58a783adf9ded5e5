"""``POST /api/signals``: receive an HR file, validate it with the shared core, save it.

The body is spooled to a temporary file as it arrives (over the size limit -> 413, nothing
kept), the ``file`` part is located with the tolerant multipart reader (or the body is the CSV
itself for ``text/csv``), and :func:`hrsignal.scenarios.open_validation` reads it with the
connector's mapping. Valid records are staged and merged idempotently in one transaction with
the upload's log entry; a file the validator rejects as a whole, or one with rows whose field
count is wrong, answers 400 with its findings and saves nothing.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from hrsignal.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    StoreError,
)
from hrsignal.scenarios import Code, Finding, ValidationOptions, open_validation
from hrsignal.server import multipart
from hrsignal.server.context import AppState, state
from hrsignal.server.problems import ApiError
from hrsignal.store.connectors import Connector, find_connector
from hrsignal.store.identity import utcnow
from hrsignal.store.records import collapse, save_records, stage_table, to_us
from hrsignal.store.uploads import UploadEntry, write_upload

router = APIRouter()
log = logging.getLogger("hrsignal.server.ingest")

#: Rows whose structure is broken reject the whole upload (the issue: 400, never 500).
_STRUCTURAL = (Code.FIELD_COUNT, Code.UNTERMINATED_QUOTE)
_FORBIDDEN = "jobId and corresponding appId do not match."
#: Rejected rows kept in the log per upload (the counts stay exact): a file of millions of
#: broken rows must not cost gigabytes of memory and database.
MAX_STORED_FINDINGS = 10_000


def bearer_token(request: Request) -> str:
    """The bearer token of ``request`` (trailing whitespace tolerated); 401 when absent."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(
            "no bearer token; send Authorization: Bearer <access token>",
            hint="get a token from /{tenant}/oauth2/token with your app's id and secret",
        )
    return token.strip()


def job_id_of(request: Request) -> str:
    """The ``jobid`` query parameter, its key matched case-insensitively (PA sends jobId)."""
    for key, value in request.query_params.multi_items():
        if key.lower() == "jobid" and value.strip():
            return value.strip()
    raise ApiError(
        "the jobid query parameter is missing; POST to /api/signals?jobid=<connector job id>",
        status=400,
        code="bad_request",
    )


async def spool_body(request: Request, limit: int, directory: str | None = None) -> Path:
    """Write the request body to a temporary file; 413 (and the file removed) over ``limit``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"the request body ({int(declared)} bytes) is over the limit of {limit} bytes",
            hint="send smaller chunks (hrsignal upload --chunk-records N)",
        )
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, removed by caller
            prefix="hrsignal-upload-", suffix=".body", dir=directory, delete=False
        )
    except OSError as exc:
        raise _spool_error(exc) from None
    path = Path(handle.name)
    size = 0
    try:
        with handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(
                        f"the request body is over the limit of {limit} bytes",
                        hint="send smaller chunks (hrsignal upload --chunk-records N)",
                    )
                handle.write(chunk)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise _spool_error(exc) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _spool_error(exc: OSError) -> StoreError:
    """A full or read-only temporary directory: the service cannot take the upload now (503,
    retryable), which is not the client's fault and not a bug (500)."""
    return StoreError(
        f"the service cannot store the upload's body in its temporary directory "
        f"({exc.strerror}); nothing was saved",
        hint="free space on the server (or point TMPDIR elsewhere) and send it again",
    )


def csv_from_body(body: Path, content_type: str) -> tuple[Path, str]:
    """The CSV inside the spooled body: ``(path, file name)``; the body itself when raw."""
    kind = content_type.split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        return body, "upload.csv"
    parts = multipart.find_parts(body, multipart.boundary_of(content_type))
    wanted = [p for p in parts if (p.name or "").strip().lower() == "file"]
    if not wanted:
        names = ", ".join(repr(p.name) for p in parts) or "none"
        raise ApiError(
            f"the multipart body has no part named 'file' (parts: {names})",
            status=400,
            code="missing_file_part",
            hint="send the CSV as a form part named file, as the official script does",
        )
    part = wanted[0]
    target = body.with_suffix(".csv")
    try:
        with target.open("wb") as out:
            multipart.extract(body, part, out)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise _spool_error(exc) from None
    return target, part.filename or "upload.csv"


def _response(entry: UploadEntry, findings: list[Finding]) -> dict[str, Any]:
    return {
        "uploadId": entry.upload_id,
        "jobId": entry.job_id,
        "recordsReceived": entry.records_received,
        "recordsSaved": entry.records_saved,
        "recordsUnchanged": entry.records_unchanged,
        "recordsRejected": entry.records_rejected,
        "recordsDuplicate": entry.records_duplicate,
        "errors": [f.to_dict() for f in findings],
    }


def ingest_file(
    st: AppState, connector: Connector, app_id: str, csv_path: Path, file_name: str
) -> dict[str, Any]:
    """Validate and save one uploaded file; returns the upload response body."""
    upload_id = str(uuid.uuid4())
    received = utcnow()
    options = ValidationOptions(date_window=st.settings.date_window)
    errors: list[Finding] = []
    staged: list[pa.Table] = []
    # Validation runs with no database lock held; saving is one short transaction after it.
    with open_validation(
        csv_path, mapping=connector.file_mapping(), options=options, name=file_name
    ) as run:
        for batch in run:
            if batch.valid.any():
                staged.append(stage_table(connector.job_id, batch.canonical, batch.valid))
            room = MAX_STORED_FINDINGS - len(errors)
            if room > 0:
                errors.extend(itertools.islice((f for f in batch.findings if f.is_error), room))
        report = run.report
    structural = sum(report.counts.get(str(c), 0) for c in _STRUCTURAL)
    entry = UploadEntry(
        upload_id=upload_id,
        job_id=connector.job_id,
        app_id=app_id,
        file_name=file_name[:400],
        received_at=received,
        status="saved",
        records_received=report.records,
        records_saved=0,
        records_unchanged=0,
        records_rejected=report.records - report.valid_records,
        records_duplicate=0,
        error_count=report.error_count,
        warning_count=report.warning_count,
    )
    # File-level findings (record None) are in no batch.
    errors = [f for f in report.errors if f.record is None] + errors
    kept = (
        f"; the first {len(errors)} of {report.error_count} errors are kept in the log"
        if report.error_count > len(errors)
        else ""
    )
    entry.message = kept[2:] or None
    shown = errors[: st.settings.max_response_findings]
    if report.file_rejected or structural:
        entry.status = "rejected"
        entry.records_rejected = report.records
        entry.message = (
            "the file was rejected as a whole"
            if report.file_rejected
            else f"{structural} row(s) have the wrong number of fields or an unterminated "
            "quote; nothing was saved"
        ) + kept
        with st.store.write() as conn:
            write_upload(conn, entry, errors)
        raise ApiError(
            f"{file_name}: {entry.message}; {report.error_count} error(s), first: "
            + (shown[0].message if shown else "see findings"),
            status=400,
            code="data_rejected",
            extra={"uploadId": upload_id, "findings": [f.to_dict() for f in shown]},
            hint=f"check the file locally with `hrsignal validate {file_name}`",
        )
    rows, duplicate = collapse(staged)
    staged.clear()
    with st.store.write() as conn:
        saved = save_records(
            st.store,
            conn,
            rows,
            job_id=connector.job_id,
            upload_id=upload_id,
            now_us=to_us(received),
        )
        entry.records_saved = saved
        entry.records_duplicate = duplicate
        entry.records_unchanged = rows.num_rows - saved
        write_upload(conn, entry, errors)
    return _response(entry, shown)


@contextmanager
def _cleanup(*paths: Path) -> Iterator[None]:
    try:
        yield
    finally:
        for p in paths:
            p.unlink(missing_ok=True)


async def _signals(request: Request) -> JSONResponse:
    st = state(request)
    token = bearer_token(request)
    claims = st.issuer.verify(token)
    job_id = job_id_of(request)
    connector = await anyio.to_thread.run_sync(find_connector, st.store, job_id)
    if connector is None or not connector.enabled:
        raise NotFoundError(
            f"no enabled connector with job id {job_id!r}",
            hint="check the job id with `hrsignal connectors list`",
        )
    if connector.app_id != claims.app_id:
        raise ForbiddenError(_FORBIDDEN)
    body = await spool_body(request, st.settings.max_body_bytes)
    csv_path = body
    with _cleanup(body):
        csv_path, name = await anyio.to_thread.run_sync(
            csv_from_body, body, request.headers.get("content-type", "")
        )
        with _cleanup(csv_path):
            result = await anyio.to_thread.run_sync(
                ingest_file, st, connector, claims.app_id, csv_path, name
            )
    # Counts and ids only: never a value from the file.
    log.info(
        "upload %s job %s: received %d saved %d unchanged %d rejected %d",
        result["uploadId"],
        connector.job_id,
        result["recordsReceived"],
        result["recordsSaved"],
        result["recordsUnchanged"],
        result["recordsRejected"],
    )
    return JSONResponse(result)


@router.post("/api/signals")
async def post_signals(request: Request) -> JSONResponse:
    """Receive an HR file for the job named by ``jobid``."""
    return await _signals(request)


@router.post("/api/signals/hr/termination/csv")
async def post_signals_legacy(request: Request) -> JSONResponse:
    """The 2020 termination-only path, kept as an alias."""
    return await _signals(request)


@router.get("/api/signals")
async def get_signals() -> PlainTextResponse:
    """For people checking the firewall path with a browser."""
    return PlainTextResponse("hrsignal ingestion endpoint: POST HR files here with a job id.\n")
