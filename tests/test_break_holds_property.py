"""Property: bunched requests never drain the floor (docs/break-holds.md, docs/interfaces.md §2).

Hypothesis drives random interleavings of break requests (queued or not), pauses into a break,
returns, calls, withdrawals, sign-outs, clock ticks and supervisor allows on floors of 4–30
agents in two teams, with random thresholds, team caps, lunch cover and hold times, often many
events at the same instant. The test keeps its own model of the floor, built only from the
events it sends and the decisions it reads back (no engine counters):

- F3: no short break allowed at will (a request, a pause, a queue grant, a lapsed approval
  taken while the floor had room) is allowed unless more than the threshold agents are
  effectively idle at that moment: ready and not holding another allowed break's place (the
  requester itself counted), i.e. it never leaves fewer than threshold + 1 … minus itself;
- F3a / F8: the team cap and lunch cover are never exceeded by an allowance, only by a
  supervisor's override (a logged decision saying so);
- the engine's incremental held-place counts equal a recount of its agents;
- replay is deterministic: the same events give the same outputs and the same freed places.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.rules_kit import DAY, make_config

from wfm.decisions import BreakDecision, encode_output
from wfm.engine import FloorEngine
from wfm.events import (
    ON_POST_STATES,
    AgentState,
    AgentStateEvent,
    BreakCancelEvent,
    BreakRequestEvent,
    OverrideEvent,
)

START = DAY + timedelta(hours=9)
STATE_MOVES = {s.value for s in AgentState}
# weighted: requests bunch (the point of the test), the floor moves around them
MOVES = (["request"] * 6 + ["request_queue"] * 4 + ["meal_request"] * 2 + ["meal_request_queue"] * 2
         + ["short_break"] * 3 + ["meal"] + ["ready"] * 5 + ["on_call"] * 2
         + ["wrap_up", "not_ready", "logged_out", "cancel", "allow", "tick", "tick"])


@dataclass
class Model:
    """The floor as the test sees it: states it sent, places held by decisions it read."""

    teams: dict[str, str]
    hold_s: float
    state: dict[str, AgentState] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # agent -> kind held
    ready_spent: dict[str, float] = field(default_factory=dict)  # holder -> ready seconds since the decision
    lapsed: dict[str, str] = field(default_factory=dict)  # agent -> kind of the approval whose place lapsed
    now: float = 0.0

    def advance(self, t: float) -> list[str]:
        """Time passes: holders in ready spend it; a place lapses at hold_s (inclusive). The lapsed."""
        dt = t - self.now
        self.now = t
        lapsed = []
        for agent in list(self.held):
            if self.state.get(agent) is AgentState.READY:
                self.ready_spent[agent] += dt
            if self.hold_s and self.ready_spent[agent] >= self.hold_s - 1e-9:
                self.lapsed[agent] = self.held.pop(agent)
                lapsed.append(agent)
        return lapsed

    def hold(self, agent: str, kind: str) -> None:
        self.held[agent] = kind
        self.ready_spent[agent] = 0.0
        self.lapsed.pop(agent, None)

    def release(self, agent: str) -> None:
        self.held.pop(agent, None)

    def idle_for(self, agent: str) -> int:
        """Ready agents not holding a place, the requester counted when ready."""
        return sum(1 for a, s in self.state.items()
                   if s is AgentState.READY and (a == agent or a not in self.held))

    def team_short_for(self, agent: str) -> int:
        team = self.teams[agent]
        on_break = sum(1 for a, s in self.state.items()
                       if self.teams[a] == team and s is AgentState.SHORT_BREAK and a != agent)
        holding = sum(1 for a, k in self.held.items() if self.teams[a] == team and k == "short" and a != agent)
        return on_break + holding

    def on_post_left(self, agent: str) -> int:
        """On post once `agent` goes, not counting others who already hold a place."""
        return sum(1 for a, s in self.state.items() if a != agent and s in ON_POST_STATES and a not in self.held)


@dataclass
class Rules:
    threshold: int
    team_cap: int
    lunch_min: int

    def check_allowance(self, model: Model, agent: str, kind: str, how: str) -> None:
        if kind == "short":
            idle = model.idle_for(agent)
            assert idle > self.threshold, f"{how}: {agent}'s 小休 allowed with {idle} effectively idle"
            if self.team_cap:
                team = model.team_short_for(agent)
                assert team < self.team_cap, f"{how}: {agent}'s 小休 allowed with {team} of the team away"
        else:
            left = model.on_post_left(agent)
            assert left >= self.lunch_min, f"{how}: {agent}'s meal allowed leaving {left} on post"


def floor_events(draw, n: int):
    # most moves by a few agents (so the same agent asks, waits, lapses, goes), some by anyone
    who = st.one_of(st.integers(0, min(n - 1, 4)), st.integers(0, n - 1))
    steps = draw(st.lists(st.tuples(st.sampled_from(MOVES), who,
                                    st.sampled_from([0, 0, 0, 0, 1, 5, 30, 90, 150])), min_size=1, max_size=120))
    return steps


@st.composite
def scenarios(draw):
    n = draw(st.integers(4, 30))
    rules = Rules(threshold=draw(st.integers(1, 5)), team_cap=draw(st.sampled_from([0, 0, 1, 2, 3])),
                  lunch_min=draw(st.integers(1, max(1, n // 2))))
    hold_s = draw(st.sampled_from([0, 60, 120]))
    ready_at_start = draw(st.integers(max(1, n // 3), n))
    return n, rules, hold_s, ready_at_start, floor_events(draw, n)


def build(n: int, rules: Rules, hold_s: float):
    agents = [f"ag{i:02d}" for i in range(n)]
    teams = {a: ("north" if i % 2 else "south") for i, a in enumerate(agents)}
    config = make_config(
        {"near_full_idle_threshold": rules.threshold, "team_short_break_cap": rules.team_cap,
         "lunch_cover_min_agents": rules.lunch_min, "allowed_break_hold_s": hold_s, "duplicate_window_s": 0},
        teams=[{"name": name, "agents": [a for a in agents if teams[a] == name], "queues": []}
               for name in ("north", "south")])
    return agents, teams, config


def event_for(move: str, agent: str, ts):
    if move in ("request", "request_queue", "meal_request", "meal_request_queue"):
        return BreakRequestEvent(ts=ts, agent=agent, kind="meal" if move.startswith("meal") else "short",
                                 queue=move.endswith("queue"))
    if move == "cancel":
        return BreakCancelEvent(ts=ts, agent=agent)
    if move == "allow":
        return OverrideEvent(ts=ts, supervisor="lead", agent=agent, action="allow_break", note="property")
    if move == "tick":
        return None
    return AgentStateEvent(ts=ts, agent=agent, state=move)


def run(n, rules, hold_s, ready_at_start, steps, *, check: bool):
    """Feed the events; check every allowance against the model. Returns what replay would print
    (the §2 outputs, encoded) and the freed places, for the determinism check."""
    agents, teams, config = build(n, rules, hold_s)
    engine = FloorEngine(config)
    model = Model(teams=teams, hold_s=hold_s)
    printed: list[bytes] = []
    freed: list[tuple] = []
    t = START
    plan = [("ready", i, 0) for i in range(ready_at_start)] + list(steps)
    for move, index, gap in plan:
        t += timedelta(seconds=gap)
        agent = agents[index]
        event = event_for(move, agent, t)
        result = engine.tick(t) if event is None else engine.handle(event)
        printed += [encode_output(o) for o in result.outputs]
        freed += [(r.agent, r.reason, r.ts) for r in result.released]
        if not check:
            continue
        lapsed_now = model.advance(t.timestamp())
        assert sorted(r.agent for r in result.released) == sorted(lapsed_now), "the engine's lapses are the model's"
        assert all(r.reason == "lapsed" for r in result.released)
        decisions = [o for o in result.outputs if isinstance(o, BreakDecision)]
        own = [d for d in decisions if d.agent == agent and "granted from the break queue" not in d.detail]
        was = model.state.get(agent, AgentState.LOGGED_OUT)
        changes = move in STATE_MOVES
        if changes and AgentState(move) is not was:
            new_state = AgentState(move)
            if move in ("short_break", "meal"):
                kind = "short" if move == "short_break" else "meal"
                held = model.held.get(agent)
                lapsed = model.lapsed.pop(agent, None)
                if held == kind:
                    assert not own, f"{agent} started the break it was allowed: no new decision"
                elif own:
                    [d] = own
                    if d.allowed:
                        rules.check_allowance(model, agent, kind, "pause")
                else:
                    assert lapsed == kind, f"{agent}'s pause got no decision without an approval"
                    rules.check_allowance(model, agent, kind, "lapsed approval taken")
                model.release(agent)
            elif new_state is AgentState.LOGGED_OUT:
                model.release(agent)
                model.lapsed.pop(agent, None)
            model.state[agent] = new_state
        elif move == "cancel":
            model.release(agent)
            model.lapsed.pop(agent, None)
        for d in decisions:
            granted = "granted from the break queue" in d.detail
            if move in ("short_break", "meal") and d.agent == agent and not granted:
                continue  # the pause's own decision, checked above
            if d.agent == agent and not granted:
                model.lapsed.pop(agent, None)  # any new decision replaces a lapsed approval
            if not d.allowed:
                continue  # a refusal leaves a place the agent already held where it was
            if "(override)" in d.detail:
                assert move == "allow" and d.agent == agent
                if not model.state.get(agent, AgentState.LOGGED_OUT).on_break:
                    model.hold(agent, d.kind.value)
                continue
            rules.check_allowance(model, d.agent, d.kind.value, "queue grant" if granted else "request")
            if granted or not model.state.get(d.agent, AgentState.LOGGED_OUT).on_break:
                model.hold(d.agent, d.kind.value)  # an agent already on a break holds no second place
        _recount(engine, model)
    return printed, freed


def _recount(engine: FloorEngine, model: Model) -> None:
    """The engine's incremental counts against a recount of its records, and its holders against the model's."""
    floor = engine.floor
    holders = {a: rec for a, rec in floor.agents.items() if rec.hold is not None}
    assert set(holders) == set(model.held), (sorted(holders), sorted(model.held))
    assert all(holders[a].hold.kind.value == k for a, k in model.held.items())
    holds = floor.holds
    assert holds.ready_total == sum(rec.state is AgentState.READY for rec in holders.values())
    assert holds.on_post == sum(rec.state in ON_POST_STATES for rec in holders.values())
    for team in ("north", "south"):
        assert holds.team_short[team] == sum(rec.team == team and rec.hold.kind.value == "short"
                                             for rec in holders.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
# the five agents, three asking at once
@example((5, Rules(3, 0, 1), 120, 5, [("request", 0, 0), ("request", 1, 5), ("request", 2, 5)]))
# a lapsed approval taken after two others filled the floor's room: judged, not started silently
@example((5, Rules(3, 0, 1), 120, 5, [("request", 0, 0), ("tick", 0, 120), ("request", 1, 0), ("request", 2, 0),
                                      ("short_break", 0, 0)]))
# a team of three asking at once under a cap of 2; two meals at once with one to stay on post
@example((6, Rules(1, 2, 1), 120, 6, [("request", 0, 0), ("request", 2, 0), ("request", 4, 0)]))
@example((3, Rules(0, 0, 1), 120, 3, [("meal_request", 0, 0), ("meal_request", 1, 0), ("meal_request_queue", 2, 0)]))
# an agent on 小休 asks again (a standby's stale view passes what the API's 409 gate would stop)
@example((4, Rules(1, 0, 1), 0, 3, [("short_break", 0, 0), ("request", 0, 0)]))
def test_bunched_requests_never_drain_the_floor(scenario):
    n, rules, hold_s, ready_at_start, steps = scenario
    printed, freed = run(n, rules, hold_s, ready_at_start, steps, check=True)
    again = run(n, rules, hold_s, ready_at_start, steps, check=False)
    assert (printed, freed) == again  # deterministic: same events, same bytes, same freed places
