"""Live-floor load: runtime throughput, WebSocket grant latency, API latency.

Real parts: the rules engine, the SQLite event log (group commit, storage
defaults), the aiohttp server on a localhost port, aiohttp clients. The PBX
is a queue-fed adapter (the one edge that cannot run here).

    .venv/bin/python benchmarks/api.py [--agents 60] [--events 20000] [--grants 40] [--requests 300]

Writes benchmarks/results/api.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telephony.adapter import ActionResult, Adapter, ConnectionState, FeedHealth  # noqa: E402
from wfm.api.app import ApiServer, create_app  # noqa: E402
from wfm.config import default_data, from_data, merge  # noqa: E402
from wfm.engine import FloorEngine  # noqa: E402
from wfm.eventlog import open_log_from_config  # noqa: E402
from wfm.events import AgentState, AgentStateEvent, ShiftEvent  # noqa: E402
from wfm.runtime import Runtime  # noqa: E402

TZ = timezone(timedelta(hours=8))
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=TZ)


class QueueAdapter(Adapter):
    source = "bench-pbx"

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    async def stream(self):
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event

    async def snapshot(self) -> None:
        return None

    async def set_paused(self, agent, paused, reason=None):
        return ActionResult(action="QueuePause", agent=agent, ok=True, detail="bench")

    def health(self, now):
        return FeedHealth(source=self.source, state=ConnectionState.CONNECTED, connected=True, stale=False,
                          last_event_age_s=0.0, reconnects=0, skipped=0)

    async def close(self) -> None:
        self.queue.put_nowait(None)


class Clock:
    def __init__(self) -> None:
        self.value = T0

    def now(self):
        return self.value


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary_ms(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(pct(ms, 0.95), 2),
            "max_ms": round(max(ms), 2), "mean_ms": round(statistics.fmean(ms), 2)}


async def setup(tmp: Path, agents: int):
    config = from_data(merge(default_data(), {
        "storage": {"url": f"sqlite:///{tmp / 'bench.sqlite'}"},
        "api": {"port": 0, "break_requests_per_minute": 1_000_000, "login_attempts_per_minute": 1000},
    }), "bench")
    log = open_log_from_config(config)
    clock = Clock()
    adapter = QueueAdapter()
    runtime = Runtime(config, FloorEngine(config), log, [adapter], clock)
    ids = [str(1001 + i) for i in range(agents)]
    shifts = [ShiftEvent(ts=T0 - timedelta(hours=1), agent=a, start=T0.replace(hour=8, minute=30),
                         end=T0.replace(hour=16)) for a in ids]
    await runtime.start(prelude=lambda _: shifts)
    server = ApiServer(create_app(runtime, config, dashboard=False), "127.0.0.1", 0)
    await server.start()
    return config, runtime, server, adapter, clock, ids


async def wait_processed(runtime: Runtime, target: int, timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while runtime.events_processed < target:
        if time.perf_counter() > deadline:
            raise RuntimeError("events not processed in time")
        await asyncio.sleep(0.002)


async def bench_throughput(runtime, adapter, clock, ids, n_events: int) -> dict:
    states = [AgentState.READY, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP]
    start_count = runtime.events_processed
    started = time.perf_counter()
    for i in range(n_events):
        clock.value += timedelta(milliseconds=50)
        adapter.queue.put_nowait(AgentStateEvent(ts=clock.value, agent=ids[i % len(ids)],
                                                 state=states[(i // len(ids)) % len(states)], source=adapter.source))
    await wait_processed(runtime, start_count + n_events)
    elapsed = time.perf_counter() - started
    return {"events": n_events, "seconds": round(elapsed, 3), "events_per_s": round(n_events / elapsed, 1),
            "note": "each event durable in SQLite before the engine acts (group commit)"}


async def login(session, base, user) -> str:
    async with session.post(base + "/api/login", json={"username": user, "password": user}) as r:
        return (await r.json())["token"]


async def bench_grants(runtime, server, adapter, clock, ids, rounds: int) -> dict:
    """Floor at idle = 3 (gate refuses); agent 1001 queues; one more agent goes ready → grant over WS."""
    base = server.base_url
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        token = await login(session, base, "1001")
        headers = {"Authorization": f"Bearer {token}"}
        ws = await session.ws_connect(base + f"/ws?token={token}")
        for _ in range(rounds):
            # reset: 1001..1003 ready, everyone else on a call, 1001's request cancelled
            async with session.delete(base + "/api/agents/1001/breaks", headers=headers):
                pass
            before = runtime.events_processed
            for i, agent in enumerate(ids):
                clock.value += timedelta(milliseconds=10)
                adapter.queue.put_nowait(AgentStateEvent(
                    ts=clock.value, agent=agent, state=AgentState.READY if i < 3 else AgentState.ON_CALL,
                    source=adapter.source))
            await wait_processed(runtime, before + len(ids))
            clock.value += timedelta(seconds=1)
            async with session.post(base + "/api/agents/1001/breaks", headers=headers,
                                    json={"kind": "short", "queue": True}) as r:
                body = await r.json()
            if r.status != 200 or body["decision"]["allowed"]:
                raise RuntimeError(f"setup failed: {r.status} {body}")
            while True:  # drain
                try:
                    await asyncio.wait_for(ws.receive(), 0.05)
                except TimeoutError:
                    break
            clock.value += timedelta(seconds=1)
            sent = time.perf_counter()
            adapter.queue.put_nowait(AgentStateEvent(ts=clock.value, agent=ids[3], state=AgentState.READY,
                                                     source=adapter.source))
            while True:
                message = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                if message["type"] == "break_decision" and message["allowed"] and message["agent"] == "1001":
                    latencies.append(time.perf_counter() - sent)
                    break
            # 1001 takes and ends the break so the next round starts clean
            clock.value += timedelta(seconds=30)
            before = runtime.events_processed
            adapter.queue.put_nowait(AgentStateEvent(ts=clock.value, agent="1001", state=AgentState.SHORT_BREAK,
                                                     source=adapter.source))
            clock.value += timedelta(seconds=5)
            adapter.queue.put_nowait(AgentStateEvent(ts=clock.value, agent="1001", state=AgentState.READY,
                                                     source=adapter.source))
            await wait_processed(runtime, before + 2)
        await ws.close()
    result = summary_ms(latencies)
    result["requirement_ms"] = 200
    return result


async def bench_http(server, n: int) -> dict:
    base = server.base_url
    out = {}
    async with aiohttp.ClientSession() as session:
        token = await login(session, base, "supervisor")
        headers = {"Authorization": f"Bearer {token}"}
        for _name, path in (("floor", "/api/floor"), ("wall", "/api/wall"), ("budget", "/api/agents/1002/budget")):
            times = []
            for _ in range(n):
                started = time.perf_counter()
                async with session.get(base + path, headers=headers) as r:
                    await r.read()
                    assert r.status == 200
                times.append(time.perf_counter() - started)
            out[f"GET {path}"] = summary_ms(times)

        async def one() -> None:
            async with session.get(base + "/api/floor", headers=headers) as r:
                await r.read()

        started = time.perf_counter()
        for _ in range(n // 20):
            await asyncio.gather(*(one() for _ in range(20)))
        elapsed = time.perf_counter() - started
        out["GET /api/floor concurrent20"] = {"requests": (n // 20) * 20, "requests_per_s": round((n // 20) * 20 / elapsed, 1)}
    return out


async def main_async(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        config, runtime, server, adapter, clock, ids = await setup(Path(tmp), args.agents)
        try:
            throughput = await bench_throughput(runtime, adapter, clock, ids, args.events)
            grants = await bench_grants(runtime, server, adapter, clock, ids, args.grants)
            http = await bench_http(server, args.requests)
            started = time.perf_counter()
        finally:
            await server.stop()
            await runtime.stop()
        stop_s = time.perf_counter() - started
    return {
        "benchmark": "api",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "agents": args.agents,
        "runtime_throughput": throughput,
        "websocket_grant_latency": grants,
        "http": http,
        "shutdown_s": round(stop_s, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=60)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--grants", type=int, default=40)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    out = ROOT / "benchmarks" / "results" / "api.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
