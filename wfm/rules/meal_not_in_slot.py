"""MEAL_NOT_IN_SLOT (F6): a meal outside the slot the roster assigned (when a slot exists).

A meal request (or a pause into meal, judged as one) outside the slot is
refused; `next_window` is the slot's start when it is still ahead. A meal
that starts outside the slot although its request was allowed (allowed
earlier, taken late) is reported as a violation; a supervisor's override
settles it.
"""
from __future__ import annotations

from datetime import datetime

from wfm.decisions import Violation
from wfm.events import BreakKind
from wfm.floor.model import AgentRecord, BreakRecord, BreakRequest
from wfm.floor.state import FloorState
from wfm.rules.base import Refusal, Rule


class MealNotInSlot(Rule):
    code = "MEAL_NOT_IN_SLOT"
    kinds = frozenset({BreakKind.MEAL})

    def _slot_text(self, floor: FloorState, slot: tuple[float, float]) -> str:
        return f"{floor.clock(slot[0])}–{floor.clock(slot[1])}"

    def judge(self, floor: FloorState, rec: AgentRecord, req: BreakRequest) -> Refusal | None:
        shift = rec.current_shift(req.t)
        slot = shift.meal_slot if shift is not None else None
        if shift is None or slot is None or shift.in_slot(req.t):
            return None
        window: float | None
        if req.t < slot[0]:
            window, when = slot[0], "is still ahead"
        else:
            upcoming = rec.next_shift(req.t)
            window = upcoming.meal_start if upcoming is not None else None
            when = "has passed"
        text = self._slot_text(floor, slot)
        return Refusal(
            self.code,
            f"meal (用餐) refused: outside the assigned meal slot {text} (the slot {when})",
            f"不在排定的用餐时段{text}内，不能用餐",
            next_window=window,
        )

    def on_break_start(self, floor: FloorState, rec: AgentRecord, brk: BreakRecord, t: float, ts: datetime,
                       granted: bool) -> Violation | None:
        if brk.kind is not BreakKind.MEAL or not granted or brk.overridden:
            return None
        shift = rec.current_shift(t)
        slot = shift.meal_slot if shift is not None else None
        if shift is None or slot is None or shift.in_slot(t):
            return None
        return Violation(
            ts=ts, agent=rec.id, rule=self.code,
            detail=f"meal (用餐) started {floor.clock(t)}, outside the assigned meal slot {self._slot_text(floor, slot)}",
        )
