"""The ground truth: ``answers/insiders.csv`` and the per-scenario answer files.

``insiders.csv`` lists every release's insiders (``dataset,scenario,details,user,start,end``);
only the rows of the release under evaluation are used. Its dates mix zero-padded and unpadded
forms, and at least one start date is malformed (in r6.2 a start lacks its month): such a date is
taken from the insider's answer file instead, with a note. Answer files are ragged (each row is
``type,id,date,user,pc,...`` with as many fields as its source file) and may mix CRLF and LF.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from hrsignal.errors import InputFileError
from hrsignal.evaluation.notes import Notes

_FORMAT = "%m/%d/%Y %H:%M:%S"


@dataclass(frozen=True, slots=True)
class InsiderAnswer:
    """One insider of the release: user id, scenario, and the malicious period."""

    user: str
    scenario: int
    start: dt.datetime | None
    end: dt.datetime | None
    details: str
    events: int


def parse_cert_date(text: str) -> tuple[dt.datetime | None, bool]:
    """``MM/DD/YYYY HH:MM:SS``, padded or not: (value or None, was it zero-padded)."""
    text = text.strip().strip('"')
    try:
        value = dt.datetime.strptime(text, _FORMAT)
    except ValueError:
        return None, False
    return value, value.strftime(_FORMAT) == text


def _decode(path: Path, notes: Notes, where: str) -> str:
    data = path.read_bytes()
    crlf = data.count(b"\r\n")
    lf = data.count(b"\n") - crlf
    if crlf and lf:
        notes.add("mixed_line_endings", where, f"{crlf} CRLF and {lf} LF line endings; both read")
    elif crlf:
        notes.add("crlf_line_endings", where, "CRLF line endings; read as line breaks")
    return data.decode("utf-8", "replace")


def read_answers(root: Path, release: str, notes: Notes) -> list[InsiderAnswer]:
    """The insiders of ``release`` (``r4.2`` / ``r5.2``) from ``root/answers``."""
    index = root / "answers" / "insiders.csv"
    if not index.is_file():
        raise InputFileError(
            f"{index}: not found",
            hint="download the answers archive of the release and extract it into DIR/answers",
        )
    reader = csv.DictReader(io.StringIO(_decode(index, notes, "answers/insiders.csv")))
    rows = list(reader)
    if not {"dataset", "scenario", "user"} <= set(reader.fieldnames or ()):
        raise InputFileError(f"{index}: expected columns dataset,scenario,details,user,start,end")
    wanted = release.lstrip("r")
    mine = [r for r in rows if (r.get("dataset") or "").strip().lstrip("r") == wanted]
    if len(mine) < len(rows):
        notes.add(
            "other_releases",
            "answers/insiders.csv",
            f"{len(rows) - len(mine)} row(s) of other releases ignored",
        )
    return [_insider(root, release, row, notes) for row in mine]


def _insider(root: Path, release: str, row: dict[str, str], notes: Notes) -> InsiderAnswer:
    user = row["user"].strip()
    scenario = int(row["scenario"].strip())
    details = (row.get("details") or "").strip()
    dates = _answer_dates(root, release, scenario, details, notes)
    bounds: dict[str, dt.datetime | None] = {}
    for key, fallback in (("start", min(dates, default=None)), ("end", max(dates, default=None))):
        raw = (row.get(key) or "").strip()
        value, padded = parse_cert_date(raw)
        if value is None:
            notes.add(
                "malformed_date",
                "answers/insiders.csv",
                f"{user} {key} {raw!r} is not a MM/DD/YYYY HH:MM:SS date; "
                f"used {fallback:%m/%d/%Y %H:%M:%S} from {details}"
                if fallback
                else f"{user} {key} {raw!r} is not a date and no answer file gives one",
            )
            value = fallback
        elif not padded:
            notes.add(
                "mixed_date_padding",
                "answers/insiders.csv",
                f"dates with and without zero padding (e.g. {raw!r}); both parsed",
            )
        bounds[key] = value
    return InsiderAnswer(
        user=user,
        scenario=scenario,
        start=bounds["start"],
        end=bounds["end"],
        details=details,
        events=len(dates),
    )


def _answer_dates(
    root: Path, release: str, scenario: int, details: str, notes: Notes
) -> list[dt.datetime]:
    """Event dates of one answer file (rows are ``type,id,date,user,pc,...``)."""
    candidates = [
        root / "answers" / f"{release}-{scenario}" / details,
        root / "answers" / details,
    ]
    path = next((p for p in candidates if details and p.is_file()), None)
    if path is None:
        notes.add("missing_answer_file", f"answers/{details or '?'}", "not found; period kept")
        return []
    where = str(path.relative_to(root))
    widths: set[int] = set()
    dates: list[dt.datetime] = []
    for fields in csv.reader(io.StringIO(_decode(path, notes, where))):
        if len(fields) < 3:
            continue
        widths.add(len(fields))
        value, _ = parse_cert_date(fields[2])
        if value is not None:
            dates.append(value)
    if len(widths) > 1:
        notes.add(
            "ragged_answer_files",
            "answers/",
            "answer files mix rows of different widths (one per source file); read by type",
        )
    return dates
