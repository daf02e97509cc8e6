"""The serving process's heap settling (wfm/commands/heap.py), checked in a fresh interpreter so this
test process's own collector is left alone."""
from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys

import pytest

from wfm.commands.heap import keep_heap
from wfm.config import ConfigError, default_data, from_data, merge

SCRIPT = """
import gc, json, sys
from wfm.commands.heap import settle_heap
from wfm.config import default_data, from_data, merge
import ctypes
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
keep = [[i] for i in range(1000)]  # alive when the process settles
config = from_data(merge(default_data(), {"process": json.loads(sys.argv[1])}))
settle_heap(config.process)
big = bytearray(8 << 20)
del big  # glibc's sliding threshold now rises to 8 MiB: a 1 MiB block would come from the heap
block = bytearray(1 << 20)
mapped = libc.mallinfo2().hblkhd
print(json.dumps({"frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold(), "mapped": mapped}))
"""


def settle(process: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(process)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_settle_freezes_what_is_alive_and_raises_the_thresholds():
    result = settle({"gc_freeze": True, "gc_thresholds": [40000, 15, 12]})
    assert result["frozen"] >= 1000 and result["thresholds"] == [40000, 15, 12]


def test_settle_without_freeze_only_sets_the_thresholds():
    result = settle({"gc_freeze": False, "gc_thresholds": [700, 10, 10], "malloc_mmap_threshold_kib": 0})
    assert result["frozen"] == 0 and result["thresholds"] == [700, 10, 10]


def test_fixed_mmap_threshold_keeps_large_blocks_mapped_after_a_larger_one_was_freed():
    # fixed at 256 KiB: the 1 MiB block is mapped (given back to the system when freed)
    assert settle({"malloc_mmap_threshold_kib": 256})["mapped"] >= 1 << 20
    # glibc's sliding default: after an 8 MiB block was freed, the 1 MiB one comes from the heap
    assert settle({"malloc_mmap_threshold_kib": 0})["mapped"] < 1 << 20


async def test_heap_keeper_trims_on_its_interval_and_not_when_off():
    calls: list[int] = []
    process = from_data(merge(default_data(), {"process": {"malloc_trim_every_s": 0.01}})).process
    keeper = asyncio.create_task(keep_heap(process, trim=lambda: calls.append(1) or True))
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    keeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await keeper
    before = len(calls)
    off = from_data(merge(default_data(), {"process": {"malloc_trim_every_s": 0}})).process
    await asyncio.wait_for(keep_heap(off, trim=lambda: calls.append(1) or True), 30)  # returns at once
    assert before >= 3 and len(calls) == before


@pytest.mark.parametrize("bad", [[1000, 10], [0, 10, 10]])
def test_thresholds_must_be_three_positive_numbers(bad):
    with pytest.raises(ConfigError, match=r"process\.gc_thresholds"):
        from_data(merge(default_data(), {"process": {"gc_thresholds": bad}}))
