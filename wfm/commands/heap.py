"""The serving process's heap, once it is up: what exists is frozen out of the collector, thresholds raised,
and glibc kept from hoarding freed memory.

By the time `wfm serve` (or `wfm demo`) listens, the log is replayed and the app built:
those objects live as long as the process, yet every full collection walks them all.
`gc.freeze()` moves them to the permanent generation, and `[process] gc_thresholds`
makes young collections rarer (the default 700 allocations is a fraction of a
millisecond on a busy floor). Reference cycles are still collected, only in larger
steps.

glibc: the floor's snapshots are multi-megabyte buffers made several times a second.
glibc's mmap threshold slides up to the size of the largest block freed, after which
such buffers come from the heap and leave it fragmented (in the 60-minute soak,
benchmarks/load.py, its free lists grew 29 -> 70 MB while Python's blocks stayed flat).
`malloc_mmap_threshold_kib` fixes the threshold, so large blocks are mapped and given
back when freed, and `malloc_trim_every_s` returns free heap pages to the system
periodically. Elsewhere than glibc both are skipped.
"""
from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
from collections.abc import Callable

from wfm.config import ProcessConfig

logger = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt  # noqa: B018 - present only in glibc (and compatible) C libraries
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def settle_heap(process: ProcessConfig) -> None:
    """Freeze the objects alive now (if configured), apply the collection thresholds and glibc's
    mmap threshold."""
    if process.gc_freeze:
        gc.collect()
        gc.freeze()
    first, second, third = process.gc_thresholds
    gc.set_threshold(first, second, third)
    libc = _glibc()
    if libc is not None and process.malloc_mmap_threshold_kib > 0:
        if not libc.mallopt(_M_MMAP_THRESHOLD, process.malloc_mmap_threshold_kib * 1024):
            logger.warning("process.malloc_mmap_threshold_kib = %d not taken by the C library",
                           process.malloc_mmap_threshold_kib)


def trim_heap() -> bool:
    """Give glibc's free heap pages back to the system; True if any were."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


async def keep_heap(process: ProcessConfig, trim: Callable[[], bool] = trim_heap) -> None:
    """Every `malloc_trim_every_s` (0: never), trim the heap in a worker thread; runs until cancelled."""
    if process.malloc_trim_every_s <= 0 or _glibc() is None:
        return
    while True:
        await asyncio.sleep(process.malloc_trim_every_s)
        await asyncio.to_thread(trim)
