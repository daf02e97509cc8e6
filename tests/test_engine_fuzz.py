"""Any sequence of valid §1 events (any order, any agent, any overlap) runs without an exception,
prints only encodable §2 records and gives the same output twice (Hypothesis)."""
from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.rules_kit import at, make_config

from wfm.decisions import encode_output
from wfm.engine import FloorEngine
from wfm.events import (
    AgentState,
    AgentStateEvent,
    BreakCancelEvent,
    BreakRequestEvent,
    CallEvent,
    OverrideEvent,
    QueueStatusEvent,
    ResyncEvent,
    ShiftEvent,
)

AGENTS = ["a", "b", "c", "d"]
T0 = at("08:00")


@st.composite
def floor_events(draw):
    events = []
    minute = 0.0
    for _ in range(draw(st.integers(0, 50))):
        minute = max(0.0, minute + draw(st.floats(-1, 25)))  # mostly forward, sometimes back
        ts = T0 + timedelta(minutes=minute)
        agent = draw(st.sampled_from(AGENTS))
        kind = draw(st.integers(0, 8))
        if kind <= 2:
            events.append(AgentStateEvent(ts=ts, agent=agent, state=draw(st.sampled_from(list(AgentState))),
                                          source=draw(st.sampled_from([None, "ami"]))))
        elif kind == 3:
            start = ts + timedelta(minutes=draw(st.integers(-120, 120)))
            length = draw(st.integers(30, 600))
            meal = draw(st.one_of(st.none(), st.integers(0, length - 1)))
            events.append(ShiftEvent(ts=ts, agent=agent, start=start, end=start + timedelta(minutes=length),
                                     meal_start=None if meal is None else start + timedelta(minutes=meal)))
        elif kind == 4:
            events.append(BreakRequestEvent(ts=ts, agent=agent, kind=draw(st.sampled_from(["short", "meal"])),
                                            minutes=draw(st.one_of(st.none(), st.integers(1, 40))),
                                            queue=draw(st.booleans())))
        elif kind == 5:
            events.append(BreakCancelEvent(ts=ts, agent=agent))
        elif kind == 6:
            events.append(OverrideEvent(ts=ts, supervisor="s", agent=agent,
                                        action=draw(st.sampled_from(["allow_break", "end_break"]))))
        elif kind == 7:
            call = f"c{draw(st.integers(0, 5))}"
            events.append(CallEvent(ts=ts, queue="q", call_id=call,
                                    event=draw(st.sampled_from(["offered", "answered", "abandoned", "completed"])),
                                    wait_s=draw(st.one_of(st.none(), st.floats(0, 100))),
                                    talk_s=draw(st.one_of(st.none(), st.floats(0, 600)))))
        else:
            choice = draw(st.integers(0, 2))
            if choice == 0:
                events.append(QueueStatusEvent(ts=ts, queue="q", waiting=draw(st.integers(0, 9))))
            else:
                events.append(ResyncEvent(ts=ts, source="ami", phase="begin" if choice == 1 else "end"))
    return events


def run(events, config) -> list[bytes]:
    engine = FloorEngine(config)
    out = []
    for event in events:
        result = engine.handle(event)
        out.extend(encode_output(o) for o in result.outputs)
    last = events[-1].ts if events else T0
    out.extend(encode_output(o) for o in engine.tick(last + timedelta(hours=10)).outputs)
    view = engine.floor_view(last + timedelta(hours=10))
    assert view.idle_agents == sum(a.state is AgentState.READY for a in view.agents)
    for agent in AGENTS:
        budget = engine.agent_budget(agent, last)
        assert 0 <= budget.short_break_left_s <= budget.short_break_budget_s
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(floor_events(), st.sampled_from(["fixed", "scaled", "service_level"]))
def test_any_event_sequence_runs_and_is_deterministic(events, policy):
    config = make_config({"gate": {"policy": policy, "scaled_fraction": 0.5, "horizon_min": 15},
                          "team_short_break_cap": 1,
                          "enforcement": {"warn_on_refused_pause": True, "unpause_on_refused_pause": True}})
    assert run(events, config) == run(events, config)
