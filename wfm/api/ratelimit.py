"""Sliding-window rate limits (login attempts, break requests), in memory."""
from __future__ import annotations

from collections import deque


class SlidingWindowLimiter:
    """At most `limit` hits per `window_s` seconds per key."""

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self._max_keys = max_keys
        self._hits: dict[object, deque[float]] = {}

    def _trim(self, key: object, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()
        return hits

    def hit(self, key: object, now: float) -> float:
        """Record one attempt; 0.0 when allowed, else seconds until the next is allowed."""
        if len(self._hits) > self._max_keys:
            self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < self.window_s}
        hits = self._trim(key, now)
        if len(hits) >= self.limit:
            return max(0.001, self.window_s - (now - hits[0]))
        hits.append(now)
        return 0.0

    def reset(self, key: object) -> None:
        self._hits.pop(key, None)
