"""Warm start of the Curtois solver: simulated annealing keeps every hard rule and never returns a worse roster;
the complete hint hands CP-SAT the annealed roster as its first solution."""
from __future__ import annotations

from ortools.sat.python import cp_model

from optimizer.nrp.evaluate import evaluate_roster
from optimizer.nrp.model import _read_roster, add_roster_hint, build_model
from optimizer.nrp.parser import read_instance
from optimizer.nrp.search import anneal


def _first_solution(instance):
    v, _ = build_model(instance)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.stop_after_first_solution = True
    solver.parameters.max_time_in_seconds = 10
    assert solver.solve(v.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return v, _read_roster(solver, v)


def test_anneal_keeps_hard_rules_and_improves(shared):
    instance = read_instance(shared / "benchmarks" / "nrp" / "Instance2.txt")
    _, start = _first_solution(instance)
    before = evaluate_roster(instance, start)
    assert before.feasible
    after_roster = anneal(instance, start, seconds=1.5, seed=3)
    after = evaluate_roster(instance, after_roster)
    assert after.feasible, after.hard_violations[:3]
    assert after.penalty < before.penalty  # a first solution is far from optimal; 1.5 s of moves must help


def test_anneal_returns_infeasible_input_untouched(shared):
    instance = read_instance(shared / "benchmarks" / "nrp" / "Instance1.txt")
    _, start = _first_solution(instance)
    broken = {k: list(row) for k, row in start.items()}
    first = instance.staff[0].id
    broken[first] = [instance.shifts[0].id] * instance.horizon  # breaks max consecutive shifts
    assert not evaluate_roster(instance, broken).feasible
    assert anneal(instance, broken, seconds=0.5) == broken


def test_complete_hint_is_taken_as_first_solution(shared):
    instance = read_instance(shared / "benchmarks" / "nrp" / "Instance2.txt")
    v, start = _first_solution(instance)
    improved = anneal(instance, start, seconds=1.0, seed=1)
    add_roster_hint(v, improved)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.stop_after_first_solution = True
    solver.parameters.max_time_in_seconds = 10
    assert solver.solve(v.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    assert solver.objective_value <= evaluate_roster(instance, improved).penalty
