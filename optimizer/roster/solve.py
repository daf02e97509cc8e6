"""Solve a roster: a greedy first roster, then CP-SAT on all workers with a time
limit and a seed, progress streamed to tqdm (stderr) and an optional callback.

The best roster found is always returned with its status, objective, bound and
gap; a roster that leaves demand unmet carries an explanation in words.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

from ortools.sat.python import cp_model

from optimizer.budget import Budget
from optimizer.roster.aggregate import AggregatePlan, aggregate_plan
from optimizer.roster.evaluate import unmet_agent_intervals
from optimizer.roster.exchange import exchange
from optimizer.roster.explain import explain_infeasible, explain_shortage
from optimizer.roster.greedy import greedy_roster
from optimizer.roster.model import RosterModel, build_model
from optimizer.roster.repair import repair_to_counts
from optimizer.roster.problem import OFF, Assignment, ProgressPoint, RosterProblem, RosterResult

log = logging.getLogger(__name__)

ProgressCallback = Callable[[ProgressPoint], None]
PHASED_FROM_S = 10.0  # below this limit the cover and exchange phases get too little time to help: first + improve only
EXCHANGE_SHARE = 0.1  # share of the limit for the exchange local search (and as much again kept for pricing it)
COVER_SHARE = 0.4  # share of the time after the first roster on unmet demand alone (tuning months, issue 18)
AGGREGATE_SHARE = 0.1  # share of the limit for the aggregate head counts (optimizer.roster.aggregate; tuning months)


def _gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None:
        return None
    return abs(objective - bound) / max(1.0, abs(objective))


class _Progress:
    """Fans search progress out to a tqdm bar on stderr and the caller's callback."""

    def __init__(self, time_limit: float, callback: ProgressCallback | None, bar: bool, stop: threading.Event | None = None) -> None:
        self.callback = callback
        self.stop_request = stop
        self.solver: cp_model.CpSolver | None = None  # the search running now, stopped when `stop` is set
        self.points: list[ProgressPoint] = []
        self.started = time.monotonic()
        self.objective: float | None = None
        self.bound: float | None = None
        self.phase = "greedy"
        self._lock = threading.Lock()
        self._bar = None
        if bar:
            from tqdm import tqdm

            self._bar = tqdm(total=round(time_limit, 1), unit="s", desc="roster", leave=False,
                             bar_format="{desc} {bar} {n:.0f}/{total:.0f}s {postfix}")
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="roster-progress")
        self._ticker.start()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            if self.stop_request is not None and self.stop_request.is_set() and self.solver is not None:
                self.solver.stop_search()  # thread-safe: the search returns its best roster so far
            self._refresh()

    def stopped(self) -> bool:
        return self.stop_request is not None and self.stop_request.is_set()

    def _refresh(self) -> None:
        if self._bar is None:
            return
        with self._lock:
            self._bar.n = min(self._bar.total, round(self.elapsed(), 1))
            gap = _gap(self.objective, self.bound)
            self._bar.set_postfix_str(
                f"{self.phase} obj={self.objective if self.objective is not None else '-'} "
                f"bound={self.bound if self.bound is not None else '-'} gap={'-' if gap is None else f'{gap:.1%}'}",
                refresh=True,
            )

    def report(self, objective: float | None = None, bound: float | None = None) -> None:
        with self._lock:
            if objective is not None:
                self.objective = objective if self.objective is None else min(self.objective, objective)
            if bound is not None:
                self.bound = bound if self.bound is None else max(self.bound, bound)
            point = ProgressPoint(elapsed_s=round(self.elapsed(), 3), objective=self.objective, bound=self.bound,
                                  gap=_gap(self.objective, self.bound), phase=self.phase)
            self.points.append(point)
        if self.callback is not None:
            try:
                self.callback(point)
            except Exception:  # a broken listener must not stop the search
                log.exception("roster progress callback failed")
        self._refresh()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(timeout=2)
        if self._bar is not None:
            self._bar.close()


class _SolutionStream(cp_model.CpSolverSolutionCallback):
    def __init__(self, progress: _Progress) -> None:
        super().__init__()
        self.progress = progress

    def on_solution_callback(self) -> None:
        self.progress.report(objective=self.objective_value, bound=self.best_objective_bound)


def _solver(budget: Budget, time_limit: float, seed: int, workers: int, progress: _Progress, phase: str) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    budget.limit(solver, time_limit if budget.deterministic else max(0.1, time_limit))
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = workers
    solver.parameters.log_search_progress = False
    solver.best_bound_callback = lambda bound: progress.report(bound=bound) if progress.phase == phase else None
    return solver


def _fix_to_greedy(rm: RosterModel, roster: dict[tuple[str, int], str]) -> cp_model.CpModel:
    """A copy of the model with every shift variable fixed to the greedy roster (meals stay free)."""
    fixed = rm.model.clone()
    for (agent_id, day, shift), var in rm.vars.x.items():
        value = 1 if roster.get((agent_id, day)) == shift else 0
        fixed.add(fixed.get_bool_var_from_proto_index(var.index) == value)
    return fixed


def solve(problem: RosterProblem, config=None, time_limit: float | None = None, seed: int = 0,
          progress: ProgressCallback | None = None, workers: int | None = None, show_progress: bool = True,
          stop: threading.Event | None = None, cover_share: float | None = None,
          exchange_share: float | None = None, deterministic_time: float | None = None,
          aggregate_share: float | None = None) -> RosterResult:
    """Best roster within `time_limit` seconds (config roster.time_limit_s by default), never raising on infeasibility.

    Phases: the aggregate head counts per day and template with the least unmet demand (`aggregate_share` of the
    limit, 0 skips it; optimizer.roster.aggregate), the greedy roster given those counts and mended towards them
    (optimizer.roster.repair), with its meals; without counts, unmet demand alone (`cover_share` of the time left,
    0 skips it), whose level is then kept as a constraint; the full weighted objective from the best roster;
    same-day exchanges between agents (`exchange_share` of the limit, optimizer.roster.exchange) priced by the model.
    Setting `stop` (e.g. a Stop button) ends the search early with the best roster found so far;
    Ctrl-C does the same on the command line (CP-SAT catches SIGINT).
    With `deterministic_time` > 0 (config roster.deterministic_time_s by default) the phases share that many
    deterministic seconds instead of `time_limit` (optimizer/budget.py), so a loaded machine searches as much as a
    quiet one; `time_limit` then only stops the search on the wall clock. The result's `seconds` are wall seconds.
    """
    if time_limit is None:
        time_limit = config.roster.time_limit_s if config is not None else 60.0
    if deterministic_time is None:
        deterministic_time = config.roster.deterministic_time_s if config is not None else 0.0
    budget = Budget(deterministic=True, guard_s=time_limit) if deterministic_time > 0 else Budget()
    if deterministic_time > 0:
        time_limit = deterministic_time  # the phases' shares are of the deterministic budget
    if workers is None:
        workers = config.roster.workers if config is not None else 0
    workers = workers or os.cpu_count() or 1
    phased = time_limit >= PHASED_FROM_S
    cover_share = (COVER_SHARE if phased else 0.0) if cover_share is None else cover_share
    exchange_share = (EXCHANGE_SHARE if phased else 0.0) if exchange_share is None else exchange_share
    aggregate_share = (AGGREGATE_SHARE if phased else 0.0) if aggregate_share is None else aggregate_share
    tracker = _Progress(time_limit, progress, show_progress, stop)
    try:
        plan: AggregatePlan | None = None
        if aggregate_share > 0:
            # Phase 0 (decomposition): the head counts per day and template that leave the least unmet demand
            plan = _aggregate_phase(problem, tracker, budget, aggregate_share * time_limit, seed, workers)
        if plan is None:
            greedy = greedy_roster(problem)
        else:  # the greedy roster given those counts, mended towards them move by move (optimizer.roster.repair)
            greedy, missed = repair_to_counts(problem, greedy_roster(problem, heads=plan.heads), plan.heads)
            log.info("roster first roster: %d heads off the aggregate counts", missed)
        rm = build_model(problem, fair_totals=_fair_totals(problem, greedy))
        log.info("roster model built in %.1fs: %d shift variables", tracker.elapsed(), len(rm.vars.x))

        # Phase 1: the greedy roster with its best meal slots — a quick, complete first answer.
        tracker.phase = "first"
        # completing the greedy roster's meals is slow on a loaded machine; without it there is no start at all
        first_limit = min(max(1.0, (0.25 if time_limit >= PHASED_FROM_S else 0.1) * time_limit), 15.0, max(0.2, 0.5 * time_limit))
        if budget.deterministic:  # no load to allow for: the budget is taken as given, without the wall-clock floors
            first_limit = min((0.25 if time_limit >= PHASED_FROM_S else 0.1) * time_limit, 15.0)
        first_solver = _solver(budget, first_limit, seed, workers, tracker, "first")
        tracker.solver = first_solver
        first_model = _fix_to_greedy(rm, greedy)
        if plan is not None:
            _hint_meals(first_model, rm, plan, greedy)
        first_status = first_solver.solve(first_model, _SolutionStream(tracker))
        budget.charge(first_solver)
        first_ok = first_status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        if first_ok:
            hint = first_solver.response_proto.solution
            rm.model.proto.solution_hint.vars.extend(range(len(hint)))
            rm.model.proto.solution_hint.values.extend(hint)
        else:
            log.warning("greedy first roster was not completed (%s); searching without a hint", first_solver.status_name(first_status))

        # Phase 2 (lexicographic level 1): unmet demand alone, from the first roster; its best level is then
        # fixed as a constraint, so the full search spends its time on fairness, requests and stability.
        # From the aggregate counts the first roster is mostly at the least unmet demand already: then this phase,
        # blind to fairness, only costs the full search its time (tuning months, issue 18) and is skipped. Above it,
        # the phase runs and stops as soon as it reaches it (no roster leaves less unmet when the plan is optimal).
        covered: cp_model.CpSolver | None = None
        first_unmet = _penalty(rm, first_solver, "under_cover") if first_ok else None
        floor = plan.unmet if plan is not None and plan.optimal else None
        if (first_ok and cover_share > 0 and not tracker.stopped()
                and (plan is None or first_unmet is None or first_unmet > plan.unmet)):
            covered = _cover_phase(rm, tracker, budget, max(0.5, cover_share * (time_limit - budget.elapsed())), seed,
                                   workers, floor)

        # Phase 3: the full model, all workers, from the best roster so far.
        tracker.phase = "improve"
        tracker.bound = None  # the earlier phases' bounds are for the fixed roster or another objective
        exchange_s = exchange_share * time_limit
        least = 0.0 if budget.deterministic else 0.5
        remaining = max(least, time_limit - budget.elapsed() - 2 * exchange_s) if not (tracker.stopped() and first_ok) else 0.01
        solver = _solver(budget, remaining, seed, workers, tracker, "improve")
        tracker.solver = solver
        status = solver.solve(rm.model, _SolutionStream(tracker))
        budget.charge(solver)
        improved = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        bound: float | None
        if improved and (not first_ok or solver.objective_value <= _full_objective(rm, first_solver)):
            best, status_name, bound = solver, solver.status_name(status), solver.best_objective_bound
        elif first_ok:
            # the cover phase's roster, or else the first (a large month's full search may find nothing in its time)
            best, status_name = first_solver, "FEASIBLE"
            if covered is not None and _full_objective(rm, covered) < _full_objective(rm, first_solver):
                best = covered
            bound = solver.best_objective_bound if status != cp_model.INFEASIBLE else None
        else:
            name = solver.status_name(status)
            seconds = tracker.elapsed()
            reasons = explain_infeasible(problem, seconds_left=max(1.0, time_limit - seconds)) if name == "INFEASIBLE" else (
                f"no roster found within {time_limit:g} deterministic s (status {name}); allow more with --deterministic-time"
                if budget.deterministic else
                f"no roster found within {time_limit:g} s (status {name}); allow more time with --time-limit",)
            return RosterResult(status=name, assignments=(), objective=None, bound=None, gap=None, seconds=round(seconds, 3),
                                unmet_agent_intervals=None, fairness={}, penalties={}, explanation=tuple(reasons),
                                progress=tuple(tracker.points), seed=seed, workers=workers)
        log.info("roster improve: %s, objective %s; best so far %s", solver.status_name(status),
                 solver.objective_value if improved else "-", "improve" if best is solver else "cover" if best is covered else "first")
        if exchange_s > 0 and not tracker.stopped():
            # Phase 4: same-day exchanges between agents (coverage untouched), kept when the model prices them lower
            tracker.phase = "exchange"
            priced = _exchange_phase(problem, rm, best, tracker, budget, exchange_s, seed, workers)
            if priced is not None:
                best = priced
        return _result(problem, rm, best, status_name, bound, tracker, seed, workers)
    finally:
        tracker.close()


def _exchange_phase(problem: RosterProblem, rm: RosterModel, solver: cp_model.CpSolver, tracker: _Progress,
                    budget: Budget, seconds: float, seed: int, workers: int) -> cp_model.CpSolver | None:
    """Exchanges on `solver`'s roster, priced by the model with every shift and meal count fixed; the pricing solver
    when its objective is lower, else None."""
    rows = [Assignment(agent_id=a, day=problem.days[d], shift=name) for (a, d, name), var in rm.vars.x.items()
            if solver.value(var)]
    moves = budget.moves(seconds)
    exchanged, report = exchange(problem, rows, seconds if moves is None else budget.wall_left(), seed=seed, max_moves=moves)
    budget.charge_moves(report.moves_tried)
    log.info("roster exchanges: %d of %d tried taken, score %.1f -> %.1f", report.moves_taken, report.moves_tried,
             report.score_before, report.score_after)
    if not report.moves_taken:
        return None
    fixed = _fix_to_greedy(rm, {(a.agent_id, problem.day_index(a.day)): a.shift for a in exchanged if a.works})
    fixed.clear_hints()
    for var in rm.vars.meals.values():
        fixed.add(fixed.get_int_var_from_proto_index(var.index) == int(solver.value(var)))
    pricing = _solver(budget, max(1.0, seconds), seed, workers, tracker, "exchange")
    tracker.solver = pricing
    status = pricing.solve(fixed)
    budget.charge(pricing)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) and pricing.objective_value < _full_objective(rm, solver):
        return pricing
    return None


def _aggregate_phase(problem: RosterProblem, tracker: _Progress, budget: Budget, seconds: float, seed: int,
                     workers: int) -> AggregatePlan | None:
    """The aggregate head counts (optimizer.roster.aggregate) within `seconds` of the budget."""
    tracker.phase = "aggregate"
    started = budget.elapsed()
    solver = _solver(budget, seconds, seed, workers, tracker, "aggregate")
    solver.best_bound_callback = None
    tracker.solver = solver

    used = [solver]

    def fewest_solver() -> cp_model.CpSolver:  # the rest of the phase's time, once the unmet level is known
        budget.charge(solver)
        second = _solver(budget, max(0.1, seconds - (budget.elapsed() - started)), seed, workers, tracker, "aggregate")
        second.best_bound_callback = None
        tracker.solver = second
        used.append(second)
        return second

    plan = aggregate_plan(problem, solver, fewest_solver)
    budget.charge(used[-1])
    if plan is not None:
        log.info("roster aggregate: %d agent-intervals unmet (%s) after %.1fs", plan.unmet,
                 "optimal" if plan.optimal else "feasible", tracker.elapsed())
    return plan


def _hint_meals(fixed: cp_model.CpModel, rm: RosterModel, plan: AggregatePlan, roster: dict[tuple[str, int], str]) -> None:
    """Hint the aggregate's meal counts on each (day, template) whose heads in `roster` are the plan's."""
    heads: dict[tuple[int, str], int] = {}
    for (_agent_id, day), name in roster.items():
        heads[(day, name)] = heads.get((day, name), 0) + 1
    for (day, name, offset), var in rm.vars.meals.items():
        if heads.get((day, name), 0) == plan.heads.get((day, name), 0):
            fixed.add_hint(fixed.get_int_var_from_proto_index(var.index), plan.meals.get((day, name, offset), 0))


def _full_objective(rm: RosterModel, solver: cp_model.CpSolver) -> float:
    """The model's weighted objective of `solver`'s roster, whichever objective that search minimised."""
    return float(sum(p.weight * solver.value(p.expr) for p in rm.penalties))


def _penalty(rm: RosterModel, solver: cp_model.CpSolver, rule: str) -> int | None:
    """The count of one penalty term (e.g. under_cover) in `solver`'s roster; None if the model has no such term."""
    return next((int(solver.value(p.expr)) for p in rm.penalties if p.rule == rule), None)


def _cover_phase(rm: RosterModel, tracker: _Progress, budget: Budget, seconds: float, seed: int,
                 workers: int, floor: int | None = None) -> cp_model.CpSolver | None:
    """Minimise the unmet demand alone from the model's hint; keep its level as a constraint and its roster as the hint.
    Returns the search (its roster), or None if it found none.

    Reports each roster's full objective (not the cover objective) so progress stays comparable across phases.
    The search stops at `floor` agent-intervals unmet (the aggregate model's proven optimum: no roster does better).
    """
    under = next((p.expr for p in rm.penalties if p.rule == "under_cover"), None)
    if under is None:
        return None
    objective = sum(p.weight * p.expr for p in rm.penalties)  # as build_model sets it
    tracker.phase = "cover"
    rm.model.minimize(under)
    solver = _solver(budget, seconds, seed, workers, tracker, "cover")
    solver.best_bound_callback = None
    tracker.solver = solver
    status = solver.solve(rm.model, _FullObjectiveStream(tracker, objective, under, floor))
    budget.charge(solver)
    rm.model.minimize(objective)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    level = int(solver.value(under))
    rm.model.add(under <= level)
    hint = solver.response_proto.solution
    rm.model.clear_hints()
    rm.model.proto.solution_hint.vars.extend(range(len(hint)))
    rm.model.proto.solution_hint.values.extend(hint)
    log.info("roster cover phase: %d agent-intervals unmet (%s) after %.1fs", level, solver.status_name(status), tracker.elapsed())
    return solver


class _FullObjectiveStream(cp_model.CpSolverSolutionCallback):
    """Streams the full weighted objective of each roster found while another objective is minimised."""

    def __init__(self, progress: _Progress, objective: cp_model.LinearExprT, under: cp_model.LinearExprT | None = None,
                 floor: int | None = None) -> None:
        super().__init__()
        self.progress = progress
        self.objective = objective
        self.under = under
        self.floor = floor

    def on_solution_callback(self) -> None:
        self.progress.report(objective=self.value(self.objective))
        if self.floor is not None and self.under is not None and self.value(self.under) <= self.floor:
            self.stop_search()  # the aggregate model's optimum: no roster leaves less unmet


def _fair_totals(problem: RosterProblem, roster: dict[tuple[str, int], str]) -> dict[str, int]:
    """Evenings, weekend and holiday days the greedy roster needs among the fairness agents: the fair-share basis."""
    members = set(problem.fairness_agents())
    evening = {s.name for s in problem.shifts if s.evening}
    totals = {"evenings": 0, "weekends": 0, "holidays": 0, "workdays": 0}
    for (agent_id, day), name in roster.items():
        if agent_id not in members:
            continue
        when = problem.days[day]
        totals["evenings"] += name in evening
        totals["weekends"] += problem.is_weekend(when)
        totals["holidays"] += when in problem.rules.holidays
        totals["workdays"] += 1
    return totals


def _assign_meals(problem: RosterProblem, rm: RosterModel, solver: cp_model.CpSolver,
                  worked: dict[tuple[int, str], list[str]]) -> dict[tuple[str, int], int]:
    """Hand the chosen meal slot counts to the agents of each shift, rotating who eats first."""
    meals: dict[tuple[str, int], int] = {}
    for (day, name), agents in worked.items():
        shift = problem.shift(name)
        slots: list[int] = []
        for offset in shift.meal_offsets:
            slots.extend([offset] * int(solver.value(rm.vars.meals[(day, name, offset)])))
        order = sorted(agents)
        turn = day % max(1, len(order))
        order = order[turn:] + order[:turn]
        for agent_id, offset in zip(order, slots):
            meals[(agent_id, day)] = shift.start_min + offset
    return meals


def _result(problem: RosterProblem, rm: RosterModel, solver: cp_model.CpSolver, status: str, bound: float | None,
            tracker: _Progress, seed: int, workers: int) -> RosterResult:
    rv = rm.vars
    worked: dict[tuple[int, str], list[str]] = {}
    for (agent_id, day, name), var in rv.x.items():
        if solver.value(var):
            worked.setdefault((day, name), []).append(agent_id)
    shift_of = {(a, day): name for (day, name), agents in worked.items() for a in agents}
    meals = _assign_meals(problem, rm, solver, worked)
    assignments = []
    for agent in problem.agents:
        for day, when in enumerate(problem.days):
            shift_name = shift_of.get((agent.agent_id, day))
            if shift_name is None:
                assignments.append(Assignment(agent_id=agent.agent_id, day=when, shift=OFF))
                continue
            shift = problem.shift(shift_name)
            assignments.append(Assignment(agent_id=agent.agent_id, day=when, shift=shift_name, start_min=shift.start_min,
                                          end_min=shift.end_min, meal_start_min=meals[(agent.agent_id, day)]))
    objective = _full_objective(rm, solver)
    unmet = unmet_agent_intervals(problem, assignments)
    penalties = {p.rule: {"weight": p.weight, "count": int(solver.value(p.expr)), "cost": p.weight * int(solver.value(p.expr))}
                 for p in rm.penalties}
    fairness = fairness_summary(problem, assignments)
    explanation = tuple(explain_shortage(problem, assignments)) if unmet else ()
    tracker.report(objective=objective, bound=bound)
    return RosterResult(status=status, assignments=tuple(assignments), objective=objective, bound=bound,
                        gap=_gap(objective, bound), seconds=round(tracker.elapsed(), 3), unmet_agent_intervals=unmet,
                        fairness=fairness, penalties=penalties, explanation=explanation,
                        progress=tuple(tracker.points), seed=seed, workers=workers)


def fairness_summary(problem: RosterProblem, assignments: Sequence[Assignment]) -> dict:
    """Per category (evenings, weekends, holidays, workdays): per-agent counts this month, spread, fair share, with carry-over."""
    members = problem.fairness_agents()
    evening = {s.name for s in problem.shifts if s.evening}
    counts = {cat: {a: 0 for a in members} for cat in ("evenings", "weekends", "holidays", "workdays")}
    member_set = set(members)
    for item in assignments:
        if not item.works or item.agent_id not in member_set:
            continue
        if item.shift in evening:
            counts["evenings"][item.agent_id] += 1
        if problem.is_weekend(item.day):
            counts["weekends"][item.agent_id] += 1
        if item.day in problem.rules.holidays:
            counts["holidays"][item.agent_id] += 1
        counts["workdays"][item.agent_id] += 1
    carried = {"evenings": problem.ledger.evenings, "weekends": problem.ledger.weekends, "holidays": problem.ledger.holidays,
               "workdays": {}}
    summary: dict = {"agents": len(members), "excluded": sorted({a.agent_id for a in problem.agents} - member_set)}
    for cat, per_agent in counts.items():
        values = list(per_agent.values()) or [0]
        with_carry = [v + carried[cat].get(a, 0) for a, v in per_agent.items()] or [0]
        summary[cat] = {
            "min": min(values), "max": max(values), "spread": max(values) - min(values),
            "fair_share": round(sum(values) / max(1, len(values)), 3),
            "max_deviation": round(max(abs(v - sum(values) / max(1, len(values))) for v in values), 3),
            "spread_with_carry_over": max(with_carry) - min(with_carry),
            "per_agent": per_agent,
        }
    return summary



def evaluate(problem: RosterProblem, assignments: Sequence[Assignment], time_limit: float = 10.0) -> RosterResult:
    """The model's objective and penalty counts of a given roster (e.g. after a swap): every shift and meal fixed.

    Returns a RosterResult with status EDITED (or INVALID when the roster breaks a hard rule of the model).
    """
    shift_of = {(a.agent_id, problem.day_index(a.day)): a for a in assignments if a.works}
    greedy_like = {key: item.shift for key, item in shift_of.items()}
    rm = build_model(problem, fair_totals=_fair_totals(problem, greedy_like))
    fixed = _fix_to_greedy(rm, greedy_like)
    meals: dict[tuple[int, str, int], int] = {}
    for (_agent_id, day), item in shift_of.items():
        if item.meal_start_min is not None:
            key = (day, item.shift, item.meal_start_min - item.span[0])
            meals[key] = meals.get(key, 0) + 1
    for key, var in rm.vars.meals.items():
        fixed.add(fixed.get_int_var_from_proto_index(var.index) == meals.get(key, 0))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = min(2, os.cpu_count() or 1)
    status = solver.solve(fixed)
    ok = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    penalties = {}
    if ok:
        penalties = {p.rule: {"weight": p.weight, "count": int(solver.value(p.expr)), "cost": p.weight * int(solver.value(p.expr))}
                     for p in rm.penalties}
    return RosterResult(status="EDITED" if ok else "INVALID", assignments=tuple(assignments),
                        objective=float(solver.objective_value) if ok else None, bound=None, gap=None,
                        seconds=round(solver.wall_time, 3), unmet_agent_intervals=unmet_agent_intervals(problem, assignments),
                        fairness=fairness_summary(problem, assignments), penalties=penalties,
                        explanation=tuple(explain_shortage(problem, assignments)))
