"""The CP-SAT roster never breaks a hard rule (checked by the independent checker and directly), and its
figures (unmet demand, fairness) equal the checker's. Small instances, short solves.

Every solve here has a deterministic budget (roster.deterministic_time_s, optimizer/budget.py) and one worker, so
it finds the same roster on a loaded machine as on a quiet one; the wall-clock limit is only a guard."""
from __future__ import annotations

import csv
from datetime import date

import pytest

from optimizer.checker import check_files
from optimizer.roster.io import write_roster_csv
from optimizer.roster.io import load_problem
from optimizer.roster.problem import DAY_MIN, OFF
from optimizer.roster.solve import solve
from support.roster_files import FEB, all_intervals, roster_lines, write_agents, write_demand
from wfm.config import default_data, from_data, merge

GUARD_S = 600  # wall-clock limit of every solve: a guard only, the deterministic budget ends the search


def make_config(**roster):
    data = merge(default_data(), {"roster": {"workers": 1, "deterministic_time_s": 0.5, **roster}})
    return from_data(data)


@pytest.fixture(scope="module")
def stressed(tmp_path_factory):
    """8 agents, demand beyond capacity (every rule binds), carry-over from January, leave and requests."""
    tmp = tmp_path_factory.mktemp("stressed")
    agents = write_agents(tmp / "agents.csv", [
        ("a1", "", "", ""), ("a2", "", "", "evening"), ("a3", "2027-02-10;2027-02-11;2027-02-12", "", ""),
        ("a4", "", "2027-02-14", "day"), ("a5", "", "", ""), ("a6", "", "", ""), ("a7", "", "", ""), ("a8", "", "", "")])
    demand = write_demand(tmp / "demand.csv", all_intervals(need=5))
    previous = tmp / "previous.csv"
    with open(previous, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["agent_id", "date", "shift", "start", "end", "meal_start"])
        for d in range(26, 32):
            out.writerow(["a1", f"2027-01-{d}", "day", "08:30", "16:00", "12:00"])
        out.writerow(["a2", "2027-01-31", "evening", "16:00", "23:30", "19:00"])
    config = make_config(holidays=["2027-02-11"])
    problem = load_problem(config, "2027-02", agents, demand, previous)
    result = solve(problem, config, time_limit=GUARD_S, seed=3, show_progress=False)
    roster = write_roster_csv(result.assignments, tmp / "roster.csv")
    check = check_files(roster, config, agents, demand, previous)
    return problem, result, check, config


def lines_of(result, agent):
    return sorted((a for a in result.assignments if a.agent_id == agent), key=lambda a: a.day)


def test_solver_returns_a_roster_with_status_and_bound(stressed):
    problem, result, check, _ = stressed
    assert result.status in ("OPTIMAL", "FEASIBLE")
    assert len(result.assignments) == 8 * 28
    assert result.objective is not None and result.bound is not None and result.bound <= result.objective + 1e-6
    assert result.progress and result.progress[-1].objective == result.objective


def test_independent_checker_finds_no_hard_violation(stressed):
    _, _, check, _ = stressed
    assert check.hard_violations == 0, check.violations[:5]


def test_unmet_and_fairness_match_the_checker(stressed):
    problem, result, check, _ = stressed
    assert result.unmet_agent_intervals > 0  # demand is beyond capacity on purpose
    assert result.unmet_agent_intervals == check.unmet_agent_intervals
    for category in ("evenings", "weekends", "holidays", "workdays"):
        assert result.fairness[category]["per_agent"] == check.fairness[category]["per_agent"]
        assert result.fairness[category]["spread"] == check.fairness[category]["spread"]


def test_r2_carry_over_forces_rest_on_the_first(stressed):
    _, result, _, config = stressed
    a1 = lines_of(result, "a1")
    assert a1[0].shift == OFF  # worked Jan 26–31: the 1st must be a rest day
    for agent in {a.agent_id for a in result.assignments}:
        run = 0
        for line in lines_of(result, agent):
            run = run + 1 if line.works else 0
            assert run <= config.roster.max_consecutive_days


def test_r4_min_rest_across_days_and_month_edge(stressed):
    problem, result, _, config = stressed
    assert lines_of(result, "a2")[0].shift != "day"  # evening on Jan 31 ends 23:30: no 08:30 start on the 1st
    rest = config.roster.min_rest_between_shifts_h * 60
    for agent in {a.agent_id for a in result.assignments}:
        worked = [l for l in lines_of(result, agent) if l.works]
        for before, after in zip(worked, worked[1:]):
            gap = (after.day - before.day).days * DAY_MIN + after.start_min - before.end_min
            assert gap >= rest


def test_r3_rest_days_and_unavailable_dates(stressed):
    _, result, _, config = stressed
    for agent in {a.agent_id for a in result.assignments}:
        assert sum(1 for l in lines_of(result, agent) if not l.works) >= config.roster.rest_days_per_month
    a3 = {l.day: l.shift for l in lines_of(result, "a3")}
    assert [a3[date(2027, 2, d)] for d in (10, 11, 12)] == [OFF, OFF, OFF]


def test_r8_meal_slots_inside_margins_on_grid(stressed):
    _, result, _, config = stressed
    for line in result.assignments:
        if line.works:
            assert line.meal_start_min % config.roster.meal_grid_min == 0
            assert line.meal_start_min - line.start_min >= config.roster.meal_margin_min
            assert line.end_min - (line.meal_start_min + config.floor.meal_slot_min) >= config.roster.meal_margin_min


def test_unmet_demand_is_explained_in_words(stressed):
    problem, result, _, _ = stressed
    assert result.explanation
    assert "agent-intervals" in result.explanation[0]
    assert any(" short; " in line and "2027-02-" in line for line in result.explanation[1:])


def test_lunch_cover_staggers_meals_of_two_agents(tmp_path):
    """F8: with only two agents, each works only alongside the other and they never eat at the same time."""
    config = make_config(shifts=[{"name": "day", "start": "08:30", "end": "16:00"}])
    agents = write_agents(tmp_path / "agents.csv", [("x", "", "", ""), ("y", "", "", "")])
    demand = write_demand(tmp_path / "demand.csv", all_intervals("08:30", "15:30", need=2))
    problem = load_problem(config, "2027-02", agents, demand)
    result = solve(problem, config, time_limit=GUARD_S, seed=1, show_progress=False)
    by_day = {}
    for line in result.assignments:
        if line.works:
            by_day.setdefault(line.day, []).append(line)
    assert by_day, "the two agents must be rostered"
    for day, lines in by_day.items():
        assert len(lines) == 2, f"{day}: a lone agent could not take her meal with someone on post"
        assert lines[0].meal_start_min != lines[1].meal_start_min
    check = check_files(write_roster_csv(result.assignments, tmp_path / "r.csv"), config, agents, demand)
    assert check.hard_violations == 0
    assert check.unmet_agent_intervals == result.unmet_agent_intervals


def test_midnight_crossing_shift_covers_next_date(tmp_path):
    config = make_config(shifts=[{"name": "day", "start": "08:30", "end": "17:30"}, {"name": "late", "start": "17:30", "end": "01:00"}])
    agents = write_agents(tmp_path / "agents.csv", [(f"m{i}", "", "", "") for i in range(4)])
    demand = tmp_path / "demand.csv"
    demand.write_text("date,interval_start,required\n2027-02-02,00:00,2\n2027-02-02,00:30,2\n2027-02-02,10:00,1\n", encoding="utf-8")
    problem = load_problem(config, "2027-02", agents, demand)
    result = solve(problem, config, time_limit=GUARD_S, seed=1, show_progress=False)
    late_on_first = [l for l in result.assignments if l.day == date(2027, 2, 1) and l.shift == "late"]
    assert len(late_on_first) >= 2  # only a late shift of the 1st covers 00:00–01:00 on the 2nd
    assert result.unmet_agent_intervals == 0
    check = check_files(write_roster_csv(result.assignments, tmp_path / "r.csv"), config, agents, demand)
    assert check.hard_violations == 0 and check.unmet_agent_intervals == 0


def test_progress_callback_streams_objective_and_bound(tmp_path):
    config = make_config()
    agents = write_agents(tmp_path / "agents.csv", [(f"p{i}", "", "", "") for i in range(5)])
    demand = write_demand(tmp_path / "demand.csv", all_intervals(need=2))
    problem = load_problem(config, "2027-02", agents, demand)
    seen = []
    result = solve(problem, config, time_limit=GUARD_S, seed=1, progress=seen.append, show_progress=False)
    assert seen and any(p.objective is not None for p in seen)
    assert {p.phase for p in seen} <= {"first", "cover", "improve", "exchange"}  # issue 18: cover and exchange phases
    assert seen[-1].objective == result.objective


def test_fairness_ledger_carries_evenings_across_months(tmp_path):
    """R5 carry-over: an agent who worked many more evenings before gets the fewest evenings now."""
    config = make_config(deterministic_time_s=1.0)  # 0.5 s leaves f0 one evening above the least
    agents = write_agents(tmp_path / "agents.csv", [(f"f{i}", "", "", "") for i in range(6)])
    demand = write_demand(tmp_path / "demand.csv", {"10:00": 2, "19:00": 2})
    ledger = tmp_path / "ledger.json"
    ledger.write_text('{"evenings": {"f0": 12, "f1": 0, "f2": 0, "f3": 0, "f4": 0, "f5": 0}}', encoding="utf-8")
    problem = load_problem(config, "2027-02", agents, demand, ledger_json=ledger)
    result = solve(problem, config, time_limit=GUARD_S, seed=1, show_progress=False)
    evenings = result.fairness["evenings"]["per_agent"]
    assert evenings["f0"] == min(evenings.values())
    assert evenings["f0"] < max(evenings.values())
    assert result.fairness["evenings"]["spread_with_carry_over"] < 12


def test_soft_wishes_are_granted_when_the_floor_allows(tmp_path):
    """Rest requests and preferred shifts are honoured when nothing outweighs them, and cost when they are not."""
    config = make_config(weights={"under_cover": 1000, "over_cover": 1, "rest_request": 50, "preferred_shift": 5,
                                  "fair_evenings": 0, "fair_weekends": 0, "fair_holidays": 0, "fair_workdays": 0, "stability": 0})
    agents = write_agents(tmp_path / "agents.csv", [("w1", "", "2027-02-10;2027-02-11", "evening"), ("w2", "", "", "day")]
                          + [(f"w{i}", "", "", "") for i in range(3, 9)])
    # two on each shift cover one on post through every meal (F8); 8 agents have room to spare
    demand = write_demand(tmp_path / "demand.csv", {"10:00": 1, "19:00": 1})
    problem = load_problem(config, "2027-02", agents, demand)
    result = solve(problem, config, time_limit=GUARD_S, seed=1, show_progress=False)
    w1 = {l.day: l.shift for l in lines_of(result, "w1")}
    assert w1[date(2027, 2, 10)] == OFF and w1[date(2027, 2, 11)] == OFF
    assert {s for s in w1.values() if s != OFF} == {"evening"}
    assert {l.shift for l in lines_of(result, "w2") if l.works} == {"day"}
    assert result.penalties["rest_request"]["count"] == 0 and result.penalties["preferred_shift"]["count"] == 0


def test_evaluate_prices_a_given_roster_like_the_solver(stressed):
    from optimizer.roster.solve import evaluate

    problem, result, _, _ = stressed
    priced = evaluate(problem, result.assignments)
    assert priced.status == "EDITED"
    assert priced.objective <= result.objective + 1e-6  # same shifts and meals; slack the search left is priced out
    assert priced.penalties["under_cover"]["count"] <= result.penalties["under_cover"]["count"]
    assert priced.unmet_agent_intervals == result.unmet_agent_intervals


def test_template_without_room_for_a_meal_is_never_used_and_explained(tmp_path):
    """R8: a 2-hour template cannot hold a meal 1 h from both ends; it is never rostered and the shortage says why."""
    from optimizer.roster.explain import explain_infeasible

    config = make_config(shifts=[{"name": "day", "start": "08:30", "end": "16:00"}, {"name": "short", "start": "17:00", "end": "19:00"}])
    agents = write_agents(tmp_path / "agents.csv", [(f"s{i}", "", "", "") for i in range(4)])
    demand = write_demand(tmp_path / "demand.csv", {"10:00": 1, "17:30": 1}, days=FEB[:3])
    problem = load_problem(config, "2027-02", agents, demand)
    result = solve(problem, config, time_limit=GUARD_S, seed=1, show_progress=False)
    assert all(l.shift != "short" for l in result.assignments)
    assert result.unmet_agent_intervals == 3  # 17:30 on three days
    assert any("'short'" in line and "R8" in line for line in result.explanation)
    words = explain_infeasible(problem, seconds_left=2)
    assert any("'short'" in line for line in words)


def test_greedy_first_roster_is_hard_feasible_and_balanced(tmp_path):
    """The first roster (greedy + evening trades) keeps every hard rule by itself: the checker finds nothing."""
    from optimizer.roster.greedy import greedy_roster

    config = make_config()
    agents = write_agents(tmp_path / "agents.csv", [(f"g{i}", f"2027-02-0{i % 9 + 1}" if i % 3 == 0 else "", "", "")
                                                    for i in range(12)])
    demand = write_demand(tmp_path / "demand.csv", all_intervals(need=3))
    problem = load_problem(config, "2027-02", agents, demand)
    roster = greedy_roster(problem)
    # any meal inside the margins: F8 is not the greedy's job (the first phase places meals)
    lines = roster_lines(problem, roster)
    check = check_files(write_roster_csv(lines, tmp_path / "g.csv"), config, agents)
    assert {v.rule for v in check.violations} <= {"F8_LUNCH_COVER"}
    assert check.fairness["evenings"]["spread"] <= 1


def test_stop_event_ends_the_search_with_the_best_roster(tmp_path):
    """Stop (the desk's button) pressed once the first roster is in: the search returns it instead of running on to
    its 600 s limit; the phases after the stop (cover, exchange) never start."""
    import threading

    config = make_config()
    agents = write_agents(tmp_path / "agents.csv", [(f"t{i}", "", "", "") for i in range(10)])
    demand = write_demand(tmp_path / "demand.csv", all_intervals(need=3))
    problem = load_problem(config, "2027-02", agents, demand)
    stop = threading.Event()

    def press_stop(point):
        if point.objective is not None:
            stop.set()

    result = solve(problem, config, time_limit=GUARD_S, deterministic_time=0, seed=1, show_progress=False, stop=stop,
                   progress=press_stop)
    assert stop.is_set()
    assert result.status in ("FEASIBLE", "OPTIMAL") and len(result.assignments) == 10 * 28
    assert {p.phase for p in result.progress} <= {"first", "improve"}  # a 600 s search would run cover and exchange
    assert result.seconds < GUARD_S / 2  # a bound on waiting, not on speed: it did not run to its limit


def test_a_deterministic_budget_gives_the_same_roster_twice(tmp_path):
    """roster.deterministic_time_s on one worker: the search does the same work whatever the load, so the same roster."""
    config = make_config(deterministic_time_s=0.5)
    agents = write_agents(tmp_path / "agents.csv", [(f"d{i}", "", "", "") for i in range(6)])
    demand = write_demand(tmp_path / "demand.csv", all_intervals(need=2))
    problem = load_problem(config, "2027-02", agents, demand)
    first, second = (solve(problem, config, time_limit=GUARD_S, seed=4, show_progress=False) for _ in range(2))
    assert first.status in ("FEASIBLE", "OPTIMAL")
    assert first.assignments == second.assignments and first.objective == second.objective
