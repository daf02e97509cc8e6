"""The runtime's ordering and lifecycle promises, on a real SQLite event log.

The engine here is a spy that records what the runtime hands it and checks,
at the moment it is called, what the log already holds: these tests are
about the runtime's contract (log before act, log before publish, one
consumer, clean stop, replay on start), not about the floor rules.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest

from support.runtime_helpers import T0, FixedClock, QueueAdapter, make_config
from wfm.config import default_data, from_data, merge
from wfm.decisions import BreakDecision
from wfm.eventlog import open_log_from_config
from wfm.events import AgentState, AgentStateEvent, BreakKind, BreakRequestEvent
from wfm.runtime import FloorChanged, OutputPublished, Runtime, RuntimeStopped
from wfm.views import FloorView


class Step(msgspec.Struct):
    outputs: list
    actions: list
    released: list = []


class Action(msgspec.Struct):
    agent: str
    paused: bool
    reason: str | None
    cause: str
    kind: str | None = None
    purpose: str = "refused"
    decided_at: object = None


class SpyEngine:
    def __init__(self, log) -> None:
        self.log = log
        self.handled: list = []
        self.ticks: list = []
        self.logged_at_handle: list[int] = []
        self.active = 0
        self.max_active = 0
        self.alerts: list = []

    def handle(self, event):
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        # what is durable in the log right now
        self.logged_at_handle.append(sum(1 for _ in self.log.read(kinds=["event"])))
        self.handled.append(event)
        outputs, actions = [], []
        if isinstance(event, BreakRequestEvent):
            outputs.append(BreakDecision(ts=event.ts, agent=event.agent, kind=event.kind, allowed=False,
                                         rule="QUEUE_NEAR_FULL", detail="idle 2 <= 3", next_window=None))
        if isinstance(event, AgentStateEvent) and event.state is AgentState.SHORT_BREAK:
            actions.append(Action(agent=event.agent, paused=False, reason=None, cause="refused pause"))
        self.active -= 1
        return Step(outputs, actions)

    def tick(self, now):
        self.ticks.append(now)
        return Step([], [])

    def release_hold(self, agent, ts, *, reason="not_enacted", allowed_at=None):
        return Step([], [])

    def add_alert(self, alert):
        self.alerts.append(alert)

    def keep_break(self, agent):
        return False

    def known_agent(self, agent):
        return any(getattr(e, "agent", None) == agent for e in self.handled)

    def floor_data(self, now, *, feeds=(), agents=True):
        return msgspec.to_builtins(self.floor_view(now, feeds=feeds))

    def floor_view(self, now, *, feeds=()):
        return FloorView(ts=now, idle_agents=0, idle_threshold=3, short_break_blocked=True, agents_signed_in=0,
                         agents_on_post=0, agents_on_short_break=0, agents_at_meal=0, calls_waiting=0,
                         longest_wait_s=None, occupancy=None, service_level_today=None, service_level_15m=None,
                         service_level_target=0.8, asa_s=None, abandon_rate=None, queues=[], agents=[],
                         alerts=[], break_queue=[], feeds=list(feeds))

    def agent_budget(self, agent, now):
        raise KeyError(agent)


def state(agent, st, minutes=0.0):
    return AgentStateEvent(ts=T0 + timedelta(minutes=minutes), agent=agent, state=st, source="test-pbx")


async def wait_for(predicate, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def _open_files() -> list[str]:
    import os

    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return names


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)


async def test_event_is_durable_before_the_engine_sees_it(config):
    log = open_log_from_config(config)
    engine = SpyEngine(log)
    adapter = QueueAdapter()
    runtime = Runtime(config, engine, log, [adapter], FixedClock(T0))
    await runtime.start()
    for i in range(5):
        adapter.push(state(f"10{i}", AgentState.READY, i))
    await wait_for(lambda: len(engine.handled) == 5)
    # each event was in the log when the engine was handed it
    assert all(count >= i + 1 for i, count in enumerate(engine.logged_at_handle))
    assert [e.agent for e in engine.handled] == ["100", "101", "102", "103", "104"]
    assert engine.max_active == 1
    await runtime.stop()


async def test_decision_logged_before_published_and_submit_returns_step(config):
    log = open_log_from_config(config)
    engine = SpyEngine(log)
    runtime = Runtime(config, engine, log, [], FixedClock(T0))
    seen: list = []

    def subscriber(update):
        if isinstance(update, OutputPublished):
            decisions = [r.body for r in log.read(kinds=["decision"])]
            seen.append((update.output, decisions))

    unsubscribe = runtime.subscribe(subscriber)
    await runtime.start()
    result = await runtime.submit(BreakRequestEvent(ts=T0, agent="1001", kind=BreakKind.SHORT))
    assert [o.rule for o in result.outputs] == ["QUEUE_NEAR_FULL"]
    assert len(seen) == 1
    output, logged = seen[0]
    assert msgspec.to_builtins(output) in logged
    unsubscribe()
    await runtime.submit(BreakRequestEvent(ts=T0, agent="1002", kind=BreakKind.SHORT))
    assert len(seen) == 1  # unsubscribed: nothing more
    await runtime.stop()


async def test_each_batch_is_committed_without_waiting_out_the_batch_delay(tmp_path):
    # a ten-minute group-commit delay: the runtime marks the last record of each group it hands
    # the log (events, then decisions) `flush`, so a request is decided at once all the same
    config = from_data(merge(default_data(), {"storage": {"url": f"sqlite:///{tmp_path / 'wfm.sqlite'}",
                                                          "batch_max_delay_ms": 600_000}}), "test")
    log = open_log_from_config(config)
    runtime = Runtime(config, SpyEngine(log), log, [], FixedClock(T0))
    await runtime.start()
    result = await asyncio.wait_for(runtime.submit(BreakRequestEvent(ts=T0, agent="1001", kind=BreakKind.SHORT)),
                                    60)  # a hang guard, not a speed bound
    assert [o.rule for o in result.outputs] == ["QUEUE_NEAR_FULL"]
    assert [r.kind for r in log.read()] == ["event", "decision"]
    await runtime.stop()


async def test_enforcement_action_sent_and_logged(config):
    log = open_log_from_config(config)
    adapter = QueueAdapter()
    adapter.fail_actions = True
    runtime = Runtime(config, SpyEngine(log), log, [adapter], FixedClock(T0))
    await runtime.start()
    adapter.push(state("1001", AgentState.READY))
    adapter.push(state("1001", AgentState.SHORT_BREAK, 1))
    await wait_for(lambda: adapter.actions)
    # every step is a log record: "sent", then (the adapter refuses) "failed" with the PBX's message
    await wait_for(lambda: any(r.body.get("outcome") == "failed" for r in log.read(kinds=["action"])))
    actions = [r.body for r in log.read(kinds=["action"])]
    assert adapter.actions == [("1001", False, None)]
    assert [a["outcome"] for a in actions] == ["sent", "failed"]
    failed = actions[1]
    assert failed["agent"] == "1001" and failed["ok"] is False and failed["cause"] == "refused pause"
    assert runtime.action_health()["failed"] == 1
    await runtime.stop()


async def test_engine_not_called_when_event_cannot_be_logged(config):
    log = open_log_from_config(config)
    log.append("event", {"type": "noop"}, T0)  # make the file exist
    log.close()
    from wfm.eventlog import LogWriteError, open_log

    readonly = open_log(config.storage.url, readonly=True)
    engine = SpyEngine(readonly)
    runtime = Runtime(config, engine, readonly, [], FixedClock(T0))
    await runtime.start(replay=False)
    with pytest.raises(LogWriteError):
        await runtime.submit(BreakRequestEvent(ts=T0, agent="1001", kind=BreakKind.SHORT))
    assert engine.handled == []
    assert runtime.events_failed == 1
    await runtime.stop()


async def test_ticks_on_the_runtime_clock(tmp_path):
    from wfm.config import from_data, default_data, merge

    config = from_data(merge(default_data(), {"storage": {"url": f"sqlite:///{tmp_path / 'l.sqlite'}"},
                                              "floor": {"tick_s": 0.02}}))
    log = open_log_from_config(config)
    engine = SpyEngine(log)
    runtime = Runtime(config, engine, log, [], FixedClock(T0))
    await runtime.start()
    await wait_for(lambda: len(engine.ticks) >= 3)
    # the tick is a watermark: the runtime clock less the reorder window
    assert all(t == T0 - timedelta(seconds=config.floor.reorder_window_s) for t in engine.ticks)
    await runtime.stop()


async def test_stop_leaves_no_task_and_closes_log_and_feeds(config):
    log = open_log_from_config(config)
    adapter = QueueAdapter()
    runtime = Runtime(config, SpyEngine(log), log, [adapter], FixedClock(T0))
    before = asyncio.all_tasks()
    await runtime.start()
    adapter.push(state("1001", AgentState.READY))
    await asyncio.sleep(0.05)
    assert any("wfm.sqlite" in f for f in _open_files())  # the check below can fail
    await asyncio.wait_for(runtime.stop(), 30)  # returns (a wait bound, not a speed test)
    assert asyncio.all_tasks() - before == set()
    assert adapter.closed
    assert log._closed
    assert not [f for f in _open_files() if "wfm.sqlite" in f]
    with pytest.raises(RuntimeStopped):
        await runtime.submit(BreakRequestEvent(ts=T0, agent="1001", kind=BreakKind.SHORT))


async def test_restart_replays_logged_events_without_repeating_outputs(config):
    log = open_log_from_config(config)
    adapter = QueueAdapter()
    adapter.confirm = False  # no PBX answer event: the log holds exactly the three events below
    engine1 = SpyEngine(log)
    first = Runtime(config, engine1, log, [adapter], FixedClock(T0))
    await first.start()
    adapter.push(state("1001", AgentState.READY))
    adapter.push(state("1001", AgentState.SHORT_BREAK, 1))
    await wait_for(lambda: len(engine1.handled) == 2)
    await first.submit(BreakRequestEvent(ts=T0 + timedelta(minutes=2), agent="1002", kind=BreakKind.SHORT))
    await wait_for(lambda: any(True for _ in log.read(kinds=["action"])))
    await first.stop()

    log2 = open_log_from_config(config)
    decisions_before = log2.count(kinds=["decision"])
    engine2 = SpyEngine(log2)
    adapter2 = QueueAdapter()
    second = Runtime(config, engine2, log2, [adapter2], FixedClock(T0 + timedelta(minutes=5)))
    report = await second.start()
    assert report.events == 3 and report.skipped == 0
    assert [type(e).__name__ for e in engine2.handled] == ["AgentStateEvent", "AgentStateEvent", "BreakRequestEvent"]
    await asyncio.sleep(0.05)
    assert adapter2.actions == []  # replay does not re-enforce
    assert log2.count(kinds=["decision"]) == decisions_before  # nor re-log outputs
    assert second.known_agent("1001")
    await second.stop()
    assert log2.verify().ok


async def test_floor_view_carries_feed_health(config):
    log = open_log_from_config(config)
    adapter = QueueAdapter("pbx-a")
    runtime = Runtime(config, SpyEngine(log), log, [adapter], FixedClock(T0))
    await runtime.start()
    view = runtime.floor_view()
    assert [(f.source, f.connected) for f in view.feeds] == [("pbx-a", True)]
    changes: list = []
    runtime.subscribe(lambda u: changes.append(u) if isinstance(u, FloorChanged) else None)
    adapter.push(state("1001", AgentState.READY))
    await wait_for(lambda: changes)
    await runtime.stop()


async def test_tick_ahead_of_a_late_event_is_marked_so_replay_matches_live(tmp_path):
    from wfm.config import from_data, default_data, merge

    config = from_data(merge(default_data(), {"storage": {"url": f"sqlite:///{tmp_path / 'l.sqlite'}"},
                                              "floor": {"tick_s": 0.02}}))
    log = open_log_from_config(config)
    engine = SpyEngine(log)
    adapter = QueueAdapter()
    clock = FixedClock(T0 + timedelta(seconds=10))
    runtime = Runtime(config, engine, log, [adapter], clock)
    await runtime.start()
    await wait_for(lambda: engine.ticks)
    adapter.push(state("1001", AgentState.READY, 5 / 60))  # ts T0+5 s: behind the ticked clock
    adapter.push(state("1002", AgentState.READY, 20 / 60))  # ts T0+20 s: ahead, needs no marker
    await wait_for(lambda: len(engine.handled) == 2)
    await runtime.stop()

    records = [(r.kind, r.body.get("type"), r.ts) for r in open_log_from_config(config).read()]
    kinds = [(k, t) for k, t, _ in records]
    assert kinds == [("audit", "tick"), ("event", "agent_state"), ("event", "agent_state")]
    assert records[0][2] == T0 + timedelta(seconds=8)  # the tick: clock less the 2 s reorder window

    replayed = SpyEngine(open_log_from_config(config))
    again = Runtime(config, replayed, open_log_from_config(config), [], FixedClock(T0 + timedelta(seconds=30)))
    report = await again.replay_log()
    assert report.events == 2
    assert replayed.ticks == [T0 + timedelta(seconds=8)]  # the tick came back, before the late event
    await again.log.aclose()


async def test_replay_starts_at_the_previous_floor_day(config):
    log = open_log_from_config(config)
    for days_ago in (3, 1, 0):
        event = state(f"20{days_ago}", AgentState.READY, -days_ago * 24 * 60)
        log.append("event", msgspec.to_builtins(event), event.ts)
    engine = SpyEngine(log)
    runtime = Runtime(config, engine, log, [], FixedClock(T0))
    report = await runtime.replay_log()
    assert [e.agent for e in engine.handled] == ["201", "200"]  # yesterday and today, not 3 days ago
    assert report.events == 2 and report.last_ts == T0
    log.close()


async def test_floor_follows_a_pbx_clock_that_runs_behind(config):
    log = open_log_from_config(config)
    engine = SpyEngine(log)
    adapter = QueueAdapter()
    clock = FixedClock(T0 + timedelta(seconds=30))  # ours runs 30 s ahead of the PBX
    runtime = Runtime(config, engine, log, [adapter], clock)
    await runtime.start()
    assert runtime.now() == T0 + timedelta(seconds=30)
    for i in range(24):
        adapter.push(state(f"1{i:03d}", AgentState.READY, i / 600))  # PBX ts: T0 + i/10 s
    await wait_for(lambda: len(engine.handled) == 24)
    assert runtime.pbx_skew_s == pytest.approx(-30 + 1.2, abs=1.5)
    assert abs((runtime.now() - T0).total_seconds()) < 3  # ticks and API events now on the PBX's time
    result = await runtime.submit(BreakRequestEvent(ts=runtime.now(), agent="1000", kind=BreakKind.SHORT))
    assert abs((result.outputs[0].ts - T0).total_seconds()) < 3
    await runtime.stop()


async def test_small_clock_differences_are_jitter_not_skew(config):
    log = open_log_from_config(config)
    engine = SpyEngine(log)
    adapter = QueueAdapter()
    clock = FixedClock(T0)
    runtime = Runtime(config, engine, log, [adapter], clock)
    await runtime.start()
    for i in range(24):
        adapter.push(AgentStateEvent(ts=T0 - timedelta(milliseconds=300 * (i % 3)), agent=f"1{i:03d}",
                                     state=AgentState.READY))
    await wait_for(lambda: len(engine.handled) == 24)
    assert runtime.pbx_skew_s == 0.0 and runtime.now() == T0
    await runtime.stop()
