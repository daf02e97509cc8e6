"""Roster inputs: bad input gets a one-line error naming file, line and field."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from optimizer.roster.io import RosterInputError, load_problem
from wfm.config import load_config


@pytest.fixture
def config():
    return load_config()


def files(tmp_path, agents: str, demand: str):
    a, d = tmp_path / "agents.csv", tmp_path / "demand.csv"
    a.write_text(agents, encoding="utf-8")
    d.write_text(demand, encoding="utf-8")
    return a, d


GOOD_AGENTS = "agent_id,name,unavailable,rest_requests,preferred_shift,team\n1,王芳,2027-02-03,2027-02-04;2027-02-05,day,A\n2,李磊,,,,B\n"
GOOD_DEMAND = "date,interval_start,required\n2027-02-01,08:30,2\n2027-02-01,23:00,1\n2027-02-02,02:00,0\n"


def test_good_inputs_load(tmp_path, config):
    problem = load_problem(config, "2027-02", *files(tmp_path, GOOD_AGENTS, GOOD_DEMAND))
    assert [a.agent_id for a in problem.agents] == ["1", "2"]
    first = problem.agents[0]
    assert first.preferred_shift == "day" and len(first.rest_requests) == 2 and len(first.unavailable) == 1
    assert len(problem.demand) == 3 and len(problem.days) == 28
    assert [s.name for s in problem.shifts] == ["day", "evening"]
    day = problem.shift("day")
    assert day.meal_offsets[0] == 60 and day.meal_offsets[-1] == 450 - 60 - 30  # R8 margins


@pytest.mark.parametrize("agents, demand, where, words", [
    ("agent_id,name,preferred_shift\n1,A,night\n", GOOD_DEMAND, "agents.csv:2", "unknown shift template 'night'"),
    ("agent_id,name\n1,A\n2,B\n1,C\n", GOOD_DEMAND, "agents.csv:4", "duplicate agent id '1' (first on line 2)"),
    ("agent_id,name,unavailable\n1,A,2027-02-30\n", GOOD_DEMAND, "agents.csv:2", "field 'unavailable'"),
    ("agent_id,name,rest_requests\n1,A,03/02/2027\n", GOOD_DEMAND, "agents.csv:2", "field 'rest_requests'"),
    ("name,agent_id\nA,1\n", GOOD_DEMAND, "agents.csv:1", "header must start with agent_id,name"),
    (GOOD_AGENTS, "date,interval_start,required\n2027-02-01,08:30,2\n2027-2-1,09:00,1\n", "demand.csv:3", "field 'date'"),
    (GOOD_AGENTS, "date,interval_start,required\n2027-02-01,8h30,2\n", "demand.csv:2", "field 'interval_start'"),
    (GOOD_AGENTS, "date,interval_start,required\n2027-02-01,08:45,2\n", "demand.csv:2", "not on the 30-min interval grid"),
    (GOOD_AGENTS, "date,interval_start,required\n2027-03-01,09:00,1\n", "demand.csv:2", "outside the month"),
    (GOOD_AGENTS, "date,interval_start,required\n2027-02-01,09:00,two\n", "demand.csv:2", "field 'required'"),
    (GOOD_AGENTS, "date,interval_start,required\n2027-02-01,09:00,2.5\n", "demand.csv:2", "not a whole number"),
    (GOOD_AGENTS, "date,interval_start,required\n2027-02-01,09:00,-1\n", "demand.csv:2", "negative"),
    (GOOD_AGENTS, "date,interval_start,required\n2027-02-01,09:00,1\n2027-02-01,09:00,2\n", "demand.csv:3", "duplicate interval"),
    (GOOD_AGENTS, "date,start,required\n", "demand.csv:1", "interval_start"),
])
def test_bad_input_is_line_numbered(tmp_path, config, agents, demand, where, words):
    with pytest.raises(RosterInputError) as info:
        load_problem(config, "2027-02", *files(tmp_path, agents, demand))
    message = str(info.value)
    assert where in message and words in message
    assert "\n" not in message


def test_bad_month(tmp_path, config):
    with pytest.raises(RosterInputError, match="not YYYY-MM"):
        load_problem(config, "2027-13", *files(tmp_path, GOOD_AGENTS, GOOD_DEMAND))


def test_previous_roster_bad_line(tmp_path, config):
    a, d = files(tmp_path, GOOD_AGENTS, GOOD_DEMAND)
    prev = tmp_path / "prev.csv"
    prev.write_text("agent_id,date,shift,start,end,meal_start\n1,2027-01-31,day,08:30,16:00,12:00\n1,2027-01-30,day,25:00,16:00,12:00\n", encoding="utf-8")
    with pytest.raises(RosterInputError, match=r"prev.csv:3: field 'start'"):
        load_problem(config, "2027-02", a, d, prev)


def test_cli_bad_input_exit_2_one_line(tmp_path, repo):
    a, d = files(tmp_path, "agent_id,name\n1,A\n1,B\n", GOOD_DEMAND)
    run = subprocess.run([sys.executable, "-m", "wfm.cli", "roster", "--month", "2027-02", "--agents", str(a), "--demand", str(d),
                          "--out", str(tmp_path / "out"), "--json"], capture_output=True, text=True, cwd=repo)
    assert run.returncode == 2
    assert run.stdout == ""
    lines = [l for l in run.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "agents.csv:3" in lines[0] and "duplicate agent id" in lines[0]


def test_ledger_file_replaces_previous_counts(tmp_path, config):
    a, d = files(tmp_path, GOOD_AGENTS, GOOD_DEMAND)
    ledger = tmp_path / "ledger.json"
    ledger.write_text('{"through": "2027-01", "evenings": {"1": 9, "2": 4}, "weekends": {"1": 5}, "holidays": {}}', encoding="utf-8")
    problem = load_problem(config, "2027-02", a, d, ledger_json=ledger)
    assert problem.ledger.evenings == {"1": 9, "2": 4} and problem.ledger.weekends == {"1": 5}
    ledger.write_text('{"evenings": {"1": -2}}', encoding="utf-8")
    with pytest.raises(RosterInputError, match="ledger.json: key 'evenings'"):
        load_problem(config, "2027-02", a, d, ledger_json=ledger)


def test_cli_exit_1_when_demand_is_left_unmet(tmp_path, repo):
    a, d = files(tmp_path, "agent_id,name\n1,A\n2,B\n", "date,interval_start,required\n2027-02-01,10:00,5\n")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "wfm.cli", "roster", "--month", "2027-02", "--agents", str(a), "--demand", str(d),
                          "--out", str(out), "--time-limit", "600", "--deterministic-time", "0.3", "--json", "--no-progress"],
                         capture_output=True, text=True, cwd=repo)
    assert run.returncode == 1, run.stderr
    summary = json.loads(run.stdout)
    assert summary["unmet_agent_intervals"] == 3 and summary["hard_violations"] == 0  # two agents on post at most
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert any("2027-02-01" in line and " short; " in line for line in report["explanation"])
