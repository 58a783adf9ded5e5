"""Metrics and the removable-media rule on tiny cases that can be checked by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hrsignal.evaluation.baselines import FEATURES, UserDays, Window, removable_media_rule
from hrsignal.evaluation.detect import Detection, UserAlert
from hrsignal.evaluation.metrics import Truth, score

D = dt.date(2010, 6, 1)


def _alert(user: str, score_: float, first: dt.date) -> UserAlert:
    return UserAlert(user=user, score=score_, first_day=first, days=1)


def test_recall_precision_rates_and_lead_times_by_hand() -> None:
    """Ranked [d, a, x, e, b]: a and b are thieves, c a scenario-1 insider, d/e/f benign."""
    truth = Truth(
        insiders={2: {"a", "b"}, 1: {"c"}, 3: set()},
        leavers={u: D for u in "abcdef"},
        users=100,
        days=10,
    )
    alerts = [
        _alert("d", 90, D),
        _alert("a", 80, D - dt.timedelta(days=12)),
        _alert("x", 70, D),  # never left: an "other user"
        _alert("e", 60, D),
        _alert("b", 50, D - dt.timedelta(days=3)),
    ]
    m = score("m", Detection(alerts=alerts, alert_count=5, alerting_days=9), truth, [1, 2, 4, 50])
    # ranked leavers: d, a, e, b
    assert m.recall_at[2] == {1: 0.0, 2: 0.5, 4: 1.0, 50: 1.0}
    assert m.recall_at[1] == {1: 0.0, 2: 0.0, 4: 0.0, 50: 0.0}
    assert m.recall_at[3] == {1: None, 2: None, 4: None, 50: None}
    assert m.detected == {1: 0, 2: 2, 3: 0}
    assert m.alerted_leavers == 4
    assert m.precision == pytest.approx(2 / 4)  # a, b against d, e
    assert m.false_positive_rate == pytest.approx(2 / 3)  # d, e of benign d, e, f
    assert (m.benign_alerted, m.benign_leavers) == (2, 3)
    assert (m.other_users_alerted, m.other_users) == (1, 94)
    assert m.alerts_per_1000_users_per_day == pytest.approx(5 / 0.1 / 10)
    assert sorted(m.lead_times) == [3, 12]
    assert m.lead_time_median == 7.5 and m.lead_time_worst == 3


def test_no_alert_gives_no_precision_and_no_lead_time() -> None:
    """Without alerts, precision and lead times are undefined (None), never zero."""
    truth = Truth(insiders={2: {"a"}}, leavers={"a": D, "b": D}, users=10, days=5)
    m = score("m", Detection(alerts=[], alert_count=0, alerting_days=0), truth, [5])
    assert m.precision is None and m.lead_time_median is None and m.lead_time_worst is None
    assert m.recall_at[2] == {5: 0.0} and m.false_positive_rate == 0.0


def _user_days(days: list[dt.date], copies: list[int]) -> UserDays:
    matrix = np.zeros((len(days), len(FEATURES)))
    matrix[:, list(FEATURES).index("usb_copies")] = copies
    return UserDays(
        days={"u": np.array(days, dtype="datetime64[D]")},
        features={"u": matrix},
    )


def test_rule_alerts_above_own_median_plus_three_mads_after_resignation() -> None:
    """Baseline copies 2,3,2,4,2 (median 2, MAD 0): 5 after resignation alerts, 2 does not."""
    resigned = dt.date(2010, 6, 1)
    before = [resigned - dt.timedelta(days=k) for k in (50, 40, 30, 20, 10)]
    after = [resigned, resigned + dt.timedelta(days=3)]
    data = _user_days(before + after, [2, 3, 2, 4, 2, 2, 5])
    window = Window(user="u", resigned=resigned, last_day=resigned + dt.timedelta(days=14))
    det = removable_media_rule(data, [window], after_days=7)
    assert [(a.user, a.first_day, a.score, a.days) for a in det.alerts] == [
        ("u", resigned + dt.timedelta(days=3), 3.0, 1)
    ]


def test_rule_ignores_copies_before_resignation_and_spread_baselines() -> None:
    """Copies 0,4,0 then 10 the day before resignation (median 2, MAD 2 -> limit 8) and none
    after: no alert; a spread baseline 1,5,9 (median 5, MAD 4 -> 17) lets 12 copies pass."""
    resigned = dt.date(2010, 6, 1)
    days = [resigned - dt.timedelta(days=k) for k in (30, 20, 10, 1)] + [resigned]
    quiet = _user_days(days, [0, 4, 0, 10, 0])
    window = Window(user="u", resigned=resigned, last_day=resigned)
    assert removable_media_rule(quiet, [window], after_days=0).alerts == []
    spread = _user_days([*days[:3], resigned], [1, 5, 9, 12])
    assert removable_media_rule(spread, [window], after_days=0).alerts == []


def test_lead_time_counts_from_when_the_alert_can_be_seen() -> None:
    """An alert on activity 40 days before leaving, for a user who resigned 14 days before
    leaving, gives 14 days of lead: nobody sees it before the HR trigger exists."""
    truth = Truth(insiders={2: {"a", "b"}}, leavers={"a": D, "b": D}, users=10, days=100)
    alerts = [_alert("a", 9, D - dt.timedelta(days=40)), _alert("b", 8, D - dt.timedelta(days=5))]
    det = Detection(alerts=alerts, alert_count=2, alerting_days=2)
    resigned = {"a": D - dt.timedelta(days=14), "b": D - dt.timedelta(days=14)}
    m = score("m", det, truth, [5], resigned)
    assert sorted(m.lead_times) == [5, 14]
    assert sorted(score("m", det, truth, [5]).lead_times) == [5, 40]


def test_indicators_behind_benign_alerts_are_counted_per_leaver() -> None:
    """Benign d (job_search, usb_copy) and e (job_search) alerted, thief a (usb_copy): the
    indicators to tune are job_search for 2 benign leavers and usb_copy for 1."""
    truth = Truth(insiders={2: {"a"}}, leavers={u: D for u in "ade"}, users=10, days=5)
    alerts = [
        UserAlert("d", 9, D, 1, ("job_search", "usb_copy")),
        UserAlert("a", 8, D, 1, ("usb_copy",)),
        UserAlert("e", 7, D, 1, ("job_search",)),
    ]
    m = score("m", Detection(alerts=alerts, alert_count=3, alerting_days=3), truth, [5])
    assert m.benign_indicators == {"job_search": 2, "usb_copy": 1}
    assert list(m.benign_indicators) == ["job_search", "usb_copy"]  # most frequent first
