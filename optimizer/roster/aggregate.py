"""The aggregate roster model: how many agents work each template on each day (issue 18).

Coverage depends only on these head counts and on how many of each shift eat
at each meal slot, not on who the agents are. So a small CP-SAT model with one
integer per (day, template) and per meal slot — the coverage, meal (R8) and
lunch-cover (F8) rules of the full model, applied to the counts — finds the
least unmet demand the month allows, given the agents' capacity written as
aggregate constraints that every real roster also keeps:

- each day, no more heads than agents available that day (leave, and R4/R2
  against last month's tail);
- R4 between consecutive days: the agents on a template today and those on a
  template tomorrow that it may not be followed by are different people, so
  together they are no more than the agents available on either day;
- R2 (做六休一): in any seven days, no more shifts than each agent's own limit
  in that window, summed;
- R3: in the month, no more shifts than each agent's days left after her rest
  days and leave, summed.

Every real roster satisfies these constraints, so no roster of the month
leaves less unmet than the model's optimum. The unmet demand is minimised
first, then the number of shifts at that level; the counts are the targets the
assignment (optimizer/roster/assign.py) gives to agents.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from optimizer.roster.constraints import (
    RosterVars,
    _gap_min,
    add_coverage,
    add_lunch_cover,
    add_meal_slots,
    too_soon_after_previous,
    worked_before,
)
from optimizer.roster.problem import RosterProblem


@dataclass(frozen=True, slots=True)
class AggregatePlan:
    """Head counts per (day index, template), meal counts per (day, template, offset), and their unmet demand."""

    heads: dict[tuple[int, str], int]
    meals: dict[tuple[int, str, int], int]
    unmet: int  # agent-intervals short with these counts
    optimal: bool  # the unmet demand is proven least: no roster of the month leaves less


def blocked_by_previous(problem: RosterProblem) -> set[tuple[str, int, str]]:
    """(agent, day, template) that last month's shifts forbid: R4 rest after her last shift, R2 after a long run."""
    limit = problem.rules.max_consecutive_days
    blocked = set(too_soon_after_previous(problem))
    for agent_id, days in worked_before(problem).items():
        run = 0
        while -(run + 1) in days:
            run += 1
        if run >= limit:
            for shift in problem.shifts:
                blocked.add((agent_id, 0, shift.name))
    return blocked


def _agent_capacity(problem: RosterProblem) -> tuple[dict[tuple[int, str], int], list[set[str]], dict[tuple[int, int], int], int]:
    """Per (day, template) the agents who may work it; per day the agents who may work at all; per 7-day window
    (first day, last day) the most shifts all agents can work in it (R2, leave); the month's most shifts (R3, leave)."""
    days = problem.days
    n = len(days)
    blocked = blocked_by_previous(problem)
    limit = problem.rules.max_consecutive_days
    before = worked_before(problem)
    per_shift: dict[tuple[int, str], int] = {}
    per_day: list[set[str]] = []
    for d, when in enumerate(days):
        free = set()
        for shift in problem.shifts:
            ids = {a.agent_id for a in problem.agents if when not in a.unavailable and (a.agent_id, d, shift.name) not in blocked}
            per_shift[(d, shift.name)] = len(ids)
            free |= ids
        per_day.append(free)
    windows: dict[tuple[int, int], int] = {}
    for start in range(-limit, n - limit):
        stop = start + limit  # inclusive: limit + 1 days
        total = 0
        for agent in problem.agents:
            past: set[int] = before.get(agent.agent_id, set())
            carried = sum(1 for d in range(start, 0) if d in past)
            open_days = sum(1 for d in range(max(0, start), min(n, stop + 1)) if agent.agent_id in per_day[d])
            total += max(0, min(limit - carried, open_days))
        windows[(max(0, start), min(n - 1, stop))] = total
    rest = min(problem.rules.rest_days_per_month, n)
    month = sum(min(n - rest, sum(1 for d in range(n) if a.agent_id in per_day[d])) for a in problem.agents)
    return per_shift, per_day, windows, month


def build_aggregate(problem: RosterProblem) -> tuple[RosterVars, cp_model.LinearExprT, cp_model.LinearExprT]:
    """The aggregate model and its unmet-demand and over-cover expressions (no objective set)."""
    rv = RosterVars(model=cp_model.CpModel(), problem=problem)
    model = rv.model
    per_shift, per_day, windows, month = _agent_capacity(problem)
    n = len(problem.days)
    for d in range(n):
        for shift in problem.shifts:
            top = per_shift[(d, shift.name)] if shift.meal_offsets else 0
            rv.heads[(d, shift.name)] = model.new_int_var(0, top, f"heads[{d},{shift.name}]")
        model.add(sum(rv.heads[(d, s.name)] for s in problem.shifts) <= len(per_day[d]))
    # R4 across consecutive days (and two days on, for templates long enough): disjoint groups of agents
    rest = problem.rules.min_rest_between_shifts_min
    for delta in (1, 2):
        for later in problem.shifts:
            earlier = [s for s in problem.shifts if _gap_min(problem, 0, s, delta, later) < rest]
            if not earlier:
                continue
            for d in range(n - delta):
                either = len(per_day[d] | per_day[d + delta])
                model.add(rv.heads[(d + delta, later.name)] + sum(rv.heads[(d, s.name)] for s in earlier) <= either)
    for (first, last), most in windows.items():
        model.add(sum(rv.heads[(d, s.name)] for d in range(first, last + 1) for s in problem.shifts) <= most)
    model.add(sum(rv.heads.values()) <= month)
    add_meal_slots(rv)
    add_lunch_cover(rv)
    terms = {t.rule: t.expr for t in add_coverage(rv)}
    return rv, terms["under_cover"], terms["over_cover"]


def aggregate_plan(problem: RosterProblem, solver: cp_model.CpSolver,
                   fewest_solver: Callable[[], cp_model.CpSolver] | None = None) -> AggregatePlan | None:
    """The head and meal counts that leave the least unmet demand, searched by `solver` (its limits and workers set
    by the caller); then, by the solver `fewest_solver()` makes, if given, the fewest shifts at that unmet level (so
    no more agents work than the demand needs). None if no counts were found.

    Lexicographic on purpose (tuning months, issue 18): unmet demand alone is proven optimal within seconds on 300
    agents, where the weighted sum with over-cover was not; and fewest shifts gets within 2 % of the least
    over-cover in 3 s on 150 agents, where minimising over-cover itself took 10 s to leave the unmet-only counts."""
    rv, under, _over = build_aggregate(problem)
    rv.model.minimize(under)
    status = solver.solve(rv.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    optimal = status == cp_model.OPTIMAL
    best = solver
    if fewest_solver is not None:
        level = int(solver.objective_value)
        rv.model.add(under <= level)
        rv.model.minimize(sum(rv.heads.values()))
        hint = solver.response_proto.solution
        rv.model.proto.solution_hint.vars.extend(range(len(hint)))
        rv.model.proto.solution_hint.values.extend(hint)
        second = fewest_solver()
        if second.solve(rv.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            best = second
    heads = {key: int(best.value(var)) for key, var in rv.heads.items()}
    meals = {key: int(best.value(var)) for key, var in rv.meals.items()}
    return AggregatePlan(heads=heads, meals=meals, unmet=int(best.value(under)), optimal=optimal)
