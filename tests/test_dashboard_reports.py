"""KPI reports (wfm/api/reports.py): pure computation on event-log records, and export."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from wfm.api import reports
from wfm.config import load_config
from wfm.eventlog import LogRecord, open_log

CONFIG = load_config()
SETTINGS = reports.ReportSettings.from_config(CONFIG)
CST = timezone(timedelta(hours=8))
DAY = datetime(2027, 1, 4, 0, 0, tzinfo=CST)


def at(hh: int, mm: int, ss: int = 0, day: datetime = DAY) -> datetime:
    return day.replace(hour=hh, minute=mm, second=ss)


class Log:
    """Builds LogRecord lists the way the runtime logs them (body = the §1/§2 object)."""

    def __init__(self) -> None:
        self.records: list[LogRecord] = []

    def add(self, kind: str, body: dict) -> None:
        ts = body["ts"]
        body = {**body, "ts": ts.isoformat()}
        for key in ("start", "end", "meal_start"):
            if isinstance(body.get(key), datetime):
                body[key] = body[key].isoformat()
        self.records.append(LogRecord(seq=len(self.records) + 1, ts=ts, kind=kind, body=body, prev_hash="", hash=""))

    def state(self, ts, agent, state):
        self.add("event", {"type": "agent_state", "ts": ts, "agent": agent, "state": state})

    def call(self, ts, event, wait=None, agent=None, call_id="c"):
        body = {"type": "call", "ts": ts, "queue": "general", "call_id": call_id, "event": event}
        if wait is not None:
            body["wait_s"] = wait
        if agent:
            body["agent"] = agent
        self.add("event", body)


def one_day() -> Log:
    log = Log()
    log.add("event", {"type": "shift", "ts": at(7, 0), "agent": "1001", "start": at(8, 30), "end": at(16, 0)})
    log.add("event", {"type": "shift", "ts": at(7, 0), "agent": "1002", "start": at(8, 30), "end": at(16, 0)})
    log.state(at(8, 25), "1001", "ready")  # on time
    log.state(at(8, 36), "1002", "ready")  # 6 min late: moderate
    log.call(at(9, 0), "offered", call_id="a")
    log.call(at(9, 0, 10), "answered", wait=10, agent="1001", call_id="a")
    log.state(at(9, 0, 10), "1001", "on_call")
    log.call(at(9, 1), "offered", call_id="b")
    log.call(at(9, 1, 40), "answered", wait=40, agent="1002", call_id="b")  # outside 20 s
    log.state(at(9, 1, 40), "1002", "on_call")
    log.call(at(9, 2), "offered", call_id="c")
    log.call(at(9, 2, 30), "abandoned", wait=30, call_id="c")
    log.state(at(9, 10, 10), "1001", "ready")
    log.state(at(9, 11, 40), "1002", "ready")
    log.state(at(10, 0), "1001", "short_break")
    log.state(at(10, 10), "1001", "ready")  # exactly 10:00: within
    log.state(at(10, 30), "1002", "short_break")
    log.state(at(10, 40, 1), "1002", "ready")  # 10:01: an overrun
    log.state(at(11, 30), "1001", "meal")
    log.state(at(12, 5), "1001", "ready")  # 35 min meal: overrun
    # the engine's findings on this day, logged as it logs them: lateness and overruns are counted from these
    log.add("decision", {"type": "violation", "ts": at(8, 30), "agent": "1002", "rule": "LATE_SIGN_IN",
                         "detail": "not signed in and ready at shift start 08:30"})
    log.add("decision", {"type": "violation", "ts": at(10, 40, 1), "agent": "1002", "rule": "SHORT_BREAK_TOO_LONG",
                         "detail": "10:01 > 10:00"})
    log.add("decision", {"type": "violation", "ts": at(12, 0, 1), "agent": "1001", "rule": "MEAL_TOO_LONG",
                         "detail": "30:01 > 30:00"})
    log.add("action", {"type": "pause", "ts": at(10, 41), "agent": "1002"})  # not a KPI: ignored
    return log


def test_daily_service_level_asa_abandon_rate():
    report = reports.compute_daily(one_day().records, SETTINGS, until=at(12, 30))
    row = report.floor.iloc[0]
    assert row["period"] == "2027-01-04"
    assert (row["offered"], row["answered"], row["abandoned"]) == (3, 2, 1)
    assert row["answered_in_target"] == 1
    assert row["service_level"] == pytest.approx(1 / 3)  # abandoned counts as not answered in time
    assert row["asa_s"] == pytest.approx(25.0)
    assert row["abandon_rate"] == pytest.approx(1 / 3)
    assert row["violations"] == 3  # every finding the engine logged that day
    assert row["late_sign_ins"] == 1 and row["serious_late"] == 0
    assert report.skipped == 0


def test_breaks_overruns_are_strict_at_the_limit():
    report = reports.compute_daily(one_day().records, SETTINGS, until=at(12, 30))
    agents = report.agents.set_index("agent")
    assert agents.loc["1001", "short_breaks"] == 1
    assert agents.loc["1001", "short_break_overruns"] == 0  # exactly 10:00 is within
    assert agents.loc["1002", "short_break_overruns"] == 1  # 10:01 is over
    assert agents.loc["1001", "meals"] == 1 and agents.loc["1001", "meal_overruns"] == 1
    assert agents.loc["1001", "meal_min"] == pytest.approx(35.0)
    assert agents.loc["1002", "violations"] == 2  # LATE_SIGN_IN and SHORT_BREAK_TOO_LONG
    assert report.floor.iloc[0]["short_break_overruns"] == 1
    assert report.floor.iloc[0]["meal_overruns"] == 1


def test_lateness_is_graded_by_config():
    report = reports.compute_daily(one_day().records, SETTINGS, until=at(12, 30))
    agents = report.agents.set_index("agent")
    assert agents.loc["1001", "late_min"] == 0 and agents.loc["1001", "lateness_grade"] == ""
    assert agents.loc["1002", "late_min"] == pytest.approx(6.0)
    assert agents.loc["1002", "lateness_grade"] == "moderate"
    assert report.floor.iloc[0]["late_sign_ins"] == 1
    assert reports.lateness_grade(0.5, (1, 5, 20)) == ""
    assert reports.lateness_grade(1, (1, 5, 20)) == "minor"
    assert reports.lateness_grade(19.9, (1, 5, 20)) == "moderate"
    assert reports.lateness_grade(20, (1, 5, 20)) == "serious"  # inclusive, as F10


def test_occupancy_is_busy_over_on_post():
    report = reports.compute_daily(one_day().records, SETTINGS, until=at(12, 30))
    agents = report.agents.set_index("agent")
    # 1001: on post 08:25-10:00, 10:10-11:30, 12:05-12:30 = 95+80+25 = 200 min; busy 10 min
    assert agents.loc["1001", "on_post_min"] == pytest.approx(200.0)
    assert agents.loc["1001", "busy_min"] == pytest.approx(10.0)
    assert agents.loc["1001", "occupancy"] == pytest.approx(10 / 200)
    assert agents.loc["1001", "calls_answered"] == 1


def test_states_crossing_midnight_are_split_by_floor_day():
    log = Log()
    log.state(at(23, 0), "2001", "on_call")
    log.state(at(0, 30, day=DAY + timedelta(days=1)), "2001", "ready")
    report = reports.compute_daily(log.records, SETTINGS, until=at(1, 0, day=DAY + timedelta(days=1)))
    agents = report.agents.set_index("period")
    assert agents.loc["2027-01-04", "busy_min"] == pytest.approx(60.0)
    assert agents.loc["2027-01-05", "busy_min"] == pytest.approx(30.0)
    assert agents.loc["2027-01-05", "on_post_min"] == pytest.approx(60.0)


def test_malformed_records_are_counted_not_fatal():
    log = one_day()
    log.records.append(LogRecord(seq=99, ts=at(13, 0), kind="event", body={"type": "call", "ts": at(13, 0).isoformat()},
                                 prev_hash="", hash=""))
    report = reports.compute_daily(log.records, SETTINGS, until=at(13, 0))
    assert report.skipped == 1
    assert report.floor.iloc[0]["offered"] == 3


def test_monthly_recomputes_ratios_from_sums():
    log = one_day()
    second = DAY + timedelta(days=1)
    for i in range(9):
        log.call(at(9, i, day=second), "answered", wait=5, agent="1001", call_id=f"x{i}")
    daily = reports.compute_daily(log.records, SETTINGS, until=at(12, 30, day=second))
    monthly = reports.compute_monthly(log.records, SETTINGS, until=at(12, 30, day=second))
    assert list(daily.floor["period"]) == ["2027-01-04", "2027-01-05"]
    row = monthly.floor.iloc[0]
    assert row["period"] == "2027-01"
    assert row["answered"] == 11 and row["abandoned"] == 1
    assert row["service_level"] == pytest.approx(10 / 12)  # not the mean of 1/3 and 1
    assert row["asa_s"] == pytest.approx((10 + 40 + 45) / 11, abs=0.05)
    agents = monthly.agents.set_index("agent")
    assert agents.loc["1001", "calls_answered"] == 10
    assert agents.loc["1002", "lateness_grade"] == "1 late"


def test_csv_and_xlsx_export_round_trip():
    report = reports.compute_daily(one_day().records, SETTINGS, until=at(12, 30))
    raw = reports.to_csv(report.agents)
    assert raw.startswith("\ufeff".encode("utf-8"))
    back = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype={reports.HEADERS["agent"]: str})
    assert list(back.columns) == [reports.HEADERS[c] for c in reports.AGENT_COLUMNS]  # bilingual headers
    assert "Agent 座席" in back.columns
    assert set(back[reports.HEADERS["agent"]]) == {"1001", "1002"}
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(reports.to_xlsx(report, "WFM KPIs 2027-01-04")))
    assert book.sheetnames == ["Floor 现场", "Agents 座席"]
    floor = book["Floor 现场"]
    assert floor["A1"].value == "WFM KPIs 2027-01-04"
    header = [c.value for c in floor[2]]
    assert header == [reports.HEADERS[c] for c in reports.DAILY_COLUMNS]
    sl_col = header.index("Service level 服务水平") + 1
    assert floor.cell(row=3, column=sl_col).number_format == "0.0%"
    assert floor.cell(row=3, column=sl_col).value == pytest.approx(1 / 3)


def test_report_from_a_real_sqlite_event_log(tmp_path):
    """The page's path: records appended to a real log, read back by time range, computed."""
    url = f"sqlite:///{tmp_path / 'wfm.sqlite'}"
    log = open_log(url)
    try:
        log.append_many([(r.kind, r.body, r.ts) for r in one_day().records])
    finally:
        log.close()
    reader = open_log(url, readonly=True)
    try:
        records = list(reader.read(since=at(0, 0), until=at(23, 59)))
    finally:
        reader.close()
    report = reports.compute_daily(records, SETTINGS, until=at(12, 30))
    assert report.floor.iloc[0]["answered"] == 2
    assert report.agents.set_index("agent").loc["1002", "lateness_grade"] == "moderate"


def test_lateness_and_overruns_are_the_engines_findings_not_a_second_computation():
    """A shift handed to the floor after its start (the demo started at 09:30) is not late unless the
    engine found it so; a long break the engine did not flag is no overrun in the report either."""
    log = Log()
    log.add("event", {"type": "shift", "ts": at(9, 30), "agent": "1003", "start": at(8, 30), "end": at(16, 0)})
    log.state(at(9, 30), "1003", "ready")  # 60 min after the start by the clock, on post when the floor got the shift
    log.state(at(10, 0), "1003", "short_break")
    log.state(at(10, 40), "1003", "ready")
    report = reports.compute_daily(log.records, SETTINGS, until=at(11, 0))
    row = report.floor.iloc[0]
    assert (row["late_sign_ins"], row["serious_late"], row["short_break_overruns"], row["violations"]) == (0, 0, 0, 0)
    agent = report.agents.set_index("agent").loc["1003"]
    assert agent["late_min"] == 0 and agent["lateness_grade"] == ""
    log.add("decision", {"type": "violation", "ts": at(10, 10, 1), "agent": "1003", "rule": "SHORT_BREAK_TOO_LONG",
                         "detail": "over"})
    flagged = reports.compute_daily(log.records, SETTINGS, until=at(11, 0)).floor.iloc[0]
    assert flagged["short_break_overruns"] == 1 and flagged["violations"] == 1
