"""Plain-text rendering of an alert's explanation (``hrsignal risk alert ID``).

What an analyst needs to check an alert by hand: the trigger, each indicator with its events,
peak day and the user's own baseline, the boosters (with the department's figures for
cumulative exfiltration), the sequences found, a small activity timeline with the trigger and
last working day marked, and the raw events.
"""

from __future__ import annotations

from typing import Any

_BARS = " ▁▂▃▄▅▆▇█"


def render_alert(alert: dict[str, Any]) -> str:
    """The alert as readable text."""
    lines = [
        f"{alert['id']}  {alert['severity'].upper()} (score {alert['score']})  "
        f"{alert['policy']}  status: {alert['status']}",
        f"user: {alert['user']}   alerting days: {alert['days']} "
        f"({alert['first_day']} .. {alert['last_day']})",
    ]
    trig = alert.get("trigger") or {}
    if trig:
        dates = ", ".join(
            f"{k} {str(trig[k])[:10]}"
            for k in ("ResignationDate", "LastWorkingDate", "EffectiveDate")
            if trig.get(k)
        )
        extra = ", ".join(
            f"{k} {trig[k]}" for k in ("Rating", "OldLevel", "NewLevel") if trig.get(k)
        )
        lines.append(f"trigger: {trig.get('scenario')} ({dates}{', ' + extra if extra else ''})")
    if alert.get("window"):
        lines.append(f"in scope: {alert['window']['start']} .. {alert['window']['end']}")
    lines.append("")
    lines.append("indicators (alerting days)          events  days  peak/day  baseline/day")
    for _ident, v in sorted(alert["indicators"].items(), key=lambda kv: -kv[1]["events"]):
        base = v.get("baseline_at_peak")
        lines.append(
            f"  {v['title'][:34]:34} {v['events']:7} {v['days']:5} {v['max_daily']:9} "
            f"{base if base is not None else '-':>13}"
        )
    boosters = alert.get("boosters") or {}
    if boosters:
        lines.append("")
        lines.append("boosters:")
        for name, days in boosters.items():
            lines.append(
                f"  {name.replace('_', ' ')} on {len(days)} day(s): "
                f"{', '.join(days[:6])}{' ...' if len(days) > 6 else ''}"
            )
    peers = alert.get("peers")
    if peers:
        lines.append(
            f"  cumulative exfiltration at peak: user {peers.get('user')} events over the "
            f"window vs department '{peers.get('department') or '(none)'}' quantile "
            f"{_num(peers.get('peer_quantile'))} ({peers.get('peers')} active peers)"
        )
    if alert.get("sequences"):
        lines.append("")
        lines.append("sequences:")
        for s in alert["sequences"]:
            lines.append(
                f"  {s['day']}: {s['id']} x{s['count']} "
                f"(first {s['first_start']} -> {s['first_end']})"
            )
    timeline = alert.get("timeline") or []
    if timeline:
        lines.append("")
        lines.append(_timeline(timeline, trig))
    events = alert.get("events") or []
    if events:
        lines.append("")
        lines.append(f"events (first {len(events)}):")
        for e in events:
            lines.append(
                f"  {e['time']}  {e['activity']:28} {str(e['object'] or '')[:60]}"
                + (f" -> {str(e['target'])[:40]}" if e.get("target") else "")
            )
    return "\n".join(lines)


def _num(v: Any) -> str:
    return "-" if v is None else f"{float(v):.1f}"


def _timeline(days: list[dict[str, Any]], trig: dict[str, Any]) -> str:
    """One character per scored day, height = score; T = trigger day, L = last working day."""
    top = max(d["score"] for d in days) or 1
    bars = "".join(_BARS[min(8, round(8 * d["score"] / top))] for d in days)
    marks = ""
    t_day = str(trig.get("ResignationDate") or trig.get("EffectiveDate") or "")[:10]
    l_day = str(trig.get("LastWorkingDate") or "")[:10]
    for d in days:
        marks += "T" if d["day"] == t_day else "L" if d["day"] == l_day else " "
    return (
        f"activity score by day ({days[0]['day']} .. {days[-1]['day']}, days with "
        f"activity only, max {top}):\n  {bars}\n  {marks}"
    )
