"""LUNCH_COVER (F8): a meal (用餐) refused when it would leave fewer than
floor.lunch_cover_min_agents on post (午餐时间保证有人值班). Queueable: with
queue=true the request waits until cover allows it."""
from __future__ import annotations

from wfm.events import ON_POST_STATES, BreakKind
from wfm.rules.base import Note, Refusal, Rule


class LunchCover(Rule):
    code = "LUNCH_COVER"
    kinds = frozenset({BreakKind.MEAL})

    def judge(self, floor, rec, req, reserve):
        minimum = floor.config.floor.lunch_cover_min_agents
        left = floor.post_on_post[rec.post] - (1 if rec.state in ON_POST_STATES else 0)
        if reserve:
            left -= floor.reserved_on_post(rec.id)
        if left < minimum:
            return Refusal(
                self.code,
                f"meal (用餐) refused: it would leave {left} agent(s) on post, fewer than the "
                f"{minimum} required at lunch (午餐时间保证有人值班)",
                f"用餐后在岗人数为{left}，少于午餐值班最低{minimum}人",
                queueable=True,
            )
        return Note(f"{left} agent(s) stay on post (minimum {minimum})", f"用餐后在岗{left}人")
