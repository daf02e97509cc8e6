"""Curtois benchmark: parser (line-numbered errors), independent evaluator, CP-SAT model and `wfm nrp`."""
from __future__ import annotations

import itertools
import json
import random

import pytest

from optimizer.nrp.evaluate import evaluate_roster
from optimizer.nrp.solve import solve
from optimizer.nrp.parser import InstanceError, parse_instance, read_instance
from wfm.cli import main

TINY = """# hand-made
SECTION_HORIZON
7

SECTION_SHIFTS
# ShiftID, Length in mins, Shifts which cannot follow this shift | separated
D,480,
L,600,D

SECTION_STAFF
# ID, MaxShifts, MaxTotalMinutes, MinTotalMinutes, MaxConsecutiveShifts, MinConsecutiveShifts, MinConsecutiveDaysOff, MaxWeekends
A,D=7|L=2,3000,960,3,2,2,1
B,D=7|L=0,2400,480,4,1,1,0

SECTION_DAYS_OFF
# EmployeeID, DayIndexes (start at zero)
A,3

SECTION_SHIFT_ON_REQUESTS
A,0,L,5
B,2,D,2

SECTION_SHIFT_OFF_REQUESTS
A,1,D,3
B,5,D,4

SECTION_COVER
# Day, ShiftID, Requirement, Weight for under, Weight for over
0,D,1,100,1
0,L,1,100,1
1,D,1,100,1
1,L,0,100,1
2,D,2,100,1
2,L,0,100,1
3,D,1,100,1
3,L,0,100,1
4,D,1,100,1
4,L,1,100,1
5,D,1,100,1
5,L,0,100,1
6,D,0,100,1
6,L,0,100,1
"""


@pytest.fixture
def tiny():
    return parse_instance(TINY, source="tiny.txt")


def test_parser_reads_all_eight_instances(nrp_instances):
    sizes = {}
    for i in range(1, 9):
        ins = read_instance(nrp_instances / f"Instance{i}.txt")
        sizes[ins.name] = (ins.horizon, len(ins.staff), len(ins.shifts))
        assert len(ins.cover) == ins.horizon * len(ins.shifts)
    assert sizes["Instance1"] == (14, 8, 1) and sizes["Instance8"] == (28, 30, 4)


def test_parser_fields(tiny):
    assert tiny.horizon == 7 and tiny.shift("L").cannot_follow == frozenset({"D"}) and tiny.shift("L").minutes == 600
    a = tiny.staff[0]
    assert (a.id, a.max_shifts, a.max_minutes, a.min_minutes, a.max_consecutive, a.min_consecutive, a.min_days_off, a.max_weekends) == (
        "A", {"D": 7, "L": 2}, 3000, 960, 3, 2, 2, 1)
    assert tiny.days_off == {"A": frozenset({3})}
    assert tiny.on_requests[0].weight == 5 and tiny.off_requests[1].shift == "D"


@pytest.mark.parametrize(
    "old,new,fragment",
    [
        ("D,480,", "D,eight,", "tiny.txt:7: shift length must be an integer"),
        ("A,0,L,5", "A,0,N,5", "tiny.txt:20: unknown shift 'N'"),
        ("B,2,D,2", "B,9,D,2", "tiny.txt:21: day index 9 is outside the horizon"),
        ("A,1,D,3", "Z,1,D,3", "tiny.txt:24: unknown employee 'Z'"),
        ("SECTION_COVER", "SECTION_COVERS", "tiny.txt:27: unknown section"),
        ("0,D,1,100,1", "0,D,1,100", "tiny.txt:29: SECTION_COVER expects 5"),
        ("L,600,D", "L,600,X", "tiny.txt:8: shift L lists unknown follower 'X'"),
        ("A,D=7|L=2,", "A,D7|L=2,", "tiny.txt:12: MaxShifts item 'D7'"),
    ],
)
def test_parser_errors_name_file_and_line(old, new, fragment):
    with pytest.raises(InstanceError) as err:
        parse_instance(TINY.replace(old, new, 1), source="tiny.txt")
    assert fragment in str(err.value)


def test_parser_missing_section():
    with pytest.raises(InstanceError, match="missing SECTION_COVER"):
        parse_instance(TINY.split("SECTION_COVER")[0], source="tiny.txt")


def test_parser_refuses_a_horizon_section_without_its_number():
    # every header present, no data: once this gave an instance with horizon None (a TypeError in `wfm nrp`)
    with pytest.raises(InstanceError, match="tiny.txt: SECTION_HORIZON gives no horizon"):
        parse_instance("SECTION_HORIZON\nSECTION_SHIFTS\nSECTION_STAFF\nSECTION_COVER\n", source="tiny.txt")


GOOD = {"A": ["L", "L", "", "", "D", "D", ""], "B": ["D", "D", "D", "D", "", "", ""]}


def test_evaluator_hand_computed_penalty(tiny):
    ev = evaluate_roster(tiny, GOOD)
    assert ev.feasible, ev.hard_violations
    # requests all granted; cover: d1 L 1/0 over 1, d2 D 1/2 under 1, d4 L 0/1 under 1
    assert (ev.on_request_penalty, ev.off_request_penalty, ev.cover_under_penalty, ev.cover_over_penalty) == (0, 0, 200, 1)
    assert ev.penalty == 201


def test_evaluator_soft_terms_fire(tiny):
    roster = {"A": ["D", "D", "", "", "D", "D", ""], "B": ["D", "", "", "D", "D", "D", ""]}
    ev = evaluate_roster(tiny, roster)
    # on: A0 wants L (5), B2 wants D (2); off: A1 D (3), B5 D (4)
    assert ev.on_request_penalty == 7 and ev.off_request_penalty == 7
    # cover D: d0 2/1 over1, d2 0/2 under2, d4 2/1 over1, d5 2/1 over1; L: d0 0/1, d4 0/1 under 2
    assert ev.cover_over_penalty == 3 and ev.cover_under_penalty == 400
    assert ev.penalty == 417


@pytest.mark.parametrize(
    "change,fragment",
    [
        ({"A": ["L", "D", "", "", "D", "D", ""]}, "D may not follow L"),
        ({"A": ["", "L", "", "", "D", "D", ""]}, "1 consecutive shifts from day 1 < min 2"),
        ({"A": ["L", "L", "", "D", "D", "", ""]}, "fixed day off"),
        ({"B": ["D", "D", "D", "D", "D", "", ""]}, "5 consecutive shifts from day 0 > max 4"),
        ({"A": ["L", "L", "", "", "D", "", "D"]}, "1 consecutive days off from day 5 < min 2"),
        ({"A": ["L", "L", "L", "", "", "D", "D"]}, "3 x L > max 2"),
        ({"B": ["", "", "", "", "", "", ""]}, "0 min < min 480"),
        ({"B": ["D", "D", "D", "D", "", "D", "D"]}, "2880 min > max 2400"),
        ({"B": ["D", "D", "", "", "", "D", ""]}, "1 weekends worked > max 0"),
    ],
)
def test_evaluator_hard_rules_fire(tiny, change, fragment):
    roster = {**GOOD, **change}
    ev = evaluate_roster(tiny, roster)
    assert any(fragment in v for v in ev.hard_violations), ev.hard_violations


def test_evaluator_edge_runs_are_never_too_short(tiny):
    for row in (["D", "", "", "", "D", "D", "L"], ["L", "L", "", "", "", "", "D"]):
        ev = evaluate_roster(tiny, {"A": row, "B": GOOD["B"]})
        assert ev.feasible, ev.hard_violations


def test_evaluator_missing_employee_and_wrong_length(tiny):
    assert any("missing" in v for v in evaluate_roster(tiny, {"A": GOOD["A"]}).hard_violations)
    assert any("horizon is 7" in v for v in evaluate_roster(tiny, {"A": GOOD["A"][:6], "B": GOOD["B"]}).hard_violations)


def _brute_force_optimum(instance) -> int:
    """Best penalty over every roster: each employee's feasible rows first, then all combinations."""
    options = ["", *instance.shift_ids]
    feasible: dict[str, list[list[str]]] = {}
    for p in instance.staff:
        rows = []
        for row in itertools.product(options, repeat=instance.horizon):
            violations = evaluate_roster(instance, {p.id: list(row)}).hard_violations
            if not any(v.startswith(f"{p.id}") for v in violations):
                rows.append(list(row))
        feasible[p.id] = rows
    best = None
    for combo in itertools.product(*feasible.values()):
        roster = dict(zip(feasible, combo))
        ev = evaluate_roster(instance, roster)
        if best is None or ev.penalty < best:
            best = ev.penalty
    return best


def _random_tiny(seed: int):
    rng = random.Random(seed)
    lines = ["SECTION_HORIZON", "7", "SECTION_SHIFTS", "D,480,", "L,480,D", "SECTION_STAFF"]
    for name in "AB":
        lines.append(f"{name},D={rng.randint(2, 7)}|L={rng.randint(0, 3)},{480 * rng.randint(3, 5)},{480 * rng.randint(1, 3)},"
                     f"{rng.randint(2, 5)},{rng.randint(1, 3)},{rng.randint(1, 2)},{rng.randint(1, 2)}")
    lines += ["SECTION_DAYS_OFF", f"A,{rng.randint(0, 6)}", "SECTION_SHIFT_ON_REQUESTS"]
    lines += [f"{rng.choice('AB')},{rng.randint(0, 6)},{rng.choice('DL')},{rng.randint(1, 3)}" for _ in range(3)]
    lines += ["SECTION_SHIFT_OFF_REQUESTS"]
    lines += [f"{rng.choice('AB')},{rng.randint(0, 6)},{rng.choice('DL')},{rng.randint(1, 3)}" for _ in range(3)]
    lines += ["SECTION_COVER"] + [f"{d},{s},{rng.randint(0, 2)},{rng.choice([10, 100])},1" for d in range(7) for s in "DL"]
    return parse_instance("\n".join(lines) + "\n", source=f"random{seed}.txt")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_model_optimum_equals_brute_force_over_evaluator(seed):
    instance = _random_tiny(seed)
    expected = _brute_force_optimum(instance)
    solution = solve(instance, time_limit_s=10, workers=1)
    if expected is None:
        assert solution.status == "INFEASIBLE"
        return
    assert solution.status == "OPTIMAL"
    ev = evaluate_roster(instance, solution.roster)
    assert ev.feasible and ev.penalty == expected == round(solution.solver_objective)


def test_model_on_instance1_objective_recomputed_equals_reported(nrp_instances, capsys):
    path = nrp_instances / "Instance1.txt"
    # a deterministic budget (the wall limit only guards): proven optimal on any machine under any load
    code = main(["nrp", str(path), "--time-limit", "600", "--deterministic-time", "10", "--workers", "2", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    result = json.loads(captured.out)
    assert list(result) == ["instance", "status", "objective", "bound", "seconds", "roster"]
    assert result["instance"] == "Instance1" and result["status"] in ("OPTIMAL", "FEASIBLE")
    instance = read_instance(path)
    ev = evaluate_roster(instance, result["roster"])
    assert ev.feasible and ev.penalty == result["objective"]
    assert result["status"] == "OPTIMAL" and result["objective"] == 607  # proven optimum, reached in about a second
    assert all(len(row) == 14 for row in result["roster"].values()) and set(result["roster"]) == {p.id for p in instance.staff}
    assert "objective" in captured.err and "gap" in captured.err


def test_cli_bad_instance_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text(TINY.replace("D,480,", "D,x,"), encoding="utf-8")
    code = main(["nrp", str(bad), "--time-limit", "1", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and f"{bad}:7:" in captured.err
