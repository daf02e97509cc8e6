"""AMI feed speed: messages parsed+mapped per second on one core, and adapter-to-event latency.

    .venv/bin/python benchmarks/telephony.py [--messages N] [--latency-events N]

Target (issue 5): >= 100,000 AMI messages parsed and mapped per second on one
core, measured in CPU seconds of the benchmark's thread (the machine is shared). Three streams are measured: the floor's own events only (a manager user
with `Events: agent`), a full `Events: on` mix where channel/dialplan noise
outnumbers queue events four to one, and parse alone. Latency: a localhost AMI
server writes one QueueMemberPause at a time and the adapter's stream yields its
agent_state; p50/p95/p99 from write to yield. Writes benchmarks/results/telephony.json
and prints a one-line summary on stdout; progress goes to stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tqdm import tqdm  # noqa: E402

from telephony.ami.client import AmiAdapter  # noqa: E402
from telephony.ami.mapping import AmiMapper, AmiMappingError  # noqa: E402
from telephony.ami.protocol import AmiMessage, AmiParser  # noqa: E402
from wfm.config import default_data, from_data, load_config, merge  # noqa: E402
from wfm.events import AgentStateEvent, ResyncEvent  # noqa: E402
from wfm.commands.feeds import ami_settings  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "telephony.json"
SAMPLE = REPO / "sample_data" / "captures" / "ami" / "asterisk18_floor.ami"
TARGET = 100_000
T0 = 1799022300.0


def _encode(pairs) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in pairs).encode("utf-8") + b"\r\n"


def floor_messages(count: int) -> list[bytes]:
    """Queue/agent events in the shapes of the sample capture, spread over 60 agents and fresh call ids."""
    blocks = [b for b in SAMPLE.read_bytes().split(b"\r\n\r\n") if b.startswith(b"Event: ") and b"ActionID" not in b]
    out = []
    i = 0
    while len(out) < count:
        block = blocks[i % len(blocks)]
        agent = 1001 + (i * 7) % 60
        stamp = f"Timestamp: {T0 + i * 0.01:.6f}".encode()
        text = block.replace(b"PJSIP/100", f"PJSIP/{agent // 10}".encode()).split(b"\r\nTimestamp: ")[0]
        out.append(text.replace(b"Uniqueid: 17990", f"Uniqueid: {i}.17990".encode()) + b"\r\n" + stamp + b"\r\n\r\n")
        i += 1
    return out


def noise_messages(count: int) -> list[bytes]:
    """Channel and dialplan events a manager session with `Events: on` also receives."""
    kinds = []
    for i in range(count):
        chan = f"PJSIP/trunk-{i:08x}"
        common = [("Privilege", "call,all"), ("Channel", chan), ("ChannelState", 6), ("ChannelStateDesc", "Up"),
                  ("CallerIDNum", "13800138000"), ("CallerIDName", "<unknown>"), ("ConnectedLineNum", "<unknown>"),
                  ("ConnectedLineName", "<unknown>"), ("Language", "zh"), ("AccountCode", ""), ("Context", "from-trunk"),
                  ("Exten", "4000"), ("Priority", 2), ("Uniqueid", f"{T0:.0f}.{i}"), ("Linkedid", f"{T0:.0f}.{i}")]
        name = ("Newexten", "VarSet", "Newstate", "Newchannel")[i % 4]
        extra = {"Newexten": [("Extension", "4000"), ("Application", "Queue"), ("AppData", "general,t,,,300")],
                 "VarSet": [("Variable", "QUEUEPOSITION"), ("Value", "1")], "Newstate": [], "Newchannel": []}[name]
        kinds.append(_encode([("Event", name), *common, *extra, ("Timestamp", f"{T0 + i * 0.01:.6f}")]))
    return kinds


def measure_parse_map(stream: bytes, n_messages: int, *, map_events: bool, config, repeats: int = 3) -> dict:
    best = None
    events = 0
    for _ in tqdm(range(repeats), desc="parse+map" if map_events else "parse", file=sys.stderr, leave=False):
        parser = AmiParser()
        mapper = AmiMapper(ami_settings(config))
        received = datetime.now(timezone.utc)
        events = 0
        started = time.process_time()  # CPU seconds of this one thread: the machine is shared
        for offset in range(0, len(stream), 65536):
            for item in parser.feed(stream[offset : offset + 65536]):
                if map_events and type(item) is AmiMessage:
                    try:
                        events += len(mapper.map(item, received))
                    except AmiMappingError:
                        pass
        elapsed = time.process_time() - started
        best = elapsed if best is None else min(best, elapsed)
        assert parser.messages == n_messages, (parser.messages, n_messages)
    return {"messages": n_messages, "cpu_seconds": round(best, 4), "messages_per_s": round(n_messages / best), "events": events,
            "mb_per_s": round(len(stream) / best / 1e6, 1)}


async def measure_latency(count: int) -> dict:
    config = from_data(merge(default_data(), {"pbx": {"stale_after_s": 300}}))
    writes: list[float] = []
    latencies: list[float] = []
    ready = asyncio.Event()
    go = asyncio.Event()

    async def handle(reader, writer):
        writer.write(b"Asterisk Call Manager/5.0.1\r\n")
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            action = dict(line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line)
            aid = action.get("ActionID", "")
            if action.get("Action") == "Challenge":
                writer.write(_encode([("Response", "Error"), ("ActionID", aid), ("Message", "Invalid/unknown command")]))
            elif action.get("Action") == "Login":
                writer.write(_encode([("Response", "Success"), ("ActionID", aid), ("Message", "Authentication accepted")]))
            elif action.get("Action") == "QueueStatus":
                writer.write(_encode([("Response", "Success"), ("ActionID", aid), ("EventList", "start")]))
                writer.write(_encode([("Event", "QueueStatusComplete"), ("ActionID", aid), ("EventList", "Complete"), ("ListItems", 0)]))
                ready.set()
                await go.wait()
                for i in range(count):
                    paused = i % 2
                    writes.append(time.perf_counter())
                    writer.write(_encode([("Event", "QueueMemberPause"), ("Privilege", "agent,all"), ("Queue", "general"),
                                          ("MemberName", "Alice"), ("Interface", "PJSIP/1001"), ("StateInterface", "PJSIP/1001"),
                                          ("Membership", "dynamic"), ("Penalty", 0), ("CallsTaken", 0), ("LastCall", 0),
                                          ("LastPause", 0), ("LoginTime", 0), ("InCall", 0), ("Status", 1), ("Paused", paused),
                                          ("PausedReason", "小休" if paused else ""), ("Ringinuse", 0), ("Wrapuptime", 0)]))
                    await writer.drain()
                    await asyncio.sleep(0.001)
            else:
                writer.write(_encode([("Response", "Success"), ("ActionID", aid)]))
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = AmiAdapter(ami_settings(config), host="127.0.0.1", port=port, username="bench", secret="x", source="bench")
    progress = tqdm(total=count, desc="latency", file=sys.stderr, leave=False)
    async for event in adapter.stream():
        if isinstance(event, ResyncEvent) and event.phase == "end":
            go.set()
        elif isinstance(event, AgentStateEvent):
            latencies.append(time.perf_counter() - writes[len(latencies)])
            progress.update()
            if len(latencies) == count:
                break
    progress.close()
    await adapter.close()
    server.close()
    await server.wait_closed()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 3)

    return {"events": count, "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": round(ordered[-1] * 1000, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--latency-events", type=int, default=2000)
    args = parser.parse_args(argv)
    config = load_config()

    floor = floor_messages(args.messages)
    floor_stream = b"Asterisk Call Manager/5.0.1\r\n" + b"".join(floor)
    noise = noise_messages(args.messages)
    mixed = []
    for i in range(args.messages):
        mixed.append(floor[i // 5] if i % 5 == 0 else noise[i])
    mixed_stream = b"".join(mixed)

    results = {
        "benchmark": "telephony",
        "target_messages_per_s": TARGET,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "floor_events_parse_map": measure_parse_map(floor_stream, len(floor), map_events=True, config=config),
        "events_on_mix_parse_map": measure_parse_map(mixed_stream, len(mixed), map_events=True, config=config),
        "floor_events_parse_only": measure_parse_map(floor_stream, len(floor), map_events=False, config=config),
        "latency_localhost": asyncio.run(measure_latency(args.latency_events)),
    }
    results["meets_target"] = results["floor_events_parse_map"]["messages_per_s"] >= TARGET
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    f, m, lat = results["floor_events_parse_map"], results["events_on_mix_parse_map"], results["latency_localhost"]
    print(f"telephony: floor events {f['messages_per_s']:,}/s, Events:on mix {m['messages_per_s']:,}/s parse+map "
          f"(target {TARGET:,}); latency p50 {lat['p50_ms']} ms p99 {lat['p99_ms']} ms -> {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
