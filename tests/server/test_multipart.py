"""The tolerant multipart reader, on the exact bytes real clients send."""

from __future__ import annotations

from pathlib import Path

import pytest

from hrsignal.errors import UsageError
from hrsignal.server import multipart
from tests.server import helpers

CSV = b"EmailAddress,ResignationDate,LastWorkingDate\r\na@x.com,2026-01-01,2026-01-02\r\n"


def _parts(tmp_path: Path, body: bytes, ctype: str) -> list[tuple[multipart.Part, bytes]]:
    path = tmp_path / "body"
    path.write_bytes(body)
    found = multipart.find_parts(path, multipart.boundary_of(ctype))
    return [(p, body[p.start : p.end]) for p in found]


def test_dotnet_part_with_unquoted_params_and_filename_star(tmp_path: Path) -> None:
    """.NET's ``name=file; filename=tmp_...txt; filename*=utf-8''...`` gives the file part,
    its name from filename*, and exactly the CSV bytes."""
    body, ctype = helpers.dotnet_multipart(CSV, index=7)
    [(part, content)] = _parts(tmp_path, body, ctype)
    assert part.name == "file"
    assert part.filename is not None and part.filename.endswith("0007.txt")
    assert content == CSV


def test_power_automate_spaced_header(tmp_path: Path) -> None:
    """``form-data;name = "file";filename=HR Data.csv`` is read as name file."""
    body, ctype = helpers.power_automate_multipart(CSV, "HR Data.csv")
    [(part, content)] = _parts(tmp_path, body, ctype)
    assert (part.name, part.filename, content) == ("file", "HR Data.csv", CSV)


def test_lf_only_and_several_parts(tmp_path: Path) -> None:
    """LF line breaks and extra parts around the file part."""
    body = (
        b'--b\nContent-Disposition: form-data; name="note"\n\nhello\n--b\n'
        b'Content-Disposition: form-data; name="file"; filename="x;y.csv"\n'
        b"Content-Type: text/csv\n\n" + CSV + b"\n--b--\n"
    )
    parts = _parts(tmp_path, body, "multipart/form-data; boundary=b")
    assert [(p.name, c) for p, c in parts] == [("note", b"hello"), ("file", CSV)]
    assert parts[1][0].filename == "x;y.csv"


def test_utf8_filename_star_wins(tmp_path: Path) -> None:
    """RFC 5987 ``filename*`` is decoded and preferred over ``filename``."""
    body = (
        b"--b\r\nContent-Disposition: form-data; name=file; filename=fallback.txt; "
        b"filename*=utf-8''R%C3%A9sili%C3%A9s.csv\r\n\r\n" + CSV + b"\r\n--b--\r\n"
    )
    [(part, _)] = _parts(tmp_path, body, "multipart/form-data; boundary=b")
    assert part.filename == "Résiliés.csv"


@pytest.mark.parametrize(
    ("body", "ctype", "message"),
    [
        (
            b"--b\r\nContent-Disposition: form-data; name=file\r\n\r\nabc",
            "multipart/form-data; boundary=b",
            "truncated",
        ),
        (b"no boundary here", "multipart/form-data; boundary=b", "does not contain"),
        (b"x", "multipart/form-data", "no boundary"),
    ],
)
def test_broken_bodies_are_usage_errors(
    tmp_path: Path, body: bytes, ctype: str, message: str
) -> None:
    """A truncated body, a missing boundary or no boundary parameter is a clear 400 error."""
    with pytest.raises(UsageError, match=message):
        _parts(tmp_path, body, ctype)
