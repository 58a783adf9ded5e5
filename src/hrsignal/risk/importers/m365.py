"""Microsoft 365 unified audit log: the Purview audit search export (CSV whose ``AuditData``
column holds the record as JSON) and the Office 365 Management Activity API's content blobs
(JSON arrays of the same records).

Both carry the same audit record schema (Microsoft Learn, "Office 365 Management Activity API
schema": common schema, SharePoint file operations, Exchange mailbox actions, Endpoint DLP
``DLPEndpoint`` records), so one SQL mapping over the JSON record serves both. Exchange ``Send``
records carry the attachments but not the recipients, so ``external`` stays unknown for them.
"""

# ruff: noqa: S608 - this module generates SQL; every value goes through sql_literal/quote_ident

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import duckdb

from hrsignal.errors import InputFileError
from hrsignal.risk.events import ImportReport
from hrsignal.risk.importers.common import (
    Progress,
    csv_source,
    files_in,
    parse_time,
    run_import,
)
from hrsignal.risk.store import RiskStore, sql_literal

#: Purview operation -> activity. Sharing operations are resolved separately (external or not).
OPERATIONS: dict[str, str] = {
    "FileDownloaded": "FileDownloaded",
    "FileSyncDownloadedFull": "FileSyncDownloaded",
    "FileSyncDownloadedPartial": "FileSyncDownloaded",
    "FileUploaded": "FileUploaded",
    "FileAccessed": "FileAccessed",
    "FileAccessedExtended": "FileAccessed",
    "FileRead": "FileAccessed",
    "FileModified": "FileModified",
    "FileModifiedExtended": "FileModified",
    "FileCreated": "FileCreated",
    "FileDeleted": "FileDeleted",
    "FileRecycled": "FileDeleted",
    "FileDeletedFirstStageRecycleBin": "FileDeleted",
    "FileRenamed": "FileRenamed",
    "FileCopiedToRemovableMedia": "FileCopiedToRemovableMedia",
    "FileUploadedToCloud": "FileUploadedToCloud",
    "FilePrinted": "FilePrinted",
    "FileCopiedToNetworkShare": "FileCopiedToNetworkShare",
    "FileCopiedToRemoteDesktopSession": "FileCopiedToRemoteDesktopSession",
    "FileTransferredByBluetooth": "FileTransferredByBluetooth",
    "FileArchived": "FileArchived",
    "FileSensitivityLabelRemoved": "SensitivityLabelDowngraded",
    "FileSensitivityLabelChanged": "SensitivityLabelDowngraded",
    "SensitivityLabelRemoved": "SensitivityLabelDowngraded",
    "RemovedSensitivityLabel": "SensitivityLabelDowngraded",
    "DowngradedSensitivityLabel": "SensitivityLabelDowngraded",
    "Send": "EmailSent",
    "UserLoggedIn": "Logon",
}
SHARING = (
    "SharingSet",
    "SharingInvitationCreated",
    "AnonymousLinkCreated",
    "AddedToSecureLink",
    "SecureLinkCreated",
    "CompanyLinkCreated",
)


def _case(op: str) -> str:
    arms = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in OPERATIONS.items())
    return f"CASE {op} {arms} ELSE NULL END"


def _mapping(record: str, fallback_time: str, fallback_user: str, fallback_op: str) -> str:
    """The event columns from a JSON audit record expression ``record`` (``j`` below)."""
    j = "j"

    def s(key: str) -> str:
        return f"json_extract_string({j}, '$.{key}')"

    op = f"coalesce({s('Operation')}, {fallback_op})"
    sharing = ", ".join(sql_literal(x) for x in SHARING)
    external_share = (
        f"({s('Operation')} = 'AnonymousLinkCreated' OR "
        f"lower({s('TargetUserOrGroupType')}) IN ('guest', 'external', 'anonymous'))"
    )
    target_path = f"coalesce({s('TargetFilePath')}, {s('DestinationRelativeUrl')})"
    domain = (
        f"lower(coalesce({s('TargetDomain')}, regexp_extract({s('TargetUrl')}, '://([^/:]+)', 1)))"
    )
    return f"""
    SELECT
        {parse_time(f"coalesce({s('CreationTime')}, {fallback_time})")} AS "time",
        lower(coalesce({s("UserId")}, {fallback_user})) AS "user",
        coalesce({s("DeviceName")}, {s("ClientIP")}) AS device,
        CASE WHEN {s("Operation")} IN ({sharing})
             THEN CASE WHEN {external_share} THEN 'FileSharedExternally'
                       ELSE 'FileSharedInternally' END
             ELSE {_case(op)} END AS activity,
        coalesce({s("ObjectId")}, {s("Item.Subject")}, {s("SourceFileName")}) AS object,
        coalesce({target_path}, {s("TargetUserOrGroupName")}, {s("TargetPrinterName")},
                 {s("Item.Attachments")}) AS target,
        TRY_CAST(coalesce({s("FileSize")}, {s("FileSizeBytes")}) AS BIGINT) AS bytes,
        CASE WHEN {s("Item.Attachments")} IS NOT NULL AND {s("Item.Attachments")} <> ''
             THEN len(string_split({s("Item.Attachments")}, ';'))::INTEGER
             ELSE 0 END AS attachments,
        {domain} AS destination_domain,
        {s("Operation")} = 'FileCopiedToRemovableMedia' OR
            {s("RemovableMediaDeviceAttributes")} IS NOT NULL AS removable_media,
        CASE WHEN {s("Operation")} IN ({sharing}) THEN {external_share}
             WHEN {s("Operation")} IN ('FileUploadedToCloud', 'FileTransferredByBluetooth')
             THEN true ELSE NULL END AS external,
        coalesce({s("SensitivityLabelEventData.SensitivityLabelId")},
                 {s("SensitivityLabelId")}, {s("SensitivityLabel")}) AS sensitivity,
        NULL::VARCHAR AS url_category,
        {s("Id")} AS record_id,
        {op} AS _op,
        CAST({j} AS VARCHAR) AS _raw,
        NULL::VARCHAR AS _bad
    FROM ({record})"""


def import_audit_csv(
    store: RiskStore, path: Path, *, force: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Import a Purview audit search export (CSV with the ``AuditData`` JSON column)."""
    files = files_in(path, (".csv", ".csv.gz"))

    def select(con: duckdb.DuckDBPyConnection) -> str:
        parts = []
        for n, file in enumerate(files):
            cols = {
                str(r[0]).lower(): str(r[0])
                for r in con.execute(f"DESCRIBE SELECT * FROM {csv_source(file)}").fetchall()
            }
            if "auditdata" not in cols:
                raise_missing(file, "AuditData")

            def col(*names: str, _cols: dict[str, str] = cols) -> str:
                for name in names:
                    if name.lower() in _cols:
                        return '"' + _cols[name.lower()] + '"'
                return "NULL::VARCHAR"

            audit = col("AuditData")
            inner = (
                f"SELECT CASE WHEN json_valid({audit}) THEN {audit}::JSON END AS j, "
                f"{audit} AS _text, {col('CreationDate')} AS _t, "
                f"{col('UserId', 'UserIds')} AS _u, {col('Operation', 'Operations')} AS _o "
                f"FROM {csv_source(file, rejects='csv_rejects' if n == 0 else f'csv_rejects{n}')}"
            )
            body = _mapping(inner, "_t", "_u", "_o")
            # A record whose AuditData is not JSON is malformed, not unknown.
            body = body.replace(
                "NULL::VARCHAR AS _bad",
                "CASE WHEN j IS NULL THEN 'malformed_auditdata_json' END AS _bad",
            ).replace("CAST(j AS VARCHAR) AS _raw", "_text AS _raw")
            parts.append(body)
        return " UNION ALL ".join(parts)

    return run_import(
        store,
        source="m365",
        path=path,
        files=files,
        select_sql=select,
        force=force,
        progress=progress,
    )


def import_management_api(
    store: RiskStore, path: Path, *, force: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Import Management Activity API content (JSON arrays or JSON lines of audit records)."""
    files = files_in(path, (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz"))

    def select(con: duckdb.DuckDBPyConnection) -> str:
        parts = []
        for file in files:
            inner = (
                f"SELECT json AS j FROM read_json_objects({sql_literal(str(file))}, "
                "format = 'auto', ignore_errors = false)"
            )
            parts.append(_mapping(inner, "NULL", "NULL", "NULL"))
        return " UNION ALL ".join(parts)

    return run_import(
        store,
        source="m365",
        path=path,
        files=files,
        select_sql=select,
        force=force,
        progress=progress,
    )


def raise_missing(file: Path, column: str) -> NoReturn:
    """Refuse a file that lacks a column the source needs."""
    raise InputFileError(
        f"{file}: no {column} column; this is not a Purview audit search export",
        hint="export from Purview > Audit > Export results, or import with 'generic'",
    )
