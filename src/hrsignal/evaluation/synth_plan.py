"""The people of a synthetic organisation, their habits, who leaves, and the planted insiders.

Bulk activity (:mod:`~hrsignal.evaluation.synth_write`) follows each user's habits; the
behaviour that matters to the evaluation (job hunting, theft, the insiders' scenarios, benign
leavers' last weeks) is planted here as explicit :class:`Planted` events, each optionally tagged
with the insider it belongs to so that the answer files list exactly those events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hrsignal.evaluation.synth import SynthConfig

FIRST = [
    "Aaron",
    "Abel",
    "Ada",
    "Alma",
    "Amos",
    "Anna",
    "Basil",
    "Beth",
    "Cain",
    "Carl",
    "Cara",
    "Dana",
    "Dean",
    "Dora",
    "Earl",
    "Edna",
    "Ezra",
    "Faye",
    "Gail",
    "Gene",
    "Hana",
    "Hugo",
    "Ian",
    "Ida",
    "Ira",
    "Jack",
    "Jada",
    "Joel",
    "Kai",
    "Kara",
    "Lana",
    "Leo",
    "Lois",
    "Mara",
    "Max",
    "Nell",
    "Noel",
    "Omar",
    "Opal",
    "Paul",
    "Pia",
    "Quin",
    "Rae",
    "Ray",
    "Rosa",
    "Sean",
    "Sara",
    "Seth",
    "Tate",
    "Tess",
    "Uma",
    "Vera",
    "Wade",
    "Wren",
    "Xena",
    "Yara",
    "Zane",
]
LAST = [
    "Adams",
    "Baker",
    "Banks",
    "Bell",
    "Blair",
    "Boyd",
    "Burke",
    "Byrd",
    "Cole",
    "Cruz",
    "Dale",
    "Dixon",
    "Doyle",
    "Duffy",
    "Ellis",
    "Ford",
    "Fox",
    "Gates",
    "Grant",
    "Gray",
    "Hale",
    "Hayes",
    "Hood",
    "Hunt",
    "Irwin",
    "Jones",
    "Kane",
    "Kemp",
    "Knox",
    "Lamb",
    "Lane",
    "Long",
    "Lynch",
    "Mann",
    "Marsh",
    "Moss",
    "Nash",
    "Noble",
    "Owen",
    "Page",
    "Park",
    "Pope",
    "Price",
    "Quinn",
    "Reed",
    "Rhodes",
    "Rowe",
    "Sharp",
    "Stone",
    "Todd",
    "Vance",
    "Wall",
    "Ward",
    "Webb",
    "West",
    "Wolfe",
    "Wood",
    "Yates",
    "York",
]
ROLES = ("Salesman", "ComputerProgrammer", "Technician", "ElectricalEngineer", "Secretary")
DEPARTMENTS = (
    "Research And Engineering",
    "Manufacturing",
    "Sales And Marketing",
    "Finance",
    "Purchasing",
)
JOB_SITES = ("careerbuilder.com", "monster.com", "indeed.com", "simplyhired.com", "linkedin.com")
LEAK_SITE = "wikileaks.org"
KEYLOGGER_SITE = "keylogger-download.com"
DOMAIN = "dtaa.com"

#: tables and what ``Planted.a`` / ``Planted.b`` mean in each.
#: logon: a = "Logon"/"Logoff"; device: a = "Connect"/"Disconnect"; file: a = filename;
#: http: a = url; email: a = to, b = attachment count.


@dataclass(frozen=True, slots=True)
class Planted:
    """One planted event; ``tag`` is the index of its insider in :attr:`Org.insiders` or -1."""

    table: str
    day: int
    second: int  # seconds after midnight (may exceed 86400 for after-midnight work)
    user: int
    pc: int
    a: str
    b: int = 0
    tag: int = -1


@dataclass(slots=True)
class Insider:
    """A planted insider: the user, the CERT scenario number and the last working day."""

    user: int
    scenario: int
    lwd: int


@dataclass(slots=True)
class Org:
    """The organisation: people, habits, leavers and planted events."""

    start: dt.date
    days: int
    ids: list[str]
    names: list[str]
    emails: list[str]
    roles: list[str]
    departments: list[str]
    supervisors: list[int]  # index of the supervisor, -1 for none
    start_hour: np.ndarray  # float hours
    work_hours: np.ndarray
    after_hours: np.ndarray  # bool: sometimes logs on in the evening
    usb_rate: np.ndarray  # removable-media connects per working day (0 = never)
    files_per_connect: np.ndarray
    http_rate: np.ndarray
    email_rate: np.ndarray
    lwd: np.ndarray  # last working day index, -1 for users who stay
    insiders: list[Insider] = field(default_factory=list)
    planted: list[Planted] = field(default_factory=list)

    @property
    def users(self) -> int:
        """Number of users."""
        return len(self.ids)

    def date(self, day: int) -> dt.date:
        """The calendar date of day index ``day``."""
        return self.start + dt.timedelta(days=day)

    def is_workday(self, day: int) -> bool:
        """Monday to Friday."""
        return self.date(day).weekday() < 5

    def employed(self, day: int) -> np.ndarray:
        """Who still works here on ``day`` (bool per user)."""
        return (self.lwd < 0) | (self.lwd >= day)


def plan_org(config: SynthConfig, rng: np.random.Generator) -> Org:
    """People, habits, leavers and planted behaviour for ``config``."""
    n = config.users
    ids, names, emails = _people(n, rng)
    roles = [str(rng.choice(ROLES)) for _ in range(n)]
    admins = rng.choice(n, size=max(2, n // 30), replace=False)
    for a in admins:
        roles[int(a)] = "ITAdmin"
    departments = [DEPARTMENTS[i % len(DEPARTMENTS)] for i in range(n)]
    managers = list(range(len(DEPARTMENTS)))  # the first user of each department manages it
    supervisors = [-1 if i in managers else managers[i % len(DEPARTMENTS)] for i in range(n)]
    for m in managers:
        roles[m] = "Manager"
    usb_user = rng.random(n) < 0.25
    org = Org(
        start=config.start,
        days=config.days,
        ids=ids,
        names=names,
        emails=emails,
        roles=roles,
        departments=departments,
        supervisors=supervisors,
        start_hour=rng.normal(8.0, 0.6, n).clip(6.5, 10.0),
        work_hours=rng.normal(8.8, 0.5, n).clip(7.5, 10.5),
        after_hours=rng.random(n) < 0.1,
        usb_rate=np.where(usb_user, rng.uniform(0.3, 2.0, n), 0.0),
        files_per_connect=rng.uniform(0.5, 3.0, n),
        http_rate=rng.gamma(6.0, config.http_per_day / 6.0, n),
        email_rate=rng.gamma(5.0, config.email_per_day / 5.0, n),
        lwd=np.full(n, -1, dtype=np.int64),
    )
    _plan_leavers(org, config, rng, set(managers), admins)
    return org


def _people(n: int, rng: np.random.Generator) -> tuple[list[str], list[str], list[str]]:
    ids: list[str] = []
    names: list[str] = []
    emails: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        first, middle, last = rng.choice(FIRST), rng.choice(FIRST), rng.choice(LAST)
        uid = f"{first[0]}{middle[0]}{last[0]}{int(rng.integers(1000, 10000))}".upper()
        email = f"{first}.{middle[0]}.{last}@{DOMAIN}"
        if uid in seen or email in seen:
            continue
        seen.update((uid, email))
        ids.append(uid)
        names.append(f"{first} {middle} {last}")
        emails.append(email)
    return ids, names, emails


def _last_leaving_day(org: Org) -> int:
    """Leavers must leave before the last month, so a later snapshot shows them gone."""
    end = org.date(org.days - 1)
    last_ok = dt.date(end.year, end.month, 1) - dt.timedelta(days=1)
    return (last_ok - org.start).days


def _workday_in(org: Org, rng: np.random.Generator, lo: int, hi: int) -> int:
    while True:
        day = int(rng.integers(lo, hi + 1))
        if org.is_workday(day):
            return day


def _plan_leavers(
    org: Org, config: SynthConfig, rng: np.random.Generator, managers: set[int], admins: np.ndarray
) -> None:
    lo, hi = 130, _last_leaving_day(org)
    if hi < lo:
        raise ValueError("the synthetic period is too short for leavers with 60-day histories")
    taken = set(managers)
    sc3 = next((int(a) for a in admins if int(a) not in taken), len(managers))
    org.roles[sc3] = "ITAdmin"
    taken.add(sc3)
    free = [u for u in rng.permutation(org.users).tolist() if u not in taken]
    thieves, sc1, benign = free[:2], free[2], free[3 : 3 + config.benign_leavers]
    # one thief already uses thumb drives a little; the other never did
    org.usb_rate[thieves[0]], org.usb_rate[thieves[1]] = 0.4, 0.0
    org.usb_rate[sc1] = 0.0
    org.after_hours[sc1] = False
    for scenario, user in ((2, thieves[0]), (2, thieves[1]), (1, sc1), (3, sc3)):
        org.lwd[user] = _workday_in(org, rng, lo, hi)
        org.insiders.append(Insider(user=user, scenario=scenario, lwd=int(org.lwd[user])))
    for user in benign:
        org.lwd[user] = _workday_in(org, rng, lo, hi)
    for tag, ins in enumerate(org.insiders):
        if ins.scenario == 2:
            _plant_thief(org, rng, ins, tag)
        elif ins.scenario == 1:
            _plant_scenario1(org, rng, ins, tag)
        else:
            _plant_scenario3(org, rng, ins, tag)
    for user in benign:
        _plant_benign_leaver(org, rng, user)


def _office_second(org: Org, rng: np.random.Generator, user: int) -> int:
    """A time during the user's usual working hours on any day."""
    begin = org.start_hour[user] + 0.5
    end = org.start_hour[user] + org.work_hours[user] - 0.5
    return int(rng.uniform(begin, end) * 3600)


def _usb_session(
    org: Org, rng: np.random.Generator, user: int, day: int, copies: int, tag: int, pc: int
) -> None:
    """Connect a drive, copy ``copies`` files within the hour, disconnect."""
    t0 = _office_second(org, rng, user)
    org.planted.append(Planted("device", day, t0, user, pc, "Connect", tag=tag))
    for k in range(copies):
        name = f"R:\\{org.ids[user][:3]}{int(rng.integers(100, 999))}\\doc{k:03d}.docx"
        org.planted.append(Planted("file", day, t0 + 30 + k * 20, user, pc, name, tag=tag))
    org.planted.append(
        Planted("device", day, t0 + 40 + copies * 20, user, pc, "Disconnect", tag=tag)
    )


def _plant_thief(org: Org, rng: np.random.Generator, ins: Insider, tag: int) -> None:
    u, lwd = ins.user, ins.lwd
    for day in range(lwd - 56, lwd + 1):
        if org.is_workday(day) and rng.random() < 0.7:
            for _ in range(int(rng.integers(3, 9))):
                site = JOB_SITES[int(rng.integers(len(JOB_SITES)))]
                url = f"http://{site}/jobs/search?q=engineer&p={int(rng.integers(1, 50))}"
                org.planted.append(
                    Planted("http", day, _office_second(org, rng, u), u, u, url, tag=tag)
                )
    for day in range(lwd - 20, lwd + 1):
        if org.is_workday(day) and rng.random() < 0.8:
            _usb_session(org, rng, u, day, int(rng.integers(20, 46)), tag, u)


def _plant_scenario1(org: Org, rng: np.random.Generator, ins: Insider, tag: int) -> None:
    u, lwd = ins.user, ins.lwd
    for day in range(lwd - 6, lwd):
        if not org.is_workday(day):
            continue
        t0 = int(rng.uniform(22.0, 23.5) * 3600)
        org.planted.append(Planted("logon", day, t0, u, u, "Logon", tag=tag))
        org.planted.append(Planted("device", day, t0 + 120, u, u, "Connect", tag=tag))
        for k in range(int(rng.integers(5, 13))):
            name = f"R:\\{org.ids[u][:3]}\\secret{k:02d}.pdf"
            org.planted.append(Planted("file", day, t0 + 180 + 15 * k, u, u, name, tag=tag))
        for k in range(int(rng.integers(3, 7))):
            url = f"http://{LEAK_SITE}/submit/upload?doc={k}"
            org.planted.append(Planted("http", day, t0 + 600 + 30 * k, u, u, url, tag=tag))
        org.planted.append(Planted("device", day, t0 + 900, u, u, "Disconnect", tag=tag))
        org.planted.append(Planted("logon", day, t0 + 1000, u, u, "Logoff", tag=tag))


def _plant_scenario3(org: Org, rng: np.random.Generator, ins: Insider, tag: int) -> None:
    u, lwd = ins.user, ins.lwd
    boss = org.supervisors[u]
    day = lwd - 1
    while not org.is_workday(day):
        day -= 1
    t0 = _office_second(org, rng, u)
    url = f"http://{KEYLOGGER_SITE}/free/keylogger.exe"
    org.planted.append(Planted("http", day, t0, u, u, url, tag=tag))
    org.planted.append(Planted("device", day, t0 + 300, u, boss, "Connect", tag=tag))
    org.planted.append(Planted("file", day, t0 + 330, u, boss, "R:\\tools\\keylogger.exe", tag=tag))
    org.planted.append(Planted("device", day, t0 + 400, u, boss, "Disconnect", tag=tag))
    # the next day he logs on as his supervisor and alarms the whole company, then leaves
    t1 = int(19.5 * 3600)
    everyone = ";".join(org.emails[i] for i in range(0, org.users, max(1, org.users // 40)))
    org.planted.append(Planted("logon", lwd, t1, boss, boss, "Logon", tag=tag))
    org.planted.append(Planted("email", lwd, t1 + 200, boss, boss, everyone, 0, tag=tag))
    org.planted.append(Planted("logon", lwd, t1 + 400, boss, boss, "Logoff", tag=tag))


def _plant_benign_leaver(org: Org, rng: np.random.Generator, user: int) -> None:
    """Ordinary last weeks: some job hunting, sometimes a few personal files to a drive."""
    lwd = int(org.lwd[user])
    if rng.random() < 0.6:
        for day in range(lwd - 40, lwd + 1):
            if org.is_workday(day) and rng.random() < 0.35:
                for _ in range(int(rng.integers(1, 6))):
                    site = JOB_SITES[int(rng.integers(len(JOB_SITES)))]
                    url = f"http://{site}/jobs/view/{int(rng.integers(1000, 9999))}"
                    second = _office_second(org, rng, user)
                    org.planted.append(Planted("http", day, second, user, user, url))
    if rng.random() < 0.45:
        for _ in range(int(rng.integers(1, 4))):
            day = _workday_in(org, rng, lwd - 10, lwd)
            _usb_session(org, rng, user, day, int(rng.integers(3, 16)), -1, user)
