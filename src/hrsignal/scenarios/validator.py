"""The streaming validator: one core shared by ``validate``, ``normalize``, the uploader and the
server, so a local dry run predicts exactly what the server saves.

:func:`open_validation` returns a :class:`ValidationRun`; iterating it yields
:class:`ValidatedBatch` objects in file order (raw cells, canonical values, validity, findings)
and, once exhausted, ``run.report`` holds the :class:`ValidationReport`. Memory stays bounded by
the batch size whatever the file size (duplicate detection keeps 8 bytes per record).

A file-level problem found late (bytes that are not UTF-8 in the middle of the file) rejects the
whole file: batches delivered before it were provisionally valid, so consumers that commit
(the server, ``normalize``) check ``run.report.file_rejected`` before committing.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hrsignal.errors import InputFileError, UsageError
from hrsignal.scenarios import source as src
from hrsignal.scenarios.checks import (
    CheckContext,
    Shape,
    check_field,
    check_rules,
    report,
    shape_of,
)
from hrsignal.scenarios.dedupe import DuplicateTracker
from hrsignal.scenarios.findings import Code, Finding, Severity, error, warning
from hrsignal.scenarios.mapping import (
    FileMapping,
    ResolvedMapping,
    propose_mapping,
    resolve_mapping,
)
from hrsignal.scenarios.schema import MULTI, canonical_fields, catalogue, fold, get_scenario

_UTC = pa.timestamp("us", tz="UTC")
_IN_FLIGHT = 2  # batches checked at once (the machine this was tuned on has 2 cores)


@dataclass(frozen=True, slots=True)
class DateWindow:
    """The accepted LastWorkingDate range around the clock (default: -6 months, +1 year)."""

    past_days: int = 183
    future_days: int = 365
    severity: Severity = Severity.ERROR

    @classmethod
    def parse(cls, text: str) -> DateWindow | None:
        """Parse ``--date-window``: ``off``, ``PAST:FUTURE`` days, optionally ``:warning``."""
        if text.strip().lower() in ("off", "none", "no"):
            return None
        parts = text.split(":")
        try:
            past, future = int(parts[0]), int(parts[1])
            severity = Severity(parts[2]) if len(parts) > 2 else Severity.ERROR
        except (IndexError, ValueError):
            raise UsageError(
                f"--date-window {text!r}: expected PAST:FUTURE days (e.g. 183:365), "
                "optionally :warning, or 'off'"
            ) from None
        return cls(past, future, severity)


#: More header columns than this refuse the file (every scenario has fewer than 20 fields).
MAX_COLUMNS = 1000


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """How to read and check a file. Built at the edge (CLI, server settings)."""

    now: dt.datetime | None = None
    delimiter: str = ","
    encoding: str | None = None
    max_findings: int = 1000
    date_window: DateWindow | None = field(default_factory=DateWindow)
    batch_size: int = 65536

    def clock(self) -> dt.datetime:
        """The reference time of the date window, as an aware UTC datetime."""
        now = self.now or dt.datetime.now(dt.UTC)
        return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


@dataclass(slots=True)
class ValidatedBatch:
    """Records of one batch: raw cells, canonical values, validity and findings."""

    records: np.ndarray
    lines: np.ndarray
    valid: np.ndarray
    raw: pa.Table
    canonical: pa.Table
    findings: list[Finding]

    def __len__(self) -> int:
        return len(self.records)


@dataclass(slots=True)
class ValidationReport:
    """The outcome of validating one file."""

    file: str
    scenario: str
    records: int = 0
    valid_records: int = 0
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    error_count: int = 0
    warning_count: int = 0
    file_rejected: bool = False
    truncated: bool = False
    encoding: str | None = None
    mapping: FileMapping | None = None

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return self.error_count == 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``hrsignal validate --format json``."""
        return {
            "file": self.file,
            "scenario": self.scenario,
            "records": self.records,
            "valid_records": self.valid_records,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "counts": dict(sorted(self.counts.items())),
            "file_rejected": self.file_rejected,
            "truncated": self.truncated,
            "encoding": self.encoding,
        }


def detect_scenario(header: list[str]) -> str | None:
    """Guess the scenario from a header; None when it is ambiguous."""
    folded = {fold(h) for h in header}
    cat = catalogue()
    if any(fold(a) in folded for a in cat.identifier_aliases):
        return MULTI
    best: list[tuple[int, str]] = []
    for name, spec in cat.scenarios.items():
        found = [f for f in spec.fields if any(fold(n) in folded for n in (f.name, *f.aliases))]
        if all(f in found for f in spec.required):
            best.append((len(found), name))
    best.sort(reverse=True)
    if not best or (len(best) > 1 and best[0][0] == best[1][0]):
        return None
    return best[0][1]


class ValidationRun:
    """One pass over one file; iterate for batches, then read :attr:`report`."""

    def __init__(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        scenario: str | None,
        mapping: FileMapping | None,
        options: ValidationOptions,
        name: str | None = None,
    ) -> None:
        self.options = options
        self._owns_stream = not hasattr(source, "read")
        if self._owns_stream:
            path = Path(os.fspath(source))  # type: ignore[arg-type]
            self.name = name or str(path)
            self._stream = _open(path)
        else:
            self._stream = source  # type: ignore[assignment]
            self.name = name or str(getattr(source, "name", "<stream>"))
        try:
            self.delimiter = src.parse_delimiter(options.delimiter)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if scenario is not None and scenario != MULTI:
            get_scenario(scenario)  # unknown name -> UsageError
        self._scenario = scenario
        self._given_mapping = mapping
        self.header: list[str] = []
        self.mapping: FileMapping | None = mapping
        self.report = ValidationReport(file=self.name, scenario=scenario or "unknown")
        self._resolved: ResolvedMapping | None = None
        self._dupes = DuplicateTracker()
        # two batches are checked at once; the UPN regular expression (RE2, off the GIL) runs
        # beside the rest of a batch's checks
        self._checkers = ThreadPoolExecutor(_IN_FLIGHT, thread_name_prefix="hrsignal-check")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hrsignal-regex")
        self._started = False
        self._undecodable = False
        #: records that repeat an earlier record exactly (known once iteration ends)
        self.duplicate_records = np.zeros(0, dtype=np.int64)

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> ValidationRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file if this run opened it."""
        self._checkers.shutdown(wait=True)
        self._pool.shutdown(wait=True)
        if self._owns_stream:
            self._stream.close()

    # -- findings --------------------------------------------------------------------------
    def _add(self, finding: Finding) -> None:
        rep = self.report
        if self._undecodable and finding.value and "\ufffd" in finding.value:
            return  # already explained by the one encoding finding

        rep.counts[str(finding.code)] += 1
        if finding.is_error:
            rep.error_count += 1
            target = rep.errors
        else:
            rep.warning_count += 1
            target = rep.warnings
        if len(rep.errors) + len(rep.warnings) < self.options.max_findings:
            target.append(finding)
        else:
            rep.truncated = True

    def _reject_file(self, finding: Finding) -> None:
        self._add(finding)
        self.report.file_rejected = True

    # -- the pass ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[ValidatedBatch]:
        if self._started:
            raise RuntimeError("a ValidationRun can be iterated once")
        self._started = True
        yield from self._run()
        self._finish()

    def _run(self) -> Iterator[ValidatedBatch]:
        stream = self._stream
        stream.seek(0)
        head = stream.read(4096)
        if not head:
            self._reject_file(
                error(
                    Code.EMPTY_FILE,
                    "the file is empty (0 bytes); export the HR data again with a header row",
                )
            )
            return
        enc = src.sniff_encoding(head, self.options.encoding)
        if isinstance(enc, Finding):
            self._reject_file(enc)
            return
        self.report.encoding = enc.label
        if enc.is_utf8:
            header = src.read_header_bytes(stream, enc.bom, self.delimiter)
        else:
            header = src.read_header_text(stream, enc, self.delimiter)
        if header is None:
            self._reject_file(
                error(
                    Code.EMPTY_FILE,
                    "the file has no header row (it is blank); "
                    "export the HR data again with a header row",
                )
            )
            return
        self.header = header.names
        if len(header.names) > MAX_COLUMNS:
            # Reading rows of a million columns takes gigabytes: refuse at the header.
            self._reject_file(
                error(
                    Code.TOO_MANY_COLUMNS,
                    f"the header has {len(header.names):,} columns; an HR file has at most "
                    f"{MAX_COLUMNS:,} (is this the right file, and the right --delimiter?)",
                    line=1,
                )
            )
            return
        bad_delim = src.wrong_delimiter(header.names, self.delimiter)
        if bad_delim is not None:
            self._reject_file(bad_delim)
            return
        resolved = self._resolve(header.names)
        if resolved is None:
            return
        self._resolved = resolved
        counters = src.ReadCounters(next_line=header.lines + 1)
        raw_batches: Iterator[src.RawBatch]
        if enc.is_utf8:
            try:
                reader = src.fast_batches(stream, header, self.delimiter, counters)
                yield from self._check_all(src.prefetch(reader, prepare=self._hash))
                return
            except src.FallbackNeeded as why:
                if "UTF8" in str(why) or "UTF-8" in str(why):
                    self._reject_file(src.encoding_finding(stream, enc.bom))
                    self._undecodable = True
        raw_batches = src.exact_batches(
            stream,
            enc,
            len(header.names),
            self.delimiter,
            counters.delivered,
            self.options.batch_size,
        )
        yield from self._check_all(raw_batches)

    def _check_all(self, raws: Iterator[src.RawBatch]) -> Iterator[ValidatedBatch]:
        """Check batches two at a time on the checker threads, committing them in file order.

        The checks of a batch have no effect outside it (:meth:`_check`); their findings,
        counts and hashes reach the report in order (:meth:`_commit`), so the findings kept
        under ``max_findings`` are the same as one batch at a time. An exception from the
        reader (the hand-over to the exact reader) comes after the batches read before it.
        """
        pending: deque[Future[tuple[ValidatedBatch, np.ndarray]]] = deque()
        try:
            for raw in raws:
                pending.append(self._checkers.submit(self._check, raw))
                if len(pending) >= _IN_FLIGHT:
                    yield self._commit(*pending.popleft().result())
        except src.FallbackNeeded:
            while pending:
                yield self._commit(*pending.popleft().result())
            raise
        while pending:
            yield self._commit(*pending.popleft().result())

    def _commit(self, batch: ValidatedBatch, hashes: np.ndarray) -> ValidatedBatch:
        """Add a checked batch's findings, counts and record hashes to the run."""
        for finding in batch.findings:
            self._add(finding)
        self._dupes.add(hashes, batch.records, batch.valid)
        self.report.records += len(batch)
        self.report.valid_records += int(batch.valid.sum())
        return batch

    def _resolve(self, header: list[str]) -> ResolvedMapping | None:
        mapping = self._given_mapping
        scenario = self._scenario
        if mapping is None:
            if scenario is None:
                scenario = detect_scenario(header)
                if scenario is None:
                    self._reject_file(
                        error(
                            Code.MISSING_COLUMN,
                            "cannot tell which HR scenario this file holds from its header ("
                            + ", ".join(header[:12])
                            + "); pass --scenario NAME (one of "
                            + ", ".join([*catalogue().scenarios, MULTI])
                            + ") or --mapping FILE",
                            line=1,
                        )
                    )
                    return None
            mapping = propose_mapping(header, scenario)
        self.mapping = mapping
        if scenario is None:
            scenario = MULTI if mapping.is_multi else next(iter(mapping.scenarios))
        self.report.scenario = scenario
        self.report.mapping = mapping
        resolved = resolve_mapping(header, mapping)
        for finding in resolved.findings:
            self._add(finding)
        if scenario == MULTI and not mapping.scenarios:
            self._add(
                error(
                    Code.MISSING_COLUMN,
                    "no HR scenario's required columns are all "
                    "present; check the header against `hrsignal scenarios show NAME`",
                    line=1,
                )
            )
            resolved.reject_file = True
        if mapping.is_multi and resolved.identifier_index is None:
            resolved.reject_file = True
        if resolved.reject_file:
            self.report.file_rejected = True
        self._canonical_names = (
            canonical_fields(list(mapping.scenarios)) if mapping.scenarios else []
        )
        return resolved

    def _check(self, raw: src.RawBatch) -> tuple[ValidatedBatch, np.ndarray]:
        """Check one batch, and return it with its record hashes; touches nothing outside it
        (runs on a checker thread)."""
        resolved = self._resolved
        assert resolved is not None
        n = len(raw)
        batch_findings: list[Finding] = []
        if raw.hashes is None:
            self._hash(raw)
        shapes = self._shapes(raw)

        add = batch_findings.append
        for finding in raw.findings:
            add(finding)
        invalid = raw.structural.copy()
        ctx = CheckContext(raw.records, raw.lines, invalid, batch_findings, self._window(), add)
        header = resolved.header
        scenario_col = pa.nulls(n, pa.string())
        canonical: dict[str, pa.Array] = {}
        ok_rows = ~raw.structural
        routed_any = np.zeros(n, dtype=bool)
        ident_values: pa.Array | None = None
        if resolved.identifier_index is not None:
            ident_values = pc.utf8_lower(
                pc.utf8_trim_whitespace(raw.columns[resolved.identifier_index])
            )
        for scen in resolved.scenarios:
            spec = get_scenario(scen.name)
            if ident_values is not None:
                wanted = pa.array([v.strip().lower() for v in scen.values], pa.string())
                routed = ok_rows & np.asarray(
                    pc.is_in(ident_values, value_set=wanted).to_numpy(zero_copy_only=False),
                    dtype=bool,
                )
            else:
                routed = ok_rows.copy()
            routed_any |= routed
            if not routed.any():
                continue
            scenario_col = (
                _repeat(scen.name, n)
                if routed.all()
                else pc.if_else(pa.array(routed), pa.scalar(scen.name), scenario_col)
            )
            if scen.missing:
                invalid |= routed
                continue
            values: dict[str, pa.Array] = {}
            columns: dict[str, str] = {}
            for fname, idx in scen.columns.items():
                fspec = spec.field(fname)
                columns[fname] = header[idx]
                shape = shapes.get((idx, fspec.type))
                values[fname] = check_field(
                    ctx,
                    fspec,
                    header[idx],
                    raw.columns[idx],
                    routed,
                    shape.result() if isinstance(shape, Future) else shape,
                )
            raw_cells = {f: raw.columns[i] for f, i in scen.columns.items()}
            check_rules(ctx, spec, values, columns, raw_cells, routed)
            for fname, arr in values.items():
                prev = canonical.get(fname)
                if prev is None:
                    canonical[fname] = arr
                else:
                    canonical[fname] = pc.if_else(pa.array(routed), arr, prev)
        if ident_values is not None and resolved.identifier_index is not None:
            column = header[resolved.identifier_index]
            unknown = ok_rows & ~routed_any
            known = ", ".join(repr(v) for s in resolved.scenarios for v in s.values[:1])
            report(
                ctx,
                unknown,
                Code.UNKNOWN_SCENARIO_VALUE,
                Severity.ERROR,
                column,
                raw.columns[resolved.identifier_index],
                lambda v: (
                    f"{column} value {v!r} does not name a mapped scenario; use one of {known}"
                ),
            )
        if self.report.file_rejected:
            invalid[:] = True
        valid = ~invalid
        table = pa.table(
            {
                "scenario": scenario_col,
                **{
                    name: canonical.get(name, pa.nulls(n, _type_of(name)))
                    for name in self._canonical_names
                },
            }
        )
        raw_table = pa.Table.from_arrays(raw.columns, names=_unique_names(header))
        assert raw.hashes is not None
        batch = ValidatedBatch(raw.records, raw.lines, valid, raw_table, table, batch_findings)
        return batch, raw.hashes

    def _hash(self, raw: src.RawBatch) -> None:
        """Hash each record of a batch for duplicate detection (on the reader thread when the
        fast reader runs, while the batch's bytes are still in the cache)."""
        raw.hashes = self._dupes.hash(raw.columns)

    def _shapes(self, raw: src.RawBatch) -> dict[tuple[int, str], Future[Shape] | Shape]:
        """Start the shape checks of the batch's UPN columns on the pool and do its date
        columns here meanwhile: RE2 and Arrow's cast release the GIL, so they overlap."""
        resolved = self._resolved
        assert resolved is not None
        out: dict[tuple[int, str], Future[Shape] | Shape] = {}
        fields = [
            (idx, get_scenario(scen.name).field(fname))
            for scen in resolved.scenarios
            if not scen.missing
            for fname, idx in scen.columns.items()
        ]
        for idx, spec in fields:
            if spec.type == "upn" and (idx, "upn") not in out:
                out[idx, "upn"] = self._pool.submit(shape_of, spec, raw.columns[idx])
        for idx, spec in fields:
            if spec.type == "datetime" and (idx, "datetime") not in out:
                out[idx, "datetime"] = shape_of(spec, raw.columns[idx])
        return out

    def _window(self) -> tuple[dt.datetime, dt.datetime, Severity] | None:
        window = self.options.date_window
        if window is None:
            return None
        now = self.options.clock()
        return (
            now - dt.timedelta(days=window.past_days),
            now + dt.timedelta(days=window.future_days),
            window.severity,
        )

    def _finish(self) -> None:
        rep = self.report
        if self._resolved is not None and rep.records == 0 and not rep.file_rejected:
            self._add(
                warning(
                    Code.NO_RECORDS,
                    "the file has a header but no records: nothing "
                    "to upload (this is not an error)",
                )
            )
        for finding in self._dupes.findings():
            self._add(finding)
        self.duplicate_records = self._dupes.duplicate_records
        if rep.file_rejected:
            rep.valid_records = 0
        rep.errors.sort(key=_order)
        rep.warnings.sort(key=_order)


def _order(f: Finding) -> tuple[int, int]:
    return (f.record or 0, f.line or 0)


_REPEATS: dict[str, pa.Array] = {}


def _repeat(text: str, n: int) -> pa.Array:
    """``text`` n times, as a slice of one array kept per text (batches share its buffers)."""
    whole = _REPEATS.get(text)
    if whole is None or len(whole) < n:
        whole = pa.array([text] * max(n, 1 << 16), pa.string())
        _REPEATS[text] = whole
    return whole.slice(0, n)


def _type_of(name: str) -> pa.DataType:
    for spec in catalogue().scenarios.values():
        for f in spec.fields:
            if f.name == name:
                return _UTC if f.type == "datetime" else pa.string()
    return pa.string()


def _unique_names(header: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for name in header:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name}.{seen[name]}")
    return out


def _open(path: Path) -> BinaryIO:
    try:
        if path.is_dir():
            raise InputFileError(f"{path} is a directory, not a CSV file")
        return path.open("rb")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file; check the path") from None
    except PermissionError:
        raise InputFileError(f"{path}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror})") from None


def open_validation(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    scenario: str | None = None,
    mapping: FileMapping | None = None,
    options: ValidationOptions | None = None,
    name: str | None = None,
) -> ValidationRun:
    """Start a streaming validation of ``source`` (a path or a seekable binary stream)."""
    return ValidationRun(
        source,
        scenario=scenario,
        mapping=mapping,
        options=options or ValidationOptions(),
        name=name,
    )


def validate(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    scenario: str | None = None,
    mapping: FileMapping | None = None,
    options: ValidationOptions | None = None,
    name: str | None = None,
) -> ValidationReport:
    """Validate a whole file and return its report."""
    with open_validation(
        source, scenario=scenario, mapping=mapping, options=options, name=name
    ) as run:
        for _ in run:
            pass
        return run.report
