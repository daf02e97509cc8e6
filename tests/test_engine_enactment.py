"""The engine asks the PBX to enact its decisions (docs/interfaces.md §2: PBX actions are records,
not decisions): a pause at every allowed break, an unpause at every end, nothing for a refusal."""
from __future__ import annotations

from support.rules_kit import Floor, at, decisions, only_decision, violations

from wfm.engine import ActionPurpose
from wfm.events import BreakKind

AGENTS = ["1001", "1002", "1003", "1004", "1005", "1006"]


def staffed(n: int = 6, floor: dict | None = None, **sections) -> Floor:
    f = Floor(floor, **sections)
    for agent in AGENTS[:n]:
        f.shift(agent, "08:30", "16:00", meal="12:00")
    f.ready("08:25", *AGENTS[:n])
    return f


def pauses(f: Floor) -> list[tuple[str, bool, str | None, str]]:
    return [(a.agent, a.paused, a.reason, a.purpose.value) for a in f.actions]


def test_an_allowed_request_pauses_with_the_kinds_reason_and_a_refused_one_sends_nothing():
    f = staffed(6)
    d = only_decision(f.request("09:00", "1001"))
    assert d.allowed
    assert pauses(f) == [("1001", True, "小休", "enact")]
    assert f.actions[0].kind is BreakKind.SHORT and f.actions[0].decided_at == at("09:00")
    f.actions.clear()
    f.state("09:00:10", "1002", "on_call")
    f.state("09:00:10", "1003", "on_call")  # 4 ready, 1001's allowed place held: 3 idle, refused
    refused = only_decision(f.request("09:00:20", "1004"))
    assert not refused.allowed and f.actions == []


def test_meal_reason_and_a_site_reason_from_the_config():
    f = staffed(6, pbx={"break_reasons": {"short": "Break", "meal": "Lunch"}})
    assert only_decision(f.request("12:00", "1001", kind="meal")).allowed
    assert pauses(f) == [("1001", True, "Lunch", "enact")]


def test_the_pause_is_not_the_break_the_pbx_state_is():
    f = staffed(6)
    f.request("09:00", "1001")
    assert f.engine.agent_budget("1001", at("09:01")).on_break is None  # asked, not yet paused
    assert decisions(f.state("09:00:01", "1001", "short_break", reason="小休")) == []  # confirmed: starts silently
    assert f.engine.agent_budget("1001", at("09:01")).on_break is BreakKind.SHORT


def test_a_queue_grant_pauses_at_the_grant():
    f = staffed(5)
    f.state("09:00", "1005", "on_call")
    f.state("09:00", "1004", "on_call")  # idle 3
    only_decision(f.request("09:01", "1001", queue=True))
    assert f.actions == []
    granted = only_decision(f.state("09:04", "1004", "ready"))
    assert granted.allowed
    assert pauses(f) == [("1001", True, "小休", "enact")]
    assert f.actions[0].decided_at == at("09:04")


def test_a_supervisor_allow_pauses_and_an_allow_of_a_running_break_does_not():
    f = staffed(6)
    f.override("09:00", "1001", "allow_break")
    assert pauses(f) == [("1001", True, "小休", "enact")]
    f.actions.clear()
    f.state("09:05", "1002", "short_break", reason="小休")  # paused on the phone, judged (allowed)
    f.override("09:06", "1002", "allow_break")  # already on it: nothing to pause
    assert f.actions == []


def test_the_agent_ending_a_break_unpauses_and_the_pbx_ends_it():
    f = staffed(6)
    f.request("09:00", "1001")
    f.state("09:00:01", "1001", "short_break", reason="小休")
    f.actions.clear()
    f.cancel("09:04", "1001")
    assert pauses(f) == [("1001", False, None, "end")]
    assert f.engine.agent_budget("1001", at("09:04")).on_break is BreakKind.SHORT  # PBX truth: still paused
    f.state("09:04:01", "1001", "ready")
    assert f.engine.agent_budget("1001", at("09:05")).on_break is None
    f.actions.clear()
    f.cancel("09:06", "1001")  # nothing running: nothing to unpause
    assert f.actions == []


def test_a_supervisor_end_break_unpauses():
    f = staffed(6)
    f.state("09:00", "1001", "short_break", reason="小休")
    f.override("09:03", "1001", "end_break")
    assert pauses(f) == [("1001", False, None, "end")]


def test_an_overrun_unpauses_only_where_the_site_asks():
    quiet = staffed(6)
    quiet.state("09:00", "1001", "short_break", reason="小休")
    quiet.tick("09:10:01")
    assert violations(quiet.outputs, "SHORT_BREAK_TOO_LONG") and quiet.actions == []
    strict = staffed(6, {"enforcement": {"warn_on_refused_pause": True, "unpause_on_refused_pause": False,
                                         "pause_on_allow": True, "unpause_on_overrun": True}})
    strict.state("09:00", "1001", "short_break", reason="小休")
    strict.tick("09:10:01")
    assert violations(strict.outputs, "SHORT_BREAK_TOO_LONG")
    assert pauses(strict) == [("1001", False, None, ActionPurpose.OVERRUN.value)]


def test_enactment_switched_off_sends_nothing_and_decides_the_same():
    on, off = staffed(6), staffed(6, {"enforcement": {"warn_on_refused_pause": True, "unpause_on_refused_pause": False,
                                                      "pause_on_allow": False, "unpause_on_overrun": False}})
    assert only_decision(on.request("09:00", "1001")) == only_decision(off.request("09:00", "1001"))
    assert on.actions and off.actions == []
