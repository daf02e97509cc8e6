"""Wall boards polling GET /api/wall: the shared ~100 ms build (api.wall_cache_ms) against none.

Real parts: the rules engine with a large floor, the SQLite event log, the aiohttp
server on a localhost port, aiohttp clients (one per board, each polling as fast
as it is answered). Measured for api.wall_cache_ms = 100 (shipped) and 0 (every
request builds the view): requests/s served, wall-view builds/s, latency p50/p95.

    nice .venv/bin/python benchmarks/wall.py [--agents 2000] [--boards 20] [--seconds 5]

Writes benchmarks/results/wall.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wfm.api.app import ApiServer, create_app  # noqa: E402
from wfm.config import default_data, from_data, merge  # noqa: E402
from wfm.engine import FloorEngine  # noqa: E402
from wfm.eventlog import open_log_from_config  # noqa: E402
from wfm.events import AgentState, AgentStateEvent, CallEvent, QueueStatusEvent, ShiftEvent  # noqa: E402
from wfm.runtime import Runtime  # noqa: E402

TZ = timezone(timedelta(hours=8))
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=TZ)
STATES = (AgentState.READY, AgentState.ON_CALL, AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.SHORT_BREAK)


class Clock:
    def now(self):
        return T0 + timedelta(minutes=30)


class CountingEngine(FloorEngine):
    builds = 0

    def floor_data(self, now, **kw):  # what every floor snapshot is built from
        CountingEngine.builds += 1
        return super().floor_data(now, **kw)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run_once(agents: int, boards: int, seconds: float, cache_ms: float, folder: Path) -> dict:
    config = from_data(merge(default_data(), {
        "storage": {"url": f"sqlite:///{folder / f'wall-{int(cache_ms)}.sqlite'}"},
        "api": {"port": 0, "wall_cache_ms": cache_ms},
    }), "bench")
    engine = CountingEngine(config)
    for i in range(agents):
        agent = str(10000 + i)
        engine.handle(ShiftEvent(ts=T0 - timedelta(hours=2), agent=agent, start=T0 - timedelta(minutes=30),
                                 end=T0 + timedelta(hours=7)))
        engine.handle(AgentStateEvent(ts=T0 - timedelta(minutes=31), agent=agent, state=STATES[i % len(STATES)]))
    for q in range(20):
        for c in range(5):
            engine.handle(CallEvent(ts=T0 + timedelta(seconds=c), queue=f"q{q}", call_id=f"{q}-{c}", event="offered"))
        engine.handle(QueueStatusEvent(ts=T0 + timedelta(seconds=5), queue=f"q{q}", waiting=5))
    CountingEngine.builds = 0
    log = open_log_from_config(config)
    runtime = Runtime(config, engine, log, [], Clock())
    await runtime.start(replay=False)
    server = ApiServer(create_app(runtime, config, dashboard=False), "127.0.0.1", 0)
    await server.start()
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=boards)) as session:
            async def board() -> None:
                while time.perf_counter() < stop_at:
                    started = time.perf_counter()
                    async with session.get(server.base_url + "/api/wall") as response:
                        await response.read()
                        assert response.status == 200
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(board() for _ in range(boards)))
            elapsed = time.perf_counter() - started
    finally:
        await server.stop()
        await runtime.stop()
    return {
        "wall_cache_ms": cache_ms,
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "view_builds_per_s": round(CountingEngine.builds / elapsed, 1),
        "latency_ms_p50": round(pct(latencies, 0.5) * 1000, 1),
        "latency_ms_p95": round(pct(latencies, 0.95) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--boards", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [asyncio.run(run_once(args.agents, args.boards, args.seconds, ms, Path(tmp))) for ms in (100.0, 0.0)]
    result = {
        "benchmark": "wall",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "note": "shared 2-core machine"},
        "agents": args.agents,
        "boards": args.boards,
        "seconds": args.seconds,
        "runs": runs,
    }
    out = ROOT / "benchmarks" / "results" / "wall.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
