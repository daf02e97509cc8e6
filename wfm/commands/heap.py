"""The serving process's heap, once it is up: what exists is frozen out of the collector, thresholds raised.

By the time `wfm serve` (or `wfm demo`) listens, the log is replayed and the app built:
those objects live as long as the process, yet every full collection walks them all.
`gc.freeze()` moves them to the permanent generation, and `[process] gc_thresholds`
makes young collections rarer (the default 700 allocations is a fraction of a
millisecond on a busy floor). Reference cycles are still collected, only in larger
steps; the soak (benchmarks/load.py) watches the RSS that results.
"""
from __future__ import annotations

import gc

from wfm.config import ProcessConfig


def settle_heap(process: ProcessConfig) -> None:
    """Freeze the objects alive now (if configured) and apply the collection thresholds."""
    if process.gc_freeze:
        gc.collect()
        gc.freeze()
    first, second, third = process.gc_thresholds
    gc.set_threshold(first, second, third)
