"""The floor rulebook, one module per rule (codes of interfaces.md §2).

`make_rules()` returns a fresh list in judging order: for a break request the
first refusing rule gives the decision's code (not on shift, then the
agent's own limits and budget, then the floor: team cap, gate, lunch cover).
Adding a rule = one module here plus its line below and its tests.
"""
from __future__ import annotations

from wfm.rules.base import Note, Refusal, Rule
from wfm.rules.late_sign_in import LateSignIn
from wfm.rules.lunch_cover import LunchCover
from wfm.rules.meal_not_in_slot import MealNotInSlot
from wfm.rules.meal_state_missing import MealStateMissing
from wfm.rules.meal_too_long import MealTooLong
from wfm.rules.not_on_shift import NotOnShift
from wfm.rules.post_empty import PostEmpty
from wfm.rules.queue_near_full import QueueNearFull
from wfm.rules.serious_late import SeriousLate
from wfm.rules.short_break_budget import ShortBreakBudget
from wfm.rules.short_break_too_long import ShortBreakTooLong
from wfm.rules.team_break_cap import TeamBreakCap

CODES = (
    "QUEUE_NEAR_FULL", "SHORT_BREAK_TOO_LONG", "SHORT_BREAK_BUDGET", "MEAL_TOO_LONG",
    "MEAL_NOT_IN_SLOT", "MEAL_STATE_MISSING", "LATE_SIGN_IN", "SERIOUS_LATE", "POST_EMPTY",
    "LUNCH_COVER", "NOT_ON_SHIFT", "TEAM_BREAK_CAP",
)


def make_rules() -> list[Rule]:
    """A fresh rule list (rules keep per-floor memory, so each engine gets its own)."""
    return [
        NotOnShift(),
        ShortBreakTooLong(),
        ShortBreakBudget(),
        MealTooLong(),
        MealNotInSlot(),
        TeamBreakCap(),
        QueueNearFull(),
        LunchCover(),
        MealStateMissing(),
        LateSignIn(),
        SeriousLate(),
        PostEmpty(),
    ]


__all__ = ["CODES", "Note", "Refusal", "Rule", "make_rules"]
