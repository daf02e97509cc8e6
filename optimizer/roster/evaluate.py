"""Figures of a finished roster, computed from its lines (not from solver internals)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from optimizer.roster.problem import DAY_MIN, Assignment, RosterProblem


def on_post_counts(problem: RosterProblem, assignments: Sequence[Assignment]) -> dict[tuple[int, int], int]:
    """Agents on post per demand interval (day index, start minute): shift covers it whole, meal does not overlap."""
    width = problem.rules.interval_min
    meal_len = problem.rules.meal_len_min
    counts: dict[tuple[int, int], int] = defaultdict(int)
    first = problem.first_day
    spans = []
    for item in assignments:
        if item.works:
            day = problem.day_index(item.day)
            start, end = item.span
            meal = None if item.meal_start_min is None else day * DAY_MIN + item.meal_start_min
            spans.append((day * DAY_MIN + start, day * DAY_MIN + end, meal))
    for past in problem.previous:
        day = (past.day - first).days
        meal = None if past.meal_start_min is None else day * DAY_MIN + past.meal_start_min
        spans.append((day * DAY_MIN + past.start_min, day * DAY_MIN + past.start_min + past.length_min, meal))
    for start, end, meal in spans:
        begin = -(-start // width) * width
        while begin + width <= end:
            if meal is None or not (meal < begin + width and begin < meal + meal_len):
                counts[(begin // DAY_MIN, begin % DAY_MIN)] += 1
            begin += width
    return counts


def unmet_agent_intervals(problem: RosterProblem, assignments: Sequence[Assignment]) -> int:
    """Σ over demand rows of max(0, required − agents on post) (docs/interfaces.md §4)."""
    counts = on_post_counts(problem, assignments)
    return sum(max(0, s.required - counts.get((problem.day_index(s.day), s.start_min), 0)) for s in problem.demand)
