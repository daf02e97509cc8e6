"""Break-request rules at their boundaries: QUEUE_NEAR_FULL, SHORT_BREAK_BUDGET, SHORT_BREAK_TOO_LONG
(planned), NOT_ON_SHIFT, LUNCH_COVER, MEAL_NOT_IN_SLOT, MEAL_TOO_LONG (planned), TEAM_BREAK_CAP."""
from __future__ import annotations

from support.rules_kit import Floor, at, decisions, only_decision

AGENTS = ["1001", "1002", "1003", "1004", "1005"]


def rostered(n: int = 5, **floor) -> Floor:
    f = Floor(floor or None)
    for agent in AGENTS[:n]:
        f.shift(agent, "08:30", "16:00", meal="12:00")
    return f


# --- QUEUE_NEAR_FULL (F3) -----------------------------------------------------

def test_idle_exactly_three_is_refused_queue_near_full():
    f = rostered()
    f.ready("08:25", "1001", "1002", "1003")
    d = only_decision(f.request("09:00", "1001"))
    assert (d.allowed, d.rule, d.next_window) == (False, "QUEUE_NEAR_FULL", None)
    assert "3 idle agents" in d.detail and "threshold 3" in d.detail
    assert "30 min left" in d.detail  # the budget is named too


def test_idle_four_is_allowed_and_requester_counts_among_idle():
    f = rostered()
    f.ready("08:25", "1001", "1002", "1003", "1004")
    d = only_decision(f.request("09:00", "1001"))
    assert (d.allowed, d.rule, d.next_window) == (True, None, None)
    assert "4 idle agents" in d.detail


def test_idle_counts_agents_without_a_shift():
    f = rostered(2)
    f.ready("08:25", "1001", "1002", "x1", "x2")  # x1, x2 have no shift but are ready
    assert only_decision(f.request("09:00", "1001")).allowed


def test_threshold_comes_from_config():
    f = Floor({"near_full_idle_threshold": 1})
    for agent in ("1001", "1002"):
        f.shift(agent, "08:30", "16:00")
    f.ready("08:25", "1001", "1002")
    assert only_decision(f.request("09:00", "1001")).allowed


def test_agent_on_call_is_not_idle():
    f = rostered()
    f.ready("08:25", "1001", "1002", "1003", "1004")
    f.state("08:50", "1004", "on_call")
    assert only_decision(f.request("09:00", "1001")).rule == "QUEUE_NEAR_FULL"


# --- SHORT_BREAK_BUDGET and planned length (F4) ---------------------------------

def take_break(f: Floor, agent: str, start: str, end: str):
    f.request(start, agent)
    f.state(start, agent, "short_break")
    return f.state(end, agent, "ready")


def test_budget_thirty_minutes_total_is_fine_more_is_refused():
    f = rostered()
    f.ready("08:25", *AGENTS)
    take_break(f, "1001", "09:00", "09:10")
    take_break(f, "1001", "10:00", "10:10")
    take_break(f, "1001", "10:30", "10:35")
    d = only_decision(f.request("11:00", "1001", minutes=5))  # 25 used + 5 = 30: within
    assert d.allowed and "25 min of 30 min" in d.detail and "5 min left" in d.detail
    f.cancel("11:00:01", "1001")
    d = only_decision(f.request("11:01", "1001", minutes=6))  # 31 would exceed
    assert (d.allowed, d.rule) == (False, "SHORT_BREAK_BUDGET")
    assert d.next_window is None  # no later shift on the roster


def test_budget_without_minutes_allowed_while_any_budget_left():
    f = rostered()
    f.ready("08:25", *AGENTS)
    take_break(f, "1001", "09:00", "09:10")
    take_break(f, "1001", "10:00", "10:10")
    take_break(f, "1001", "10:30", "10:39")
    d = only_decision(f.request("11:00", "1001"))
    assert d.allowed and "1 min left" in d.detail
    f.state("11:00", "1001", "short_break")
    f.state("11:01", "1001", "ready")  # exactly 30 used now
    d = only_decision(f.request("11:30", "1001"))
    assert (d.allowed, d.rule) == (False, "SHORT_BREAK_BUDGET") and "no budget left" in d.detail


def test_new_shift_resets_the_budget_and_next_window_names_it():
    f = Floor()
    for agent in AGENTS:
        f.shift(agent, "08:30", "16:00")
        f.shift(agent, "08:30", "16:00", day=1)
    f.ready("08:25", *AGENTS)
    for start, end in (("09:00", "09:10"), ("10:00", "10:10"), ("11:00", "11:10")):
        take_break(f, "1001", start, end)
    d = only_decision(f.request("12:00", "1001"))
    assert d.rule == "SHORT_BREAK_BUDGET" and d.next_window == at("08:30", day=1)
    f.ready("08:25", "1002", day=1)  # a new day's sign-ins keep the floor idle count up
    d = only_decision(f.request("09:00", "1001", day=1))
    assert d.allowed and "0 min of 30 min" in d.detail


def test_planned_short_break_over_ten_minutes_refused():
    f = rostered()
    f.ready("08:25", *AGENTS)
    d = only_decision(f.request("09:00", "1001", minutes=11))
    assert (d.allowed, d.rule) == (False, "SHORT_BREAK_TOO_LONG")
    assert only_decision(f.request("09:01", "1001", minutes=10)).allowed


# --- NOT_ON_SHIFT ---------------------------------------------------------------

def test_not_on_shift_after_the_shift_ended_and_before_it_starts():
    f = rostered()
    f.ready("08:00", *AGENTS)
    d = only_decision(f.request("08:10", "1001"))
    assert (d.allowed, d.rule, d.next_window) == (False, "NOT_ON_SHIFT", at("08:30"))
    assert only_decision(f.request("15:59", "1002")).allowed
    d = only_decision(f.request("16:00", "1003"))  # end is exclusive
    assert d.rule == "NOT_ON_SHIFT" and "has ended" in d.detail


def test_agent_without_shift_refused_once_a_roster_is_loaded():
    f = rostered()
    f.ready("08:25", *AGENTS, "x9")
    assert only_decision(f.request("09:00", "x9")).rule == "NOT_ON_SHIFT"


def test_floor_without_any_roster_does_not_judge_shifts():
    f = Floor()
    f.ready("08:25", "a", "b", "c", "d")
    assert only_decision(f.request("09:00", "a")).allowed


# --- meals: MEAL_NOT_IN_SLOT, LUNCH_COVER, MEAL_TOO_LONG --------------------------

def test_meal_outside_slot_refused_with_next_window_inside_allowed():
    f = rostered()
    f.ready("08:25", *AGENTS)
    d = only_decision(f.request("11:00", "1001", kind="meal"))
    assert (d.allowed, d.rule, d.next_window) == (False, "MEAL_NOT_IN_SLOT", at("12:00"))
    assert only_decision(f.request("12:00", "1001", kind="meal")).allowed
    d = only_decision(f.request("12:30", "1002", kind="meal"))  # the slot is [12:00, 12:30)
    assert d.rule == "MEAL_NOT_IN_SLOT" and d.next_window is None


def test_meal_without_slot_is_not_judged_by_slot():
    f = Floor()
    f.shift("1001", "08:30", "16:00")
    f.shift("1002", "08:30", "16:00")
    f.ready("08:25", "1001", "1002")
    assert only_decision(f.request("11:00", "1001", kind="meal")).allowed


def test_lunch_cover_refuses_the_last_agent_on_post():
    f = rostered(2)
    f.ready("08:25", "1001", "1002")
    f.state("12:00", "1002", "meal")  # 1002 eats (judged at the pause: 1001 stays)
    d = only_decision(f.request("12:05", "1001", kind="meal"))
    assert (d.allowed, d.rule) == (False, "LUNCH_COVER")
    assert "0 agent(s) on post" in d.detail


def test_lunch_cover_allows_when_one_stays():
    f = rostered(2)
    f.ready("08:25", "1001", "1002")
    d = only_decision(f.request("12:05", "1001", kind="meal"))
    assert d.allowed and "1 agent(s) stay on post" in d.detail


def test_lunch_cover_minimum_from_config():
    f = Floor({"lunch_cover_min_agents": 2})
    for agent in ("1001", "1002"):
        f.shift(agent, "08:30", "16:00", meal="12:00")
    f.ready("08:25", "1001", "1002")
    assert only_decision(f.request("12:05", "1001", kind="meal")).rule == "LUNCH_COVER"


def test_planned_meal_over_limit_refused():
    f = rostered()
    f.ready("08:25", *AGENTS)
    assert only_decision(f.request("12:00", "1001", kind="meal", minutes=31)).rule == "MEAL_TOO_LONG"
    assert only_decision(f.request("12:00", "1002", kind="meal", minutes=30)).allowed


# --- TEAM_BREAK_CAP (F3a) ----------------------------------------------------------

def test_team_cap_refuses_beyond_cap_and_is_off_by_default():
    f = rostered(5, team_short_break_cap=1)
    f.ready("08:25", *AGENTS)
    f.state("09:00", "1001", "short_break")
    d = only_decision(f.request("09:01", "1002"))
    assert (d.allowed, d.rule) == (False, "TEAM_BREAK_CAP")
    g = rostered(5)
    g.ready("08:25", *AGENTS)
    g.state("09:00", "1001", "short_break")
    assert only_decision(g.request("09:01", "1002")).allowed


# --- pauses judged as requests -------------------------------------------------------

def test_pause_without_allowed_request_is_judged_and_allowed_request_prints_nothing():
    f = rostered()
    f.ready("08:25", *AGENTS)
    assert only_decision(f.request("09:00", "1001")).allowed
    assert decisions(f.state("09:01", "1001", "short_break")) == []
    f.state("09:05", "1002", "on_call")
    f.state("09:05", "1003", "on_call")
    d = only_decision(f.state("09:06", "1004", "short_break"))  # idle 2 (1004, 1005)
    assert (d.allowed, d.rule, str(d.ts)) == (False, "QUEUE_NEAR_FULL", str(at("09:06")))


def test_refused_pause_can_unpause_at_the_pbx():
    f = rostered(5, enforcement={"warn_on_refused_pause": True, "unpause_on_refused_pause": True})
    f.ready("08:25", "1001", "1002")
    f.state("09:00", "1001", "short_break")
    assert [(a.agent, a.paused) for a in f.actions] == [("1001", False)]
    g = rostered(5)
    g.ready("08:25", "1001", "1002")
    g.state("09:00", "1001", "short_break")
    assert g.actions == []
