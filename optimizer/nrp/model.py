"""CP-SAT model of a Curtois benchmark instance (schedulingbenchmarks.org instances1_24).

One boolean x[e, d, s] per employee, day and shift. Each rule is a helper
that adds its constraints and returns penalty terms (hard rules return
none), in the shape of optimizer/roster/constraints.py, whose PenaltyTerm it
reuses; the objective is the weighted sum. Formulation choices that matter
for CP-SAT:
- max consecutive shifts as sliding windows of max+1 days;
- min consecutive shifts / days off in minimum up/down-time form (a run
  that starts on day d keeps its value for minimum-1 more days); runs
  touching the horizon edge are exempt;
- cover as staffed - requirement = over - under with both bounded.
The search over this model (first solution, annealing, cover-first ladder,
full and LNS-only CP-SAT phases) is optimizer/nrp/solve.py.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from optimizer.nrp.parser import Instance
from optimizer.roster.constraints import PenaltyTerm

__all__ = ["NrpVars", "build_model", "add_roster_hint", "under_cover", "read_roster"]


@dataclass
class NrpVars:
    model: cp_model.CpModel
    instance: Instance
    x: dict[tuple[str, int, str], cp_model.IntVar] = field(default_factory=dict)
    # auxiliary variables, kept so a roster can be given as a complete hint
    weekend: dict[tuple[str, int], cp_model.IntVar] = field(default_factory=dict)  # (staff, saturday)
    under: dict[tuple[int, str], cp_model.IntVar] = field(default_factory=dict)  # (day, shift)
    over: dict[tuple[int, str], cp_model.IntVar] = field(default_factory=dict)

    def work(self, staff_id: str, day: int) -> cp_model.LinearExprT:
        return sum(self.x[(staff_id, day, s.id)] for s in self.instance.shifts)


def add_assignment(v: NrpVars) -> list[PenaltyTerm]:
    """Hard: at most one shift a day; fixed days off have none."""
    ins = v.instance
    for p in ins.staff:
        off = ins.days_off.get(p.id, frozenset())
        for d in range(ins.horizon):
            for s in ins.shifts:
                v.x[(p.id, d, s.id)] = v.model.new_bool_var(f"x[{p.id},{d},{s.id}]")
                if d in off or p.max_shifts.get(s.id, ins.horizon) == 0:
                    v.model.add(v.x[(p.id, d, s.id)] == 0)
            v.model.add_at_most_one(v.x[(p.id, d, s.id)] for s in ins.shifts)
    return []


def add_rotation(v: NrpVars) -> list[PenaltyTerm]:
    """Hard: shifts that cannot follow a shift on the next day (no rule across the horizon edge)."""
    ins = v.instance
    for p in ins.staff:
        for d in range(ins.horizon - 1):
            for s in ins.shifts:
                for t in s.cannot_follow:
                    v.model.add_bool_or([v.x[(p.id, d, s.id)].Not(), v.x[(p.id, d + 1, t)].Not()])
    return []


def add_shift_limits(v: NrpVars) -> list[PenaltyTerm]:
    """Hard: max shifts per type; min and max total minutes."""
    ins = v.instance
    for p in ins.staff:
        for s in ins.shifts:
            limit = p.max_shifts.get(s.id, ins.horizon)
            if limit < ins.horizon:
                v.model.add(sum(v.x[(p.id, d, s.id)] for d in range(ins.horizon)) <= limit)
        minutes = sum(s.minutes * v.x[(p.id, d, s.id)] for d in range(ins.horizon) for s in ins.shifts)
        v.model.add_linear_constraint(minutes, p.min_minutes, p.max_minutes)
        # integer rounding of the minutes limits into working-day limits: tightens the LP
        usable = [s.minutes for s in ins.shifts if p.max_shifts.get(s.id, ins.horizon) > 0]
        if usable:
            days = sum(v.work(p.id, d) for d in range(ins.horizon))
            v.model.add_linear_constraint(days, math.ceil(p.min_minutes / max(usable)), p.max_minutes // min(usable))
    return []


def add_max_consecutive(v: NrpVars) -> list[PenaltyTerm]:
    """Hard: every window of max+1 days holds a day off (outside days are off)."""
    ins = v.instance
    for p in ins.staff:
        k = p.max_consecutive
        for start in range(0, ins.horizon - k):
            v.model.add(sum(v.work(p.id, d) for d in range(start, start + k + 1)) <= k)
    return []


def _forbid_short_runs(v: NrpVars, staff_id: str, minimum: int, working: bool) -> None:
    """No interior run of `working` days shorter than `minimum` (edge runs exempt).

    Minimum up/down-time form: a run starting on day d >= 1 (day d-1 has the
    other value) keeps its value on d+1 .. d+minimum-1 as far as the horizon
    goes; a run cut by the last day is thus allowed, one cut by an opposite
    day is not. Linear and LP-tight (facets in unit commitment), unlike the
    equivalent forbidden-pattern clauses.
    """
    ins = v.instance
    work = {d: sum(v.x[(staff_id, d, s.id)] for s in ins.shifts) for d in range(ins.horizon)}
    value = work if working else {d: 1 - w for d, w in work.items()}
    for start in range(1, ins.horizon):
        began = value[start] - value[start - 1]
        for later in range(start + 1, min(start + minimum, ins.horizon)):
            v.model.add(began <= value[later])


def add_min_consecutive(v: NrpVars) -> list[PenaltyTerm]:
    """Hard: min consecutive shifts and min consecutive days off."""
    for p in v.instance.staff:
        if p.min_consecutive > 1:
            _forbid_short_runs(v, p.id, p.min_consecutive, working=True)
        if p.min_days_off > 1:
            _forbid_short_runs(v, p.id, p.min_days_off, working=False)
    return []


def add_max_weekends(v: NrpVars) -> list[PenaltyTerm]:
    """Hard: a weekend counts when Saturday or Sunday is worked (day 0 is a Monday)."""
    ins = v.instance
    for p in ins.staff:
        flags = []
        for saturday in range(5, ins.horizon, 7):
            days = [d for d in (saturday, saturday + 1) if d < ins.horizon]
            worked = v.model.new_bool_var(f"weekend[{p.id},{saturday // 7}]")
            v.weekend[(p.id, saturday)] = worked
            for d in days:
                v.model.add(v.work(p.id, d) <= worked)
            v.model.add(worked <= sum(v.work(p.id, d) for d in days))
            flags.append(worked)
        if flags and p.max_weekends < len(flags):
            v.model.add(sum(flags) <= p.max_weekends)
    return []


def add_requests(v: NrpVars) -> list[PenaltyTerm]:
    """Soft: a shift-on request not granted costs its weight; a shift-off request granted too."""
    terms = [PenaltyTerm("shift_on_request", r.weight, 1 - v.x[(r.staff, r.day, r.shift)]) for r in v.instance.on_requests]
    terms += [PenaltyTerm("shift_off_request", r.weight, v.x[(r.staff, r.day, r.shift)]) for r in v.instance.off_requests]
    return terms


def add_cover(v: NrpVars) -> list[PenaltyTerm]:
    """Soft: each nurse short of the requirement costs the under weight, each extra the over weight."""
    ins = v.instance
    terms = []
    for need in ins.cover:
        staffed = sum(v.x[(p.id, need.day, need.shift)] for p in ins.staff)
        under = v.model.new_int_var(0, need.requirement, f"under[{need.day},{need.shift}]")
        over = v.model.new_int_var(0, len(ins.staff), f"over[{need.day},{need.shift}]")
        v.model.add(staffed - need.requirement == over - under)
        v.under[(need.day, need.shift)], v.over[(need.day, need.shift)] = under, over
        terms.append(PenaltyTerm("cover_under", need.under_weight, under))
        terms.append(PenaltyTerm("cover_over", need.over_weight, over))
    return terms


RULES: tuple[Callable[[NrpVars], list[PenaltyTerm]], ...] = (
    add_assignment, add_rotation, add_shift_limits, add_max_consecutive, add_min_consecutive, add_max_weekends,
    add_requests, add_cover,
)


def build_model(instance: Instance) -> tuple[NrpVars, list[PenaltyTerm]]:
    """The CP-SAT model with every rule and the weighted objective."""
    v = NrpVars(model=cp_model.CpModel(), instance=instance)
    terms: list[PenaltyTerm] = []
    for rule in RULES:
        terms.extend(rule(v))
    v.model.minimize(sum(t.weight * t.expr for t in terms if t.weight))
    return v, terms


def add_roster_hint(v: NrpVars, roster: dict[str, list[str]], model: cp_model.CpModel | None = None) -> None:
    """Hint every variable from `roster` (a complete hint lets CP-SAT start from it at once).

    `model` is v.model or a clone of it (same variable indices).
    """
    model = v.model if model is None else model
    model.clear_hints()
    for (staff_id, d, s), var in v.x.items():
        model.add_hint(var, 1 if roster[staff_id][d] == s else 0)
    for (staff_id, saturday), var in v.weekend.items():
        row = roster[staff_id]
        model.add_hint(var, 1 if any(row[d] for d in (saturday, saturday + 1) if d < len(row)) else 0)
    for (day, shift), var in v.under.items():
        staffed = sum(1 for row in roster.values() if row[day] == shift)
        need = next(c.requirement for c in v.instance.cover if c.day == day and c.shift == shift)
        model.add_hint(var, max(0, need - staffed))
        model.add_hint(v.over[(day, shift)], max(0, staffed - need))


def under_cover(v: NrpVars) -> cp_model.LinearExprT:
    """The weighted under-cover part of the objective."""
    weights = {(c.day, c.shift): c.under_weight for c in v.instance.cover}
    return sum(weights[key] * var for key, var in v.under.items())


def read_roster(solver: cp_model.CpSolver, v: NrpVars) -> dict[str, list[str]]:
    """The roster of `solver`'s solution: one shift id or "" per staff member and day."""
    ins = v.instance
    return {
        p.id: [next((s.id for s in ins.shifts if solver.boolean_value(v.x[(p.id, d, s.id)])), "") for d in range(ins.horizon)]
        for p in ins.staff
    }
