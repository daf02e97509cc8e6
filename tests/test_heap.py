"""The serving process's heap settling (wfm/commands/heap.py), checked in a fresh interpreter so this
test process's own collector is left alone."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wfm.config import ConfigError, default_data, from_data, merge

SCRIPT = """
import gc, json, sys
from wfm.commands.heap import settle_heap
from wfm.config import default_data, from_data, merge
keep = [[i] for i in range(1000)]  # alive when the process settles
config = from_data(merge(default_data(), {"process": json.loads(sys.argv[1])}))
settle_heap(config.process)
print(json.dumps({"frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()}))
"""


def settle(process: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(process)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_settle_freezes_what_is_alive_and_raises_the_thresholds():
    result = settle({"gc_freeze": True, "gc_thresholds": [40000, 15, 12]})
    assert result["frozen"] >= 1000 and result["thresholds"] == [40000, 15, 12]


def test_settle_without_freeze_only_sets_the_thresholds():
    result = settle({"gc_freeze": False, "gc_thresholds": [700, 10, 10]})
    assert result["frozen"] == 0 and result["thresholds"] == [700, 10, 10]


@pytest.mark.parametrize("bad", [[1000, 10], [0, 10, 10]])
def test_thresholds_must_be_three_positive_numbers(bad):
    with pytest.raises(ConfigError, match=r"process\.gc_thresholds"):
        from_data(merge(default_data(), {"process": {"gc_thresholds": bad}}))
