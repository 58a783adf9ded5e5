"""Encodings, dialects, quoting, and record versus line numbers."""

from __future__ import annotations

import codecs
import io

import pytest

from hrsignal.scenarios import ValidationOptions, open_validation
from tests.scenarios.factories import NOW, check, codes, csv_text

HEADER = ["EmailAddress", "ResignationDate", "LastWorkingDate", "Remarks"]
ROW = ["sara.davis@contoso.com", "2026-11-02T09:15:49Z", "2026-11-27T17:00:00Z", "fine"]


def _text(rows: list[list[str]], **kw: str) -> str:
    return csv_text(HEADER, rows, **kw)


def _mapping_report(data: bytes, **options: object):  # type: ignore[no-untyped-def]
    from hrsignal.scenarios import mapping_from_dict, validate

    mapping = mapping_from_dict(
        {
            "scenarios": {
                "resignations": {
                    "columns": {
                        "EmailAddress": "EmailAddress",
                        "ResignationDate": "ResignationDate",
                        "LastWorkingDate": "LastWorkingDate",
                    }
                }
            }
        }
    )
    return validate(
        io.BytesIO(data), mapping=mapping, options=ValidationOptions(now=NOW, **options)
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom"],
)
@pytest.mark.parametrize("newline", ["\r\n", "\n"], ids=["crlf", "lf"])
def test_encodings_and_line_endings(encoding: str, prefix: bytes, newline: str) -> None:
    """UTF-8 (with or without BOM) and UTF-16 LE/BE with BOM, CRLF or LF, read the same."""
    rows = [ROW, ["zoe.muller@contoso.com", ROW[1], ROW[2], "Zoë Müller, München"]]
    data = prefix + _text(rows, lineterminator=newline).encode(encoding)
    report = _mapping_report(data)
    assert codes(report) == [("unknown-column", None, "Remarks")]
    assert report.valid_records == 2


def test_other_encoding_is_named_with_the_option_to_use() -> None:
    """A Windows-1252 export is rejected with the line of the first bad byte and --encoding."""
    data = _text([ROW, ["jose@contoso.com", ROW[1], ROW[2], "José"]]).encode("cp1252")
    report = _mapping_report(data)
    assert report.file_rejected
    enc = [f for f in report.errors if f.code == "encoding"]
    assert len(enc) == 1 and enc[0].line == 3
    assert "--encoding cp1252" in enc[0].message
    fixed = _mapping_report(data, encoding="cp1252")
    assert fixed.ok and fixed.valid_records == 2


def test_utf16_without_bom_and_utf32_are_named() -> None:
    """UTF-16 without a byte-order mark, or UTF-32, get a message saying so."""
    no_bom = _mapping_report(_text([ROW]).encode("utf-16-le"))
    assert no_bom.file_rejected and "UTF-16 without a byte-order mark" in no_bom.errors[0].message
    utf32 = _mapping_report(_text([ROW]).encode("utf-32"))
    assert utf32.file_rejected and "UTF-32" in utf32.errors[0].message


@pytest.mark.parametrize(("delimiter", "option"), [("\t", "tab"), ("|", "pipe"), (";", ";")])
def test_other_delimiters_when_asked(delimiter: str, option: str) -> None:
    """Tab and pipe (and semicolon) files validate with --delimiter."""
    report = _mapping_report(_text([ROW], delimiter=delimiter).encode(), delimiter=option)
    assert report.valid_records == 1 and report.ok


@pytest.mark.parametrize(
    ("delimiter", "name", "hint"),
    [
        (";", "semicolon", "--delimiter ';'"),
        ("\t", "tab", "--delimiter tab"),
        ("|", "pipe", "--delimiter pipe"),
    ],
)
def test_wrong_delimiter_is_named(delimiter: str, name: str, hint: str) -> None:
    """A file split by another delimiter is named as such, with the option to use."""
    report = _mapping_report(_text([ROW], delimiter=delimiter).encode())
    assert report.file_rejected
    assert codes(report) == [("wrong-delimiter", None, None)]
    assert f"{name}-delimited" in report.errors[0].message and hint in report.errors[0].message


def test_quoted_fields_with_commas_quotes_and_newlines() -> None:
    """RFC 4180 quoting: commas, doubled quotes and line breaks inside quoted fields."""
    rows = [[*ROW[:3], 'one, "two"\r\nthree'], [*ROW[:3], "a\nb\nc"], ["bad", *ROW[1:]]]
    report = _mapping_report(_text(rows).encode())
    # record 3 starts on line 7: header 1, record 1 lines 2-3, record 2 lines 4-6
    assert codes(report) == [
        ("invalid-upn", 3, "EmailAddress"),
        ("unknown-column", None, "Remarks"),
    ]
    assert report.errors[0].line == 7


def test_record_and_line_numbers_agree_between_fast_and_exact_readers() -> None:
    """A blank line sends the file to the exact reader, which continues the numbering."""
    rows = [[*ROW[:3], "multi\nline"], ["x1", *ROW[1:]]]
    body = _text(rows)
    data = (body + "\r\n" + "x2," + ",".join(ROW[1:]) + "\r\n").encode()
    report = _mapping_report(data)
    found = [(f.record, f.line) for f in report.errors]
    # records: 1 at line 2 (2 lines), 2 at line 4, blank line 5, 3 at line 6
    assert found == [(2, 4), (3, 6)]


def test_large_file_crosses_batches_with_exact_numbers() -> None:
    """Numbers stay exact across Arrow blocks and the hand-over to the exact reader."""
    rows = [
        [f"u{i}@contoso.com", ROW[1], ROW[2], "l1\nl2" if i % 3 == 0 else "x"]
        for i in range(60_000)
    ]
    rows[59_000][0] = "broken"
    text = _text(rows)
    lines_before = text[: text.index("broken")].count("\n")
    report = _mapping_report(text.encode())
    bad = report.errors[0]
    assert (bad.code, bad.record, bad.line) == ("invalid-upn", 59_001, lines_before + 1)
    # the same file with a short row at the end goes through the exact reader for the tail
    report2 = _mapping_report((text + "short,row\r\n").encode())
    last_line = text.count("\n") + 1  # every line break (CRLF or LF) ends one line
    assert [(f.code, f.record, f.line) for f in report2.errors] == [
        ("invalid-upn", 59_001, lines_before + 1),
        ("field-count", 60_001, last_line),
    ]
    assert report2.records == 60_001


def test_unterminated_quote_is_reported() -> None:
    """A quote never closed swallows the rest of the file: reported at its record."""
    data = (
        _text([ROW])
        + 'b@contoso.com,2026-11-02T09:15:49Z,"2026-11-27T17:00:00Z,x\r\n'
        + _text([ROW]).split("\r\n", 1)[1]
    ).encode()
    report = _mapping_report(data)
    assert ("unterminated-quote", 2, None) in codes(report)


@pytest.mark.parametrize("before", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("ending", ["\r\n", ""], ids=["line-break", "no-final-break"])
def test_unterminated_quote_is_one_finding_at_its_record(before: int, ending: str) -> None:
    """An unclosed quote gives exactly one finding, the unterminated quote at the record that
    opens it, not also a field-count error for the fields it swallowed, wherever the record
    falls among the exact reader's batches (here of 2 records)."""
    bad = 'b@contoso.com,2026-11-02T09:15:49Z,"2026-11-27T17:00:00Z,x\r\n'
    tail = ",".join(ROW) + "\r\n" + ",".join(ROW) + ending
    rows = [[f"u{i}@contoso.com", *ROW[1:]] for i in range(before)]
    data = (_text(rows) + bad + tail).encode()
    report = _mapping_report(data, batch_size=2)
    assert codes(report) == [
        ("unterminated-quote", before + 1, None),
        ("unknown-column", None, "Remarks"),
    ]
    assert report.errors[0].line == before + 2
    assert report.records == before + 1 and report.valid_records == before


def test_empty_header_only_binary() -> None:
    """Empty file: error; header only: a no-records warning; binary: not text."""
    empty = check(b"", "resignations")
    assert empty.file_rejected and codes(empty) == [("empty-file", None, None)]
    header_only = check(csv_text(HEADER[:3], []), "resignations")
    assert header_only.ok and codes(header_only) == [("no-records", None, None)]
    binary = check(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4, "resignations")
    assert binary.file_rejected and codes(binary) == [("not-text", None, None)]
    blank = check(b"\r\n\r\n", "resignations")
    assert blank.file_rejected and codes(blank) == [("empty-file", None, None)]


def test_batches_expose_raw_and_canonical_values() -> None:
    """Batches carry raw cells, canonical UTC timestamps and validity per record."""
    text = csv_text(
        ["UPN", "TerminationDate", "LastWorkingDate"],
        [
            ["a@contoso.com", "2026-11-02T15:18:02.4675041+05:30", "2026-11-27"],
            ["bad", "2026-11-02T09:15:49Z", "2026-11-27T17:00:00Z"],
        ],
    )
    with open_validation(
        io.BytesIO(text.encode()), scenario="resignations", options=ValidationOptions(now=NOW)
    ) as run:
        batches = list(run)
    (batch,) = batches
    assert batch.raw.column_names == ["UPN", "TerminationDate", "LastWorkingDate"]
    assert batch.valid.tolist() == [True, False]
    first = batch.canonical.slice(0, 1).to_pylist()[0]
    assert first["scenario"] == "resignations"
    assert first["EmailAddress"] == "a@contoso.com"
    assert first["ResignationDate"].isoformat() == "2026-11-02T09:48:02.467504+00:00"
    assert first["LastWorkingDate"].isoformat() == "2026-11-27T00:00:00+00:00"
    assert batch.canonical.slice(1, 1).to_pylist()[0]["EmailAddress"] is None


def test_findings_kept_under_the_cap_are_the_first_in_file_order() -> None:
    """With the batches of a multi-megabyte file checked two at a time, the findings kept
    under ``max_findings`` are still the first ones in record order, and every record is
    counted once."""
    rows = [[f"bad{i}", ROW[1], ROW[2], "x" * 40] for i in range(80_000)]
    report = _mapping_report(_text(rows).encode(), max_findings=50_001)
    assert report.error_count == 80_000 and report.truncated
    kept = [f.record for f in report.errors if f.code == "invalid-upn"]
    assert kept == list(range(1, 50_001))
    assert report.records == 80_000 and report.valid_records == 0
