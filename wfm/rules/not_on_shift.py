"""NOT_ON_SHIFT: a break requested by an agent with no current shift (also after it ended).

Judged against the roster: once any `shift` event has been seen, an agent
without a shift with start <= t < end is refused. A floor with no roster
loaded at all (no `shift` event yet) cannot tell, and judges the other rules.
"""
from __future__ import annotations

from wfm.events import BreakKind
from wfm.floor.model import AgentRecord, BreakRequest
from wfm.floor.state import FloorState
from wfm.rules.base import Refusal, Rule
from wfm.rules.text import KIND_EN, KIND_ZH


class NotOnShift(Rule):
    code = "NOT_ON_SHIFT"
    kinds = frozenset({BreakKind.SHORT, BreakKind.MEAL})

    def judge(self, floor: FloorState, rec: AgentRecord, req: BreakRequest) -> Refusal | None:
        if not floor.rostered or rec.current_shift(req.t) is not None:
            return None
        ended = [s for s in rec.shifts if s.end <= req.t]
        upcoming = rec.next_shift(req.t)
        if ended:
            why = f"shift {floor.clock(ended[-1].start)}–{floor.clock(ended[-1].end)} has ended"
        else:
            why = "no shift on the roster now"
        nxt = f"; next shift starts {floor.dt(upcoming.start).strftime('%Y-%m-%d %H:%M')}" if upcoming else ""
        return Refusal(
            self.code,
            f"{KIND_EN[req.kind]} refused: agent {rec.id} is not on shift ({why}){nxt}",
            f"当前不在班次内，不能{KIND_ZH[req.kind]}",
            next_window=upcoming.start if upcoming else None,
        )
