"""The deadline heap: timed findings are scheduled once and popped when due.

Nothing scans every agent on a tick: each rule pushes the instant at which it
must look again (a break's limit, a shift start, a meal slot's end) and the
engine pops only what is due. A deadline is *strict* for durations (the
limit itself is still within: due when now > limit) or *inclusive* for
thresholds such as 20 min serious lateness (due when now >= limit).
Entries are validated by the rule when popped (a break that already ended,
a spell that was interrupted), so cancelling is free.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any, NamedTuple


class Deadline(NamedTuple):
    due: float  # epoch seconds
    strict: int  # 0 inclusive, 1 strict; inclusive sorts first at the same instant
    seq: int  # insertion order: deterministic ties
    rule: int  # index of the rule in the engine's list
    key: str  # agent id or post name
    token: Any  # what the rule needs to check the deadline is still valid


class DeadlineHeap:
    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[Deadline] = []
        self._seq = 0

    def push(self, due: float, strict: bool, rule: int, key: str, token: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, Deadline(due, 1 if strict else 0, self._seq, rule, key, token))

    def pop_due(self, now: float) -> Deadline | None:
        """The earliest deadline that is due at `now`, removed from the heap; None if none is."""
        heap = self._heap
        if not heap:
            return None
        top = heap[0]
        if top.due < now or (top.due == now and not top.strict):
            return heapq.heappop(heap)
        return None

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self) -> Iterator[Deadline]:
        """The pending deadlines, in no particular order."""
        return iter(self._heap)
