"""The independent roster checker: each hard rule fires on a roster that breaks it and stays quiet on one that keeps it."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from optimizer.checker import CheckInputError, check_files
from wfm.config import default_data, from_data, load_config, merge

FEB = [date(2027, 2, 1) + timedelta(days=i) for i in range(28)]
HEADER = ["agent_id", "date", "shift", "start", "end", "meal_start"]
MEALS = {"A": "12:00", "B": "12:30", "C": "13:00"}


def base_lines() -> dict[tuple[str, date], list[str]]:
    """Three agents on day shifts, every 7th day off (4 rest days), staggered meals: keeps every rule."""
    lines = {}
    for agent in ("A", "B", "C"):
        for i, day in enumerate(FEB):
            if i % 7 == 6:
                lines[(agent, day)] = [agent, day.isoformat(), "OFF", "", "", ""]
            else:
                lines[(agent, day)] = [agent, day.isoformat(), "day", "08:30", "16:00", MEALS[agent]]
    return lines


def write(path: Path, lines: dict | list) -> Path:
    rows = list(lines.values()) if isinstance(lines, dict) else lines
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(HEADER)
        out.writerows(rows)
    return path


def agents_csv(path: Path, unavailable: dict[str, list[str]] | None = None) -> Path:
    unavailable = unavailable or {}
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("agent_id,name,unavailable\n")
        for agent in ("A", "B", "C"):
            fh.write(f"{agent},Agent {agent},{';'.join(unavailable.get(agent, []))}\n")
    return path


@pytest.fixture
def config():
    return load_config()


def rules_of(report) -> set[str]:
    return {v.rule for v in report.violations}


def test_clean_roster_has_no_violations(tmp_path, config):
    report = check_files(write(tmp_path / "r.csv", base_lines()), config, agents_csv(tmp_path / "a.csv"))
    assert report.hard_violations == 0, report.violations
    assert report.agents == 3


def test_second_line_on_a_day_fires_r4(tmp_path, config):
    rows = list(base_lines().values()) + [["A", "2027-02-02", "evening", "16:00", "23:30", "18:00"]]
    report = check_files(write(tmp_path / "r.csv", rows), config)
    assert "R4_ONE_SHIFT_A_DAY" in rules_of(report)


def test_min_rest_evening_then_day_fires_r4(tmp_path, config):
    lines = base_lines()
    lines[("A", FEB[1])] = ["A", "2027-02-02", "evening", "16:00", "23:30", "18:00"]  # 9 h before 08:30 next day
    report = check_files(write(tmp_path / "r.csv", lines), config)
    hits = [v for v in report.violations if v.rule == "R4_MIN_REST"]
    assert len(hits) == 1 and hits[0].agent == "A" and hits[0].day == "2027-02-03"
    assert "9.0 h" in hits[0].detail


def test_min_rest_day_then_evening_is_fine(tmp_path, config):
    lines = base_lines()
    lines[("A", FEB[5])] = ["A", "2027-02-06", "evening", "16:00", "23:30", "18:00"]  # day ends 16:00 the 5th; OFF the 7th
    report = check_files(write(tmp_path / "r.csv", lines), config)
    assert "R4_MIN_REST" not in rules_of(report)


def test_min_rest_across_month_boundary_with_previous(tmp_path, config):
    previous = write(tmp_path / "prev.csv", [["A", "2027-01-31", "evening", "16:00", "23:30", "18:00"]])
    lines = write(tmp_path / "r.csv", base_lines())
    assert "R4_MIN_REST" in rules_of(check_files(lines, config, previous_csv=previous))
    assert "R4_MIN_REST" not in rules_of(check_files(lines, config))


def test_seven_days_in_a_row_fires_r2(tmp_path, config):
    lines = base_lines()
    lines[("B", FEB[6])] = ["B", "2027-02-07", "day", "08:30", "16:00", "12:30"]
    hits = [v for v in check_files(write(tmp_path / "r.csv", lines), config).violations if v.rule == "R2_CONSECUTIVE_DAYS"]
    assert [(v.agent, v.day) for v in hits] == [("B", "2027-02-07")]


def test_consecutive_days_carry_over_from_previous_month(tmp_path, config):
    previous = write(tmp_path / "prev.csv", [["C", f"2027-01-{d}", "day", "08:30", "16:00", "13:00"] for d in range(26, 32)])
    lines = write(tmp_path / "r.csv", base_lines())  # C works Feb 1..6: 12 in a row with Jan 26..31
    hits = [v for v in check_files(lines, config, previous_csv=previous).violations if v.rule == "R2_CONSECUTIVE_DAYS"]
    assert [(v.agent, v.day) for v in hits] == [("C", "2027-02-01")]


def test_too_few_rest_days_fires_r3(tmp_path, config):
    lines = base_lines()
    for i in (6, 13):  # B gives up two rest days (then has 2, needs 4); keeps runs ≤ 6 by resting elsewhere
        lines[("B", FEB[i])] = ["B", FEB[i].isoformat(), "day", "08:30", "16:00", "12:30"]
    for i in (3, 10):
        lines[("B", FEB[i])] = ["B", FEB[i].isoformat(), "OFF", "", "", ""]
    report = check_files(write(tmp_path / "r.csv", lines), config)
    assert "R3_REST_DAYS" not in rules_of(report)  # still 4 rest days
    lines[("B", FEB[3])] = ["B", FEB[3].isoformat(), "day", "08:30", "16:00", "12:30"]
    report = check_files(write(tmp_path / "r.csv", lines), config)
    assert [v.agent for v in report.violations if v.rule == "R3_REST_DAYS"] == ["B"]


def test_unavailable_counts_as_rest_and_working_it_fires(tmp_path, config):
    lines = base_lines()
    assert "UNAVAILABLE" not in rules_of(check_files(write(tmp_path / "r.csv", lines), config, agents_csv(tmp_path / "a.csv", {"A": ["2027-02-07"]})))
    report = check_files(write(tmp_path / "r.csv", lines), config, agents_csv(tmp_path / "a.csv", {"A": ["2027-02-08"]}))
    assert [(v.agent, v.day) for v in report.violations if v.rule == "UNAVAILABLE"] == [("A", "2027-02-08")]


@pytest.mark.parametrize("meal, fires", [("12:00", False), ("09:30", False), ("14:30", False), ("09:00", True), ("15:00", True),
                                          ("12:15", True), ("", True)])
def test_meal_slot_r8(tmp_path, config, meal, fires):
    lines = base_lines()
    lines[("A", FEB[0])] = ["A", "2027-02-01", "day", "08:30", "16:00", meal]
    report = check_files(write(tmp_path / "r.csv", lines), config)
    assert ("R8_MEAL_SLOT" in rules_of(report)) is fires


def test_lunch_cover_f8(tmp_path, config):
    # a lone agent on the 1st: her meal leaves nobody on post
    rows = [["A", d.isoformat(), "OFF", "", "", ""] for d in FEB]
    rows[0] = ["A", "2027-02-01", "day", "08:30", "16:00", "12:00"]
    report = check_files(write(tmp_path / "r.csv", rows), config)
    assert [v.day for v in report.violations if v.rule == "F8_LUNCH_COVER"] == ["2027-02-01"]
    # two agents eating at different times cover each other
    rows += [["B", d.isoformat(), "OFF", "", "", ""] for d in FEB]
    rows[28] = ["B", "2027-02-01", "day", "08:30", "16:00", "12:30"]
    report = check_files(write(tmp_path / "r.csv", rows), config)
    assert "F8_LUNCH_COVER" not in rules_of(report)
    rows[28] = ["B", "2027-02-01", "day", "08:30", "16:00", "12:00"]  # both eat at once
    assert "F8_LUNCH_COVER" in rules_of(check_files(write(tmp_path / "r.csv", rows), config))


def test_template_times_r1(tmp_path, config):
    lines = base_lines()
    lines[("C", FEB[0])] = ["C", "2027-02-01", "day", "09:00", "16:00", "13:00"]
    assert "R1_SHIFT_TEMPLATE" in rules_of(check_files(write(tmp_path / "r.csv", lines), config))


def test_missing_day_is_incomplete(tmp_path, config):
    lines = base_lines()
    del lines[("C", FEB[5])]
    hits = [v for v in check_files(write(tmp_path / "r.csv", lines), config).violations if v.rule == "ROSTER_INCOMPLETE"]
    assert [(v.agent, v.day) for v in hits] == [("C", "2027-02-06")]


def test_unmet_demand_counts_on_post_exactly(tmp_path, config):
    lines = write(tmp_path / "r.csv", base_lines())
    demand = tmp_path / "d.csv"
    # Feb 1: A eats 12:00, B 12:30, C 13:00 → 12:00 has 2 on post; 08:00 nobody's shift covers; 16:00 after the shift
    demand.write_text("date,interval_start,required\n2027-02-01,12:00,3\n2027-02-01,11:30,3\n2027-02-01,08:00,1\n"
                      "2027-02-01,16:00,2\n2027-02-07,10:00,1\n", encoding="utf-8")
    report = check_files(lines, config, demand_csv=demand)
    assert report.unmet_agent_intervals == 1 + 0 + 1 + 2 + 1
    assert report.over_agent_intervals == 0


def test_midnight_crossing_coverage_counts_next_date(tmp_path):
    config = from_data(merge(default_data(), {"roster": {"shifts": [
        {"name": "day", "start": "08:30", "end": "17:30"}, {"name": "late", "start": "17:30", "end": "01:00"}]}}))
    rows = [["A", d.isoformat(), "OFF", "", "", ""] for d in FEB]
    rows[0] = ["A", "2027-02-01", "late", "17:30", "01:00", "20:00"]
    demand = tmp_path / "d.csv"
    # the late shift of the 1st covers 00:00 and 00:30 on the 2nd; 01:00 is past its end; 20:00 is her meal
    demand.write_text("date,interval_start,required\n2027-02-02,00:00,1\n2027-02-02,00:30,1\n2027-02-02,01:00,1\n"
                      "2027-02-01,20:00,1\n2027-02-01,20:30,1\n", encoding="utf-8")
    report = check_files(write(tmp_path / "r.csv", rows), config, demand_csv=demand)
    short = {(r["date"], r["interval_start"]): r["short"] for r in report.coverage}
    assert short == {("2027-02-02", "00:00"): 0, ("2027-02-02", "00:30"): 0, ("2027-02-02", "01:00"): 1,
                     ("2027-02-01", "20:00"): 1, ("2027-02-01", "20:30"): 0}
    assert report.unmet_agent_intervals == 2


@pytest.mark.parametrize("content, where", [
    ("agent_id,date,shift\nA,2027-02-01,day\n", ":1:"),
    ("agent_id,date,shift,start,end,meal_start\nA,2027-02-31,OFF,,,\n", ":2:"),
    ("agent_id,date,shift,start,end,meal_start\nA,2027-02-01,OFF,,,\nA,2027-02-02,night,22:00,06:00,01:00\n", ":3:"),
    ("agent_id,date,shift,start,end,meal_start\nA,2027-02-01,day,8:30am,16:00,12:00\n", ":2:"),
])
def test_bad_roster_input_names_the_line(tmp_path, config, content, where):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CheckInputError) as info:
        check_files(path, config)
    assert where in str(info.value) and "bad.csv" in str(info.value)


def test_cli_exit_codes_and_json(tmp_path, repo):
    good = write(tmp_path / "good.csv", base_lines())
    lines = base_lines()
    lines[("B", FEB[6])] = ["B", "2027-02-07", "day", "08:30", "16:00", "12:30"]
    bad = write(tmp_path / "bad.csv", lines)
    wfm = [sys.executable, "-m", "wfm.cli", "check-roster"]
    ok = subprocess.run(wfm + [str(good), "--json"], capture_output=True, text=True, cwd=repo)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["hard_violations"] == 0
    fail = subprocess.run(wfm + [str(bad), "--json"], capture_output=True, text=True, cwd=repo)
    assert fail.returncode == 1
    assert json.loads(fail.stdout)["by_rule"]["R2_CONSECUTIVE_DAYS"] == 1
    (tmp_path / "broken.csv").write_text("nope\n", encoding="utf-8")
    broken = subprocess.run(wfm + [str(tmp_path / "broken.csv")], capture_output=True, text=True, cwd=repo)
    assert broken.returncode == 2 and "broken.csv:1" in broken.stderr


def test_agent_missing_from_agents_csv_is_flagged(tmp_path, config):
    lines = base_lines()
    agents = tmp_path / "a.csv"
    agents.write_text("agent_id,name\nA,Agent A\nB,Agent B\n", encoding="utf-8")
    report = check_files(write(tmp_path / "r.csv", lines), config, agents)
    assert [(v.rule, v.agent) for v in report.violations if v.rule == "UNKNOWN_AGENT"] == [("UNKNOWN_AGENT", "C")]
    assert "UNKNOWN_AGENT" not in rules_of(check_files(write(tmp_path / "r.csv", lines), config, agents_csv(tmp_path / "b.csv")))


def test_fairness_counts_evenings_weekends_holidays_workdays(tmp_path):
    config = from_data(merge(default_data(), {"roster": {"holidays": ["2027-02-11"]}}))
    lines = base_lines()
    lines[("A", FEB[5])] = ["A", "2027-02-06", "evening", "16:00", "23:30", "18:00"]  # a Saturday evening
    report = check_files(write(tmp_path / "r.csv", lines), config, agents_csv(tmp_path / "a.csv"))
    fair = report.fairness
    assert fair["evenings"]["per_agent"] == {"A": 1, "B": 0, "C": 0} and fair["evenings"]["spread"] == 1
    # Feb 2027 weekends: 6,7,13,14,20,21,27,28; the pattern rests on the 7th, 14th, 21st, 28th
    assert fair["weekends"]["per_agent"] == {"A": 4, "B": 4, "C": 4}
    assert fair["holidays"]["per_agent"] == {"A": 1, "B": 1, "C": 1}
    assert fair["workdays"]["per_agent"] == {"A": 24, "B": 24, "C": 24} and fair["workdays"]["spread"] == 0


def test_checker_shares_no_code_with_the_model(repo):
    """style.md: the checker is independent — no module of optimizer/checker imports optimizer.roster."""
    import ast

    for path in (repo / "optimizer" / "checker").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.startswith("optimizer.roster") or n.startswith("optimizer.publish") for n in names), path
