"""Cell and record checks, vectorised over Arrow arrays.

Every check computes a boolean mask over a batch with Arrow compute kernels (RE2 regular
expressions, lengths, casts), so the cost per record is a few machine instructions, not a
Python call. Python code runs only for the records a mask selects, to build their findings.

One defect gives exactly one finding: once a cell has an error, later checks skip it, and a
rule between two cells (ResignationDate not after LastWorkingDate) runs only when both parsed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hrsignal.scenarios.findings import Code, Finding, Severity
from hrsignal.scenarios.isodate import ParsedDates, parse_iso
from hrsignal.scenarios.schema import FieldSpec, Scenario

#: A user principal name as Microsoft Entra ID accepts it: the prefix uses A-Z a-z 0-9 and
#: ' . - _ ! # ^ ~, does not start or end with a period; the domain is a DNS name.
UPN = (
    r"^[A-Za-z0-9'_!#^~-]([A-Za-z0-9'._!#^~-]{0,62}[A-Za-z0-9'_!#^~-])?"
    r"@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)

#: First characters a spreadsheet may execute as a formula (OWASP "CSV injection").
FORMULA = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?\d+([.,]\d+)?$"

_UTC = pa.timestamp("us", tz="UTC")


@dataclass(slots=True)
class CheckContext:
    """What the checks of one batch need besides the cells."""

    records: np.ndarray
    lines: np.ndarray
    invalid: np.ndarray  # bool, updated in place: True once a record has an error
    findings: list[Finding]
    window: tuple[dt.datetime, dt.datetime, Severity] | None
    add_finding: Callable[[Finding], None]


def _mask(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array (nulls = False) as numpy."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def report(
    ctx: CheckContext,
    rows: np.ndarray,
    code: Code,
    severity: Severity,
    column: str,
    values: pa.Array | None,
    message: Callable[[str], str],
) -> None:
    """Add one finding per selected row (``rows``: a boolean mask)."""
    idx = np.flatnonzero(rows)
    if idx.size == 0:
        return
    if severity is Severity.ERROR:
        ctx.invalid[idx] = True
    picked = values.take(pa.array(idx)).to_pylist() if values is not None else [None] * idx.size
    for i, value in zip(idx.tolist(), picked, strict=True):
        ctx.add_finding(
            Finding(
                code=code,
                severity=severity,
                message=message(value if value is not None else ""),
                record=int(ctx.records[i]),
                line=int(ctx.lines[i]),
                column=column,
                value=None if value is None else str(value)[:200],
            )
        )


#: What :func:`shape_of` found: parsed dates (for a date field) and which values have the shape.
Shape = tuple[ParsedDates | None, np.ndarray]


def shape_of(spec: FieldSpec, values: pa.Array) -> Shape:
    """The shape check of a UPN or date column for every non-empty value, whatever the routing.

    The costly part of :func:`check_field` (RE2 or Arrow's cast, both off the GIL), so the
    validator can run it for one column on another core while it checks the next.
    """
    return _shape(spec, values, _present(values))


def check_field(
    ctx: CheckContext,
    spec: FieldSpec,
    column: str,
    values: pa.Array,
    routed: np.ndarray,
    shape: Shape | None = None,
) -> pa.Array:
    """Check one mapped column for the routed rows; return its canonical values.

    Canonical values: trimmed strings for UPNs, UTC timestamps for dates, text as written.
    Rows with an error (or not routed here) get null. ``shape``: :func:`shape_of` for these
    values, if already computed.
    """
    label = _label(spec, column)
    present = _present(values)
    shaped = np.zeros(len(values), dtype=bool)
    parsed: ParsedDates | None = None
    if spec.type in ("upn", "datetime"):
        parsed, shaped = shape if shape is not None else _shape(spec, values, routed & present)
        if (routed & present & ~shaped).any():
            # Surrounding spaces are an export artefact, not part of a UPN or a date: trim
            # them (only when some value needs it, to keep the common path to one pass).
            values = pc.utf8_trim_whitespace(values)
            present = _present(values)
            parsed, shaped = _shape(spec, values, routed & present)
    elif (routed & present).any():
        present &= _mask(pc.match_substring_regex(values, r"\S"))
    todo = routed & present
    if spec.required:
        report(
            ctx,
            routed & ~present,
            Code.MISSING_VALUE,
            Severity.ERROR,
            column,
            None,
            lambda _v: f"{label} is required but the cell is empty",
        )
    if spec.type == "upn":
        return _check_upn(ctx, spec, column, values, todo, shaped)
    if parsed is not None:
        return _check_datetime(ctx, spec, column, values, todo, parsed)
    return _check_text(ctx, spec, column, values, todo)


def _byte_lengths(values: pa.Array) -> np.ndarray:
    """The length in bytes of every value, from the Arrow offsets (no copy of the values)."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)
    return np.diff(offsets[values.offset : values.offset + len(values) + 1])


def _present(values: pa.Array) -> np.ndarray:
    return np.asarray(_byte_lengths(values) > 0)


def _shape(
    spec: FieldSpec, values: pa.Array, rows: np.ndarray
) -> tuple[ParsedDates | None, np.ndarray]:
    """Which values have the field's shape (and, for dates, their parsed instants)."""
    if spec.type == "datetime":
        parsed = parse_iso(values, rows)
        return parsed, parsed.ok
    return None, _mask(pc.match_substring_regex(values, UPN))


def _label(spec: FieldSpec, column: str) -> str:
    """The column as the user named it, with the field it maps to when that differs."""
    return column if column == spec.name else f"{column} ({spec.name})"


def _null_unless(values: pa.Array, keep: np.ndarray) -> pa.Array:
    if keep.all():
        return values  # the common case: no copy
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def _too_long(
    ctx: CheckContext, spec: FieldSpec, column: str, values: pa.Array, todo: np.ndarray
) -> np.ndarray:
    label = _label(spec, column)
    if spec.max_length is None:
        return np.zeros(len(values), dtype=bool)
    long = todo & (_byte_lengths(values) > spec.max_length)
    if long.any():  # bytes >= characters: confirm in characters for the few candidates
        long &= _mask(pc.greater(pc.utf8_length(values), spec.max_length))
    report(
        ctx,
        long,
        Code.TOO_LONG,
        Severity.ERROR,
        column,
        values,
        lambda v: (
            f"{label} is {len(v)} characters long; the limit is {spec.max_length}. Shorten it"
        ),
    )
    return np.asarray(long, dtype=bool)


def _check_upn(
    ctx: CheckContext,
    spec: FieldSpec,
    column: str,
    values: pa.Array,
    todo: np.ndarray,
    shaped: np.ndarray,
) -> pa.Array:
    long = _too_long(ctx, spec, column, values, todo)
    bad = todo & ~long & ~shaped
    report(ctx, bad, Code.INVALID_UPN, Severity.ERROR, column, values, _upn_message)
    return _null_unless(values, todo & ~bad & ~long)


def _upn_message(value: str) -> str:
    if "@" not in value:
        hint = "it has no @domain; use the user's UPN, e.g. sara.davis@contoso.com"
    elif " " in value:
        hint = "it contains a space"
    elif any(ord(c) > 127 for c in value):
        hint = "Entra ID UPNs allow only ASCII letters, digits and ' . - _ ! # ^ ~ before the @"
    else:
        hint = "expected the user principal name, e.g. sara.davis@contoso.com"
    return f"{value!r} is not a valid user principal name: {hint}"


def _check_text(
    ctx: CheckContext, spec: FieldSpec, column: str, values: pa.Array, todo: np.ndarray
) -> pa.Array:
    label = _label(spec, column)
    long = _too_long(ctx, spec, column, values, todo)
    formula = todo & ~long & _mask(pc.match_substring_regex(values, FORMULA))
    if formula.any():
        formula &= ~_mask(pc.match_substring_regex(values, _NUMBER))
        report(
            ctx,
            formula,
            Code.FORMULA,
            Severity.WARNING,
            column,
            values,
            lambda v: (
                f"{label} starts with {v[:1]!r}: a spreadsheet that opens this "
                "file may run it as a formula; prefix it with an apostrophe or remove the sign"
            ),
        )
    return _null_unless(values, todo & ~long)


def _check_datetime(
    ctx: CheckContext,
    spec: FieldSpec,
    column: str,
    values: pa.Array,
    todo: np.ndarray,
    parsed: ParsedDates,
) -> pa.Array:
    label = _label(spec, column)
    bad = todo & ~parsed.ok
    report(
        ctx,
        bad,
        Code.INVALID_DATE,
        Severity.ERROR,
        column,
        values,
        lambda v: (
            f"{v!r} is not an ISO 8601 date-time; expected e.g. "
            "2026-02-27T17:00:00Z or 2026-02-27T17:00:00.0000000+05:30"
        ),
    )
    good = todo & ~bad
    micros = parsed.micros
    outside = np.zeros(len(values), dtype=bool)
    if spec.window and ctx.window is not None:
        lo, hi, severity = ctx.window
        outside = good & ((micros < _epoch_us(lo)) | (micros > _epoch_us(hi)))
        report(
            ctx,
            outside,
            Code.DATE_OUT_OF_WINDOW,
            severity,
            column,
            values,
            lambda v: (
                f"{label} {v} is outside the accepted window "
                f"{lo:%Y-%m-%d} to {hi:%Y-%m-%d}; check the "
                "year, or relax the window with --date-window"
            ),
        )
        if severity is Severity.ERROR:
            good &= ~outside
    clean = good & ~outside  # one finding per cell: no warnings after another finding
    report(
        ctx,
        clean & ~parsed.has_time,
        Code.DATE_ONLY,
        Severity.WARNING,
        column,
        values,
        lambda v: (
            f"{label} {v} has no time; 00:00:00 UTC is assumed. Microsoft "
            "documents yyyy-mm-ddThh:mm:ss with an offset"
        ),
    )
    naive = clean & parsed.has_time & ~parsed.has_offset
    report(
        ctx,
        naive,
        Code.DATE_WITHOUT_OFFSET,
        Severity.WARNING,
        column,
        values,
        lambda v: (
            f"{label} {v} has no time zone; UTC is assumed. Add Z or an offset such as +05:30"
        ),
    )
    if good.all():  # no nulls: the micros become the timestamps without a copy
        micros = np.ascontiguousarray(micros, dtype=np.int64)
        return pa.Array.from_buffers(_UTC, len(micros), [None, pa.py_buffer(micros)])
    return pa.array(micros, type=pa.int64(), mask=~good).cast(_UTC)


def _epoch_us(moment: dt.datetime) -> int:
    return int((moment - _EPOCH) / dt.timedelta(microseconds=1))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def check_rules(
    ctx: CheckContext,
    scenario: Scenario,
    canonical: dict[str, pa.Array],
    columns: dict[str, str],
    raw: dict[str, pa.Array],
    routed: np.ndarray,
) -> None:
    """Rules between fields: ``not_after`` (e.g. ResignationDate not after LastWorkingDate)."""
    for first, second in scenario.not_after:
        if first not in canonical or second not in canonical:
            continue
        a, b = canonical[first], canonical[second]
        later = routed & ~ctx.invalid & _mask(pc.greater(a, b))
        message = (
            f"{first} is after {second}; the resignation date is when notice was "
            "given, so it cannot follow the last working date. Swap or correct them"
        )
        report(
            ctx,
            later,
            Code.DATE_ORDER,
            Severity.ERROR,
            columns[first],
            raw[first],
            _constant(message),
        )


def _constant(message: str) -> Callable[[str], str]:
    """A message builder that ignores the value."""
    return lambda _value: message
