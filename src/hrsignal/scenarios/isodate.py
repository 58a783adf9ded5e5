"""Vectorised ISO 8601 checking and parsing on the raw bytes of an Arrow string array.

Two parsers that accept exactly the same values with the same instants:

* :func:`parse_iso`, the one the checks use: Arrow's C++ string-to-timestamp cast (about 30 ns
  a value, off the GIL) for the values a shape gate admits, which reads a handful of bytes per
  value straight from the Arrow buffer; everything else goes to the reference parser;
* :func:`parse_by_width`, the reference, numpy alone: the values of one byte length form a
  fixed-width byte matrix, and the layout, the digits and the calendar (Howard Hinnant's
  days-from-civil) are checked with array arithmetic on it (150-300 ns a value).

Accepted, as Microsoft's samples write them: ``YYYY-MM-DD``, optionally ``THH:MM:SS``, 0-7
fractional digits after ``.``, and ``Z`` or ``+HH:MM`` / ``+HHMM`` / ``-HH:MM``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_US_PER_DAY = 86_400_000_000
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_DASH, _COLON, _T, _DOT, _Z, _PLUS = (ord(c) for c in "-:T.Z+")
_MIN_WIDTH, _MAX_WIDTH = 10, 19 + 8 + 6  # date only .. seconds + .fffffff + +hh:mm


@dataclass(slots=True)
class ParsedDates:
    """Instants in microseconds since the epoch (UTC) and what each value looked like."""

    micros: np.ndarray  # int64
    ok: np.ndarray  # bool: a well-formed ISO 8601 value naming a real instant
    has_time: np.ndarray  # bool
    has_offset: np.ndarray  # bool: Z or an offset


def _num(d: np.ndarray, start: int, stop: int) -> np.ndarray:
    out = d[:, start].astype(np.int64)
    for pos in range(start + 1, stop):
        out = out * 10 + d[:, pos]
    return out


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468, dtype=np.int64)


def _parse_matrix(m: np.ndarray) -> ParsedDates:
    """Check and parse ``n`` values of one byte width (``m`` is an n x width uint8 matrix)."""
    n, width = m.shape
    d = m.astype(np.int16) - ord("0")
    digit = (d >= 0) & (d <= 9)
    ok = digit[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1) & (m[:, 4] == _DASH) & (m[:, 7] == _DASH)
    year, month, day = _num(d, 0, 4), _num(d, 5, 7), _num(d, 8, 10)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_c = np.clip(month, 0, 12)
    limit = _DAYS_IN_MONTH[month_c] + ((month == 2) & leap)
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= limit)
    micros = _days_from_civil(year, month_c, day) * _US_PER_DAY
    false = np.zeros(n, dtype=bool)
    if width == 10:
        return ParsedDates(micros, ok, false, false.copy())
    if width < 19:  # a truncated time
        return ParsedDates(micros, false.copy(), false.copy(), false.copy())
    ok &= digit[:, [11, 12, 14, 15, 17, 18]].all(axis=1)
    ok &= (m[:, 10] == _T) & (m[:, 13] == _COLON) & (m[:, 16] == _COLON)
    hour, minute, second = _num(d, 11, 13), _num(d, 14, 16), _num(d, 17, 19)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    micros += (hour * 3600 + minute * 60 + second) * 1_000_000
    # time zone: Z, +hh:mm or +hhmm at the end
    zulu = m[:, width - 1] == _Z
    colon = false.copy()
    compact = false.copy()
    offset = np.zeros(n, dtype=np.int64)
    if width >= 25:
        s = m[:, width - 6]
        colon = ((s == _PLUS) | (s == _DASH)) & (m[:, width - 3] == _COLON)
        colon &= digit[:, [width - 5, width - 4, width - 2, width - 1]].all(axis=1)
        value = _num(d, width - 5, width - 3) * 60 + _num(d, width - 2, width)
        offset = np.where(colon, np.where(s == _DASH, -value, value), offset)
        ok &= ~colon | ((_num(d, width - 5, width - 3) <= 23) & (_num(d, width - 2, width) <= 59))
    if width >= 24:
        s = m[:, width - 5]
        compact = ((s == _PLUS) | (s == _DASH)) & ~colon
        compact &= digit[:, width - 4 : width].all(axis=1)
        value = _num(d, width - 4, width - 2) * 60 + _num(d, width - 2, width)
        offset = np.where(compact, np.where(s == _DASH, -value, value), offset)
        ok &= ~compact | ((_num(d, width - 4, width - 2) <= 23) & (_num(d, width - 2, width) <= 59))
    tz_len = np.where(zulu, 1, np.where(colon, 6, np.where(compact, 5, 0)))
    micros -= offset * 60_000_000
    # fraction: ".f" to ".fffffff" between the seconds and the zone
    body = width - tz_len  # where the zone starts
    frac_digits = body - 20
    has_frac = body > 19
    if width > 19:
        ok &= ~has_frac | ((m[:, 19] == _DOT) & (frac_digits >= 1) & (frac_digits <= 7))
    frac = np.zeros(n, dtype=np.int64)
    for pos in range(20, min(width, 27)):
        inside = has_frac & (pos < body)
        ok &= ~inside | digit[:, pos]
        if pos <= 25:  # the 7th digit (100 ns) is below a microsecond and is dropped
            frac += np.where(inside, d[:, pos].astype(np.int64) * 10 ** (25 - pos), 0)
    ok &= body >= 19
    # anything else in the zone position is not a valid value (e.g. trailing garbage)
    if width > 19:
        stray = ~has_frac & (tz_len == 0)
        ok &= ~stray
    return ParsedDates(micros + frac, ok, np.ones(n, dtype=bool), zulu | colon | compact)


def parse_by_width(values: pa.Array, rows: np.ndarray) -> ParsedDates:
    """Check and parse the selected ``rows`` with numpy alone (the reference for every value).

    Values of one byte length are viewed as a fixed-width matrix and checked column by column;
    rows not selected come back not ok.
    """
    n = len(values)
    out = _empty(n)
    if not rows.any():
        return out
    _parse_by_width(values, rows, out)
    return out


def _empty(n: int) -> ParsedDates:
    return ParsedDates(
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=bool),
    )


def _parse_by_width(values: pa.Array, rows: np.ndarray, out: ParsedDates) -> None:
    """Fill ``out`` for the selected ``rows`` (the others are left as they are)."""
    n = len(values)
    lengths = np.asarray(pc.binary_length(values).to_numpy(zero_copy_only=False))
    lengths = np.where(rows, lengths, -1)
    for width in np.unique(lengths).tolist():
        if width < _MIN_WIDTH or width > _MAX_WIDTH:
            continue  # cannot be a valid value: stays not ok
        idx = np.flatnonzero(lengths == width)
        sub = values if idx.size == n else values.take(pa.array(idx))
        matrix = _fixed_width(sub, width)
        parsed = _parse_matrix(matrix)
        out.micros[idx] = parsed.micros
        out.ok[idx] = parsed.ok
        out.has_time[idx] = parsed.has_time
        out.has_offset[idx] = parsed.has_offset


def _fixed_width(strings: pa.Array, width: int) -> np.ndarray:
    """View the bytes of equal-length strings as an n x width matrix (no copy)."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)
    first = int(offsets[strings.offset])
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8)
    return data[first : first + width * len(strings)].reshape(len(strings), width)


# -- the fast path: Arrow's C++ parser behind a shape gate -----------------------------------

_ZONED_NS = pa.timestamp("ns", tz="UTC")
_NAIVE_NS = pa.timestamp("ns")


def parse_iso(values: pa.Array, rows: np.ndarray) -> ParsedDates:
    """Check and parse the selected ``rows`` of a string array (others come back not ok).

    Arrow's C++ ISO 8601 cast (about 30 ns a value) parses and checks every digit, separator,
    calendar date, time and offset range, but it accepts more layouts than Microsoft's samples
    use (a space for ``T``, no seconds, ``+HH`` zones, 8-9 fractional digits) and it fails a
    whole array at once. So a shape gate, eight bytes read per value, admits to it only the
    values whose layout is one of ours, split by whether they carry a zone; Arrow then
    accepts exactly what :func:`parse_by_width` accepts, with the same instant. Values outside
    the gate, and every value of an array Arrow refuses (a 30 February, a year beyond the
    nanosecond range), are decided by :func:`parse_by_width`.
    """
    n = len(values)
    out = _empty(n)
    if n == 0 or not rows.any():
        return out
    gate = _gate(values, rows)
    if gate is None:
        _parse_by_width(values, rows, out)
        return out
    fast, zoned, timed = gate
    try:
        _cast_into(values, fast & zoned, _ZONED_NS, out)
        _cast_into(values, fast & ~zoned, _NAIVE_NS, out)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = _empty(n)  # some value has our shape but is not a real instant: decide exactly
        _parse_by_width(values, rows, out)
        return out
    out.has_time[:] = fast & timed
    out.has_offset[:] = fast & zoned
    rest = rows & ~fast
    if rest.any():
        _parse_by_width(values, rest, out)
    return out


def _gate(values: pa.Array, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Which selected values have one of our layouts (and which of those have a zone, a time).

    Reads eight bytes of each value straight from the Arrow buffer: 10, 13 and 16 from the
    start (``T``, ``:``, ``:``), 19 (the fraction's ``.``) and 1, 3, 5 and 6 from the end (the
    zone). None when the array is not a plain string array.
    """
    n = len(values)
    buffers = values.buffers()
    if buffers[2] is None or values.type != pa.string():
        return None
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[values.offset : values.offset + n + 1]
    lengths = np.diff(offsets)
    timed = (lengths >= 19) & (lengths <= _MAX_WIDTH)
    fast = rows & (lengths == _MIN_WIDTH)
    select = rows & timed
    if not select.any():
        return fast, np.zeros(n, dtype=bool), timed
    raw = np.frombuffer(buffers[2], dtype=np.uint8)
    # Values too short to be timed read bytes of their neighbours; keep every index in the
    # buffer (offsets grow, so only the first and last values can reach outside it).
    ahead = offsets[:-1].astype(np.int64)
    if ahead[-1] + 19 >= raw.size:
        np.minimum(ahead, raw.size - 20, out=ahead)
    behind = offsets[1:].astype(np.int64)
    if behind[0] < 6:
        np.maximum(behind, 6, out=behind)

    def at(index: np.ndarray, delta: int) -> np.ndarray:
        return np.asarray(raw[index + delta])

    seps = (at(ahead, 10) == _T) & (at(ahead, 13) == _COLON) & (at(ahead, 16) == _COLON)
    dot = at(ahead, 19) == _DOT
    zulu = at(behind, -1) == _Z
    at_l3 = at(behind, -3)
    colon = ~zulu & _is_sign(at(behind, -6)) & (at_l3 == _COLON)
    compact = ~zulu & ~colon & _is_sign(at(behind, -5))
    zone_len = zulu + 6 * colon.astype(np.int32) + 5 * compact.astype(np.int32)
    frac_len = lengths - zone_len - 19  # "" or ".f" .. ".fffffff"
    body = (frac_len == 0) | ((frac_len >= 2) & (frac_len <= 8) & dot)
    # Arrow reads a sign 3 bytes from the end as a "+HH" zone; we do not accept those
    hh_zone = (zone_len == 0) & _is_sign(at_l3)
    fast |= select & seps & body & ~hh_zone
    return fast, fast & (zone_len > 0) & timed, timed


def _is_sign(byte: np.ndarray) -> np.ndarray:
    return np.asarray((byte == _PLUS) | (byte == _DASH))


def _cast_into(values: pa.Array, which: np.ndarray, to: pa.DataType, out: ParsedDates) -> None:
    """Parse the ``which`` values with Arrow's cast into ``out`` (ok, micros)."""
    count = int(np.count_nonzero(which))
    if count == 0:
        return
    if count == len(values):
        idx = None
        sub = values
    else:
        idx = np.flatnonzero(which)
        sub = values.take(pa.array(idx))
    stamps = pc.cast(sub, to)  # no nulls: the values buffer is the whole answer
    nanos = np.frombuffer(stamps.buffers()[1], dtype=np.int64)[
        stamps.offset : stamps.offset + len(stamps)
    ]
    micros = np.floor_divide(nanos, 1000)  # the 7th fractional digit is below a microsecond
    if idx is None:
        out.micros[:] = micros
        out.ok[:] = True
    else:
        out.micros[idx] = micros
        out.ok[idx] = True
