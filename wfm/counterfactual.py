"""`wfm replay --compare-policy`: what two gate policies would have done with the same floor day.

Model (stated in every report):
1. The log's own traffic is kept: per 15-min interval, offered calls and the
   mean handle time (talk_s of completed calls; service.default_aht_s when none).
2. Staff available per interval = time-averaged agents on post *or on a
   break* in the log (i.e. the floor as if no break had been taken).
3. Each policy replays the events through the engine. Every allowed break
   (request, pause judged allowed, queue grant, override) is assumed taken
   at its decision: for as long as the agent's next break of that kind in the
   log lasted when it starts within 15 min, else the request's planned
   minutes, else the rule's limit (F4/F5). Refused breaks are assumed not taken.
4. Agents on post per interval = available − break agent-time / 15 min;
   service level per interval = Erlang C (answered within
   service.service_level_answer_s) with fractional agents interpolated;
   the day's figure is weighted by offered calls.
The first policy's config also gives the service targets and the floor zone.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from wfm.config import Config
from wfm.decisions import BreakDecision, Violation
from wfm.engine import FloorEngine
from wfm.events import AgentStateEvent, BreakKind, BreakRequestEvent, CallEvent, CallEventKind, Event
from wfm.gate import service_level

INTERVAL_S = 900.0
MATCH_WINDOW_S = 900.0
MODEL = ("per 15-min interval: Erlang C with the log's offered calls and mean handle time; agents on post = "
         "agents on post or on break in the log minus each policy's granted breaks (length as taken in the log, "
         "else planned, else the rule limit); refused breaks assumed not taken; day SL weighted by offered calls")

_AVAILABLE = {"ready", "ringing", "on_call", "wrap_up", "short_break", "meal"}


def _add_span(buckets: dict[int, float], start: float, end: float, weight: float = 1.0) -> None:
    """Spread agent-seconds of [start, end) over 15-min interval buckets."""
    t = start
    while t < end:
        index = int(t // INTERVAL_S)
        edge = min(end, (index + 1) * INTERVAL_S)
        buckets[index] += (edge - t) * weight
        t = edge


def _fractional_sl(agents: float, arrivals: float, aht: float, answer_s: float) -> float:
    low = math.floor(agents)
    sl_low = service_level(max(0, low), arrivals, aht, answer_s)
    if agents == low:
        return sl_low
    sl_high = service_level(low + 1, arrivals, aht, answer_s)
    return sl_low + (agents - low) * (sl_high - sl_low)


class _LogFacts:
    """What the log itself says, whatever the policy: availability, traffic, breaks as taken."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.available: dict[int, float] = defaultdict(float)
        self.offered: dict[int, int] = defaultdict(int)
        self.talk = 0.0
        self.completed = 0
        self.breaks: dict[tuple[str, BreakKind], list[tuple[float, float]]] = defaultdict(list)
        self.request_minutes: dict[tuple[str, float], float] = {}
        state: dict[str, tuple[str, float]] = {}
        last_t = None
        for event in events:
            t = event.ts.timestamp()
            last_t = t if last_t is None else max(last_t, t)
            if isinstance(event, AgentStateEvent):
                old = state.get(event.agent)
                new = event.state.value
                if old is not None and old[0] == new:
                    continue
                if old is not None:
                    self._close(event.agent, old, t)
                state[event.agent] = (new, t)
            elif isinstance(event, CallEvent):
                if event.event is CallEventKind.OFFERED:
                    self.offered[int(t // INTERVAL_S)] += 1
                elif event.event is CallEventKind.COMPLETED and event.talk_s:
                    self.completed += 1
                    self.talk += event.talk_s
            elif isinstance(event, BreakRequestEvent) and event.minutes is not None:
                self.request_minutes[(event.agent, t)] = event.minutes
        for agent, old in state.items():
            if last_t is not None:
                self._close(agent, old, last_t)

    def _close(self, agent: str, old: tuple[str, float], t: float) -> None:
        name, since = old
        if name in _AVAILABLE:
            _add_span(self.available, since, t)
        if name == "short_break":
            self.breaks[(agent, BreakKind.SHORT)].append((since, t))
        elif name == "meal":
            self.breaks[(agent, BreakKind.MEAL)].append((since, t))

    def break_length(self, agent: str, kind: BreakKind, t: float, limit_s: float) -> float:
        for start, end in self.breaks.get((agent, kind), ()):
            if t <= start <= t + MATCH_WINDOW_S:
                return end - start
        minutes = self.request_minutes.get((agent, t))
        return minutes * 60.0 if minutes is not None else limit_s


def _replay(events: Sequence[Event], config: Config, facts: _LogFacts) -> dict:
    engine = FloorEngine(config)
    on_break: dict[int, float] = defaultdict(float)
    decisions = granted = refused = from_queue = violations = 0
    break_s = 0.0
    limits = {BreakKind.SHORT: config.floor.short_break_max_min * 60.0,
              BreakKind.MEAL: config.floor.meal_max_min * 60.0}
    for event in events:
        for output in engine.handle(event).outputs:
            if isinstance(output, Violation):
                violations += 1
            if not isinstance(output, BreakDecision):
                continue
            decisions += 1
            if not output.allowed:
                refused += 1
                continue
            granted += 1
            if "granted from the break queue" in output.detail:
                from_queue += 1
                refused -= 1  # the earlier refusal was a wait, not a final no
            t = output.ts.timestamp()
            length = facts.break_length(output.agent, output.kind, t, limits[output.kind])
            break_s += length
            _add_span(on_break, t, t + length)
    return {"gate": config.floor.gate.policy, "decisions": decisions, "granted": granted,
            "granted_from_queue": from_queue, "refused": refused,
            "break_minutes": round(break_s / 60.0, 1), "on_break": on_break, "violations": violations}


def compare_policies(events: Sequence[Event], configs: dict[str, Config]) -> dict:
    """Replay `events` under each config; counts, break minutes and modelled service level each."""
    facts = _LogFacts(events)
    first = next(iter(configs.values()))
    answer_s = first.service.service_level_answer_s
    aht = facts.talk / facts.completed if facts.completed else first.service.default_aht_s
    policies = []
    for name, config in configs.items():
        result = _replay(events, config, facts)
        on_break = result.pop("on_break")
        weighted = calls = 0.0
        for index, offered in sorted(facts.offered.items()):
            agents = max(0.0, (facts.available.get(index, 0.0) - on_break.get(index, 0.0)) / INTERVAL_S)
            weighted += offered * _fractional_sl(agents, offered / INTERVAL_S, aht, answer_s)
            calls += offered
        result["service_level"] = round(weighted / calls, 4) if calls else None
        policies.append({"config": name, **result})
    return {"events": len(events), "offered_calls": sum(facts.offered.values()), "aht_s": round(aht, 1),
            "service_level_target": first.service.service_level_target, "model": MODEL, "policies": policies}
