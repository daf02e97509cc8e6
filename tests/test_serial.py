"""Serial CTI: line splitting, ACD and SMDR profiles, capture replay and a real pty port via socat."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.serial.mapping import SerialMapper
from telephony.serial.offline import parse_capture
from telephony.serial.protocol import (
    AcdAgentRecord,
    AcdQueueRecord,
    LineError,
    LineSplitter,
    RawLine,
    SmdrRecord,
    parse_line,
)
from telephony.serial.client import SerialAdapter
from conftest import require_tool
from wfm.config import default_data, from_data, load_config, merge
from wfm.events import AgentState, AgentStateEvent, BadLine, CallEvent, QueueStatusEvent, encode_event
from wfm.commands.feeds import serial_settings

REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO / "sample_data" / "captures" / "serial"


@pytest.fixture(scope="module")
def config():
    return load_config()


def _render(items) -> list[str]:
    return [json.dumps(i.to_json(), ensure_ascii=False) if isinstance(i, BadLine) else encode_event(i).decode() for i in items]


def _builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("serial_build_captures", CAPTURES / "build_captures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _builder()


# ---- captures --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mixed_feed", "noisy_feed"])
def test_capture_matches_expected_output(config, name):
    data = (CAPTURES / f"{name}.txt").read_bytes()
    expected = (CAPTURES / f"{name}.expected.jsonl").read_text(encoding="utf-8").splitlines()
    assert _render(parse_capture([data], serial_settings(config), f"{name}.txt")) == expected


def test_shipped_captures_are_what_the_builder_writes():
    mixed = "".join(line + "\r\n" for line in BUILD.mixed_lines()).encode()
    assert (CAPTURES / "mixed_feed.txt").read_bytes() == mixed
    assert (CAPTURES / "noisy_feed.txt").read_bytes() == b"".join(line + b"\r\n" for line in BUILD.noisy_lines())


@pytest.mark.parametrize("name", ["mixed_feed", "noisy_feed"])
def test_every_byte_boundary_gives_identical_events(config, name):
    data = (CAPTURES / f"{name}.txt").read_bytes()
    reference = _render(parse_capture([data], serial_settings(config), name))
    for cut in range(1, len(data)):
        assert _render(parse_capture([data[:cut], data[cut:]], serial_settings(config), name)) == reference, f"split at byte {cut}"
    assert _render(parse_capture([data[i:i + 1] for i in range(len(data))], serial_settings(config), name)) == reference


def test_noisy_feed_loses_nothing_valid(config):
    clean = [e for e in parse_capture([(CAPTURES / "mixed_feed.txt").read_bytes()], serial_settings(config), "m")]
    noisy = [e for e in parse_capture([(CAPTURES / "noisy_feed.txt").read_bytes()], serial_settings(config), "n") if not isinstance(e, BadLine)]
    assert _render(noisy) == _render(clean)


# ---- line rules ----------------------------------------------------------------------------


def test_line_ends_lf_crlf_and_cr_and_last_line_without_end():
    splitter = LineSplitter()
    items = splitter.feed(b"a\nb\r\nc\rd") + splitter.close()
    assert [(i.number, i.data) for i in items] == [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d")]
    splitter = LineSplitter()
    items = splitter.feed(b"a\r") + splitter.feed(b"\nb\n")
    assert [i.data for i in items] == [b"a", b"b"]


def test_over_long_line_is_reported_once_and_bounded():
    splitter = LineSplitter(max_line_bytes=16)
    items = splitter.feed(b"x" * 40) + splitter.feed(b"y" * 40) + splitter.feed(b"\nok\n")
    assert [type(i).__name__ for i in items] == ["LineError", "RawLine"]
    assert items[1].data == b"ok" and items[1].number == 2 and splitter.buffered == 0


def test_acd_verbs_parse():
    def parse(text):
        return parse_line(RawLine(1, text.encode()), "acd")
    rec = parse("2027-01-04 08:30:01 AGENT 1002 RING 8001")
    assert isinstance(rec, AcdAgentRecord) and rec.verb == "RING" and rec.argument == "8001"
    assert parse("2027-01-04 08:30:01 AGENT 7 AUX 3").argument == "3"
    queue = parse("2027-01-04 08:30:01 QUEUE sales WAITING 12")
    assert isinstance(queue, AcdQueueRecord) and queue.waiting == 12
    assert isinstance(parse("2027-01-04 08:30:01 AGENT 7 AUX"), LineError)
    assert isinstance(parse("2027-02-30 08:30:01 AGENT 7 READY"), LineError)


def test_profiles_narrow_the_formats():
    acd = RawLine(1, b"2027-01-04 08:30:01 AGENT 1002 READY")
    smdr = RawLine(2, BUILD.smdr("2027/01/04 08:30:00", "00:03:05", 6, "1", "I", "8001", 9, "E1002", "n", "T1", "L").encode())
    assert isinstance(parse_line(acd, "auto"), AcdAgentRecord) and isinstance(parse_line(smdr, "auto"), SmdrRecord)
    assert isinstance(parse_line(smdr, "acd"), LineError)
    assert isinstance(parse_line(acd, "smdr"), LineError)
    assert parse_line(RawLine(3, b"   "), "auto") is None


def test_smdr_fields_and_mapping(config):
    mapper = SerialMapper(serial_settings(config))
    done = parse_line(RawLine(1, BUILD.smdr("2027/01/04 08:30:00", "00:03:05", 6, "138", "I", "8001", 77, "E5001", "n",
                                            "T9", "L").encode()))
    (event,) = mapper.map(done)
    assert isinstance(event, CallEvent) and event.agent == "5001" and event.queue == "8001" and event.call_id == "77"
    assert event.event.value == "completed" and event.wait_s == 6 and event.talk_s == 185
    assert event.ts.isoformat() == "2027-01-04T08:33:11+08:00"
    gone = parse_line(RawLine(2, BUILD.smdr("2027/01/04 08:50:00", "00:00:00", 25, "139", "I", "8001", 78, "", "", "T9",
                                            "L").encode()))
    (event,) = mapper.map(gone)
    assert event.event.value == "abandoned" and event.wait_s == 25 and event.agent is None
    outbound = parse_line(RawLine(3, BUILD.smdr("2027/01/04 09:00:00", "00:01:00", 0, "1001", "O", "0139", 79, "E1001",
                                                "n", "T9", "L").encode()))
    assert mapper.map(outbound) == []
    bad_time = BUILD.smdr("2027/01/04 09:00:00", "1:61:00", 0, "1", "I", "8001", 80, "E1", "n", "T", "L")
    assert "Connected Time" in parse_line(RawLine(4, bad_time.encode())).reason


def test_aux_codes_and_aliases_come_from_config():
    site = from_data(merge(default_data(), {"pbx": {"aux_codes": {"1": "short_break", "2": "meal", "5": "meal"},
                                                    "agent_aliases": {"A17": "1017"}}}))
    mapper = SerialMapper(serial_settings(site))
    (event,) = mapper.map(parse_line(RawLine(1, b"2027-01-04 12:00:00 AGENT A17 AUX 5")))
    assert event.agent == "1017" and event.state is AgentState.MEAL and event.reason == "AUX 5"
    (event,) = mapper.map(parse_line(RawLine(2, b"2027-01-04 12:00:00 AGENT A17 AUX 9")))
    assert event.state is AgentState.NOT_READY


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=400), max_size=8))
def test_fuzz_random_bytes_only_line_errors(chunks):
    config = load_config()
    splitter = LineSplitter(max_line_bytes=256)
    for chunk in chunks:
        for item in splitter.feed(chunk):
            assert isinstance(item, (RawLine, LineError))
            if isinstance(item, RawLine):
                assert len(item.data) <= 256
                record = parse_line(item)
                assert record is None or isinstance(record, (AcdAgentRecord, AcdQueueRecord, SmdrRecord, LineError))
        assert splitter.buffered <= 256
    items = list(parse_capture(chunks, serial_settings(config), "fuzz"))
    assert all(isinstance(i, (BadLine, AgentStateEvent, CallEvent, QueueStatusEvent)) for i in items)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_feed(data):
    config = load_config()
    feed = bytearray((CAPTURES / "mixed_feed.txt").read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        feed[data.draw(st.integers(0, len(feed) - 1))] = data.draw(st.integers(0, 255))
    items = list(parse_capture([bytes(feed)], serial_settings(config), "fuzz"))
    assert all(isinstance(i, (BadLine, AgentStateEvent, CallEvent, QueueStatusEvent)) for i in items)


def test_wfm_ingest_reads_serial_captures(capsys):
    from wfm.cli import main

    assert main(["ingest", "--protocol", "serial", str(CAPTURES / "mixed_feed.txt"), "--json"]) == 0
    capsys.readouterr()
    assert main(["ingest", "--protocol", "serial", str(CAPTURES / "noisy_feed.txt"), "--json"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in rows if r["type"] == "skipped"] == [3, 7, 13, 16, 19, 22]


# ---- a real pty pair: unplug and replug --------------------------------------------------------


class SocatPair:
    def __init__(self, socat: str, directory: Path) -> None:
        self.socat = socat
        self.port = directory / "ttyWFM"
        self.peer = directory / "ttyPBX"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.socat, "-d", "-d", f"pty,raw,echo=0,link={self.port}", f"pty,raw,echo=0,link={self.peer}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not (self.port.exists() and self.peer.exists()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("socat did not create the pty pair")
            time.sleep(0.02)

    def send(self, text: str) -> None:
        fd = os.open(self.peer, os.O_WRONLY | os.O_NOCTTY)
        try:
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)

    def unplug(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
            self.proc = None
        for link in (self.port, self.peer):
            if link.is_symlink() or link.exists():
                link.unlink()


async def _wait_for(events: list, predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if predicate(events):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out; got {events[-5:]}")


@pytest.mark.live
async def test_pty_port_unplugged_and_replugged_keeps_reading(tmp_path):
    socat = require_tool("socat")["socat"]
    fast = from_data(merge(default_data(), {"pbx": {"reconnect": {"initial_s": 0.05, "max_s": 0.3, "jitter": 0.0}}}))
    pair = SocatPair(socat, tmp_path)
    pair.start()
    adapter = SerialAdapter(serial_settings(fast), device=str(pair.port), source="serial-test", yield_skipped=True)
    events: list = []

    async def pump() -> None:
        async for event in adapter.stream():
            events.append(event)

    task = asyncio.get_running_loop().create_task(pump())
    try:
        await _wait_for(events, lambda _: adapter.health(datetime.now(timezone.utc)).connected)
        pair.send("2027-01-04 08:27:05 AGENT 1001 READY\r\n2027-01-04 08:30:00 QUEUE 8001 WAITING 2\r\n")
        await _wait_for(events, lambda ev: len(ev) >= 2)
        assert isinstance(events[0], AgentStateEvent) and events[0].state is AgentState.READY
        assert isinstance(events[1], QueueStatusEvent) and events[1].waiting == 2

        pair.unplug()
        await asyncio.sleep(0.8)  # a few failed reopen attempts with backoff
        assert not adapter.health(datetime.now(timezone.utc)).connected

        pair.start()
        await _wait_for(events, lambda _: adapter.state.value == "connected")
        pair.send("garbage \x07\r\n2027-01-04 08:40:00 AGENT 1001 AUX 1\r\n")
        await _wait_for(events, lambda ev: any(isinstance(e, AgentStateEvent) and e.state is AgentState.SHORT_BREAK for e in ev))
        assert any(isinstance(e, BadLine) for e in events)
        health = adapter.health(datetime.now(timezone.utc))
        assert health.reconnects >= 1 and health.skipped >= 1
        assert not (await adapter.set_paused("1001", True)).ok
    finally:
        await adapter.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        pair.unplug()


def test_from_feed_needs_a_device_and_reads_port_settings(config):
    from wfm.commands.feeds import build_adapter
    from wfm.config import FeedConfig

    msgspec_feed = FeedConfig(protocol="serial", host="", port=0, username="", secret_env="", secret="", device="",
                                     baudrate=19200, bytesize=7, parity="E", stopbits=2, profile="smdr", agents=[],
                                     transport="udp")
    with pytest.raises(ValueError, match="device"):
        build_adapter(config, msgspec_feed, SerialAdapter)
    import msgspec

    adapter = build_adapter(config, msgspec.structs.replace(msgspec_feed, device="/dev/ttyS9"), SerialAdapter)
    assert adapter.port_settings["baudrate"] == 19200 and adapter.port_settings["parity"] == "E" and adapter.profile == "smdr"


async def test_live_terminal_server_over_tcp(config):
    """`wfm ingest --protocol serial --connect HOST:PORT` reads a serial-to-TCP terminal server."""
    import argparse

    from telephony.serial.offline import live

    data = (CAPTURES / "noisy_feed.txt").read_bytes()

    async def serve(reader, writer):
        for i in range(0, len(data), 97):  # odd chunks: lines and characters cut across reads
            writer.write(data[i:i + 97])
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    got: list = []
    await asyncio.wait_for(live(argparse.Namespace(connect_host="127.0.0.1", connect_port=port), serial_settings(config), got.append), 10)
    server.close()
    await server.wait_closed()
    expected = (CAPTURES / "noisy_feed.expected.jsonl").read_text(encoding="utf-8").splitlines()
    rendered = [line.replace(f'"source": "127.0.0.1:{port}"', '"source": "noisy_feed.txt"') for line in _render(got)]
    assert rendered == expected
