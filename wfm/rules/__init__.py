"""The floor rulebook, one module per rule (codes of docs/interfaces.md §2).

`make_rules()` returns a fresh list in judging order: for a break request the
first refusing rule gives the decision's code (not on shift, then the
agent's own limits and budget, then the floor: team cap, gate, lunch cover).
Adding a rule = one module here plus its line below and its tests.

| code | module | kind | limit (config) |
|---|---|---|---|
| NOT_ON_SHIFT | not_on_shift | decision | roster (`shift` events) |
| SHORT_BREAK_TOO_LONG | short_break_too_long | decision (planned) + timed, strict | floor.short_break_max_min |
| SHORT_BREAK_BUDGET | short_break_budget | decision + timed, strict | floor.short_break_budget_min |
| MEAL_TOO_LONG | meal_too_long | decision (planned) + timed, strict | floor.meal_max_min |
| MEAL_NOT_IN_SLOT | meal_not_in_slot | decision + violation at a late start | shift meal_start, floor.meal_slot_min |
| TEAM_BREAK_CAP | team_break_cap | decision (F3a) | floor.team_short_break_cap (0 = off) |
| QUEUE_NEAR_FULL | queue_near_full | decision (gate policy) + floor alert | floor.near_full_idle_threshold, floor.gate.* |
| LUNCH_COVER | lunch_cover | decision, queueable | floor.lunch_cover_min_agents |
| MEAL_STATE_MISSING | meal_state_missing | timed at slot end, inclusive | floor.meal_slot_min |
| LATE_SIGN_IN | late_sign_in | timed at shift start, strict | floor.sign_in_window_min (wording) |
| SERIOUS_LATE | serious_late | timed, inclusive | floor.serious_late_min |
| POST_EMPTY | post_empty | timed, strict; violation with agent null | teams with queues = posts |
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
