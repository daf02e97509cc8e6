"""The AMI adapter against the floor simulator's AMI server: not a single parse error, a sane floor."""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import pytest

from telephony.ami.client import AmiAdapter
from wfm.config import load_config
from wfm.events import AgentStateEvent, CallEvent, QueueStatusEvent, ResyncEvent
from wfm.commands.feeds import ami_settings

simulator = pytest.importorskip("pbxsim.ami_server")


@pytest.fixture
def config():
    return load_config()


@pytest.fixture
async def floor(config):
    from pbxsim.clock import SimClock

    start = datetime(2027, 1, 4, 10, 30, tzinfo=config.floor.tz)
    clock = SimClock(start, speed=300.0)
    sim = simulator.FloorSimulation(config, clock, tick_s=0.02)
    server = simulator.AmiServer(sim, users={"wfm": "sim-secret"})
    await server.start()
    yield server, sim, clock
    await server.close()


async def collect(adapter, seconds):
    events = []

    async def consume():
        async for event in adapter.stream():
            events.append(event)

    task = asyncio.get_running_loop().create_task(consume())
    await asyncio.sleep(seconds)
    await adapter.close()
    await asyncio.wait_for(task, 5)
    return events


async def test_simulator_stream_parses_without_a_single_error(config, floor):
    server, sim, clock = floor
    adapter = AmiAdapter(ami_settings(config), host="127.0.0.1", port=server.port, username="wfm", secret="sim-secret", source="ami:sim", clock=clock)
    events = await collect(adapter, 2.5)
    assert adapter.skipped == 0
    assert isinstance(events[0], ResyncEvent) and events[0].phase == "begin"
    end = next(i for i, e in enumerate(events) if isinstance(e, ResyncEvent) and e.phase == "end")
    snapshot_agents = {e.agent for e in events[:end] if isinstance(e, AgentStateEvent)}
    assert snapshot_agents and snapshot_agents <= set(sim.model.agent_ids)  # members signed in at 10:30
    assert {e.queue for e in events[:end] if isinstance(e, QueueStatusEvent)} == set(sim.queues)
    live = events[end + 1 :]
    kinds = Counter(e.event.value for e in live if isinstance(e, CallEvent))
    assert kinds["offered"] > 0 and kinds["answered"] > 0
    assert all(e.ts.utcoffset() is not None for e in live)


async def test_queue_pause_reaches_the_simulated_pbx(config, floor):
    server, sim, clock = floor
    adapter = AmiAdapter(ami_settings(config), host="127.0.0.1", port=server.port, username="wfm", secret="sim-secret", source="ami:sim", clock=clock)
    stream = adapter.stream().__aiter__()
    while True:
        event = await asyncio.wait_for(anext(stream), 10)
        if isinstance(event, ResyncEvent) and event.phase == "end":
            break
    agent = sim.model.agent_ids[0]
    result = await adapter.set_paused(agent, True, "小休")
    seen = None
    for _ in range(2000):
        event = await asyncio.wait_for(anext(stream), 10)
        if isinstance(event, AgentStateEvent) and event.agent == agent and event.reason == "小休":
            seen = event
            break
    await adapter.close()
    assert result.ok, result.detail
    assert seen is not None and seen.state.value == "short_break"
