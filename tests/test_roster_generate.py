"""Generated roster months (optimizer.roster.generate) are valid inputs of the engine, seeded and varied; rest
request outcomes name what stood in the way of each refused request."""
from __future__ import annotations

import csv
from datetime import date

import pytest

from optimizer.checker import check_files
from optimizer.roster.io import write_roster_csv
from optimizer.roster.explain import rest_request_outcomes
from optimizer.roster.generate import HELD_OUT_SEEDS, TUNING_SEEDS, generate_month
from optimizer.roster.io import load_problem
from optimizer.roster.problem import OFF, Assignment
from optimizer.roster.solve import solve
from wfm.config import load_config


def _load(folder, spec):
    config = load_config(folder / "site.toml")
    problem = load_problem(config, spec.month, folder / "agents.csv", folder / "demand.csv", folder / "previous.csv",
                           ledger_json=folder / "ledger.json")
    return config, problem


def test_tuning_and_held_out_seeds_do_not_overlap():
    assert TUNING_SEEDS and HELD_OUT_SEEDS and not set(TUNING_SEEDS) & set(HELD_OUT_SEEDS)


def test_generated_month_reads_back_with_a_template_across_midnight(tmp_path):
    spec = generate_month(tmp_path, 25, seed=3)
    config, problem = _load(tmp_path, spec)
    assert len(problem.agents) == 25 and len(problem.shifts) == 3
    late = problem.shift("late")
    assert late.end_min > 24 * 60  # ends after midnight
    assert any(slot.start_min < 8 * 60 and slot.required > 0 for slot in problem.demand)  # demand after midnight
    assert problem.previous and all(p.day < problem.first_day for p in problem.previous)
    assert sum(len(a.rest_requests) for a in problem.agents) == spec.rest_requests > 0
    assert sum(len(a.unavailable) for a in problem.agents) == spec.unavailable_days > 0
    ledger = problem.ledger.evenings
    assert max(ledger.values()) - min(ledger.values()) <= 1


def test_same_seed_same_month_other_seed_other_month(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_month(a, 60, seed=5)
    generate_month(b, 60, seed=5)
    generate_month(c, 60, seed=6)
    for name in ("agents.csv", "demand.csv", "previous.csv", "ledger.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "demand.csv").read_bytes() != (c / "demand.csv").read_bytes()


def test_spike_days_ask_more_than_the_floor_has(tmp_path):
    spec = generate_month(tmp_path, 25, seed=4)
    with open(tmp_path / "demand.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    per_day: dict[str, int] = {}
    for row in rows:
        per_day[row["date"]] = per_day.get(row["date"], 0) + int(row["required"])
    spike = spec.spike_days[0]
    weekdays = [v for d, v in per_day.items() if date.fromisoformat(d).weekday() < 5 and d not in spec.spike_days]
    assert per_day[spike] > 1.4 * max(weekdays)


def _one_agent_worked(problem, agent_id: str, day: date) -> list[Assignment]:
    """Everyone OFF, except `agent_id` on the day template on `day` with her meal at 12:00."""
    shift = problem.shift("day")
    lines = []
    for agent in problem.agents:
        for when in problem.days:
            if agent.agent_id == agent_id and when == day:
                lines.append(Assignment(agent_id, when, "day", shift.start_min, shift.end_min, 12 * 60))
            else:
                lines.append(Assignment(agent.agent_id, when, OFF))
    return lines


def test_refused_request_names_the_demand_in_its_way_and_granted_one_is_honoured(tmp_path):
    spec = generate_month(tmp_path, 25, seed=3)
    _, problem = _load(tmp_path, spec)
    agent = next(a for a in problem.agents if a.rest_requests - a.unavailable)
    asked = min(agent.rest_requests - agent.unavailable)
    refused = {(o.agent_id, o.day): o for o in rest_request_outcomes(problem, _one_agent_worked(problem, agent.agent_id, asked))}
    outcome = refused[(agent.agent_id, asked)]
    assert not outcome.honoured and outcome.blocker == "demand" and str(asked) in outcome.reason
    others = [o for o in refused.values() if (o.agent_id, o.day) != (agent.agent_id, asked)]
    assert others and all(o.honoured and o.blocker == "" for o in others)


def test_refused_request_without_demand_says_nothing_forced_it(tmp_path):
    spec = generate_month(tmp_path, 25, seed=3)
    _, problem = _load(tmp_path, spec)
    agent = next(a for a in problem.agents if a.rest_requests - a.unavailable)
    asked = min(agent.rest_requests - agent.unavailable)
    empty = type(problem)(year=problem.year, month=problem.month, tz=problem.tz, agents=problem.agents, shifts=problem.shifts,
                          demand=(), rules=problem.rules)
    outcome = next(o for o in rest_request_outcomes(empty, _one_agent_worked(empty, agent.agent_id, asked))
                   if o.agent_id == agent.agent_id and o.day == asked)
    assert not outcome.honoured and outcome.blocker == "none"


@pytest.mark.parametrize("agents", [25])
def test_engine_on_a_generated_month_breaks_no_hard_rule(tmp_path, agents):
    spec = generate_month(tmp_path, agents, seed=TUNING_SEEDS[0])
    config, problem = _load(tmp_path, spec)
    # every phase (first, cover, improve, exchange) on a deterministic budget, one worker: the same roster under any
    # load (two workers share out their deterministic time as their threads happen to run); the wall limit only guards
    result = solve(problem, config, time_limit=600, deterministic_time=3.0, cover_share=0.4, exchange_share=0.1, seed=0,
                   workers=1, show_progress=False)
    assert {p.phase for p in result.progress} >= {"first", "cover", "improve"}
    roster = write_roster_csv(result.assignments, tmp_path / "roster.csv")
    check = check_files(roster, config, tmp_path / "agents.csv", tmp_path / "demand.csv", tmp_path / "previous.csv")
    assert check.hard_violations == 0
    assert check.unmet_agent_intervals == result.unmet_agent_intervals
    outcomes = rest_request_outcomes(problem, result.assignments)
    assert len(outcomes) == spec.rest_requests
    assert all(o.honoured or o.reason for o in outcomes)
