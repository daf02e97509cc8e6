"""The floor forgets ended calls after FINISHED_CALL_MEMORY_S (issue 19 item 6: the soak's RSS growth).

Before, every call of two floor days stayed in `floor.calls`: at 5,000 agents and 10x
that was the product's steady RSS growth. Now an ended call is kept an hour (late
repeats are still dropped) and then forgotten, so the table is flat after warm-up.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from support.runtime_helpers import make_config
from wfm.engine import FINISHED_CALL_MEMORY_S, FloorEngine
from wfm.events import CallEvent, CallEventKind

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def call(t: datetime, call_id: str, kind: CallEventKind) -> CallEvent:
    extra = {"agent": "1001", "wait_s": 5.0} if kind in (CallEventKind.ANSWERED, CallEventKind.COMPLETED) else {}
    if kind is CallEventKind.COMPLETED:
        extra["talk_s"] = 60.0
    return CallEvent(ts=t, queue="q1", call_id=call_id, event=kind, source="t", **extra)


def run_calls(engine: FloorEngine, start: datetime, count: int, every_s: float) -> datetime:
    t = start
    for n in range(count):
        cid = f"c{start.timestamp():.0f}-{n}"
        engine.handle(call(t, cid, CallEventKind.OFFERED))
        engine.handle(call(t + timedelta(seconds=5), cid, CallEventKind.ANSWERED))
        engine.handle(call(t + timedelta(seconds=65), cid, CallEventKind.COMPLETED))
        t += timedelta(seconds=every_s)
    return t


def test_ended_calls_are_forgotten_after_an_hour_and_the_table_stays_flat(tmp_path):
    engine = FloorEngine(make_config(tmp_path))
    sizes = []
    t = T0
    for _hour in range(8):  # eight floor hours, a call every 2 s
        t = run_calls(engine, t, 1800, 2.0)
        sizes.append(len(engine.floor.calls))
    per_hour = 3600 / 2.0
    assert max(sizes) <= per_hour + 40  # at most an hour of calls (plus the ones still talking)
    assert sizes[-1] <= sizes[1] + 5, sizes  # flat after the first hour
    assert engine.floor.queues["q1"].today.completed == 8 * 1800  # nothing lost from the day's tallies


def test_a_late_repeat_within_the_memory_is_still_dropped(tmp_path):
    engine = FloorEngine(make_config(tmp_path))
    run_calls(engine, T0, 3, 10.0)
    queue = engine.floor.queues["q1"]
    assert queue.today.completed == 3
    late = T0 + timedelta(seconds=FINISHED_CALL_MEMORY_S - 600)
    engine.handle(call(late, f"c{T0.timestamp():.0f}-0", CallEventKind.COMPLETED))
    assert queue.today.completed == 3  # the repeat did not count twice
    later = T0 + timedelta(seconds=FINISHED_CALL_MEMORY_S + 600)
    run_calls(engine, later, 1, 1.0)  # a new call ends past the hour: the old ones are forgotten
    assert f"c{T0.timestamp():.0f}-0" not in engine.floor.calls
    assert queue.today.completed == 4
