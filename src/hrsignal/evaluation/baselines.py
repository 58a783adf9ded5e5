"""Two baselines scored on the same derived input as hrsignal's policy.

Both read the user-day features of the events the risk engine imported (so they see exactly the
activity the policy sees) and the same derived resignations:

* **removable-media rule**: a leaver is alerted on a day on or after the resignation date (up to
  the last working day plus the policy's after-departure days) when their removable-media copies
  exceed their own median plus 3 median absolute deviations over their active days in the 60
  days before the resignation date;
* **isolation forest** (scikit-learn) over every user-day's features (log-scaled counts), fitted
  unsupervised on all users; the top 1% most isolated user-days are alerting days. A leaver is
  alerted from an alerting day inside the policy's window (past-activity days before the
  resignation to the after-departure days); any other user from an alerting day at any time.
"""

# ruff: noqa: S608 - SQL is built from constants only

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from hrsignal.evaluation.detect import Detection, UserAlert
from hrsignal.risk.store import RiskStore

#: feature name -> SQL aggregate over one user's events of one day.
FEATURES: dict[str, str] = {
    "logons": "count(*) FILTER (activity = 'Logon')",
    "after_hours_logons": (
        'count(*) FILTER (activity = \'Logon\' AND (hour("time") < 7 OR hour("time") >= 20))'
    ),
    "usb_mounts": "count(*) FILTER (activity = 'RemovableMediaMounted')",
    "usb_copies": "count(*) FILTER (activity = 'FileCopiedToRemovableMedia')",
    "emails": "count(*) FILTER (activity = 'EmailSent')",
    "external_emails": "count(*) FILTER (activity = 'EmailSent' AND external)",
    "external_attachments": (
        "count(*) FILTER (activity = 'EmailSent' AND external AND attachments > 0)"
    ),
    "job_search": "count(*) FILTER (url_category = 'job_search')",
    "storage_sites": "count(*) FILTER (url_category IN ('cloud_storage', 'leak_site'))",
    "uploads": "count(*) FILTER (activity = 'FileUploadedToCloud')",
}
RULE_BASELINE_DAYS = 60
RULE_MADS = 3.0
FOREST_DAY_QUANTILE = 0.99


@dataclass(slots=True)
class UserDays:
    """Per user, the days with any activity (sorted) and their feature matrix."""

    days: dict[str, np.ndarray]  # user -> datetime64[D] array
    features: dict[str, np.ndarray]  # user -> (n_days, n_features) float array


@dataclass(frozen=True, slots=True)
class Window:
    """A leaver's derived dates, by the engine's user key."""

    user: str
    resigned: dt.date
    last_day: dt.date


def user_days(store: RiskStore) -> UserDays:
    """Feature counts of every user-day in the store (one pass over the imported events)."""
    cols = ", ".join(f"{sql} AS {name}" for name, sql in FEATURES.items())
    with store.connect() as con:
        data = con.execute(
            f'SELECT "user", day, {cols} FROM events GROUP BY "user", day ORDER BY "user", day'
        ).fetchnumpy()
    users = np.asarray(data["user"]).astype(str)
    days = np.asarray(data["day"]).astype("datetime64[D]")
    matrix = np.column_stack([np.asarray(data[n], dtype=float) for n in FEATURES])
    out = UserDays(days={}, features={})
    if users.size == 0:
        return out
    bounds = np.flatnonzero(users[1:] != users[:-1]) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, users.size], strict=True):
        out.days[str(users[lo])] = days[lo:hi]
        out.features[str(users[lo])] = matrix[lo:hi]
    return out


def _d(day: dt.date) -> np.datetime64:
    return np.datetime64(day, "D")


def removable_media_rule(data: UserDays, leavers: list[Window], after_days: int) -> Detection:
    """Copies after resignation above the user's own 60-day median + 3 MAD."""
    col = list(FEATURES).index("usb_copies")
    alerts: list[UserAlert] = []
    alerting_days = 0
    for w in leavers:
        days = data.days.get(w.user)
        if days is None:
            continue
        copies = data.features[w.user][:, col]
        r = _d(w.resigned)
        base = copies[(days >= r - RULE_BASELINE_DAYS) & (days < r)]
        median = float(np.median(base)) if base.size else 0.0
        mad = float(np.median(np.abs(base - median))) if base.size else 0.0
        limit = median + RULE_MADS * mad
        after = (days >= r) & (days <= _d(w.last_day) + after_days) & (copies > limit)
        if after.any():
            alerting_days += int(after.sum())
            first = days[after][0].astype(dt.date)
            excess = float((copies[after] - limit).max())
            alerts.append(UserAlert(w.user, excess, first, int(after.sum())))
    alerts.sort(key=lambda a: (-a.score, a.first_day, a.user))
    return Detection(alerts=alerts, alert_count=len(alerts), alerting_days=alerting_days)


def isolation_forest(
    data: UserDays, leavers: list[Window], *, past_days: int, after_days: int, seed: int
) -> Detection:
    """An unsupervised isolation forest over all user-days; see the module docstring."""
    from sklearn.ensemble import IsolationForest  # heavy import, only when evaluating

    users = list(data.days)
    if not users:
        return Detection(alerts=[], alert_count=0, alerting_days=0)
    matrix = np.log1p(np.vstack([data.features[u] for u in users]))
    forest = IsolationForest(n_estimators=200, random_state=seed, n_jobs=1)
    forest.fit(matrix)
    anomaly = -forest.score_samples(matrix)  # higher = more isolated
    limit = float(np.quantile(anomaly, FOREST_DAY_QUANTILE))
    windows = {w.user: w for w in leavers}
    alerts: list[UserAlert] = []
    alerting_days = 0
    offset = 0
    for user in users:
        days = data.days[user]
        scores = anomaly[offset : offset + days.size]
        offset += days.size
        w = windows.get(user)
        inside = np.ones(days.size, dtype=bool)
        if w is not None:
            inside = (days >= _d(w.resigned) - past_days) & (days <= _d(w.last_day) + after_days)
        hot = inside & (scores > limit)
        if hot.any():
            alerting_days += int(hot.sum())
            first = days[hot][0].astype(dt.date)
            alerts.append(UserAlert(user, float(scores[hot].max()), first, int(hot.sum())))
    alerts.sort(key=lambda a: (-a.score, a.first_day, a.user))
    return Detection(alerts=alerts, alert_count=len(alerts), alerting_days=alerting_days)
