"""The connector log: one entry per upload, with every rejected row and its finding.

Like Purview's "Download log": ``RecordsReceived``, ``RecordsSaved`` (new or changed records),
``RecordsUnchanged``, ``RecordsRejected``; plus duplicates dropped inside the upload and the
findings. The log entry is written in the same transaction as the records it describes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from hrsignal.errors import NotFoundError
from hrsignal.scenarios import Finding
from hrsignal.store.engine import Store
from hrsignal.store.identity import as_utc
from hrsignal.store.schema import upload_rejects, uploads

#: The log's column names, in order (Purview-style).
LOG_FIELDS = [
    "UploadId",
    "JobId",
    "AppId",
    "FileName",
    "Timestamp",
    "Status",
    "RecordsReceived",
    "RecordsSaved",
    "RecordsUnchanged",
    "RecordsRejected",
    "RecordsDuplicate",
    "Errors",
    "Warnings",
    "Message",
]


@dataclass
class UploadEntry:
    """One upload in the connector log."""

    upload_id: str
    job_id: str
    app_id: str
    file_name: str
    received_at: dt.datetime
    status: str
    records_received: int
    records_saved: int
    records_unchanged: int
    records_rejected: int
    records_duplicate: int
    error_count: int
    warning_count: int
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The log's JSON shape (Purview-style field names)."""
        return {
            "UploadId": self.upload_id,
            "JobId": self.job_id,
            "AppId": self.app_id,
            "FileName": self.file_name,
            "Timestamp": self.received_at.isoformat(),
            "Status": self.status,
            "RecordsReceived": self.records_received,
            "RecordsSaved": self.records_saved,
            "RecordsUnchanged": self.records_unchanged,
            "RecordsRejected": self.records_rejected,
            "RecordsDuplicate": self.records_duplicate,
            "Errors": self.error_count,
            "Warnings": self.warning_count,
            "Message": self.message,
        }


def write_upload(conn: Connection, entry: UploadEntry, findings: Iterable[Finding]) -> None:
    """Insert a log entry and its findings (inside the caller's transaction)."""
    conn.execute(insert(uploads).values(**entry.__dict__))
    rows = [
        {
            "upload_id": entry.upload_id,
            "record": f.record,
            "line": f.line,
            "column_name": f.column,
            "severity": str(f.severity),
            "code": str(f.code),
            "message": f.message,
        }
        for f in findings
    ]
    if rows:
        conn.execute(insert(upload_rejects), rows)


def _entry(row: Any) -> UploadEntry:
    values = dict(row._mapping)
    values["received_at"] = as_utc(values["received_at"])
    return UploadEntry(**values)


def list_uploads(store: Store, job_id: str, *, limit: int = 1000) -> list[UploadEntry]:
    """The job's uploads, newest first."""
    with store.read() as conn:
        rows = conn.execute(
            select(uploads)
            .where(uploads.c.job_id == job_id)
            .order_by(uploads.c.received_at.desc())
            .limit(limit)
        ).all()
    return [_entry(r) for r in rows]


def get_upload(store: Store, upload_id: str) -> UploadEntry:
    """One upload; :class:`NotFoundError` otherwise."""
    with store.read() as conn:
        row = conn.execute(select(uploads).where(uploads.c.upload_id == upload_id)).first()
    if row is None:
        raise NotFoundError(f"no upload {upload_id!r}")
    return _entry(row)


def list_findings(store: Store, upload_id: str) -> list[dict[str, Any]]:
    """Every finding stored for an upload, in record order."""
    with store.read() as conn:
        rows = conn.execute(
            select(upload_rejects)
            .where(upload_rejects.c.upload_id == upload_id)
            .order_by(upload_rejects.c.id)
        ).all()
    return [
        {
            "record": r.record,
            "line": r.line,
            "column": r.column_name,
            "severity": r.severity,
            "code": r.code,
            "message": r.message,
        }
        for r in rows
    ]
