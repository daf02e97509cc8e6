"""Warm start of the Curtois solver: simulated annealing keeps every hard rule and never returns a worse roster;
the complete hint hands CP-SAT the annealed roster as its first solution; the cover-first ladder lowers the
under-cover without raising the objective, with or without its plateau moves.

Every search here runs on a deterministic budget (optimizer/budget.py: CP-SAT's deterministic time on one worker,
a fixed number of annealing moves), so it finds the same rosters on a loaded machine as on a quiet one; wall-clock
limits are only guards."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from ortools.sat.python import cp_model

from optimizer.budget import Budget
from optimizer.nrp import solve as nrp_solve
from optimizer.nrp.evaluate import evaluate_roster
from optimizer.nrp.model import add_roster_hint, build_model, read_roster
from optimizer.nrp.solve import _shake, cover_first
from optimizer.nrp.parser import parse_instance, read_instance
from optimizer.nrp.search import anneal


INSTANCES = Path(__file__).resolve().parent.parent / "benchmarks" / "instances" / "nrp"
GUARD_S = 600  # wall-clock guard of every search; the deterministic budget ends it


def _budget():
    return Budget(deterministic=True, guard_s=GUARD_S)


def _first_solution(instance):
    v, _ = build_model(instance)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.stop_after_first_solution = True
    solver.parameters.max_time_in_seconds = 60  # stops at the first solution; the cap only guards a loaded machine
    assert solver.solve(v.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return v, read_roster(solver, v)


def test_anneal_keeps_hard_rules_and_improves(nrp_instances):
    instance = read_instance(nrp_instances / "Instance2.txt")
    _, start = _first_solution(instance)
    before = evaluate_roster(instance, start)
    assert before.feasible
    after_roster = anneal(instance, start, seconds=GUARD_S, seed=3, moves=100_000)
    after = evaluate_roster(instance, after_roster)
    assert after.feasible, after.hard_violations[:3]
    assert after.penalty < before.penalty  # a first solution is far from optimal; 100 000 moves must help


def test_anneal_returns_infeasible_input_untouched(nrp_instances):
    instance = read_instance(nrp_instances / "Instance1.txt")
    _, start = _first_solution(instance)
    broken = {k: list(row) for k, row in start.items()}
    first = instance.staff[0].id
    broken[first] = [instance.shifts[0].id] * instance.horizon  # breaks max consecutive shifts
    assert not evaluate_roster(instance, broken).feasible
    assert anneal(instance, broken, seconds=GUARD_S, moves=50_000) == broken


def test_complete_hint_is_taken_as_first_solution(nrp_instances):
    instance = read_instance(nrp_instances / "Instance2.txt")
    v, start = _first_solution(instance)
    improved = anneal(instance, start, seconds=GUARD_S, seed=1, moves=50_000)
    add_roster_hint(v, improved)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.stop_after_first_solution = True
    solver.parameters.max_time_in_seconds = 60  # stops at the first solution; the cap only guards a loaded machine
    assert solver.solve(v.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    assert solver.objective_value <= evaluate_roster(instance, improved).penalty


@pytest.fixture(scope="module")
def instance5():
    """Instance 5 and its first CP-SAT solution (one worker: about 4 deterministic seconds), shared by the ladder
    tests; none of them changes the model or the roster."""
    instance = read_instance(INSTANCES / "Instance5.txt")
    v, start = _first_solution(instance)
    return instance, v, start


def _costs(instance, roster):
    ev = evaluate_roster(instance, roster)
    return ev.penalty, ev.cover_under_penalty


def _one_worker(solver):
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = GUARD_S


def test_cover_first_ladder_lowers_under_cover_and_never_the_objective(instance5):
    instance, v, start = instance5
    before_penalty, before_under = _costs(instance, start)
    assert before_under > 1100  # a first solution leaves many shifts short
    reported = []
    ladder = cover_first(v, start, seconds=2.0, configure=_one_worker, budget=_budget(),
                         progress=lambda objective, bound, gap: reported.append(objective))
    after = evaluate_roster(instance, ladder)
    assert after.feasible, after.hard_violations[:3]
    assert after.cover_under_penalty < before_under and after.penalty < before_penalty
    assert reported and reported == sorted(reported, reverse=True) and reported[-1] == after.penalty


def test_shake_moves_to_another_roster_at_the_same_under_cover(instance5):
    instance, v, start = instance5
    level = evaluate_roster(instance, start).cover_under_penalty
    moved = _shake(v, start, level, 1.0, _one_worker, random.Random(0), _budget())
    after = evaluate_roster(instance, moved)
    assert after.feasible, after.hard_violations[:3]
    assert after.cover_under_penalty <= level
    changed = sum(a != b for staff_id, row in start.items() for a, b in zip(row, moved[staff_id]))
    worked = sum(1 for row in start.values() for shift in row if shift)
    assert changed >= 10, (changed, worked)  # a plateau move, not a one-cell tweak


def test_cover_first_ladder_with_plateau_moves_still_only_improves(instance5):
    instance, v, start = instance5
    before_penalty, before_under = _costs(instance, start)
    reported = []
    ladder = cover_first(v, start, seconds=3.0, configure=_one_worker, step_s=1.0, shake_s=0.5, seed=2, budget=_budget(),
                         progress=lambda objective, bound, gap: reported.append(objective))
    after = evaluate_roster(instance, ladder)
    assert after.feasible, after.hard_violations[:3]
    assert after.cover_under_penalty < before_under and after.penalty < before_penalty
    assert reported == sorted(reported, reverse=True) and reported[-1] == after.penalty


def test_cover_first_shakes_after_a_failed_step(instance5, monkeypatch):
    instance, v, start = instance5
    before_penalty, before_under = _costs(instance, start)
    shaken = []

    def counted_shake(*args):
        shaken.append(args[2])  # the level it was asked to keep
        return _shake(*args)

    monkeypatch.setattr(nrp_solve, "_shake", counted_shake)
    # 10 ms slices: too short for a step to presolve, so every step fails and each is followed by a plateau move
    ladder = cover_first(v, start, seconds=1.5, configure=_one_worker, step_s=0.01, shake_s=0.5, seed=2, budget=_budget())
    assert len(shaken) >= 2 and all(level <= before_under for level in shaken)
    after = evaluate_roster(instance, ladder)
    assert after.feasible and after.penalty <= before_penalty


def test_cover_first_leaves_a_fully_covered_roster_alone():
    instance = parse_instance(COVERED, source="covered.txt")
    assert all(c.requirement == 0 for c in instance.cover)
    v, start = _first_solution(instance)
    assert _costs(instance, start)[1] == 0
    assert cover_first(v, start, seconds=2.0, configure=_one_worker, budget=_budget()) is start


COVERED = """SECTION_HORIZON
7
SECTION_SHIFTS
D,480,
SECTION_STAFF
A,D=7,2400,960,3,1,1,1
SECTION_COVER
0,D,0,100,1
1,D,0,100,1
"""
