"""The decomposition of issue 18: the aggregate model (head counts per day and template) bounds the unmet demand
of every roster and keeps the agents' capacity; the repair brings the greedy roster to those counts keeping every
agent rule, and the engine's roster from them keeps every hard rule."""
from __future__ import annotations

import csv
from datetime import date, timedelta

import pytest
from ortools.sat.python import cp_model

from optimizer.checker import check_files
from optimizer.roster.aggregate import aggregate_plan
from optimizer.roster.generate import generate_month
from optimizer.roster.greedy import greedy_roster
from optimizer.roster.io import load_problem, write_roster_csv
from optimizer.roster.repair import repair_to_counts
from optimizer.roster.solve import solve
from support.roster_files import all_intervals, roster_lines, write_agents, write_demand
from wfm.config import default_data, from_data, load_config, merge

pytestmark = pytest.mark.slow  # solver runs (tests/conftest.py)

GUARD_S = 600


def _config(shifts, lunch_cover: int = 1):
    return from_data(merge(default_data(), {"roster": {"workers": 1, "deterministic_time_s": 0.5, "shifts": shifts},
                                            "floor": {"lunch_cover_min_agents": lunch_cover}}))


def _solver(seconds: float = 0.5) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 1
    solver.parameters.max_deterministic_time = seconds
    solver.parameters.max_time_in_seconds = GUARD_S
    return solver


def test_heads_never_exceed_the_agents_available_that_day(tmp_path):
    """Demand of 5 with 3 agents: 3 heads at most, and at most 1 on the day two of them are on leave (F8 off here: a
    lone agent may eat)."""
    config = _config([{"name": "day", "start": "08:30", "end": "16:00"}], lunch_cover=0)
    agents = write_agents(tmp_path / "agents.csv", [("a", "2027-02-03", "", ""), ("b", "2027-02-03", "", ""), ("c", "", "", "")])
    demand = write_demand(tmp_path / "demand.csv", all_intervals("08:30", "15:30", need=5))
    problem = load_problem(config, "2027-02", agents, demand)
    plan = aggregate_plan(problem, _solver())
    assert plan is not None and plan.optimal
    assert max(plan.heads.values()) == 3
    assert plan.heads[(2, "day")] <= 1  # 3 Feb: only c
    # R3: 4 rest days each in February, so 3 × 24 shifts at most, all of them used against demand of 5
    assert sum(plan.heads.values()) == 3 * 24
    assert all(sum(plan.meals[(d, "day", o)] for o in problem.shift("day").meal_offsets) == plan.heads[(d, "day")]
               for d in range(28))


def _evening_then_day(tmp_path, gap_days: int):
    """Two agents; demand for 2 on the evening of 1 Feb and 2 on the day template `gap_days` later, nothing else."""
    config = _config([{"name": "day", "start": "08:30", "end": "16:00"}, {"name": "evening", "start": "16:00", "end": "23:30"}],
                     lunch_cover=0)
    agents = write_agents(tmp_path / "agents.csv", [("a", "", "", ""), ("b", "", "", "")])
    with open(tmp_path / "demand.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["date", "interval_start", "required"])
        for start, need in all_intervals("16:00", "23:00", 2).items():
            out.writerow(["2027-02-01", start, need])
        for start, need in all_intervals("08:30", "15:30", 2).items():
            out.writerow([(date(2027, 2, 1) + timedelta(days=gap_days)).isoformat(), start, need])
    return aggregate_plan(load_problem(config, "2027-02", agents, tmp_path / "demand.csv"), _solver())


def test_rest_between_evening_and_next_day_binds_the_counts(tmp_path):
    """R4: who closes the evening cannot open the next day, so two agents cover only one of the two; without the
    pairing the counts would cover both (2 heads each day)."""
    plan = _evening_then_day(tmp_path, gap_days=1)
    assert plan is not None and plan.optimal
    assert plan.heads[(0, "evening")] + plan.heads[(1, "day")] <= 2
    assert plan.unmet > 4 * 4  # a whole shift's demand short, not just the meals' (below)


def test_two_days_apart_both_are_covered(tmp_path):
    plan = _evening_then_day(tmp_path, gap_days=2)
    assert plan is not None and plan.optimal
    assert plan.heads[(0, "evening")] == plan.heads[(2, "day")] == 2
    assert plan.unmet == 4  # only the two meals of each shift (two agents, demand of two)


def _generated(tmp_path, agents=25, seed=7):
    spec = generate_month(tmp_path, agents, seed)
    config = load_config(tmp_path / "site.toml")
    problem = load_problem(config, spec.month, tmp_path / "agents.csv", tmp_path / "demand.csv", tmp_path / "previous.csv",
                           ledger_json=tmp_path / "ledger.json")
    return config, problem


def test_aggregate_unmet_is_no_more_than_any_rosters(tmp_path):
    """The aggregate optimum is a bound: the greedy roster, completed with its best meals, leaves at least as much
    unmet (a generated month of 25 agents, outside the tuning and held-out seeds)."""
    config, problem = _generated(tmp_path)
    plan = aggregate_plan(problem, _solver(5.0))
    assert plan is not None and plan.optimal
    result = solve(problem, config, time_limit=GUARD_S, deterministic_time=1.0, seed=2, workers=1, show_progress=False,
                   aggregate_share=0.0, cover_share=0.0, exchange_share=0.0)
    assert result.unmet_agent_intervals is not None and result.unmet_agent_intervals >= plan.unmet


def _off(plan, roster) -> int:
    got: dict[tuple[int, str], int] = {}
    for (_agent, day), name in roster.items():
        got[(day, name)] = got.get((day, name), 0) + 1
    return sum(abs(got.get(key, 0) - want) for key, want in plan.heads.items())


def test_repair_brings_the_greedy_roster_to_the_counts_and_keeps_every_agent_rule(tmp_path):
    config, problem = _generated(tmp_path)
    plan = aggregate_plan(problem, _solver(5.0))
    assert plan is not None
    start = greedy_roster(problem, heads=plan.heads)
    roster, missed = repair_to_counts(problem, start, plan.heads)
    assert missed == _off(plan, roster)
    assert _off(plan, start) > 0 and missed < _off(plan, start)  # the greedy missed some; the repair mended them
    check = check_files(write_roster_csv(roster_lines(problem, roster), tmp_path / "r.csv"), config, tmp_path / "agents.csv",
                        tmp_path / "demand.csv", tmp_path / "previous.csv")
    assert {v.rule for v in check.violations} <= {"F8_LUNCH_COVER"}, check.violations[:5]


def test_repair_leaves_a_roster_on_its_counts_alone(tmp_path):
    _, problem = _generated(tmp_path)
    start = greedy_roster(problem)
    counts: dict[tuple[int, str], int] = {}
    for (_agent, day), name in start.items():
        counts[(day, name)] = counts.get((day, name), 0) + 1
    roster, missed = repair_to_counts(problem, start, counts)
    assert missed == 0 and roster == start


def test_engine_from_the_decomposition_keeps_every_hard_rule(tmp_path):
    config, problem = _generated(tmp_path)
    plan = aggregate_plan(problem, _solver(5.0))
    assert plan is not None and plan.optimal
    result = solve(problem, config, time_limit=GUARD_S, deterministic_time=10.0, seed=2, workers=1, show_progress=False)
    assert any(p.phase == "first" for p in result.progress)
    roster_csv = write_roster_csv(result.assignments, tmp_path / "roster.csv")
    check = check_files(roster_csv, config, tmp_path / "agents.csv", tmp_path / "demand.csv", tmp_path / "previous.csv")
    assert check.hard_violations == 0, check.violations[:5]
    assert result.unmet_agent_intervals == check.unmet_agent_intervals >= plan.unmet


def test_greedy_follows_the_counts_it_is_given(tmp_path):
    """greedy_roster(heads=...) staffs each day with the heads asked for where the agents allow."""
    config, problem = _generated(tmp_path)
    heads = {(d, s.name): 0 for d in range(len(problem.days)) for s in problem.shifts}
    for d in range(len(problem.days)):
        heads[(d, "day")] = 6
        heads[(d, "evening")] = 4
    roster = greedy_roster(problem, heads=heads)
    per_day = [sum(1 for (_a, day) in roster if day == d) for d in range(len(problem.days))]
    assert max(per_day) <= 10
    assert sum(per_day) >= 0.9 * 10 * len(problem.days)
    assert not any(name == "late" for name in roster.values())
