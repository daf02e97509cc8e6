"""Why a roster leaves demand unmet, or why the hard rules admit no roster — in words.

Never a bare INFEASIBLE: each line names the day, the rule and how many agents
are short.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ortools.sat.python import cp_model

from optimizer.roster.constraints import HARD_RULES, RosterVars, add_shift_variables, worked_before
from optimizer.roster.evaluate import on_post_counts
from optimizer.roster.io import covered_starts
from optimizer.roster.problem import DAY_MIN, Assignment, RosterProblem, min_to_hhmm

RULE_NAMES = {
    "add_one_shift_per_day": "R4 one shift a day",
    "add_unavailable": "unavailable dates (leave)",
    "add_meal_fit": "R8 meal slot must fit inside the shift with its margins",
    "add_min_rest": "R4 minimum rest between shifts",
    "add_max_consecutive_days": "R2 at most N consecutive working days (做六休一)",
    "add_min_rest_days": "R3 rest days per month",
    "add_meal_slots": "R8 one meal slot per shift",
    "add_lunch_cover": "F8 lunch cover (someone on post during meals)",
}


def explain_shortage(problem: RosterProblem, assignments: Sequence[Assignment], limit_days: int = 10) -> list[str]:
    """One line per short day (worst first): intervals short, the worst interval, and the rule that binds."""
    on_post = on_post_counts(problem, assignments)
    by_day: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for slot in problem.demand:
        key = (problem.day_index(slot.day), slot.start_min)
        short = slot.required - on_post.get(key, 0)
        if short > 0:
            by_day[key[0]].append((short, slot.start_min, slot.required))
    before = worked_before(problem)
    lines: list[str] = []
    total = sum(s for rows in by_day.values() for s, _, _ in rows)
    if not by_day:
        return lines
    capacity = sum(len(problem.days) - max(problem.rules.rest_days_per_month, len(a.unavailable & set(problem.days))) for a in problem.agents)
    lines.append(f"demand left unmet: {total} agent-intervals on {len(by_day)} day(s); "
                 f"{len(problem.agents)} agents can work at most {capacity} agent-days this month (R3 rest days, unavailable dates)")
    for shift in problem.shifts:
        if not shift.meal_offsets:
            lines.append(f"shift template {shift.name!r} ({shift.start_text}–{shift.end_text}) leaves no room for a "
                         f"{problem.rules.meal_len_min}-min meal {problem.rules.meal_margin_min} min from both ends (R8): it cannot be rostered")
    worked = {(a.agent_id, problem.day_index(a.day)) for a in assignments if a.works}
    for agent_id, days in before.items():
        worked |= {(agent_id, d) for d in days}
    limit = problem.rules.max_consecutive_days
    ranked = sorted(by_day.items(), key=lambda item: -sum(s for s, _, _ in item[1]))
    open_starts = covered_starts(problem.shifts, problem.rules.interval_min)
    for day, rows in ranked[:limit_days]:
        when = problem.days[day]
        short, start, required = max(rows)
        on_leave = sum(1 for a in problem.agents if when in a.unavailable)
        working = sum(1 for a in problem.agents if (a.agent_id, day) in worked)
        # off that day because the `limit` days before were all worked (R2, 做六休一)
        forced = sum(1 for a in problem.agents if when not in a.unavailable and (a.agent_id, day) not in worked
                     and all((a.agent_id, d) in worked for d in range(day - limit, day)))
        resting = len(problem.agents) - on_leave - working - forced
        breakdown = f"{working} working, {on_leave} unavailable, {forced} resting under R2 (做六休一), {resting} on other rest days (R3/R4)"
        if start not in open_starts:
            rule = "opening hours"
            reason = "no shift template covers this interval (outside opening hours): no roster can staff it"
        elif required > len(problem.agents) - on_leave - forced:
            rule = "unavailable dates" if on_leave >= forced else "R2 consecutive days"
            reason = f"only {len(problem.agents) - on_leave - forced} agents could work that day: {breakdown}"
        else:
            rule = "R2/R3/R4/R8"
            reason = (f"{breakdown}; putting more of them on this shift would break a rest rule (R2/R3/R4) "
                      f"or leave a meal without cover (R8/F8) elsewhere")
        lines.append(
            f"{when} ({when:%a}): {sum(s for s, _, _ in rows)} agent-intervals short; worst {min_to_hhmm(start)}–"
            f"{min_to_hhmm(start + problem.rules.interval_min)} needs {required} on post, {required - short} rostered "
            f"— {short} agent{'s' if short != 1 else ''} short; {reason} [{rule}]"
        )
    if len(ranked) > limit_days:
        lines.append(f"… and {len(ranked) - limit_days} more short day(s)")
    return lines


def _feasible(problem: RosterProblem, rules, seconds: float) -> bool:
    rv = RosterVars(model=cp_model.CpModel(), problem=problem)
    add_shift_variables(rv)
    for rule in rules:
        rule(rv)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 1
    return solver.solve(rv.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def explain_infeasible(problem: RosterProblem, seconds_left: float = 10.0) -> list[str]:
    """Which hard rules conflict: each rule is dropped in turn; those whose removal restores a roster are named."""
    lines = ["the hard rules admit no roster for these inputs"]
    for shift in problem.shifts:
        if not shift.meal_offsets:
            lines.append(f"shift template {shift.name!r} ({shift.start_text}–{shift.end_text}) has no room for a "
                         f"{problem.rules.meal_len_min}-min meal {problem.rules.meal_margin_min} min from both ends (R8); it is never used")
    budget = max(0.5, seconds_left / max(1, len(HARD_RULES)))
    culprits = []
    for rule in HARD_RULES:
        if rule.__name__ == "add_meal_slots":
            continue  # lunch cover is built on the meal variables; it is dropped on its own
        if _feasible(problem, [r for r in HARD_RULES if r is not rule], budget):
            culprits.append(RULE_NAMES.get(rule.__name__, rule.__name__))
    if culprits:
        lines.append("a roster exists once this rule is relaxed: " + "; ".join(culprits))
    else:
        lines.append("no single hard rule is to blame; several conflict (check previous roster carry-over and unavailable dates)")
    return lines


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """One rest request of the month: granted or not, and when not, what stood in the way.

    `blocker` is "demand" (without her an interval of that day goes short),
    "F8" (a meal would be left without cover) or "none" (no rule or demand
    forced it: fairness/stability weights or the search's time limit).
    """

    agent_id: str
    day: date
    honoured: bool
    blocker: str = ""
    reason: str = ""


def rest_request_outcomes(problem: RosterProblem, assignments: Sequence[Assignment]) -> list[RequestOutcome]:
    """Every rest request (unavailable dates aside) with its outcome; a refused one names the demand or rule in its way."""
    on_post = on_post_counts(problem, assignments)
    required = {(problem.day_index(s.day), s.start_min): s.required for s in problem.demand}
    by_key = {(a.agent_id, a.day): a for a in assignments}
    width = problem.rules.interval_min
    meal_len = problem.rules.meal_len_min
    eating: dict[tuple[int, int], set[str]] = defaultdict(set)  # interval -> agents whose meal overlaps it
    for a in assignments:
        if a.works and a.meal_start_min is not None:
            eats = problem.day_index(a.day) * DAY_MIN + a.meal_start_min
            for begin in range(eats - eats % width, eats + meal_len, width):
                eating[(begin // DAY_MIN, begin % DAY_MIN)].add(a.agent_id)
    outcomes: list[RequestOutcome] = []
    for agent in problem.agents:
        for when in sorted(agent.rest_requests - agent.unavailable):
            if not problem.days[0] <= when <= problem.days[-1]:
                continue
            item = by_key.get((agent.agent_id, when))
            if item is None or not item.works:
                outcomes.append(RequestOutcome(agent.agent_id, when, True))
                continue
            day = problem.day_index(when)
            tight: list[tuple[int, int, int]] = []  # (absolute start, required, on post)
            last_at_lunch = False  # she is among the F8 minimum on post while someone else eats
            shift_start, shift_end = item.span
            begin = -(-shift_start // width) * width
            while begin + width <= shift_end:
                meal = item.meal_start_min
                if meal is None or not (meal < begin + width and begin < meal + problem.rules.meal_len_min):
                    key = (day + begin // DAY_MIN, begin % DAY_MIN)
                    need, have = required.get(key, 0), on_post.get(key, 0)
                    if need > 0 and have <= need:
                        tight.append((begin, need, have))
                    if eating.get(key, set()) - {agent.agent_id} and have <= problem.rules.lunch_cover_min_agents:
                        last_at_lunch = True
                begin += width
            if tight:
                start, need, have = min(tight, key=lambda t: t[2] - t[1])
                reason = (f"demand: without her {len(tight)} interval(s) of {when} go short, e.g. {min_to_hhmm(start)} "
                          f"needs {need} on post and has {have}")
                outcomes.append(RequestOutcome(agent.agent_id, when, False, "demand", reason))
            elif last_at_lunch:
                outcomes.append(RequestOutcome(agent.agent_id, when, False, "F8",
                                               "F8 lunch cover: she is the last agent on post during a meal"))
            else:
                outcomes.append(RequestOutcome(agent.agent_id, when, False, "none",
                                               "no hard rule or demand: soft weights (fairness, stability) or the time limit"))
    return outcomes
