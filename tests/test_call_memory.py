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
from wfm.floor.queues import COMPLETED, OFFERED, QueueRecord, Traffic

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


def test_floor_traffic_keeps_only_its_horizon_when_nobody_reads_it(tmp_path):
    """The shipped gate never reads the floor's traffic (only the service-level gate does), and it
    was pruned only when read: every offered and completed call of the day stayed in memory."""
    engine = FloorEngine(make_config(tmp_path))
    traffic = engine.floor.traffic
    held = []
    t = T0
    for _hour in range(6):  # six floor hours, a call every 2 s, no break request reads the gate
        t = run_calls(engine, t, 1800, 2.0)
        held.append(traffic.held)
    per_horizon = traffic.horizon_s / 2.0  # calls offered (and as many completed) in one horizon
    # the horizon's calls plus at most 256 writes not yet pruned (before: 21,600 after six hours)
    assert all(2 * per_horizon <= n <= 2 * per_horizon + 256 + 70 for n in held), held


def test_floor_traffic_still_gives_the_horizons_rate_and_handle_time():
    traffic = Traffic(900.0)
    for n in range(4000):  # a call every 2 s for 2.2 hours, most of them outside the horizon
        traffic.offered(n * 2.0)
        traffic.completed(n * 2.0, 60.0 if n % 2 else 120.0)
    rate, aht = traffic.rate_and_aht(3999 * 2.0, 999.0)
    assert rate == 450 / 900.0  # the 450 calls offered in the last 900 s (t > now - 900)
    assert aht == 90.0
    assert traffic.held == 900


def test_a_queue_nobody_reads_keeps_only_a_bounded_window_of_outcomes():
    """A queue's incremental 15-min figures were trimmed only when read (the floor view at each push):
    on a floor with no page open every outcome of the day stayed in `recent`."""
    queue = QueueRecord("q1", 900.0)
    sizes = []
    for n in range(6 * 1800):  # six hours, an outcome every 2 s, never read
        queue.record(n * 2.0, OFFERED if n % 2 else COMPLETED, 60.0, False)
        if n % 1800 == 1799:
            sizes.append(len(queue.recent))
    assert max(sizes) <= 2 * queue.keep_s / 2.0 + 1, sizes  # before: 10,800 at the end
    now = (6 * 1800 - 1) * 2.0
    tally = queue.window_tally(now)
    assert (tally.offered, tally.completed, tally.talk_sum) == (225, 225, 225 * 60.0)  # t in (now - 900, now]
    assert len(queue.recent) == 450
