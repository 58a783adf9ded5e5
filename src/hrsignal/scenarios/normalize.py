"""``hrsignal normalize``: a clean copy of the valid records, and a rejects file.

The clean file is UTF-8 (no BOM), comma-separated, with the canonical column names of the
scenario (``HRScenario`` first for a file with several scenarios) and every date-time in ISO
8601 UTC (``2026-11-15T17:00:00.000000Z``). Exact duplicate records are written once. The
rejects file keeps the original columns of every rejected record, plus ``_record``, ``_line``
and ``_errors`` (each finding's code, column and message) so HR can fix and re-export them.

Both files are written to temporary names and renamed only when the pass completes, so a
failure never leaves half a file; a file rejected as a whole writes neither.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from hrsignal.errors import InputFileError
from hrsignal.scenarios.findings import Code, Finding
from hrsignal.scenarios.mapping import FileMapping
from hrsignal.scenarios.schema import MULTI, catalogue, get_scenario
from hrsignal.scenarios.validator import ValidationOptions, ValidationReport, open_validation

_ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(slots=True)
class NormalizeResult:
    """What ``normalize`` wrote."""

    report: ValidationReport
    output: Path | None
    rejects: Path | None
    written: int
    rejected: int
    duplicates_dropped: int


def normalize_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    rejects: str | os.PathLike[str] | None = None,
    scenario: str | None = None,
    mapping: FileMapping | None = None,
    options: ValidationOptions | None = None,
) -> NormalizeResult:
    """Validate ``source`` and write its valid records to ``output`` (and rejects beside it)."""
    options = options or ValidationOptions()
    out_path = Path(output)
    rej_path = Path(rejects) if rejects else out_path.with_name(out_path.stem + ".rejects.csv")
    # Pass 1: the full validation (duplicates are only known at the end of a pass).
    with open_validation(source, scenario=scenario, mapping=mapping, options=options) as run:
        for _ in run:
            pass
        report = run.report
        duplicates = run.duplicate_records
    if report.file_rejected:
        return NormalizeResult(report, None, None, 0, report.records, 0)
    written = rejected = 0
    with (
        _atomic(out_path) as out_stream,
        _atomic(rej_path) as rej_stream,
        open_validation(source, scenario=scenario, mapping=mapping, options=options) as run2,
    ):
        writer: pcsv.CSVWriter | None = None
        rej_writer: pcsv.CSVWriter | None = None
        for batch in run2:
            keep = batch.valid & ~np.isin(batch.records, duplicates)
            if writer is None:
                table = _clean(batch.canonical.slice(0, 0), report.scenario)
                writer = pcsv.CSVWriter(out_stream.stream, table.schema, write_options=_OPTIONS)
            if keep.any():
                clean = _clean(batch.canonical.filter(pa.array(keep)), report.scenario)
                writer.write_table(clean)
                written += int(keep.sum())
            bad = ~batch.valid
            if bad.any():
                table = _rejects(batch.raw, batch.records, batch.lines, bad, batch.findings)
                if rej_writer is None:
                    rej_writer = pcsv.CSVWriter(
                        rej_stream.stream, table.schema, write_options=_OPTIONS
                    )
                rej_writer.write_table(table)
                rejected += int(bad.sum())
        if writer is None:  # header only
            names = _clean_names(report)
            out_stream.write((",".join(names) + "\n").encode())
        else:
            writer.close()
        if rej_writer is not None:
            rej_writer.close()
        if rejected == 0:
            rej_stream.discard = True
    return NormalizeResult(
        report,
        out_path,
        rej_path if rejected else None,
        written,
        rejected,
        len(duplicates),
    )


_OPTIONS = pcsv.WriteOptions(quoting_style="needed", include_header=True)


def _clean_names(report: ValidationReport) -> list[str]:
    mapping = report.mapping
    if mapping is None:
        return []
    names: list[str] = []
    for name in mapping.scenarios:
        for f in get_scenario(name).fields:
            if f.name not in names:
                names.append(f.name)
    return (["HRScenario"] if report.scenario == MULTI else []) + names


def _clean(canonical: pa.Table, scenario: str) -> pa.Table:
    """Canonical columns with dates as ISO 8601 UTC strings; HRScenario for multi files."""
    columns: dict[str, pa.Array] = {}
    if scenario == MULTI:
        titles = {name: get_scenario(name).identifier_values[0] for name in _names()}
        keys = pa.array(list(titles), pa.string())
        values = pa.array(list(titles.values()), pa.string())
        idx = pc.index_in(canonical.column("scenario"), value_set=keys)
        columns["HRScenario"] = pc.take(values, idx)
    for name in canonical.column_names:
        if name == "scenario":
            continue
        col = canonical.column(name)
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col, format=_ISO_UTC)
        columns[name] = col
    return pa.table(columns)


def _names() -> list[str]:
    return list(catalogue().scenarios)


def _rejects(
    raw: pa.Table,
    records: np.ndarray,
    lines: np.ndarray,
    bad: np.ndarray,
    findings: list[Finding],
) -> pa.Table:
    messages: dict[int, list[str]] = defaultdict(list)
    for f in findings:
        if f.record is not None and f.is_error:
            where = f" [{f.column}]" if f.column else ""
            messages[f.record].append(f"{f.code}{where}: {f.message}")
    mask = pa.array(bad)
    picked = raw.filter(mask)
    recs = records[bad]
    errors = ["; ".join(messages.get(int(r), [str(Code.MISSING_COLUMN)])) for r in recs]
    return (
        picked.append_column("_record", pa.array(recs))
        .append_column("_line", pa.array(lines[bad]))
        .append_column("_errors", pa.array(errors, pa.string()))
    )


class _AtomicFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.discard = False
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except FileNotFoundError:
            raise InputFileError(f"{path.parent}: no such directory for the output") from None
        except PermissionError:
            raise InputFileError(f"{path.parent}: permission denied for the output") from None
        self.tmp = Path(tmp)
        self.stream: BinaryIO = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> int:
        return self.stream.write(data)

    def finish(self, ok: bool) -> None:
        self.stream.flush()
        if ok and not self.discard:
            os.fsync(self.stream.fileno())
            self.stream.close()
            os.replace(self.tmp, self.path)
        else:
            self.stream.close()
            self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[_AtomicFile]:
    handle = _AtomicFile(path)
    ok = False
    try:
        yield handle
        ok = True
    finally:
        handle.finish(ok)
