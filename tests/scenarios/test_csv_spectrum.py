"""The csv-spectrum edge cases (vendored in tests/fixtures/csv-spectrum) read to their values.

Every ``csvs/NAME.csv`` must read, through each of hrsignal's two readers and through the
public streaming API, to exactly the records of ``json/NAME.json``: quoted commas, escaped
quotes, empty quoted fields, line breaks (LF and CRLF) inside quoted fields, CRLF records, a
missing final line break, and non-ASCII text. The physical line where each record starts is
derived from the expected values (one line per record plus the line breaks inside its values),
so a multi-line field makes record and line numbers differ exactly as they should.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

from hrsignal.scenarios import ValidationOptions, open_validation
from hrsignal.scenarios import source as src

SPECTRUM = Path(__file__).resolve().parents[1] / "fixtures" / "csv-spectrum"
CASES = sorted(p.stem for p in (SPECTRUM / "csvs").glob("*.csv"))
OPTIONS = ValidationOptions(date_window=None)


@dataclass
class Read:
    """Records as dicts keyed by the header, with their record and start-line numbers."""

    rows: list[dict[str, str]]
    records: list[int]
    lines: list[int]
    fell_back: bool = False


def expected(name: str) -> list[dict[str, str]]:
    """The expected records of a case, as upstream's JSON file states them."""
    return json.loads((SPECTRUM / "json" / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def expected_lines(rows: list[dict[str, str]], first: int = 2) -> list[int]:
    """Start line of each record: one line each, plus the line breaks inside its values."""
    lines, line = [], first
    for row in rows:
        lines.append(line)
        text = "".join(row.values())
        line += 1 + text.count("\n") + text.count("\r") - text.count("\r\n")
    return lines


def _collect(header: list[str], batches: list[src.RawBatch], into: Read) -> None:
    for batch in batches:
        assert not batch.findings, batch.findings
        assert not batch.structural.any()
        columns = [col.to_pylist() for col in batch.columns]
        into.rows += [dict(zip(header, cells, strict=True)) for cells in zip(*columns, strict=True)]
        into.records += batch.records.tolist()
        into.lines += batch.lines.tolist()


def read_fast(stream: BinaryIO) -> Read:
    """Drive the fast reader as the validator does, handing over to the exact reader on
    :class:`FallbackNeeded` after the last record the fast reader delivered."""
    enc = src.sniff_encoding(stream.read(4096), None)
    assert isinstance(enc, src.Encoding) and enc.is_utf8
    header = src.read_header_bytes(stream, enc.bom, ",")
    assert header is not None
    counters = src.ReadCounters(next_line=header.lines + 1)
    out = Read([], [], [])
    delivered: list[src.RawBatch] = []
    try:
        for batch in src.fast_batches(stream, header, ",", counters):
            delivered.append(batch)
    except src.FallbackNeeded:
        out.fell_back = True
    _collect(header.names, delivered, out)
    if out.fell_back:
        rest = src.exact_batches(stream, enc, len(header.names), ",", counters.delivered)
        _collect(header.names, list(rest), out)
    return out


def read_exact(stream: BinaryIO) -> Read:
    """Drive the exact reader alone (the path for non-UTF-8 files and odd rows)."""
    enc = src.sniff_encoding(stream.read(4096), None)
    assert isinstance(enc, src.Encoding)
    header = src.read_header_text(stream, enc, ",")
    assert header is not None
    out = Read([], [], [])
    _collect(header.names, list(src.exact_batches(stream, enc, len(header.names), ",", 0)), out)
    return out


@pytest.mark.parametrize("name", CASES)
def test_fast_reader_gives_expected_records(name: str) -> None:
    """The fast (Arrow) reader, with its hand-over to the exact reader if it asks for one,
    gives exactly the expected records, numbered 1..n, starting on the expected lines."""
    want = expected(name)
    with (SPECTRUM / "csvs" / f"{name}.csv").open("rb") as stream:
        got = read_fast(stream)
    assert got.rows == want
    assert got.records == list(range(1, len(want) + 1))
    assert got.lines == expected_lines(want)


@pytest.mark.parametrize("name", CASES)
def test_exact_reader_gives_expected_records(name: str) -> None:
    """The exact (csv module) reader alone gives exactly the expected records and lines."""
    want = expected(name)
    with (SPECTRUM / "csvs" / f"{name}.csv").open("rb") as stream:
        got = read_exact(stream)
    assert got.rows == want
    assert got.records == list(range(1, len(want) + 1))
    assert got.lines == expected_lines(want)


def test_every_case_is_vendored_with_its_expected_values() -> None:
    """Each csv has its json, the set is the whole 2.0.0 release, and CRLF files keep CRLF
    (git must not have normalised them: the CRLF cases would then test nothing)."""
    assert sorted(p.stem for p in (SPECTRUM / "json").glob("*.json")) == CASES
    assert len(CASES) == 12
    for name in CASES:
        data = (SPECTRUM / "csvs" / f"{name}.csv").read_bytes()
        bare_lf = data.count(b"\n") - data.count(b"\r\n")
        if name.endswith("_crlf"):
            assert data.count(b"\r\n") >= 2 and bare_lf == 0, name
        else:
            assert b"\r" not in data, name


@pytest.mark.parametrize("name", CASES)
def test_raw_table_of_the_streaming_api(name: str) -> None:
    """``open_validation`` hands every column of the file through ``batch.raw`` unchanged,
    with the records' line numbers, even when the header is no HR scenario's: the file is
    then rejected for its missing columns and no record is valid."""
    want = expected(name)
    with open_validation(
        SPECTRUM / "csvs" / f"{name}.csv", scenario="resignations", options=OPTIONS
    ) as run:
        batches = list(run)
    assert run.header == list(want[0])
    assert [row for b in batches for row in b.raw.to_pylist()] == want
    assert [line for b in batches for line in b.lines.tolist()] == expected_lines(want)
    assert not any(b.valid.any() for b in batches)
    assert run.report.file_rejected
    assert run.report.records == len(want) and run.report.valid_records == 0
    assert {f.code for f in run.report.errors} == {"missing-column"}


@pytest.mark.parametrize("name", CASES)
def test_unknown_header_without_scenario_is_one_clear_file_finding(name: str) -> None:
    """With ``scenario=None`` a header that names no HR scenario yields no batches and one
    file-level error asking for --scenario or --mapping (nothing is guessed)."""
    with open_validation(SPECTRUM / "csvs" / f"{name}.csv", scenario=None, options=OPTIONS) as run:
        batches = list(run)
    assert batches == []
    assert run.report.file_rejected
    [finding] = run.report.errors
    assert finding.code == "missing-column" and finding.record is None
    assert "--scenario" in finding.message and "--mapping" in finding.message


@pytest.mark.parametrize(
    ("label", "encode"),
    [
        ("utf-8-bom", lambda t: codecs.BOM_UTF8 + t.encode("utf-8")),
        ("utf-16-le-bom", lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le")),
        ("utf-16-be-bom", lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be")),
    ],
)
@pytest.mark.parametrize("name", CASES)
def test_cases_in_other_encodings_read_the_same(
    name: str, label: str, encode: Callable[[str], bytes]
) -> None:
    """Re-encoded as Excel writes them (UTF-8 with BOM, UTF-16 LE/BE with BOM), the cases read
    to the same values and lines through the streaming API (the BOM is not part of the header)."""
    want = expected(name)
    text = (SPECTRUM / "csvs" / f"{name}.csv").read_bytes().decode("utf-8")
    data = encode(text)
    with open_validation(io.BytesIO(data), scenario="resignations", options=OPTIONS) as run:
        batches = list(run)
    assert run.header == list(want[0]), label
    assert [row for b in batches for row in b.raw.to_pylist()] == want
    assert [line for b in batches for line in b.lines.tolist()] == expected_lines(want)


def test_cr_only_line_endings_read_like_lf() -> None:
    """A UTF-8 file whose records end in a bare CR (classic Mac, some exports) reads the same
    records as the LF version, as the UTF-16 path and both readers' line counting already do:
    losing every record with only a 'no records' warning would be silent data loss."""
    name = "simple"
    want = expected(name)
    lf = (SPECTRUM / "csvs" / f"{name}.csv").read_bytes()
    cr = lf.replace(b"\n", b"\r")
    with open_validation(io.BytesIO(cr), scenario="resignations", options=OPTIONS) as run:
        rows = [row for b in run for row in b.raw.to_pylist()]
    assert rows == want


def _to_cr(text: str) -> str:
    return text.replace("\r\n", "\r").replace("\n", "\r")


@pytest.mark.parametrize("reader", [read_fast, read_exact], ids=["fast", "exact"])
@pytest.mark.parametrize("name", CASES)
def test_cases_with_cr_only_line_endings(name: str, reader: Callable[[BinaryIO], Read]) -> None:
    """Every case rewritten with bare CR line breaks (records and quoted values alike) reads,
    through either reader, to the expected values with their breaks as CR, on the same lines:
    the header ends at its first CR outside quotes instead of swallowing the file."""
    want = [{k: _to_cr(v) for k, v in row.items()} for row in expected(name)]
    data = (SPECTRUM / "csvs" / f"{name}.csv").read_bytes()
    got = reader(io.BytesIO(data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")))
    assert got.rows == want
    assert got.records == list(range(1, len(want) + 1))
    assert got.lines == expected_lines(want)


@pytest.mark.parametrize(
    ("data", "names", "lines", "end"),
    [
        (b"a,b\rx,y\r", ["a", "b"], 1, 4),
        (b"a,b\r\nx,y\r\n", ["a", "b"], 1, 5),
        (b"a,b\nx,y\n", ["a", "b"], 1, 4),
        (b'"a\rb",c\rx,y\r', ["a\rb", "c"], 2, 8),
        (b'"a\r\nb","c""\nd"\nx,y\n', ["a\r\nb", 'c"\nd'], 3, 15),
        (b"a,b", ["a", "b"], 1, 3),
        # the CR is the last byte of the first 64 KiB read, its LF the first of the next
        (b"a" * 65535 + b"\r\nx\r\n", ["a" * 65535], 1, 65537),
    ],
    ids=["cr", "crlf", "lf", "cr-in-quotes", "breaks-and-doubled-quotes", "no-break", "crlf-split"],
)
def test_header_ends_at_the_first_line_break_outside_quotes(
    data: bytes, names: list[str], lines: int, end: int
) -> None:
    """The header record ends after its first CR, LF or CRLF outside quotes; breaks inside a
    quoted name count as lines, and the data starts right after the header's line break."""
    header = src.read_header_bytes(io.BytesIO(data), 0, ",")
    assert header is not None
    assert (header.names, header.lines, header.end_offset) == (names, lines, end)
