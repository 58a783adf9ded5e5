"""Policies as data: YAML documents validated into frozen dataclasses.

A policy names its HR triggers, its windows, its scope, its indicators (each a ``where`` over the
event model with low/medium/high daily thresholds), its boosters, its sequences and its scoring.
Validation collects every problem as a :class:`PolicyProblem` (file, key path, message), as
pySigma does, so ``hrsignal risk policies validate`` can list them all; loading a policy with
problems raises one :class:`~hrsignal.errors.ConfigError` quoting them.

Built-in templates live in ``hrsignal/risk/policies/``; a ``policies/`` folder in the data
directory adds policies or overrides a template of the same name. A file there that is invalid
(say, half-written in an editor) is a :class:`BrokenPolicy` of :func:`find_policies`: the
other policies load as usual, and the one it names is withheld until the file is fixed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hrsignal.errors import ConfigError, NotFoundError
from hrsignal.risk.events import ACTIVITIES, EVENT_COLUMNS

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "startswith", "endswith", "null")
LEVELS = ("low", "medium", "high")
#: (min, max) of the windows, from Purview's policy settings (design: after_last_working_days).
WINDOW_RANGES = {
    "activation_days": (1, 30),
    "past_activity_days": (0, 180),
    "after_last_working_days": (0, 90),
}
TRIGGER_SCENARIOS = {
    "resignations": ("ResignationDate", "LastWorkingDate"),
    "job-level-changes": ("EffectiveDate",),
    "performance-reviews": ("EffectiveDate",),
    "performance-improvement-plans": ("EffectiveDate",),
}


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One thing wrong with a policy document."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class Condition:
    """``field <op> values`` over the event model."""

    field: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Indicator:
    """Daily count of matching events, against low/medium/high thresholds."""

    id: str
    title: str
    category: str
    where: tuple[Condition, ...]
    thresholds: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Trigger:
    """An HR scenario that brings a user into scope, and optional filters on its records."""

    scenario: str
    date: str
    end: str | None = None
    rating_at_most: int | None = None
    level_downgrade: bool = False


@dataclass(frozen=True, slots=True)
class Windows:
    """Days in scope before and after the trigger."""

    activation_days: int = 30
    past_activity_days: int = 90
    after_last_working_days: int = 7


@dataclass(frozen=True, slots=True)
class Booster:
    """A booster's switch, its points and its parameters."""

    enabled: bool
    points: int
    multiplier: float = 3.0
    days: int = 30
    quantile: float = 0.9
    min_events: int = 10
    labels: tuple[str, ...] = ()
    min_history_days: int = 7


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a sequence: any event matching one of the named indicators."""

    name: str
    indicators: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sequence:
    """Ordered steps, all within ``within_hours`` of the first."""

    id: str
    title: str
    steps: tuple[Step, ...]
    within_hours: int
    points: int
    min_chains: int = 1


@dataclass(frozen=True, slots=True)
class Scoring:
    """Points per indicator level, and score thresholds for severity and alerting."""

    points: tuple[int, int, int] = (10, 20, 35)
    medium: int = 40
    high: int = 70
    alert_min_score: int = 15

    def severity(self, score: int) -> str:
        """low / medium / high for a 0-100 score."""
        return "high" if score >= self.high else "medium" if score >= self.medium else "low"


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy."""

    name: str
    title: str
    description: str
    enabled: bool
    triggers: tuple[Trigger, ...]
    windows: Windows
    include_groups: tuple[str, ...]
    include_users: tuple[str, ...]
    exclude_users: tuple[str, ...]
    priority_users: tuple[str, ...]
    priority_groups: tuple[str, ...]
    priority_points: int
    indicators: tuple[Indicator, ...]
    baseline: Booster
    cumulative: Booster
    priority_content: Booster
    sequences: tuple[Sequence, ...]
    scoring: Scoring
    source: str = field(default="", compare=False)

    def indicator(self, ident: str) -> Indicator:
        """The indicator named ``ident``."""
        for ind in self.indicators:
            if ind.id == ident:
                return ind
        raise KeyError(ident)

    def fingerprint(self) -> str:
        """A hash of everything that changes scores (a changed policy means a full re-run)."""
        doc = asdict(self)
        doc.pop("source", None)
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


class _Checker:
    """Collects problems while reading a document."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[PolicyProblem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(PolicyProblem(self.file, path, message))

    def mapping(self, doc: Any, path: str, known: set[str]) -> dict[str, Any]:
        if doc is None:
            return {}
        if not isinstance(doc, dict):
            self.add(path, f"expected a mapping, got {type(doc).__name__}")
            return {}
        for key in doc:
            if key not in known:
                self.add(
                    f"{path}.{key}" if path else str(key),
                    f"unknown key; expected one of {', '.join(sorted(known))}",
                )
        return doc

    def integer(
        self,
        doc: dict[str, Any],
        key: str,
        path: str,
        default: int,
        lo: int = 0,
        hi: int = 1_000_000,
    ) -> int:
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f"{path}.{key}", f"expected a whole number, got {value!r}")
            return default
        if not lo <= value <= hi:
            self.add(f"{path}.{key}", f"{value} is out of range; allowed {lo}-{hi}")
        return value

    def number(self, doc: dict[str, Any], key: str, path: str, default: float) -> float:
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            self.add(f"{path}.{key}", f"expected a non-negative number, got {value!r}")
            return default
        return float(value)

    def strings(self, doc: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = doc.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(f"{path}.{key}", "expected a list of names")
            return ()
        return tuple(value)


def parse_policy(doc: Any, *, file: str = "policy") -> tuple[Policy | None, list[PolicyProblem]]:
    """Validate a policy document; return the policy (None if any problem) and the problems."""
    c = _Checker(file)
    top = c.mapping(
        doc,
        "",
        {
            "name",
            "title",
            "description",
            "enabled",
            "triggers",
            "windows",
            "scope",
            "priority_users",
            "indicators",
            "boosters",
            "sequences",
            "scoring",
        },
    )
    if not top:
        if not c.problems:
            c.add("(document)", "empty policy; start from 'hrsignal risk policies show NAME'")
        return None, c.problems
    name = top.get("name")
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        c.add("name", "required: letters, digits, '-' and '_' only")
        name = "?"
    triggers = _triggers(c, top.get("triggers"))
    w = c.mapping(top.get("windows"), "windows", set(WINDOW_RANGES))
    windows = Windows(
        **{
            k: c.integer(w, k, "windows", getattr(Windows(), k), *WINDOW_RANGES[k])
            for k in WINDOW_RANGES
        }
    )
    scope = c.mapping(
        top.get("scope"), "scope", {"include_groups", "include_users", "exclude_users"}
    )
    prio = c.mapping(top.get("priority_users"), "priority_users", {"users", "groups", "points"})
    indicators = _indicators(c, top.get("indicators"))
    ids = {i.id for i in indicators}
    b = c.mapping(
        top.get("boosters"),
        "boosters",
        {"above_baseline", "cumulative_exfiltration", "priority_content"},
    )
    sequences = _sequences(c, top.get("sequences"), ids)
    scoring = _scoring(c, top.get("scoring"))
    if c.problems:
        return None, c.problems
    policy = Policy(
        name=name,
        title=str(top.get("title") or name),
        description=str(top.get("description") or ""),
        enabled=bool(top.get("enabled", True)),
        triggers=triggers,
        windows=windows,
        include_groups=tuple(g.casefold() for g in c.strings(scope, "include_groups", "scope")),
        include_users=tuple(u.casefold() for u in c.strings(scope, "include_users", "scope")),
        exclude_users=tuple(u.casefold() for u in c.strings(scope, "exclude_users", "scope")),
        priority_users=tuple(u.casefold() for u in c.strings(prio, "users", "priority_users")),
        priority_groups=tuple(g.casefold() for g in c.strings(prio, "groups", "priority_users")),
        priority_points=c.integer(prio, "points", "priority_users", 10, 0, 100),
        indicators=indicators,
        baseline=_booster(c, b.get("above_baseline"), "boosters.above_baseline", 10),
        cumulative=_booster(
            c, b.get("cumulative_exfiltration"), "boosters.cumulative_exfiltration", 15, days=7
        ),
        priority_content=_booster(c, b.get("priority_content"), "boosters.priority_content", 10),
        sequences=sequences,
        scoring=scoring,
        source=file,
    )
    if c.problems:
        return None, c.problems
    return policy, []


def _triggers(c: _Checker, raw: Any) -> tuple[Trigger, ...]:
    if not isinstance(raw, list) or not raw:
        c.add("triggers", "required: a list of HR scenarios that bring a user into scope")
        return ()
    out = []
    for n, item in enumerate(raw):
        path = f"triggers[{n}]"
        t = c.mapping(item, path, {"scenario", "date", "end", "rating_at_most", "level_downgrade"})
        scenario = t.get("scenario")
        if scenario not in TRIGGER_SCENARIOS:
            c.add(
                f"{path}.scenario", f"{scenario!r}; expected one of {', '.join(TRIGGER_SCENARIOS)}"
            )
            continue
        fields = TRIGGER_SCENARIOS[scenario]
        date = t.get("date", fields[0])
        end = t.get("end")
        for key, value in (("date", date), ("end", end)):
            if value is not None and value not in fields:
                c.add(
                    f"{path}.{key}",
                    f"{value!r} is not a date of {scenario}; expected one of {', '.join(fields)}",
                )
        rating = t.get("rating_at_most")
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int)):
            c.add(f"{path}.rating_at_most", "expected a whole number (e.g. 2)")
            rating = None
        out.append(
            Trigger(str(scenario), str(date), end, rating, bool(t.get("level_downgrade", False)))
        )
    return tuple(out)


def _conditions(c: _Checker, raw: Any, path: str) -> tuple[Condition, ...]:
    if not isinstance(raw, dict) or not raw:
        c.add(path, "required: field: value conditions over the event model")
        return ()
    out = []
    for key, value in raw.items():
        name, _, op = str(key).partition("|")
        op = op or "eq"
        if name not in EVENT_COLUMNS:
            c.add(
                f"{path}.{key}",
                f"unknown event field {name!r}; expected one of {', '.join(EVENT_COLUMNS)}",
            )
            continue
        if op not in OPERATORS:
            c.add(
                f"{path}.{key}", f"unknown operator {op!r}; expected one of {', '.join(OPERATORS)}"
            )
            continue
        values = tuple(value) if isinstance(value, list) else (value,)
        if not values or any(isinstance(v, dict | list) or v is None for v in values):
            c.add(f"{path}.{key}", "expected a value or a list of values")
            continue
        if name == "activity":
            for v in values:
                if v not in ACTIVITIES:
                    c.add(
                        f"{path}.{key}",
                        f"{v!r} is not an activity; expected one of {', '.join(ACTIVITIES)}",
                    )
        if op in ("gt", "gte", "lt", "lte") and not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            c.add(f"{path}.{key}", f"{op} compares numbers; got {value!r}")
        out.append(Condition(name, op, values))
    return tuple(out)


def _indicators(c: _Checker, raw: Any) -> tuple[Indicator, ...]:
    if not isinstance(raw, list) or not raw:
        c.add("indicators", "required: a list of indicators")
        return ()
    out: list[Indicator] = []
    seen: set[str] = set()
    for n, item in enumerate(raw):
        path = f"indicators[{n}]"
        d = c.mapping(item, path, {"id", "title", "category", "where", "thresholds"})
        ident = d.get("id")
        if not isinstance(ident, str) or not ident.isidentifier():
            c.add(f"{path}.id", "required: a name of letters, digits and '_'")
            continue
        if ident in seen:
            c.add(f"{path}.id", f"{ident!r} is used twice")
        seen.add(ident)
        th = c.mapping(d.get("thresholds"), f"{path}.thresholds", set(LEVELS))
        levels = tuple(c.integer(th, lv, f"{path}.thresholds", 0, 1) for lv in LEVELS)
        if "thresholds" not in d or set(th) != set(LEVELS):
            c.add(f"{path}.thresholds", "required: low, medium and high daily counts")
        elif not levels[0] <= levels[1] <= levels[2]:
            c.add(f"{path}.thresholds", f"must satisfy low <= medium <= high; got {levels}")
        out.append(
            Indicator(
                ident,
                str(d.get("title") or ident),
                str(d.get("category") or "other"),
                _conditions(c, d.get("where"), f"{path}.where"),
                (levels[0], levels[1], levels[2]),
            )
        )
    return tuple(out)


def _booster(c: _Checker, raw: Any, path: str, points: int, days: int = 30) -> Booster:
    d = c.mapping(
        raw,
        path,
        {
            "enabled",
            "multiplier",
            "baseline_days",
            "days",
            "quantile",
            "min_events",
            "points",
            "labels",
            "min_history_days",
        },
    )
    quantile = c.number(d, "quantile", path, 0.9)
    if not 0 < quantile < 1:
        c.add(f"{path}.quantile", f"{quantile} must be between 0 and 1")
    return Booster(
        enabled=bool(d.get("enabled", bool(d))),
        points=c.integer(d, "points", path, points, 0, 100),
        multiplier=c.number(d, "multiplier", path, 3.0),
        days=c.integer(d, "baseline_days" if "baseline_days" in d else "days", path, days, 1, 365),
        quantile=quantile,
        min_events=c.integer(d, "min_events", path, 10),
        labels=c.strings(d, "labels", path),
        min_history_days=c.integer(d, "min_history_days", path, 7, 0, 365),
    )


def _sequences(c: _Checker, raw: Any, ids: set[str]) -> tuple[Sequence, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        c.add("sequences", "expected a list")
        return ()
    out = []
    for n, item in enumerate(raw):
        path = f"sequences[{n}]"
        d = c.mapping(item, path, {"id", "title", "steps", "within_hours", "points", "min_chains"})
        steps = []
        raw_steps = d.get("steps")
        if not isinstance(raw_steps, list) or len(raw_steps) < 2:
            c.add(f"{path}.steps", "required: at least two steps")
            raw_steps = []
        for k, s in enumerate(raw_steps):
            sp = f"{path}.steps[{k}]"
            sd = c.mapping(s, sp, {"name", "indicators"})
            names = c.strings(sd, "indicators", sp)
            for ind in names:
                if ind not in ids:
                    c.add(f"{sp}.indicators", f"{ind!r} is not an indicator of this policy")
            if not names:
                c.add(f"{sp}.indicators", "required: the indicators whose events make this step")
            steps.append(Step(str(sd.get("name") or f"step{k + 1}"), names))
        ident = d.get("id")
        if not isinstance(ident, str) or not ident:
            c.add(f"{path}.id", "required")
        out.append(
            Sequence(
                str(ident),
                str(d.get("title") or ident),
                tuple(steps),
                c.integer(d, "within_hours", path, 72, 1, 24 * 30),
                c.integer(d, "points", path, 20, 0, 100),
                c.integer(d, "min_chains", path, 1, 1, 10_000),
            )
        )
    return tuple(out)


def _scoring(c: _Checker, raw: Any) -> Scoring:
    d = c.mapping(raw, "scoring", {"points", "severity", "alert_min_score"})
    p = c.mapping(d.get("points"), "scoring.points", set(LEVELS))
    s = c.mapping(d.get("severity"), "scoring.severity", {"medium", "high"})
    default = Scoring()
    scoring = Scoring(
        points=tuple(  # type: ignore[arg-type]
            c.integer(p, lv, "scoring.points", dp, 0, 100)
            for lv, dp in zip(LEVELS, default.points, strict=True)
        ),
        medium=c.integer(s, "medium", "scoring.severity", default.medium, 1, 100),
        high=c.integer(s, "high", "scoring.severity", default.high, 1, 100),
        alert_min_score=c.integer(d, "alert_min_score", "scoring", default.alert_min_score, 1, 100),
    )
    if scoring.medium > scoring.high:
        c.add("scoring.severity", "medium must not be above high")
    return scoring


# -- loading ----------------------------------------------------------------------------------


def load_policy_file(path: Path) -> Policy:
    """Load one policy file; every problem is quoted in the ConfigError."""
    policy, problems = check_policy_file(path)
    if policy is None:
        raise ConfigError(
            "invalid policy:\n  " + "\n  ".join(str(p) for p in problems[:20]),
            hint="run 'hrsignal risk policies validate FILE' to list every problem",
        )
    return policy


def check_policy_file(path: Path) -> tuple[Policy | None, list[PolicyProblem]]:
    """Validate a policy file without raising."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [PolicyProblem(str(path), "(file)", f"cannot be read ({exc.strerror})")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        # One line (the parser's own message spans several, with a caret drawing).
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        what = f"{problem} ({context})" if context else problem
        if "<stream end>" in what or "end of stream" in what:
            what += "; is the file still being written?"
        return None, [PolicyProblem(str(path), where, f"not valid YAML: {what}")]
    return parse_policy(doc, file=str(path))


def builtin_policy_files() -> list[Path]:
    """The templates shipped with hrsignal."""
    folder = resources.files("hrsignal.risk") / "policies"
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml"))


@dataclass(frozen=True, slots=True)
class BrokenPolicy:
    """A policy file that cannot be used (half-written, invalid): reported, never run.

    ``name`` is the policy it means as far as can be told: its ``name:`` value when one can be
    read, else the file's stem.
    """

    file: str
    name: str
    problems: tuple[PolicyProblem, ...]


@dataclass(slots=True)
class PolicyCatalogue:
    """The installed policies by name, and the policy files that are broken.

    A broken file withholds the policy it names, a template it overrides included: a run
    skips that policy rather than score with the settings the file is replacing.
    """

    policies: dict[str, Policy]
    broken: list[BrokenPolicy]

    def select(self, name: str | None) -> list[Policy]:
        """The named policy (refused when its file is broken), or every enabled valid one."""
        for bad in self.broken:
            if name is not None and bad.name == name:
                raise ConfigError(
                    f"policy {name!r} cannot run, {bad.file} is invalid:\n  "
                    + "\n  ".join(str(p) for p in bad.problems[:20]),
                    hint="fix the file; 'hrsignal risk policies validate' lists every problem",
                )
        return select_policies(self.policies, name)


def find_policies(extra_dir: Path | None = None) -> PolicyCatalogue:
    """Templates, overridden or extended by ``extra_dir/*.yaml``; broken files reported apart.

    One file being edited (or otherwise invalid) never hides the other policies.
    """
    files = builtin_policy_files()
    if extra_dir is not None and extra_dir.is_dir():
        files += sorted(extra_dir.glob("*.yaml"))
    out: dict[str, Policy] = {}
    broken: list[BrokenPolicy] = []
    for file in files:
        policy, problems = check_policy_file(file)
        if policy is None:
            broken.append(BrokenPolicy(str(file), _intended_name(file), tuple(problems)))
        else:
            out[policy.name] = policy
    for bad in broken:
        out.pop(bad.name, None)
    return PolicyCatalogue(out, broken)


def available_policies(extra_dir: Path | None = None) -> dict[str, Policy]:
    """The valid policies of :func:`find_policies`, by name (broken files left out)."""
    return find_policies(extra_dir).policies


def _intended_name(file: Path) -> str:
    """The policy a broken file means: its top-level ``name:`` if readable, else its stem."""
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return file.stem
    match = re.search(r"^name:[ \t]*['\"]?([A-Za-z0-9_.-]+)", text, re.MULTILINE)
    return match.group(1) if match else file.stem


def select_policies(policies: dict[str, Policy], name: str | None) -> list[Policy]:
    """The named policy, or every enabled one."""
    if name is None:
        return [p for p in policies.values() if p.enabled]
    if name not in policies:
        raise NotFoundError(
            f"no policy named {name!r}",
            hint=f"available: {', '.join(sorted(policies))}",
        )
    return [policies[name]]
