"""The server-rendered SVG timeline: one bar per day, alerting days marked, escaped text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hrsignal.web.charts import timeline_svg

SVG = "{http://www.w3.org/2000/svg}"


def _day(day: str, events: int, baseline: float, alerting: bool = False) -> dict[str, object]:
    return {"day": day, "events": events, "baseline": baseline, "score": 0, "alerting": alerting}


def test_timeline_has_a_bar_per_day_a_baseline_and_round_axis() -> None:
    """Three days give three bars (one red), a baseline polyline with three points, y-axis
    labels 0..20 in steps of 5 for a peak of 12, and markers for the two dates."""
    days = [_day("2026-09-30", 3, 2.5), _day("2026-10-01", 12, 3.0, True), _day("2026-10-02", 1, 3)]
    svg = timeline_svg(
        days, chart_id="c", title="t", trigger_day="2026-10-01", last_day="2026-10-02"
    )
    root = ET.fromstring(str(svg))  # noqa: S314 - our own generated SVG
    bars = [r for r in root.iter(f"{SVG}rect") if "bar" in r.get("class", "")]
    assert len(bars) == 3 + 2  # + two legend swatches
    assert sum("alerting" in r.get("class", "") for r in bars) == 1 + 1
    (line,) = [p for p in root.iter(f"{SVG}polyline")]
    assert len(line.get("points", "").split()) == 3
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert [x for x in labels if x and x.isdigit()] == ["0", "5", "10", "15", "20"]
    assert "trigger 2026-10-01" in labels and "last day 2026-10-02" in labels


def test_timeline_escapes_text_and_handles_no_data() -> None:
    """A title with markup is escaped (the SVG still parses); no days give a sentence."""
    svg = timeline_svg([_day("2026-10-01", 1, 0)], chart_id="c", title="<script>x</script>")
    assert "<script>" not in str(svg)
    ET.fromstring(str(svg))  # noqa: S314 - our own generated SVG
    assert "No scored activity" in str(timeline_svg([], chart_id="c", title="t"))
