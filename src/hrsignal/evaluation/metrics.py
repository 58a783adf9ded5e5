"""Scoring a method's ranked alerts against the answers.

Positives are the scenario-2 insiders (scenarios 1 and 3 are scored the same way, separately).
Negatives are the benign leavers (leavers who are no insider of any scenario) and, separately,
all other users (those who never left). For a method's ranked alerts:

* **recall@K**: the share of a scenario's insiders among the first K alerted *leavers*;
* **precision**: scenario-2 insiders among alerted leavers that are scenario-2 insiders or
  benign leavers (insiders of the other scenarios are neither positive nor negative here);
* **false-positive rate** among benign leavers, and the share of other users alerted;
* **alerts per 1,000 users per day**: the method's alerts / (users / 1,000) / days covered;
* **lead time**: last working day minus the day the alert could first be seen, per detected
  scenario-2 insider (median and worst, in days; negative when it came after departure). An
  alert can flag activity from before the resignation (the policy's past-activity window), but
  nobody sees it before the HR trigger exists: the day it could first be seen is the later of
  its first alerting day and the resignation date.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from hrsignal.evaluation.detect import Detection

PRIMARY = 2


@dataclass(frozen=True, slots=True)
class Truth:
    """What a method is scored against: insiders by scenario, leavers, the population."""

    insiders: dict[int, set[str]]  # scenario -> users (engine keys)
    leavers: dict[str, dt.date]  # user -> last working day
    users: int
    days: int

    @property
    def benign(self) -> set[str]:
        """Leavers who are no insider of any scenario."""
        bad = set().union(*self.insiders.values()) if self.insiders else set()
        return set(self.leavers) - bad


@dataclass(slots=True)
class MethodScore:
    """Every figure of one method for one notice period."""

    method: str
    alerts: int
    alerted_leavers: int
    alerts_per_1000_users_per_day: float
    recall_at: dict[int, dict[int, float | None]]  # scenario -> K -> recall
    detected: dict[int, int]  # scenario -> insiders alerted (any rank)
    insiders: dict[int, int]  # scenario -> insiders in the answers
    precision: float | None
    false_positive_rate: float | None  # among benign leavers
    benign_alerted: int
    benign_leavers: int
    other_users_alerted: int
    other_users: int
    lead_times: list[int] = field(default_factory=list)
    #: indicator -> benign leavers whose alert it contributed to (what to tune first)
    benign_indicators: dict[str, int] = field(default_factory=dict)

    @property
    def lead_time_median(self) -> float | None:
        """Median lead time of the detected scenario-2 insiders (days)."""
        return float(statistics.median(self.lead_times)) if self.lead_times else None

    @property
    def lead_time_worst(self) -> int | None:
        """Shortest lead time of the detected scenario-2 insiders (days)."""
        return min(self.lead_times) if self.lead_times else None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape (scenario and budget keys as strings)."""
        return {
            "method": self.method,
            "alerts": self.alerts,
            "alerted_leavers": self.alerted_leavers,
            "alerts_per_1000_users_per_day": round(self.alerts_per_1000_users_per_day, 4),
            "recall_at": {
                str(s): {str(k): _round(v) for k, v in ks.items()}
                for s, ks in self.recall_at.items()
            },
            "detected": {str(s): n for s, n in self.detected.items()},
            "insiders": {str(s): n for s, n in self.insiders.items()},
            "precision": _round(self.precision),
            "false_positive_rate": _round(self.false_positive_rate),
            "benign_alerted": self.benign_alerted,
            "benign_leavers": self.benign_leavers,
            "other_users_alerted": self.other_users_alerted,
            "other_users": self.other_users,
            "benign_indicators": self.benign_indicators,
            "lead_time_days": {
                "median": self.lead_time_median,
                "worst": self.lead_time_worst,
                "each": sorted(self.lead_times),
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def score(
    method: str,
    detection: Detection,
    truth: Truth,
    budgets: list[int],
    resigned: dict[str, dt.date] | None = None,
) -> MethodScore:
    """Score ``detection`` (alerts ranked best first) against ``truth``.

    ``resigned`` maps leavers to the (derived) resignation date: no alert is visible earlier.
    """
    resigned = resigned or {}
    ranked = [a for a in detection.alerts if a.user in truth.leavers]
    first_alert = {a.user: a.first_day for a in ranked}
    benign = truth.benign
    recall_at: dict[int, dict[int, float | None]] = {}
    detected: dict[int, int] = {}
    for scenario, users in sorted(truth.insiders.items()):
        recall_at[scenario] = {
            k: _ratio(len({a.user for a in ranked[:k]} & users), len(users)) for k in budgets
        }
        detected[scenario] = len(set(first_alert) & users)
    positives = truth.insiders.get(PRIMARY, set())
    tp = len(set(first_alert) & positives)
    fp = len(set(first_alert) & benign)
    others = {a.user for a in detection.alerts if a.user not in truth.leavers}
    n_others = truth.users - len(truth.leavers)
    lead = [
        (truth.leavers[u] - max(first_alert[u], resigned.get(u, first_alert[u]))).days
        for u in positives
        if u in first_alert
    ]
    why: dict[str, int] = {}
    for a in ranked:
        if a.user in benign:
            for ident in a.indicators:
                why[ident] = why.get(ident, 0) + 1
    return MethodScore(
        method=method,
        alerts=detection.alert_count,
        alerted_leavers=len(ranked),
        alerts_per_1000_users_per_day=(
            detection.alert_count / (truth.users / 1000) / truth.days if truth.users else 0.0
        ),
        recall_at=recall_at,
        detected=detected,
        insiders={s: len(u) for s, u in sorted(truth.insiders.items())},
        precision=_ratio(tp, tp + fp),
        false_positive_rate=_ratio(fp, len(benign)),
        benign_alerted=fp,
        benign_leavers=len(benign),
        other_users_alerted=len(others),
        other_users=n_others,
        lead_times=lead,
        benign_indicators=dict(sorted(why.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
