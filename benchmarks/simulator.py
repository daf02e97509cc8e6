"""Simulator, ESL and serial speed: how fast the floor day, its AMI server and the ESL/serial parsers run.

    nice .venv/bin/python benchmarks/simulator.py [--quick]

Measures on one core:
  * model: one 60-agent default day, and a 600-agent day with 10x the calls
    (happenings per second, wall seconds per simulated day);
  * `wfm simulate` JSON lines: events and MB written per second;
  * AMI server: one logged-in client at speed 1800x for a few wall seconds —
    manager events delivered and parsed per second (telephony.ami.protocol),
    parse errors (must be 0) — and flat out at 20000x (server + client on one core);
  * ESL: framed event-plain messages parsed and mapped per second;
  * serial: ACD/SMDR lines split, parsed and mapped per second.
Writes benchmarks/results/simulator.json and prints a one-line summary.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tqdm import tqdm  # noqa: E402

from telephony.ami.protocol import AmiError, AmiMessage, AmiParser  # noqa: E402
from telephony.esl.mapping import EslMapper  # noqa: E402
from telephony.esl.protocol import EslEvent, EslParser  # noqa: E402
from telephony.serial.offline import parse_capture as serial_capture  # noqa: E402
from pbxsim.ami_server import AmiServer, FloorSimulation  # noqa: E402
from pbxsim.clock import SimClock  # noqa: E402
from pbxsim.jsonl import day_events, write_events  # noqa: E402
from pbxsim.model import FloorModel  # noqa: E402
from wfm.config import default_data, from_data, load_config, merge  # noqa: E402
from wfm.commands.feeds import esl_settings  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "simulator.json"
DAY = date(2027, 1, 4)


def bench_model(config, agents: int, calls: int) -> dict:
    site = from_data(merge(default_data(), {"simulator": {"calls_per_day": calls}}))
    started = time.perf_counter()
    model = FloorModel(site, DAY, agents=agents)
    count = sum(1 for _ in model.run())
    seconds = time.perf_counter() - started
    offered = sum(s["offered"] for s in model.stats.values())
    in_target = sum(s["answered_in_target"] for s in model.stats.values())
    return {"agents": agents, "calls_per_day": calls, "happenings": count, "seconds": round(seconds, 3),
            "happenings_per_s": round(count / seconds), "calls_offered": offered,
            "service_level": round(in_target / offered, 4) if offered else None}


def bench_jsonl(config) -> dict:
    out = io.BytesIO()
    started = time.perf_counter()
    count = write_events(day_events(FloorModel(config, DAY)), out)
    seconds = time.perf_counter() - started
    size = len(out.getvalue())
    return {"events": count, "bytes": size, "seconds": round(seconds, 3), "events_per_s": round(count / seconds),
            "mb_per_s": round(size / seconds / 1e6, 2)}


async def bench_ami(config, wall_seconds: float, speed: float) -> dict:
    start = datetime(2027, 1, 4, 9, 30, tzinfo=config.floor.tz)
    sim = FloorSimulation(config, SimClock(start, speed), tick_s=0.02)
    server = AmiServer(sim, users={"bench": "bench"})
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"Action: Login\r\nUsername: bench\r\nSecret: bench\r\n\r\n")
    parser = AmiParser()
    messages = errors = 0
    loop = asyncio.get_running_loop()
    began = loop.time()
    while loop.time() - began < wall_seconds:
        try:
            data = await asyncio.wait_for(reader.read(1 << 16), 0.5)
        except TimeoutError:
            continue
        for item in parser.feed(data):
            if isinstance(item, AmiMessage):
                messages += 1
            elif isinstance(item, AmiError):
                errors += 1
    elapsed = loop.time() - began
    lag = (sim.clock.now() - sim.model.now).total_seconds()
    writer.close()
    await server.close()
    return {"speed": speed, "wall_seconds": round(elapsed, 2), "simulated_minutes": round(elapsed * speed / 60, 1),
            "messages": messages, "messages_per_s": round(messages / elapsed), "parse_errors": errors,
            "model_lag_s": round(lag, 2)}


def bench_esl(config, repeats: int) -> dict:
    sys.path.insert(0, str(REPO / "sample_data" / "captures" / "esl"))
    import build_captures as esl_build  # noqa: PLC0415

    frames = [esl_build.cc_event(0, [("CC-Agent", f"{1000 + a}@default"), ("CC-Action", "agent-status-change"),
                                     ("CC-Agent-Status", "Available")]) for a in range(60)]
    for i in range(repeats):
        frames.append(esl_build.cc_event(i * 0.5, [("CC-Agent", f"{1000 + i % 60}@default"), ("CC-Action", "agent-state-change"),
                                                    ("CC-Agent-State", "Receiving" if (i // 60) % 2 else "Waiting")]))
    data = b"".join(frames)
    parser = EslParser()
    mapper = EslMapper(esl_settings(config))
    started = time.perf_counter()
    events = 0
    for offset in range(0, len(data), 65536):
        for item in parser.feed(data[offset:offset + 65536]):
            if isinstance(item, EslEvent):
                events += len(mapper.map_event(item))
    seconds = time.perf_counter() - started
    return {"messages": repeats, "bytes": len(data), "seconds": round(seconds, 3),
            "messages_per_s": round(repeats / seconds), "events": events}


def bench_serial(config, repeats: int) -> dict:
    lines = []
    for i in range(repeats):
        agent = 1000 + i % 60
        minute, second = divmod(i % 3600, 60)
        verb = ("READY", "RING 8001", "ACDIN 8001", "ACW")[i % 4]
        lines.append(f"2027-01-04 09:{minute:02d}:{second:02d} AGENT {agent} {verb}\r\n")
    data = "".join(lines).encode()
    started = time.perf_counter()
    count = sum(1 for _ in serial_capture([data[i:i + 4096] for i in range(0, len(data), 4096)], config, "bench"))
    seconds = time.perf_counter() - started
    return {"lines": repeats, "events": count, "seconds": round(seconds, 3), "lines_per_s": round(repeats / seconds)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    args = parser.parse_args(argv)
    config = load_config()
    steps = ["model 60", "model 600", "jsonl", "ami", "esl", "serial"]
    results: dict = {"machine": platform.machine(), "python": platform.python_version(),
                     "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with tqdm(total=len(steps), desc="simulator bench", file=sys.stderr) as bar:
        results["model_60_agents"] = bench_model(config, 60, config.simulator.calls_per_day)
        bar.update()
        results["model_600_agents"] = bench_model(config, 600 if not args.quick else 120,
                                                  config.simulator.calls_per_day * (10 if not args.quick else 2))
        bar.update()
        results["jsonl"] = bench_jsonl(config)
        bar.update()
        results["ami_server"] = asyncio.run(bench_ami(config, 2.0 if args.quick else 6.0, 1800.0))
        results["ami_server_flat_out"] = asyncio.run(bench_ami(config, 2.0 if args.quick else 4.0, 20000.0))
        bar.update()
        results["esl"] = bench_esl(config, 5000 if args.quick else 50000)
        bar.update()
        results["serial"] = bench_serial(config, 20000 if args.quick else 200000)
        bar.update()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    m60, ami = results["model_60_agents"], results["ami_server"]
    print(f"simulator: 60-agent day in {m60['seconds']} s ({m60['happenings_per_s']}/s, SL {m60['service_level']}); "
          f"AMI {ami['messages_per_s']} msg/s at {ami['speed']:g}x, {ami['parse_errors']} parse errors; "
          f"ESL {results['esl']['messages_per_s']} msg/s; serial {results['serial']['lines_per_s']} lines/s")
    flat = results["ami_server_flat_out"]
    print(f"simulator: AMI flat out {flat['messages_per_s']} msg/s at {flat['speed']:g}x "
          f"({flat['simulated_minutes']} simulated min in {flat['wall_seconds']} s)")
    return 0 if ami["parse_errors"] == 0 and flat["parse_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
