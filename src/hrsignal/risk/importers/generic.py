"""Any activity file (CSV, JSON lines, JSON, Parquet) with a mapping file that names, for each
event field, the source column, and translates the source's activity values.

Example mapping (YAML)::

    format: csv                 # csv | jsonl | json | parquet (default: from the extension)
    fields:                     # event field -> source column ("a.b" for a nested JSON key)
      time: timestamp
      user: actor
      activity: action
      object: file
      bytes: size
    time_format: "%Y-%m-%d %H:%M:%S"   # optional; default: ISO 8601 and US M/D/Y forms
    user_domain: contoso.com    # optional: bare account names become name@contoso.com
    activities:                 # source value -> hrsignal activity (vocabulary names pass through)
      usb_write: FileCopiedToRemovableMedia

A mistake in the mapping is a :class:`~hrsignal.errors.ConfigError` naming the file, the key
and what to write instead.
"""

# ruff: noqa: S608 - this module generates SQL; every value goes through sql_literal/quote_ident

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from hrsignal.errors import ConfigError, InputFileError
from hrsignal.risk.events import ACTIVITIES, EVENT_COLUMNS, ImportReport, url_category_sql
from hrsignal.risk.importers.common import Progress, csv_source, files_in, parse_time, run_import
from hrsignal.risk.store import RiskStore, quote_ident, sql_literal

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
}


@dataclass(slots=True)
class ActivityMapping:
    """A validated generic mapping."""

    fields: dict[str, str]
    activities: dict[str, str] = field(default_factory=dict)
    format: str | None = None
    delimiter: str | None = None
    time_format: str | None = None
    user_domain: str | None = None


def load_activity_mapping(path: Path) -> ActivityMapping:
    """Read and validate a mapping file; errors name the file and the key."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the mapping ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return mapping_from_dict(doc, name=str(path))


def mapping_from_dict(doc: Any, *, name: str = "mapping") -> ActivityMapping:
    """Validate a mapping document (already parsed)."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{name}: expected a mapping with a 'fields' key")
    known = {"format", "delimiter", "fields", "time_format", "user_domain", "activities"}
    for key in doc:
        if key not in known:
            raise ConfigError(f"{name}: {key}: unknown key; expected one of {sorted(known)}")
    fields = doc.get("fields")
    if not isinstance(fields, dict):
        raise ConfigError(f"{name}: fields: missing; map at least time, user and activity")
    for key, value in fields.items():
        if key not in EVENT_COLUMNS:
            raise ConfigError(
                f"{name}: fields.{key}: not an event field; expected one of "
                f"{', '.join(EVENT_COLUMNS)}"
            )
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name}: fields.{key}: expected a source column name")
    for required in ("time", "user", "activity"):
        if required not in fields:
            raise ConfigError(f"{name}: fields.{required}: missing; it is required")
    activities = doc.get("activities") or {}
    if not isinstance(activities, dict):
        raise ConfigError(f"{name}: activities: expected source value -> activity")
    for key, value in activities.items():
        if value not in ACTIVITIES:
            raise ConfigError(
                f"{name}: activities.{key}: {value!r} is not an activity; expected one of "
                f"{', '.join(ACTIVITIES)}"
            )
    fmt = doc.get("format")
    if fmt is not None and fmt not in set(FORMATS.values()):
        raise ConfigError(f"{name}: format: {fmt!r}; expected csv, jsonl, json or parquet")
    return ActivityMapping(
        fields={str(k): str(v) for k, v in fields.items()},
        activities={str(k): str(v) for k, v in activities.items()},
        format=fmt,
        delimiter=doc.get("delimiter"),
        time_format=doc.get("time_format"),
        user_domain=doc.get("user_domain"),
    )


def import_generic(
    store: RiskStore,
    path: Path,
    *,
    mapping: ActivityMapping,
    force: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import CSV / JSON lines / JSON / Parquet activity through ``mapping``."""
    files = files_in(path, tuple(FORMATS) + tuple(f + ".gz" for f in FORMATS if f != ".parquet"))

    def select(con: duckdb.DuckDBPyConnection) -> str:
        return " UNION ALL ".join(_select(con, file, mapping, n) for n, file in enumerate(files))

    return run_import(
        store,
        source="generic",
        path=path,
        files=files,
        select_sql=select,
        force=force,
        progress=progress,
    )


def _relation(file: Path, mapping: ActivityMapping, n: int) -> str:
    name = file.name.lower().removesuffix(".gz")
    fmt = mapping.format or FORMATS.get(Path(name).suffix)
    lit = sql_literal(str(file))
    if fmt == "csv":
        rel = csv_source(file, rejects="csv_rejects" if n == 0 else f"csv_rejects{n}")
        if mapping.delimiter:
            rel = rel[:-1] + f", delim = {sql_literal(mapping.delimiter)})"
        return rel
    if fmt == "jsonl":
        return f"read_json({lit}, format = 'newline_delimited', union_by_name = true)"
    if fmt == "json":
        return f"read_json({lit}, format = 'auto', union_by_name = true)"
    if fmt == "parquet":
        return f"read_parquet({lit}, union_by_name = true)"
    raise InputFileError(f"{file}: unknown format; set 'format' in the mapping")


def _select(con: duckdb.DuckDBPyConnection, file: Path, mapping: ActivityMapping, n: int) -> str:
    rel = _relation(file, mapping, n)
    types = {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
    exprs: dict[str, str] = {}
    for event_field, column in mapping.fields.items():
        head = column.split(".")[0]
        if head not in types:
            raise ConfigError(
                f"mapping fields.{event_field}: column {column!r} is not in {file.name}; "
                f"its columns are {', '.join(types)}"
            )
        exprs[event_field] = ".".join(quote_ident(p) for p in column.split("."))
    time_col = exprs["time"]
    if types.get(mapping.fields["time"], "").startswith("TIMESTAMP"):
        time_sql = f"{time_col}::TIMESTAMP"
    elif mapping.time_format:
        time_sql = f"try_strptime({time_col}::VARCHAR, {sql_literal(mapping.time_format)})"
    else:
        time_sql = parse_time(f"{time_col}::VARCHAR")
    user = f"lower(trim({exprs['user']}::VARCHAR))"
    if mapping.user_domain:
        user = (
            f"CASE WHEN contains({user}, '@') THEN {user} "
            f"ELSE {user} || '@' || {sql_literal(mapping.user_domain.lower())} END"
        )
    raw_activity = f"{exprs['activity']}::VARCHAR"
    arms = " ".join(
        f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in mapping.activities.items()
    )
    vocabulary = ", ".join(sql_literal(a) for a in ACTIVITIES)
    # Translated values first; a value already in the vocabulary passes through.
    passthrough = f"CASE WHEN {raw_activity} IN ({vocabulary}) THEN {raw_activity} END"
    activity = f"CASE {raw_activity} {arms} ELSE {passthrough} END" if arms else passthrough
    out: list[str] = []
    for event_field, kind in EVENT_COLUMNS.items():
        if event_field == "time":
            out.append(f'{time_sql} AS "time"')
        elif event_field == "user":
            out.append(f"nullif({user}, '') AS \"user\"")
        elif event_field == "activity":
            out.append(f"{activity} AS activity")
        elif event_field == "url_category" and "url_category" not in exprs:
            domain = exprs.get("destination_domain")
            out.append(
                f"{url_category_sql(f'lower({domain}::VARCHAR)')} AS url_category"
                if domain
                else "NULL::VARCHAR AS url_category"
            )
        elif event_field in exprs:
            out.append(f"TRY_CAST({exprs[event_field]} AS {kind}) AS {quote_ident(event_field)}")
        elif event_field == "attachments":
            out.append("0 AS attachments")
        else:
            out.append(f"NULL::{kind} AS {quote_ident(event_field)}")
    out.append(f"{raw_activity} AS _op")
    out.append(
        f"concat_ws(',', {time_col}::VARCHAR, {exprs['user']}::VARCHAR, {raw_activity}) AS _raw"
    )
    out.append("NULL::VARCHAR AS _bad")
    return f"SELECT {', '.join(out)} FROM {rel}"
