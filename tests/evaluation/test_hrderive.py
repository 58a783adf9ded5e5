"""HR derivation: leavers from the LDAP snapshots, last working day = last logon, resignation =
last working day minus the notice period, brought through the real connector path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hrsignal.evaluation.connector import ingest
from hrsignal.evaluation.hrderive import derive_population, write_resignations
from hrsignal.evaluation.notes import Notes
from hrsignal.evaluation.synth import SynthResult

HEADER = "employee_name,user_id,email,role"
PEOPLE = {
    "STA0001": "Stay.Here@dtaa.com",
    "LEA0002": "Lea.Ving@dtaa.com",
    "BAC0003": "Back.Again@dtaa.com",
    "GHO0004": "Ghost.User@dtaa.com",
}


def _folder(tmp_path: Path) -> Path:
    """Three snapshots: LEA leaves after February, BAC misses February, GHO never logs on."""
    ldap = tmp_path / "LDAP"
    ldap.mkdir(parents=True)
    months = {
        "2010-01": ["STA0001", "LEA0002", "BAC0003", "GHO0004"],
        "2010-02": ["STA0001", "LEA0002", "GHO0004"],
        "2010-03": ["STA0001", "BAC0003"],
    }
    for month, users in months.items():
        rows = [HEADER] + [f"N,{u},{PEOPLE[u]},R" for u in users]
        (ldap / f"{month}.csv").write_text("\r\n".join(rows) + "\r\n")
    (tmp_path / "logon.csv").write_text(
        "id,date,user,pc,activity\n"
        "{1},01/04/2010 08:00:00,STA0001,PC-1,Logon\n"
        "{2},02/17/2010 08:00:00,LEA0002,PC-2,Logon\n"
        "{3},2/19/2010 16:59:00,LEA0002,PC-2,Logoff\n"
        "{4},01/05/2010 08:00:00,BAC0003,PC-3,Logon\n"
        "{5},03/30/2010 08:00:00,STA0001,PC-1,Logon\n"
    )
    return tmp_path


def test_leavers_are_users_missing_from_the_last_snapshot(tmp_path: Path) -> None:
    """Only LEA leaves, on the day of the last logon; BAC (back again) and GHO are noted."""
    notes = Notes()
    population = derive_population(_folder(tmp_path), notes)
    assert [(lv.user, lv.email, lv.last_day) for lv in population.leavers] == [
        ("LEA0002", "lea.ving@dtaa.com", dt.date(2010, 2, 19))
    ]
    assert population.leavers[0].last_listed == "2010-02"
    assert population.users == 4
    assert (population.first_day, population.last_day) == (
        dt.date(2010, 1, 4),
        dt.date(2010, 3, 30),
    )
    assert population.days == 86
    assert {"leaver_without_logon", "returned_users"} <= notes.kinds()


def test_resignation_is_last_working_day_minus_notice_through_the_connector(tmp_path: Path) -> None:
    """The derived file passes the validator and the service's ingestion with the right dates."""
    notes = Notes()
    population = derive_population(_folder(tmp_path), notes)
    path = write_resignations(population.leavers, 30, tmp_path / "hr.csv")
    assert path.read_text().splitlines()[0] == "EmailAddress,ResignationDate,LastWorkingDate"
    now = dt.datetime(2010, 3, 30, 23, 59, tzinfo=dt.UTC)
    table, route = ingest(path, tmp_path / "work", now=now, past_days=500, notes=notes)
    assert "connector service ingestion" in route
    rows = table.to_pylist()
    assert len(rows) == 1
    assert rows[0]["scenario"] == "resignations"
    assert rows[0]["EmailAddress"].lower() == "lea.ving@dtaa.com"
    assert rows[0]["LastWorkingDate"].date() == dt.date(2010, 2, 19)
    assert rows[0]["ResignationDate"].date() == dt.date(2010, 1, 20)


def test_synthetic_leavers_match_the_plan(org: SynthResult, tmp_path: Path) -> None:
    """On the synthetic org the derived leavers and their last days are exactly the planned ones."""
    from hrsignal.evaluation.prepare import prepare_release

    notes = Notes()
    prepare_release(org.path, tmp_path / "slim", release="r4.2", notes=notes)
    population = derive_population(tmp_path / "slim", notes)
    planned = {
        org.org.ids[u]: org.org.date(int(day))
        for u, day in enumerate(org.org.lwd.tolist())
        if day >= 0
    }
    assert {lv.user: lv.last_day for lv in population.leavers} == planned
