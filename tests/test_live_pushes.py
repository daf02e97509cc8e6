"""Live-pipeline hardening: floor-zone alert times in the view, the runtime's tick never
running past queued feed events, and the cheap incremental floor data for WebSocket pushes."""
from __future__ import annotations

from datetime import timedelta, timezone

import logging

import msgspec
import pytest
from support.rules_kit import Floor, at

from wfm.api.projections import PUBLIC_NUMBERS as PUBLIC
from wfm.events import AgentStateEvent, BreakRequestEvent

AGENTS = ["1001", "1002", "1003", "1004", "1005", "1006"]


def staffed(n: int = 6) -> Floor:
    f = Floor()
    for agent in AGENTS[:n]:
        f.shift(agent, "08:30", "16:00", meal="12:00")
    f.ready("08:25", *AGENTS[:n])
    return f


# --- alerts in the floor view are in the floor zone ---------------------------------------------

def test_alert_from_utc_events_is_shown_in_the_floor_zone():
    f = staffed()
    utc = timezone.utc
    f.feed(BreakRequestEvent(ts=at("09:00").astimezone(utc), agent="1001", kind="short"))
    f.feed(AgentStateEvent(ts=at("09:00").astimezone(utc), agent="1001", state="short_break"))
    result = f.engine.tick(at("09:40").astimezone(utc))  # far past the short-break limit
    assert result.outputs and result.outputs[0].ts.utcoffset() == timedelta(0)  # the §2 output keeps its zone
    view = f.engine.floor_view(at("09:41"))
    assert view.alerts, "the overrun is on the floor view"
    for alert in view.alerts:
        assert alert.ts.utcoffset() == timedelta(hours=8), alert
    assert view.alerts[0].ts == result.outputs[0].ts  # the same instant


def test_alert_already_in_the_floor_zone_is_unchanged():
    f = staffed()
    f.request("09:00", "1001")
    f.state("09:00", "1001", "short_break")
    out = f.engine.tick(at("09:40")).outputs
    view = f.engine.floor_view(at("09:41"))
    assert view.alerts[0].ts == out[0].ts and view.alerts[0].ts.isoformat().endswith("+08:00")


# --- floor_data: the incremental floor for pushes equals the full view ---------------------------

def _same_as_view(f: Floor, clock: str, day: int = 0) -> None:
    now = at(clock, day)
    expected = msgspec.to_builtins(f.engine.floor_view(now))
    got = f.engine.floor_data(now)
    assert got == expected, clock
    numbers_only = f.engine.floor_data(now, agents=False)
    assert numbers_only["agents"] == [] and {k: v for k, v in numbers_only.items() if k != "agents"} == \
        {k: v for k, v in expected.items() if k != "agents"}


def test_floor_data_matches_the_view_through_a_day_of_changes():
    f = Floor()
    for agent in AGENTS[:4]:
        f.shift(agent, "08:30", "10:00", meal="09:00")
    f.shift("1001", "10:30", "12:00")  # a second shift: a new budget when it starts
    f.ready("08:25", *AGENTS)  # 1005, 1006 without a roster: day buckets
    _same_as_view(f, "08:26")
    f.request("08:40", "1001")
    f.state("08:40", "1001", "short_break")
    _same_as_view(f, "08:41")
    _same_as_view(f, "08:50")  # still on the break: running use patched
    _same_as_view(f, "08:59")  # past the limit: overrun patched
    f.state("09:00", "1001", "ready")  # the break ends: budget used grows, row rebuilt
    f.state("09:01", "1002", "meal")
    f.state("09:02", "1005", "short_break")  # unrostered, refused or allowed: either way a break
    f.feed(AgentStateEvent(ts=at("09:03"), agent="1003", state="on_call", queues=["q1", "q2"]))
    _same_as_view(f, "09:05")
    _same_as_view(f, "09:40")  # meal past its limit
    f.engine.tick(at("09:59"))
    _same_as_view(f, "09:59")
    _same_as_view(f, "10:01")  # the first shifts ended
    _same_as_view(f, "10:31")  # 1001's second shift began: another bucket
    f.shift("1001", "10:30", "12:00", ts="10:32")  # re-published: a new shift list, same budget
    _same_as_view(f, "10:33")
    f.state("10:40", "1006", "short_break")
    _same_as_view(f, "23:59:30")
    _same_as_view(f, "00:00:30", day=1)  # a new floor day: the day buckets turn over
    _same_as_view(f, "00:00:10", day=1)  # asked for an earlier instant: rebuilt, not patched wrongly


# --- a late event: the first logged at WARNING, repeats at DEBUG ---------------------------------

def test_late_events_warn_once_then_log_at_debug(caplog):
    f = staffed()
    f.engine.tick(at("10:00"))
    with caplog.at_level(logging.DEBUG, logger="wfm.engine"):
        f.state("09:00", "1001", "on_call")  # an hour behind the floor clock
        f.state("09:01", "1002", "on_call")
        f.state("09:02", "1003", "on_call")
    late = [r for r in caplog.records if "behind the floor clock" in r.getMessage()]
    assert [r.levelno for r in late] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert f.engine.late_events == 3


def test_event_within_the_reorder_window_is_not_logged_as_late(caplog):
    f = staffed()
    f.engine.tick(at("10:00"))
    with caplog.at_level(logging.DEBUG, logger="wfm.engine"):
        f.state("09:59:59", "1001", "on_call")  # 1 s behind: a feed's small reordering
    assert not [r for r in caplog.records if "behind the floor clock" in r.getMessage()]


# --- the floor snapshot: one conversion per build, only the projections asked for -----------------

def _hub_floor():
    from wfm.api.snapshot import FloorSnapshots
    from wfm.clock import VirtualClock
    from wfm.runtime import Runtime

    f = staffed()
    f.request("09:00", "1001")
    f.state("09:00", "1001", "short_break")
    f.state("09:01", "1002", "on_call")
    clock = VirtualClock(at("09:05"))
    runtime = Runtime(f.config, f.engine, None, [], clock)
    return f, runtime, FloorSnapshots(runtime, 0.5)


def test_hub_builds_each_audience_from_one_conversion_with_the_shapes_of_the_view():
    from wfm.api import projections

    f, runtime, hub = _hub_floor()
    calls = []
    real = f.engine.floor_data
    f.engine.floor_data = lambda now, **kw: calls.append(kw) or real(now, **kw)
    snapshot = hub.build({"full", "agent", "wall"})
    messages = {audience: snapshot.message(audience) for audience in snapshot.bodies}
    assert len(calls) == 1 and calls[0]["agents"] is True
    view = runtime.floor_view()
    decoded = {k: msgspec.json.decode(v) for k, v in messages.items()}
    assert {m["type"] for m in decoded.values()} == {"floor"}
    assert decoded["full"]["data"] == msgspec.to_builtins(view)
    assert decoded["agent"]["data"] == projections.public_numbers(view)
    assert decoded["wall"]["data"] == projections.wall_floor(view)
    assert [a["agent"] for a in decoded["wall"]["data"]["agents"]] == AGENTS
    assert decoded["full"]["data"]["agents"][0]["state"] == "short_break"


def test_hub_with_only_agent_sockets_builds_no_agent_list():
    f, runtime, hub = _hub_floor()
    calls = []
    real = f.engine.floor_data
    f.engine.floor_data = lambda now, **kw: calls.append(kw) or real(now, **kw)
    snapshot = hub.build({"agent"})
    assert list(snapshot.bodies) == ["agent"] and calls == [{"feeds": [], "agents": False}]
    assert "agents" not in msgspec.json.decode(snapshot.message("agent"))["data"]


def test_a_new_socket_gets_this_push_ticks_message_without_a_rebuild():
    f, runtime, hub = _hub_floor()
    first = hub.build({"full", "wall"})
    calls = []
    f.engine.floor_data = lambda now, **kw: calls.append(kw)
    assert hub.current("wall", max_age_s=0.5) is first and calls == []
    f.engine.floor_data = lambda now, **kw: calls.append(kw) or {"agents": []} | {k: 0 for k in PUBLIC}
    hub.current("agent", max_age_s=0.5)  # a projection this build does not carry: a fresh build
    assert calls == [{"feeds": [], "agents": False}]
    calls.clear()
    hub.current("agent", max_age_s=0.0)  # the push interval is over: a fresh build
    assert calls == [{"feeds": [], "agents": False}]



async def test_the_full_floor_goes_at_most_every_full_interval_and_its_last_change_is_never_dropped():
    """api.ws_full_floor_interval_ms: walls get the floor every push, supervisors' full floor (2.4 MB at
    5,000 agents) at most every full interval, and the last change still reaches them."""
    import asyncio

    from wfm.runtime import FloorChanged

    f, runtime, _ = _hub_floor()
    from wfm.api.snapshot import FloorSnapshots

    hub = FloorSnapshots(runtime, 0.01, full_interval_s=0.25)
    pushed: list[tuple[float, frozenset[str]]] = []
    loop = asyncio.get_running_loop()
    hub.subscribe(lambda snap: pushed.append((loop.time(), frozenset(snap.bodies))), lambda: {"full", "wall"})
    hub.start()
    try:
        started = loop.time()
        while loop.time() - started < 0.8:  # the floor changes all the time
            hub._on_update(FloorChanged(runtime.now()))
            await asyncio.sleep(0.005)
        last_change = loop.time()
        await asyncio.sleep(0.5)  # then nothing changes
    finally:
        await hub.close()
    walls = [t for t, bodies in pushed if "wall" in bodies]
    fulls = [t for t, bodies in pushed if "full" in bodies]
    assert len(walls) >= 20  # every push interval (10 ms)
    assert 3 <= len(fulls) <= 5  # 0.8 s of changes at one per 0.25 s, plus the one owed after the last change
    assert all(b - a >= 0.25 - 0.02 for a, b in zip(fulls, fulls[1:]))
    assert fulls[-1] > last_change  # the last change reached the full floor's readers


# --- runtime: a tick never runs the floor clock past feed events still queued ----------------------

async def test_ticks_during_a_backlog_never_pass_a_queued_feed_event(tmp_path, caplog):
    import asyncio

    from support.runtime_helpers import T0, FixedClock, QueueAdapter

    from wfm.config import default_data, from_data, merge
    from wfm.engine import FloorEngine
    from wfm.eventlog import open_log_from_config
    from wfm.runtime import Runtime

    config = from_data(merge(default_data(), {"storage": {"url": f"sqlite:///{tmp_path / 'b.sqlite'}"},
                                              "floor": {"tick_s": 0.02}}), "test")
    ticks: list[float] = []

    class Engine(FloorEngine):
        def tick(self, now):
            ticks.append((now.timestamp(), len(handled)))
            return super().tick(now)

        def handle(self, event):
            handled.append(event.ts.timestamp())
            return super().handle(event)

    handled: list[float] = []
    engine = Engine(config)
    adapter = QueueAdapter()
    n = 3000

    async def backlog():  # 3,000 events from T0 to T0 + 300 s arrive in bursts; the clock is at T0 + 600 s
        for i in range(n):
            adapter.push(AgentStateEvent(ts=T0 + timedelta(seconds=i / 10), agent=f"{1000 + i % 50}",
                                         state=("ready", "on_call")[i % 2]))
            if i % 300 == 299:
                await asyncio.sleep(0.01)  # ticks are queued between the bursts

    runtime = Runtime(config, engine, open_log_from_config(config), [adapter], FixedClock(T0 + timedelta(seconds=600)))
    with caplog.at_level(logging.DEBUG, logger="wfm.engine"):
        await runtime.start(replay=False)
        await backlog()
        for _ in range(600):
            if len(handled) == n and ticks and ticks[-1][1] == n:
                break
            await asyncio.sleep(0.02)
        ticked_in_backlog = [(t, done) for t, done in ticks if done < n]
        await runtime.stop()
    assert len(handled) == n
    assert ticked_in_backlog, "the ticker ran while the backlog was being worked off"
    for t, done in ticked_in_backlog:  # every tick stayed at or before the next event still to apply
        assert t <= handled[done], (t, handled[done])
    assert engine.late_events == 0
    assert not [r for r in caplog.records if "behind the floor clock" in r.getMessage()]
    # caught up: the tick is the watermark again (the runtime's clock, following the PBX, less the window)
    assert ticks[-1][0] == pytest.approx((runtime.now() - timedelta(seconds=2)).timestamp(), abs=1e-3)


async def test_a_socket_keeps_only_the_newest_unsent_floor_and_sends_outputs_first():
    import asyncio

    from wfm.api.ws import _Client

    client = _Client(None, None)
    client.offer_floor('{"type":"floor","n":1}')
    client.offer_floor('{"type":"floor","n":2}')  # replaces the unsent one
    assert client.offer('{"type":"break_decision"}')
    assert await client.next_message() == '{"type":"break_decision"}'  # the output does not wait behind the floor
    assert await client.next_message() == '{"type":"floor","n":2}'
    waiting = asyncio.ensure_future(client.next_message())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # nothing left: it waits
    client.offer_floor('{"type":"floor","n":3}')
    assert await asyncio.wait_for(waiting, 1) == '{"type":"floor","n":3}'


async def test_a_client_whose_output_queue_is_full_is_told_to_close():
    from wfm.api.ws import _QUEUE_MAX, Hub, _Client

    f, runtime, snapshots = _hub_floor()
    hub = Hub(runtime, snapshots)
    client = _Client(None, None)
    hub._clients.add(client)
    for _ in range(_QUEUE_MAX):
        assert client.offer("x")
    assert not client.offer("x")
    hub._drop(client)
    assert client not in hub._clients and await client.next_message() is None


# --- the 15-min queue figures, kept incrementally, equal a scan --------------------------------------

def test_incremental_15_minute_tally_equals_a_scan_of_the_window():
    import random

    from wfm.floor.queues import WINDOW_S, QueueRecord

    rng = random.Random(7)
    fast, scan = QueueRecord("q", keep_s=3600), QueueRecord("q", keep_s=3600)
    t = 1_000_000.0
    fields = ("offered", "answered", "in_target", "abandoned", "completed")
    for step in range(4000):
        t += rng.expovariate(1 / 3.0)
        at = t - rng.choice([0.0, 0.0, 0.0, 1.5, WINDOW_S + 5])  # now and then reordered, or very late
        entry = (at, rng.randrange(4), rng.uniform(0, 60), rng.random() < 0.7)
        fast.record(*entry)
        scan.record(*entry)
        if step % 37 == 0:
            now = t - (rng.uniform(0, 30) if step % 5 == 0 else 0.0)  # sometimes asked for an earlier instant
            got = fast.window_tally(now)
            want = _scanned(scan, now)
            assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields], step
            assert got.wait_sum == pytest.approx(want.wait_sum) and got.talk_sum == pytest.approx(want.talk_sum)


def _scanned(queue, now):
    from wfm.floor.queues import ABANDONED, ANSWERED, OFFERED, WINDOW_S, Tally

    tally = Tally()
    for t, kind, seconds, in_target in queue.window:
        if t <= now - WINDOW_S:
            continue
        if kind == OFFERED:
            tally.offered += 1
        elif kind == ANSWERED:
            tally.answered += 1
            tally.wait_sum += seconds
            tally.in_target += in_target
        elif kind == ABANDONED:
            tally.abandoned += 1
        else:
            tally.completed += 1
            tally.talk_sum += seconds
    return tally


def test_wall_rows_across_pushes_equal_a_fresh_projection():
    from wfm.api import projections

    f, runtime, hub = _hub_floor()
    rows = projections.WallRows()
    for clock, change in (("09:06", None), ("09:07", ("1003", "on_call")), ("09:20", None),  # 1001 overruns
                          ("09:30", ("1001", "ready")),
                          ("09:31", None)):
        if change:
            f.state(clock, *change)
        data = f.engine.floor_data(at(clock))
        fresh = projections.wall_floor(f.engine.floor_view(at(clock)))
        assert projections.wall_from_data(data, rows) == fresh, clock


async def test_the_pusher_builds_in_stages_with_the_same_messages():
    import asyncio

    f, runtime, hub = _hub_floor()
    ran_between = []

    async def other():
        ran_between.append(True)

    task = asyncio.ensure_future(other())
    staged = await hub.build_yielding({"full", "wall"})
    assert ran_between, "the event loop ran another task during the build"
    await task
    assert staged.bodies == hub.build({"full", "wall"}).bodies


async def test_budgets_reach_their_watchers_at_most_once_a_second_in_chunks(monkeypatch):
    """/me's pushes (wfm/api/ws.py): every watcher gets its agent's budget — what GET …/budget serves —
    computed once per agent; again only after BUDGET_PUSH_S unless due (a decision about them); the round
    lets the event loop run between chunks."""
    import asyncio

    from wfm.api import breakgate, ws

    f, runtime, snapshots = _hub_floor()
    hub = ws.Hub(runtime, snapshots)
    clients = []
    for agent in [*AGENTS, "1001"]:  # 1001 watched twice
        client = ws._Client(None, None)
        client.watch = agent
        hub._clients.add(client)
        clients.append(client)
    monkeypatch.setattr(ws, "BUDGET_CHUNK", 2)
    computed = []
    real = runtime.agent_budget
    monkeypatch.setattr(runtime, "agent_budget", lambda agent: computed.append(agent) or real(agent))
    finished_when_others_ran = []

    async def another_task() -> None:
        finished_when_others_ran.append(round_.done())

    round_ = asyncio.ensure_future(hub._push_budgets())
    other = asyncio.ensure_future(another_task())
    await round_
    await other
    assert finished_when_others_ran == [False]  # the loop ran in between
    assert sorted(computed) == sorted(AGENTS)  # once per agent
    for client in clients:
        message = msgspec.json.decode(client.latest.pop("budget"))
        assert message["type"] == "budget" and message["agent"] == client.watch
        assert message["data"] == msgspec.to_builtins(breakgate.with_gate(real(client.watch)))
    await hub._push_budgets()
    assert all("budget" not in client.latest for client in clients)  # within BUDGET_PUSH_S: nothing new
    clients[1].budget_due = True  # a decision about 1002
    await hub._push_budgets()
    assert [client.watch for client in clients if "budget" in client.latest] == ["1002"]
