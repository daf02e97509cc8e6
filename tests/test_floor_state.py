"""Floor state internals: the deadline heap's strict/inclusive order, duplicate suppression,
budget buckets, and incremental counts that always equal a recount (Hypothesis)."""
from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from support.rules_kit import Floor, at

from wfm.events import ON_POST_STATES, AgentState, AgentStateEvent, BreakRequestEvent, CallEvent
from wfm.floor.dedup import Deduplicator
from wfm.floor.timers import DeadlineHeap


def test_deadline_strict_is_due_only_after_its_instant_inclusive_at_it():
    heap = DeadlineHeap()
    heap.push(100.0, True, 0, "strict")
    heap.push(100.0, False, 0, "inclusive")
    heap.push(50.0, True, 0, "early")
    assert heap.pop_due(49.9) is None
    assert heap.pop_due(100.0).key == "early"
    assert heap.pop_due(100.0).key == "inclusive"
    assert heap.pop_due(100.0) is None  # strict: exactly the limit is still within
    assert heap.pop_due(100.001).key == "strict" and len(heap) == 0


def test_deadlines_at_the_same_instant_pop_in_insertion_order():
    heap = DeadlineHeap()
    for key in "abc":
        heap.push(10.0, True, 0, key)
    assert [heap.pop_due(11).key for _ in range(3)] == ["a", "b", "c"]


def test_duplicates_within_the_window_dropped_source_ignored():
    dedup = Deduplicator(5.0)
    event = AgentStateEvent(ts=at("09:00"), agent="a", state="ready", source="ami-1")
    again = AgentStateEvent(ts=at("09:00"), agent="a", state="ready", source="ami-2")
    t = event.ts.timestamp()
    assert not dedup.is_duplicate(event, t)
    assert dedup.is_duplicate(again, t + 1)
    later = AgentStateEvent(ts=at("09:00:01"), agent="a", state="ready")
    assert not dedup.is_duplicate(later, t + 1)  # a different ts is a different event
    assert not dedup.is_duplicate(event, t + 10)  # outside the window: forgotten
    assert dedup.dropped == 1


def test_zero_window_disables_duplicate_suppression():
    f = Floor({"duplicate_window_s": 0})
    call = CallEvent(ts=at("09:00"), queue="q", call_id="c", event="offered")
    f.feed(call)
    f.feed(call)
    assert f.engine.duplicates_dropped == 0
    assert f.engine.floor_view(at("09:01")).queues[0].offered == 1  # still one call by call_id


def test_budget_without_roster_is_per_floor_day():
    f = Floor()
    f.ready("08:00", "a", "b", "c", "d", "e")
    f.state("09:00", "a", "short_break")
    f.state("09:10", "a", "ready")
    assert f.engine.agent_budget("a", at("12:00")).short_break_used_s == 600
    assert f.engine.agent_budget("a", at("00:30", day=1)).short_break_used_s == 0


def test_republished_shift_keeps_the_budget_used():
    f = Floor()
    for agent in "abcde":
        f.shift(agent, "08:30", "16:00")
    f.ready("08:25", *"abcde")
    f.state("09:00", "a", "short_break")
    f.state("09:10", "a", "ready")
    f.shift("a", "08:30", "17:00", ts="09:30")  # the roster is re-sent with a new end
    assert f.engine.agent_budget("a", at("09:31")).short_break_used_s == 600


STATES = [s.value for s in AgentState]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(STATES), st.integers(0, 400)), max_size=60))
def test_incremental_counts_equal_a_recount(steps):
    f = Floor()
    for agent in range(6):
        f.shift(f"a{agent}", "08:30", "16:00", meal="12:00")
    t = at("08:00").timestamp()
    for agent, state, gap in steps:
        t += gap
        if gap % 3 == 0:  # some agents ask first (allowed requests hold reservations)
            f.feed(BreakRequestEvent(ts=f.engine.floor.dt(t), agent=f"a{agent}", kind="short" if gap % 2 else "meal",
                                     queue=True))
        f.feed(AgentStateEvent(ts=f.engine.floor.dt(t), agent=f"a{agent}", state=state))
    floor = f.engine.floor
    recount = Counter(rec.state for rec in floor.agents.values())
    assert floor.idle == recount[AgentState.READY]
    assert floor.on_post == sum(n for s, n in recount.items() if s in ON_POST_STATES)
    assert floor.post_signed_in["floor"] == sum(n for s, n in recount.items() if s is not AgentState.LOGGED_OUT)
    assert floor.team_short["A"] == recount[AgentState.SHORT_BREAK]
    assert floor.team_breaks["A"] == recount[AgentState.SHORT_BREAK] + recount[AgentState.MEAL]
    for rec in floor.agents.values():
        assert (rec.brk is not None) == rec.state.on_break
        assert (rec.on_post_since is not None) == (rec.state in ON_POST_STATES)
        assert (rec.off_post_since is not None) == (rec.state in (AgentState.NOT_READY, AgentState.LOGGED_OUT))
        used = floor.short_used_s(floor.budget_bucket(rec, t), rec, t)
        assert used >= 0
    pending = [r for r in floor.agents.values() if r.pending is not None]
    assert floor.pending_on_post == sum(r.state in ON_POST_STATES for r in pending)
    assert floor.pending_team["A"] == len(pending)
    for kind in floor.queued_kinds:
        assert floor.queued_kinds[kind] == sum(r.kind is kind for r in floor.break_queue)
    for kind in set(r.pending for r in pending):
        assert floor.pending_ready[kind] == sum(r.pending is kind and r.state is AgentState.READY for r in pending)
    view = f.engine.floor_view(floor.dt(t))
    assert view.agents_on_post == floor.on_post and len(view.agents) == 6
