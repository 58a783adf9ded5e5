"""The CERT quirks are coped with: each is read correctly and noted once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hrsignal.evaluation.answers import parse_cert_date, read_answers
from hrsignal.evaluation.notes import Notes
from hrsignal.evaluation.prepare import prepare_release
from hrsignal.evaluation.synth import SynthResult

ACTIVITY_HEADERS = {
    "logon": "id,date,user,pc,activity",
    "device": "id,date,user,pc,activity",
    "file": "id,date,user,pc,filename,content",
    "email": "id,date,user,pc,to,cc,bcc,from,size,attachments,content",
    "http": "id,date,user,pc,url,content",
}


def _release(root: Path, logon: bytes, http_lines: list[str] | None = None) -> Path:
    """A tiny hand-written release: the given logon.csv bytes, other files nearly empty."""
    root.mkdir(parents=True)
    for name, header in ACTIVITY_HEADERS.items():
        (root / f"{name}.csv").write_text(header + "\n")
    (root / "logon.csv").write_bytes(logon)
    if http_lines:
        (root / "http.csv").write_text("\n".join([ACTIVITY_HEADERS["http"], *http_lines]) + "\n")
    (root / "LDAP").mkdir()
    (root / "LDAP" / "2010-01.csv").write_bytes(
        b"employee_name,user_id,email,role\r\nAda Lane,ADL0001,Ada.Lane@dtaa.com,Salesman\r\n"
    )
    return root


def test_unpadded_and_malformed_dates_are_told_apart() -> None:
    """Unpadded CERT dates parse (flagged unpadded); a date missing its month does not."""
    assert parse_cert_date("01/04/2010 08:03:00") == (dt.datetime(2010, 1, 4, 8, 3), True)
    assert parse_cert_date("1/4/2010 8:03:00") == (dt.datetime(2010, 1, 4, 8, 3), False)
    assert parse_cert_date("/14/2010 10:12:07") == (None, False)


def test_mixed_line_endings_and_padding_in_an_activity_file(tmp_path: Path) -> None:
    """A logon file mixing CRLF and LF with unpadded dates keeps every row, with no stray CR."""
    logon = (
        b"id,date,user,pc,activity\r\n"
        b"{A1},01/04/2010 08:03:00,ADL0001,PC-1,Logon\r\n"
        b"{A2},1/4/2010 17:03:00,ADL0001,PC-1,Logoff\n"
        b"{A3},01/05/2010 08:00:00,ADL0001,PC-1,Logon\n"
    )
    notes = Notes()
    prepared = prepare_release(
        _release(tmp_path / "r", logon), tmp_path / "slim", release="r4.2", notes=notes
    )
    assert prepared.read["logon"] == prepared.kept["logon"] == 3
    slim = (tmp_path / "slim" / "logon.csv").read_bytes()
    assert b"\r" not in slim and b"Logoff" in slim
    assert {"mixed_line_endings", "mixed_date_padding", "crlf_line_endings"} <= notes.kinds()
    padding = next(n for n in notes.items if n.quirk == "mixed_date_padding")
    assert padding.where == "logon.csv" and padding.detail.startswith("1 of 3")


def test_http_is_filtered_early_and_loses_its_content(tmp_path: Path) -> None:
    """Only visits to categorised sites survive the slim copy, without the content column."""
    lines = [
        "{H1},01/04/2010 09:00:00,ADL0001,PC-1,http://www.monster.com/jobs/1,job words here",
        "{H2},01/04/2010 09:01:00,ADL0001,PC-1,http://somewhere123.com/a/b,other words",
        "{H3},01/04/2010 09:02:00,ADL0001,PC-1,http://wikileaks.org/upload,leak words",
    ]
    notes = Notes()
    logon = b"id,date,user,pc,activity\n{A1},01/04/2010 08:03:00,ADL0001,PC-1,Logon\n"
    prepare_release(
        _release(tmp_path / "r", logon, lines), tmp_path / "slim", release="r4.2", notes=notes
    )
    slim = (tmp_path / "slim" / "http.csv").read_text()
    assert "monster.com" in slim and "wikileaks.org" in slim
    assert "somewhere123" not in slim and "words" not in slim
    assert "filtered_early" in notes.kinds()


def test_answers_quirks_of_the_synthetic_release(org: SynthResult) -> None:
    """Malformed start taken from the answer file; other releases skipped; ragged rows read."""
    notes = Notes()
    answers = read_answers(org.path, "r4.2", notes)
    planted = {(org.org.ids[i.user], i.scenario) for i in org.org.insiders}
    assert {(a.user, a.scenario) for a in answers} == planted
    for a in answers:
        assert a.start is not None and a.end is not None and a.start <= a.end
        assert a.events > 0
    kinds = notes.kinds()
    assert {"malformed_date", "other_releases", "ragged_answer_files"} <= kinds
    assert {"mixed_line_endings", "mixed_date_padding", "crlf_line_endings"} <= kinds
    sc3 = next(a for a in answers if a.scenario == 3)
    rows = (org.path / "answers" / "r4.2-3" / sc3.details).read_text().splitlines()
    first = dt.datetime.strptime(rows[0].split(",")[2], "%m/%d/%Y %H:%M:%S")
    assert sc3.start == first  # the malformed start was replaced by the first answer event


def test_a_file_without_header_line_uses_the_release_columns(tmp_path: Path) -> None:
    """An http.csv whose first line is data (no header) is read with r4.2's columns, noted."""
    logon = b"id,date,user,pc,activity\n{A1},01/04/2010 08:03:00,ADL0001,PC-1,Logon\n"
    root = _release(tmp_path / "r", logon)
    (root / "http.csv").write_text(
        "{H1},01/04/2010 09:00:00,ADL0001,PC-1,http://indeed.com/jobs,some words\n"
        "{H2},01/04/2010 09:05:00,ADL0001,PC-1,http://dropbox.com/up,more words\n"
    )
    notes = Notes()
    prepared = prepare_release(root, tmp_path / "slim", release="r4.2", notes=notes)
    assert prepared.read["http"] == prepared.kept["http"] == 2
    lines = (tmp_path / "slim" / "http.csv").read_text().splitlines()
    assert lines[0].replace('"', "") == "id,date,user,pc,url"
    assert "no_header" in notes.kinds()
