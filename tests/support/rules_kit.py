"""A minimal floor for rule tests: build events tersely, feed one engine, read what it printed.

(Not a test module; named test_rules_* so it sits with the rule tests it serves.)
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from wfm.config import default_data, from_data, merge
from wfm.decisions import BreakDecision, Violation
from wfm.engine import FloorEngine
from wfm.events import (
    AgentStateEvent,
    BreakCancelEvent,
    BreakRequestEvent,
    CallEvent,
    OverrideEvent,
    QueueStatusEvent,
    ShiftEvent,
)

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2027, 1, 4, tzinfo=TZ)


def at(clock: str, day: int = 0) -> datetime:
    """'09:00' or '09:00:30' on the test day (+ `day` days), floor zone."""
    parts = [float(p) for p in clock.split(":")]
    h, m, s = (parts + [0, 0])[:3]
    return DAY + timedelta(days=day, hours=h, minutes=m, seconds=s)


def make_config(floor: dict | None = None, **sections):
    data = default_data()
    override = dict(sections)
    if floor:
        override["floor"] = floor
    return from_data(merge(data, override), "<test>")


class Floor:
    """One engine and the outputs of every step."""

    def __init__(self, floor: dict | None = None, **sections) -> None:
        self.config = make_config(floor, **sections)
        self.engine = FloorEngine(self.config)
        self.outputs: list = []
        self.actions: list = []

    def feed(self, event) -> list:
        result = self.engine.handle(event)
        self.outputs.extend(result.outputs)
        self.actions.extend(result.actions)
        return list(result.outputs)

    def shift(self, agent: str, start: str, end: str, meal: str | None = None, ts: str = "06:00", day: int = 0,
              ts_day: int = 0):
        """A roster line; published at `ts` on day `ts_day` (the first day by default)."""
        end_day = day + (1 if end <= start else 0)
        return self.feed(ShiftEvent(ts=at(ts, ts_day), agent=agent, start=at(start, day), end=at(end, end_day),
                                    meal_start=at(meal, day) if meal else None))

    def state(self, ts: str, agent: str, state: str, day: int = 0, **kw):
        return self.feed(AgentStateEvent(ts=at(ts, day), agent=agent, state=state, **kw))

    def ready(self, ts: str, *agents: str, day: int = 0) -> list:
        out = []
        for agent in agents:
            out += self.state(ts, agent, "ready", day)
        return out

    def request(self, ts: str, agent: str, kind: str = "short", day: int = 0, **kw):
        return self.feed(BreakRequestEvent(ts=at(ts, day), agent=agent, kind=kind, **kw))

    def cancel(self, ts: str, agent: str):
        return self.feed(BreakCancelEvent(ts=at(ts), agent=agent))

    def override(self, ts: str, agent: str, action: str, supervisor: str = "sup", note: str | None = None):
        return self.feed(OverrideEvent(ts=at(ts), supervisor=supervisor, agent=agent, action=action, note=note))

    def waiting(self, ts: str, queue: str, n: int):
        return self.feed(QueueStatusEvent(ts=at(ts), queue=queue, waiting=n))

    def call(self, ts: str, queue: str, call_id: str, event: str, **kw):
        return self.feed(CallEvent(ts=at(ts), queue=queue, call_id=call_id, event=event, **kw))

    def tick(self, ts: str, day: int = 0) -> list:
        result = self.engine.tick(at(ts, day))
        self.outputs.extend(result.outputs)
        self.actions.extend(result.actions)
        return list(result.outputs)


def decisions(outputs) -> list[BreakDecision]:
    return [o for o in outputs if isinstance(o, BreakDecision)]


def violations(outputs, rule: str | None = None) -> list[Violation]:
    return [o for o in outputs if isinstance(o, Violation) and (rule is None or o.rule == rule)]


def only_decision(outputs) -> BreakDecision:
    found = decisions(outputs)
    assert len(found) == 1, outputs
    return found[0]
