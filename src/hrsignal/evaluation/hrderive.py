"""HR input derived from the release: who left, when they last worked, when they resigned.

The CERT data has no HR feed. Its monthly LDAP snapshots show who leaves (a user listed once and
missing from the last snapshot leaves in the month after their last listing); the last working
date is the day of their last logon; the resignation date is an assumption, the last working
date minus a notice period, so every figure is reported for each notice period.

The derived resignations go through the connector path like any upload: written as an HR CSV,
validated and normalised by the shared validator (``hrsignal.scenarios``), and, where the
connector service's store is available, ingested into a SQLite store and read back as its
current HR records (see :mod:`hrsignal.evaluation.connector`).
"""

# ruff: noqa: S608 - SQL is built from sql_literal'd paths only

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb

from hrsignal.errors import InputFileError
from hrsignal.evaluation.notes import Notes
from hrsignal.risk.store import sql_literal


@dataclass(frozen=True, slots=True)
class Leaver:
    """A user who left: CERT id, e-mail (their UPN), last working day, month of departure."""

    user: str
    email: str
    last_day: dt.date
    last_listed: str  # YYYY-MM of the last snapshot listing them


@dataclass(slots=True)
class Population:
    """Everyone in the snapshots, the leavers among them, and the span of the activity."""

    emails: dict[str, str]  # CERT user id -> lower-cased e-mail
    leavers: list[Leaver]
    first_day: dt.date
    last_day: dt.date

    @property
    def days(self) -> int:
        """Days covered by the activity (inclusive)."""
        return (self.last_day - self.first_day).days + 1

    @property
    def users(self) -> int:
        """Users listed in any snapshot."""
        return len(self.emails)


def read_snapshots(ldap: Path) -> dict[str, dict[str, str]]:
    """``YYYY-MM`` -> {user id -> e-mail} for each monthly snapshot (CRLF or LF)."""
    snapshots: dict[str, dict[str, str]] = {}
    for path in sorted(ldap.glob("*.csv")):
        text = path.read_bytes().decode("utf-8", "replace")
        rows = csv.DictReader(io.StringIO(text, newline=None))
        month = path.stem
        snapshots[month] = {
            r["user_id"].strip(): (r.get("email") or "").strip().lower()
            for r in rows
            if r.get("user_id")
        }
    if not snapshots:
        raise InputFileError(f"{ldap}: no LDAP snapshots (LDAP/YYYY-MM.csv)")
    return snapshots


def last_logons(logon_csv: Path) -> tuple[dict[str, dt.date], dt.date, dt.date]:
    """Each user's last logon day, and the first and last day of the logon file (streamed)."""
    con = duckdb.connect()
    try:
        con.execute(
            f"""CREATE TEMP TABLE t AS SELECT "user" AS u,
                try_strptime("date", '%m/%d/%Y %H:%M:%S')::DATE AS d
            FROM read_csv({sql_literal(str(logon_csv))}, header = true, all_varchar = true)"""
        )
        span = con.execute("SELECT min(d), max(d) FROM t").fetchone()
        rows = con.execute("SELECT u, max(d) FROM t WHERE d IS NOT NULL GROUP BY u").fetchall()
    finally:
        con.close()
    if not span or span[0] is None:
        raise InputFileError(f"{logon_csv}: no readable logon dates")
    return {str(u): d for u, d in rows}, span[0], span[1]


def derive_population(prepared: Path, notes: Notes) -> Population:
    """Leavers from the snapshots in ``prepared/LDAP`` and last logons in ``prepared/logon.csv``."""
    snapshots = read_snapshots(prepared / "LDAP")
    months = sorted(snapshots)
    emails: dict[str, str] = {}
    last_listed: dict[str, str] = {}
    for month in months:
        for user, email in snapshots[month].items():
            emails[user] = email
            last_listed[user] = month
    final = snapshots[months[-1]]
    logons, first_day, last_day = last_logons(prepared / "logon.csv")
    leavers: list[Leaver] = []
    for user, month in sorted(last_listed.items()):
        if user in final:
            continue
        day = logons.get(user)
        if day is None:
            notes.add("leaver_without_logon", user, "left but never logged on; not a leaver here")
            continue
        if f"{day:%Y-%m}" != month:
            notes.add(
                "last_logon_month",
                user,
                f"last listed in {month} but last logon on {day}; the logon is used",
            )
        leavers.append(Leaver(user=user, email=emails[user], last_day=day, last_listed=month))
    returning = [u for u in emails if u in final and _gap(u, snapshots, months)]
    if returning:
        notes.add(
            "returned_users",
            "LDAP/",
            f"{len(returning)} user(s) missing from a snapshot but listed again; not leavers",
        )
    return Population(emails=emails, leavers=leavers, first_day=first_day, last_day=last_day)


def _gap(user: str, snapshots: dict[str, dict[str, str]], months: list[str]) -> bool:
    listed = [user in snapshots[m] for m in months]
    first = listed.index(True)
    return not all(listed[first:])


def write_resignations(leavers: list[Leaver], notice_days: int, path: Path) -> Path:
    """The HR resignations CSV an HR system would export (Purview's example header)."""
    lines = ["EmailAddress,ResignationDate,LastWorkingDate"]
    for leaver in leavers:
        resigned = leaver.last_day - dt.timedelta(days=notice_days)
        lines.append(f"{leaver.email},{resigned}T00:00:00Z,{leaver.last_day}T00:00:00Z")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
