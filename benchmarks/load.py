"""Whole-pipeline load (issue 9 item 3): a 5,000-agent, 200-queue centre at 10x real time.

    nice .venv/bin/python benchmarks/load.py [--minutes 10] [--agents 5000] [--queues 200] [--speed 10]

Three processes, every hop real:

    generator process: an Asterisk 18 AMI server on a localhost port, driven by a
        call-centre model (Poisson arrivals, skills, longest-idle routing, abandons,
        小休 / 用餐 pauses per queue with PausedReason); answers Challenge/Login,
        QueueStatus (full snapshot), QueuePause, Ping
      ─TCP─► product process: the real AmiAdapter → Runtime (FloorEngine, the day's
        shifts submitted first) → SQLite event log (durable, group commit) → aiohttp
        API and WebSocket hub
      ─WS──► this process: a few WebSocket clients (2 supervisors, 1 agent, 1 wall).

Measured: events/s held through the log (mean and the slowest 10-s window),
decision latency from the moment the generator wrote the PBX message that
caused a decision to the moment a WebSocket client got that decision (p50/p99,
clocks are the same host's CLOCK_REALTIME), product RSS at start and end,
events lost (every §1 event the generator's messages stand for — counted per
type, and every call id per call event — against what the log holds; the log
must hold all of them, and no more: the periodic reconciliation QueueStatus
lists (pbx.reconcile_s) stand for no event unless the floor drifted, which the
adapter counts), `verify` of the log's chain. A soak is the same run for longer:
`per_minute` is its curve (events/s, queue depths, RSS with its anonymous / file /
shared parts, Python's allocated blocks, load average). WFM_LOAD_CENSUS=FILE (or
the costlier WFM_LOAD_TRACEMALLOC=FILE) writes what grows in the product. Writes
benchmarks/results/load.json; one summary line on stdout; live status on stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))



from benchmarks.loadlib.floor import latency_key  # noqa: E402
from benchmarks.loadlib.plan import LoadPlan, PROFILE_ENV, SECRET_ENV, STATUS_S, TARGET_P99_MS  # noqa: E402
from benchmarks.loadlib.generator import run_generator  # noqa: E402
from benchmarks.loadlib.product import run_product  # noqa: E402

logger = logging.getLogger("benchmarks.load")


# ───────────────────────────────────────────────────────────── driver


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Child:
    """A child process speaking JSON lines on stdout."""

    def __init__(self, argv: list[str], env: dict) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.lines: asyncio.Queue[dict] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start_reading(self) -> None:
        loop = asyncio.get_running_loop()

        def reader() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                loop.call_soon_threadsafe(self.lines.put_nowait, json.loads(raw))
            loop.call_soon_threadsafe(self.lines.put_nowait, {"eof": True})

        self._task = loop.run_in_executor(None, reader)

    async def next(self, timeout: float) -> dict:
        line = await asyncio.wait_for(self.lines.get(), timeout)
        if line.get("eof"):
            raise RuntimeError(f"child {self.proc.args[2:4]} exited with {self.proc.wait()}")
        return line

    def say(self, data: bytes = b"go\n", close: bool = False) -> None:
        assert self.proc.stdin is not None
        if data:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        if close:
            self.proc.stdin.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class WsClients:
    """A few WebSocket clients: they record every decision/violation/alert with its arrival time."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.received: list[tuple[str, dict, float]] = []  # (client, output, time)
        self.floor_pushes: Counter[str] = Counter()
        self.tasks: list[asyncio.Task] = []
        self.session = None

    async def start(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession()
        for name, user in (("supervisor-1", "supervisor"), ("supervisor-2", "admin"), ("agent-1001", "1001"),
                           ("wall", None)):
            if user is None:
                ws = await self.session.ws_connect(self.base + "/ws/wall", max_msg_size=0)
            else:
                async with self.session.post(self.base + "/api/login", json={"username": user, "password": user}) as r:
                    if r.status != 200:
                        raise RuntimeError(f"login {user}: HTTP {r.status}")
                    token = (await r.json())["token"]
                ws = await self.session.ws_connect(self.base + f"/ws?token={token}", max_msg_size=0)
            self.tasks.append(asyncio.create_task(self._listen(name, ws), name=f"ws-{name}"))

    async def _listen(self, name: str, ws) -> None:
        import aiohttp

        async for message in ws:
            now = time.time()
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            text = message.data
            if text.startswith('{"type":"floor"'):
                self.floor_pushes[name] += 1  # not decoded: the client's own CPU stays out of the product's way
                continue
            body = json.loads(text)
            if body.get("type") in ("break_decision", "violation", "alert"):
                self.received.append((name, body, now))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()


def analyse_log(log_path: Path, keys_path: Path) -> dict:
    """Count the log's §1 events per type, match every sent call id, verify the chain."""
    from wfm.eventlog import open_log

    log = open_log(f"sqlite:///{log_path}", readonly=True)
    try:
        counts: Counter[str] = Counter()
        logged_calls: set[str] = set()
        decisions = 0
        for record in log.read():
            body = record.body
            if record.kind == "event":
                kind = body.get("type")
                if kind == "call":
                    counts[f"call:{body.get('event')}"] += 1
                    logged_calls.add(f"{body.get('call_id')} {body.get('event')}")
                else:
                    counts[kind] += 1
            elif record.kind == "decision":
                decisions += 1
        started = time.perf_counter()
        verdict = log.verify()
        verify_s = time.perf_counter() - started
    finally:
        log.close()
    with keys_path.open(encoding="utf-8") as keys:
        sent_calls = {line.strip() for line in keys if line.strip()}
    return {"counts": dict(counts), "decisions": decisions, "verify_ok": verdict.ok, "verify": verdict.message(),
            "records": verdict.records, "verify_s": round(verify_s, 2),
            "call_events_missing": len(sent_calls - logged_calls), "call_events_sent": len(sent_calls)}


async def drive(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from wfm.config import load_config

    tz = load_config(None).floor.tz
    today = datetime.now(tz).date()
    sim_start = datetime.combine(today, datetime.min.time(), tzinfo=tz).replace(hour=9, minute=25)
    plan = LoadPlan(agents=args.agents, queues=args.queues, speed=args.speed, sim_start=sim_start.isoformat(),
                    wall_t0=time.time(), seed=args.seed, ws_floor_interval_ms=args.ws_floor_interval_ms)
    workdir = Path(tempfile.mkdtemp(prefix="wfm-load-"))
    log_path, keys_path = workdir / "load.sqlite", workdir / "calls.txt"
    env = {**os.environ, SECRET_ENV: secrets.token_urlsafe(16), "PYTHONPATH": str(ROOT)}
    me = [sys.executable, str(Path(__file__).resolve())]
    generator = Child([*me, "--role", "generator", "--plan", plan.to_json(), "--keys", str(keys_path)], env)
    generator.start_reading()
    product: Child | None = None
    clients: WsClients | None = None
    try:
        port = (await generator.next(30))["port"]
        product = Child([*me, "--role", "product", "--plan", plan.to_json(), "--ami-port", str(port),
                         "--log", str(log_path)], env)
        product.start_reading()
        ready = await product.next(120)
        clients = WsClients(ready["api"])
        await clients.start()
        statuses: list[dict] = []
        seconds = args.minutes * 60
        bar = tqdm(total=round(seconds), unit="s", desc="load", file=sys.stderr, dynamic_ncols=True)
        started = time.time()
        while time.time() - started < seconds:
            status = await product.next(30)
            status["load"] = os.getloadavg()  # the machine's 1/5/15-min load averages, as this run saw them
            statuses.append(status)
            if len(statuses) >= 2:
                window = statuses[-11:] if len(statuses) > 10 else statuses
                rate = (window[-1]["processed"] - window[0]["processed"]) / max(1e-9, window[-1]["t"] - window[0]["t"])
                bar.set_postfix_str(f"{rate:,.0f} ev/s inbox {status['inbox']} feed {status['feed_queue']} "
                                    f"rss {status['rss_kb'] / 1024:.0f} MB decisions {len(clients.received)}")
            bar.update(min(round(time.time() - started), round(seconds)) - bar.n)
        bar.close()
        generator.say()  # stop generating
        gen = await generator.next(60)
        while "messages" not in gen:
            gen = await generator.next(60)
        # drain: the product has read and logged everything once its queues are empty and nothing moves
        quiet = 0
        previous = None
        drain_started = time.time()
        while quiet < 3 and time.time() - drain_started < 120:
            status = await product.next(30)
            statuses.append(status)
            idle = status["inbox"] == 0 and status["feed_queue"] == 0
            quiet = quiet + 1 if idle and previous is not None and status["processed"] == previous else 0
            previous = status["processed"]
        await asyncio.sleep(1.0)  # the last decisions reach the sockets
        received, floor_pushes = clients.received, clients.floor_pushes
        await clients.close()
        clients = None
        product.say(b"", close=True)
        final = await product.next(30)
        while "final" not in final:
            final = await product.next(30)
        product.proc.wait(30)
        generator.say(b"", close=True)
        generator.proc.wait(30)
    finally:
        if clients is not None:
            await clients.close()
        for child in (product, generator):
            if child is not None:
                child.kill()
    sys.stderr.write("load: counting and verifying the log ...\n")
    checked = analyse_log(log_path, keys_path)
    try:
        result = summarise(args, plan, gen, statuses, final["final"], checked, received, floor_pushes)
    except Exception:  # a long run's figures must survive a bug in the summary: keep them beside the log
        raw = workdir / "raw.json"
        raw.write_text(json.dumps({"gen": {k: v for k, v in gen.items() if k != "latency_sent"}, "statuses": statuses,
                                   "final": final, "checked": checked}), encoding="utf-8")
        sys.stderr.write(f"load: the summary failed; the run's raw figures are in {raw}\n")
        raise
    if not args.keep:
        for path in (log_path, keys_path, Path(str(log_path) + "-wal"), Path(str(log_path) + "-shm")):
            path.unlink(missing_ok=True)
        try:
            workdir.rmdir()
        except OSError:
            pass
    else:
        result["workdir"] = str(workdir)
    return result


def summarise(args, plan: LoadPlan, gen: dict, statuses: list[dict], final: dict, checked: dict,
              received: list[tuple[str, dict, float]], floor_pushes: Counter) -> dict:
    # decision latency: PBX message written -> decision on a WebSocket
    sent = gen["latency_sent"]
    latencies: dict[str, list[float]] = {}
    unmatched = 0
    for client, output, at in received:
        agent = output.get("agent")
        try:
            epoch = datetime.fromisoformat(output["ts"]).timestamp()
        except (KeyError, TypeError, ValueError):
            unmatched += 1
            continue
        when = sent.get(latency_key(agent, epoch)) if agent else None
        if when is None:
            unmatched += 1  # a tick's finding (stamped with the tick, not a PBX message) or an alert
            continue
        latencies.setdefault(client, []).append((at - when) * 1000)
    every = [ms for values in latencies.values() for ms in values]
    by_minute: dict[int, list[float]] = {}
    first_status = statuses[0]["t"] if statuses else 0.0
    for _client, output, at in received:
        when = sent.get(latency_key(output.get("agent"), datetime.fromisoformat(output["ts"]).timestamp())) \
            if output.get("agent") and output.get("ts") else None
        if when is not None:
            by_minute.setdefault(int((at - first_status) // 60), []).append((at - when) * 1000)
    # events/s held, from the product's counters (10-s windows while the generator ran)
    running = [s for s in statuses if "processed" in s]
    load_phase = running[: max(1, round(args.minutes * 60 / STATUS_S))]  # while the generator ran
    steady = load_phase[len(load_phase) // 10:]  # skip the first tenth (snapshot, start-up)
    rates = [(b["processed"] - a["processed"]) / (b["t"] - a["t"]) for a, b in zip(steady, steady[10:])]
    timeline = []  # 10-s windows over the whole load phase: where a stall or a backlog happened
    for a, b in zip(load_phase[::10], load_phase[10::10]):
        window = load_phase[load_phase.index(a):load_phase.index(b) + 1]
        timeline.append({"t_s": round(a["t"] - load_phase[0]["t"]), "events_per_s": round((b["processed"] - a["processed"]) / (b["t"] - a["t"])),
                         "inbox_max": max(s["inbox"] for s in window), "feed_queue_max": max(s["feed_queue"] for s in window),
                         "rss_mb": round(b["rss_kb"] / 1024), "cpu": round((b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"]), 2)})
    curve = []  # the soak curve: one row per wall minute of the load phase
    minute_marks = load_phase[::round(60 / STATUS_S)]
    for a, b in zip(minute_marks, minute_marks[1:]):
        window = load_phase[load_phase.index(a):load_phase.index(b) + 1]
        curve.append({
            "minute": round((b["t"] - load_phase[0]["t"]) / 60), "events_per_s": round((b["processed"] - a["processed"]) / (b["t"] - a["t"])),
            "inbox_max": max(s["inbox"] for s in window), "feed_queue_max": max(s["feed_queue"] for s in window),
            "rss_mb": round(b["rss_kb"] / 1024, 1), "rss_anon_mb": round(b.get("rss_anon_kb", 0) / 1024, 1),
            "rss_file_mb": round(b.get("rss_file_kb", 0) / 1024, 1), "rss_shmem_mb": round(b.get("rss_shmem_kb", 0) / 1024, 1),
            "py_blocks": b.get("py_blocks"), "tasks": b.get("tasks"),
            "malloc_mb": {k: round(v / 1024, 1) for k, v in b.get("malloc_kb", {}).items()},
            "cpu": round((b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"]), 2),
            "load_1m_5m_15m": [round(x, 2) for x in b["load"]] if "load" in b else None})
    rss_start = steady[0]["rss_kb"] if steady else None
    rss_end = load_phase[-1]["rss_kb"] if load_phase else None
    expected = Counter(gen["expected"])
    expected["shift"] += plan.agents
    logged = Counter(checked["counts"])
    lost = {kind: expected[kind] - logged.get(kind, 0) for kind in expected if expected[kind] > logged.get(kind, 0)}
    extra = {kind: logged[kind] - expected.get(kind, 0) for kind in logged
             if kind != "resync" and logged[kind] > expected.get(kind, 0)}
    duration = (running[-1]["t"] - running[0]["t"]) if len(running) > 1 else 0.0
    cpu_share = ((load_phase[-1]["cpu_s"] - load_phase[0]["cpu_s"]) / (load_phase[-1]["t"] - load_phase[0]["t"])
                 if len(load_phase) > 1 else None)
    p99 = pct(every, 0.99)
    return {
        "benchmark": "load",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "floor": {"agents": plan.agents, "queues": plan.queues, "speed": plan.speed, "minutes": args.minutes,
                  "sim_start": plan.sim_start, "model": gen["model"],
                  "ws_floor_interval_ms": plan.ws_floor_interval_ms or "shipped default"},
        "pbx": {"messages": gen["messages"], "mb": round(gen["bytes"] / 1e6, 1),
                "messages_per_s": round(gen["messages"] / max(1.0, args.minutes * 60), 1),
                "sessions": gen["sessions"], "max_write_buffer_bytes": gen["max_write_buffer"],
                "skipped_by_adapter": final["skipped"], "reconnects": final["reconnects"],
                "snapshots": gen.get("snapshots"), "reconciliation_checks": gen.get("checks"),
                "reconciliation_check_items": gen.get("check_items"),
                "reconciliations_by_adapter": final.get("reconciliations"), "drift_corrected": final.get("drift")},
        "events_per_s": {"mean": round(final["processed"] / max(1e-9, duration), 1) if duration else None,
                         "min_10s": round(min(rates), 1) if rates else None,
                         "max_10s": round(max(rates), 1) if rates else None},
        "decision_latency_ms": {"n": len(every), "p50": _r(pct(every, 0.50)), "p90": _r(pct(every, 0.90)),
                                "p99": _r(p99), "max": _r(max(every) if every else None),
                                "per_client_p99": {c: _r(pct(v, 0.99)) for c, v in sorted(latencies.items())},
                                "outputs_received": len(received), "outputs_not_from_a_pbx_message": unmatched,
                                "target_p99_ms": TARGET_P99_MS},
        "decision_latency_by_minute": [{"minute": m, "n": len(v), "p50_ms": _r(pct(v, 0.5)), "p99_ms": _r(pct(v, 0.99))}
                                       for m, v in sorted(by_minute.items())],
        "per_minute": curve,
        "timeline_10s": timeline,
        "websocket_floor_pushes": dict(floor_pushes),
        "product_cpu": {"cores_busy": _r(cpu_share), "note": "CPU seconds per wall second of the product process "
                        "(one event loop: 1.0 means it is saturated)"},
        "memory": {"rss_start_mb": _r(rss_start / 1024 if rss_start else None),
                   "rss_end_mb": _r(rss_end / 1024 if rss_end else None),
                   "growth_mb": _r((rss_end - rss_start) / 1024 if rss_start and rss_end else None),
                   "note": "product process RSS, from 10 % into the run to its end"},
        "log": {"records": checked["records"], "events_expected": sum(expected.values()),
                "events_logged": sum(v for k, v in logged.items() if k != "resync"),
                "resync_markers": logged.get("resync", 0), "decisions": checked["decisions"],
                "verify_ok": checked["verify_ok"], "verify": checked["verify"], "verify_s": checked["verify_s"],
                "engine_failures": final["failed"]},
        "lost": {"events": sum(lost.values()), "by_type": lost, "unexpected_by_type": extra,
                 "call_events_sent": checked["call_events_sent"],
                 "call_events_missing": checked["call_events_missing"]},
        "meets_target": bool(p99 is not None and p99 < TARGET_P99_MS and not lost
                             and checked["call_events_missing"] == 0 and checked["verify_ok"]),
    }


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="whole-pipeline load: AMI generator -> adapter -> runtime -> log -> API/WS")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock minutes of load (default 10)")
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--speed", type=float, default=10.0, help="simulated seconds per wall second (default 10)")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--ws-floor-interval-ms", type=int, default=None,
                        help="product's api.ws_floor_interval_ms (default: the shipped value)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    parser.add_argument("--keep", action="store_true", help="keep the run's event log (path in the JSON)")
    parser.add_argument("--role", choices=("driver", "generator", "product"), default="driver", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--keys", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ami-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s {args.role} %(levelname)s %(name)s: %(message)s")
    if args.role == "generator":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver stops its children through stdin
        asyncio.run(run_generator(LoadPlan.from_json(args.plan), args.keys))
        return 0
    if args.role == "product":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        profile_to = os.environ.get(PROFILE_ENV)
        if profile_to:  # where the product's time goes: python -m pstats FILE
            import cProfile

            cProfile.runctx("asyncio.run(run_product(plan, port, log))", globals(),
                            {"plan": LoadPlan.from_json(args.plan), "port": args.ami_port, "log": args.log},
                            filename=profile_to)
        else:
            asyncio.run(run_product(LoadPlan.from_json(args.plan), args.ami_port, args.log))
        return 0
    if args.minutes <= 0 or args.agents < 1 or args.queues < 1 or args.speed <= 0:
        parser.error("--minutes, --agents, --queues and --speed must be positive")
    result = asyncio.run(drive(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lat = result["decision_latency_ms"]
    print(f"load: {result['floor']['agents']} agents, {result['floor']['queues']} queues at {result['floor']['speed']:g}x "
          f"for {result['floor']['minutes']:g} min: {result['events_per_s']['mean']} events/s held "
          f"(slowest 10 s: {result['events_per_s']['min_10s']}), decision latency p50 {lat['p50']} ms "
          f"p99 {lat['p99']} ms (n={lat['n']}), RSS {result['memory']['rss_start_mb']} -> "
          f"{result['memory']['rss_end_mb']} MB, lost {result['lost']['events']} events / "
          f"{result['lost']['call_events_missing']} call events, log verify "
          f"{'ok' if result['log']['verify_ok'] else 'FAILED'} -> {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
