"""Schedule adherence from logged events (wfm/api/adherence.py): pure, on minimal days."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from wfm.api.adherence import adherence_day

TZ = timezone(timedelta(hours=8))
DAY = datetime(2027, 1, 4, tzinfo=TZ)


def at(hh: int, mm: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm)


def shift(agent="1001", start=(8, 30), end=(16, 0), meal=(11, 30)):
    body = {"type": "shift", "ts": at(7).isoformat(), "agent": agent, "start": at(*start).isoformat(),
            "end": at(*end).isoformat()}
    if meal:
        body["meal_start"] = at(*meal).isoformat()
    return SimpleNamespace(kind="event", body=body)


def state(when: datetime, name: str, agent="1001"):
    return SimpleNamespace(kind="event", body={"type": "agent_state", "ts": when.isoformat(), "agent": agent,
                                               "state": name})


def day(records, now):
    return adherence_day(records, day_start=DAY, now=now, meal_slot=timedelta(minutes=30), team_of=lambda a: "A")


def test_on_post_all_morning_is_full_adherence_and_conformance():
    doc = day([shift(), state(at(8, 0), "ready"), state(at(9), "on_call"), state(at(9, 10), "wrap_up")], at(10))
    row = doc["agents"][0]
    assert row["adherence"] == 1.0 and row["conformance"] == 1.0 and row["scheduled_s"] == 90 * 60
    assert doc["exceptions"] == [] and doc["teams"][0]["adherence"] == 1.0


def test_late_sign_in_is_out_of_adherence_from_the_shift_start():
    doc = day([shift(), state(at(8, 0), "logged_out")], at(8, 50))
    row = doc["agents"][0]
    assert row["adherence"] == 0.0 and row["out_since"] == at(8, 30).isoformat()
    assert doc["exceptions"] == [{"agent": "1001", "team": "A", "scheduled": "work", "actual": "logged_out",
                                  "since": at(8, 30).isoformat()}]
    later = day([shift(), state(at(8, 0), "logged_out"), state(at(8, 40), "ready")], at(8, 50))
    assert later["exceptions"] == [] and later["agents"][0]["adherence"] == 0.5  # 10 of 20 min


def test_meal_in_its_slot_adheres_and_outside_it_does_not():
    in_slot = day([shift(), state(at(8, 30), "ready"), state(at(11, 30), "meal")], at(12))
    assert in_slot["agents"][0]["adherence"] == 1.0
    off_slot = day([shift(), state(at(8, 30), "ready"), state(at(11, 0), "meal")], at(11, 30))
    row = off_slot["agents"][0]
    assert row["adherence"] == round(150 / 180, 4)  # the 30 min of meal before the slot were scheduled work
    assert row["out_since"] == at(11, 0).isoformat() and row["actual_now"] == "meal"
    assert row["conformance"] == round(150 / 180, 4)


def test_short_break_counts_as_working_time_but_not_as_worked():
    doc = day([shift(meal=None), state(at(8, 30), "ready"), state(at(9), "short_break"), state(at(9, 10), "ready")],
              at(9, 30))
    row = doc["agents"][0]
    assert row["adherence"] == 1.0 and row["conformance"] == round(50 / 60, 4)


def test_agents_without_a_shift_today_are_not_listed_and_bad_records_are_counted():
    doc = day([state(at(9), "ready", agent="2001"), shift(),
               SimpleNamespace(kind="event", body={"type": "agent_state", "ts": "yesterday", "agent": "1001"})],
              at(9))
    assert [row["agent"] for row in doc["agents"]] == ["1001"] and doc["skipped"] == 1


def test_the_same_log_gives_the_same_figures_as_of_the_same_instant():
    records = [shift(), state(at(8, 20), "ready"), state(at(9), "not_ready"), state(at(9, 5), "ready")]
    assert day(records, at(9, 30)) == day(list(records), at(9, 30))


def test_a_shift_received_after_its_start_is_scheduled_from_then():
    late_roster = shift()
    late_roster.body["ts"] = at(12).isoformat()  # the floor started at noon
    doc = day([late_roster, state(at(12), "ready")], at(12, 30))
    row = doc["agents"][0]
    assert row["scheduled_s"] == 30 * 60 and row["adherence"] == 1.0
