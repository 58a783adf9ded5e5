"""The whole evaluation of one CERT release folder: prepare, derive, import, detect, score.

The activity is imported once; for each notice period the derived resignations go through the
connector path, hrsignal's policy runs on them, the two baselines score the same user-days with
the same dates, and each method is scored against the answers.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from hrsignal.errors import DataRejectedError, UsageError
from hrsignal.evaluation.answers import InsiderAnswer, read_answers
from hrsignal.evaluation.baselines import Window, isolation_forest, removable_media_rule, user_days
from hrsignal.evaluation.connector import ingest
from hrsignal.evaluation.detect import detect, import_activity, load_policy
from hrsignal.evaluation.hrderive import Population, derive_population, write_resignations
from hrsignal.evaluation.metrics import MethodScore, Truth, score
from hrsignal.evaluation.notes import Notes
from hrsignal.evaluation.prepare import prepare_release
from hrsignal.risk.store import RiskStore, StoreSettings

RELEASES = ("r4.2", "r5.2")
METHODS = ("hrsignal", "removable-media rule", "isolation forest")
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """What to evaluate and how."""

    release: str = "r4.2"
    notice_days: tuple[int, ...] = (14, 30, 60)
    budgets: tuple[int, ...] = (5, 10, 20, 50)
    work_dir: Path | None = None  # default: a temporary folder, removed afterwards
    keep_work: bool = False
    seed: int = 0
    memory_limit: str = "2GB"
    policy: Path | None = None  # a policy YAML file; None = the built-in departing-users one


@dataclass(slots=True)
class EvalResult:
    """Every figure of a run, the notes, and where the time went."""

    release: str
    path: str
    policy: str
    users: int
    days: int
    first_day: str
    last_day: str
    leavers: int
    benign_leavers: int
    insiders: dict[int, int]
    hr_route: str
    notes: Notes
    scores: dict[int, list[MethodScore]] = field(default_factory=dict)
    imported: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``hrsignal eval cert --format json``."""
        return {
            "release": self.release,
            "path": self.path,
            "policy": self.policy,
            "users": self.users,
            "days": self.days,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "leavers": self.leavers,
            "benign_leavers": self.benign_leavers,
            "insiders": {str(s): n for s, n in sorted(self.insiders.items())},
            "hr_route": self.hr_route,
            "notice_days": {
                str(n): [m.to_dict() for m in methods] for n, methods in self.scores.items()
            },
            "notes": self.notes.to_list(),
            "import": self.imported,
            "rows": self.rows,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def _check(options: EvalOptions) -> None:
    if options.release not in RELEASES:
        raise UsageError(f"unknown release {options.release!r}; expected r4.2 or r5.2")
    if not options.notice_days or any(n < 0 or n > 365 for n in options.notice_days):
        raise UsageError("notice days must be between 0 and 365, e.g. --notice-days 14,30,60")
    if not options.budgets or any(k < 1 for k in options.budgets):
        raise UsageError("budgets must be positive, e.g. --budget 5,10,20,50")


def evaluate(path: Path, options: EvalOptions, progress: Progress | None = None) -> EvalResult:
    """Evaluate hrsignal and the baselines on the release in ``path``."""
    _check(options)
    notes = Notes()
    clock: dict[str, float] = {}
    started = time.perf_counter()
    answers = read_answers(path, options.release, notes)  # fail fast without answers
    if not answers:
        raise DataRejectedError(
            f"{path}/answers/insiders.csv lists no insider of {options.release}",
            hint="check --release (r4.2 or r5.2) against the release in DIR",
        )
    work = Path(tempfile.mkdtemp(prefix="hrsignal-eval-", dir=options.work_dir))
    try:
        tick = time.perf_counter()
        prepared = prepare_release(
            path, work / "slim", release=options.release, notes=notes, progress=progress
        )
        clock["prepare"] = time.perf_counter() - tick
        population = derive_population(work / "slim", notes)
        if not population.leavers:
            raise DataRejectedError(
                f"{path}: nobody leaves in the LDAP snapshots, so there is nothing to evaluate",
                hint="a leaver is listed in an LDAP/YYYY-MM.csv and missing from the last one",
            )
        store = RiskStore(work / "risk", StoreSettings(memory_limit=options.memory_limit))
        tick = time.perf_counter()
        report = import_activity(store, work / "slim", progress)
        clock["import"] = time.perf_counter() - tick
        if report.rejected_total:
            reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(report.rejected.items()))
            notes.add("import_rejected", "risk import", f"records not imported ({reasons})")
        policy = load_policy(options.policy)
        tick = time.perf_counter()
        features = user_days(store)
        clock["features"] = time.perf_counter() - tick
        truth = _truth(population, answers, notes)
        result = EvalResult(
            release=options.release,
            path=str(path),
            policy=policy.name,
            users=population.users,
            days=population.days,
            first_day=str(population.first_day),
            last_day=str(population.last_day),
            leavers=len(population.leavers),
            benign_leavers=len(truth.benign),
            insiders={s: len(u) for s, u in truth.insiders.items()},
            hr_route="",
            notes=notes,
            imported=report.to_dict(),
            rows={"read": prepared.read, "kept": prepared.kept},
        )
        now = dt.datetime.combine(population.last_day, dt.time(23, 59, 59), tzinfo=dt.UTC)
        windows = policy.windows
        for notice in options.notice_days:
            if progress:
                progress(f"notice period {notice} days")
            csv_path = write_resignations(
                population.leavers, notice, work / f"hr-resignations-{notice}d.csv"
            )
            tick = time.perf_counter()
            hr, result.hr_route = ingest(
                csv_path, work / "connector", now=now, past_days=population.days + 400, notes=notes
            )
            clock["connector"] = clock.get("connector", 0.0) + time.perf_counter() - tick
            leavers = _windows(hr)
            tick = time.perf_counter()
            ours = detect(store, hr, policy, progress)
            clock["policy"] = clock.get("policy", 0.0) + time.perf_counter() - tick
            tick = time.perf_counter()
            rule = removable_media_rule(features, leavers, windows.after_last_working_days)
            forest = isolation_forest(
                features,
                leavers,
                past_days=windows.past_activity_days,
                after_days=windows.after_last_working_days,
                seed=options.seed,
            )
            clock["baselines"] = clock.get("baselines", 0.0) + time.perf_counter() - tick
            budgets = sorted(set(options.budgets))
            resigned = {w.user: w.resigned for w in leavers}
            result.scores[notice] = [
                score(name, det, truth, budgets, resigned)
                for name, det in zip(METHODS, (ours, rule, forest), strict=True)
            ]
        clock["total"] = time.perf_counter() - started
        result.seconds = clock
        return result
    finally:
        if options.keep_work:
            if progress:
                progress(f"working files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _truth(population: Population, answers: list[InsiderAnswer], notes: Notes) -> Truth:
    leavers = {lv.email: lv.last_day for lv in population.leavers}
    insiders: dict[int, set[str]] = {}
    for a in answers:
        email = population.emails.get(a.user)
        if email is None:
            notes.add("unknown_insider", a.user, "in the answers but in no LDAP snapshot; skipped")
            continue
        if email not in leavers:
            notes.add("insider_not_leaver", a.user, "never leaves per LDAP: no HR trigger")
        insiders.setdefault(a.scenario, set()).add(email)
    for s in (1, 2, 3):
        insiders.setdefault(s, set())
    return Truth(insiders=insiders, leavers=leavers, users=population.users, days=population.days)


def _windows(hr: pa.Table) -> list[Window]:
    rows = hr.select(["EmailAddress", "ResignationDate", "LastWorkingDate"]).to_pylist()
    return [
        Window(
            user=str(r["EmailAddress"]).strip().lower(),
            resigned=r["ResignationDate"].date(),
            last_day=r["LastWorkingDate"].date(),
        )
        for r in rows
        if r["EmailAddress"] and r["ResignationDate"] and r["LastWorkingDate"]
    ]
