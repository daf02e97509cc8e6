"""LUNCH_COVER (F8): a meal (用餐) refused when it would leave fewer than
floor.lunch_cover_min_agents on post (午餐时间保证有人值班); agents of the post
on post but holding the place of an allowed break not yet started count as
gone (docs/break-holds.md). Queueable: with queue=true the request waits until
cover allows it."""
from __future__ import annotations

from wfm.events import ON_POST_STATES, BreakKind
from wfm.floor.model import AgentRecord, BreakRequest
from wfm.floor.state import FloorState
from wfm.rules.base import Note, Refusal, Rule


class LunchCover(Rule):
    code = "LUNCH_COVER"
    kinds = frozenset({BreakKind.MEAL})
    floor_wide = True

    def judge(self, floor: FloorState, rec: AgentRecord, req: BreakRequest) -> Refusal | Note | None:
        minimum = floor.config.floor.lunch_cover_min_agents
        stay = floor.post_on_post[rec.post] - (1 if rec.state in ON_POST_STATES else 0)
        held = floor.holds.on_post_others(rec, rec.post)  # on post now, but already allowed to go
        left = stay - held
        if held:
            count = f"{left} agent(s) on post ({stay} on post, {held} already allowed a break)"
            count_zh = f"{left}人（在岗{stay}人，其中{held}人已获准休息尚未离开）"
        else:
            count, count_zh = f"{left} agent(s) on post", f"{left}人"
        if left < minimum:
            return Refusal(
                self.code,
                f"meal (用餐) refused: it would leave {count}, fewer than the "
                f"{minimum} required at lunch (午餐时间保证有人值班)",
                f"用餐后在岗人数为{count_zh}，少于午餐值班最低{minimum}人",
                queueable=True,
            )
        if held:
            return Note(f"{count} stay (minimum {minimum})", f"用餐后在岗{count_zh}")
        return Note(f"{left} agent(s) stay on post (minimum {minimum})", f"用餐后在岗{left}人")
