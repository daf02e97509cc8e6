"""SERIOUS_LATE (F10): 20 min or more late, or 20 min or more off post (not_ready/logged_out).

Inclusive threshold: exactly 20:00 is serious. Two triggers, one finding per
occurrence:
- lateness: not on post at shift start + 20 min (never on post since the start);
- off post: a not_ready/logged_out spell that began during a current shift
  reaches 20 min while the shift is still current.
Breaks and meals have their own rules and never count here.
"""
from __future__ import annotations

from datetime import datetime

from wfm.decisions import Violation
from wfm.events import AgentState
from wfm.floor.model import OFF_POST_SPELL_STATES, AgentRecord, ShiftRecord
from wfm.floor.state import FloorState
from wfm.floor.timers import Deadline
from wfm.rules.base import Rule
from wfm.rules.text import dur


class SeriousLate(Rule):
    code = "SERIOUS_LATE"

    def on_shift(self, floor: FloorState, rec: AgentRecord, shift: ShiftRecord, t: float) -> None:
        self.schedule(floor, shift.start + floor.serious_s, strict=False, key=rec.id, token=("late", shift))

    def on_state(self, floor: FloorState, rec: AgentRecord, old: AgentState, t: float) -> None:
        if rec.state in OFF_POST_SPELL_STATES and old not in OFF_POST_SPELL_STATES:
            shift = rec.current_shift(t)
            if shift is not None:
                self.schedule(floor, t + floor.serious_s, strict=False, key=rec.id,
                              token=("spell", shift, rec.off_post_spell))

    def on_due(self, floor: FloorState, deadline: Deadline, ts: datetime) -> Violation | None:
        rec = floor.agents[deadline.key]
        kind: str
        shift: ShiftRecord
        kind, shift, *spell = deadline.token  # ("late", shift) or ("spell", shift, spell number)
        if not any(s is shift for s in rec.shifts) or not (shift.start <= deadline.due < shift.end):
            return None
        if rec.state not in OFF_POST_SPELL_STATES:
            return None
        state = "not signed in" if rec.state.value == "logged_out" else f"signed in but {rec.state.value}"
        if kind == "late":
            if rec.off_post_since is None or rec.off_post_since > shift.start or "late" in shift.reported:
                return None  # on post (or on a break) at the start: a later spell has its own deadline
            shift.reported.add("late")  # SERIOUS_LATE for lateness: once per shift
            return Violation(
                ts=ts, agent=rec.id, rule=self.code,
                detail=(f"serious lateness: {dur(floor.now_s - shift.start)} after shift start "
                        f"{floor.clock(shift.start)} still not on post ({state}); "
                        f"{dur(floor.serious_s)} or more is serious"),
            )
        since = rec.off_post_since  # set while the agent is in an off-post state
        if rec.off_post_spell != spell[0] or since is None:
            return None
        return Violation(
            ts=ts, agent=rec.id, rule=self.code,
            detail=(f"off post {dur(floor.now_s - since)} since {floor.clock(since)} "
                    f"({state}) during shift {floor.clock(shift.start)}–{floor.clock(shift.end)}; "
                    f"{dur(floor.serious_s)} or more is serious"),
        )
