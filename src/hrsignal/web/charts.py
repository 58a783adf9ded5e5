"""Charts as inline SVG, rendered on the server: no script, no network, readable in any browser.

:func:`timeline_svg` draws a person's daily activity (bars: events matching the policy's
indicators, red on alerting days) against their own baseline (a line), with the HR trigger
and the last working day marked. Days are placed side by side in order (days without scored
activity, such as weekends, take no room). Colours come from the stylesheet via classes (the
Content-Security-Policy forbids inline styles). The SVG has a title and description for
screen readers, each bar a tooltip; the page shows the same numbers in a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH = 760
HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 18, 40


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``: four steps of 1, 2, 2.5 or 5 x 10^k."""
    if value <= 4:
        return 4.0  # events are whole numbers: never a step below 1
    raw = value / 4
    scale = 10 ** math.floor(math.log10(raw))
    step = next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= raw)
    return float(step * 4)


def timeline_svg(
    days: Sequence[dict[str, Any]],
    *,
    chart_id: str,
    title: str,
    trigger_day: str | None = None,
    last_day: str | None = None,
) -> Markup:
    """Bars of ``days[i]["events"]`` with a ``baseline`` line; markers for two dates."""
    if not days:
        return Markup('<p class="empty">No scored activity for this person yet.</p>')
    n = len(days)
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    top = _nice_max(max(max(d["events"] for d in days), max(d["baseline"] for d in days)))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.7)

    def x(i: int) -> float:
        return _LEFT + i * slot + slot / 2

    def y(v: float) -> float:
        return _TOP + plot_h - (v / top) * plot_h

    alerting = sum(1 for d in days if d["alerting"])
    desc = (
        f"{n} days from {days[0]['day']} to {days[-1]['day']}; "
        f"peak {max(d['events'] for d in days)} events a day; {alerting} alerting day(s)."
    )
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>',
    ]
    for k in range(5):  # grid lines and y labels
        value = top * k / 4
        yy = y(value)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="axis" x="{_LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{value:g}</text>"
        )
    for i, d in enumerate(days):
        h = plot_h * d["events"] / top
        cls = "bar alerting" if d["alerting"] else "bar"
        tip = (
            f"{d['day']}: {d['events']} events, own baseline {d['baseline']:g}, "
            f"score {d['score']}" + (" (alerting)" if d["alerting"] else "")
        )
        parts.append(
            f'<rect class="{cls}" x="{x(i) - bar_w / 2:.1f}" y="{_TOP + plot_h - h:.1f}" '
            f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(tip)}</title></rect>'
        )
    points = " ".join(f"{x(i):.1f},{y(d['baseline']):.1f}" for i, d in enumerate(days))
    parts.append(f'<polyline class="baseline" points="{points}"/>')
    labels = {0, n - 1} | {i for i, d in enumerate(days) if str(d["day"]).endswith("-01")}
    for i in sorted(labels):
        parts.append(
            f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - _BOTTOM + 16}" '
            f'text-anchor="middle">{escape(str(days[i]["day"])[5:])}</text>'
        )
    for when, label, cls in ((trigger_day, "trigger", "marker"), (last_day, "last day", "marker")):
        if not when:
            continue
        index = next((i for i, d in enumerate(days) if str(d["day"]) >= when), None)
        if index is None:
            continue
        xx = x(index) - slot / 2
        # label to the right of the line, or to its left near the right edge
        right = xx < WIDTH - 160
        parts.append(
            f'<line class="{cls}" x1="{xx:.1f}" x2="{xx:.1f}" y1="{_TOP}" '
            f'y2="{_TOP + plot_h}"/><text class="marker-label" '
            f'x="{xx + 3 if right else xx - 3:.1f}" y="{_TOP + 10}" '
            f'text-anchor="{"start" if right else "end"}">{escape(label)} {escape(when)}</text>'
        )
    parts.append(
        f'<g class="legend"><rect class="bar" x="{_LEFT}" y="{HEIGHT - 14}" width="10" '
        f'height="10"/><text class="axis" x="{_LEFT + 14}" y="{HEIGHT - 5}">events a day</text>'
        f'<rect class="bar alerting" x="{_LEFT + 110}" y="{HEIGHT - 14}" width="10" '
        f'height="10"/><text class="axis" x="{_LEFT + 124}" y="{HEIGHT - 5}">alerting day'
        f'</text><line class="baseline" x1="{_LEFT + 220}" x2="{_LEFT + 240}" '
        f'y1="{HEIGHT - 9}" y2="{HEIGHT - 9}"/><text class="axis" x="{_LEFT + 246}" '
        f'y="{HEIGHT - 5}">own baseline</text></g>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
