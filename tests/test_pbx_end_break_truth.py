"""An end_break shows PBX truth, never what was asked for (issue 15 point 3; docs/interfaces.md §2, §7).

Against the simulated Asterisk AMI server (real sockets, the AMI adapter, the
runtime, a SQLite log): where the feed can be commanded, a supervisor's
end_break leaves the agent on the break, marked ending, until the feed reports
the unpause; a write-less manager user's refused unpause leaves the break
running as the PBX says — never a `ready` on the floor, never a second decision
for the same break. Replay (no feed) still ends the break at the override's ts.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest
from test_pbx_enactment import SECRET, Floor, _api, _call, _token, floor_config, wait_until

from telephony.ami.client import AmiAdapter
from wfm.commands.feeds import ami_settings
from wfm.config import default_data, from_data
from wfm.decisions import BreakDecision
from wfm.engine import FloorEngine
from wfm.enactment import Outcome
from wfm.eventlog import open_log_from_config
from wfm.events import AgentState, AgentStateEvent, OverrideAction, OverrideEvent, ShiftEvent
from wfm.runtime import Runtime


class Sampler:
    """Samples the agent's state on the floor view every few ms, in the floor's own loop."""

    def __init__(self, floor: Floor, agent: str) -> None:
        self.floor, self.agent = floor, agent
        self.samples: list[tuple[float, AgentState | None]] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self.floor.floor_state(self.agent)))
            await asyncio.sleep(0.002)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> list[tuple[float, AgentState | None]]:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.samples


def decisions_for(floor: Floor, agent: str) -> list[dict]:
    return [r.body for r in floor.log.read(kinds=["decision"])
            if r.body.get("agent") == agent and r.body.get("type") == "break_decision"]


async def _on_short_break(floor: Floor) -> str:
    agent = floor.ready_agent()
    floor.sim.set_paused(agent, True, "小休")  # paused on the phone: judged once, as a request
    await wait_until(lambda: floor.floor_state(agent) is AgentState.SHORT_BREAK, timeout=20)
    # the floor shows the break as soon as the engine acted; its decision reaches the log just after
    await wait_until(lambda: decisions_for(floor, agent), timeout=20)
    return agent


async def test_a_refused_end_break_never_shows_ready_and_is_not_judged_again(tmp_path):
    async with Floor(floor_config(tmp_path), username="reader") as floor:
        agent = await _on_short_break(floor)
        brk = floor.engine.floor.agents[agent].brk
        assert brk is not None
        judged = decisions_for(floor, agent)
        assert len(judged) == 1
        sampler = Sampler(floor, agent)
        sampler.start()
        result, pending = await floor.runtime.submit_enacted(OverrideEvent(
            ts=floor.runtime.now(), supervisor="supervisor", agent=agent, action=OverrideAction.END_BREAK))
        assert result.outputs == ()  # end_break prints nothing unless a rule fires
        assert floor.engine.floor.agents[agent].brk is brk and brk.ending is not None  # shown, marked ending
        [outcome] = [await asyncio.wait_for(p, 10) for p in pending]
        assert outcome.outcome is Outcome.FAILED and outcome.detail == "Permission denied"
        await asyncio.sleep(1.0)  # the resync after the failure has come and gone
        samples = await sampler.stop()
        assert len(samples) > 50
        assert [s for s in samples if s[1] is not AgentState.SHORT_BREAK] == []
        # the same break continues, no longer ending; no second decision for it
        assert floor.engine.floor.agents[agent].brk is brk and brk.ending is None
        assert decisions_for(floor, agent) == judged
        assert floor.sim.model.state_of(agent) is AgentState.SHORT_BREAK


async def test_a_restart_rebuilds_the_refused_end_break_as_the_same_running_break(tmp_path):
    async with Floor(floor_config(tmp_path), username="reader") as floor:
        agent = await _on_short_break(floor)
        before = floor.engine.floor.agents[agent]
        start = before.brk.start
        taken = floor.engine.floor.budget_bucket(before, start).short_count
        result, pending = await floor.runtime.submit_enacted(OverrideEvent(
            ts=floor.runtime.now(), supervisor="supervisor", agent=agent, action=OverrideAction.END_BREAK))
        [outcome] = [await asyncio.wait_for(p, 10) for p in pending]
        assert outcome.outcome is Outcome.FAILED
        await asyncio.sleep(0.5)  # the resync's snapshot is logged too
        port = floor.server.port  # closed below: the restarted feed only retries, the log rebuilds the floor
    # the log holds the override, the failed unpause and the resync's pause: the floor rebuilt from it
    # (a commandable feed configured, as live) has the one break still running, not a second one
    log = open_log_from_config(floor.config)
    engine = FloorEngine(floor.config)
    adapter = AmiAdapter(ami_settings(floor.config), host="127.0.0.1", port=port,
                         username="reader", secret=SECRET, source="ami:sim", clock=floor.clock)
    again = Runtime(floor.config, engine, log, [adapter], floor.clock)
    await again.start()
    try:
        rec = engine.floor.agents[agent]
        assert rec.state is AgentState.SHORT_BREAK and rec.brk is not None
        assert rec.brk.start == start and rec.brk.ending is None
        assert engine.floor.budget_bucket(rec, start).short_count == taken
    finally:
        await again.stop()


async def test_a_refused_end_break_through_the_api_never_shows_ready_on_the_wall(tmp_path):
    async with Floor(floor_config(tmp_path), username="reader") as floor:
        server = await _api(floor)
        try:
            agent = await _on_short_break(floor)
            token = await _token(server.base_url, "supervisor")
            seen: list[str | None] = []
            stop = asyncio.Event()

            async def sample_wall() -> None:
                while not stop.is_set():
                    status, wall = await _call("GET", server.base_url + "/api/wall")
                    assert status == 200
                    seen.append(next((a["state"] for a in wall["agents"] if a["agent"] == agent), None))

            sampling = asyncio.get_running_loop().create_task(sample_wall())
            status, body = await _call("POST", server.base_url + "/api/overrides", token,
                                       json={"agent": agent, "action": "end_break"})
            assert status == 502 and "Permission denied" in body["detail"], body
            await asyncio.sleep(1.0)
            stop.set()
            await sampling
            assert len(seen) > 5 and set(seen) == {"short_break"}, seen
            assert len(decisions_for(floor, agent)) == 1
        finally:
            await server.stop()


async def test_an_end_break_shows_ready_only_after_the_pbx_confirms_the_unpause(tmp_path):
    async with Floor(floor_config(tmp_path)) as floor:
        agent = await _on_short_break(floor)
        rec = floor.engine.floor.agents[agent]
        brk = rec.brk
        assert brk is not None and brk.bucket is not None
        used_before = brk.bucket.short_used_s
        unpause = floor.adapter.set_paused
        sent: list[float] = []

        async def slow_unpause(*args, **kwargs):  # the PBX takes its time: the floor must wait for it
            await asyncio.sleep(0.4)
            sent.append(time.monotonic())
            return await unpause(*args, **kwargs)

        floor.adapter.set_paused = slow_unpause
        sampler = Sampler(floor, agent)
        sampler.start()
        asked = floor.runtime.now()
        result, pending = await floor.runtime.submit_enacted(OverrideEvent(
            ts=asked, supervisor="supervisor", agent=agent, action=OverrideAction.END_BREAK))
        assert floor.floor_state(agent) is AgentState.SHORT_BREAK and brk.ending is not None
        [outcome] = [await asyncio.wait_for(p, 10) for p in pending]
        assert outcome.outcome is Outcome.CONFIRMED
        await wait_until(lambda: floor.floor_state(agent) is AgentState.READY)
        await asyncio.sleep(0.05)  # the sampler sees it too
        samples = await sampler.stop()
        first_ready = next((at for at, state in samples if state is AgentState.READY), None)
        assert first_ready is not None, samples[-5:]
        assert sent and first_ready >= sent[0]  # not before the PBX was even asked
        assert all(state is AgentState.SHORT_BREAK for at, state in samples if at < sent[0])
        # the break's minutes count until the override's ts, not until the confirmation
        assert rec.brk is None
        assert brk.bucket.short_used_s - used_before == pytest.approx(asked.timestamp() - brk.start, abs=1e-6)
        assert len(decisions_for(floor, agent)) == 1


def _engine_on_break(deferred: bool):
    engine = FloorEngine(from_data(default_data(), "test"))
    if deferred:
        engine.defer_break_end = lambda agent: True
    start = datetime(2027, 1, 4, 9, 0, tzinfo=engine.config.floor.tz)
    engine.handle(ShiftEvent(ts=start, agent="a1", start=start, end=start + timedelta(hours=8)))
    engine.handle(AgentStateEvent(ts=start, agent="a1", state=AgentState.READY))
    engine.handle(AgentStateEvent(ts=start + timedelta(minutes=30), agent="a1", state=AgentState.SHORT_BREAK))
    return engine, start + timedelta(minutes=30)


def test_replay_without_a_feed_ends_the_break_at_the_override_ts():
    engine, began = _engine_on_break(deferred=False)
    ended = began + timedelta(minutes=6)
    step = engine.handle(OverrideEvent(ts=ended, supervisor="s", agent="a1", action=OverrideAction.END_BREAK))
    rec = engine.floor.agents["a1"]
    assert rec.state is AgentState.READY and rec.brk is None
    assert [a.paused for a in step.actions] == [False]


def test_a_deferred_end_break_ends_at_the_override_ts_when_the_feed_confirms_and_continues_when_refused():
    engine, began = _engine_on_break(deferred=True)
    rec = engine.floor.agents["a1"]
    brk = rec.brk
    assert brk is not None and brk.bucket is not None
    asked = began + timedelta(minutes=6)
    step = engine.handle(OverrideEvent(ts=asked, supervisor="s", agent="a1", action=OverrideAction.END_BREAK))
    assert rec.state is AgentState.SHORT_BREAK and rec.brk is brk and brk.ending == asked.timestamp()
    assert [a.paused for a in step.actions] == [False] and step.outputs == ()
    assert engine.keep_break("a1") and brk.ending is None  # refused: the break continues, as the PBX says
    assert not engine.keep_break("a1")
    again = asked + timedelta(minutes=2)
    engine.handle(OverrideEvent(ts=again, supervisor="s", agent="a1", action=OverrideAction.END_BREAK))
    confirmed = again + timedelta(seconds=3)
    step = engine.handle(AgentStateEvent(ts=confirmed, agent="a1", state=AgentState.READY))
    assert rec.state is AgentState.READY and rec.brk is None
    assert not [o for o in step.outputs if isinstance(o, BreakDecision)]
    assert brk.bucket.short_used_s == (again - began).total_seconds()  # until the override's ts
