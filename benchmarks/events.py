"""Event throughput on one core: §1 parse+validate, and durable logging through the event log.

    .venv/bin/python benchmarks/events.py [--events N] [--pg URL | --pg-temp]

Targets (issue 3): parse+validate >= 50,000 events/s; durable logging via
append_async >= 20,000 events/s. Writes benchmarks/results/events.json and
prints a one-line summary on stdout; progress goes to stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from wfm.config import load_config  # noqa: E402
from wfm.eventlog import event_body, open_log  # noqa: E402
from wfm.events import decode_event, read_events  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "events.json"
PARSE_TARGET = 50_000
LOG_TARGET = 20_000
CONCURRENCY = 1000  # producer coroutines, each awaiting its acknowledgement before its next record


def sample_lines(count: int) -> list[bytes]:
    """A mixed floor: state changes, queue status and calls, like an AMI feed produces."""
    t0 = datetime(2027, 1, 4, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    states = ["ready", "ringing", "on_call", "wrap_up", "short_break", "meal", "not_ready"]
    lines = []
    for i in range(count):
        ts = (t0 + timedelta(milliseconds=37 * i)).isoformat()
        agent = f"1{i % 60:03d}"
        match i % 4:
            case 0:
                obj = {"ts": ts, "type": "agent_state", "agent": agent, "state": states[i % 7],
                       "queues": ["general", "billing"], "reason": "小休" if i % 7 == 4 else None, "source": "ami"}
                obj = {k: v for k, v in obj.items() if v is not None}
            case 1:
                obj = {"ts": ts, "type": "queue_status", "queue": "general", "waiting": i % 9, "longest_wait_s": 12.5}
            case 2:
                obj = {"ts": ts, "type": "call", "queue": "billing", "call_id": f"c{i}", "event": "answered",
                       "agent": agent, "wait_s": 8.0}
            case _:
                obj = {"ts": ts, "type": "call", "queue": "general", "call_id": f"c{i}", "event": "completed",
                       "agent": agent, "talk_s": 183.0}
        lines.append(json.dumps(obj, ensure_ascii=False).encode("utf-8"))
    return lines


def bench_parse(lines: list[bytes], repeats: int = 3) -> dict:
    best_read, best_decode = float("inf"), float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        events = [e for e in read_events(lines, "bench")]
        best_read = min(best_read, time.perf_counter() - start)
        start = time.perf_counter()
        for line in lines:
            decode_event(line)
        best_decode = min(best_decode, time.perf_counter() - start)
    assert len(events) == len(lines) and all(not hasattr(e, "reason") or e.__class__.__name__ != "BadLine" for e in events)
    return {"events": len(lines), "read_events_per_s": round(len(lines) / best_read),
            "decode_event_per_s": round(len(lines) / best_decode), "target_per_s": PARSE_TARGET}


async def _append_all(log, items, progress) -> float:
    """CONCURRENCY producer coroutines, each awaiting the acknowledgement of its records in turn."""
    async def producer(share):
        for done, (body, ts) in enumerate(share, start=1):
            await log.append_async("event", body, ts)
            if done % 100 == 0:
                progress(100)

    start = time.perf_counter()
    await asyncio.gather(*(producer(items[k::CONCURRENCY]) for k in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    await log.aclose()
    return elapsed


def bench_log(url: str, items: list, label: str, batch_max_records: int, batch_max_delay_ms: float) -> dict:
    from tqdm import tqdm

    log = open_log(url, batch_max_records=batch_max_records, batch_max_delay_ms=batch_max_delay_ms)
    with tqdm(total=len(items), desc=f"append_async {label}", unit="ev", file=sys.stderr, leave=False) as bar:
        elapsed = asyncio.run(_append_all(log, items, bar.update))
    with open_log(url, readonly=True) as reader:
        start = time.perf_counter()
        result = reader.verify()
        verify_s = time.perf_counter() - start
    assert result.ok and result.records == len(items), result
    return {"backend": label, "events": len(items), "append_async_per_s": round(len(items) / elapsed),
            "verify_per_s": round(len(items) / verify_s), "target_per_s": LOG_TARGET}


def bench_sync_append(url: str, items: list) -> dict:
    """One transaction per record (append): what each commit's fsync costs."""
    with open_log(url) as log:
        start = time.perf_counter()
        for body, ts in items:
            log.append("event", body, ts)
        elapsed = time.perf_counter() - start
    return {"events": len(items), "append_per_s": round(len(items) / elapsed)}


def bench_serial_latency(url: str, items: list, batch_max_records: int, batch_max_delay_ms: float) -> dict:
    """One producer awaiting each append in turn: the acknowledgement latency a lone caller sees."""
    log = open_log(url, batch_max_records=batch_max_records, batch_max_delay_ms=batch_max_delay_ms)

    async def serial():
        lat = []
        for body, ts in items:
            start = time.perf_counter()
            await log.append_async("event", body, ts)
            lat.append(time.perf_counter() - start)
        await log.aclose()
        return lat

    lat = sorted(asyncio.run(serial()))
    return {"events": len(items), "p50_ms": round(1000 * lat[len(lat) // 2], 2),
            "p99_ms": round(1000 * lat[int(len(lat) * 0.99)], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--pg", metavar="URL", help="also measure a PostgreSQL log at URL (its table is appended to)")
    parser.add_argument("--pg-temp", action="store_true",
                        help="also measure PostgreSQL on a throw-away local cluster (PostgreSQL 15 binaries, fsync on)")
    args = parser.parse_args()
    if args.pg_temp:
        sys.path.insert(0, str(REPO / "tests"))
        from test_eventlog_postgres import PgServer  # the test suite's throw-away cluster

        server = PgServer("/usr/lib/postgresql/15/bin/postgres")
        server.init()
        server.start()
        try:
            args.pg = server.new_database()
            return run(args)
        finally:
            server.stop()
            server.cleanup()
    return run(args)


def run(args: argparse.Namespace) -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    storage = load_config().storage
    lines = sample_lines(args.events)
    parse = bench_parse(lines)
    events = [decode_event(line) for line in lines]
    items = [(event_body(e), e.ts) for e in events]
    logs = []
    with tempfile.TemporaryDirectory(dir=REPO / "benchmarks" / "results") as tmp:
        for sync in ("FULL", "NORMAL"):
            url = f"sqlite:///{tmp}/bench-{sync}.sqlite?synchronous={sync}"
            logs.append(bench_log(url, items, f"sqlite synchronous={sync}", storage.batch_max_records, storage.batch_max_delay_ms))
        serial = bench_serial_latency(f"sqlite:///{tmp}/serial.sqlite", items[:500], storage.batch_max_records,
                                      storage.batch_max_delay_ms)
        one_by_one = {sync: bench_sync_append(f"sqlite:///{tmp}/sync-{sync}.sqlite?synchronous={sync}", items[:2000])
                      for sync in ("FULL", "NORMAL")}
    if args.pg:
        logs.append(bench_log(args.pg, items, "postgresql", storage.batch_max_records, storage.batch_max_delay_ms))
    report = {
        "benchmark": "events",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "pinned_cores": 1,
                    "load_average_1min": round(os.getloadavg()[0], 2)},  # the box is shared: read rates against this
        "config": {"batch_max_records": storage.batch_max_records, "batch_max_delay_ms": storage.batch_max_delay_ms,
                   "concurrent_appenders": CONCURRENCY},
        "parse": parse,
        "log": logs,
        "serial_append_latency": serial,
        "sync_append_one_transaction_each": one_by_one,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    full = logs[0]
    ok = parse["read_events_per_s"] >= PARSE_TARGET and full["append_async_per_s"] >= LOG_TARGET
    print(f"events: parse {parse['read_events_per_s']:,}/s (target {PARSE_TARGET:,}), "
          f"durable append_async {full['append_async_per_s']:,}/s FULL, {logs[1]['append_async_per_s']:,}/s NORMAL "
          f"(target {LOG_TARGET:,}), verify {full['verify_per_s']:,}/s, serial ack p50 {serial['p50_ms']} ms, "
          f"append one-by-one {one_by_one['FULL']['append_per_s']:,}/s FULL vs {one_by_one['NORMAL']['append_per_s']:,}/s NORMAL"
          + "".join(f", {entry['backend']} {entry['append_async_per_s']:,}/s" for entry in logs[2:])
          + f" (load {report['machine']['load_average_1min']}) -> {'OK' if ok else 'BELOW TARGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
