"""TEAM_BREAK_CAP (F3a, ours): at most floor.team_short_break_cap agents of one team on
short break (小休) at once, those allowed one and not yet on it (held places,
docs/break-holds.md) included; 0 switches the rule off. Not queueable (docs/interfaces.md §2)."""
from __future__ import annotations

from wfm.events import BreakKind
from wfm.floor.model import AgentRecord, BreakRequest
from wfm.floor.state import FloorState
from wfm.rules.base import Refusal, Rule


class TeamBreakCap(Rule):
    code = "TEAM_BREAK_CAP"
    kinds = frozenset({BreakKind.SHORT})
    floor_wide = True

    def judge(self, floor: FloorState, rec: AgentRecord, req: BreakRequest) -> Refusal | None:
        cap = floor.config.floor.team_short_break_cap
        if not cap:
            return None
        on_break = floor.team_short[rec.team] - (1 if rec.brk is not None and rec.brk.kind is BreakKind.SHORT else 0)
        held = floor.holds.team_short_others(rec)  # allowed a short break, not yet on it
        if on_break + held >= cap:
            count = f"{on_break} agent(s) of team {rec.team or '-'} already on short break"
            count_zh = f"本组已有{on_break}人小休"
            if held:
                count += f" and {held} already allowed one"
                count_zh += f"，另有{held}人已获准小休"
            return Refusal(
                self.code,
                f"short break (小休) refused: {count}, cap {cap}",
                f"{count_zh}，上限{cap}人",
            )
        return None
