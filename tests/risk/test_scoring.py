"""Scoring: every indicator's thresholds, the window boundaries, each booster, sequences, and
the alerting threshold, on real events imported into a real store."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hrsignal.risk.policy import Indicator, Policy, available_policies, parse_policy
from hrsignal.risk.store import RiskStore
from tests.risk.conftest import (
    ev,
    import_events,
    many,
    policy,
    resignation,
    run,
    set_hr,
    template_doc,
    user_days,
)

U = "ann.lee@contoso.com"


def matching(ind: Indicator, user: str, when: str) -> dict[str, Any]:
    """An event that matches ``ind``'s conditions."""
    row: dict[str, Any] = {"time": when, "user": user}
    for c in ind.where:
        v = c.values[0]
        row[c.field] = v + 1 if c.op == "gt" else v
    return row


def _cases() -> list[tuple[str, str]]:
    return [(p.name, i.id) for p in available_policies().values() for i in p.indicators]


@pytest.mark.parametrize(("policy_name", "indicator_id"), _cases())
def test_indicator_levels_at_each_threshold(
    store: RiskStore, policy_name: str, indicator_id: str
) -> None:
    """A daily count one below a threshold stays at the lower level; the threshold reaches it."""
    pol = available_policies()[policy_name]
    ind = pol.indicator(indicator_id)
    low, med, high = ind.thresholds
    counts = [low - 1, low, med - 1, med, high - 1, high]
    expected = [0, 1, 1 if med - 1 >= low else 0, 2, 2 if high - 1 >= med else 1, 3]
    first = dt.date(2026, 9, 1)
    rows = []
    for k, n in enumerate(counts):
        day = first + dt.timedelta(days=2 * k)
        base = dt.datetime.combine(day, dt.time(8))
        rows += [
            matching(ind, U, (base + dt.timedelta(seconds=20 * j)).isoformat(sep=" "))
            for j in range(n)
        ]
    import_events(store, rows)
    trigger = next(t for t in pol.triggers if t.rating_at_most is None and not t.level_downgrade)
    if trigger.scenario == "resignations":
        set_hr(store, [resignation(U, "2026-09-10", "2026-09-20")])
    else:
        set_hr(
            store,
            [
                {
                    "scenario": trigger.scenario,
                    "EmailAddress": U,
                    "EffectiveDate": "2026-09-10T00:00:00",
                }
            ],
        )
    run(store, pol)
    days = user_days(store, policy_name)
    for k, (n, level) in enumerate(zip(counts, expected, strict=True)):
        day = str(first + dt.timedelta(days=2 * k))
        if n == 0:
            assert (U, day) not in days
            continue
        got = days[(U, day)]["indicators"][indicator_id]
        assert (got["count"], got["level"]) == (n, level), day


@pytest.mark.parametrize(
    ("resigned", "last_day", "event_days", "scored"),
    [
        # default windows: 90 days before the resignation .. 30 days after (LWD + 7 earlier)
        (
            "2026-09-10",
            "2026-09-20",
            ["2026-06-11", "2026-06-12", "2026-10-10", "2026-10-11"],
            ["2026-06-12", "2026-10-10"],
        ),
        # a later last working day extends the window to LWD + 7 days
        (
            "2026-09-10",
            "2026-10-30",
            ["2026-10-11", "2026-11-06", "2026-11-07"],
            ["2026-10-11", "2026-11-06"],
        ),
    ],
)
def test_window_boundaries(
    store: RiskStore, resigned: str, last_day: str, event_days: list[str], scored: list[str]
) -> None:
    """The day before the window opens and the day after it closes are not scored; the first
    and the last day are."""
    rows = [e for d in event_days for e in many(U, d, "FileCopiedToRemovableMedia", 5)]
    import_events(store, rows)
    set_hr(store, [resignation(U, resigned, last_day)])
    run(store, policy())
    assert sorted(d for _, d in user_days(store)) == scored


def test_windows_follow_the_policy_settings(store: RiskStore) -> None:
    """activation_days / past_activity_days / after_last_working_days come from the policy."""
    import_events(
        store,
        [
            e
            for d in ["2026-09-04", "2026-09-05", "2026-09-15", "2026-09-16"]
            for e in many(U, d, "FileCopiedToRemovableMedia", 5)
        ],
    )
    set_hr(store, [resignation(U, "2026-09-10", "2026-09-12")])
    pol = policy(
        windows={"activation_days": 5, "past_activity_days": 5, "after_last_working_days": 0}
    )
    run(store, pol)
    assert sorted(d for _, d in user_days(store)) == ["2026-09-05", "2026-09-15"]


def test_users_without_a_trigger_are_not_scored(store: RiskStore) -> None:
    """Activity of a user with no HR trigger is never scored."""
    import_events(
        store,
        many("other@contoso.com", "2026-09-12", "FileCopiedToRemovableMedia", 50)
        + many(U, "2026-09-12", "FilePrinted", 1),
    )
    set_hr(store, [resignation(U, "2026-09-10", "2026-09-20")])
    run(store, policy())
    assert {u for u, _ in user_days(store)} == {U}


def _history(user: str, first: dt.date, days: int) -> list[dict[str, Any]]:
    """One USB copy a day on ``days`` days from ``first``: enough history for a baseline."""
    return [
        e
        for k in range(days)
        for e in many(user, str(first + dt.timedelta(days=k)), "FileCopiedToRemovableMedia", 1)
    ]


def test_baseline_window_is_the_30_days_before(store: RiskStore) -> None:
    """Activity 31 days before does not count in the baseline; 30 days before does; a user
    seen on fewer than 7 days of the window has no baseline and gets no booster."""
    a, b, c = "a@contoso.com", "b@contoso.com", "c@contoso.com"
    day = "2026-09-15"
    hist = dt.date(2026, 8, 26)
    import_events(
        store,
        _history(a, hist, 7)
        + _history(b, hist, 7)
        + _history(c, hist, 6)
        + many(a, "2026-08-15", "FileCopiedToRemovableMedia", 100)
        + many(b, "2026-08-16", "FileCopiedToRemovableMedia", 100)
        + [e for u in (a, b, c) for e in many(u, day, "FileCopiedToRemovableMedia", 5)],
    )
    set_hr(store, [resignation(u, "2026-09-10", "2026-09-20") for u in (a, b, c)])
    run(store, policy())
    days = user_days(store)
    assert days[(a, day)]["indicators"]["usb_copy"]["baseline"] == pytest.approx(7 / 30, abs=1e-3)
    assert days[(a, day)]["boosters"]["above_baseline"] == ["usb_copy"]
    assert days[(b, day)]["indicators"]["usb_copy"]["baseline"] == pytest.approx(107 / 30, abs=1e-3)
    assert days[(b, day)]["boosters"]["above_baseline"] == []
    assert days[(a, day)]["score"] == days[(b, day)]["score"] + 10
    assert days[(c, day)]["boosters"]["above_baseline"] == []  # 6 days of history: too few


def test_alert_needs_the_minimum_score(store: RiskStore) -> None:
    """A low level alone (10 points) does not alert; low plus the baseline booster (20) does."""
    a, b = "a@contoso.com", "b@contoso.com"
    hist = dt.date(2026, 8, 26)
    import_events(
        store,
        _history(a, hist, 7)
        + _history(b, hist, 7)
        + many(a, "2026-09-15", "FileCopiedToRemovableMedia", 3)
        + many(b, "2026-09-15", "FileCopiedToRemovableMedia", 4),
    )
    set_hr(
        store,
        [resignation(a, "2026-09-10", "2026-09-20"), resignation(b, "2026-09-10", "2026-09-20")],
    )
    run(store, policy())
    days = user_days(store)
    assert (days[(a, "2026-09-15")]["score"], days[(a, "2026-09-15")]["alerting"]) == (10, False)
    assert (days[(b, "2026-09-15")]["score"], days[(b, "2026-09-15")]["alerting"]) == (20, True)


def test_cumulative_exfiltration_against_department_peers(store: RiskStore) -> None:
    """Exfiltration over 7 days far above the department's 90th percentile boosts; the same
    volume in a department where everyone does it does not; below min_events never does."""
    day = dt.date(2026, 9, 15)
    rows: list[dict[str, Any]] = []
    departments: dict[str, str] = {}
    for k in range(10):  # sales peers: one USB copy a day
        peer = f"sales{k}@contoso.com"
        departments[peer] = "Sales"
        for d in range(7):
            rows += many(peer, str(day - dt.timedelta(days=d)), "FileCopiedToRemovableMedia", 1)
    for k in range(5):  # engineering: everyone copies 30 a day
        eng = f"eng{k}@contoso.com"
        departments[eng] = "Engineering"
        rows += many(eng, str(day), "FileCopiedToRemovableMedia", 30)
    departments["thief@contoso.com"] = "Sales"
    rows += many("thief@contoso.com", str(day), "FileCopiedToRemovableMedia", 30)
    import_events(store, rows)
    set_hr(
        store,
        [
            resignation(u, "2026-09-10", "2026-09-20")
            for u in ("thief@contoso.com", "eng0@contoso.com", "sales0@contoso.com")
        ],
        departments=departments,
    )
    run(store, policy())
    days = user_days(store)
    cum = {
        u: days[(u, str(day))]["boosters"]["cumulative_exfiltration"]
        for u in ("thief@contoso.com", "eng0@contoso.com", "sales0@contoso.com")
    }
    assert cum["thief@contoso.com"]["hit"] is True
    assert cum["thief@contoso.com"]["user"] == 30
    assert cum["thief@contoso.com"]["peer_quantile"] == pytest.approx(7.0)
    assert cum["thief@contoso.com"]["department"] == "sales"
    assert cum["eng0@contoso.com"]["hit"] is False
    assert cum["eng0@contoso.com"]["peer_quantile"] == pytest.approx(30.0)
    assert cum["sales0@contoso.com"] == {**cum["sales0@contoso.com"], "hit": False, "user": 7}


def test_priority_content_and_priority_users(store: RiskStore) -> None:
    """Labelled files exfiltrated add the priority-content booster; a priority user adds theirs."""
    a, b = "a@contoso.com", "b@contoso.com"
    import_events(
        store,
        many(a, "2026-09-15", "FileCopiedToRemovableMedia", 3, sensitivity="Confidential")
        + many(b, "2026-09-15", "FileCopiedToRemovableMedia", 3),
    )
    set_hr(
        store,
        [resignation(a, "2026-09-10", "2026-09-20"), resignation(b, "2026-09-10", "2026-09-20")],
    )
    run(store, policy(priority_users={"users": [b], "points": 12}))
    days = user_days(store)
    da, db = days[(a, "2026-09-15")], days[(b, "2026-09-15")]
    assert da["boosters"]["priority_content"] == {"hit": True, "events": 3}
    assert db["boosters"]["priority_content"] == {"hit": False, "events": 0}
    assert (da["boosters"]["priority_user"], db["boosters"]["priority_user"]) == (False, True)
    assert (da["score"], db["score"]) == (20, 22)


def _one_chain_policy(min_chains: int = 1) -> Policy:
    """The theft template with the four-step sequence's min_chains set."""
    doc = template_doc()
    doc["sequences"][0]["min_chains"] = min_chains
    pol, problems = parse_policy(doc, file="test")
    assert pol is not None, problems
    return pol


def _chain(user: str, times: list[str], steps: list[str]) -> list[dict[str, Any]]:
    return [ev(user, t, s) for t, s in zip(times, steps, strict=True)]


STEPS = ["FileDownloaded", "FileArchived", "FileCopiedToRemovableMedia", "FileDeleted"]


@pytest.mark.parametrize(
    ("times", "found_on"),
    [
        (
            [
                "2026-09-14 10:00:00",
                "2026-09-14 11:00:00",
                "2026-09-15 09:00:00",
                "2026-09-15 10:00:00",
            ],
            "2026-09-15",
        ),
        # exactly 72 hours from the download to the delete: still a sequence
        (
            [
                "2026-09-14 10:00:00",
                "2026-09-15 11:00:00",
                "2026-09-16 09:00:00",
                "2026-09-17 10:00:00",
            ],
            "2026-09-17",
        ),
        # 72 hours and one second: too slow
        (
            [
                "2026-09-14 10:00:00",
                "2026-09-15 11:00:00",
                "2026-09-16 09:00:00",
                "2026-09-17 10:00:01",
            ],
            None,
        ),
        # delete before the exfiltration: out of order
        (
            [
                "2026-09-14 10:00:00",
                "2026-09-14 11:00:00",
                "2026-09-14 13:00:00",
                "2026-09-14 12:00:00",
            ],
            None,
        ),
        # archive at the very second of the download: steps must be strictly ordered
        (
            [
                "2026-09-14 10:00:00",
                "2026-09-14 10:00:00",
                "2026-09-14 11:00:00",
                "2026-09-14 12:00:00",
            ],
            None,
        ),
    ],
)
def test_sequence_download_obfuscate_exfiltrate_delete(
    store: RiskStore, times: list[str], found_on: str | None
) -> None:
    """The four-step sequence is found, in order, within 72 hours, on the day it completes."""
    import_events(store, _chain(U, times, STEPS))
    set_hr(store, [resignation(U, "2026-09-10", "2026-09-20")])
    run(store, _one_chain_policy())
    found = {d: v["sequences"] for (_, d), v in user_days(store).items() if v["sequences"]}
    if found_on is None:
        assert found == {}
    else:
        assert list(found) == [found_on]
        (seq,) = found[found_on]
        assert seq["id"] == "download-obfuscate-exfiltrate-delete"
        assert seq["count"] == 1
        assert seq["first_start"] == times[0]
        assert seq["first_end"] == times[3]


def test_sequence_needs_min_chains_in_a_day(store: RiskStore) -> None:
    """The template counts the four-step sequence only when it completes at least 10 times a
    day (one-off chains are ordinary work); 9 completions are not enough, 10 are."""
    rows = []
    for user, n in (("four@contoso.com", 9), ("five@contoso.com", 10)):
        for k in range(n):
            times = [f"2026-09-15 {8 + k:02d}:0{m}:00" for m in range(4)]
            rows += _chain(user, times, STEPS)
    import_events(store, rows)
    set_hr(
        store,
        [
            resignation(u, "2026-09-10", "2026-09-20")
            for u in ("four@contoso.com", "five@contoso.com")
        ],
    )
    assert policy().sequences[0].min_chains == 10
    run(store, policy())
    days = user_days(store)
    assert days[("four@contoso.com", "2026-09-15")]["sequences"] == []
    (seq,) = days[("five@contoso.com", "2026-09-15")]["sequences"]
    assert seq["count"] == 10


def test_label_downgrade_then_exfiltrate_sequence(store: RiskStore) -> None:
    """Downgrading a label then exfiltrating within 24 hours is a sequence worth its points."""
    import_events(
        store,
        [
            ev(U, "2026-09-15 09:00:00", "SensitivityLabelDowngraded"),
            ev(U, "2026-09-15 09:30:00", "FileUploadedToCloud"),
            ev("b@contoso.com", "2026-09-15 09:30:00", "FileUploadedToCloud"),
            ev("b@contoso.com", "2026-09-15 10:00:00", "SensitivityLabelDowngraded"),
        ],
    )
    set_hr(
        store,
        [
            resignation(U, "2026-09-10", "2026-09-20"),
            resignation("b@contoso.com", "2026-09-10", "2026-09-20"),
        ],
    )
    run(store, policy())
    days = user_days(store)
    assert [s["id"] for s in days[(U, "2026-09-15")]["sequences"]] == ["label-downgrade-exfiltrate"]
    assert days[("b@contoso.com", "2026-09-15")]["sequences"] == []
    assert days[(U, "2026-09-15")]["score"] == days[("b@contoso.com", "2026-09-15")]["score"] + 15


def test_risky_user_triggers_filter_ratings_and_downgrades(store: RiskStore) -> None:
    """Data leaks by risky users: a poor rating or a demotion triggers; a good one does not."""
    users = ["poor@c.com", "good@c.com", "demoted@c.com", "promoted@c.com", "pip@c.com"]
    import_events(store, [e for u in users for e in many(u, "2026-09-15", "FilePrinted", 1)])
    eff = "2026-09-10T00:00:00"
    set_hr(
        store,
        [
            {
                "scenario": "performance-reviews",
                "EmailAddress": "poor@c.com",
                "EffectiveDate": eff,
                "Rating": "1 Below expectations",
            },
            {
                "scenario": "performance-reviews",
                "EmailAddress": "good@c.com",
                "EffectiveDate": eff,
                "Rating": "5 Exceptional",
            },
            {
                "scenario": "job-level-changes",
                "EmailAddress": "demoted@c.com",
                "EffectiveDate": eff,
                "OldLevel": "Level 61 - Sr. Manager",
                "NewLevel": "Level 60 - Manager",
            },
            {
                "scenario": "job-level-changes",
                "EmailAddress": "promoted@c.com",
                "EffectiveDate": eff,
                "OldLevel": "Level 58",
                "NewLevel": "Level 59",
            },
            {
                "scenario": "performance-improvement-plans",
                "EmailAddress": "pip@c.com",
                "EffectiveDate": eff,
            },
        ],
    )
    run(store, policy("data-leaks-risky-users"))
    assert {u for u, _ in user_days(store, "data-leaks-risky-users")} == {
        "poor@c.com",
        "demoted@c.com",
        "pip@c.com",
    }
