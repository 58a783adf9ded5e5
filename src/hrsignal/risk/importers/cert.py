"""The CERT Insider Threat Test Dataset layout (CMU SEI, releases r4.2 and r5.2): ``logon.csv``,
``device.csv``, ``file.csv``, ``email.csv``, ``http.csv`` and monthly ``LDAP/YYYY-MM.csv``
snapshots, read from a folder the user downloaded. Its licence forbids redistribution: hrsignal
ships no CERT data; its tests use small hand-written files in the same layout.

Users are the dataset's ids (``ACM2278``) mapped to their LDAP e-mail address, so HR triggers
keyed by UPN match; the LDAP snapshots also fill the directory (department, supervisor) used for
peer comparison. Dates are ``MM/DD/YYYY HH:MM:SS``. In r4.2 every ``file.csv`` row is a copy to
removable media; r5.2 adds ``activity`` and ``to_removable_media`` columns, used when present.

Some of the released files end lines with CRLF in places and a bare LF in others, which DuckDB's
CSV reader refuses (its sniffer, or its strict parser further on). Such a file is read from a
temporary copy with LF line ends in ``DATA_DIR/tmp`` (deleted after the import); relaxing the
reader instead (``strict_mode = false``) would silently cut off the extra fields of a line
that has too many, where the strict reader reports the line.
"""

# ruff: noqa: S608 - this module generates SQL; every value goes through sql_literal/quote_ident

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb

from hrsignal.errors import InputFileError
from hrsignal.risk.events import ImportReport, url_category_sql
from hrsignal.risk.importers.common import Progress, csv_source, run_import
from hrsignal.risk.store import RiskStore, sql_literal

TABLES = ("logon", "device", "file", "email", "http")
_CHUNK = 1 << 22
_TIME = "try_strptime({x}, '%m/%d/%Y %H:%M:%S')"


def import_cert(
    store: RiskStore, path: Path, *, force: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Import a CERT-layout folder (any subset of the five activity files, plus LDAP/)."""
    if not path.is_dir():
        raise InputFileError(
            f"{path}: the CERT source reads a folder (logon.csv, device.csv, ... LDAP/)",
            hint="pass the folder of the extracted release, e.g. r4.2/",
        )
    present = {t: path / f"{t}.csv" for t in TABLES if (path / f"{t}.csv").is_file()}
    ldap = sorted((path / "LDAP").glob("*.csv")) if (path / "LDAP").is_dir() else []
    if not present:
        raise InputFileError(
            f"{path}: none of {', '.join(t + '.csv' for t in TABLES)} found",
            hint="point at the folder that holds the CERT release's CSV files",
        )

    copies: list[Path] = []

    def readable(file: Path) -> Path:
        """The file, or a copy with LF line ends when it mixes CRLF and LF (see module doc)."""
        if not mixed_line_ends(file):
            return file
        if progress:
            progress(f"{file.name}: mixed CRLF/LF line ends; reading a copy with LF line ends")
        copy = store.data_dir / "tmp" / f"cert-{uuid.uuid4().hex[:8]}-{file.name}"
        copies.append(copy)
        write_lf_copy(file, copy)
        return copy

    def select(con: duckdb.DuckDBPyConnection) -> str:
        _load_ldap(con, store, [readable(p) for p in ldap])
        parts = []
        for n, (table, original) in enumerate(present.items()):
            file = readable(original)
            rel = csv_source(file, rejects="csv_rejects" if n == 0 else f"csv_rejects{n}")
            cols = {
                str(r[0]).lower() for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
            }
            if table in ("email", "http"):
                # fetchall: a result left half-read blocks the import's streaming query
                rows = con.execute("SELECT domain FROM _org").fetchall()
                org = str(rows[0][0]) if rows and rows[0][0] else "dtaa.com"
                parts.append((_email if table == "email" else _http)(rel, cols, org))
            else:
                parts.append(_TABLE_SQL[table](rel, cols))
        return " UNION ALL ".join(parts)

    try:
        return run_import(
            store,
            source="cert",
            path=path,
            files=list(present.values()) + ldap,
            select_sql=select,
            force=force,
            progress=progress,
        )
    finally:
        for copy in copies:
            copy.unlink(missing_ok=True)


def mixed_line_ends(path: Path) -> bool:
    """True when ``path`` ends some lines with CRLF and others with a bare LF.

    Reads until both kinds are seen (so a mixed file is usually recognised early); a file with
    one kind throughout is read to its end.
    """
    crlf = lf = False
    carry = b""
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            data, carry = _split_cr(carry + chunk)
            pairs = data.count(b"\r\n")
            crlf = crlf or pairs > 0
            lf = lf or data.count(b"\n") > pairs
            if crlf and lf:
                return True
    return False


def write_lf_copy(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` with every CRLF turned into LF (the line count is kept, so
    rejected lines keep their numbers)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    carry = b""
    with source.open("rb") as stream, dest.open("wb") as out:
        while chunk := stream.read(_CHUNK):
            data, carry = _split_cr(carry + chunk)
            out.write(data.replace(b"\r\n", b"\n"))
        out.write(carry)


def _split_cr(data: bytes) -> tuple[bytes, bytes]:
    """Hold back a final CR: its LF may be the first byte of the next read."""
    return (data[:-1], b"\r") if data.endswith(b"\r") else (data, b"")


def _load_ldap(con: duckdb.DuckDBPyConnection, store: RiskStore, ldap: list[Path]) -> None:
    """user id -> e-mail, and the directory (latest snapshot wins); org domain for 'external'."""
    if not ldap:
        con.execute("CREATE OR REPLACE TEMP TABLE _ids (user_id VARCHAR, email VARCHAR)")
        con.execute("CREATE OR REPLACE TEMP TABLE _org AS SELECT 'dtaa.com' AS domain")
        return
    files = "[" + ", ".join(sql_literal(str(p)) for p in ldap) + "]"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ldap AS
        SELECT *, regexp_extract(filename, '(\\d{{4}}-\\d{{2}})', 1) AS snapshot
        FROM read_csv({files}, header = true, all_varchar = true, filename = true,
                      union_by_name = true)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _ids AS
        SELECT user_id, arg_max(lower(email), snapshot) AS email FROM _ldap GROUP BY user_id"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _org AS
        SELECT mode(split_part(email, '@', 2)) AS domain FROM _ids"""
    )
    con.execute(
        """INSERT OR REPLACE INTO directory
        SELECT lower(arg_max(email, snapshot)), arg_max(employee_name, snapshot),
               arg_max(department, snapshot),
               arg_max(supervisor, snapshot), arg_max(role, snapshot)
        FROM _ldap GROUP BY user_id"""
    )


def _user(alias: str = "c") -> str:
    return f'coalesce(_ids.email, lower({alias}."user"))'


def _common(
    activity: str,
    rel: str,
    *,
    obj: str = "NULL",
    target: str = "NULL",
    bytes_: str = "NULL",
    attachments: str = "0",
    domain: str = "NULL",
    removable: str = "false",
    external: str = "NULL",
    category: str = "NULL",
    op: str = "NULL",
    bad: str = "NULL",
) -> str:
    return f"""
    SELECT {_TIME.format(x="c.date")} AS "time", {_user()} AS "user", c.pc AS device,
        {activity} AS activity, {obj}::VARCHAR AS object, {target}::VARCHAR AS target,
        TRY_CAST({bytes_} AS BIGINT) AS bytes, ({attachments})::INTEGER AS attachments,
        {domain}::VARCHAR AS destination_domain, {removable}::BOOLEAN AS removable_media,
        {external}::BOOLEAN AS external, NULL::VARCHAR AS sensitivity,
        {category}::VARCHAR AS url_category, c.id AS record_id, {op}::VARCHAR AS _op,
        concat_ws(',', c.id, c.date, c."user", c.pc) AS _raw, {bad}::VARCHAR AS _bad
    FROM {rel} c LEFT JOIN _ids ON _ids.user_id = c."user"
    """


def _logon(rel: str, cols: set[str]) -> str:
    return _common(
        "CASE c.activity WHEN 'Logon' THEN 'Logon' WHEN 'Logoff' THEN 'Logoff' END",
        rel,
        op="c.activity",
    )


def _device(rel: str, cols: set[str]) -> str:
    return _common(
        "CASE c.activity WHEN 'Connect' THEN 'RemovableMediaMounted' "
        "WHEN 'Disconnect' THEN 'RemovableMediaUnmounted' END",
        rel,
        removable="true",
        op="c.activity",
    )


def _file(rel: str, cols: set[str]) -> str:
    if "activity" not in cols:  # r4.2: every row is a copy to removable media
        return _common(
            "'FileCopiedToRemovableMedia'", rel, obj="c.filename", removable="true", op="'file'"
        )
    to_usb = "lower(coalesce(c.to_removable_media, 'false')) = 'true'"
    activity = f"""CASE
        WHEN c.activity IN ('File Copy', 'File Write') AND {to_usb}
            THEN 'FileCopiedToRemovableMedia'
        WHEN c.activity = 'File Copy' THEN 'FileCreated'
        WHEN c.activity = 'File Write' THEN 'FileModified'
        WHEN c.activity = 'File Open' THEN 'FileAccessed'
        WHEN c.activity = 'File Delete' THEN 'FileDeleted' END"""
    return _common(activity, rel, obj="c.filename", removable=to_usb, op="c.activity")


def _email(rel: str, cols: set[str], org: str) -> str:
    recipients = "concat_ws(';', c.\"to\", c.cc, c.bcc)"
    # The organisation's domain is the commonest one in LDAP (DuckDB lambdas cannot hold a
    # subquery, so it is read once here).
    external = (
        f"len(list_filter(string_split({recipients}, ';'), "
        f"lambda r: r <> '' AND NOT ends_with(lower(r), '@' || {sql_literal(org)}))) > 0"
    )
    # r4.2 counts attachments; r5.2 lists them separated by ';'.
    attachments = (
        "coalesce(TRY_CAST(c.attachments AS INTEGER), "
        "CASE WHEN coalesce(c.attachments, '') = '' THEN 0 "
        "ELSE len(string_split(c.attachments, ';')) END)"
    )
    activity = (
        "CASE WHEN c.activity IS NULL OR c.activity = 'Send' THEN 'EmailSent' END"
        if "activity" in cols
        else "'EmailSent'"
    )
    return _common(
        activity,
        rel,
        obj="CASE WHEN TRY_CAST(c.attachments AS INTEGER) IS NULL THEN c.attachments END",
        target=recipients,
        bytes_="c.size",
        attachments=attachments,
        external=external,
        op="c.activity" if "activity" in cols else "'email'",
    )


def _http(rel: str, cols: set[str], org: str) -> str:
    domain = "lower(regexp_extract(c.url, '^(?:[a-z]+://)?(?:www\\.)?([^/:]+)', 1))"
    category = url_category_sql(domain)
    activity = "'WebVisit'"
    if "activity" in cols:  # r5.2: WWW Visit / WWW Download / WWW Upload
        activity = (
            "CASE c.activity WHEN 'WWW Upload' THEN 'FileUploadedToCloud' "
            "WHEN 'WWW Visit' THEN 'WebVisit' WHEN 'WWW Download' THEN 'WebVisit' END"
        )
    return _common(
        activity,
        rel,
        obj="c.url",
        domain=domain,
        category=category,
        external=f"NOT ({domain} = {sql_literal(org)} OR ends_with({domain}, "
        f"{sql_literal('.' + org)}))",
        op="c.activity" if "activity" in cols else "'http'",
    )


_TABLE_SQL = {"logon": _logon, "device": _device, "file": _file}
