"""The simulated floor served as a FreeSWITCH event socket, read by the product's EslAdapter."""
from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from telephony.esl.client import EslAdapter
from telephony.esl.protocol import EslError, EslEvent, EslMessage, EslParser
from pbxsim.ami_server import FloorSimulation
from pbxsim.clock import SimClock
from pbxsim.esl_server import EslServer
from wfm.config import load_config
from wfm.events import AgentState, AgentStateEvent, BadLine, CallEvent, QueueStatusEvent, ResyncEvent
from wfm.commands.feeds import esl_settings

PAUSED = {AgentState.SHORT_BREAK, AgentState.MEAL, AgentState.NOT_READY}


@pytest.fixture
def config():
    return load_config()


@pytest.fixture
async def floor(config):
    clock = SimClock(datetime(2027, 1, 4, 10, 30, tzinfo=config.floor.tz), speed=300.0)
    sim = FloorSimulation(config, clock, tick_s=0.02)
    server = EslServer(sim, password="ClueCon")
    await server.start()
    yield sim, server, clock
    await server.close()


async def _run_adapter(adapter: EslAdapter, seconds: float) -> list:
    got: list = []

    async def pump() -> None:
        async for event in adapter.records():
            got.append(event)

    task = asyncio.get_running_loop().create_task(pump())
    await asyncio.sleep(seconds)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return got


async def test_raw_socket_speaks_event_socket_framing(floor):
    sim, server, _ = floor
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    parser = EslParser()
    items: list = []

    async def read_for(seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            try:
                data = await asyncio.wait_for(reader.read(65536), 0.1)
            except TimeoutError:
                continue
            items.extend(parser.feed(data))

    await read_for(0.2)
    assert items[0].content_type == "auth/request"
    writer.write(b"api callcenter_config agent list\n\n")  # before auth: refused
    writer.write(b"auth ClueCon\n\nevent plain HEARTBEAT CUSTOM callcenter::info\n\napi callcenter_config queue list\n\n")
    await read_for(1.5)
    messages = [i for i in items if isinstance(i, EslMessage)]
    assert [m.reply_text for m in messages if m.content_type == "command/reply"][:3] == [
        "-ERR command not found", "+OK accepted", "+OK event listener enabled plain"]
    queue_list = next(m for m in messages if m.content_type == "api/response")
    assert "general@default|longest-idle-agent" in queue_list.body_text()
    events = [i for i in items if isinstance(i, EslEvent)]
    assert events and all(e.subclass == "callcenter::info" and e.get("Event-Date-Timestamp").isdigit() for e in events)
    assert not [i for i in items if isinstance(i, EslError)]
    writer.write(b"exit\n\n")
    await read_for(0.3)
    assert any(isinstance(i, EslMessage) and i.content_type == "text/disconnect-notice" for i in items)
    writer.close()


async def test_esl_adapter_reads_the_floor_without_error_and_agrees_with_the_model(floor, config):
    sim, server, clock = floor
    adapter = EslAdapter(esl_settings(config), host="127.0.0.1", port=server.port, password="ClueCon", source="esl-sim",
                         clock=clock, yield_skipped=True)
    try:
        got = await _run_adapter(adapter, 3.0)
        assert not [e for e in got if isinstance(e, BadLine)] and adapter.skipped == 0
        assert isinstance(got[0], ResyncEvent) and got[0].phase == "begin"
        kinds = {type(e).__name__ for e in got}
        assert {"AgentStateEvent", "CallEvent", "QueueStatusEvent"} <= kinds
        calls = {e.event.value for e in got if isinstance(e, CallEvent)}
        assert {"offered", "answered", "completed"} <= calls
        assert all(e.ts.utcoffset().total_seconds() == 8 * 3600 for e in got if isinstance(e, AgentStateEvent))

        # pause through the adapter: the model obeys, the event comes back
        ready = [a for a in sim.model.agent_ids if sim.model.state_of(a) is AgentState.READY]
        if ready:
            result = await adapter.set_paused(ready[0], True)
            assert result.ok, result.detail
            # paused at once; an agent a call reached meanwhile stays on it, paused ('On Break'), as in FreeSWITCH
            assert (sim.model.state_of(ready[0]) in PAUSED
                    or sim.model.member_info(ready[0])["pause_flag"] is not None)
            back = await _run_adapter(adapter, 0.5)
            assert any(isinstance(e, AgentStateEvent) and e.agent == ready[0] and e.state is AgentState.SHORT_BREAK
                       for e in back)
            assert (await adapter.set_paused(ready[0], False)).ok
            assert sim.model.state_of(ready[0]) not in PAUSED

        # the ESL view agrees with the model (mod_callcenter has no pause reason, and wrap-up is timed by the adapter)
        await sim.stop()
        await _run_adapter(adapter, 0.3)
        conn_mapper = adapter._conn.mapper if adapter._conn is not None else None
        assert conn_mapper is not None
        now = sim.model.now
        for agent in sim.model.agent_ids:
            truth = sim.model.state_of(agent)
            member = conn_mapper.agents.get(agent)
            seen = conn_mapper.derive(member, now) if member is not None else AgentState.LOGGED_OUT
            if truth in PAUSED:
                assert seen in PAUSED, agent
            elif truth in (AgentState.WRAP_UP, AgentState.READY):
                assert seen in (AgentState.WRAP_UP, AgentState.READY), agent
            else:
                assert seen is truth, agent
        waiting = {e.queue: e.waiting for e in got if isinstance(e, QueueStatusEvent)}
        assert set(waiting) <= {f"{q}@default" for q in sim.model.queues}
    finally:
        await adapter.close()


async def test_wrong_password_refused(floor, config):
    _, server, _ = floor
    adapter = EslAdapter(esl_settings(config), host="127.0.0.1", port=server.port, password="nope", reconnect=False)
    async for _ in adapter.stream():
        pass
    await adapter.close()
    from telephony.reconnect import AuthFailed

    assert isinstance(adapter.failure, AuthFailed)


def test_api_errors_are_freeswitch_shaped(config):
    clock = SimClock(datetime(2027, 1, 4, 10, 30, tzinfo=config.floor.tz), speed=1.0)
    server = EslServer(FloorSimulation(config, clock), password="x")
    assert server.api("callcenter_config agent set status 9999@default 'On Break'").startswith("-ERR Invalid Agent")
    assert server.api("callcenter_config agent set status 1001@default 'Dancing'").startswith("-ERR Invalid Status")
    assert server.api("callcenter_config queue list members nosuch@default").startswith("-ERR Queue not found")
    assert server.api("sofia status").startswith("-ERR")
    assert server.api("callcenter_config tier list").splitlines()[0] == "queue|agent|state|level|position"
    with pytest.raises(ValueError):
        EslServer(FloorSimulation(config, clock), password="")
