"""Why a break request cannot even be judged now, for the request and its preview alike.

A request from an agent who is signed out, already on a break, or already
waiting in the break queue is refused by the API before the rules see it
(409). The agent page's "if you asked now" preview must say the same, so
both the request handler and the budget handler ask `blocked(budget)` first:
one function, one truth. Pure: an AgentBudgetView in, a Blocked or None out.
"""
from __future__ import annotations

from dataclasses import dataclass

import msgspec

from wfm.events import AgentState, BreakKind
from wfm.views import AgentBudgetView, BreakPreview

KIND_ZH = {BreakKind.SHORT: "小休", BreakKind.MEAL: "用餐"}


@dataclass(frozen=True)
class Blocked:
    """The 409 a request would get now: its error, English and Chinese detail."""

    error: str
    detail: str
    detail_zh: str


def blocked(budget: AgentBudgetView) -> Blocked | None:
    """The reason no break request of this agent can be judged now, or None when it can."""
    agent = budget.agent
    if budget.state is AgentState.LOGGED_OUT:
        return Blocked("agent is logged out", f"agent {agent} must sign in before asking for a break",
                       "请先签入再申请休息")
    if budget.queue_position is not None:
        return Blocked("duplicate request",
                       f"agent {agent} already waits in the break queue at position {budget.queue_position}",
                       f"已在休息排队中，第 {budget.queue_position} 位")
    if budget.on_break is not None:
        kind = BreakKind(budget.on_break)
        return Blocked("already on a break", f"agent {agent} is on a {kind.value} break now",
                       f"正在{KIND_ZH[kind]}，请先结束本次休息")
    return None


def with_gate(budget: AgentBudgetView) -> AgentBudgetView:
    """The budget whose previews say what a request would get now, the gate included."""
    reason = blocked(budget)
    if reason is None:
        return budget

    def refused(preview: BreakPreview) -> BreakPreview:
        return msgspec.structs.replace(preview, allowed=False, rule=None, detail=reason.detail,
                                       detail_zh=reason.detail_zh, next_window=None)

    return msgspec.structs.replace(budget, short_break=refused(budget.short_break), meal=refused(budget.meal))
