"""FreeSWITCH ESL: sans-I/O framing, mod_callcenter mapping, capture replay and the live adapter."""
from __future__ import annotations

import asyncio
import importlib.util
import json
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.adapter import ConnectionState
from telephony.esl.client import EslAdapter
from telephony.esl.mapping import EslMapper, EslMappingError
from telephony.esl.offline import parse_capture
from telephony.esl.protocol import EslError, EslEvent, EslMessage, EslParser, encode_command
from telephony.reconnect import AuthFailed
from wfm.config import default_data, from_data, load_config, merge
from wfm.events import AgentState, AgentStateEvent, BadLine, CallEvent, QueueStatusEvent, ResyncEvent, encode_event
from wfm.commands.feeds import esl_settings

REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO / "sample_data" / "captures" / "esl"


def _builder():
    spec = importlib.util.spec_from_file_location("esl_build_captures", CAPTURES / "build_captures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _builder()


@pytest.fixture(scope="module")
def config():
    return load_config()


def _render(items) -> list[str]:
    return [json.dumps(i.to_json(), ensure_ascii=False) if isinstance(i, BadLine) else encode_event(i).decode() for i in items]


def _frames(items):
    return [(type(i).__name__, getattr(i, "headers", None), getattr(i, "body", None), getattr(i, "reason", None)) for i in items]


# ---- captures and expected outputs -------------------------------------------------


@pytest.mark.parametrize("name", ["callcenter", "callcenter_bad"])
def test_capture_matches_expected_output(config, name):
    data = (CAPTURES / f"{name}.esl").read_bytes()
    expected = (CAPTURES / f"{name}.expected.jsonl").read_text(encoding="utf-8").splitlines()
    assert _render(parse_capture([data], esl_settings(config), f"{name}.esl")) == expected


def test_shipped_captures_are_what_the_builder_writes():
    assert (CAPTURES / "callcenter.esl").read_bytes() == BUILD.clean_capture()
    assert (CAPTURES / "callcenter_bad.esl").read_bytes() == BUILD.bad_capture()


def _window(name: str) -> bytes:
    """A stretch with every kind of message: the first 4 KB of the clean capture (auth, replies,
    listings, events), the last 2.5 KB of the bad one (garbage, bad events, a cut-off body)."""
    data = (CAPTURES / f"{name}.esl").read_bytes()
    if name == "callcenter":
        return data[:4096]
    start = data.index(b"Content-Type: text/event-plain", len(data) - 2500)
    return data[start:]


@pytest.mark.parametrize("name", ["callcenter", "callcenter_bad"])
def test_every_byte_boundary_gives_identical_frames(name):
    data = _window(name)
    whole = EslParser()
    reference = _frames(whole.feed(data) + whole.close())
    assert len(reference) >= 4
    for cut in range(1, len(data)):
        parser = EslParser()
        items = parser.feed(data[:cut]) + parser.feed(data[cut:]) + parser.close()
        assert _frames(items) == reference, f"split at byte {cut}"


@pytest.mark.parametrize("name", ["callcenter", "callcenter_bad"])
def test_byte_by_byte_capture_gives_identical_events(config, name):
    data = (CAPTURES / f"{name}.esl").read_bytes()
    reference = _render(parse_capture([data], esl_settings(config), name))
    assert _render(parse_capture([data[i:i + 1] for i in range(len(data))], esl_settings(config), name)) == reference


def test_utf8_split_inside_a_character_survives():
    data = BUILD.clean_capture()
    marker = "张三".encode()
    url = b"%E5%BC%A0%E4%B8%89"  # URL-encoded inside events; raw UTF-8 in a header block must survive too
    raw = b"Content-Type: api/response\nContent-Length: 7\n\n" + marker + b"|x"[:1]
    at = raw.index(marker) + 1
    parser = EslParser()
    items = parser.feed(raw[:at]) + parser.feed(raw[at:])
    assert items[0].body.decode() == "张三|"
    names = [i.get("CC-Member-CID-Name") for i in EslParser().feed(data) if isinstance(i, EslEvent)]
    assert "张三" in names and url not in b"".join(n.encode() for n in names if n)


# ---- framing rules -----------------------------------------------------------------


def test_headers_only_reply_and_api_body():
    parser = EslParser()
    items = parser.feed(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
                        b"Content-Type: api/response\nContent-Length: 4\n\n+OK\n")
    assert [i.content_type for i in items] == ["command/reply", "api/response"]
    assert items[0].reply_text == "+OK accepted" and items[1].body == b"+OK\n"
    assert items[1].line == 4


def test_crlf_line_endings_are_tolerated():
    items = EslParser().feed(b"Content-Type: command/reply\r\nReply-Text: +OK\r\n\r\n")
    assert isinstance(items[0], EslMessage) and items[0].reply_text == "+OK"


def test_bad_content_length_and_oversize_are_reported_and_skipped():
    parser = EslParser(max_header_bytes=200, max_body_bytes=100)
    items = parser.feed(b"Content-Type: api/response\nContent-Length: ten\n\n"
                        b"Content-Type: api/response\nContent-Length: 5000\n\n" + b"x" * 50 + b"\n\n"
                        b"Content-Type: command/reply\nReply-Text: +OK\n\n")
    assert [type(i).__name__ for i in items] == ["EslError", "EslError", "EslMessage"]
    assert "Content-Length" in items[0].reason and "limit" in items[1].reason
    flood = parser.feed(b"X" * 1000)
    assert len(flood) == 1 and isinstance(flood[0], EslError) and parser.buffered < 10
    assert isinstance(parser.feed(b"\n\nContent-Type: command/reply\nReply-Text: +OK\n\n")[-1], EslMessage)


def test_event_without_name_and_bad_percent_encoding_are_errors():
    def event(body: bytes) -> bytes:
        return b"Content-Type: text/event-plain\nContent-Length: %d\n\n" % len(body) + body
    items = EslParser().feed(event(b"Foo: bar\n\n") + event(b"Event-Name: CUSTOM\nX: %FF%FE\n\n"))
    assert all(isinstance(i, EslError) for i in items)
    assert "Event-Name" in items[0].reason and "UTF-8" in items[1].reason


def test_encode_command_refuses_multiline():
    assert encode_command("api status") == b"api status\n\n"
    with pytest.raises(ValueError):
        encode_command("api status\n\nexit")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_fuzz_random_bytes_only_parser_errors(chunks):
    parser = EslParser(max_header_bytes=512, max_body_bytes=1024)
    for chunk in chunks:
        for item in parser.feed(chunk):
            assert isinstance(item, (EslMessage, EslEvent, EslError))
        assert parser.buffered <= 512 + 1024 + 300
    assert all(isinstance(i, EslError) for i in parser.close())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_capture_yields_only_events_and_badlines(config, data):
    capture = bytearray(BUILD.clean_capture())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(capture) - 1))
        capture[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(capture)))
    items = list(parse_capture([bytes(capture[:cut]), bytes(capture[cut:])], esl_settings(config), "fuzz"))
    for item in items:
        assert isinstance(item, (BadLine, AgentStateEvent, CallEvent, QueueStatusEvent))


# ---- mapping rules -------------------------------------------------------------------


def _event(**fields) -> EslEvent:
    headers = {"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info", "Event-Date-Timestamp": "1799022420000000"}
    headers.update({k.replace("_", "-"): v for k, v in fields.items()})
    return EslEvent(headers, "", 1)


def test_status_and_state_map_per_pbx_mapping(config):
    mapper = EslMapper(esl_settings(config))
    steps = [
        (dict(CC_Action="agent-status-change", CC_Agent="1001@default", CC_Agent_Status="Available"), AgentState.READY),
        (dict(CC_Action="agent-state-change", CC_Agent="1001@default", CC_Agent_State="Receiving"), AgentState.RINGING),
        (dict(CC_Action="agent-state-change", CC_Agent="1001@default", CC_Agent_State="In a queue call"), AgentState.ON_CALL),
        (dict(CC_Action="agent-status-change", CC_Agent="1001@default", CC_Agent_Status="On Break"), AgentState.SHORT_BREAK),
        (dict(CC_Action="agent-status-change", CC_Agent="1001@default", CC_Agent_Status="Logged Out"), AgentState.LOGGED_OUT),
    ]
    for fields, state in steps:
        (out,) = mapper.map_event(_event(**fields))
        assert out.agent == "1001" and out.state is state
    assert mapper.raw_name("1001") == "1001@default"


def test_on_break_state_is_configurable(config):
    other = from_data(merge(default_data(), {"pbx": {"esl_on_break": "not_ready"}}))
    mapper = EslMapper(esl_settings(other))
    (out,) = mapper.map_event(_event(CC_Action="agent-status-change", CC_Agent="7@d", CC_Agent_Status="On Break"))
    assert out.state is AgentState.NOT_READY


def test_wrap_up_is_synthesized_and_ends_early_on_a_new_call(config):
    mapper = EslMapper(esl_settings(config))
    mapper.map_agent_list("name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time\n"
                          "1001@default|x||callback|c|Available|In a queue call|3|30\n+OK\n",
                          datetime(2027, 1, 4, tzinfo=timezone.utc))
    (wrap,) = mapper.map_event(_event(CC_Action="agent-state-change", CC_Agent="1001@default", CC_Agent_State="Waiting"))
    assert wrap.state is AgentState.WRAP_UP
    assert mapper.next_due() == wrap.ts.replace() + (mapper.next_due() - wrap.ts)
    assert (mapper.next_due() - wrap.ts).total_seconds() == 30
    ring = _event(CC_Action="agent-state-change", CC_Agent="1001@default", CC_Agent_State="Receiving",
                  Event_Date_Timestamp="1799022430000000")
    (out,) = mapper.map_event(ring)
    assert out.state is AgentState.RINGING and mapper.next_due() is None


def test_no_wrap_up_when_wrap_time_is_zero(config):
    mapper = EslMapper(esl_settings(config))  # shipped pbx.wrap_up_s = 0, no agent list seen
    mapper.map_event(_event(CC_Action="agent-status-change", CC_Agent="9@d", CC_Agent_Status="Available"))
    mapper.map_event(_event(CC_Action="agent-state-change", CC_Agent="9@d", CC_Agent_State="In a queue call"))
    (out,) = mapper.map_event(_event(CC_Action="agent-state-change", CC_Agent="9@d", CC_Agent_State="Waiting"))
    assert out.state is AgentState.READY


def test_calls_and_waiting_count(config):
    mapper = EslMapper(esl_settings(config))
    (offered,) = mapper.map_event(_event(CC_Action="member-queue-start", CC_Queue="q", CC_Member_UUID="m1"))
    assert offered.event.value == "offered" and offered.call_id == "m1"
    (count,) = mapper.map_event(_event(CC_Action="members-count", CC_Queue="q", CC_Count="3"))
    assert count.waiting == 3
    (ans,) = mapper.map_event(_event(CC_Action="bridge-agent-start", CC_Queue="q", CC_Member_UUID="m1", CC_Agent="5@d",
                                     CC_Member_Joined_Time="100", CC_Agent_Answered_Time="112", CC_Agent_UUID="agent-leg"))
    assert ans.event.value == "answered" and ans.call_id == "m1" and ans.wait_s == 12 and ans.agent == "5"
    (done,) = mapper.map_event(_event(CC_Action="member-queue-end", CC_Queue="q", CC_Member_UUID="m1", CC_Cause="Terminated",
                                      CC_Agent="5@d", CC_Member_Joined_Time="100", CC_Agent_Answered_Time="112",
                                      CC_Member_Leaving_Time="200"))
    assert done.event.value == "completed" and done.talk_s == 88 and done.wait_s == 12
    (gone,) = mapper.map_event(_event(CC_Action="member-queue-end", CC_Queue="q", CC_Member_UUID="m2", CC_Cause="Cancel",
                                      CC_Member_Joined_Time="100", CC_Member_Leaving_Time="140"))
    assert gone.event.value == "abandoned" and gone.wait_s == 40
    assert mapper.map_event(_event(CC_Action="member-queue-start", CC_Queue="q", CC_Member_UUID="m3")) != []
    assert mapper.map_event(EslEvent({"Event-Name": "HEARTBEAT", "Event-Date-Timestamp": "1"}, "", 1)) == []


def test_event_time_is_event_date_timestamp_in_floor_zone(config):
    mapper = EslMapper(esl_settings(config))
    (out,) = mapper.map_event(_event(CC_Action="members-count", CC_Queue="q", CC_Count="0"))
    assert out.ts.isoformat() == "2027-01-04T08:27:00+08:00"
    with pytest.raises(EslMappingError):
        mapper.map_event(_event(CC_Action="members-count", CC_Queue="q", CC_Count="0", Event_Date_Timestamp="soon"))


def test_agent_aliases_win(config):
    aliased = from_data(merge(default_data(), {"pbx": {"agent_aliases": {"agent-7@default": "1007"}}}))
    mapper = EslMapper(esl_settings(aliased))
    (out,) = mapper.map_event(_event(CC_Action="agent-status-change", CC_Agent="agent-7@default", CC_Agent_Status="Available"))
    assert out.agent == "1007" and mapper.raw_name("1007") == "agent-7@default"


# ---- a live adapter against an asyncio FreeSWITCH stand-in -----------------------------------


class FakeFreeSwitch:
    """Speaks mod_event_socket inbound: auth, event subscription, callcenter_config api, then the capture's events."""

    def __init__(self, password: str = "ClueCon") -> None:
        self.password = password
        self.commands: list[str] = []
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.events = [i for i in EslParser().feed(BUILD.clean_capture())]
        raw = BUILD.clean_capture()
        # the capture's frames, re-sliced: the api bodies in order, and the event frames
        self.event_frames: list[bytes] = []
        parser = EslParser()
        offset = 0
        for size in range(1, len(raw) + 1):
            items = parser.feed(raw[offset:size])
            offset = size
            for item in items:
                if isinstance(item, EslEvent):
                    body = "".join(f"{k}: {BUILD.quote(v, safe='')}\n" for k, v in item.headers.items()) + "\n"
                    self.event_frames.append(BUILD.frame([("Content-Type", "text/event-plain")], body.encode()))
        self.listings = [i.body for i in EslParser().feed(raw) if isinstance(i, EslMessage) and i.content_type == "api/response"]

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        writer.write(BUILD.frame([("Content-Type", "auth/request")]))
        tiers, agents, queues, members = self.listings
        buffer = b""
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    return
                buffer += data
                while b"\n\n" in buffer:
                    line, buffer = buffer.split(b"\n\n", 1)
                    command = line.decode()
                    self.commands.append(command)
                    if command.startswith("auth "):
                        if command[5:] != self.password:
                            writer.write(BUILD.reply("-ERR invalid"))
                            writer.write(BUILD.frame([("Content-Type", "text/disconnect-notice")], b"Disconnected, goodbye.\n"))
                            await writer.drain()
                            writer.close()
                            return
                        writer.write(BUILD.reply("+OK accepted"))
                    elif command.startswith("event plain"):
                        writer.write(BUILD.reply("+OK event listener enabled plain"))
                    elif command == "api callcenter_config tier list":
                        writer.write(BUILD.api(tiers.decode()))
                    elif command == "api callcenter_config agent list":
                        writer.write(BUILD.api(agents.decode()))
                    elif command == "api callcenter_config queue list":
                        writer.write(BUILD.api(queues.decode()))
                    elif command.startswith("api callcenter_config queue list members"):
                        writer.write(BUILD.api(members.decode()))
                        for frame in self.event_frames:
                            writer.write(frame)
                    elif command.startswith("api callcenter_config agent set status"):
                        name, status = command.split(" ", 5)[5].split(" ", 1)
                        writer.write(BUILD.api("+OK\n"))
                        writer.write(BUILD.cc_event(3000, [("CC-Agent", name), ("CC-Action", "agent-status-change"),
                                                           ("CC-Agent-Status", status.strip("'"))]))
                    elif command == "api uptime":
                        writer.write(BUILD.api("12345\n"))
                    else:
                        writer.write(BUILD.api("-ERR no such command\n"))
                await writer.drain()
        except ConnectionError:
            return

    def drop_all(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def close(self) -> None:
        self.drop_all()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def _collect(adapter: EslAdapter, until, timeout: float = 10.0) -> list:
    got: list = []

    async def run() -> None:
        async for event in adapter.stream():
            got.append(event)
            if until(got):
                return

    await asyncio.wait_for(run(), timeout)
    return got


async def test_live_adapter_snapshot_events_and_set_paused(config):
    fs = FakeFreeSwitch()
    port = await fs.start()
    adapter = EslAdapter(esl_settings(config), host="127.0.0.1", port=port, password="ClueCon", source="esl-test")
    try:
        got = await _collect(adapter, lambda g: sum(isinstance(e, AgentStateEvent) and e.agent == "1003"
                                                    and e.state is AgentState.LOGGED_OUT for e in g) >= 1)
        assert isinstance(got[0], ResyncEvent) and got[0].phase == "begin"
        end = next(i for i, e in enumerate(got) if isinstance(e, ResyncEvent) and e.phase == "end")
        snapshot = [e for e in got[1:end] if isinstance(e, AgentStateEvent)]
        assert {e.agent: e.state for e in snapshot} == {"1001": AgentState.LOGGED_OUT, "1002": AgentState.READY,
                                                        "1003": AgentState.SHORT_BREAK}
        assert "event plain HEARTBEAT CUSTOM callcenter::info" in fs.commands
        live = got[end + 1:]
        calls = [e.event.value for e in live if isinstance(e, CallEvent)]
        assert calls == ["offered", "answered", "offered", "abandoned", "completed"]
        assert adapter.health(datetime.now(timezone.utc)).connected
        result = await adapter.set_paused("1002", True)
        assert result.ok, result.detail
        assert "api callcenter_config agent set status 1002@default 'On Break'" in fs.commands
        after = await _collect(adapter, lambda g: any(isinstance(e, AgentStateEvent) and e.agent == "1002" for e in g))
        assert after[-1].state is AgentState.SHORT_BREAK
        assert (await adapter.set_paused("1002", False)).ok
        assert "api callcenter_config agent set status 1002@default 'Available'" in fs.commands
        assert not (await adapter.set_paused("no-such-agent", True)).ok
    finally:
        await adapter.close()
        await fs.close()


async def test_wrong_password_is_an_auth_failure(config):
    fs = FakeFreeSwitch(password="secret")
    port = await fs.start()
    adapter = EslAdapter(esl_settings(config), host="127.0.0.1", port=port, password="wrong", reconnect=False)
    try:
        got = []
        async for event in adapter.stream():
            got.append(event)
        assert isinstance(adapter.failure, AuthFailed)
        assert not adapter.ever_connected
    finally:
        await adapter.close()
        await fs.close()


async def test_dropped_connection_reconnects_and_resyncs(config):
    fast = from_data(merge(default_data(), {"pbx": {"reconnect": {"initial_s": 0.05, "max_s": 0.2, "jitter": 0.0}}}))
    fs = FakeFreeSwitch()
    port = await fs.start()
    adapter = EslAdapter(esl_settings(fast), host="127.0.0.1", port=port, password="ClueCon")
    try:
        first = await _collect(adapter, lambda g: sum(isinstance(e, ResyncEvent) and e.phase == "end" for e in g) == 1)
        assert first
        fs.drop_all()
        again = await _collect(adapter, lambda g: sum(isinstance(e, ResyncEvent) and e.phase == "end" for e in g) == 1)
        assert any(isinstance(e, ResyncEvent) and e.phase == "begin" for e in again)  # a full resync after the drop
        assert fs.connections == 2 and adapter.health(datetime.now(timezone.utc)).reconnects == 1
        assert adapter.state is ConnectionState.CONNECTED
    finally:
        await adapter.close()
        await fs.close()


def test_events_round_trip_through_section1_json(config):
    data = (CAPTURES / "callcenter.esl").read_bytes()
    for item in parse_capture([data], esl_settings(config), "x"):
        assert msgspec.json.decode(encode_event(item))["type"] in ("agent_state", "call", "queue_status")


def test_wfm_ingest_reads_esl_captures(capsys):
    from wfm.cli import main

    assert main(["ingest", "--protocol", "esl", str(CAPTURES / "callcenter.esl"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(r["type"] in ("agent_state", "call", "queue_status") for r in rows)
    assert main(["ingest", "--protocol", "esl", str(CAPTURES / "callcenter_bad.esl"), "--json"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in rows if r["type"] == "skipped"] == [400, 402, 420, 439]
