"""GET /api/adherence and GET /api/wall/trend fold in only what was logged since their last call
(wfm/api/logwindow.py): after any run of new events their answer equals the one computed from scratch
off the whole log. Real SQLite event logs; hypothesis draws the events, the batches and the instants."""
from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wfm.api import adherence, walltrend
from wfm.api.logwindow import LogWindow
from wfm.eventlog import open_log

TZ = timezone(timedelta(hours=8))
DAY = datetime(2027, 1, 4, tzinfo=TZ)
LOOKBACK = timedelta(hours=12)
AGENTS = ("1001", "1002", "1003")
STATES = ("ready", "on_call", "wrap_up", "short_break", "meal", "not_ready", "logged_out")
MEAL_SLOT = timedelta(minutes=30)


def minute(n: int) -> datetime:
    return DAY + timedelta(minutes=n)


@st.composite
def an_event(draw) -> dict:
    """An event of the day (or the evening before: the state in force at midnight counts), sometimes malformed."""
    at = minute(draw(st.integers(-180, 24 * 60 - 1)))
    kind = draw(st.sampled_from(("agent_state", "agent_state", "call", "shift", "other", "bad_state")))
    agent = draw(st.sampled_from(AGENTS))
    if kind == "agent_state":
        return {"type": "agent_state", "ts": at.isoformat(), "agent": agent, "state": draw(st.sampled_from(STATES)),
                "source": "ami"}
    if kind == "bad_state":  # counted as skipped by adherence, ignored by the trend
        return {"type": "agent_state", "ts": at.isoformat(), "agent": agent}
    if kind == "shift":
        start = minute(draw(st.integers(6, 14)) * 60 + draw(st.sampled_from((0, 30))))
        body = {"type": "shift", "ts": (start - timedelta(minutes=draw(st.integers(-60, 120)))).isoformat(),
                "agent": agent, "start": start.isoformat(), "end": (start + timedelta(hours=8)).isoformat()}
        if draw(st.booleans()):
            body["meal_start"] = (start + timedelta(hours=draw(st.integers(2, 5)))).isoformat()
        return body
    if kind == "call":
        event = draw(st.sampled_from(("offered", "answered", "abandoned", "completed")))
        body = {"type": "call", "ts": at.isoformat(), "event": event, "queue": "general", "call_id": "c1"}
        if event in ("answered", "abandoned"):
            body["wait_s"] = draw(st.integers(0, 60))
        if event == "completed":
            body["talk_s"] = draw(st.integers(10, 600))
        return body
    return {"type": "queue_status", "ts": at.isoformat(), "queue": "general", "waiting": 1}


def append(log, bodies: list[dict]) -> None:
    log.append_many([("event", body, datetime.fromisoformat(body["ts"])) for body in bodies])


def adherence_of(records, now: datetime) -> dict:
    return adherence.adherence_day(records, day_start=DAY, now=now, meal_slot=MEAL_SLOT, team_of=lambda a: "A")


def trend_of(records, now: datetime) -> tuple:
    return (walltrend.interval_service_level(records, DAY, now, 30, 20.0),
            walltrend.recent_load(records, now, timedelta(minutes=30)))


def from_scratch(log, since: datetime, until: datetime) -> list:
    return list(log.read(since=since, until=until, kinds=["event"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(an_event(), max_size=25), min_size=1, max_size=6),
       instants=st.lists(st.integers(0, 24 * 60 - 1), min_size=6, max_size=6))
def test_the_answer_after_new_events_equals_the_answer_from_scratch(batches, instants):
    adherence_window, trend_window = LogWindow(adherence.keep), LogWindow(walltrend.keep)
    with tempfile.TemporaryDirectory() as folder:
        log = open_log(f"sqlite:///{Path(folder) / 'day.sqlite'}")
        try:
            for batch, instant in zip(batches, instants):
                append(log, batch)
                now = minute(instant)
                until = now + timedelta(seconds=1)
                kept = adherence_window.records(log, DAY - LOOKBACK, until)
                assert adherence_of(kept, now) == adherence_of(from_scratch(log, DAY - LOOKBACK, until), now)
                kept = trend_window.records(log, DAY, until)
                assert trend_of(kept, now) == trend_of(from_scratch(log, DAY, until), now)
        finally:
            log.close()


def test_each_call_reads_only_what_was_logged_since_the_last(tmp_path):
    log = open_log(f"sqlite:///{tmp_path / 'day.sqlite'}")
    window = LogWindow(adherence.keep)
    try:
        append(log, [{"type": "agent_state", "ts": minute(480 + i).isoformat(), "agent": "1001",
                      "state": "ready" if i % 2 else "on_call"} for i in range(50)])
        assert len(window.records(log, DAY - LOOKBACK, minute(600))) == 50
        assert window.records_read == 50
        append(log, [{"type": "agent_state", "ts": minute(700).isoformat(), "agent": "1002", "state": "ready"},
                     {"type": "call", "ts": minute(700).isoformat(), "event": "offered"}])  # not adherence's: dropped
        kept = window.records(log, DAY - LOOKBACK, minute(800))
        assert window.records_read == 52 and len(kept) == 51
        assert kept[-1].body == {"type": "agent_state", "ts": minute(700).isoformat(), "agent": "1002", "state": "ready"}
        assert len(window.records(log, DAY - LOOKBACK, minute(600))) == 50  # an earlier instant of the same day
        assert window.records_read == 52
    finally:
        log.close()


def test_a_new_day_drops_the_old_one_and_an_earlier_day_is_read_from_the_log(tmp_path):
    log = open_log(f"sqlite:///{tmp_path / 'days.sqlite'}")
    window = LogWindow(walltrend.keep)
    calls = [{"type": "call", "ts": (DAY + timedelta(days=d, hours=10)).isoformat(), "event": "answered", "wait_s": 3}
             for d in range(2)]
    try:
        append(log, calls)
        assert [k.body["ts"] for k in window.records(log, DAY + timedelta(days=1), DAY + timedelta(days=2))] == \
            [calls[1]["ts"]]
        yesterday = window.records(log, DAY, DAY + timedelta(days=1))  # ?at= on the day before: from the log
        assert [k.body["ts"] for k in yesterday] == [calls[0]["ts"]]
        assert [k.body["ts"] for k in window.records(log, DAY + timedelta(days=1), DAY + timedelta(days=2))] == \
            [calls[1]["ts"]]  # the window itself still holds today only
    finally:
        log.close()


def test_keep_slims_only_what_the_computations_read():
    state = {"type": "agent_state", "ts": DAY.isoformat(), "agent": "1001", "state": "ready", "source": "ami",
             "reason": "x"}
    assert adherence.keep(state) == {"type": "agent_state", "ts": DAY.isoformat(), "agent": "1001", "state": "ready"}
    assert adherence.keep({"type": "call"}) is None and walltrend.keep(state) is None
    malformed = {"type": "agent_state", "ts": DAY.isoformat(), "agent": "1001"}  # no state
    assert adherence.keep(malformed) == malformed  # kept as it is, so adherence still counts it as skipped
    assert adherence_of([SimpleNamespace(kind="event", body=adherence.keep(malformed))], DAY)["skipped"] == 1
