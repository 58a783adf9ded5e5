"""CERT-layout files that mix CRLF and LF line ends (as some released files do) import like
clean ones. The files are hand-written in the CERT layout (tests/risk/fixtures/README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

from hrsignal.risk.importers import import_activity
from hrsignal.risk.importers.cert import _CHUNK, mixed_line_ends, write_lf_copy
from hrsignal.risk.store import RiskStore
from tests.risk.conftest import FIXTURES


def _mix(path: Path, *, first_crlf: bool = True) -> None:
    """Rewrite ``path`` with line ends alternating CRLF / LF."""
    lines = path.read_bytes().splitlines()
    ends = [b"\r\n", b"\n"] if first_crlf else [b"\n", b"\r\n"]
    path.write_bytes(b"".join(line + ends[i % 2] for i, line in enumerate(lines)))


def _dump(store: RiskStore) -> list[tuple[object, ...]]:
    with store.connect() as con:
        return con.execute(
            'SELECT "time", "user", activity, object, record_id FROM events ORDER BY ALL'
        ).fetchall()


def test_mixed_line_ends_import_like_clean_files(tmp_path: Path) -> None:
    """The r4.2 fixture with mixed line ends in activity files and an LDAP snapshot gives the
    same events, rejects and directory as the clean fixture; the LF copies are removed."""
    folder = tmp_path / "r4.2"
    shutil.copytree(FIXTURES / "cert-r4.2", folder)
    _mix(folder / "logon.csv")
    _mix(folder / "http.csv", first_crlf=False)
    _mix(folder / "LDAP" / "2010-02.csv")
    clean, mixed = RiskStore(tmp_path / "clean"), RiskStore(tmp_path / "mixed")
    expected = import_activity(clean, "cert", FIXTURES / "cert-r4.2")
    report = import_activity(mixed, "cert", folder)
    assert (report.read, report.stored, report.rejected) == (
        expected.read,
        expected.stored,
        expected.rejected,
    )
    assert _dump(mixed) == _dump(clean)
    with mixed.connect() as con:
        dept = con.execute(
            "SELECT department FROM directory WHERE \"user\" = 'adam.cain.mendoza@dtaa.com'"
        ).fetchall()
    assert dept == [("3 - Marketing",)]
    assert not list((mixed.data_dir / "tmp").glob("cert-*"))


def test_line_ends_mixed_beyond_the_sniffer_sample(store: RiskStore, tmp_path: Path) -> None:
    """A file that switches from CRLF to LF after DuckDB's 20,480-line sample imports whole,
    and a line with too many fields is still reported, not cut short."""
    folder = tmp_path / "late"
    folder.mkdir()
    rows = [f"{{R{i}}},01/04/2010 07:12:00,ACM2278,PC-6427,Logon" for i in range(25_000)]
    rows[24_000] += ",EXTRA"
    text = "id,date,user,pc,activity\r\n" + "".join(
        row + ("\r\n" if i < 21_000 else "\n") for i, row in enumerate(rows)
    )
    (folder / "logon.csv").write_bytes(text.encode())
    report = import_activity(store, "cert", folder)
    assert report.stored == 24_999
    assert report.rejected == {"malformed_line": 1}
    assert "line 24002" in report.examples[0]["reason"]


def test_a_crlf_split_across_reads_is_one_line_end(tmp_path: Path) -> None:
    """A CR ending one read and its LF opening the next count as one CRLF: a file of CRLF
    lines only is not 'mixed', and its LF copy has no CR left and the same lines."""
    line = b"x" * 99
    head = b"a" * (_CHUNK - 1) + b"\r\n"  # the CR is the last byte of the first read
    source = tmp_path / "crlf.csv"
    source.write_bytes(head + (line + b"\r\n") * 3)
    assert not mixed_line_ends(source)
    copy = tmp_path / "lf.csv"
    write_lf_copy(source, copy)
    assert b"\r" not in copy.read_bytes()
    assert copy.read_bytes().split(b"\n") == source.read_bytes().split(b"\r\n")
    source.write_bytes(head + line + b"\n")
    assert mixed_line_ends(source)
