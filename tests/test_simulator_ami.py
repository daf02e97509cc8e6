"""The simulator's AMI server over real TCP: read with the product's own AMI parser and mapper, and
fed to the AMI adapter (not a single parse error, a sane floor)."""
from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from datetime import datetime, timezone

import pytest

from telephony.ami.mapping import AmiMapper
from telephony.ami.protocol import AmiBanner, AmiError, AmiMessage, AmiParser
from pbxsim.ami_codec import ActionError, ActionReader
from pbxsim.ami_server import AmiServer, FloorSimulation
from pbxsim.clock import SimClock
from wfm.config import load_config
from wfm.events import AgentState, AgentStateEvent, CallEvent, QueueStatusEvent
from wfm.commands.feeds import ami_settings
from telephony.ami.client import AmiAdapter
from wfm.events import ResyncEvent

USERS = {"wfm": "s3cret"}


class Client:
    """A minimal manager client: raw bytes kept, messages parsed by telephony.ami.protocol."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = AmiParser()
        self.items: list = []
        self.raw = bytearray()
        self.closed = False

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, **headers: str) -> None:
        text = "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(text.encode("utf-8"))

    async def pump(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while not self.closed and loop.time() < end:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), max(0.01, end - loop.time()))
            except TimeoutError:
                break
            if not data:
                self.closed = True
                break
            self.raw += data
            self.items += self.parser.feed(data)

    async def until(self, predicate, timeout: float = 5.0):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            for item in self.items:
                if isinstance(item, AmiMessage) and predicate(item):
                    return item
            if self.closed:
                break
            await self.pump(0.05)
        raise AssertionError("expected AMI message did not arrive")

    async def response(self, action_id: str, timeout: float = 5.0) -> AmiMessage:
        return await self.until(lambda m: m.response is not None and m.get("ActionID") == action_id, timeout)

    async def login(self, action_id: str = "login-1") -> AmiMessage:
        self.send(Action="Login", Username="wfm", Secret=USERS["wfm"], ActionID=action_id)
        return await self.response(action_id)

    def messages(self) -> list[AmiMessage]:
        return [i for i in self.items if isinstance(i, AmiMessage)]

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


@pytest.fixture
def config():
    return load_config()


@pytest.fixture
async def server(config):
    start = datetime(2027, 1, 4, 10, 30, tzinfo=config.floor.tz)
    sim = FloorSimulation(config, SimClock(start, speed=300.0), tick_s=0.02)
    srv = AmiServer(sim, users=USERS)
    await srv.start()
    yield srv
    await srv.close()


def assert_strict_framing(raw: bytes) -> None:
    """Banner line, then messages of `Key: Value\\r\\n` lines each ended by a blank line, all UTF-8."""
    text = raw.decode("utf-8")
    assert text.startswith("Asterisk Call Manager/7.0.3\r\n")
    body = text[len("Asterisk Call Manager/7.0.3\r\n"):]
    assert body.endswith("\r\n\r\n") or body == ""
    for block in body.split("\r\n\r\n")[:-1]:
        assert block, "empty message"
        for line in block.split("\r\n"):
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*: [^\r\n]*", line), line
    assert "\n" not in body.replace("\r\n", "")


async def test_banner_login_and_fully_booted(server):
    client = await Client.connect(server.port)
    reply = await client.login("a1")
    assert reply.response == "Success" and reply.get("Message") == "Authentication accepted"
    await client.until(lambda m: m.event == "FullyBooted")
    assert isinstance(client.items[0], AmiBanner) and client.items[0].version == "7.0.3"
    await client.close()


async def test_md5_challenge_login(server):
    client = await Client.connect(server.port)
    client.send(Action="Challenge", AuthType="MD5", ActionID="c1")
    challenge = (await client.response("c1")).get("Challenge")
    assert challenge and challenge.isdigit()
    key = hashlib.md5((challenge + USERS["wfm"]).encode()).hexdigest()
    client.send(Action="Login", AuthType="MD5", Username="wfm", Key=key, ActionID="c2")
    assert (await client.response("c2")).response == "Success"
    await client.close()


async def test_wrong_secret_is_refused_and_closed(server):
    client = await Client.connect(server.port)
    client.send(Action="Login", Username="wfm", Secret="nope", ActionID="bad")
    reply = await client.response("bad")
    assert reply.response == "Error" and reply.get("Message") == "Authentication failed"
    await client.pump(1.0)
    assert client.closed


async def test_actions_before_login_are_denied_with_action_id(server):
    client = await Client.connect(server.port)
    client.send(Action="QueueStatus", ActionID="early")
    reply = await client.response("early")
    assert reply.response == "Error" and "denied" in reply.get("Message").lower()
    await client.pump(0.3)
    assert not [m for m in client.messages() if m.event and m.event.startswith("Queue")]
    await client.close()


async def test_ping_unknown_action_and_logoff(server):
    client = await Client.connect(server.port)
    await client.login()
    client.send(Action="Ping", ActionID="p")
    pong = await client.response("p")
    assert pong.get("Ping") == "Pong" and float(pong.get("Timestamp")) > 0
    client.send(Action="NoSuchThing", ActionID="u")
    assert (await client.response("u")).response == "Error"
    client.send(Action="Logoff", ActionID="bye")
    assert (await client.response("bye")).response == "Goodbye"
    await client.pump(1.0)
    assert client.closed


async def test_queue_status_snapshot(server, config):
    client = await Client.connect(server.port)
    await client.login()
    client.send(Action="QueueStatus", ActionID="qs")
    start = await client.response("qs")
    assert start.response == "Success" and start.get("EventList") == "start"
    complete = await client.until(lambda m: m.event == "QueueStatusComplete")
    assert complete.get("ActionID") == "qs" and complete.get("EventList") == "Complete"
    items = [m for m in client.messages() if m.get("ActionID") == "qs" and m.event in ("QueueParams", "QueueMember", "QueueEntry")]
    assert int(complete.get("ListItems")) == len(items)
    params = {m.get("Queue"): m for m in items if m.event == "QueueParams"}
    assert set(params) == set(config.simulator.queues)
    members = [m for m in items if m.event == "QueueMember"]
    assert len({m.get("Name") for m in members}) >= 20  # mid-morning: the day shift is signed in
    assert all(m.get("Location") == f"PJSIP/{m.get('Name')}" for m in members)
    for queue, p in params.items():
        entries = [m for m in items if m.event == "QueueEntry" and m.get("Queue") == queue]
        assert int(p.get("Calls")) == len(entries)
    await client.close()


async def test_live_events_parse_and_map_without_a_single_error(server, config):
    client = await Client.connect(server.port)
    await client.login()
    client.send(Action="QueueStatus", ActionID="snap")
    await client.pump(4.0)  # 4 s at 300x = 20 simulated minutes
    assert_strict_framing(bytes(client.raw))
    assert not [i for i in client.items if isinstance(i, AmiError)]
    counts = Counter(m.event for m in client.messages() if m.event)
    for event in ("QueueMemberStatus", "QueueCallerJoin", "QueueCallerLeave", "AgentCalled", "AgentConnect", "AgentComplete"):
        assert counts[event] > 0, event
    stamps = [float(m.get("Timestamp")) for m in client.messages() if m.event and m.get("Privilege") == "agent,all"]
    assert stamps == sorted(stamps)
    assert re.fullmatch(r"\d+\.\d{6}", [m.get("Timestamp") for m in client.messages() if m.get("Timestamp")][-1])
    assert datetime(2027, 1, 4, 2, 30, tzinfo=timezone.utc).timestamp() <= stamps[0] < stamps[-1]
    # the product's AMI mapper reads the whole stream without a mapping error
    mapper = AmiMapper(ami_settings(config), source="sim")
    received = datetime(2027, 1, 4, 2, 30, tzinfo=timezone.utc)
    events = []
    for message in client.messages():
        events += mapper.map(message, received)
    kinds = Counter(type(e).__name__ for e in events)
    assert kinds["AgentStateEvent"] and kinds["CallEvent"] and kinds["QueueStatusEvent"]
    assert {e.agent for e in events if isinstance(e, AgentStateEvent)} <= set(server.simulation.model.agent_ids)
    assert {e.event.value for e in events if isinstance(e, CallEvent)} >= {"offered", "answered", "completed"}
    assert all(e.waiting >= 0 for e in events if isinstance(e, QueueStatusEvent))
    await client.close()


async def test_queue_pause_is_obeyed_and_events_follow(server):
    sim = server.simulation
    client = await Client.connect(server.port)
    await client.login()
    await client.pump(0.2)
    ready = [a for a in sim.model.agent_ids if sim.model.state_of(a) is AgentState.READY]
    busy = [a for a in sim.model.agent_ids if sim.model.state_of(a) is AgentState.ON_CALL]
    target = ready[0] if ready else busy[0]
    client.send(Action="QueuePause", Interface=f"PJSIP/{target}", Paused="true", Reason="小休", ActionID="pause-1")
    reply = await client.response("pause-1")
    assert reply.response == "Success"
    pause = await client.until(lambda m: m.event == "QueueMemberPause" and m.get("MemberName") == target and m.get("Paused") == "1", 10)
    assert pause.get("PausedReason") == "小休" and pause.get("Interface") == f"PJSIP/{target}"
    client.send(Action="QueuePause", Interface=f"PJSIP/{target}", Paused="false", ActionID="pause-2")
    assert (await client.response("pause-2")).response == "Success"
    await client.until(lambda m: m.event == "QueueMemberPause" and m.get("MemberName") == target and m.get("Paused") == "0", 10)
    assert sim.model.state_of(target) not in (AgentState.SHORT_BREAK, AgentState.MEAL, AgentState.NOT_READY)
    client.send(Action="QueuePause", Interface="PJSIP/9999", Paused="true", ActionID="pause-3")
    missing = await client.response("pause-3")
    assert missing.response == "Error" and missing.get("Message") == "Interface not found"
    client.send(Action="QueuePause", Paused="true", ActionID="pause-4")
    assert (await client.response("pause-4")).response == "Error"
    await client.close()


async def test_two_clients_see_the_same_events_and_events_off_silences(server):
    first = await Client.connect(server.port)
    second = await Client.connect(server.port)
    quiet = await Client.connect(server.port)
    await first.login("f")
    await second.login("s")
    quiet.send(Action="Login", Username="wfm", Secret=USERS["wfm"], Events="off", ActionID="q")
    await quiet.response("q")
    await asyncio.gather(first.pump(2.0), second.pump(2.0), quiet.pump(2.0))
    def live(c):
        return [m.headers for m in c.messages() if m.get("Privilege") == "agent,all"]

    a, b = live(first), live(second)
    assert a and b
    lo = max(float(dict(a[0])["Timestamp"]), float(dict(b[0])["Timestamp"]))
    hi = min(float(dict(a[-1])["Timestamp"]), float(dict(b[-1])["Timestamp"]))
    window = lambda ms: [m for m in ms if lo < float(dict(m)["Timestamp"]) < hi]  # noqa: E731
    assert window(a) and window(a) == window(b)  # byte-for-byte the same events, same order
    assert live(quiet) == []
    first.send(Action="Events", EventMask="off", ActionID="off")
    assert (await first.response("off")).get("Events") == "Off"
    for c in (first, second, quiet):
        await c.close()


def test_action_reader_split_at_every_byte_and_bounded():
    data = "Action: QueuePause\r\nInterface: PJSIP/1001\r\nReason: 小休\r\nActionID: 7\r\n\r\nAction: Ping\r\n\r\n".encode()
    for cut in range(len(data) + 1):
        reader = ActionReader()
        items = reader.feed(data[:cut]) + reader.feed(data[cut:])
        assert [i.name for i in items] == ["QueuePause", "Ping"]
        assert items[0].get("reason") == "小休" and items[0].action_id == "7"
    reader = ActionReader(max_bytes=100)
    items = reader.feed(b"Action: X\r\n" + b"Junk: " + b"y" * 500)
    items += reader.feed(b"\r\n\r\nAction: Ping\r\n\r\n")
    assert isinstance(items[0], ActionError) and [i.name for i in items[1:]] == ["Ping"]
    assert isinstance(ActionReader().feed(b"Action: \xff\xfe\r\n\r\n")[0], ActionError)


async def test_floor_rolls_over_to_the_next_day(config):
    start = datetime(2027, 1, 4, 23, 50, tzinfo=config.floor.tz)
    sim = FloorSimulation(config, SimClock(start, speed=3600.0), agents=6, tick_s=0.02)
    days = []
    sim.on_new_day(lambda model: days.append(model.day))
    seen = []
    sim.subscribe(lambda model, happening, frames: seen.append(happening))
    sim.start()
    try:
        await asyncio.sleep(1.0)  # one simulated hour: past the day's end (00:00)
    finally:
        await sim.stop()
    assert days == [datetime(2027, 1, 5).date()]
    assert sim.model.day == days[0] and len(sim.model.shifts) == 6
    assert all(s.start.date() == days[0] for s in sim.model.shifts)


async def test_ami_view_of_the_floor_agrees_with_the_model(server, config):
    """Every adapter tells the same story: the AMI feed, mapped, ends where the model is."""
    sim = server.simulation
    client = await Client.connect(server.port)
    await client.login()
    client.send(Action="QueueStatus", ActionID="snap")
    await client.pump(2.5)
    await sim.stop()  # freeze the floor, then drain what is in flight
    await client.pump(0.5)
    mapper = AmiMapper(ami_settings(config), source="sim")
    received = datetime(2027, 1, 4, 2, 30, tzinfo=timezone.utc)
    last_waiting: dict[str, int] = {}
    for message in client.messages():
        for event in mapper.map(message, received):
            if isinstance(event, QueueStatusEvent):
                last_waiting[event.queue] = event.waiting
    now = sim.model.now
    disagreements = []
    for agent in sim.model.agent_ids:
        truth = sim.model.state_of(agent)
        if truth is AgentState.WRAP_UP:
            truth = AgentState.READY  # Asterisk has no wrap-up state; pbx.wrap_up_s = 0 shows ready at once
        member = mapper.members.get(agent)
        seen = mapper.derive(member, now)[0] if member is not None else AgentState.LOGGED_OUT
        if seen is not truth:
            disagreements.append((agent, truth, seen))
    assert not disagreements
    assert last_waiting == {q: len(sim.model.waiting(q)) for q in sim.model.queues}
    await client.close()


# ── the product's AMI adapter against the simulator's server ──────────────────────────────────────

simulator = pytest.importorskip("pbxsim.ami_server")




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
