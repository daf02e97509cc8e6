"""Rules engine throughput on one core: 5,000 agents, 200 queues (issue 4, engine half).

    nice .venv/bin/python benchmarks/rules.py [--agents 5000] [--queues 200] [--events 200000]

Measures, on the same generated floor (deterministic, seed 4):
- engine: FloorEngine.handle on pre-built §1 events (state + rules + break decisions);
- parse+engine: JSON-lines bytes through wfm.events.read_events, then the engine;
- engine+log: the engine with every event and output appended to a real SQLite event
  log (wfm.eventlog, append_many in batches of storage.batch_max_records);
- the same stream under the "scaled" (30 %, a long break queue) and "service_level" gates;
- floor_view: building the full FloorView read model for 5,000 agents;
- replay of sample_data/floor_day.jsonl (60 agents, one day): lines/s, parse to encoded output.
Target: >= 20,000 events/s for state + rules. Writes benchmarks/results/rules.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from wfm.config import default_data, from_data, load_config, merge  # noqa: E402
from wfm.decisions import BreakDecision  # noqa: E402
from wfm.engine import FloorEngine  # noqa: E402
from wfm.events import (  # noqa: E402
    AgentStateEvent,
    BadLine,
    BreakRequestEvent,
    CallEvent,
    QueueStatusEvent,
    ShiftEvent,
    encode_event,
    read_events,
)

RESULTS = REPO / "benchmarks" / "results" / "rules.json"
TARGET = 20_000
TZ = timezone(timedelta(hours=8))


def build_floor(agents: int, queues: int, events: int, seed: int = 4) -> tuple[list, list]:
    """(setup events: roster + sign-ins, the timed mixed stream) — an AMI-like busy day."""
    rng = random.Random(seed)
    day = datetime(2027, 1, 4, tzinfo=TZ)
    ids = [f"{10000 + i}" for i in range(agents)]
    qids = [f"q{j:03d}" for j in range(queues)]
    setup = []
    for i, agent in enumerate(ids):
        start = day + timedelta(hours=8, minutes=30)
        meal = start + timedelta(hours=2, minutes=30 * (i % 8))
        setup.append(ShiftEvent(ts=day + timedelta(hours=7), agent=agent, start=start,
                                end=start + timedelta(hours=7, minutes=30), meal_start=meal))
    for i, agent in enumerate(ids):
        setup.append(AgentStateEvent(ts=day + timedelta(hours=8, minutes=20, seconds=i * 0.05), agent=agent,
                                     state="ready", queues=[qids[i % queues]], source="ami"))
    cycle = {"ready": "ringing", "ringing": "on_call", "on_call": "wrap_up", "wrap_up": "ready",
             "short_break": "ready", "meal": "ready", "not_ready": "ready"}
    state = dict.fromkeys(ids, "ready")
    t = day + timedelta(hours=8, minutes=31)
    step = timedelta(milliseconds=6)  # 200,000 events ≈ 20 min of a 5,000-agent floor
    stream = []
    call_no = 0
    for n in range(events):
        t += step
        roll = rng.random()
        if roll < 0.55:
            agent = ids[rng.randrange(agents)]
            current = state[agent]
            if current == "ready" and rng.random() < 0.02:
                new = rng.choice(["short_break", "short_break", "not_ready", "meal"])
            else:
                new = cycle[current]
            state[agent] = new
            stream.append(AgentStateEvent(ts=t, agent=agent, state=new, source="ami"))
        elif roll < 0.65:
            q = qids[rng.randrange(queues)]
            stream.append(QueueStatusEvent(ts=t, queue=q, waiting=rng.randrange(6), longest_wait_s=rng.random() * 40,
                                           source="ami"))
        elif roll < 0.99:
            call_no += 1
            q = qids[call_no % queues]
            cid = f"c{call_no // 3}"
            kind = ("offered", "answered", "completed")[call_no % 3]
            extra = {"wait_s": rng.random() * 30} if kind == "answered" else ({"talk_s": 60 + rng.random() * 300} if kind == "completed" else {})
            stream.append(CallEvent(ts=t, queue=q, call_id=cid, event=kind, **extra))
        else:
            stream.append(BreakRequestEvent(ts=t, agent=ids[rng.randrange(agents)],
                                            kind="short" if rng.random() < 0.8 else "meal",
                                            minutes=rng.choice([None, 5, 10]), queue=rng.random() < 0.5))
    return setup, stream


def run_engine(config, setup, stream) -> tuple[float, FloorEngine, dict]:
    engine = FloorEngine(config)
    for event in setup:
        engine.handle(event)
    counts = {"outputs": 0, "decisions": 0}
    started = time.perf_counter()
    for event in stream:
        outputs = engine.handle(event).outputs
        if outputs:
            counts["outputs"] += len(outputs)
            counts["decisions"] += sum(isinstance(o, BreakDecision) for o in outputs)
    return time.perf_counter() - started, engine, counts


def run_parse_engine(config, setup, lines: list[bytes]) -> float:
    engine = FloorEngine(config)
    for event in setup:
        engine.handle(event)
    started = time.perf_counter()
    for item in read_events(lines, source="bench"):
        engine.handle(item)
    return time.perf_counter() - started


def run_engine_log(config, setup, stream, directory: str) -> float | None:
    try:
        from wfm.eventlog import decision_body, event_body, open_log
    except ImportError:
        return None
    log = open_log(f"sqlite:///{directory}/bench.sqlite", batch_max_records=config.storage.batch_max_records)
    engine = FloorEngine(config)
    for event in setup:
        engine.handle(event)
    batch_size = config.storage.batch_max_records
    started = time.perf_counter()
    batch: list = []
    for event in stream:
        batch.append(("event", event_body(event), event.ts))
        for output in engine.handle(event).outputs:
            batch.append(("decision", decision_body(output), output.ts))
        if len(batch) >= batch_size:
            log.append_many(batch)
            batch = []
    if batch:
        log.append_many(batch)
    elapsed = time.perf_counter() - started
    close = getattr(log, "close", None)
    if close is not None:
        close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args(argv)
    config = load_config()
    print(f"building a floor of {args.agents} agents, {args.queues} queues, {args.events} events", file=sys.stderr)
    setup, stream = build_floor(args.agents, args.queues, args.events)
    lines = [encode_event(e) for e in stream]

    seconds, engine, counts = run_engine(config, setup, stream)
    rate = len(stream) / seconds
    print(f"engine: {rate:,.0f} events/s", file=sys.stderr)
    parse_seconds = run_parse_engine(config, setup, lines)
    print(f"parse+engine: {len(stream) / parse_seconds:,.0f} events/s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as directory:
        log_seconds = run_engine_log(config, setup, stream, directory)
    if log_seconds is not None:
        print(f"engine+log: {len(stream) / log_seconds:,.0f} events/s", file=sys.stderr)
    now = stream[-1].ts
    started = time.perf_counter()
    view = engine.floor_view(now)
    view_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    for agent in list(engine.floor.agents)[:1000]:
        engine.agent_budget(agent, now)
    budget_us = (time.perf_counter() - started) / 1000 * 1e6

    per_policy = {}
    for policy in ("scaled", "service_level"):  # the other gates, same floor (scaled at 30 %: a long break queue)
        data = merge(default_data(), {"floor": {"gate": {"policy": policy, "scaled_fraction": 0.3, "horizon_min": 15}}})
        policy_seconds, policy_engine, _ = run_engine(from_data(data), setup, stream)
        per_policy[policy] = {"events_per_s": round(len(stream) / policy_seconds),
                              "break_queue_at_end": len(policy_engine.floor.break_queue)}
        print(f"engine ({policy} gate): {len(stream) / policy_seconds:,.0f} events/s", file=sys.stderr)

    floor_day = REPO / "sample_data" / "floor_day.jsonl"
    replay_rate = None
    if floor_day.exists():
        from wfm.decisions import encode_output

        data = floor_day.read_bytes().splitlines()
        started = time.perf_counter()
        day_engine = FloorEngine(config)
        written = 0
        for item in read_events(data, source=str(floor_day)):
            if not isinstance(item, BadLine):
                for output in day_engine.handle(item).outputs:
                    written += len(encode_output(output))
        replay_rate = len(data) / (time.perf_counter() - started)
        print(f"replay of the sample floor day: {replay_rate:,.0f} lines/s", file=sys.stderr)

    result = {
        "benchmark": "rules",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "cores_used": 1},
        "floor": {"agents": args.agents, "queues": args.queues, "events": len(stream),
                  "setup_events": len(setup), "floor_minutes": round((stream[-1].ts - stream[0].ts).total_seconds() / 60, 1)},
        "engine_events_per_s": round(rate),
        "parse_engine_events_per_s": round(len(stream) / parse_seconds),
        "engine_log_events_per_s": round(len(stream) / log_seconds) if log_seconds else None,
        "engine_us_per_event": round(seconds / len(stream) * 1e6, 2),
        "engine_events_per_s_by_gate": {"fixed": round(rate), **{k: v["events_per_s"] for k, v in per_policy.items()}},
        "break_queue_at_end_scaled_30pct": per_policy["scaled"]["break_queue_at_end"],
        "floor_view_ms": round(view_ms, 1),
        "replay_floor_day_lines_per_s": round(replay_rate) if replay_rate else None,
        "agent_budget_us": round(budget_us, 1),
        "outputs": counts["outputs"],
        "break_decisions": counts["decisions"],
        "idle_agents_at_end": view.idle_agents,
        "target_events_per_s": TARGET,
        "meets_target": rate >= TARGET,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("engine_events_per_s", "parse_engine_events_per_s",
                                              "engine_log_events_per_s", "floor_view_ms", "meets_target")}))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
