"""Where a long run's memory goes (opt-in, WFM_LOAD_CENSUS=FILE): a census of the product's objects.

tracemalloc slows the product several times over, so it cannot be used on a floor that must keep
up. This is cheaper and runs once a minute: the number of live objects per type (gc), and the
length of every container reachable from the product's roots, summed per attribute path
(`runtime.engine.read_model._rows[*]` adds up the rows of every agent), each against the census
taken after the warm-up. The paths that keep growing are the leak candidates.
"""
from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections import Counter, deque
from pathlib import Path
from types import BuiltinFunctionType, CoroutineType, FrameType, FunctionType, GeneratorType, MethodType, ModuleType

_SKIP_TYPES = (str, bytes, bytearray, int, float, bool, type(None), complex, memoryview, range, type, ModuleType,
               FunctionType, MethodType, BuiltinFunctionType, CoroutineType, GeneratorType, FrameType)
_SKIP_MODULES = ("asyncio.", "logging", "ssl", "socket", "selectors", "concurrent.", "threading", "typing",
                 "enum", "re", "_")


def type_census() -> Counter[str]:
    """Live gc-tracked objects per type name."""
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        counts[type(obj).__qualname__] += 1
    return counts


def _attrs(obj: object) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        out.extend(d.items())
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if isinstance(name, str) and name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                try:
                    out.append((name, getattr(obj, name)))
                except Exception:  # a slot property may raise
                    pass
    return out


def container_census(roots: dict[str, object], limit: int = 2_000_000) -> Counter[str]:
    """Total length of the containers reachable from `roots`, per attribute path ([*]: any element)."""
    sizes: Counter[str] = Counter()
    seen: set[int] = set()
    todo: deque[tuple[str, object]] = deque(roots.items())
    visited = 0
    while todo and visited < limit:
        path, obj = todo.popleft()
        if isinstance(obj, _SKIP_TYPES) or id(obj) in seen:
            continue
        seen.add(id(obj))
        visited += 1
        if isinstance(obj, dict):
            sizes[path] += len(obj)
            todo.extend((path + "[*]", v) for v in obj.values())
            todo.extend((path + "{k}", k) for k in obj if not isinstance(k, _SKIP_TYPES))
        elif isinstance(obj, (list, tuple, set, frozenset, deque)):
            sizes[path] += len(obj)
            todo.extend((path + "[*]", v) for v in obj)
        elif isinstance(obj, asyncio.Queue):
            sizes[path + ".qsize"] += obj.qsize()
            todo.extend((path + "." + name, value) for name, value in _attrs(obj))
        else:
            module = type(obj).__module__ or ""
            if module.startswith(_SKIP_MODULES):
                continue
            for name, value in _attrs(obj):
                todo.append((f"{path}.{name}", value))
    sizes["(objects visited)"] = visited
    return sizes


def _top(now: Counter[str], base: Counter[str], n: int) -> list[tuple[str, int, int]]:
    grown = [(key, now[key] - base.get(key, 0), now[key]) for key in now]
    grown.sort(key=lambda row: -row[1])
    return [row for row in grown[:n] if row[1] > 0]


async def census_growth(out: Path, roots: dict[str, object], warm_up_s: float = 120.0, every_s: float = 60.0) -> None:
    """Every `every_s` after `warm_up_s`: write the types and container paths that grew since the warm-up."""
    await asyncio.sleep(warm_up_s)
    gc.collect()
    base_types, base_sizes = type_census(), container_census(roots)
    started = time.time()
    report: list[str] = []
    while True:
        await asyncio.sleep(every_s)
        t0 = time.perf_counter()
        gc.collect()
        types, sizes = type_census(), container_census(roots)
        took = time.perf_counter() - t0
        report.append(f"== {time.time() - started:.0f} s after the warm-up census ({took:.2f} s to take; "
                      f"py blocks {sys.getallocatedblocks()})")
        report.append("types (growth, now):")
        report.extend(f"  {key}: {grew:+d} ({now})" for key, grew, now in _top(types, base_types, 20))
        report.append("containers (growth in elements, now):")
        report.extend(f"  {key}: {grew:+d} ({now})" for key, grew, now in _top(sizes, base_sizes, 30))
        out.write_text("\n".join(report) + "\n", encoding="utf-8")
