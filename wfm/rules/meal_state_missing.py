"""MEAL_STATE_MISSING (F5): the meal slot ended and the agent spent part of it off post without
ever being in `meal` (用餐) this shift — e.g. eating in not_ready or logged out.

Checked once, when the slot ends (due at the slot's end instant). Agents who
never came to work this shift are left to LATE_SIGN_IN / SERIOUS_LATE.
"""
from __future__ import annotations

from datetime import datetime

from wfm.decisions import Violation
from wfm.floor.model import AgentRecord, ShiftRecord
from wfm.floor.state import FloorState
from wfm.floor.timers import Deadline
from wfm.rules.base import Rule
from wfm.rules.text import dur


class MealStateMissing(Rule):
    code = "MEAL_STATE_MISSING"

    def on_shift(self, floor: FloorState, rec: AgentRecord, shift: ShiftRecord, t: float) -> None:
        slot = shift.meal_slot
        if slot is not None:
            self.schedule(floor, slot[1], strict=False, key=rec.id, token=shift)

    def on_due(self, floor: FloorState, deadline: Deadline, ts: datetime) -> Violation | None:
        rec = floor.agents[deadline.key]
        shift: ShiftRecord = deadline.token
        slot = shift.meal_slot  # scheduled only for a shift with a slot
        if not any(s is shift for s in rec.shifts) or self.code in shift.reported or slot is None:
            return None  # the shift was replaced or forgotten, or this was already reported
        slot_start, slot_end = slot
        came = floor.first_on_post(rec, shift)
        if came is None or came >= slot_end:
            return None  # never at work before the slot ended: lateness rules speak for it
        if shift.first_meal_start is not None and shift.first_meal_start < slot_end:
            return None
        away = floor.slot_off_post_s(rec, shift, slot_end)
        if away <= 0:
            return None
        shift.reported.add(self.code)
        return Violation(
            ts=ts, agent=rec.id, rule=self.code,
            detail=(f"off post {dur(away)} during the meal slot {floor.clock(slot_start)}–"
                    f"{floor.clock(slot_end)} without ever being in meal (用餐) state"),
        )
