"""MEAL_NOT_IN_SLOT (F6): a meal outside the slot the roster assigned (when a slot exists).

A meal request (or a pause into meal, judged as one) outside the slot is
refused; `next_window` is the slot's start when it is still ahead. A meal
that starts outside the slot although its request was allowed (allowed
earlier, taken late) is reported as a violation; a supervisor's override
settles it.
"""
from __future__ import annotations

from wfm.decisions import Violation
from wfm.events import BreakKind
from wfm.rules.base import Refusal, Rule


class MealNotInSlot(Rule):
    code = "MEAL_NOT_IN_SLOT"
    kinds = frozenset({BreakKind.MEAL})

    def _slot_text(self, floor, shift) -> str:
        return f"{floor.clock(shift.meal_start)}–{floor.clock(shift.meal_end)}"

    def judge(self, floor, rec, req):
        shift = rec.current_shift(req.t)
        if shift is None or shift.meal_start is None or shift.in_slot(req.t):
            return None
        if req.t < shift.meal_start:
            window, when = shift.meal_start, "is still ahead"
        else:
            upcoming = rec.next_shift(req.t)
            window = upcoming.meal_start if upcoming is not None else None
            when = "has passed"
        slot = self._slot_text(floor, shift)
        return Refusal(
            self.code,
            f"meal (用餐) refused: outside the assigned meal slot {slot} (the slot {when})",
            f"不在排定的用餐时段{slot}内，不能用餐",
            next_window=window,
        )

    def on_break_start(self, floor, rec, brk, t, ts, granted):
        if brk.kind is not BreakKind.MEAL or not granted or brk.overridden:
            return None
        shift = rec.current_shift(t)
        if shift is None or shift.meal_start is None or shift.in_slot(t):
            return None
        return Violation(
            ts=ts, agent=rec.id, rule=self.code,
            detail=f"meal (用餐) started {floor.clock(t)}, outside the assigned meal slot {self._slot_text(floor, shift)}",
        )
