"""The text report of ``hrsignal eval cert`` (JSON is :meth:`EvalResult.to_dict`)."""

from __future__ import annotations

from hrsignal.evaluation.harness import EvalResult
from hrsignal.evaluation.metrics import MethodScore

REFERENCE = (
    "Published reference: per-user unsupervised detection on r4.2, recall 88% at 6.9% false "
    "positive rate over all users and scenarios (Bertrand et al. 2022); no published result "
    "restricts itself to scenario 2 within the departure window."
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:g}d"


def _row(m: MethodScore, budgets: list[int]) -> str:
    recall = " ".join(f"{_pct(m.recall_at[2][k]):>5}" for k in budgets)
    return (
        f"{m.method:<22}{m.alerts:>7}{m.alerts_per_1000_users_per_day:>10.3f}  {recall}"
        f"{_pct(m.precision):>11}{_pct(m.false_positive_rate):>8}"
        f"{m.other_users_alerted:>8}{_days(m.lead_time_median):>9}{_days(m.lead_time_worst):>8}"
    )


def render_text(result: EvalResult) -> str:
    """A plain-text report: one table per notice period, then the notes."""
    ins = result.insiders
    lines = [
        f"CERT {result.release} evaluation of policy {result.policy!r}: {result.path}",
        f"users {result.users:,}, days {result.days} ({result.first_day} .. {result.last_day}), "
        f"leavers {result.leavers} ({result.benign_leavers} benign); "
        f"insiders: scenario 1: {ins.get(1, 0)}, scenario 2: {ins.get(2, 0)}, "
        f"scenario 3: {ins.get(3, 0)}",
        f"HR input: {result.hr_route}",
        "",
    ]
    for notice, methods in result.scores.items():
        budgets = sorted(methods[0].recall_at[2]) if methods else []
        head_recall = " ".join(f"{'@' + str(k):>5}" for k in budgets)
        lines += [
            f"notice period {notice} days (resignation = last logon - {notice} days)",
            f"{'method':<22}{'alerts':>7}{'/1k u/d':>10}  {head_recall}"
            f"{'precision':>11}{'FPR':>8}{'others':>8}{'lead med':>9}{'worst':>8}",
        ]
        lines += [_row(m, budgets) for m in methods]
        for scenario in (1, 3):
            parts = [
                f"{m.method}: {m.detected.get(scenario, 0)}/{m.insiders.get(scenario, 0)}"
                for m in methods
            ]
            lines.append(f"  scenario {scenario} insiders alerted: " + "; ".join(parts))
        for m in methods:
            if m.benign_indicators:
                top = ", ".join(f"{k} {v}" for k, v in list(m.benign_indicators.items())[:6])
                lines.append(f"  {m.method} alerts on benign leavers involve: {top}")
        lines.append("")
    lines.append(
        "recall @K: scenario-2 insiders among the first K alerted leavers; precision: among "
        "alerted scenario-2 insiders and benign leavers; FPR: benign leavers alerted; others: "
        "users who never left, alerted; lead: last working day - the day the alert could first be "
        "seen (its first alerting day, or the resignation date if later)."
    )
    lines.append(REFERENCE)
    if result.notes.items:
        lines += ["", "notes (data quirks met and how they were handled):"]
        lines += [f"  - {n}" for n in result.notes.items]
    secs = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    lines += ["", f"time: {secs}"]
    return "\n".join(lines)
