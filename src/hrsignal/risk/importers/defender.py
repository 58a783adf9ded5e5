"""Microsoft Defender for Endpoint advanced-hunting exports: ``DeviceFileEvents`` and
``DeviceEvents`` (``UsbDriveMount``, ``AntivirusDetection``, ``TamperingAttempt``), as the portal
exports them (CSV) or the API returns them (JSON / JSON lines). Column names follow the public
advanced-hunting schema reference.

Defender does not say "copied to USB": a ``FileCreated`` on a drive letter that a
``UsbDriveMount`` on the same device mounted in the previous 24 hours is one. Mounts come from the
``DeviceEvents`` files of the same import and from mounts imported earlier, so the two exports can
arrive in either order (if the file events come first, import them again with ``--force`` after
the mounts to resolve their drives).
"""

# ruff: noqa: S608 - this module generates SQL; every value goes through sql_literal/quote_ident

from __future__ import annotations

from pathlib import Path

import duckdb

from hrsignal.errors import InputFileError
from hrsignal.risk.events import ImportReport
from hrsignal.risk.importers.common import Progress, csv_source, files_in, parse_time, run_import
from hrsignal.risk.store import RiskStore, sql_literal

ARCHIVES = (".zip", ".7z", ".rar", ".tar", ".gz", ".cab", ".tgz")


def _relation(file: Path, n: int) -> str:
    if file.name.lower().endswith((".csv", ".csv.gz")):
        return csv_source(file, rejects="csv_rejects" if n == 0 else f"csv_rejects{n}")
    return (
        f"(SELECT COLUMNS(*)::VARCHAR FROM read_json({sql_literal(str(file))}, "
        "format = 'auto', union_by_name = true))"
    )


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    return {str(r[0]) for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def _user(cols: set[str]) -> str:
    upn = next((c for c in ("InitiatingProcessAccountUpn", "AccountUpn") if c in cols), None)
    name = next((c for c in ("InitiatingProcessAccountName", "AccountName") if c in cols), None)
    domain = next(
        (c for c in ("InitiatingProcessAccountDomain", "AccountDomain") if c in cols), None
    )
    parts = []
    if upn:
        parts.append(f"nullif(\"{upn}\", '')")
    if name:
        prefix = f"\"{domain}\" || '\\' || " if domain else ""
        parts.append(f"nullif({prefix}\"{name}\", '')")
    return "lower(coalesce(" + ", ".join([*parts, "NULL"]) + "))"


def _col(cols: set[str], name: str) -> str:
    return f'"{name}"' if name in cols else "NULL::VARCHAR"


def import_defender(
    store: RiskStore, path: Path, *, force: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Import DeviceFileEvents / DeviceEvents exports (a file, or a folder of them)."""
    files = files_in(path, (".csv", ".json", ".jsonl", ".csv.gz", ".json.gz", ".jsonl.gz"))

    def select(con: duckdb.DuckDBPyConnection) -> str:
        file_parts: list[str] = []
        event_parts: list[str] = []
        for n, file in enumerate(files):
            rel = _relation(file, n)
            cols = _columns(con, rel)
            if not {"Timestamp", "ActionType"} <= cols:
                raise InputFileError(
                    f"{file}: no Timestamp/ActionType columns; not an advanced-hunting export",
                    hint="export DeviceFileEvents or DeviceEvents with all columns",
                )
            is_file_events = "PreviousFileName" in cols or file.name.lower().startswith(
                "devicefileevents"
            )
            (file_parts if is_file_events else event_parts).append(
                _file_events(rel, cols) if is_file_events else _device_events(rel, cols)
            )
        # Mounts of this import and of earlier ones, for resolving removable drives.
        mounts = [
            'SELECT device, object AS drive, "time" FROM events '
            "WHERE activity = 'RemovableMediaMounted' AND source = 'defender'"
        ]
        mounts += [
            f'SELECT device, object AS drive, "time" FROM ({p}) WHERE activity = '
            "'RemovableMediaMounted'"
            for p in event_parts
        ]
        con.execute("CREATE OR REPLACE TEMP TABLE _mounts AS " + " UNION ALL ".join(mounts))
        resolved = [
            f"""SELECT f.* REPLACE (CASE WHEN f.activity = 'FileCreated' AND EXISTS (
                    SELECT 1 FROM _mounts m WHERE m.device = f.device
                    AND upper(m.drive) = upper(left(f.target, 2))
                    AND m."time" <= f."time" AND m."time" > f."time" - INTERVAL 24 HOUR)
                THEN 'FileCopiedToRemovableMedia' ELSE f.activity END AS activity,
                f.removable_media OR EXISTS (
                    SELECT 1 FROM _mounts m WHERE m.device = f.device
                    AND upper(m.drive) = upper(left(f.target, 2))
                    AND m."time" <= f."time" AND m."time" > f."time" - INTERVAL 24 HOUR)
                AS removable_media)
            FROM ({p}) f"""
            for p in file_parts
        ]
        return " UNION ALL ".join(resolved + event_parts)

    return run_import(
        store,
        source="defender",
        path=path,
        files=files,
        select_sql=select,
        force=force,
        progress=progress,
    )


def _file_events(rel: str, cols: set[str]) -> str:
    folder = _col(cols, "FolderPath")
    name = _col(cols, "FileName")
    archive = " OR ".join(f"ends_with(lower({name}), '{a}')" for a in ARCHIVES)
    return f"""
    SELECT {parse_time('"Timestamp"')} AS "time", {_user(cols)} AS "user",
        coalesce({_col(cols, "DeviceName")}, {_col(cols, "DeviceId")}) AS device,
        CASE "ActionType"
            WHEN 'FileCreated' THEN CASE
                WHEN starts_with({folder}, '\\\\') THEN 'FileCopiedToNetworkShare'
                WHEN {archive} THEN 'FileArchived' ELSE 'FileCreated' END
            WHEN 'FileModified' THEN 'FileModified'
            WHEN 'FileRenamed' THEN 'FileRenamed'
            WHEN 'FileDeleted' THEN 'FileDeleted' END AS activity,
        coalesce({_col(cols, "PreviousFileName")}, {name}) AS object,
        {folder} AS target,
        TRY_CAST({_col(cols, "FileSize")} AS BIGINT) AS bytes,
        0 AS attachments,
        lower(regexp_extract({_col(cols, "FileOriginUrl")}, '://([^/:]+)', 1)) AS
            destination_domain,
        false AS removable_media,
        CASE WHEN starts_with({folder}, '\\\\') THEN NULL END::BOOLEAN AS external,
        nullif({_col(cols, "SensitivityLabel")}, '') AS sensitivity,
        NULL::VARCHAR AS url_category,
        {_col(cols, "ReportId")} AS record_id,
        "ActionType" AS _op,
        concat_ws(',', "Timestamp", {_col(cols, "DeviceName")}, "ActionType", {folder}) AS _raw,
        NULL::VARCHAR AS _bad
    FROM {rel}"""


def _device_events(rel: str, cols: set[str]) -> str:
    extra = _col(cols, "AdditionalFields")
    drive = f"CASE WHEN json_valid({extra}) THEN json_extract_string({extra}, '$.DriveLetter') END"
    product = (
        f"CASE WHEN json_valid({extra}) THEN json_extract_string({extra}, '$.ProductName') END"
    )
    return f"""
    SELECT {parse_time('"Timestamp"')} AS "time", {_user(cols)} AS "user",
        coalesce({_col(cols, "DeviceName")}, {_col(cols, "DeviceId")}) AS device,
        CASE "ActionType"
            WHEN 'UsbDriveMount' THEN 'RemovableMediaMounted'
            WHEN 'UsbDriveUnmount' THEN 'RemovableMediaUnmounted'
            WHEN 'AntivirusDetection' THEN 'MalwareDetected'
            WHEN 'TamperingAttempt' THEN 'SecurityToolTampered' END AS activity,
        CASE WHEN "ActionType" LIKE 'UsbDrive%' THEN {drive}
             ELSE {_col(cols, "FileName")} END AS object,
        CASE WHEN "ActionType" LIKE 'UsbDrive%' THEN {product}
             ELSE {_col(cols, "FolderPath")} END AS target,
        NULL::BIGINT AS bytes, 0 AS attachments, NULL::VARCHAR AS destination_domain,
        "ActionType" LIKE 'UsbDrive%' AS removable_media, NULL::BOOLEAN AS external,
        NULL::VARCHAR AS sensitivity, NULL::VARCHAR AS url_category,
        {_col(cols, "ReportId")} AS record_id,
        "ActionType" AS _op,
        concat_ws(',', "Timestamp", {_col(cols, "DeviceName")}, "ActionType", {extra}) AS _raw,
        NULL::VARCHAR AS _bad
    FROM {rel}"""
