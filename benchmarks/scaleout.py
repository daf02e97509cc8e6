"""Scale-out propagation: how soon another `wfm serve` process's engine sees an event (shared PostgreSQL log).

    nice .venv/bin/python benchmarks/scaleout.py [--events 400] [--gap-ms 5]

A throw-away PostgreSQL server (initdb in a temp dir, as the tests do), two
SharedRuntimes in this process, each with its own in-memory PBX feed. Site A
starts first and judges the floor; B is a hot standby. Site A's feed yields
agent_state events one at a time; measured from the feed yielding the event
to site B's engine having applied it: A's group commit, the NOTIFY, A judging
it and logging its judged marker, B's follower reading that marker and
applying the record (p50/p95/p99/max).
Also: how many records the log holds and that its chain verifies. Writes
benchmarks/results/scaleout.json; one summary line on stdout, progress on stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tqdm import tqdm  # noqa: E402

from telephony.adapter import ActionResult, Adapter, ConnectionState, FeedHealth  # noqa: E402
from wfm.config import default_data, from_data, merge  # noqa: E402
from wfm.engine import FloorEngine  # noqa: E402
from wfm.eventlog import open_log  # noqa: E402
from wfm.events import AgentState, AgentStateEvent  # noqa: E402
from wfm.runtime import FloorChanged  # noqa: E402
from wfm.scaleout import SharedRuntime  # noqa: E402
from benchmarks.pgserver import PgServer, find_postgres  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "scaleout.json"


class PushFeed(Adapter):
    """A PBX feed whose events this benchmark pushes, noting when each was yielded."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.queue: asyncio.Queue = asyncio.Queue()
        self.yielded: dict[str, float] = {}

    async def stream(self):
        while True:
            event = await self.queue.get()
            if event is None:
                return
            self.yielded[event.agent + "/" + event.state.value] = time.perf_counter()
            yield event

    async def snapshot(self) -> None:
        return None

    async def set_paused(self, agent: str, paused: bool, reason: str | None = None) -> ActionResult:
        return ActionResult(action="set_paused", agent=agent, ok=True, detail="benchmark feed")

    def health(self, now: datetime) -> FeedHealth:
        return FeedHealth(source=self.source, state=ConnectionState.CONNECTED, connected=True, stale=False,
                          last_event_age_s=0.0, reconnects=0, skipped=0)

    async def close(self) -> None:
        self.queue.put_nowait(None)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


async def measure(url: str, events: int, gap_s: float) -> dict:
    config = from_data(merge(default_data(), {"storage": {"url": url}}))
    t0 = datetime.now(config.floor.tz).replace(microsecond=0)
    clock = FixedClock(t0)
    feed_a, feed_b = PushFeed("bench:a"), PushFeed("bench:b")
    site_a = SharedRuntime(config, FloorEngine(config), open_log(url), [feed_a], clock)
    site_b = SharedRuntime(config, FloorEngine(config), open_log(url), [feed_b], clock)
    seen = asyncio.Event()
    applied: list[float] = []

    def on_b(update) -> None:
        if isinstance(update, FloorChanged):
            while len(applied) < site_b.events_processed:  # every event B applied came from A
                applied.append(time.perf_counter())
            seen.set()

    latencies: list[float] = []
    try:
        await site_a.start()
        await site_b.start()
        site_b.subscribe(on_b)
        states = (AgentState.READY, AgentState.ON_CALL)
        for i in tqdm(range(events), desc="events A -> B", file=sys.stderr, leave=False):
            agent, state = f"{1001 + i % 50}", states[(i // 50) % 2]
            before = len(applied)
            feed_a.queue.put_nowait(AgentStateEvent(ts=t0, agent=agent, state=state, source="bench:a"))
            while len(applied) <= before:
                seen.clear()
                await asyncio.wait_for(seen.wait(), 10)
            latencies.append((applied[before] - feed_a.yielded[f"{agent}/{state.value}"]) * 1000)
            await asyncio.sleep(gap_s)
    finally:
        await site_b.stop()
        await site_a.stop()
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    return {"events": len(latencies), "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1], 2), "mean_ms": round(statistics.fmean(latencies), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--gap-ms", type=float, default=5.0)
    args = parser.parse_args()

    postgres = find_postgres()
    if postgres is None:
        sys.stderr.write("scaleout benchmark: PostgreSQL is not installed\n")
        return 2
    server = PgServer(postgres)
    try:
        server.init()
        server.start()
        url = server.new_database()
        result = asyncio.run(measure(url, args.events, args.gap_ms / 1000))
        with open_log(url, readonly=True) as log:
            verified = log.verify()
    finally:
        try:
            server.stop()
        finally:
            server.cleanup()
    results = {
        "benchmark": "scaleout",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "propagation_a_to_b": result,
        "log_records": verified.records,
        "log_verifies": verified.ok,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"scaleout: event from site A applied on site B p50 {result['p50_ms']} ms p99 {result['p99_ms']} ms "
          f"({result['events']} events; log {verified.records} records, verify {'ok' if verified.ok else 'FAILED'}) -> {RESULTS.relative_to(REPO)}")
    return 0 if verified.ok else 1


if __name__ == "__main__":
    sys.exit(main())
