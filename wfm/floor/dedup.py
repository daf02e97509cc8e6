"""Duplicate suppression: the same event delivered twice (a PBX resend, a reconnect overlap).

An event is a duplicate when an identical event (every field, `ts` included,
except the feed's `source` tag) was seen within `floor.duplicate_window_s`
of event time. Comparing whole events, not "same state again", keeps a real
ready → on_call → ready sequence intact.
"""
from __future__ import annotations

from collections import deque

import msgspec

from wfm.events import Event


class Deduplicator:
    __slots__ = ("_window", "_seen", "_order", "_encode", "dropped")

    def __init__(self, window_s: float) -> None:
        self._window = window_s
        self._seen: dict[bytes, float] = {}
        self._order: deque[tuple[float, bytes]] = deque()
        self._encode = msgspec.json.Encoder().encode
        self.dropped = 0

    def is_duplicate(self, event: Event, t: float) -> bool:
        if self._window <= 0:
            return False
        source = getattr(event, "source", None)
        key = self._encode(msgspec.structs.replace(event, source=None) if source is not None else event)
        order = self._order
        horizon = t - self._window
        while order and order[0][0] < horizon:
            old_t, old_key = order.popleft()
            if self._seen.get(old_key) == old_t:
                del self._seen[old_key]
        seen_t = self._seen.get(key)
        if seen_t is not None and abs(t - seen_t) <= self._window:
            self.dropped += 1
            return True
        self._seen[key] = t
        order.append((t, key))
        return False
