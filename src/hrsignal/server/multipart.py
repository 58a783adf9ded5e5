"""A small, tolerant multipart/form-data reader for upload bodies spooled to disk.

Written because the clients that matter send parts stricter parsers refuse: .NET's
``MultipartFormDataContent`` (the official script) writes unquoted parameters
(``name=file; filename=tmp_<guid>0001.txt; filename*=utf-8''tmp_...``) and no part
content type; the Power Automate template writes ``form-data;name = "file";filename=...``.
Parameters are split on ``;`` outside quotes, whitespace around ``=`` is ignored, values are
unquoted, ``filename*`` (RFC 5987) wins over ``filename``. Line breaks may be CRLF or LF.
"""

from __future__ import annotations

import mmap
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from hrsignal.errors import UsageError


@dataclass
class Part:
    """A located part: its headers and where its content lies in the spooled body."""

    headers: dict[str, str]
    name: str | None
    filename: str | None
    start: int
    end: int


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a ``multipart/form-data`` content type."""
    params = parse_params(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise UsageError(
            "the multipart body has no boundary in its Content-Type",
            hint="send multipart/form-data with a 'file' part, or the CSV itself as text/csv",
        )
    return boundary


def split_params(value: str) -> list[str]:
    """Split a header value on ``;`` outside double quotes."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return [p.strip() for p in out if p.strip()]


def parse_params(value: str) -> dict[str, str]:
    """``form-data; name = "file"; filename*=utf-8''x`` -> ``{"name": "file", ...}``."""
    params: dict[str, str] = {}
    for item in split_params(value)[1:] if ";" in value else []:
        key, sep, raw = item.partition("=")
        if not sep:
            continue
        val = raw.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1].replace('\\"', '"')
        params[key.strip().lower()] = val
    return params


def _filename(params: dict[str, str]) -> str | None:
    extended = params.get("filename*")
    if extended:
        charset, _, rest = extended.partition("'")
        _lang, _, encoded = rest.partition("'")
        try:
            return unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    return params.get("filename")


_HEADER_END = re.compile(rb"\r?\n\r?\n")


def find_parts(path: Path, boundary: str) -> list[Part]:
    """Locate every part of the multipart body stored at ``path``."""
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[Part] = []
    size = path.stat().st_size
    if size == 0:
        return parts
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as body:
        pos = body.find(delimiter)
        if pos < 0:
            raise UsageError("the multipart body does not contain its boundary")
        while True:
            pos += len(delimiter)
            if body[pos : pos + 2] == b"--":
                break  # closing delimiter
            eol = body.find(b"\n", pos)
            if eol < 0:
                break
            head_start = eol + 1
            match = _HEADER_END.search(body, head_start, min(size, head_start + 16384))
            if match is None:
                raise UsageError("a multipart part has no blank line after its headers")
            headers = _headers(body[head_start : match.start()])
            start = match.end()
            nxt = body.find(delimiter, start)
            if nxt < 0:
                raise UsageError("the multipart body is truncated (no closing boundary)")
            end = nxt
            if body[end - 2 : end] == b"\r\n":
                end -= 2
            elif body[end - 1 : end] == b"\n":
                end -= 1
            disposition = headers.get("content-disposition", "")
            params = parse_params(disposition)
            parts.append(Part(headers, params.get("name"), _filename(params), start, end))
            pos = nxt
    return parts


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return headers


def extract(path: Path, part: Part, target: BinaryIO) -> None:
    """Copy a part's content into ``target``."""
    with path.open("rb") as fh:
        fh.seek(part.start)
        remaining = part.end - part.start
        while remaining > 0:
            chunk = fh.read(min(remaining, 1 << 20))
            if not chunk:
                break
            target.write(chunk)
            remaining -= len(chunk)
    target.flush()


def copy_file(source: BinaryIO, target: BinaryIO) -> None:
    """Copy a whole stream (used for raw ``text/csv`` bodies)."""
    shutil.copyfileobj(source, target, 1 << 20)
