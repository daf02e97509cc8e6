"""The runtime's Sequencer hook (wfm/runtime.py; wfm/scaleout.py's FloorJudge is the real one).

A sequencer here holds every input back until the test releases it, on a real
SQLite log, a real FloorEngine and the QueueAdapter feed double: the runtime
must hand it every batch instead of applying it, call its lifecycle in order,
and give it the public methods a judge needs (enforce through the feed that
reported the agent, answer or fail a waiting caller, spawn tasks that stop()
cancels).
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import msgspec
import pytest

from support.runtime_helpers import T0, FixedClock, QueueAdapter
from wfm.config import default_data, from_data, merge
from wfm.engine import FloorEngine
from wfm.eventlog import open_log_from_config
from wfm.events import AgentState, AgentStateEvent, BreakKind, BreakRequestEvent, event_to_builtins
from wfm.runtime import EVENT_KIND, FloorChanged, Input, ReplayReport, Runtime, RuntimeStopped


class PauseAction(msgspec.Struct, frozen=True):
    agent: str
    paused: bool
    reason: str | None = None
    cause: str = "test"
    kind: object = None
    purpose: str = "refused"
    decided_at: object = None


class HoldBack:
    """Logs each input as it comes and applies it only when the test says (release)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.held: list[Input] = []
        self.ticks = 0
        self.floor: Runtime | None = None
        self.task: asyncio.Task[None] | None = None

    def bind(self, floor: Runtime) -> None:
        self.calls.append("bind")
        self.floor = floor

    async def prepare(self, *, replay: bool) -> ReplayReport | None:
        self.calls.append(f"prepare replay={replay}")
        return ReplayReport(events=0, skipped=0, last_ts=None)

    def begin(self) -> None:
        self.calls.append("begin")
        assert self.floor is not None
        self.task = self.floor.spawn(asyncio.Event().wait(), "test-sequencer")

    async def sequence(self, batch: Sequence[Input]) -> None:
        assert self.floor is not None
        if "sequence" not in self.calls:
            self.calls.append("sequence")
        for item in batch:
            if item.tick:
                self.ticks += 1
            elif item.event is not None:
                await self.floor.log.append_async(EVENT_KIND, event_to_builtins(item.event), item.event.ts)
                self.held.append(item)

    def release(self) -> None:
        assert self.floor is not None
        for item in self.held:
            assert item.event is not None
            item.answer(self.floor.engine.handle(item.event))
        self.held.clear()
        self.floor.publish(FloorChanged(self.floor.now()))


def ready(agent: str, minutes: float = 0.0) -> AgentStateEvent:
    return AgentStateEvent(ts=T0 + timedelta(minutes=minutes), agent=agent, state=AgentState.READY, source="test-pbx")


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.fixture
def config(tmp_path):
    return from_data(merge(default_data(), {
        "storage": {"url": f"sqlite:///{tmp_path / 'wfm.sqlite'}", "batch_max_delay_ms": 1},
        "floor": {"tick_s": 0.05},
    }), "test")


async def test_the_sequencer_decides_when_the_engine_applies_an_input(config):
    sequencer, adapter, engine = HoldBack(), QueueAdapter(), FloorEngine(config)
    runtime = Runtime(config, engine, open_log_from_config(config), [adapter], FixedClock(T0), sequencer=sequencer)
    assert sequencer.calls == ["bind"]
    report = await runtime.start()
    try:
        assert report is runtime.replay and report is not None and report.events == 0
        adapter.push(ready("1001"))
        await wait_for(lambda: len(sequencer.held) == 1)
        assert sequencer.calls == ["bind", "prepare replay=True", "begin", "sequence"]
        assert "1001" not in engine.floor.agents  # held back: not applied
        assert [r.body["agent"] for r in runtime.log.read(kinds=[EVENT_KIND])] == ["1001"]

        # a caller waits until the sequencer answers its input, with the step the engine made
        request = asyncio.create_task(runtime.submit(BreakRequestEvent(
            ts=T0 + timedelta(minutes=1), agent="1001", kind=BreakKind.SHORT)))
        await wait_for(lambda: len(sequencer.held) == 2)
        await asyncio.sleep(0.05)
        assert not request.done()
        sequencer.release()
        step = await asyncio.wait_for(request, 2)
        assert [o.agent for o in step.outputs] == ["1001"]  # its break_decision
        assert "1001" in engine.floor.agents
        await wait_for(lambda: sequencer.ticks >= 2)  # the ticker keeps coming: its pending flag is cleared
    finally:
        await runtime.stop()
    assert sequencer.task is not None and sequencer.task.cancelled()  # stop() ends the sequencer's tasks


async def test_a_failed_input_reaches_its_caller_and_actions_go_through_the_reporting_feed(config):
    sequencer, adapter = HoldBack(), QueueAdapter()
    adapter.confirm = False  # no state event back for the pause: the test's inputs only
    runtime = Runtime(config, FloorEngine(config), open_log_from_config(config), [adapter], FixedClock(T0),
                      sequencer=sequencer)
    await runtime.start(replay=False)
    try:
        assert sequencer.calls[:2] == ["bind", "prepare replay=False"]
        assert not runtime.reports_agent("1002")
        adapter.push(ready("1002"))
        await wait_for(lambda: len(sequencer.held) == 1)
        assert runtime.reports_agent("1002") and not runtime.reports_agent("1003")  # noted before sequence()

        runtime.enforce(PauseAction(agent="1002", paused=True, reason="小休"))
        await wait_for(lambda: adapter.actions == [("1002", True, "小休")])

        request = asyncio.create_task(runtime.submit(ready("1003", 1)))
        await wait_for(lambda: len(sequencer.held) == 2)
        sequencer.held.pop().fail(RuntimeStopped("judge gone"))
        with pytest.raises(RuntimeStopped, match="judge gone"):
            await asyncio.wait_for(request, 2)
    finally:
        await runtime.stop()
