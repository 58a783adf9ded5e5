"""Stream a CERT release into a slim working copy before the risk engine imports it.

``http.csv`` is about 14 GB in r4.2 and almost all of it is the ``content`` column and visits to
sites no indicator looks at. One streaming DuckDB pass per file reads each line whole (so CRLF
and LF lines both split cleanly and ragged lines cannot derail the parser), drops ``content``,
keeps only the web visits that an indicator can use (a categorised site, or an upload in r5.2),
and hands Arrow batches to a CSV writer: memory holds one batch, never the file. The same pass
counts the quirks met (dates without zero padding, short lines). LDAP snapshots are copied with
line endings unified. The risk engine's CERT importer then reads the slim copy.
"""

# ruff: noqa: S608 - SQL is built from constants and sql_literal'd paths only

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from hrsignal.errors import InputFileError
from hrsignal.evaluation.notes import Notes
from hrsignal.risk.events import url_category_sql
from hrsignal.risk.store import sql_literal

TABLES = ("logon", "device", "file", "email", "http")
#: the columns of each file when a release ships it without a header line.
DEFAULT_HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    "r4.2": {
        "logon": ("id", "date", "user", "pc", "activity"),
        "device": ("id", "date", "user", "pc", "activity"),
        "file": ("id", "date", "user", "pc", "filename", "content"),
        "email": (
            "id",
            "date",
            "user",
            "pc",
            "to",
            "cc",
            "bcc",
            "from",
            "size",
            "attachments",
            "content",
        ),
        "http": ("id", "date", "user", "pc", "url", "content"),
    },
    "r5.2": {
        "logon": ("id", "date", "user", "pc", "activity"),
        "device": ("id", "date", "user", "pc", "file_tree", "activity"),
        "file": (
            "id",
            "date",
            "user",
            "pc",
            "filename",
            "activity",
            "to_removable_media",
            "from_removable_media",
            "content",
        ),
        "email": (
            "id",
            "date",
            "user",
            "pc",
            "to",
            "cc",
            "bcc",
            "from",
            "activity",
            "size",
            "attachments",
            "content",
        ),
        "http": ("id", "date", "user", "pc", "url", "content"),
    },
}
#: columns never kept: large free text no indicator reads.
DROPPED = {"content", "file_tree"}
_PADDED = r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}"
_DOMAIN = "lower(regexp_extract({u}, '^(?:[a-z]+://)?(?:www\\.)?([^/:]+)', 1))"
_SAMPLE = 32 << 20  # bytes read at each end of a file to look for mixed line endings

Progress = Callable[[str], None]


@dataclass(slots=True)
class Prepared:
    """The slim copy: its folder, rows read and kept per file."""

    path: Path
    read: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)


def prepare_release(
    source: Path,
    dest: Path,
    *,
    release: str,
    notes: Notes,
    progress: Progress | None = None,
    memory_limit: str = "1GB",
) -> Prepared:
    """Write the slim copy of the release in ``source`` into ``dest``; note quirks met."""
    if not source.is_dir():
        raise InputFileError(f"{source}: not a folder", hint="pass the extracted release folder")
    missing = [t for t in TABLES if not (source / f"{t}.csv").is_file()]
    if missing:
        raise InputFileError(
            f"{source}: missing {', '.join(m + '.csv' for m in missing)}",
            hint="pass the folder of the extracted release (logon.csv, ..., LDAP/, answers/)",
        )
    dest.mkdir(parents=True, exist_ok=True)
    prepared = Prepared(path=dest)
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
        con.execute("SET preserve_insertion_order = false")
        for table in TABLES:
            if progress:
                progress(f"reading {table}.csv")
            _prepare_table(
                con, source / f"{table}.csv", dest, table, release, notes, prepared, progress
            )
    except duckdb.Error as exc:
        raise InputFileError(f"{source}: cannot be read as a CERT release ({exc})") from None
    finally:
        con.close()
    _copy_ldap(source / "LDAP", dest / "LDAP", notes)
    return prepared


def _header(path: Path, table: str, release: str, notes: Notes) -> tuple[list[str], bool]:
    """The file's column names, and whether its first line is a header."""
    with path.open("rb") as stream:
        first = stream.readline().decode("utf-8", "replace").rstrip("\r\n")
    names = [c.strip().lower() for c in first.split(",")]
    if "id" in names and "date" in names:
        return names, True
    notes.add("no_header", path.name, f"no header line; using the {release} columns")
    return list(DEFAULT_HEADERS[release][table]), False


def _line_endings(path: Path, notes: Notes) -> None:
    """Note a file that mixes CRLF and LF (looked for in its first and last 32 MiB)."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        parts = [stream.read(_SAMPLE)]
        if size > 2 * _SAMPLE:
            stream.seek(size - _SAMPLE)
            parts.append(stream.read())
    crlf = sum(p.count(b"\r\n") for p in parts)
    lf = sum(p.count(b"\n") for p in parts) - crlf
    if crlf and lf:
        notes.add(
            "mixed_line_endings",
            path.name,
            f"{crlf:,} CRLF and {lf:,} LF line endings (sampled); both read as line breaks",
        )


def _prepare_table(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    dest: Path,
    table: str,
    release: str,
    notes: Notes,
    prepared: Prepared,
    progress: Progress | None = None,
) -> None:
    names, has_header = _header(path, table, release, notes)
    _line_endings(path, notes)
    keep = [(i + 1, n) for i, n in enumerate(names) if n not in DROPPED]
    fields = ", ".join(f"split_part(line, ',', {i}) AS {_ident(n)}" for i, n in keep)
    lines = (
        f"read_csv({sql_literal(str(path))}, columns = {{'line': 'VARCHAR'}}, delim = '\x01', "
        f"quote = '', escape = '', header = false, auto_detect = false, strict_mode = false, "
        f"skip = {1 if has_header else 0}, max_line_size = 16777216)"
    )
    # A line is short when it lacks the fields before the last kept one.
    need = max(i for i, _ in keep) - 1
    keep_row = "true"
    if table == "http":
        url = _DOMAIN.format(u=f"split_part(line, ',', {names.index('url') + 1})")
        keep_row = f"({url_category_sql(url)}) IS NOT NULL"
        if "activity" in names:
            act = f"split_part(line, ',', {names.index('activity') + 1})"
            keep_row = f"({keep_row} OR {act} IN ('WWW Upload', 'WWW Download'))"
    query = f"""
        SELECT {fields}, {keep_row} AS _keep,
            NOT regexp_full_match(split_part(line, ',', 2), '{_PADDED}') AS _unpadded,
            (length(line) - length(replace(line, ',', ''))) < {need} AS _short,
            strlen(line) + 1 AS _bytes
        FROM (SELECT line FROM {lines} WHERE line IS NOT NULL AND line <> '')"""
    reader = con.sql(query).to_arrow_reader(1 << 17)
    out_names = [n for _, n in keep]
    options = pacsv.WriteOptions(include_header=True)
    read = kept = unpadded = short = done = 0
    size, shown = max(1, path.stat().st_size), 0
    schema = pa.schema([(n, pa.string()) for n in out_names])
    with pacsv.CSVWriter(str(dest / f"{table}.csv"), schema, write_options=options) as writer:
        for batch in reader:
            read += batch.num_rows
            unpadded += int(pc.sum(batch.column("_unpadded")).as_py() or 0)
            short += int(pc.sum(batch.column("_short")).as_py() or 0)
            mask = batch.column("_keep")
            slim = pa.Table.from_batches([batch]).select(out_names).filter(mask)
            kept += slim.num_rows
            if slim.num_rows:
                writer.write_table(slim.cast(schema))
            done += int(pc.sum(batch.column("_bytes")).as_py() or 0)
            percent = min(99, 100 * done // size)
            if progress and percent >= shown + 5:  # batches arrive out of order: approximate
                shown = percent
                progress(f"reading {path.name}: {percent}% of {size / 2**30:.2f} GiB")
    prepared.read[table], prepared.kept[table] = read, kept
    if unpadded:
        notes.add(
            "mixed_date_padding",
            path.name,
            f"{unpadded:,} of {read:,} dates not zero-padded (e.g. 1/4/2010 8:03:00); "
            "parsed the same as padded ones",
        )
    if short:
        notes.add(
            "short_lines",
            path.name,
            f"{short:,} lines with fewer fields than the header; the importer rejects them",
        )
    if table == "http" and kept < read:
        notes.add(
            "filtered_early",
            path.name,
            f"kept {kept:,} of {read:,} web visits (categorised sites only; content dropped)",
        )


def _copy_ldap(source: Path, dest: Path, notes: Notes) -> None:
    if not source.is_dir() or not any(source.glob("*.csv")):
        raise InputFileError(
            f"{source}: no LDAP snapshots",
            hint="the release folder must contain LDAP/YYYY-MM.csv files",
        )
    dest.mkdir(parents=True, exist_ok=True)
    crlf_files = 0
    for snap in sorted(source.glob("*.csv")):
        data = snap.read_bytes()
        if b"\r\n" in data:
            crlf_files += 1
            data = data.replace(b"\r\n", b"\n")
        (dest / snap.name).write_bytes(data)
    if crlf_files:
        notes.add("crlf_line_endings", "LDAP/", f"{crlf_files} snapshot(s) with CRLF; unified")


def remove(path: Path) -> None:
    """Delete a working copy (ignoring what is already gone)."""
    shutil.rmtree(path, ignore_errors=True)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
