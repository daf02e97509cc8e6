"""Search over the Curtois CP-SAT model (optimizer/nrp/model.py).

Phases within the time limit: CP-SAT's first solution, improved by
simulated annealing (search.py); a cover-first ladder that drives the
weighted under-cover down one step at a time as feasibility problems, with
plateau moves (`_shake`) after failed steps; the full CP-SAT portfolio
hinted with the result; then, without proof of optimality, an LNS-only
CP-SAT phase from its best. The reported objective is always recomputed by
optimizer.nrp.evaluate.
"""
from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from optimizer.budget import Budget
from optimizer.nrp.model import NrpVars, add_roster_hint, build_model, read_roster, under_cover
from optimizer.nrp.parser import Instance

log = logging.getLogger(__name__)

__all__ = ["NrpSolution", "cover_first", "solve"]


@dataclass(frozen=True)
class NrpSolution:
    status: str
    roster: dict[str, list[str]]
    solver_objective: float | None
    bound: float | None
    seconds: float


class _Progress(cp_model.CpSolverSolutionCallback):
    """Logs objective, bound and gap on each improving solution (stderr via logging or a callable)."""

    def __init__(self, report: Callable[[float, float, float], None] | None) -> None:
        super().__init__()
        self._report = report
        self._start = time.perf_counter()

    def on_solution_callback(self) -> None:
        objective, bound = self.ObjectiveValue(), self.BestObjectiveBound()
        gap = (objective - bound) / max(abs(objective), 1e-9)
        if self._report is not None:
            self._report(objective, bound, gap)


_STATUS = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.UNKNOWN: "UNKNOWN",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
}


class _Costs:
    """Objective and weighted under-cover of a roster, read back from the model with every variable fixed to its hint.

    The ladder's feasibility solutions do not minimise the under/over
    variables, so their values are not the roster's costs; the complete hint
    (add_roster_hint) sets them exactly.
    """

    def __init__(self, v: NrpVars, configure: Callable[[cp_model.CpSolver], None], budget: Budget) -> None:
        self._v, self._configure, self._budget = v, configure, budget
        self._model = v.model.clone()
        self._under = under_cover(v)

    def __call__(self, roster: dict[str, list[str]]) -> tuple[int, int] | None:
        add_roster_hint(self._v, roster, self._model)
        solver = cp_model.CpSolver()
        self._configure(solver)
        solver.parameters.fix_variables_to_their_hinted_value = True
        self._budget.limit(solver, 10.0)
        status = solver.solve(self._model)
        self._budget.charge(solver)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        return round(solver.objective_value), int(solver.value(self._under))


def cover_first(
    v: NrpVars,
    roster: dict[str, list[str]],
    seconds: float,
    configure: Callable[[cp_model.CpSolver], None],
    progress: Callable[[float, float, float], None] | None = None,
    step_s: float = 3.0,
    stall_s: float = 12.0,
    shake_s: float = 0.0,
    seed: int = 0,
    budget: Budget | None = None,
) -> dict[str, list[str]]:
    """Drive the weighted under-cover of a feasible `roster` down, one feasibility step at a time.

    Under-cover weighs most in the benchmark (100 a nurse against 1-3 a
    request) and is what the full search finds hardest to move: a missing
    nurse is only recovered by rearranging many rows at once. Each step asks
    CP-SAT, with no objective, for any roster with less weighted under-cover
    than the last one, hinted with it; a feasibility problem is found far
    faster than the same improvement inside the weighted objective. The
    ladder stops after `seconds`, when a step is proven infeasible (the
    under-cover is then minimal), or when one step has taken `stall_s`
    without success (likely minimal, not proven). A step's run time is
    heavy-tailed, so a step that does not succeed within its slice (`step_s`,
    doubling on each retry) is restarted with another seed; with `shake_s`,
    a failed slice is followed instead by a plateau move (`_shake`, for
    `shake_s`) to another roster at the same level, and the next step starts
    from there with a fresh slice. A step runs CP-SAT's max_lp subsolver when
    the portfolio is small: the next level is found around its LP solution.
    Returns the roster with the lowest objective seen (the input when no step
    succeeds). Its seconds are counted by `budget` (optimizer/budget.py; by
    default the wall clock from the call).
    """
    budget = budget if budget is not None else Budget()
    clock = budget.elapsed
    deadline = clock() + seconds
    costs = _Costs(v, configure, budget)
    start = costs(roster)
    if start is None or start[1] == 0:
        return roster
    best, (best_objective, level) = roster, start
    current = roster
    ladder = v.model.clone()
    ladder.clear_objective()
    cap = ladder.add(under_cover(v) <= level - 1)
    attempt = 0
    rng = random.Random(seed)
    step_started = clock()
    while level > 0:
        now = clock()
        left = min(deadline, step_started + stall_s) - now
        if left < 0.2:
            log.info("nrp %s: weighted under-cover %d not lowered within %.0f s", v.instance.name, level, now - step_started)
            break
        cap.proto.linear.domain[1] = level - 1  # the domain is [min, level - 1]
        add_roster_hint(v, current, ladder)
        solver = cp_model.CpSolver()
        configure(solver)
        budget.limit(solver, min(left, step_s * 2 ** attempt))
        solver.parameters.random_seed += attempt
        solver.parameters.linearization_level = 0  # the default subsolvers gain nothing from the LP on a feasibility step
        if solver.parameters.num_workers <= 3:
            # with few workers the default portfolio has no max_lp subsolver; its LP solution is what RENS needs to
            # find the next level (Instance 8, 14 -> 13 nurses short: 2.3-3.9 s with it, none in 30 s without)
            solver.parameters.subsolvers.append("max_lp")
        status = solver.solve(ladder)
        budget.charge(solver)
        if status == cp_model.INFEASIBLE:
            log.info("nrp %s: weighted under-cover %d is the least possible", v.instance.name, level)
            break
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if shake_s > 0:
                current = _shake(v, current, level, min(shake_s, deadline - clock()), configure, rng, budget)
            else:
                attempt += 1
            continue
        attempt, step_started = 0, clock()
        current = read_roster(solver, v)
        measured = costs(current)
        if measured is None:  # cannot happen for a roster CP-SAT returned; stop rather than loop
            break
        objective, level = measured
        log.info("nrp %s: weighted under-cover %d, objective %d", v.instance.name, level, objective)
        if objective < best_objective:
            best, best_objective = current, objective
            if progress is not None:
                progress(objective, 0.0, 1.0)
    return best


def _shake(
    v: NrpVars, roster: dict[str, list[str]], level: int, seconds: float,
    configure: Callable[[cp_model.CpSolver], None], rng: random.Random, budget: Budget | None = None,
) -> dict[str, list[str]]:
    """Another roster with weighted under-cover at most `level`, far from `roster` (the input if none is found).

    Minimises a random positive weight on each assignment `roster` makes,
    so CP-SAT moves many of them at once: a plateau move that takes the
    ladder out of a neighbourhood where its next step cannot be found.
    """
    if seconds < 0.2:
        return roster
    budget = budget if budget is not None else Budget()
    model = v.model.clone()
    model.clear_objective()
    model.add(under_cover(v) <= level)
    add_roster_hint(v, roster, model)
    model.minimize(sum(rng.randint(1, 3) * var for (staff_id, d, s), var in v.x.items() if roster[staff_id][d] == s))
    solver = cp_model.CpSolver()
    configure(solver)
    budget.limit(solver, seconds)
    solver.parameters.random_seed = rng.randrange(1 << 20)
    status = solver.solve(model)
    budget.charge(solver)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return read_roster(solver, v)
    return roster


def solve(
    instance: Instance,
    time_limit_s: float,
    seed: int = 0,
    workers: int = 0,
    progress: Callable[[float, float, float], None] | None = None,
    hint: bool = True,
    warm_start_share: float | None = None,
    warm_start_max_s: float = 20.0,
    cover_first_until: float | None = None,
    cover_first_stall: float = 0.3,
    cover_first_step: float = 2.0,
    cover_first_shake: float = 1.5,
    lns_share: float = 0.4,
    deterministic_s: float = 0.0,
) -> NrpSolution:
    """Solve with CP-SAT; `workers` 0 = all cores. The roster is empty when no solution was found.

    With `hint`, the phases share the time limit: CP-SAT's first feasible
    solution; simulated annealing over it (optimizer.nrp.search, for
    `warm_start_share` of the limit, at most `warm_start_max_s`; by default a
    share growing with the roster size, 10 % to 30 % at 300 to 900
    employee-days, as the annealing gains more on large rosters); the
    cover-first ladder (`cover_first`) until `cover_first_until` of the limit
    has passed or one of its steps has failed for `cover_first_stall` of it
    (by default until 0 % to 65 % of the limit at 300 to 495 employee-days:
    on smaller rosters the full search finds the least under-cover within
    seconds and the ladder only hands it a roster poorer in requests; on
    larger ones the ladder finds under-cover levels the full search misses),
    its steps `cover_first_step` seconds long, each failed one followed by a
    plateau move of `cover_first_shake` seconds (0 turns them off); then the
    full CP-SAT search hinted with the best roster so far. When that stops
    without proof of optimality, the last `lns_share` of the limit goes to an
    LNS-only CP-SAT search (every worker on neighbourhoods) from its best
    roster.

    With `deterministic_s` > 0 the phases share that many deterministic
    seconds instead (optimizer/budget.py: CP-SAT's deterministic time and a
    fixed number of annealing moves a second), so a loaded machine searches
    as much as a quiet one; `time_limit_s` then only stops a run on the wall
    clock. `seconds` in the result is always wall time.
    """
    from optimizer.nrp.search import anneal

    start = time.perf_counter()
    budget = Budget(deterministic=True, guard_s=time_limit_s) if deterministic_s > 0 else Budget()
    if deterministic_s > 0:
        time_limit_s = deterministic_s  # the phases' shares are of the deterministic budget
    v, _ = build_model(instance)
    employee_days = len(instance.staff) * instance.horizon
    if warm_start_share is None:
        warm_start_share = min(0.3, max(0.1, employee_days / 3000))
    if cover_first_until is None:
        cover_first_until = min(0.65, max(0.0, (employee_days - 300) / 300))

    def remaining() -> float:
        return max(0.1, time_limit_s - budget.elapsed())

    def configure(solver: cp_model.CpSolver) -> None:
        params = solver.parameters
        budget.limit(solver, remaining())
        params.random_seed = seed
        params.num_workers = workers if workers > 0 else max(1, os.cpu_count() or 1)
        params.linearization_level = 2

    if hint:
        first = cp_model.CpSolver()
        configure(first)
        first.parameters.stop_after_first_solution = True
        budget.limit(first, min(remaining(), max(1.0, time_limit_s * warm_start_share)))
        status = first.solve(v.model)
        budget.charge(first)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            anneal_s = min(warm_start_max_s, time_limit_s * warm_start_share, remaining() * 0.5)
            moves = budget.moves(anneal_s)
            rows = anneal(instance, read_roster(first, v), anneal_s if moves is None else budget.wall_left(), seed=seed,
                          moves=moves)
            if moves is not None:
                budget.charge_moves(moves)
            log.info("nrp %s: first solution %g, annealed hint ready after %.1f s", instance.name, first.objective_value,
                     budget.elapsed())
            ladder_s = time_limit_s * cover_first_until - budget.elapsed()
            if ladder_s > 0.5:
                rows = cover_first(v, rows, ladder_s, configure, progress, stall_s=time_limit_s * cover_first_stall,
                                   step_s=cover_first_step, shake_s=cover_first_shake, seed=seed, budget=budget)
                log.info("nrp %s: cover-first ladder done after %.1f s", instance.name, budget.elapsed())
            add_roster_hint(v, rows)
    solver = cp_model.CpSolver()
    configure(solver)
    if lns_share > 0:
        budget.limit(solver, max(0.1, remaining() * (1 - lns_share)))
    status = solver.solve(v.model, _Progress(progress))
    budget.charge(solver)
    name = _STATUS.get(status, "UNKNOWN")
    if name == "MODEL_INVALID":
        raise RuntimeError(f"CP-SAT rejected the model: {v.model.validate()}")
    roster: dict[str, list[str]] = {}
    objective = bound = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        roster = read_roster(solver, v)
        objective = solver.objective_value
        bound = solver.best_objective_bound
    if status == cp_model.FEASIBLE and objective is not None and lns_share > 0 and remaining() > 0.5:
        add_roster_hint(v, roster)
        lns = cp_model.CpSolver()
        configure(lns)
        lns.parameters.use_lns_only = True
        if lns.solve(v.model, _Progress(progress)) in (cp_model.OPTIMAL, cp_model.FEASIBLE) and lns.objective_value < objective:
            roster, objective = read_roster(lns, v), lns.objective_value
            log.info("nrp %s: LNS phase improved the objective to %g", instance.name, objective)
    return NrpSolution(status=name, roster=roster, solver_objective=objective, bound=bound,
                       seconds=time.perf_counter() - start)
