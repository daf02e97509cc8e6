"""Same-day exchanges (optimizer.roster.exchange) keep every hard rule and the coverage, and never raise their score."""
from __future__ import annotations

from optimizer.checker import check_files
from optimizer.roster.io import write_roster_csv
from optimizer.roster.evaluate import on_post_counts
from optimizer.roster.exchange import exchange
from optimizer.roster.generate import generate_month
from optimizer.roster.io import load_problem
from optimizer.roster.greedy import greedy_roster
from support.roster_files import roster_lines
from wfm.config import load_config


def _greedy_with_meals(problem):
    """The greedy roster (hard-feasible by construction) with meals rotated over each template's slots (F8)."""
    return roster_lines(problem, greedy_roster(problem), rotate_meals=True)



def test_exchanges_keep_hard_rules_and_coverage_and_lower_the_score(tmp_path):
    spec = generate_month(tmp_path, 25, seed=1)
    config = load_config(tmp_path / "site.toml")
    problem = load_problem(config, spec.month, tmp_path / "agents.csv", tmp_path / "demand.csv", tmp_path / "previous.csv",
                           ledger_json=tmp_path / "ledger.json")
    start = _greedy_with_meals(problem)
    rows, report = exchange(problem, start, seconds=60, seed=3, max_moves=6000)
    assert report.moves_tried == 6000 and report.moves_taken > 0
    assert report.score_after < report.score_before
    assert on_post_counts(problem, rows) == on_post_counts(problem, start)  # who is on post never changes
    first = check_files(write_roster_csv(start, tmp_path / "start.csv"), config, tmp_path / "agents.csv",
                        tmp_path / "demand.csv", tmp_path / "previous.csv")
    assert first.hard_violations == 0, first.by_rule()
    check = check_files(write_roster_csv(rows, tmp_path / "roster.csv"), config, tmp_path / "agents.csv",
                        tmp_path / "demand.csv", tmp_path / "previous.csv")
    assert check.hard_violations == 0, check.by_rule()


def test_no_move_on_a_single_agent(tmp_path):
    spec = generate_month(tmp_path, 25, seed=2)
    config = load_config(tmp_path / "site.toml")
    problem = load_problem(config, spec.month, tmp_path / "agents.csv", tmp_path / "demand.csv")
    alone = type(problem)(year=problem.year, month=problem.month, tz=problem.tz, agents=problem.agents[:1],
                          shifts=problem.shifts, demand=problem.demand, rules=problem.rules)
    rows, report = exchange(alone, [], seconds=1)
    assert report.moves_taken == 0 and len(rows) == len(alone.days)
