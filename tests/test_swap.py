"""R7 swaps and roster versions: applied only when R7 and the independent checker allow; every change a new version."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from optimizer.checker import check_files
from optimizer.roster.swaps import SwapRequest, apply_swap
from optimizer.roster.versions import RosterVersions, VersionError
from wfm.config import default_data, from_data, merge

FEB = [date(2027, 2, 1) + timedelta(days=i) for i in range(28)]
# agent: (template, meal, rest day indices) — every rule holds, two agents on post through every meal
PATTERN = {
    "A": ("day", "12:00", {6, 8, 13, 20, 27}), "B": ("evening", "18:00", {6, 8, 13, 20, 27}),
    "C": ("day", "12:30", {5, 12, 19, 26}), "D": ("evening", "18:30", {5, 12, 19, 26}),
    "E": ("day", "13:00", {4, 11, 18, 25}), "F": ("evening", "19:00", {4, 11, 18, 25}),
}
TIMES = {"day": ("08:30", "16:00"), "evening": ("16:00", "23:30")}


def make_config(**roster):
    return from_data(merge(default_data(), {"roster": roster}))


def roster_dir(tmp_path: Path, unavailable: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "roster"
    folder.mkdir()
    path = folder / "roster.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["agent_id", "date", "shift", "start", "end", "meal_start"])
        for agent, (template, meal, rest) in PATTERN.items():
            for i, day in enumerate(FEB):
                out.writerow([agent, day.isoformat(), "OFF", "", "", ""] if i in rest else [agent, day.isoformat(), template, *TIMES[template], meal])
    agents = tmp_path / "agents.csv"
    agents.write_text("agent_id,name,unavailable\n" + "".join(f"{a},Agent {a},{(unavailable or {}).get(a, '')}\n" for a in PATTERN), encoding="utf-8")
    demand = tmp_path / "demand.csv"
    demand.write_text("date,interval_start,required\n" + "".join(f"{d},10:00,2\n" for d in FEB), encoding="utf-8")
    RosterVersions(folder).record_new(path, author="test", inputs={"agents": str(agents), "demand": str(demand)})
    return folder


def rules(outcome) -> set[str]:
    return {r.rule for r in outcome.refusals}


def test_base_roster_is_clean(tmp_path):
    folder = roster_dir(tmp_path)
    report = check_files(folder / "roster.csv", make_config(), tmp_path / "agents.csv")
    assert report.hard_violations == 0, report.violations


def test_valid_swap_makes_a_new_version_and_withdraws_the_old(tmp_path):
    folder = roster_dir(tmp_path)
    config = make_config()
    outcome = apply_swap(folder, SwapRequest("A", "B", date(2027, 2, 8), approved_by="supervisor"), config)
    assert outcome.applied, outcome.refusals
    versions = RosterVersions(folder).list()
    assert [(v.version, v.status) for v in versions] == [(1, "withdrawn"), (2, "published")]
    assert versions[1].swap["a"] == "A" and versions[1].approved_by == "supervisor"
    assert {(c["agent_id"], c["date"]) for c in outcome.changes} == {("A", "2027-02-08"), ("B", "2027-02-08")}
    rows = {(r["agent_id"], r["date"]): r for r in csv.DictReader(open(folder / "roster.csv", encoding="utf-8"))}
    assert rows[("A", "2027-02-08")]["shift"] == "evening" and rows[("A", "2027-02-08")]["meal_start"] == "18:00"
    assert rows[("B", "2027-02-08")]["shift"] == "day"
    assert (folder / "versions" / "v0001" / "roster.csv").exists()  # the old version is kept
    assert check_files(folder / "roster.csv", config, tmp_path / "agents.csv").hard_violations == 0


def test_swap_creating_back_to_back_shifts_is_refused(tmp_path):
    folder = roster_dir(tmp_path)
    outcome = apply_swap(folder, SwapRequest("A", "B", date(2027, 2, 3), approved_by="supervisor"), make_config())
    assert not outcome.applied
    assert "R7_BACK_TO_BACK" in rules(outcome)
    assert [v.status for v in RosterVersions(folder).list()] == ["draft"]  # nothing changed


def test_swap_needs_a_manager(tmp_path):
    folder = roster_dir(tmp_path)
    outcome = apply_swap(folder, SwapRequest("A", "B", date(2027, 2, 8), approved_by="1001"), make_config())
    assert rules(outcome) == {"R7_MANAGER_APPROVAL"}


def test_no_swaps_on_holiday_duty(tmp_path):
    folder = roster_dir(tmp_path)
    outcome = apply_swap(folder, SwapRequest("A", "B", date(2027, 2, 8), approved_by="supervisor"), make_config(holidays=["2027-02-08"]))
    assert rules(outcome) == {"R7_HOLIDAY_DUTY"}


def test_no_leave_on_a_swapped_shift(tmp_path):
    folder = roster_dir(tmp_path, unavailable={"A": "2027-02-07"})  # A rests the 7th (on leave); C works it
    outcome = apply_swap(folder, SwapRequest("A", "C", date(2027, 2, 7), approved_by="scheduler"), make_config())
    assert "R7_LEAVE" in rules(outcome)


def test_both_agents_must_be_named_and_rostered(tmp_path):
    folder = roster_dir(tmp_path)
    assert rules(apply_swap(folder, SwapRequest("A", "A", date(2027, 2, 8), approved_by="supervisor"), make_config())) == {"R7_BOTH_AGREE"}
    assert rules(apply_swap(folder, SwapRequest("A", "Z", date(2027, 2, 8), approved_by="supervisor"), make_config())) == {"R7_BOTH_AGREE"}


def test_max_swaps_per_month(tmp_path):
    folder = roster_dir(tmp_path)
    config = make_config(max_swaps_per_month=1)
    assert apply_swap(folder, SwapRequest("A", "B", date(2027, 2, 8), approved_by="supervisor"), config).applied
    again = apply_swap(folder, SwapRequest("A", "B", date(2027, 2, 15), approved_by="supervisor"), config)
    assert "R7_MAX_SWAPS" in rules(again)


def test_no_consecutive_swaps(tmp_path):
    folder = roster_dir(tmp_path)
    config = make_config()
    assert apply_swap(folder, SwapRequest("A", "B", date(2027, 2, 8), approved_by="supervisor"), config).applied
    next_day = apply_swap(folder, SwapRequest("B", "D", date(2027, 2, 9), approved_by="supervisor"), config)
    assert "R7_CONSECUTIVE_SWAPS" in rules(next_day)
    two_days = apply_swap(folder, SwapRequest("C", "D", date(2027, 2, 14), day2=date(2027, 2, 15), approved_by="supervisor"), config)
    assert "R7_CONSECUTIVE_SWAPS" in rules(two_days)


def test_two_day_swap_the_checker_refuses(tmp_path):
    folder = roster_dir(tmp_path)
    # D takes F's rest days of the 5th and 12th, F works D's shifts: F is left with 2 rest days and 18 days in a row
    outcome = apply_swap(folder, SwapRequest("D", "F", date(2027, 2, 5), day2=date(2027, 2, 12), approved_by="supervisor"), make_config())
    assert not outcome.applied
    assert {"R3_REST_DAYS", "R2_CONSECUTIVE_DAYS"} <= rules(outcome)
    assert all(r.detail.startswith("checker:") for r in outcome.refusals)


def test_versions_approve_then_publish(tmp_path):
    folder = roster_dir(tmp_path)
    versions = RosterVersions(folder)
    with pytest.raises(VersionError):
        versions.publish(1, by="supervisor")
    versions.approve(1, by="supervisor")
    info = versions.publish(1, by="supervisor")
    assert info.status == "published" and info.approved_by == "supervisor"
    with pytest.raises(VersionError):
        versions.approve(1, by="supervisor")


def test_cli_swap_json_and_exit_codes(tmp_path, repo):
    folder = roster_dir(tmp_path)
    base = [sys.executable, "-m", "wfm.cli", "swap", "--roster-dir", str(folder), "--json"]
    refused = subprocess.run(base + ["--a", "A", "--b", "B", "--date", "2027-02-03", "--approved-by", "supervisor"],
                             capture_output=True, text=True, cwd=repo)
    assert refused.returncode == 1 and not json.loads(refused.stdout)["applied"]
    done = subprocess.run(base + ["--a", "A", "--b", "B", "--date", "2027-02-08", "--approved-by", "supervisor"],
                          capture_output=True, text=True, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == 2
    bad = subprocess.run(base + ["--a", "A", "--b", "B", "--date", "08/02/2027", "--approved-by", "supervisor"],
                         capture_output=True, text=True, cwd=repo)
    assert bad.returncode == 2 and "--date" in bad.stderr


def test_holiday_roster_published_late_is_marked(tmp_path):
    folder = roster_dir(tmp_path)
    versions = RosterVersions(folder)
    versions.approve(1, by="scheduler")
    info = versions.publish(1, by="scheduler", holidays=(date(2027, 2, 11),), days_ahead=7, today=date(2027, 2, 8))
    assert "late_for_holiday" in info.extra and "2027-02-11" in info.extra["late_for_holiday"]


def test_holiday_roster_published_in_time_is_not_marked(tmp_path):
    folder = roster_dir(tmp_path)
    versions = RosterVersions(folder)
    versions.approve(1, by="scheduler")
    info = versions.publish(1, by="scheduler", holidays=(date(2027, 2, 11),), days_ahead=7, today=date(2027, 1, 25))
    assert "late_for_holiday" not in info.extra


def test_published_roster_stays_until_its_successor_is_published(tmp_path):
    folder = roster_dir(tmp_path)
    versions = RosterVersions(folder)
    versions.approve(1, by="scheduler")
    versions.publish(1, by="scheduler")
    draft = versions.record_new(folder / "versions" / "v0001" / "roster.csv", author="scheduler", note="re-run")
    assert [(v.version, v.status) for v in versions.list()] == [(1, "published"), (2, "draft")]
    third = versions.record_new(folder / "versions" / "v0001" / "roster.csv", author="scheduler", note="re-run again")
    assert [(v.version, v.status) for v in versions.list()] == [(1, "published"), (2, "withdrawn"), (3, "draft")]
    versions.approve(third.version, by="scheduler")
    versions.publish(third.version, by="scheduler")
    assert [(v.version, v.status) for v in versions.list()] == [(1, "withdrawn"), (2, "withdrawn"), (3, "published")]
    assert draft.changes == 0


def test_republish_after_swap_rewrites_report_with_the_model_objective(tmp_path, repo):
    folder = roster_dir(tmp_path)
    done = subprocess.run([sys.executable, "-m", "wfm.cli", "swap", "--roster-dir", str(folder), "--a", "A", "--b", "B",
                           "--date", "2027-02-08", "--approved-by", "supervisor", "--json"], capture_output=True, text=True, cwd=repo)
    assert done.returncode == 0, done.stderr
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["status"] == "EDITED" and isinstance(report["objective"], float)
    assert report["hard_violations"] == 0
    assert report["unmet_agent_intervals"] == 0  # two on post at 10:00 every day, as before the swap
    assert (folder / "ics" / "A.ics").read_text(encoding="utf-8").count("20270208T160000") == 1  # A's evening of the 8th


def test_a_change_made_on_a_stale_version_is_refused(tmp_path):
    folder = roster_dir(tmp_path)
    versions = RosterVersions(folder)
    versions.record_new(folder / "versions" / "v0001" / "roster.csv", author="scheduler", based_on=1)  # v2 from v1: fine
    with pytest.raises(VersionError, match="changed meanwhile"):
        versions.record_new(folder / "versions" / "v0001" / "roster.csv", author="scheduler", based_on=1)
    assert [v.version for v in versions.list()] == [1, 2]
