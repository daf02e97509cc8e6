"""SHORT_BREAK_TOO_LONG (F4): one short break (小休) ran past floor.short_break_max_min.

A request planning longer than the limit is refused; a running break is
reported once when it passes the limit (strict: exactly 10:00 is within).
"""
from __future__ import annotations

from datetime import datetime

from wfm.decisions import Violation
from wfm.events import BreakKind
from wfm.floor.model import AgentRecord, BreakRecord, BreakRequest
from wfm.floor.state import FloorState
from wfm.floor.timers import Deadline
from wfm.rules.base import Refusal, Rule
from wfm.rules.text import dur


class ShortBreakTooLong(Rule):
    code = "SHORT_BREAK_TOO_LONG"
    kinds = frozenset({BreakKind.SHORT})

    def judge(self, floor: FloorState, rec: AgentRecord, req: BreakRequest) -> Refusal | None:
        if req.minutes is not None and req.minutes * 60.0 > floor.short_max_s:
            return Refusal(
                self.code,
                f"short break (小休) refused: planned {req.minutes:g} min is longer than the "
                f"{dur(floor.short_max_s)} limit for one short break",
                f"单次小休不得超过{floor.short_max_s / 60:g}分钟",
            )
        return None

    def on_break_start(self, floor: FloorState, rec: AgentRecord, brk: BreakRecord, t: float, ts: datetime,
                       granted: bool) -> None:
        if brk.kind is BreakKind.SHORT:
            self.schedule(floor, brk.start + floor.short_max_s, strict=True, key=rec.id, token=brk.id)
        return None

    def on_due(self, floor: FloorState, deadline: Deadline, ts: datetime) -> Violation | None:
        rec = floor.agents[deadline.key]
        brk = rec.brk
        if brk is None or brk.id != deadline.token:
            return None
        return Violation(
            ts=ts, agent=rec.id, rule=self.code,
            detail=(f"short break (小休) started {floor.clock(brk.start)} ran past the "
                    f"{dur(floor.short_max_s)} limit ({dur(floor.now_s - brk.start, up=True)} so far)"),
        )
