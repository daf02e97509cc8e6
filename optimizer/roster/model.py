"""The CP-SAT roster model: variables, every rule helper, weighted objective."""
from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

from optimizer.roster.constraints import HARD_RULES, SOFT_RULES, PenaltyTerm, RosterVars, add_shift_variables
from optimizer.roster.problem import RosterProblem


@dataclass(frozen=True, slots=True)
class RosterModel:
    vars: RosterVars
    penalties: tuple[PenaltyTerm, ...]

    @property
    def model(self) -> cp_model.CpModel:
        return self.vars.model


def build_model(problem: RosterProblem, fair_totals: dict[str, int] | None = None) -> RosterModel:
    """All hard rules as constraints, all soft rules as weighted penalty terms of the objective.

    `fair_totals` (evenings/weekends/holidays expected this month) adds each agent's
    distance from her fair share to the fairness terms (R5).
    """
    rv = RosterVars(model=cp_model.CpModel(), problem=problem, fair_totals=dict(fair_totals or {}))
    add_shift_variables(rv)
    penalties: list[PenaltyTerm] = []
    for rule in HARD_RULES + SOFT_RULES:
        penalties.extend(rule(rv))
    penalties = [p for p in penalties if p.weight > 0]
    rv.model.minimize(sum(p.weight * p.expr for p in penalties))
    return RosterModel(vars=rv, penalties=tuple(penalties))
