"""MEAL_TOO_LONG (F5): one meal (用餐) ran past floor.meal_max_min (strict: exactly 30:00 is within)."""
from __future__ import annotations

from datetime import datetime

from wfm.decisions import Violation
from wfm.events import BreakKind
from wfm.floor.model import AgentRecord, BreakRecord, BreakRequest
from wfm.floor.state import FloorState
from wfm.floor.timers import Deadline
from wfm.rules.base import Refusal, Rule
from wfm.rules.text import dur


class MealTooLong(Rule):
    code = "MEAL_TOO_LONG"
    kinds = frozenset({BreakKind.MEAL})

    def judge(self, floor: FloorState, rec: AgentRecord, req: BreakRequest) -> Refusal | None:
        if req.minutes is not None and req.minutes * 60.0 > floor.meal_max_s:
            return Refusal(
                self.code,
                f"meal (用餐) refused: planned {req.minutes:g} min is longer than the {dur(floor.meal_max_s)} limit",
                f"用餐不得超过{floor.meal_max_s / 60:g}分钟",
            )
        return None

    def on_break_start(self, floor: FloorState, rec: AgentRecord, brk: BreakRecord, t: float, ts: datetime,
                       granted: bool) -> None:
        if brk.kind is BreakKind.MEAL:
            self.schedule(floor, brk.start + floor.meal_max_s, strict=True, key=rec.id, token=brk.id)
        return None

    def on_due(self, floor: FloorState, deadline: Deadline, ts: datetime) -> Violation | None:
        rec = floor.agents[deadline.key]
        brk = rec.brk
        if brk is None or brk.id != deadline.token:
            return None
        return Violation(
            ts=ts, agent=rec.id, rule=self.code,
            detail=(f"meal (用餐) started {floor.clock(brk.start)} ran past the {dur(floor.meal_max_s)} "
                    f"limit ({dur(floor.now_s - brk.start, up=True)} so far)"),
        )
