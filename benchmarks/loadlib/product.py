"""The product process: the real AmiAdapter → Runtime → SQLite event log → API and WebSocket."""
from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import resource
import sys
import time
from pathlib import Path

from wfm.commands.feeds import ami_settings
from benchmarks.loadlib.census import census_growth
from benchmarks.loadlib.plan import CENSUS_ENV, emit, LoadPlan, PlanClock, SECRET_ENV, STATUS_S, TRACEMALLOC_ENV, roster

logger = logging.getLogger("benchmarks.load")

# ───────────────────────────────────────────────────────────── product process (adapter → runtime → log → API)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kb(pid: int | str = "self") -> int:
    return memory_kb(pid).get("VmRSS", 0)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def malloc_kb() -> dict[str, int]:
    """glibc's heap, all arenas (mallinfo2): `heap` obtained from the system (sbrk and thread arenas),
    `in_use` by allocations, `free` held in its free lists (fragmentation), `mmap` in mmapped blocks."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {"heap": info.arena // 1024, "in_use": info.uordblks // 1024, "free": info.fordblks // 1024,
            "mmap": info.hblkhd // 1024}


def memory_kb(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and its parts (RssAnon: the heap; RssFile: mapped files, e.g. SQLite's; RssShmem: shared
    memory, e.g. the WAL index) from /proc, in kB."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(line.split()[1])
    return out


async def run_product(plan: LoadPlan, ami_port: int, log_path: Path) -> None:
    from telephony.ami.client import AmiAdapter
    from wfm.api.app import ApiServer, create_app
    from wfm.commands.heap import keep_heap, settle_heap
    from wfm.config import default_data, from_data, merge
    from wfm.engine import FloorEngine
    from wfm.eventlog import open_log_from_config
    from wfm.events import ShiftEvent
    from wfm.runtime import Runtime

    api = {"port": 0, "login_attempts_per_minute": 1000}
    if plan.ws_floor_interval_ms is not None:
        api["ws_floor_interval_ms"] = plan.ws_floor_interval_ms
    config = from_data(merge(default_data(), {"storage": {"url": f"sqlite:///{log_path}"}, "api": api}),
                       "load benchmark")
    clock = PlanClock(plan)
    log = open_log_from_config(config)
    adapter = AmiAdapter(ami_settings(config), host="127.0.0.1", port=ami_port, username="wfm", secret=os.environ[SECRET_ENV],
                         source="ami:load", clock=clock)
    runtime = Runtime(config, FloorEngine(config), log, [adapter], clock, speed=clock.speed)

    def shifts(_report):
        now = clock.now()
        return [ShiftEvent(ts=now, agent=a, start=s, end=e, meal_start=m) for a, s, e, m in roster(plan)]

    await runtime.start(prelude=shifts)
    server = ApiServer(create_app(runtime, config, dashboard=False), "127.0.0.1", 0)
    await server.start()
    settle_heap(config.process)  # as `wfm serve` does once it listens
    heap_keeper = asyncio.create_task(keep_heap(config.process), name="wfm-heap-keeper")
    emit({"ready": True, "api": server.base_url, "pid": os.getpid(), "shifts": plan.agents})

    def status() -> dict:
        inbox = getattr(runtime, "_inbox", None)
        feed_queue = getattr(adapter, "_queue", None)
        health = adapter.health(clock.now())
        return {"t": time.time(), "processed": runtime.events_processed, "failed": runtime.events_failed,
                "inbox": inbox.qsize() if inbox is not None else 0,
                "feed_queue": feed_queue.qsize() if feed_queue is not None else 0,
                "skipped": adapter.skipped, "reconnects": health.reconnects, "connected": health.connected,
                "reconciliations": adapter.reconciliations, "drift": adapter.drift,
                **_memory(), "cpu_s": cpu_seconds()}

    def _memory() -> dict:
        kb = memory_kb()
        return {"rss_kb": kb.get("VmRSS", 0), "rss_anon_kb": kb.get("RssAnon", 0), "rss_file_kb": kb.get("RssFile", 0),
                "rss_shmem_kb": kb.get("RssShmem", 0), "py_blocks": sys.getallocatedblocks(), "tasks": len(asyncio.all_tasks()),
                "malloc_kb": malloc_kb()}

    async def report_status() -> None:
        while True:
            emit(status())
            await asyncio.sleep(STATUS_S)

    reporter = asyncio.create_task(report_status(), name="load-status")
    trace_to = os.environ.get(TRACEMALLOC_ENV)
    tracer = asyncio.create_task(trace_growth(Path(trace_to)), name="load-tracemalloc") if trace_to else None
    census_to = os.environ.get(CENSUS_ENV)
    census = asyncio.create_task(census_growth(Path(census_to), {"runtime": runtime, "adapter": adapter, "server": server}),
                                 name="load-census") if census_to else None
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)  # EOF: stop
    reporter.cancel()
    for task in (tracer, census, heap_keeper):
        if task is not None:
            task.cancel()
    final = status()
    await server.stop()
    await runtime.stop()  # closes the log
    emit({"final": final})


async def trace_growth(out: Path, warm_up_s: float = 60.0, every_s: float = 60.0) -> None:
    """Write the allocation sites that grew since the warm-up snapshot, every minute (tracemalloc)."""
    import gc
    import tracemalloc

    tracemalloc.start(8)
    await asyncio.sleep(warm_up_s)
    gc.collect()
    base = tracemalloc.take_snapshot()
    while True:
        await asyncio.sleep(every_s)
        gc.collect()
        snap = tracemalloc.take_snapshot()
        stats = snap.compare_to(base, "traceback")[:25]
        lines = [f"traced now {tracemalloc.get_traced_memory()[0] / 1e6:.1f} MB; top growth since warm-up:"]
        for stat in stats:
            lines.append(f"{stat.size_diff / 1e6:+.2f} MB {stat.count_diff:+d} blocks")
            lines.extend("    " + line for line in stat.traceback.format()[-12:])
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
