"""`wfm roster` end to end on a small month: exit code, report.json equal to the independent checker, and every
published format (roster.csv, XLSX, ICS per agent, self-contained HTML)."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from optimizer.checker import check_files
from optimizer.publish.ics import agent_calendar
from optimizer.roster.problem import Assignment
from wfm.config import load_config

FEB = [date(2027, 2, 1) + timedelta(days=i) for i in range(28)]


@pytest.fixture(scope="module")
def published(tmp_path_factory, repo=None):
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    tmp = tmp_path_factory.mktemp("publish")
    agents = tmp / "agents.csv"
    agents.write_text("agent_id,name,unavailable,rest_requests,preferred_shift\n" + "".join(
        f"{1000 + i},坐席{i},{'2027-02-09' if i == 0 else ''},{'2027-02-14' if i == 1 else ''},{'evening' if i % 3 == 0 else ''}\n"
        for i in range(12)), encoding="utf-8")
    demand = tmp / "demand.csv"
    with open(demand, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["date", "interval_start", "required"])
        for day in FEB:
            for minute in range(8 * 60 + 30, 23 * 60 + 1, 30):
                out.writerow([day.isoformat(), f"{minute // 60:02d}:{minute % 60:02d}", 3 if minute < 16 * 60 else 2])
    out_dir = tmp / "out"
    run = subprocess.run([sys.executable, "-m", "wfm.cli", "roster", "--month", "2027-02", "--agents", str(agents),
                          "--demand", str(demand), "--out", str(out_dir), "--time-limit", "600", "--deterministic-time", "0.3", "--seed", "2",
                           "--json"],
                         capture_output=True, text=True, cwd=repo)
    return run, out_dir, agents, demand


def test_cli_exit_code_follows_unmet_demand(published):
    run, out_dir, _, _ = published
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert run.returncode == (1 if report["unmet_agent_intervals"] else 0), run.stderr
    line = json.loads(run.stdout)  # stdout holds only JSON
    assert line["unmet_agent_intervals"] == report["unmet_agent_intervals"]


def test_report_has_the_contract_keys_and_matches_the_checker(published):
    _, out_dir, agents, demand = published
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    for key in ("hard_violations", "unmet_agent_intervals", "objective", "status", "fairness"):
        assert key in report
    assert report["status"] in ("OPTIMAL", "FEASIBLE")
    check = check_files(out_dir / "roster.csv", load_config(), agents, demand)
    assert report["hard_violations"] == check.hard_violations == 0
    assert report["unmet_agent_intervals"] == check.unmet_agent_intervals
    for category in ("evenings", "weekends", "holidays", "workdays"):
        assert report["fairness"][category]["spread"] == check.fairness[category]["spread"]


def test_roster_csv_header_and_rows(published):
    _, out_dir, _, _ = published
    with open(out_dir / "roster.csv", encoding="utf-8") as fh:
        assert fh.readline().rstrip("\n") == "agent_id,date,shift,start,end,meal_start"
        rows = list(csv.DictReader(open(out_dir / "roster.csv", encoding="utf-8")))
    assert len(rows) == 12 * 28
    for row in rows:
        assert row["shift"] in ("day", "evening", "OFF")
        if row["shift"] == "OFF":
            assert row["start"] == row["end"] == row["meal_start"] == ""
        else:
            assert re.fullmatch(r"\d\d:\d\d", row["meal_start"])
    assert next(r for r in rows if r["agent_id"] == "1000" and r["date"] == "2027-02-09")["shift"] == "OFF"


def test_workbook_grid_and_coverage_sheet(published):
    _, out_dir, _, _ = published
    wb = load_workbook(out_dir / "roster-2027-02.xlsx")
    assert wb.sheetnames[:2] == ["Roster 排班", "Legend 图例"] and "Coverage 覆盖" in wb.sheetnames
    grid = wb["Roster 排班"]
    header = [c.value for c in grid[1]]
    assert header[:3] == ["agent_id", "name", "02-01"] and len(header) == 2 + 28 + 2
    codes = {grid.cell(row=r, column=c).value for r in range(3, 15) for c in range(3, 31)}
    assert codes <= {"D", "E", "OFF"} and "OFF" in codes
    cov = wb["Coverage 覆盖"]
    assert [c.value for c in cov[1]] == ["date", "interval_start", "required", "on_post", "short", "over"]
    assert cov.max_row == 1 + 28 * 30


def test_one_calendar_per_agent_rfc5545(published):
    _, out_dir, _, _ = published
    files = sorted((out_dir / "ics").glob("*.ics"))
    assert len(files) == 12
    raw = files[0].read_bytes()
    text = raw.decode("utf-8")
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    assert all(len(line.encode("utf-8")) <= 75 for line in text.split("\r\n"))
    assert "TZID:Asia/Shanghai" in text and "DTSTART;TZID=Asia/Shanghai:2027" in text
    assert text.count("BEGIN:VEVENT") == text.count("END:VEVENT") > 0
    assert "TZOFFSETTO:+0800" in text


def test_calendar_crossing_midnight_and_folding():
    item = Assignment(agent_id="7", day=date(2027, 2, 1), shift="late", start_min=17 * 60 + 30, end_min=25 * 60, meal_start_min=20 * 60)
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    text = agent_calendar("7", "一个很长很长很长很长很长很长很长很长很长很长很长很长的名字", [item], "Asia/Shanghai",
                          ZoneInfo("Asia/Shanghai"), datetime(2027, 1, 20, tzinfo=timezone.utc))
    assert "DTEND;TZID=Asia/Shanghai:20270202T010000" in text
    assert all(len(line.encode("utf-8")) <= 75 for line in text.split("\r\n"))
    assert "\r\n " in text  # the long calendar name was folded


def test_html_is_self_contained(published):
    _, out_dir, _, _ = published
    page = (out_dir / "roster-2027-02.html").read_text(encoding="utf-8")
    assert "<script src=\"http" not in page and "cdn.plot.ly" not in page.split("</head>")[0]
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js inline
    assert "Coverage vs demand" in page and "Month grid" in page


def test_first_version_recorded(published):
    _, out_dir, _, _ = published
    index = json.loads((out_dir / "versions" / "index.json").read_text(encoding="utf-8"))
    assert [(v["version"], v["status"]) for v in index["versions"]] == [(1, "draft")]
    assert (out_dir / "versions" / "inputs" / "agents.csv").exists()


def test_ledger_json_counts_this_month(published):
    _, out_dir, _, _ = published
    ledger = json.loads((out_dir / "ledger.json").read_text(encoding="utf-8"))
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert ledger["through"] == "2027-02"
    for category in ("evenings", "weekends", "holidays"):
        for agent, count in report["fairness"][category]["per_agent"].items():
            assert ledger[category][agent] == count


def test_vtimezone_of_a_zone_with_daylight_saving():
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    item = Assignment(agent_id="9", day=date(2027, 3, 28), shift="day", start_min=8 * 60 + 30, end_min=16 * 60, meal_start_min=12 * 60)
    text = agent_calendar("9", "B", [item], "Europe/Berlin", ZoneInfo("Europe/Berlin"), datetime(2027, 3, 1, tzinfo=timezone.utc))
    block = text.split("BEGIN:VTIMEZONE")[1].split("END:VTIMEZONE")[0]
    # spring forward at 02:00 CET, fall back at 03:00 CEST (local time in the offset being left)
    assert "BEGIN:DAYLIGHT\r\nDTSTART:20270328T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200" in block
    assert "BEGIN:STANDARD\r\nDTSTART:20271031T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100" in block
    assert "DTSTART;TZID=Europe/Berlin:20270328T083000" in text


def test_fairness_sheet_and_figure(published):
    _, out_dir, _, _ = published
    wb = load_workbook(out_dir / "roster-2027-02.xlsx")
    fair = wb["Fairness 公平"]
    assert [c.value for c in fair[1]] == ["agent_id", "evenings", "weekends", "holidays", "workdays"]
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    rows = {r[0].value: [c.value for c in r[1:]] for r in fair.iter_rows(min_row=2)}
    assert rows["1003"][0] == report["fairness"]["evenings"]["per_agent"]["1003"]
    assert "(per agent)" in (out_dir / "roster-2027-02.html").read_text(encoding="utf-8")  # the fairness figure


def test_calendar_file_names_are_safe(tmp_path):
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from optimizer.publish.ics import write_calendars

    item = Assignment(agent_id="../x/1", day=date(2027, 2, 1), shift="day", start_min=510, end_min=960, meal_start_min=720)
    paths = write_calendars([item], {}, "Asia/Shanghai", ZoneInfo("Asia/Shanghai"), tmp_path, datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert paths[0].parent == tmp_path and paths[0].name == "_x_1.ics"


def test_shift_events_for_the_floor(published):
    from wfm.events import ShiftEvent, read_events

    _, out_dir, _, _ = published
    rows = [r for r in csv.DictReader(open(out_dir / "roster.csv", encoding="utf-8")) if r["shift"] != "OFF"]
    lines = (out_dir / "shifts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows)
    decoded = list(read_events(lines, "shifts.jsonl"))
    assert all(isinstance(e, ShiftEvent) for e in decoded)  # every line a valid §1 shift event
    first = json.loads(lines[0])
    assert first["type"] == "shift" and first["ts"].endswith("+08:00") and first["start"].startswith(first["ts"][:10])
    assert first["start"] < first["meal_start"] < first["end"]
