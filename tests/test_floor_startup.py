"""The floor at start-up and over a day: shifts handed over after the first PBX snapshot (and after
their own start), each new simulated day's roster, a live longest wait from call events — on the
engine, the runtime and the real demo."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from support.rules_kit import Floor, at, violations
from support.runtime_helpers import T0, FixedClock, QueueAdapter, make_config
from wfm.decisions import Violation
from wfm.engine import FloorEngine
from wfm.eventlog import open_log_from_config
from wfm.events import AgentState, AgentStateEvent, QueueStatusEvent, ResyncEvent, ShiftEvent
from wfm.runtime import OutputPublished, Runtime



# --- a shift handed to the floor after its start (serve/demo started mid-shift) ----------

def test_shift_received_after_its_start_does_not_make_an_agent_on_post_then_late():
    f = Floor()
    f.state("09:30:01", "a", "on_call")  # the first snapshot: already taking calls
    f.shift("a", "08:30", "16:00", ts="09:30:02")
    f.tick("09:31")
    assert violations(f.outputs, "LATE_SIGN_IN") == []


def test_shift_received_after_its_start_still_reports_an_agent_not_on_post_then():
    f = Floor()
    f.state("09:30:01", "a", "on_call")
    f.state("09:30:01", "b", "logged_out")
    f.shift("b", "08:30", "16:00", ts="09:30:02")
    f.shift("c", "08:30", "16:00", ts="09:30:02")  # never seen by any feed
    f.state("09:30:30", "b", "ready")  # signs in only after the floor had the shift
    f.tick("09:31")
    assert sorted(v.agent for v in violations(f.outputs, "LATE_SIGN_IN")) == ["b", "c"]


class SnapshotAdapter(QueueAdapter):
    sends_snapshots = True


async def _wait(predicate, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_runtime_hands_the_shifts_over_after_the_first_snapshot(tmp_path):
    config = make_config(tmp_path)
    log = open_log_from_config(config)
    engine = FloorEngine(config)
    adapter = SnapshotAdapter()
    now = T0 + timedelta(hours=1)  # 10:00, an hour into the 09:00 shifts
    clock = FixedClock(now)
    runtime = Runtime(config, engine, log, [adapter], clock)
    outputs = []
    runtime.subscribe(lambda u: outputs.append(u.output) if isinstance(u, OutputPublished) else None)
    shifts = [ShiftEvent(ts=now, agent=a, start=T0, end=T0 + timedelta(hours=8)) for a in ("1001", "1002")]

    async def snapshot_later():
        await asyncio.sleep(0.2)  # the PBX answers after the floor is up
        adapter.push(ResyncEvent(ts=now, source="test-pbx", phase="begin"))
        adapter.push(AgentStateEvent(ts=now, agent="1001", state=AgentState.ON_CALL, source="test-pbx"))
        adapter.push(ResyncEvent(ts=now, source="test-pbx", phase="end"))

    feeder = asyncio.create_task(snapshot_later())
    await runtime.start(prelude=lambda _report: shifts)
    await feeder
    clock.value = now + timedelta(seconds=10)
    await _wait(lambda: any(isinstance(o, Violation) for o in outputs))
    await asyncio.sleep(0.1)
    late = sorted(o.agent for o in outputs if isinstance(o, Violation) and o.rule == "LATE_SIGN_IN")
    await runtime.stop()
    assert late == ["1002"]  # 1001 was on a call in the first snapshot; 1002 was nowhere


async def test_runtime_gives_up_waiting_for_a_snapshot_after_the_configured_time(tmp_path, caplog):
    from wfm.config import default_data, from_data, merge

    config = from_data(merge(default_data(), {
        "storage": {"url": f"sqlite:///{tmp_path / 'wfm.sqlite'}", "batch_max_delay_ms": 1},
        "floor": {"first_snapshot_wait_s": 0.2}}), "test")
    log = open_log_from_config(config)
    engine = FloorEngine(config)
    runtime = Runtime(config, engine, log, [SnapshotAdapter()], FixedClock(T0))
    shift = ShiftEvent(ts=T0, agent="1001", start=T0, end=T0 + timedelta(hours=8))
    with caplog.at_level("WARNING", logger="wfm.runtime"):
        await asyncio.wait_for(runtime.start(prelude=lambda _r: [shift]), 2.0)
    assert engine.known_agent("1001")
    assert "no first snapshot from test-pbx" in caplog.text
    await runtime.stop()


async def test_demo_hands_each_new_simulated_day_to_the_floor(tmp_path):
    from pbxsim.ami_server import FloorSimulation
    from pbxsim.clock import SimClock
    from wfm.commands.demo import NewDayFeed

    config = make_config(tmp_path)
    tz = config.floor.tz
    mono = [0.0]
    clock = SimClock(datetime(2027, 1, 4, 23, 50, tzinfo=tz), 1.0, monotonic=lambda: mono[0])
    sim = FloorSimulation(config, clock, agents=6)
    submitted: list[list] = []
    floor_up = []

    async def submit(shifts):
        submitted.append(shifts)

    feed = NewDayFeed(sim, clock, config, lambda shifts: submit(shifts) if floor_up else None)
    mono[0] = 30 * 60.0  # 00:20 the next day
    sim.pump()
    await asyncio.sleep(0)
    assert submitted == []  # the floor is not up yet: held
    floor_up.append(True)
    feed.flush()
    await asyncio.sleep(0.01)
    assert len(submitted) == 1 and len(submitted[0]) == 6
    assert all(s.start.astimezone(tz).date() == datetime(2027, 1, 5).date() for s in submitted[0])
    assert all(s.ts >= clock.now() - timedelta(seconds=1) for s in submitted[0])
    feed.close()
    assert sim._day_listeners == []


# --- longest wait tracked live from call events -----------------------------------------

def _view(f, clock):
    return f.engine.floor_view(at(clock))


def test_longest_wait_is_live_from_offered_calls():
    f = Floor()
    f.waiting("09:00", "sales", 0)
    f.call("09:00:00", "sales", "c1", "offered")
    f.waiting("09:00:00", "sales", 1)
    f.call("09:00:20", "sales", "c2", "offered")
    f.waiting("09:00:20", "sales", 2)
    view = _view(f, "09:00:45")
    assert view.longest_wait_s == 45.0 and view.queues[0].longest_wait_s == 45.0
    f.call("09:00:50", "sales", "c1", "answered", agent="1001")
    f.waiting("09:00:50", "sales", 1)
    assert _view(f, "09:01:00").longest_wait_s == 40.0  # c2, offered 09:00:20
    f.call("09:01:05", "sales", "c2", "abandoned")
    f.waiting("09:01:05", "sales", 0)
    assert _view(f, "09:01:10").longest_wait_s is None


def test_longest_wait_from_a_snapshot_ages_and_yields_to_live_tracking():
    f = Floor()
    f.feed(QueueStatusEvent(ts=at("09:00"), queue="sales", waiting=1, longest_wait_s=30.0))
    assert _view(f, "09:00:10").longest_wait_s == 40.0  # the snapshot's caller keeps waiting
    f.call("09:00:05", "sales", "c9", "offered")
    f.waiting("09:00:05", "sales", 2)
    f.call("09:00:15", "sales", "c0", "answered", agent="1001")  # the snapshot's caller (never seen offered)
    f.waiting("09:00:15", "sales", 1)
    assert _view(f, "09:00:20").longest_wait_s == 15.0  # now c9, tracked live
    f.waiting("09:00:30", "sales", 0)  # the PBX says nobody waits: a missed answer
    assert _view(f, "09:00:31").longest_wait_s is None


def test_queue_status_count_below_tracked_calls_drops_the_oldest():
    f = Floor()
    for i, clock in enumerate(("09:00:00", "09:00:10", "09:00:20")):
        f.call(clock, "sales", f"c{i}", "offered")
    f.waiting("09:00:25", "sales", 1)  # two answers missed: the newest caller is the one left
    assert _view(f, "09:00:30").longest_wait_s == 10.0


# --- 1 + 2 on the real demo: no false late sign-ins at start, a live longest wait -----------

def test_demo_starts_without_false_late_sign_ins_and_shows_a_live_longest_wait(tmp_path):
    import time

    from test_demo import get_json, login, start_demo, stop, wait_for_agents, write_config

    proc, first = start_demo(write_config(tmp_path), speed=30)
    try:
        base = first[: -len("/wall")]
        token = login(base, "supervisor")
        floor = wait_for_agents(base, token)
        on_post = {a["agent"] for a in floor["agents"] if a["state"] not in ("logged_out", "not_ready")}
        assert on_post
        waits = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(waits) < 3:
            _, wall = get_json(base + "/api/wall")
            late = [a for a in wall["alerts"] if a["rule"] == "LATE_SIGN_IN" and a["agent"] in on_post]
            assert late == [], late
            if wall["calls_waiting"]:
                assert wall["longest_wait_s"] is not None, wall
                waits.append(wall["longest_wait_s"])
            time.sleep(0.2)
        assert waits, "no call waited in 20 s of a busy simulated morning"
        assert all(w >= 0 for w in waits)
    finally:
        stop(proc)
