"""FloorEngine behaviour beyond single rules: break queue, cancel, overrides, enforcement,
resync, duplicates, reordering, read models and the floor-level alert."""
from __future__ import annotations

from support.rules_kit import Floor, at, decisions, only_decision, violations

from wfm.decisions import Alert
from wfm.events import AgentStateEvent, CallEvent, ResyncEvent

AGENTS = ["1001", "1002", "1003", "1004", "1005", "1006"]


def staffed(n: int = 6, **floor) -> Floor:
    f = Floor(floor or None)
    for agent in AGENTS[:n]:
        f.shift(agent, "08:30", "16:00", meal="12:00")
    f.ready("08:25", *AGENTS[:n])
    return f


# --- break queue ---------------------------------------------------------------

def test_queued_request_is_granted_at_the_first_event_that_allows_it():
    f = staffed(5)
    f.state("09:00", "1005", "on_call")  # 4 idle
    f.state("09:00", "1004", "on_call")  # 3 idle
    d = only_decision(f.request("09:01", "1001", queue=True))
    assert (d.allowed, d.rule) == (False, "QUEUE_NEAR_FULL") and "position 1" in d.detail
    assert decisions(f.state("09:02", "1002", "on_call")) == []  # still blocked
    assert decisions(f.state("09:03", "1002", "ready")) == []  # 3 idle again: still blocked
    granted = only_decision(f.state("09:04", "1004", "ready"))  # 4 idle: granted now
    assert (granted.allowed, granted.agent, granted.ts) == (True, "1001", at("09:04"))
    assert "granted from the break queue after 3 min waiting" in granted.detail
    assert decisions(f.state("09:05", "1001", "short_break")) == []  # the grant starts it silently
    assert decisions(f.tick("09:06")) == []


def test_queue_grants_oldest_first_one_slot_at_a_time():
    f = staffed(6)
    f.state("09:00", "1005", "on_call")
    f.state("09:00", "1006", "on_call")
    f.state("09:00", "1004", "on_call")  # idle 3
    f.request("09:01", "1002", queue=True)
    f.request("09:02", "1001", queue=True)
    view = f.engine.floor_view(at("09:02"))
    assert [(q.agent, q.position) for q in view.break_queue] == [("1002", 1), ("1001", 2)]
    first = only_decision(f.state("09:03", "1004", "ready"))  # idle 4: one break fits
    assert first.agent == "1002"
    assert decisions(f.state("09:03:30", "1003", "on_call")) == []  # 1002 holds the slot
    f.state("09:04", "1002", "short_break")  # idle 2 (1001, 1004)
    assert decisions(f.state("09:05", "1005", "ready")) == []  # idle 3
    second = only_decision(f.state("09:06", "1006", "ready"))  # idle 4: now 1001
    assert second.agent == "1001"


def test_only_floor_refusals_queue_and_cancel_leaves_the_queue():
    f = staffed(5)
    d = only_decision(f.request("09:00", "1001", minutes=12, queue=True))
    assert d.rule == "SHORT_BREAK_TOO_LONG" and "queue" not in d.detail
    f.state("09:01", "1004", "on_call")
    f.state("09:01", "1005", "on_call")
    f.request("09:02", "1001", queue=True)
    assert f.engine.floor_view(at("09:02")).break_queue
    f.cancel("09:03", "1001")
    assert f.engine.floor_view(at("09:03")).break_queue == []
    assert decisions(f.state("09:04", "1005", "ready")) == []


def test_lunch_cover_refusal_queues_and_is_granted_when_cover_returns():
    f = staffed(2)
    f.state("12:00", "1002", "meal")
    d = only_decision(f.request("12:01", "1001", kind="meal", queue=True))
    assert d.rule == "LUNCH_COVER"
    granted = only_decision(f.state("12:20", "1002", "ready"))
    assert (granted.agent, granted.kind.value, granted.allowed) == ("1001", "meal", True)


def test_logged_out_agent_leaves_the_queue():
    f = staffed(3)
    f.request("09:00", "1001", queue=True)
    f.state("09:01", "1001", "logged_out")
    assert f.engine.floor_view(at("09:01")).break_queue == []


def test_break_queue_team_cap_holds_grants():
    f = staffed(6, break_queue={"enabled": True, "max_on_break_per_team": 1})
    f.state("09:00", "1006", "short_break")  # allowed: 6 idle
    f.state("09:00", "1005", "on_call")
    f.request("09:01", "1001", queue=True)  # idle 4 (1001-1004): allowed directly
    f.cancel("09:01", "1001")
    f.state("09:02", "1004", "on_call")  # idle 3
    f.request("09:03", "1002", queue=True)
    assert decisions(f.state("09:04", "1004", "ready")) == []  # floor allows, team cap holds
    granted = only_decision(f.state("09:05", "1006", "ready"))
    assert granted.agent == "1002"


# --- overrides --------------------------------------------------------------------

def test_override_allow_break_prints_an_allowed_decision_and_the_pause_is_silent():
    f = staffed(3)
    refused = only_decision(f.request("09:00", "1001"))
    assert refused.rule == "QUEUE_NEAR_FULL"
    d = only_decision(f.override("09:01", "1001", "allow_break", note="personal"))
    assert (d.allowed, d.rule, d.ts, d.kind.value) == (True, None, at("09:01"), "short")
    assert "supervisor sup" in d.detail and "personal" in d.detail
    assert decisions(f.state("09:02", "1001", "short_break")) == []


def test_override_allow_break_keeps_the_pending_kind():
    f = staffed(1)
    only_decision(f.request("12:05", "1001", kind="meal", queue=True))
    d = only_decision(f.override("12:06", "1001", "allow_break"))
    assert d.kind.value == "meal"
    assert f.engine.floor_view(at("12:06")).break_queue == []


def test_override_allow_break_on_a_refused_pause():
    f = staffed(2, enforcement={"warn_on_refused_pause": True, "unpause_on_refused_pause": True})
    f.state("09:00", "1001", "short_break")
    assert f.actions and not f.actions[0].paused
    d = only_decision(f.override("09:01", "1001", "allow_break"))
    assert d.allowed and d.kind.value == "short"


def test_override_end_break_ends_the_break_and_counts_its_minutes():
    f = staffed(6)
    f.state("09:00", "1001", "short_break")
    out = f.override("09:04", "1001", "end_break")
    assert out == []
    assert [(a.agent, a.paused) for a in f.actions] == [("1001", False)]
    budget = f.engine.agent_budget("1001", at("09:30"))
    assert budget.short_break_used_s == 240 and budget.on_break is None and budget.state.value == "ready"
    assert violations(f.tick("09:30")) == []  # the ended break cannot overrun


def test_override_end_break_reports_an_overrun_it_detects():
    f = staffed(6)
    f.state("09:00", "1001", "short_break")
    out = f.override("09:12", "1001", "end_break")
    assert [v.rule for v in violations(out)] == ["SHORT_BREAK_TOO_LONG"]


def test_allow_break_with_no_request_allows_a_short_break():
    f = staffed(2)
    d = only_decision(f.override("09:00", "1002", "allow_break"))
    assert d.kind.value == "short"


# --- resync, duplicates, reordering ------------------------------------------------

def test_resync_snapshot_replaces_source_state_and_keeps_budgets():
    f = Floor()
    for agent in ("a", "b"):
        f.shift(agent, "08:30", "16:00")
    f.feed(AgentStateEvent(ts=at("08:25"), agent="a", state="ready", source="ami"))
    f.feed(AgentStateEvent(ts=at("08:25"), agent="b", state="ready", source="ami"))
    f.feed(AgentStateEvent(ts=at("09:00"), agent="a", state="short_break", source="ami"))
    f.feed(ResyncEvent(ts=at("09:05"), source="ami", phase="begin"))
    out = f.feed(AgentStateEvent(ts=at("09:05"), agent="a", state="short_break", source="ami"))
    assert out == []  # unchanged: the break goes on, no new decision
    f.feed(ResyncEvent(ts=at("09:05"), source="ami", phase="end"))
    view = {a.agent: a for a in f.engine.floor_view(at("09:06")).agents}
    assert view["b"].state.value == "logged_out"  # missing from the snapshot
    assert view["a"].state.value == "short_break" and view["a"].short_break_used_s == 360


def test_exact_duplicate_is_dropped_but_a_real_sequence_is_kept():
    f = staffed(5)
    offered = CallEvent(ts=at("09:00"), queue="q", call_id="c1", event="offered")
    f.feed(offered)
    f.feed(offered)
    f.call("09:00:05", "q", "c1", "answered", wait_s=5)
    assert f.engine.floor_view(at("09:01")).queues[0].offered == 1
    assert f.engine.duplicates_dropped == 1
    f.state("09:02", "1001", "on_call")
    f.state("09:03", "1001", "ready")
    f.state("09:03:01", "1001", "on_call")
    assert {a.agent: a.state.value for a in f.engine.floor_view(at("09:04")).agents}["1001"] == "on_call"


def test_event_reordered_within_the_window_keeps_its_own_time():
    f = staffed(5)
    f.state("09:00", "1001", "short_break")
    f.state("09:09:59.800000", "1002", "on_call")
    f.state("09:09:59.500000", "1001", "ready")  # 0.3 s late: within reorder_window_s
    assert f.engine.late_events == 1
    assert f.engine.agent_budget("1001", at("09:20")).short_break_used_s == 599.5
    assert violations(f.tick("09:20")) == []


def test_event_behind_the_clock_is_applied_at_the_clock_time():
    f = staffed(5)
    f.state("09:10", "1001", "short_break")
    f.state("09:09", "1001", "ready")  # 60 s late
    assert f.engine.late_events == 1
    assert f.engine.agent_budget("1001", at("09:10")).short_break_used_s == 0


# --- read models and alert -----------------------------------------------------------

def test_floor_view_counts_and_service_level():
    f = staffed(4)
    f.state("09:00", "1001", "on_call")
    f.state("09:00", "1002", "short_break")
    f.call("09:00", "general", "c1", "offered")
    f.call("09:00:10", "general", "c1", "answered")  # 10 s: within 20 s
    f.call("09:01", "general", "c2", "offered")
    f.call("09:01:30", "general", "c2", "abandoned", wait_s=30)
    f.call("09:02", "general", "c3", "offered")
    f.call("09:02:40", "general", "c3", "answered", wait_s=40)
    view = f.engine.floor_view(at("09:05"))
    assert (view.idle_agents, view.agents_on_post, view.agents_on_short_break) == (2, 3, 1)
    assert view.occupancy == 1 / 3
    assert view.service_level_today == 1 / 3 and view.service_level_15m == 1 / 3
    assert view.asa_s == 25 and view.abandon_rate == 1 / 3
    assert view.queues[0].offered == 3 and view.queues[0].answered_in_target == 1
    assert view.idle_threshold == 3 and view.short_break_blocked
    later = f.engine.floor_view(at("09:30"))
    assert later.service_level_15m is None and later.service_level_today == 1 / 3


def test_agent_budget_preview_in_english_and_chinese():
    f = staffed(3)
    budget = f.engine.agent_budget("1001", at("09:00"))
    assert budget.short_break.rule == "QUEUE_NEAR_FULL" and "话务空闲数" in budget.short_break.detail_zh
    assert budget.meal.rule == "MEAL_NOT_IN_SLOT" and budget.meal.next_window == at("12:00")
    assert budget.short_break_left_s == 1800 and budget.meal_slot_end == at("12:30")
    assert f.outputs == [o for o in f.outputs]  # previews print nothing
    assert not [o for o in f.outputs if o.__class__.__name__ == "BreakDecision"]
    assert f.engine.known_agent("1001") and not f.engine.known_agent("nobody")


def test_queue_near_full_alert_once_per_occurrence():
    f = staffed(3)
    out = f.waiting("09:00", "general", 2)
    alerts = [o for o in out if isinstance(o, Alert)]
    assert [a.rule for a in alerts] == ["QUEUE_NEAR_FULL"] and "2 call(s) waiting" in alerts[0].detail
    assert not [o for o in f.waiting("09:01", "general", 3) if isinstance(o, Alert)]
    f.waiting("09:02", "general", 0)
    assert not [o for o in f.waiting("09:03", "general", 1) if isinstance(o, Alert)]  # flapping: no repeat
    f.waiting("09:04", "general", 0)
    assert [o.rule for o in f.waiting("09:19", "general", 1) if isinstance(o, Alert)] == ["QUEUE_NEAR_FULL"]


def test_alert_rearm_time_from_config():
    f = staffed(3, near_full_alert_rearm_min=0)
    f.waiting("09:00", "general", 2)
    f.waiting("09:02", "general", 0)
    assert [o.rule for o in f.waiting("09:03", "general", 1) if isinstance(o, Alert)] == ["QUEUE_NEAR_FULL"]


def test_no_alert_without_calls_waiting():
    f = staffed(2)
    assert not [o for o in f.outputs if isinstance(o, Alert)]
