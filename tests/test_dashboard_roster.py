"""Scheduler page runs (optimizer/desk/jobs.py): a real CP-SAT solve in a background thread,
progress and results on disk, errors in one line, no path tricks."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from optimizer.desk import jobs as roster_jobs
from wfm.config import default_data, from_data, merge

# runs search for 0.3 deterministic seconds on one worker (roster.deterministic_time_s): the same work on a loaded machine as on a quiet
# one; their wall-clock time_limit (600 s) only guards
CONFIG = from_data(merge(default_data(), {"roster": {"deterministic_time_s": 0.3, "workers": 1}}))


def small_inputs(agents: int = 8) -> tuple[bytes, bytes]:
    agents_csv = "agent_id,name\n" + "".join(f"{2000 + i},Agent {i}\n" for i in range(agents))
    rows = ["date,interval_start,required"]
    for day in range(1, 29):
        for slot in ("09:00", "09:30", "10:00", "16:30", "17:00"):
            rows.append(f"2027-02-{day:02d},{slot},2")
    return agents_csv.encode(), ("\n".join(rows) + "\n").encode()


def wait_done(jobs: Path, job_id: str, timeout: float = 90.0) -> roster_jobs.JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = roster_jobs.job_status(jobs, job_id)
        if status.state != "running":
            return status
        time.sleep(0.3)
    pytest.fail(f"roster run {job_id} still running after {timeout} s")


def test_a_run_solves_in_the_background_and_leaves_its_results_on_disk(tmp_path):
    agents, demand = small_inputs()
    job_id = roster_jobs.start_job(CONFIG, tmp_path, month="2027-02", agents_csv=agents, demand_csv=demand,
                                   history_csv=None, time_limit=600, seed=1)
    assert roster_jobs.job_status(tmp_path, job_id).state in ("running", "done")
    status = wait_done(tmp_path, job_id)
    assert status.state == "done", status.error
    assert status.result["status"] in ("OPTIMAL", "FEASIBLE")
    assert status.progress and {"elapsed_s", "objective", "bound", "gap"} <= set(status.progress[-1])
    run = roster_jobs.job_dir(tmp_path, job_id)
    roster = (run / "roster.csv").read_text(encoding="utf-8").splitlines()
    assert roster[0] == "agent_id,date,shift,start,end,meal_start"
    assert len(roster) == 1 + 8 * 28
    coverage = (run / "coverage.csv").read_text(encoding="utf-8").splitlines()
    assert len(coverage) == 1 + 28 * 5
    fairness = (run / "fairness.csv").read_text(encoding="utf-8").splitlines()
    assert len(fairness) == 1 + 8
    assert any(name.endswith(".xlsx") for name in status.files)
    assert any(name.endswith(".ics") for name in status.files)
    report = json.loads((run / "publish" / "report.json").read_text(encoding="utf-8"))
    assert report["hard_violations"] == 0
    assert not (tmp_path / "running").exists()  # the next run may start
    assert roster_jobs.bundle(tmp_path, job_id, ".ics")[:2] == b"PK"


def test_bad_input_fails_the_run_with_a_line_numbered_reason(tmp_path):
    _, demand = small_inputs()
    bad_agents = b"agent_id,name\n2000,A\n2000,B\n"  # duplicate id on line 3
    job_id = roster_jobs.start_job(CONFIG, tmp_path, month="2027-02", agents_csv=bad_agents, demand_csv=demand,
                                   history_csv=None, time_limit=600, seed=0)
    status = wait_done(tmp_path, job_id)
    assert status.state == "failed"
    assert "agents.csv:3" in status.error
    assert "\n" not in status.error


def test_start_refuses_bad_month_missing_demand_and_a_second_concurrent_run(tmp_path):
    agents, demand = small_inputs()
    with pytest.raises(roster_jobs.JobError, match="YYYY-MM"):
        roster_jobs.start_job(CONFIG, tmp_path, month="2027-13", agents_csv=agents, demand_csv=demand,
                              history_csv=None, time_limit=600, seed=0)
    with pytest.raises(roster_jobs.JobError, match="demand"):
        roster_jobs.start_job(CONFIG, tmp_path, month="2027-02", agents_csv=agents, demand_csv=None,
                              history_csv=None, time_limit=600, seed=0)
    first = roster_jobs.start_job(CONFIG, tmp_path, month="2027-02", agents_csv=agents, demand_csv=demand,
                                  history_csv=None, time_limit=600, seed=0)
    with pytest.raises(roster_jobs.JobError, match="still solving"):
        roster_jobs.start_job(CONFIG, tmp_path, month="2027-02", agents_csv=agents, demand_csv=demand,
                              history_csv=None, time_limit=600, seed=0)
    assert wait_done(tmp_path, first).state == "done"


def test_run_ids_and_file_names_cannot_leave_the_runs_folder(tmp_path):
    with pytest.raises(roster_jobs.JobError):
        roster_jobs.job_dir(tmp_path, "../etc")
    with pytest.raises(roster_jobs.JobError):
        roster_jobs.job_status(tmp_path, "20270101T000000-abcdef")
    run = tmp_path / "20270101T000000-abcdef"
    run.mkdir()
    (run / "job.json").write_text('{"state": "done", "month": "2027-02"}', encoding="utf-8")
    (tmp_path / "secret.csv").write_text("x", encoding="utf-8")
    with pytest.raises(roster_jobs.JobError):
        roster_jobs.job_file(tmp_path, run.name, "../secret.csv")
    with pytest.raises(roster_jobs.JobError):
        roster_jobs.job_file(tmp_path, run.name, "roster.csv")


def test_a_stale_running_marker_from_a_dead_process_is_cleared(tmp_path):
    run = tmp_path / "20270101T000000-abcdef"
    run.mkdir()
    (run / "job.json").write_text(json.dumps({"state": "running", "started_epoch": 0, "time_limit": 10}),
                                  encoding="utf-8")
    (tmp_path / "running").write_text(run.name, encoding="utf-8")
    agents, demand = small_inputs(4)
    job_id = roster_jobs.start_job(CONFIG, tmp_path, month="2027-02", agents_csv=agents, demand_csv=demand,
                                   history_csv=None, time_limit=600, seed=0)
    assert wait_done(tmp_path, job_id).state in ("done", "failed")


def test_a_run_can_forecast_its_demand_from_call_history(tmp_path, repo):
    agents, _ = small_inputs(6)
    history = (repo / "sample_data" / "history" / "bank_calls.csv").read_bytes()
    job_id = roster_jobs.start_job(CONFIG, tmp_path, month="2027-02", agents_csv=agents, demand_csv=None,
                                   history_csv=history, time_limit=600, seed=0)
    status = wait_done(tmp_path, job_id, timeout=120)
    assert status.state == "done", status.error
    demand = (roster_jobs.job_dir(tmp_path, job_id) / "demand.csv").read_text(encoding="utf-8").splitlines()
    assert demand[0] == "date,interval_start,required" and len(demand) > 28
    assert status.result["unmet_agent_intervals"] > 0  # six agents cannot staff a bank's call centre
