"""SHORT_BREAK_BUDGET (F4): short breaks in one shift would exceed / exceeded the budget.

As a decision: refused when no budget is left, or when the request's planned
`minutes` would pass it (without `minutes` it is allowed while any budget
remains, and the detail says how much). `next_window` is when the budget
renews: the agent's next shift (a floor-day bucket renews at local midnight).
As a violation: a timed overrun, once per break, when the minutes actually
taken this shift pass the budget while the agent is on a short break — a
break taken after a refusal counts too (strict: exactly 30:00 is within).
"""
from __future__ import annotations

from datetime import datetime

from wfm.decisions import Violation
from wfm.events import BreakKind
from wfm.floor.model import AgentRecord, BreakRecord, BreakRequest, ShiftRecord
from wfm.floor.state import FloorState
from wfm.floor.timers import Deadline
from wfm.rules.base import Note, Refusal, Rule
from wfm.rules.text import dur, dur_zh


def renewal(floor: FloorState, rec: AgentRecord, bucket: ShiftRecord) -> float | None:
    """When the short-break budget renews: the next shift's start, or the next floor day."""
    if not bucket.rostered:
        return bucket.end
    upcoming = rec.next_shift(bucket.start)
    return upcoming.start if upcoming else None


class ShortBreakBudget(Rule):
    code = "SHORT_BREAK_BUDGET"
    kinds = frozenset({BreakKind.SHORT})

    def judge(self, floor: FloorState, rec: AgentRecord, req: BreakRequest) -> Refusal | Note | None:
        bucket = floor.budget_bucket(rec, req.t)
        used = floor.short_used_s(bucket, rec, req.t)
        budget = floor.short_budget_s
        left = budget - used
        scope = "this shift" if bucket.rostered else "today"
        numbers = f"{dur(used)} of {dur(budget)} short-break budget used {scope}, {dur(left)} left"
        zh = f"本班已用小休{dur_zh(used)}，剩余{dur_zh(left)}"
        if left <= 0:
            return Refusal(self.code, f"short break (小休) refused: no budget left ({numbers})",
                           f"小休总时长已用完（{zh}）", next_window=renewal(floor, rec, bucket))
        if req.minutes is not None and req.minutes * 60.0 > left + 1e-9:
            return Refusal(
                self.code,
                f"short break (小休) refused: planned {req.minutes:g} min would exceed the budget ({numbers})",
                f"计划{req.minutes:g}分钟将超出小休总时长（{zh}）",
                next_window=renewal(floor, rec, bucket),
            )
        return Note(numbers, zh)

    def on_break_start(self, floor: FloorState, rec: AgentRecord, brk: BreakRecord, t: float, ts: datetime,
                       granted: bool) -> None:
        if brk.kind is BreakKind.SHORT and brk.bucket is not None:
            left = floor.short_budget_s - brk.bucket.short_used_s
            self.schedule(floor, brk.start + max(0.0, left), strict=True, key=rec.id, token=brk.id)
        return None

    def on_due(self, floor: FloorState, deadline: Deadline, ts: datetime) -> Violation | None:
        rec = floor.agents[deadline.key]
        brk = rec.brk
        if brk is None or brk.id != deadline.token or brk.bucket is None:
            return None
        used = floor.short_used_s(brk.bucket, rec, floor.now_s)
        scope = "this shift" if brk.bucket.rostered else "today"
        taken = "" if brk.allowed else f" (this break was taken after a {brk.rule} refusal)"
        return Violation(
            ts=ts, agent=rec.id, rule=self.code,
            detail=(f"short breaks {scope} passed the {dur(floor.short_budget_s)} budget: "
                    f"{dur(used, up=True)} used, {brk.bucket.short_count} breaks; on short break (小休) "
                    f"since {floor.clock(brk.start)}{taken}"),
        )
