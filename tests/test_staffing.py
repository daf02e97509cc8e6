"""Staffing solver and `wfm staffing` CLI: reference case, targets, CSV in/out and bad input."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from optimizer import erlang
from optimizer.staffing import StaffingInputError, StaffingTarget, read_interval_csv, solve_agents, staff_interval
from wfm.cli import main

REFERENCE = ["--calls", "100", "--interval-min", "30", "--aht-s", "180", "--target-sl", "0.8", "--answer-s", "20",
             "--max-occupancy", "0.85", "--shrinkage", "0.3"]


def run_cli(capsys, *argv):
    code = main(["staffing", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_reference_case_14_on_post_20_scheduled():
    target = StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85, shrinkage=0.3)
    result = staff_interval(100, 30, 180, target)
    assert (result.agents, result.scheduled) == (14, 20)
    assert (round(result.service_level, 3), round(result.occupancy, 3), round(result.p_wait, 3)) == (0.888, 0.714, 0.174)
    assert result.p_abandon is None


def test_occupancy_cap_binds_when_service_target_is_loose():
    # 20 Erlangs: SL 50 % in 60 s is met below 24 agents, but 85 % occupancy needs 24
    loose = StaffingTarget(service_level=0.5, answer_s=60, max_occupancy=1.0)
    capped = StaffingTarget(service_level=0.5, answer_s=60, max_occupancy=0.85)
    free = staff_interval(400, 30, 90, loose).agents
    bound = staff_interval(400, 30, 90, capped)
    assert free < 24 and bound.agents == 24 and bound.occupancy <= 0.85


def test_asa_target_adds_agents_only_when_it_binds():
    base = StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85)
    strict = StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85, max_asa_s=2.0)
    lax = StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85, max_asa_s=60.0)
    assert staff_interval(100, 30, 180, lax).agents == 14
    tight = staff_interval(100, 30, 180, strict)
    assert tight.agents > 14 and tight.asa_s <= 2.0
    assert staff_interval(100, 30, 180, base).asa_s > 2.0


def test_solution_is_the_fewest_agents():
    rng = np.random.default_rng(3)
    calls = rng.uniform(0, 3000, 200)
    aht = rng.uniform(60, 600, 200)
    target = StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.9)
    agents = solve_agents(calls, 1800.0, aht, target)
    at = erlang.erlang_c_performance(agents, calls, 1800.0, aht, 20)
    below = erlang.erlang_c_performance(np.maximum(agents - 1, 0), calls, 1800.0, aht, 20)
    assert np.all(at.service_level >= 0.8) and np.all(at.occupancy <= 0.9)
    busy = calls > 0
    assert np.all(((below.service_level < 0.8) | (below.occupancy > 0.9))[busy])


def test_erlang_a_needs_fewer_agents_than_erlang_c():
    a = StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85, model="erlang-a", patience_s=300)
    result = staff_interval(100, 30, 180, a)
    assert result.agents == 13 and result.p_abandon is not None and result.service_level >= 0.8


def test_no_calls_no_agents():
    result = staff_interval(0, 30, 180, StaffingTarget(service_level=0.8, answer_s=20))
    assert result.agents == 0 and result.scheduled == 0 and result.service_level == 1.0


@pytest.mark.parametrize("kwargs", [dict(service_level=1.0, answer_s=20), dict(service_level=0.8, answer_s=20, shrinkage=1.0),
                                    dict(service_level=0.8, answer_s=20, model="erlang-a")])
def test_bad_targets_are_refused(kwargs):
    with pytest.raises(StaffingInputError):
        StaffingTarget(**kwargs)


def test_cli_reference_json_has_exactly_section6_keys(capsys):
    code, out, _ = run_cli(capsys, *REFERENCE, "--json")
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["agents", "scheduled", "service_level", "occupancy", "p_wait", "asa_s", "p_abandon"]
    assert data["agents"] == 14 and data["scheduled"] == 20 and data["p_abandon"] is None
    assert round(data["service_level"], 3) == 0.888


def test_cli_erlang_a(capsys):
    code, out, _ = run_cli(capsys, "--calls", "100", "--interval-min", "30", "--aht-s", "180", "--target-sl", "0.8",
                           "--answer-s", "20", "--model", "erlang-a", "--patience-s", "300", "--json")
    data = json.loads(out)
    assert code == 0 and data["agents"] == 13 and 0 < data["p_abandon"] < 0.05


def test_cli_sl_target_of_one_is_bad_usage(capsys):
    code, out, err = run_cli(capsys, "--calls", "100", "--target-sl", "1", "--json")
    assert code == 2 and out == "" and "service level" in err and len(err.strip().splitlines()) == 1


def _write(path, rows):
    path.write_text("date,interval_start,calls,aht_s\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


def test_cli_from_csv_json_list_and_out_csv(tmp_path, capsys):
    src = _write(tmp_path / "in.csv", ["2027-01-04,08:30,100,180", "2027-01-04,09:00,0,180", "2027-01-05,08:30,250,200"])
    out_csv = tmp_path / "out.csv"
    code, out, _ = run_cli(capsys, "--from", str(src), "--interval-min", "30", "--target-sl", "0.8", "--answer-s", "20",
                           "--max-occupancy", "0.85", "--shrinkage", "0.3", "--out", str(out_csv), "--json")
    data = json.loads(out)
    assert code == 0 and isinstance(data, list) and len(data) == 3
    assert data[0]["agents"] == 14 and data[1]["agents"] == 0 and data[2]["agents"] > 14
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["agents"] for r in rows] == [str(d["agents"]) for d in data] and rows[0]["interval_start"] == "08:30"


@pytest.mark.parametrize(
    "rows,fragment",
    [
        (["2027-01-04,08:30,-5,180"], ":2: field 'calls': negative"),
        (["2027-01-04,08:30,10,180", "2027-01-04,09:30,10,180"], ":3: field 'interval_start': gap"),
        (["2027-01-04,08:30,10,180", "2027-01-04,08:30,12,180"], ":3: duplicate interval"),
        (["2027-13-04,08:30,10,180"], ":2: field 'date'"),
        (["2027-01-04,8h30,10,180"], ":2: field 'interval_start'"),
        (["2027-01-04,08:30,ten,180"], ":2: field 'calls'"),
        (["2027-01-04,08:30,10,0"], ":2: field 'aht_s'"),
    ],
)
def test_cli_bad_csv_names_line_and_exits_2(tmp_path, capsys, rows, fragment):
    src = _write(tmp_path / "bad.csv", rows)
    code, out, err = run_cli(capsys, "--from", str(src), "--json")
    assert code == 2 and out == ""
    assert fragment in err and str(src) in err and len(err.strip().splitlines()) == 1


def test_read_interval_csv_accepts_next_day_restart(tmp_path):
    src = _write(tmp_path / "ok.csv", ["2027-01-04,08:30,10,180", "2027-01-04,09:00,10,180", "2027-01-05,08:30,10,180"])
    assert len(read_interval_csv(src, 30)) == 3


def test_occupancy_exactly_at_the_cap_is_allowed():
    # 570 calls x 306 s / 1800 s = 96.9 Erlangs; 114 agents give occupancy 0.85 exactly (float 0.8500000000000001)
    target = StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85)
    assert staff_interval(570, 30, 306, target).agents == 114
