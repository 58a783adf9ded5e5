"""Templates render sparse data (an alert without trigger, peers or baselines) without error."""

from __future__ import annotations

from types import SimpleNamespace

from markupsafe import Markup

from hrsignal.web.render import _env


def test_alert_page_renders_an_alert_with_missing_parts() -> None:
    """No trigger, no peer quantile, None peak and baseline: dashes and 'no peer group', and
    a user name with markup is escaped."""
    viewer = SimpleNamespace(
        name="a", role="analyst", csrf_token="t", may_reveal=False, is_admin=False, sees_risk=True
    )
    alert = {
        "id": "A-1",
        "severity": "low",
        "user": "<b>u-x</b>",
        "policy": "p",
        "score": 5,
        "status": "needs_review",
        "days": 1,
        "first_day": "2026-01-01",
        "last_day": "2026-01-01",
        "window": None,
        "trigger": None,
        "indicators": {
            "x": {
                "title": None,
                "events": 3,
                "days": 1,
                "max_daily": None,
                "baseline_at_peak": None,
            }
        },
        "boosters": {},
        "peers": {"user": 3, "peer_quantile": None, "peers": 0, "department": None},
        "sequences": [],
        "events": [],
    }
    html = _env.get_template("alert.html").render(
        request=None,
        viewer=viewer,
        path="/alerts/A-1",
        alert=alert,
        days=[],
        chart=Markup(""),
        history=[],
        revealed=False,
        message=None,
    )
    assert "no peer group to compare with" in html
    assert '<td class="num">–</td>' in html
    assert "&lt;b&gt;u-x&lt;/b&gt;" in html and "<b>u-x</b>" not in html
