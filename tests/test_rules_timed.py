"""Timed findings at their limits: strict for durations (10:00 / 30:00 within), inclusive for the
20-min serious threshold; stamped at the first event (or tick) after the limit; once per occurrence."""
from __future__ import annotations

from support.rules_kit import Floor, at, violations


def floor_with(n: int = 5, meal: str | None = "12:00", **floor) -> Floor:
    f = Floor(floor or None)
    for i in range(n):
        f.shift(f"10{i:02d}", "08:30", "16:00", meal=meal)
    for i in range(n):
        f.state("08:25", f"10{i:02d}", "ready")
    return f


# --- SHORT_BREAK_TOO_LONG -----------------------------------------------------------

def test_short_break_of_exactly_ten_minutes_is_fine():
    f = floor_with()
    f.state("09:00", "1000", "short_break")
    assert violations(f.state("09:10", "1000", "ready")) == []
    assert violations(f.tick("09:30")) == []


def test_short_break_of_ten_minutes_one_second_is_reported_at_the_next_event():
    f = floor_with()
    f.state("09:00", "1000", "short_break")
    f.state("09:05", "1001", "on_call")
    found = violations(f.state("09:10:01", "1000", "ready"), "SHORT_BREAK_TOO_LONG")
    assert len(found) == 1 and found[0].ts == at("09:10:01") and found[0].agent == "1000"
    assert "started 09:00" in found[0].detail and "10 min 1 s so far" in found[0].detail


def test_overrun_stamped_at_the_first_event_after_the_limit_and_only_once():
    f = floor_with()
    f.state("09:00", "1000", "short_break")
    assert violations(f.state("09:09", "1001", "on_call")) == []
    first = violations(f.state("09:11", "1001", "ready"), "SHORT_BREAK_TOO_LONG")
    assert [v.ts for v in first] == [at("09:11")]
    assert violations(f.tick("09:20")) == [] and violations(f.state("09:25", "1000", "ready")) == []


def test_tick_detects_the_overrun_without_events():
    f = floor_with()
    f.state("09:00", "1000", "short_break")
    assert violations(f.tick("09:10")) == []
    assert [v.rule for v in f.tick("09:10:01")] == ["SHORT_BREAK_TOO_LONG"]


# --- SHORT_BREAK_BUDGET (violation) ---------------------------------------------------

def test_budget_violation_when_minutes_taken_pass_thirty_even_after_refusal():
    f = floor_with()
    for start, end in (("09:00", "09:10"), ("10:00", "10:10")):
        f.state(start, "1000", "short_break")
        f.state(end, "1000", "ready")
    f.state("11:00", "1000", "short_break")
    assert violations(f.state("11:10", "1000", "ready")) == []  # exactly 30:00 in total
    f.state("11:30", "1000", "short_break")  # refused (no budget), taken anyway
    assert f.outputs[-1].rule == "SHORT_BREAK_BUDGET" and not f.outputs[-1].allowed
    found = violations(f.tick("11:30:01"), "SHORT_BREAK_BUDGET")
    assert len(found) == 1 and "after a SHORT_BREAK_BUDGET refusal" in found[0].detail
    assert violations(f.tick("11:35")) == []


def test_budget_violation_mid_break():
    f = floor_with()
    for start, end in (("09:00", "09:10"), ("10:00", "10:10"), ("10:30", "10:35")):
        f.state(start, "1000", "short_break")
        f.state(end, "1000", "ready")
    f.state("11:00", "1000", "short_break")  # 25 used; passes 30 after 11:05
    assert violations(f.tick("11:05")) == []
    found = f.tick("11:05:30")
    assert [v.rule for v in found] == ["SHORT_BREAK_BUDGET"] and "30 min 30 s used" in found[0].detail


# --- MEAL_TOO_LONG ----------------------------------------------------------------------

def test_meal_thirty_minutes_fine_thirty_and_a_bit_reported():
    f = floor_with()
    f.state("12:00", "1000", "meal")
    f.state("12:00", "1001", "meal")
    assert violations(f.state("12:30", "1000", "ready")) == []
    found = violations(f.state("12:30:01", "1001", "ready"), "MEAL_TOO_LONG")
    assert [v.agent for v in found] == ["1001"]


# --- LATE_SIGN_IN and SERIOUS_LATE --------------------------------------------------

def test_ready_at_shift_start_is_on_time_later_is_late():
    f = Floor()
    f.shift("a", "08:30", "16:00")
    f.shift("b", "08:30", "16:00")
    f.state("08:30", "a", "ready")  # exactly at the start: on time
    found = violations(f.state("08:31", "b", "ready"), "LATE_SIGN_IN")
    assert [v.agent for v in found] == ["b"] and found[0].ts == at("08:31")
    assert violations(f.outputs, "SERIOUS_LATE") == []


def test_roster_published_after_the_start_does_not_make_an_on_time_agent_late():
    f = Floor()
    f.state("08:20", "a", "ready")
    f.state("08:40", "a", "on_call")
    f.shift("a", "08:30", "16:00", ts="08:45")
    f.state("08:50", "a", "ready")
    assert violations(f.outputs) == []


def test_republished_shift_does_not_repeat_lateness_findings():
    f = Floor()
    f.shift("a", "08:30", "16:00", meal="12:00")
    f.tick("08:55")  # LATE_SIGN_IN and SERIOUS_LATE (plus POST_EMPTY)
    f.shift("a", "08:30", "16:30", meal="12:00", ts="09:00")  # the roster is re-sent
    f.tick("09:30")
    assert [v.rule for v in violations(f.outputs) if v.agent == "a"] == ["LATE_SIGN_IN", "SERIOUS_LATE"]


def test_late_by_nineteen_minutes_is_not_serious_twenty_is():
    f = Floor()
    for agent in ("a", "b", "c"):
        f.shift(agent, "08:30", "16:00")
    f.state("08:20", "c", "ready")
    f.state("08:49", "a", "ready")
    serious = violations(f.state("08:50", "b", "ready"), "SERIOUS_LATE")  # inclusive: 20:00 is serious
    assert [v.agent for v in serious] == ["b"] and serious[0].ts == at("08:50")
    assert "20 min after shift start 08:30" in serious[0].detail
    assert sorted(v.agent for v in violations(f.outputs, "LATE_SIGN_IN")) == ["a", "b"]
    assert violations(f.tick("10:00"), "SERIOUS_LATE") == []


def test_off_post_twenty_minutes_is_serious_nineteen_not():
    f = floor_with()
    f.state("09:00", "1000", "not_ready")
    f.state("09:19", "1000", "ready")
    f.state("10:00", "1001", "not_ready")
    found = violations(f.state("10:20", "1001", "ready"), "SERIOUS_LATE")
    assert [v.agent for v in found] == ["1001"] and "off post 20 min since 10:00" in found[0].detail
    assert [v.agent for v in violations(f.outputs, "SERIOUS_LATE")] == ["1001"]


def test_breaks_do_not_count_as_off_post_for_serious():
    f = floor_with()
    f.state("12:00", "1000", "meal")
    assert violations(f.tick("12:25"), "SERIOUS_LATE") == []


def test_off_post_after_shift_end_is_not_serious():
    f = floor_with()
    f.state("15:50", "1000", "not_ready")
    assert violations(f.tick("16:30"), "SERIOUS_LATE") == []


# --- POST_EMPTY (F7, F9 handover) -------------------------------------------------------

def test_post_empty_again_on_a_later_shift_after_a_gap():
    f = Floor()
    f.shift("a", "08:30", "16:00")
    f.shift("a", "08:30", "16:00", day=1)
    assert len(violations(f.tick("08:31"), "POST_EMPTY")) == 1
    assert violations(f.tick("20:00"), "POST_EMPTY") == []
    assert len(violations(f.tick("08:31", day=1), "POST_EMPTY")) == 1


def test_post_empty_when_nobody_signed_in_at_shift_start():
    f = Floor()
    f.shift("a", "08:30", "16:00")
    found = violations(f.tick("08:30:01"), "POST_EMPTY")
    assert len(found) == 1 and found[0].agent is None
    assert violations(f.tick("08:45"), "POST_EMPTY") == []  # once per occurrence


def test_post_empty_many_shifts_starting_together_make_one_look_and_one_violation():
    f = Floor()
    for i in range(200):  # a floor whose shifts all start 08:30: one check of the post at 08:30, not 200
        f.shift(f"a{i:03d}", "08:30", "16:00")
    assert [d.key for d in f.engine.floor.deadlines].count("floor") == 1  # the post's own deadlines
    found = violations(f.tick("08:30:01"), "POST_EMPTY")
    assert len(found) == 1 and "200 rostered agent(s)" in found[0].detail
    f.shift("late", "10:00", "18:00")
    f.state("09:00", "a000", "ready")
    f.state("09:30", "a000", "logged_out")  # empty again: a new spell, looked at once more
    assert len(violations(f.tick("09:31"), "POST_EMPTY")) == 1


def test_post_not_empty_when_someone_signed_in_even_not_ready():
    f = Floor()
    f.shift("a", "08:30", "16:00")
    f.state("08:20", "a", "not_ready")
    assert violations(f.tick("08:31"), "POST_EMPTY") == []


def test_handover_day_shift_leaving_before_evening_online_empties_the_post():
    f = Floor()
    f.shift("day", "08:30", "16:00")
    f.shift("eve", "16:00", "23:30")
    f.state("08:25", "day", "ready")
    f.state("15:58", "day", "logged_out")  # the day shift is still current until 16:00
    found = violations(f.state("16:02", "eve", "ready"), "POST_EMPTY")
    assert len(found) == 1 and found[0].ts == at("16:02") and "since 15:58" in found[0].detail


def test_handover_done_right_leaves_no_gap():
    f = Floor()
    f.shift("day", "08:30", "16:00")
    f.shift("eve", "16:00", "23:30")
    f.state("08:25", "day", "ready")
    f.state("15:57", "eve", "ready")
    f.state("16:00", "day", "logged_out")
    f.state("23:30", "eve", "logged_out")  # nobody on shift any more
    assert violations(f.tick("23:45"), "POST_EMPTY") == []


# --- MEAL_STATE_MISSING ------------------------------------------------------------------

def test_meal_state_missing_when_away_in_slot_without_meal_state():
    f = floor_with()
    f.state("12:00", "1000", "not_ready")
    f.state("12:25", "1000", "ready")
    found = violations(f.tick("12:30"), "MEAL_STATE_MISSING")  # due when the slot ends
    assert [v.agent for v in found] == ["1000"] and "off post 25 min" in found[0].detail


def test_meal_state_missing_for_an_agent_ready_since_before_the_shift():
    f = Floor()
    f.shift("a", "08:30", "16:00", meal="12:00")
    f.shift("b", "08:30", "16:00", meal="12:00")
    f.state("08:25", "a", "ready")
    f.state("08:25", "b", "ready")
    f.state("12:10", "a", "logged_out")  # eats logged out
    f.state("12:40", "a", "ready")
    assert [v.agent for v in violations(f.outputs, "MEAL_STATE_MISSING")] == ["a"]


def test_absent_agent_gets_lateness_not_meal_state_missing():
    f = Floor()
    f.shift("a", "08:30", "16:00", meal="12:00")
    f.tick("13:00")
    assert violations(f.outputs, "MEAL_STATE_MISSING") == []
    assert [v.rule for v in violations(f.outputs, "SERIOUS_LATE")] == ["SERIOUS_LATE"]


def test_meal_state_present_is_fine_and_working_through_is_fine():
    f = floor_with()
    f.state("12:00", "1000", "meal")
    f.state("12:30", "1000", "ready")
    assert violations(f.tick("13:00"), "MEAL_STATE_MISSING") == []


# --- MEAL_NOT_IN_SLOT as a violation ------------------------------------------------------

def test_meal_allowed_in_slot_but_taken_after_it_is_reported():
    f = floor_with()
    f.request("12:10", "1000", kind="meal")
    found = violations(f.state("12:40", "1000", "meal"), "MEAL_NOT_IN_SLOT")
    assert [v.agent for v in found] == ["1000"]
    f.request("12:10", "1001", kind="meal")
    assert violations(f.state("12:15", "1001", "meal"), "MEAL_NOT_IN_SLOT") == []
