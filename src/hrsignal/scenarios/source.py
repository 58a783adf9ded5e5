"""Reading an HR file as a stream of record batches: encodings, dialects, record/line numbers.

Two readers produce the same :class:`RawBatch` stream, so the checks downstream are written
once:

* the **fast reader** hands UTF-8 input to Arrow's multi-threaded CSV parser and computes the
  physical line of each record from the line breaks inside its quoted fields;
* the **exact reader** is Python's :mod:`csv` over a decoded text stream; it handles what the
  fast reader cannot place precisely (rows with the wrong number of fields, blank lines,
  other encodings, an unterminated quote, a field larger than a block) and reports them with
  their exact record and line.

The fast reader watches for those cases; when it meets one it stops, and the exact reader takes
over *after the last record already delivered*, so a consumer never sees a record twice and
the numbering stays exact. Only broken or unusual files pay for the slow path.
"""

from __future__ import annotations

import codecs
import csv
import io
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from hrsignal.scenarios.findings import Code, Finding, error

#: Delimiters accepted by ``--delimiter`` (names and characters).
DELIMITERS = {
    ",": ",",
    "comma": ",",
    "\t": "\t",
    "tab": "\t",
    "\\t": "\t",
    "|": "|",
    "pipe": "|",
    ";": ";",
    "semicolon": ";",
}
_DELIMITER_NAMES = {",": "comma", "\t": "tab", "|": "pipe", ";": "semicolon"}
_DELIMITER_OPTION = {
    ",": "--delimiter ,",
    "\t": "--delimiter tab",
    "|": "--delimiter pipe",
    ";": "--delimiter ';'",
}

#: Python's csv module refuses fields over 128 KiB by default; HR cells are short, but a
#: Remarks cell pasted from a document may be long. 16 MiB keeps memory bounded.
FIELD_SIZE_LIMIT = 16 * 1024 * 1024
csv.field_size_limit(FIELD_SIZE_LIMIT)

_BLOCK_SIZE = 1 * 1024 * 1024
_HEADER_CHUNK = 64 * 1024
_NEWLINE_RE = "\r\n|\r|\n"


def parse_delimiter(value: str) -> str:
    """Turn a ``--delimiter`` value (``,``, ``tab``, ``pipe``, ``;``...) into one character."""
    try:
        return DELIMITERS[value.lower() if len(value) > 1 else value]
    except KeyError:
        raise ValueError(
            f"unsupported delimiter {value!r}; use comma, tab, pipe or semicolon"
        ) from None


@dataclass(slots=True)
class Encoding:
    """The text encoding of a file and the length of its byte-order mark."""

    codec: str
    bom: int
    label: str

    @property
    def is_utf8(self) -> bool:
        """True for UTF-8 with or without BOM (the fast reader's input)."""
        return self.codec == "utf-8"


def sniff_encoding(head: bytes, requested: str | None) -> Encoding | Finding:
    """Choose the encoding from the byte-order mark, or say why the file is not text."""
    if requested:
        try:
            name = codecs.lookup(requested).name
        except LookupError:
            return error(
                Code.ENCODING, f"unknown encoding {requested!r}; try utf-8, utf-16 or cp1252"
            )
        bom = 3 if name == "utf-8" and head.startswith(codecs.BOM_UTF8) else 0
        if name in ("utf-16", "utf-16-le", "utf-16-be") and head[:2] in (
            codecs.BOM_UTF16_LE,
            codecs.BOM_UTF16_BE,
        ):
            return Encoding("utf-16", 0, "UTF-16")
        return Encoding(name, bom, name.upper())
    if head.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8", 3, "UTF-8 with BOM")
    if (
        head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE))
        and len(head) >= 4
        and (head[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE))
    ):
        return error(
            Code.ENCODING,
            "the file is UTF-32; save it as UTF-8 (Excel: 'CSV UTF-8 "
            "(Comma delimited)') or pass --encoding utf-32",
        )
    if head.startswith(codecs.BOM_UTF16_LE):
        return Encoding("utf-16", 0, "UTF-16 LE")  # the utf-16 codec reads and drops the BOM
    if head.startswith(codecs.BOM_UTF16_BE):
        return Encoding("utf-16", 0, "UTF-16 BE")
    sample = head[:4096]
    if sample and sample.count(0) > len(sample) // 4:
        if sample[1::2].count(0) > len(sample) // 3 or sample[0::2].count(0) > len(sample) // 3:
            return error(
                Code.ENCODING,
                "the file looks like UTF-16 without a byte-order mark; "
                "pass --encoding utf-16-le (or utf-16-be), or save it as UTF-8",
            )
        return error(
            Code.NOT_TEXT,
            "the file is not text (it contains binary data); export the HR data as CSV",
        )
    if b"\x00" in sample or _looks_binary(sample):
        return error(
            Code.NOT_TEXT,
            "the file is not text (it contains binary data, e.g. an "
            "Excel .xlsx or a zip); export the HR data as CSV",
        )
    return Encoding("utf-8", 0, "UTF-8")


def _looks_binary(sample: bytes) -> bool:
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    return control > max(2, len(sample) // 100)


def encoding_finding(stream: BinaryIO, start: int) -> Finding:
    """Locate the first byte that is not UTF-8 and say what the file probably is."""
    stream.seek(start)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = start
    line = 1
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            bad = offset + exc.start
            stream.seek(start)
            before = stream.read(bad - start)
            line = 1 + before.count(b"\n") + (before.count(b"\r") - before.count(b"\r\n"))
            stream.seek(bad)
            snippet = stream.read(1)
            guess = _guess_legacy_encoding(before[-200:] + snippet + stream.read(200))
            return error(
                Code.ENCODING,
                f"the file is not UTF-8: byte 0x{snippet.hex().upper()} at line {line} "
                f"(byte offset {bad}) cannot be decoded; it looks like {guess}. Re-export as "
                f"'CSV UTF-8', or pass --encoding {_GUESS_CODEC[guess]}",
                line=line,
            )
        offset += len(chunk)
    return error(Code.ENCODING, "the file is not valid UTF-8", line=line)


_GUESS_CODEC = {"Windows-1252 (an 'ANSI' export)": "cp1252", "Latin-1": "latin-1"}


def _guess_legacy_encoding(sample: bytes) -> str:
    try:
        sample.decode("cp1252")
    except UnicodeDecodeError:
        return "Latin-1"
    return "Windows-1252 (an 'ANSI' export)"


@dataclass(slots=True)
class Header:
    """The header record: its column names, where it ends, and how many lines it spans."""

    names: list[str]
    end_offset: int  # byte offset of the first data line (fast reader only)
    lines: int


def read_header_bytes(stream: BinaryIO, start: int, delimiter: str) -> Header | None:
    """Read the UTF-8 header record (it may span lines inside quotes); None if the file is empty.

    The header ends at the first CR, LF or CRLF outside quotes, so a file with classic-Mac
    CR-only line endings has a one-line header like any other (Arrow's parser, which reads the
    records after it, takes a bare CR as a line break too).
    """
    raw = _header_record(stream, start)
    end_offset = start + len(raw)
    if not raw.strip(b"\r\n"):
        return None
    text = raw.decode("utf-8", errors="replace")
    names = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    return Header(names=names, end_offset=end_offset, lines=_count_lines(text))


def _header_record(stream: BinaryIO, start: int) -> bytes:
    """The bytes of the first record, with its line break (CR, LF or CRLF) if it has one."""
    stream.seek(start)
    raw = bytearray()
    quoted = False
    while len(raw) < FIELD_SIZE_LIMIT:
        chunk = stream.read(_HEADER_CHUNK)
        if not chunk:
            return bytes(raw)
        base = len(raw)
        raw += chunk
        pos = base
        while True:
            # the next quote or line break from pos; quotes toggle, breaks outside quotes end
            brk = _next_break(raw, pos) if not quoted else -1
            quote = raw.find(b'"', pos)
            if not quoted and brk >= 0 and (quote < 0 or brk < quote):
                end = brk + 1
                if raw[brk] == 0x0D:
                    if end == len(raw):  # is the CR followed by an LF in the next chunk?
                        raw += stream.read(1)
                    if raw[end : end + 1] == b"\n":
                        end += 1
                return bytes(raw[:end])
            if quote < 0:
                break
            quoted = not quoted
            pos = quote + 1
    return bytes(raw)


def _next_break(raw: bytearray, pos: int) -> int:
    cr, lf = raw.find(b"\r", pos), raw.find(b"\n", pos)
    if cr < 0 or lf < 0:
        return max(cr, lf)
    return min(cr, lf)


def _count_lines(text: str) -> int:
    stripped = text.rstrip("\r\n")
    return 1 + stripped.count("\n") + stripped.count("\r") - stripped.count("\r\n")


def wrong_delimiter(names: list[str], delimiter: str) -> Finding | None:
    """Name the delimiter a one-column header was really split by, with the option to use."""
    if len(names) != 1:
        return None
    text = names[0]
    counts = {d: text.count(d) for d in (",", ";", "\t", "|") if d != delimiter}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        return None
    found = _DELIMITER_NAMES[best]
    if best == ";":
        hint = (
            "this is what Excel writes in locales that use a decimal comma; re-export as "
            "'CSV UTF-8 (Comma delimited)' or pass --delimiter ';'"
        )
    else:
        hint = f"pass {_DELIMITER_OPTION[best]}"
    return error(
        Code.WRONG_DELIMITER,
        f"the header has one column but contains {counts[best]} {found} characters: the file "
        f"is {found}-delimited, not {_DELIMITER_NAMES[delimiter]}-delimited; {hint}",
        line=1,
        value=text[:120],
    )


@dataclass(slots=True)
class RawBatch:
    """Records as string columns, with their record and line numbers."""

    columns: list[pa.Array]  # one string array per header column
    records: np.ndarray  # int64, 1-based
    lines: np.ndarray  # int64, 1-based physical line where the record starts
    structural: np.ndarray  # bool: the row itself is malformed (already has a finding)
    findings: list[Finding] = field(default_factory=list)
    hashes: np.ndarray | None = None  # uint64 row hashes, when the reader computed them

    def __len__(self) -> int:
        return len(self.records)


class FallbackNeeded(Exception):
    """The fast reader met something only the exact reader can place precisely."""


def fast_batches(
    stream: BinaryIO, header: Header, delimiter: str, counters: ReadCounters
) -> Iterator[RawBatch]:
    """Arrow's CSV parser over UTF-8 input; raises :class:`FallbackNeeded` on anything odd."""
    ncols = len(header.names)
    names = [f"c{i}" for i in range(ncols)]
    stream.seek(header.end_offset)
    if not stream.read(1):
        return  # header only
    stream.seek(header.end_offset)
    # A row with the wrong number of fields makes Arrow raise ArrowInvalid: the exact reader
    # then places it. (An invalid_row_handler is not used: Arrow decodes the row's text for
    # it, and a row that is not UTF-8 made that print a traceback to stderr.)
    try:
        reader = _open_arrow(stream, names, delimiter)
    except pa.ArrowInvalid as exc:
        raise FallbackNeeded(str(exc)) from None
    pending: RawBatch | None = None

    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise FallbackNeeded(str(exc)) from None
        n = batch.num_rows
        if n == 0:
            continue
        cols = [batch.column(i) for i in range(ncols)]
        if _has_blank_rows(cols):
            raise FallbackNeeded("blank line")
        extra = _line_breaks_per_row(cols)
        starts = np.empty(n, dtype=np.int64)
        starts[0] = counters.next_line
        if n > 1:
            np.cumsum(1 + extra[:-1], out=starts[1:])
            starts[1:] += counters.next_line
        records = np.arange(counters.records + 1, counters.records + n + 1, dtype=np.int64)
        raw = RawBatch(cols, records, starts, np.zeros(n, dtype=bool))
        if pending is not None:
            counters.advance(pending)
            yield pending
        counters.records += n
        counters.next_line = int(starts[-1] + 1 + extra[-1])
        pending = raw
    if pending is not None:
        # An unterminated quote swallows the rest of the file into the last field, which then
        # ends with a line break; let the exact reader decide.
        last = [c[len(c) - 1].as_py() for c in pending.columns]
        if any(v.endswith(("\n", "\r")) for v in last):
            counters.records -= len(pending)
            counters.next_line = int(pending.lines[0])
            raise FallbackNeeded("last field ends with a line break")
        counters.advance(pending)
        yield pending


def _open_arrow(stream: BinaryIO, names: list[str], delimiter: str) -> pcsv.CSVStreamingReader:
    return pcsv.open_csv(
        stream,
        read_options=pcsv.ReadOptions(column_names=names, block_size=_BLOCK_SIZE),
        parse_options=pcsv.ParseOptions(
            delimiter=delimiter,
            newlines_in_values=True,
            ignore_empty_lines=False,
        ),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _has_blank_rows(cols: list[pa.Array]) -> bool:
    """True when some row has every cell empty (a blank line, or a row of bare delimiters)."""
    all_empty: np.ndarray | None = None
    for col in cols:
        offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)
        empty = np.diff(offsets[col.offset : col.offset + len(col) + 1]) == 0
        all_empty = empty if all_empty is None else all_empty & empty
        if not all_empty.any():
            return False
    return all_empty is not None and bool(all_empty.any())


def _has_line_break(col: pa.Array) -> bool:
    """True when some value of a string array contains CR or LF (a scan of its bytes)."""
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)
    lo, hi = int(offsets[col.offset]), int(offsets[col.offset + len(col)])
    data = np.frombuffer(col.buffers()[2], dtype=np.uint8)[lo:hi] if hi > lo else None
    if data is None:
        return False
    return bool((data == 10).any() or (data == 13).any())


def _line_breaks_per_row(cols: list[pa.Array]) -> np.ndarray:
    """Line breaks inside each row's quoted fields (CRLF, CR or LF each count once)."""
    n = len(cols[0])
    total = np.zeros(n, dtype=np.int64)
    for col in cols:
        if not _has_line_break(col):
            continue
        counts = pc.count_substring_regex(col, _NEWLINE_RE)
        total += counts.to_numpy(zero_copy_only=False)
    return total


@dataclass(slots=True)
class ReadCounters:
    """Where the stream is: records delivered and the next physical line."""

    records: int = 0
    next_line: int = 2
    delivered: int = 0

    def advance(self, batch: RawBatch) -> None:
        """Note that ``batch`` was handed to the consumer."""
        self.delivered = int(batch.records[-1])


class _LineCounter:
    """Iterates text lines, counting them and tracking whether a quote is open."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = text
        self.lines = 0
        self.quote_open = False

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        line = self._text.readline()
        if not line:
            raise StopIteration
        self.lines += 1
        if line.count('"') % 2:
            self.quote_open = not self.quote_open
        return line


def exact_batches(
    stream: BinaryIO,
    encoding: Encoding,
    ncols: int,
    delimiter: str,
    skip_records: int,
    batch_size: int = 65536,
) -> Iterator[RawBatch]:
    """Python's csv module over the decoded text; exact record and line for every oddity.

    Records up to ``skip_records`` were delivered by the fast reader and are not repeated.
    Undecodable bytes are replaced (the caller reports the encoding problem once, precisely).
    """
    stream.seek(0)
    text = io.TextIOWrapper(
        io.BufferedReader(_Unclosable(stream)),
        encoding="utf-8-sig" if encoding.is_utf8 else encoding.codec,
        errors="replace",
        newline="",
    )
    counter = _LineCounter(text)
    reader = csv.reader(counter, delimiter=delimiter, strict=False)
    try:
        next(reader)  # the header
    except (StopIteration, csv.Error):
        return
    record = 0
    cells: list[list[str]] = [[] for _ in range(ncols)]
    records: list[int] = []
    lines: list[int] = []
    structural: list[bool] = []
    findings: list[Finding] = []
    while True:
        start = counter.lines + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            record += 1
            if record > skip_records:
                if len(records) >= batch_size:
                    yield _to_batch(cells, records, lines, structural, findings)
                    cells = [[] for _ in range(ncols)]
                    records, lines, structural, findings = [], [], [], []
                findings.append(
                    error(
                        Code.FIELD_COUNT,
                        f"the record cannot be parsed: {exc}",
                        record=record,
                        line=start,
                    )
                )
                _append(cells, [""] * ncols, records, lines, structural, record, start, True)
            continue
        if not row:
            continue  # a blank line: nothing to save, nothing wrong
        record += 1
        if record <= skip_records:
            continue
        # Flush before adding a record, not after: the last record then always stays in the
        # final batch, where an unterminated quote found at the end of the file is reported.
        if len(records) >= batch_size:
            yield _to_batch(cells, records, lines, structural, findings)
            cells = [[] for _ in range(ncols)]
            records, lines, structural, findings = [], [], [], []
        bad = len(row) != ncols
        if bad:
            findings.append(
                error(
                    Code.FIELD_COUNT,
                    f"the record has {len(row)} fields but the header has {ncols}; "
                    f"{'add the missing empty fields (commas)' if len(row) < ncols else 'quote values that contain the delimiter'}"  # noqa: E501
                    f" (Microsoft's service answers such a file with HTTP 500)",
                    record=record,
                    line=start,
                    value=delimiter.join(row)[:200],
                )
            )
            row = (row + [""] * ncols)[:ncols]
        _append(cells, row, records, lines, structural, record, start, bad)
    if counter.quote_open and records:
        # The open quote swallowed the rest of the file into this record, which is why its
        # field count is wrong too: report the cause once, not the symptom as well.
        last = records[-1]
        findings = [f for f in findings if not (f.code is Code.FIELD_COUNT and f.record == last)]
        findings.append(
            error(
                Code.UNTERMINATED_QUOTE,
                "a quoted field is never closed: everything from here to the end of the file "
                'was read as one value; add the closing quote (")',
                record=last,
                line=lines[-1],
            )
        )
        structural[-1] = True
    if records or findings:
        yield _to_batch(cells, records, lines, structural, findings)


def _append(
    cells: list[list[str]],
    row: list[str],
    records: list[int],
    lines: list[int],
    structural: list[bool],
    record: int,
    line: int,
    bad: bool,
) -> None:
    for i, value in enumerate(row):
        cells[i].append(value)
    records.append(record)
    lines.append(line)
    structural.append(bad)


def _to_batch(
    cells: list[list[str]],
    records: list[int],
    lines: list[int],
    structural: list[bool],
    findings: list[Finding],
) -> RawBatch:
    return RawBatch(
        columns=[pa.array(c, type=pa.string()) for c in cells],
        records=np.asarray(records, dtype=np.int64),
        lines=np.asarray(lines, dtype=np.int64),
        structural=np.asarray(structural, dtype=bool),
        findings=findings,
    )


def read_header_text(stream: BinaryIO, encoding: Encoding, delimiter: str) -> Header | None:
    """Read the header through the decoder (for encodings the fast reader does not take)."""
    stream.seek(0)
    text = io.TextIOWrapper(
        io.BufferedReader(_Unclosable(stream)),
        encoding="utf-8-sig" if encoding.is_utf8 else encoding.codec,
        errors="replace",
        newline="",
    )
    counter = _LineCounter(text)
    try:
        names = next(csv.reader(counter, delimiter=delimiter, strict=False))
    except (StopIteration, csv.Error):
        return None
    if not names or (len(names) == 1 and not names[0].strip()):
        return None
    return Header(names=names, end_offset=-1, lines=counter.lines)


class _Unclosable(io.RawIOBase):
    """Lets a TextIOWrapper read a stream without closing it when garbage-collected."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        pass


_DONE = object()


def prefetch(
    batches: Iterator[RawBatch],
    depth: int = 2,
    prepare: Callable[[RawBatch], None] | None = None,
) -> Iterator[RawBatch]:
    """Read batches on a background thread while the caller checks the previous ones.

    Arrow's parser and the numpy/Arrow kernels of the checks release the GIL, so reading and
    checking overlap on two cores. ``prepare`` runs on the reader thread on each batch just
    read, while its bytes are still in the cache. An exception in the reader reaches the
    caller after the batches read before it, in order.
    """
    out: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for batch in batches:
                if prepare is not None:
                    prepare(batch)
                while not stop.is_set():
                    try:
                        out.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(_DONE)
        except BaseException as exc:  # handed to the consumer, re-raised there
            out.put(exc)

    thread = threading.Thread(target=work, name="hrsignal-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
