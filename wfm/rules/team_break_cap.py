"""TEAM_BREAK_CAP (F3a, ours): at most floor.team_short_break_cap agents of one team on
short break (小休) at once; 0 switches the rule off. Not queueable (§2)."""
from __future__ import annotations

from wfm.events import BreakKind
from wfm.rules.base import Refusal, Rule


class TeamBreakCap(Rule):
    code = "TEAM_BREAK_CAP"
    kinds = frozenset({BreakKind.SHORT})

    def judge(self, floor, rec, req, reserve):
        cap = floor.config.floor.team_short_break_cap
        if not cap:
            return None
        on_break = floor.team_short[rec.team] - (1 if rec.brk is not None and rec.brk.kind is BreakKind.SHORT else 0)
        if on_break >= cap:
            return Refusal(
                self.code,
                f"short break (小休) refused: {on_break} agent(s) of team {rec.team or '-'} already on "
                f"short break, cap {cap}",
                f"本组已有{on_break}人小休，上限{cap}人",
            )
        return None
