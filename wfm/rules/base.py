"""What a rule is: a small object with a stable code and the hooks it needs.

The engine runs the list (wfm/rules/__init__.py:make_rules()). A rule may
- `judge` a break request (return a Refusal, a Note for the allowed detail, or None),
- react to a shift, a state change or a break start by scheduling deadlines
  on the floor's heap (`schedule`),
- turn a due deadline into a finding (`on_due`), validating it first,
- look at the floor after each event (`after_event`, floor-level alerts).
Only the hooks a rule overrides are called.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from wfm.decisions import Output
from wfm.events import AgentState, BreakKind
from wfm.floor.model import AgentRecord, BreakRecord, BreakRequest, ShiftRecord
from wfm.floor.state import FloorState
from wfm.floor.timers import Deadline


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request refused by one rule: code, English and Chinese reason, the budget's next window."""

    rule: str
    detail: str
    detail_zh: str
    next_window: float | None = None
    queueable: bool = False  # only QUEUE_NEAR_FULL and LUNCH_COVER wait in the break queue (§2)


@dataclass(frozen=True, slots=True)
class Note:
    """What a passing rule adds to an allowed decision's detail."""

    detail: str
    detail_zh: str = ""


class Rule:
    code: ClassVar[str]
    kinds: ClassVar[frozenset[BreakKind]] = frozenset()  # request kinds this rule judges
    floor_wide: ClassVar[bool] = False  # judges the floor, not the agent's own limits (reads held places)
    index: int = -1  # position in the engine's list, set by the engine

    def judge(self, floor: FloorState, rec: AgentRecord, req: BreakRequest) -> Refusal | Note | None:
        """Judge a request (side-effect free). Every origin (a request, a pause judged as one, a
        queue grant) gets the same view of the floor: places held by other agents' allowed,
        not yet started breaks count as away (floor.holds, docs/break-holds.md)."""
        return None

    def on_shift(self, floor: FloorState, rec: AgentRecord, shift: ShiftRecord, t: float) -> None:
        return None

    def on_state(self, floor: FloorState, rec: AgentRecord, old: AgentState, t: float) -> None:
        return None

    def on_break_start(self, floor: FloorState, rec: AgentRecord, brk: BreakRecord, t: float,
                       ts: datetime, granted: bool) -> Output | None:
        """`granted`: the break follows an allowed request or override (no decision at this pause)."""
        return None

    def on_due(self, floor: FloorState, deadline: Deadline, ts: datetime) -> Output | None:
        return None

    def after_event(self, floor: FloorState, ts: datetime) -> Output | None:
        return None

    def schedule(self, floor: FloorState, due: float, *, strict: bool, key: str, token: object = None) -> None:
        floor.deadlines.push(due, strict, self.index, key, token)


def overrides(rule: Rule, hook: str) -> bool:
    return getattr(type(rule), hook) is not getattr(Rule, hook)
