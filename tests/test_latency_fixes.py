"""Live-pipeline hardening: floor-zone alert times in the view, the runtime's tick never
running past queued feed events, and the cheap incremental floor data for WebSocket pushes."""
from __future__ import annotations

from datetime import timedelta, timezone

from test_rules_kit import Floor, at

from wfm.events import AgentStateEvent, BreakRequestEvent

AGENTS = ["1001", "1002", "1003", "1004", "1005", "1006"]


def staffed(n: int = 6) -> Floor:
    f = Floor()
    for agent in AGENTS[:n]:
        f.shift(agent, "08:30", "16:00", meal="12:00")
    f.ready("08:25", *AGENTS[:n])
    return f


# --- alerts in the floor view are in the floor zone ---------------------------------------------

def test_alert_from_utc_events_is_shown_in_the_floor_zone():
    f = staffed()
    utc = timezone.utc
    f.feed(BreakRequestEvent(ts=at("09:00").astimezone(utc), agent="1001", kind="short"))
    f.feed(AgentStateEvent(ts=at("09:00").astimezone(utc), agent="1001", state="short_break"))
    result = f.engine.tick(at("09:40").astimezone(utc))  # far past the short-break limit
    assert result.outputs and result.outputs[0].ts.utcoffset() == timedelta(0)  # the §2 output keeps its zone
    view = f.engine.floor_view(at("09:41"))
    assert view.alerts, "the overrun is on the floor view"
    for alert in view.alerts:
        assert alert.ts.utcoffset() == timedelta(hours=8), alert
    assert view.alerts[0].ts == result.outputs[0].ts  # the same instant


def test_alert_already_in_the_floor_zone_is_unchanged():
    f = staffed()
    f.request("09:00", "1001")
    f.state("09:00", "1001", "short_break")
    out = f.engine.tick(at("09:40")).outputs
    view = f.engine.floor_view(at("09:41"))
    assert view.alerts[0].ts == out[0].ts and view.alerts[0].ts.isoformat().endswith("+08:00")
