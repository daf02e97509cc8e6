"""The wall's queues page numbers (wfm/api/walltrend.py): interval SL with sample size, required now."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from wfm.api import walltrend
from wfm.config import load_config

TZ = timezone(timedelta(hours=8))
DAY = datetime(2027, 1, 4, tzinfo=TZ)


def call(when, event, wait=None, talk=None):
    body = {"type": "call", "ts": when.isoformat(), "event": event, "queue": "general", "call_id": "x"}
    if wait is not None:
        body["wait_s"] = wait
    if talk is not None:
        body["talk_s"] = talk
    return SimpleNamespace(kind="event", body=body)


def test_interval_service_level_counts_each_interval_with_its_sample():
    at = DAY.replace(hour=9)
    records = [call(at + timedelta(minutes=1), "answered", wait=5), call(at + timedelta(minutes=2), "answered", wait=50),
               call(at + timedelta(minutes=3), "abandoned", wait=30), call(at + timedelta(minutes=31), "answered", wait=1)]
    rows = walltrend.interval_service_level(records, DAY, DAY.replace(hour=9, minute=45), 30, 20.0)
    nine, half_past = rows[18], rows[19]
    assert nine["start"] == "09:00" and (nine["n"], nine["in_target"]) == (3, 1)
    assert nine["service_level"] == round(1 / 3, 4)
    assert half_past["service_level"] == 1.0 and rows[0]["service_level"] is None  # no calls: no ratio
    assert len(rows) == 20  # 00:00 … 09:30


def test_required_now_from_the_demand_table(tmp_path):
    demand = tmp_path / "demand.csv"
    demand.write_text("date,interval_start,required\n2027-01-04,09:00,11\n2027-01-04,09:30,12\n", encoding="utf-8")
    assert walltrend.required_now(demand, DAY.replace(hour=9, minute=40), 30) == 12
    assert walltrend.required_now(demand, DAY.replace(hour=3), 30) == 0
    assert walltrend.required_now(None, DAY, 30) is None


def test_the_staffing_model_asks_more_agents_for_more_calls():
    config = load_config()
    quiet = walltrend.staffing_required(10, 30, 180.0, config)
    busy = walltrend.staffing_required(200, 30, 180.0, config)
    assert 0 < quiet < busy
    offered, aht = walltrend.recent_load([call(DAY.replace(hour=9, minute=50), "offered"),
                                          call(DAY.replace(hour=8), "offered"),
                                          call(DAY.replace(hour=9), "completed", talk=120)],
                                         DAY.replace(hour=10), timedelta(minutes=30))
    assert (offered, aht) == (1, 120.0)
