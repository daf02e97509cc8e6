"""The scheduler's month without HTTP: demand in the floor's terms (share, target peak, AHT,
shrinkage), the capacity check, what-if, the sample forecast path solved by CP-SAT for the
60-agent floor, requests merged into agents.csv, and the publish gate's findings.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from optimizer.demand import Capacity, DemandParams, Variant, floor_capacity, size_forecast, what_if
from optimizer.desk.desk import DeskError, RosterDesk
from optimizer.roster.requests import RosterRequest, merge_into_agents
from wfm.config import default_data, from_data, load_config, merge

REPO = Path(__file__).resolve().parents[1]
CONFIG = load_config(None)
MONTH = "2027-01"


# the desk's runs search for DESK_BUDGET_S deterministic seconds on one worker (roster.deterministic_time_s): the
# same effort on a loaded machine as on a quiet one; their wall-clock limit only guards
DESK_BUDGET_S = 4.0


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("desk")
    config = from_data(merge(default_data(), {"roster": {"deterministic_time_s": DESK_BUDGET_S, "workers": 1}}))
    return RosterDesk(config, folder / "jobs", folder / "roster", REPO / "sample_data")


@pytest.fixture(scope="module")
def forecast(desk):
    inputs = desk.inputs("sample-forecast", None, None, None)
    return desk._forecast(inputs["history"], MONTH)


def test_the_whole_bank_is_far_beyond_sixty_agents_and_the_floor_share_brings_it_within_reach(forecast):
    whole = size_forecast(forecast, DemandParams(floor_share=1.0), CONFIG)
    share = size_forecast(forecast, DemandParams(floor_share=0.08), CONFIG)
    over, fits = floor_capacity(whole.demand, 60, CONFIG, 31), floor_capacity(share.demand, 60, CONFIG, 31)
    assert over.over and over.peak_required > 150 and over.day_need > over.peak_required
    assert round(over.working_per_day) == 51  # 60 agents, one day in seven off (R2 beats R3's 4 of 31)
    assert "Demand exceeds the floor" in over.message() and f"peak demand {over.peak_required}" in over.message()
    assert not fits.over and 10 <= fits.peak_required < fits.day_need <= fits.working_per_day
    assert fits.day_need == sum(fits.shift_peaks.values())  # day and evening shifts do not overlap
    assert "Demand fits the floor" in fits.message()


def test_a_target_peak_chooses_the_share_that_needs_exactly_that_many_agents_at_the_peak(forecast):
    for peak in (12, 22):
        sized = size_forecast(forecast, DemandParams(target_peak=peak), CONFIG)
        assert sized.demand["required"].max() == peak
        above = size_forecast(forecast, DemandParams(floor_share=sized.share * 1.05), CONFIG)
        assert above.demand["required"].max() > peak  # the largest share that fits, not any share


def test_aht_and_shrinkage_and_targets_change_demand_the_way_they_should(forecast):
    base = size_forecast(forecast, DemandParams(floor_share=0.08), CONFIG).demand
    longer = size_forecast(forecast, DemandParams(floor_share=0.08, aht_s=240), CONFIG).demand
    stricter = size_forecast(forecast, DemandParams(floor_share=0.08, service_level=0.95), CONFIG).demand
    shrunk = size_forecast(forecast, DemandParams(floor_share=0.08, shrinkage=0.4), CONFIG).demand
    assert (longer["required"] >= base["required"]).all() and longer["required"].sum() > base["required"].sum()
    assert (stricter["required"] >= base["required"]).all() and stricter["required"].sum() > base["required"].sum()
    assert (shrunk["required"] == base["required"]).all() and (shrunk["scheduled"] >= base["scheduled"]).all()
    assert shrunk["scheduled"].sum() > base["scheduled"].sum()


def test_what_if_puts_variants_side_by_side_with_expected_service_level(forecast):
    rows = what_if(forecast, DemandParams(floor_share=0.08),
                   [Variant("base"), Variant("AHT 240", aht_s=240), Variant("40 agents", headcount=40)], 60, CONFIG, 31)
    base, longer, fewer = rows
    assert [r["interval_start"] for r in base["rows"]] == [r["interval_start"] for r in longer["rows"]]
    assert longer["peak_required"] > base["peak_required"]
    assert fewer["on_post"] < base["on_post"] and fewer["expected_sl_month"] < base["expected_sl_month"]
    shrunk = what_if(forecast, DemandParams(floor_share=0.08), [Variant("40 %", shrinkage=0.4, headcount=45)], 60,
                     CONFIG, 31)[0]
    assert shrunk["heads_at_peak"] > base["heads_at_peak"] and shrunk["expected_sl_month"] < base["expected_sl_month"]
    assert longer["expected_sl_month"] < base["expected_sl_month"]
    assert all(0 <= r["expected_sl"] <= 1 for r in base["rows"] if r["expected_sl"] is not None)


def test_capacity_of_an_empty_demand_is_not_over():
    empty = pd.DataFrame({"date": [], "interval_start": [], "required": []})
    capacity = floor_capacity(empty, 10, CONFIG, 30)
    assert isinstance(capacity, Capacity) and not capacity.over and capacity.peak_at == "—"


def test_requests_become_rest_requests_and_unavailable_dates_in_agents_csv():
    agents = b"agent_id,name,unavailable\n1001,A,2027-01-02\n1002,B,\n"
    asked = [RosterRequest("a", "1001", "rest", "2027-01-05", "", "", ""),
             RosterRequest("b", "1001", "leave", "2027-01-06", "", "", ""),
             RosterRequest("c", "1003", "rest", "2027-01-07", "", "", "")]  # not on this floor: ignored
    merged = merge_into_agents(agents, asked).decode("utf-8").splitlines()
    assert merged == ["agent_id,name,unavailable,rest_requests", "1001,A,2027-01-02;2027-01-06,2027-01-05", "1002,B,,"]


@pytest.mark.slow
def test_sample_forecast_path_gives_a_roster_the_sixty_agent_floor_can_cover_with_staggered_meals(desk):
    """The acceptance of issue 17: the bank history at the sample floor's share, solved for 60 agents."""
    inputs = desk.inputs("sample-forecast", None, None, None)
    with pytest.raises(DeskError) as refused:  # the bank's whole volume is refused before solving, with numbers
        desk.start(MONTH, inputs, DemandParams(floor_share=1.0), 5, 0, False, "test")
    assert refused.value.status == 409 and "a floor of 60 has about 51 at work a day" in str(refused.value)
    started = desk.start(MONTH, inputs, DemandParams(floor_share=desk.sample_share()), 600, 0, False, "test")
    assert not started["capacity"]["over"] and started["share"] == pytest.approx(0.08)
    deadline = time.monotonic() + 180
    while desk.job(started["job_id"])["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    job = desk.job(started["job_id"])
    assert job["state"] == "done", job["error"]
    result = job["result"]
    assert result["unmet_agent_intervals"] <= 0.01 * result["required_agent_intervals"], result["summary"]
    version = desk.record(MONTH, started["job_id"], "test", "")["version"]
    roster = pd.read_csv(desk.versions(MONTH).path(version), dtype=str, keep_default_na=False)
    day = roster[roster["shift"] == "day"]
    for when, agents in day.groupby("date"):
        counts = agents["meal_start"].value_counts()
        assert counts.iloc[0] <= 0.5 * len(agents), (when, counts.to_dict())  # never half the day shift at once
        assert len(counts) >= 3, (when, counts.to_dict())
    gate = desk.gate(MONTH, version)
    assert gate["hard_violations"] == 0 and gate["unmet_agent_intervals"] == result["unmet_agent_intervals"]


@pytest.mark.slow
def test_cli_tells_the_capacity_before_solving_and_takes_the_floor_share(tmp_path):
    import subprocess
    import sys

    args = [sys.executable, "-m", "wfm.cli", "roster", "--month", MONTH, "--agents", str(REPO / "sample_data/roster/agents.csv"),
            "--forecast", str(REPO / "sample_data/history/bank_calls.csv"), "--time-limit", "2", "--no-progress"]
    whole = subprocess.run([*args, "--out", str(tmp_path / "whole"), "--floor-share", "1"], capture_output=True, text=True,
                           timeout=300)
    assert "Demand exceeds the floor" in whole.stderr and "a floor of 60 has about 51 at work a day" in whole.stderr
    assert whole.returncode == 1 and "publishing it needs a confirmation and a reason" in whole.stdout
    scaled = subprocess.run([*args, "--out", str(tmp_path / "scaled"), "--floor-share", "0.08"], capture_output=True,
                            text=True, timeout=300)
    assert "floor share 0.08" in scaled.stderr and "Demand fits the floor" in scaled.stderr, scaled.stderr[-2000:]
    index = (tmp_path / "scaled" / "versions" / "index.json").read_text(encoding="utf-8")
    assert "+08:00" in index  # version times in the floor's zone


def test_the_run_summary_is_in_plain_words():
    from optimizer.desk.jobs import plain_summary

    base = {"required_agent_intervals": 280, "seconds": 3.2}
    covered = plain_summary({**base, "status": "OPTIMAL", "unmet_agent_intervals": 0, "gap": 0.0})
    assert covered == "The best roster there is for these rules and this demand. Every half hour of demand is covered. Solved in 3 s."
    short = plain_summary({**base, "status": "FEASIBLE", "unmet_agent_intervals": 88, "gap": 0.12})
    assert "88 of 280 agent-half-hours of demand (31.4%) are not covered" in short and "within 12% of the best" in short
    loose = plain_summary({**base, "status": "FEASIBLE", "unmet_agent_intervals": 0, "gap": 1.0})
    assert "within" not in loose  # a 100 % gap says nothing a scheduler can use
    for text in (covered, short, loose, plain_summary({"status": "INFEASIBLE"})):
        assert "objective" not in text and "bound" not in text and "FEASIBLE" not in text


def test_a_run_that_finds_no_roster_fails_in_plain_words(tmp_path):
    """A budget too small for any roster (0.01 deterministic seconds on one worker: the same on every machine, where
    0.01 wall seconds found one on a quick machine) makes the run fail with a message the scheduler can act on."""
    from optimizer.desk import jobs

    config = from_data(merge(default_data(), {"roster": {"deterministic_time_s": 0.01, "workers": 1}}))
    agents = b"agent_id,name\n" + b"".join(f"{4000 + i},A{i}\n".encode() for i in range(60))
    demand = b"date,interval_start,required\n" + b"".join(
        f"2027-02-{d:02d},{h:02d}:00,30\n".encode() for d in range(1, 29) for h in range(9, 23))
    job_id = jobs.start_job(config, tmp_path, month="2027-02", agents_csv=agents, demand_csv=demand, history_csv=None,
                            time_limit=600, seed=0)
    deadline = time.monotonic() + 300
    while jobs.job_status(tmp_path, job_id).state == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    status = jobs.job_status(tmp_path, job_id)
    assert status.state == "failed"
    assert status.error.startswith("no roster found within 0.01 deterministic s; give the solver more time"), status.error
