"""Feed time against the floor clock: the PBX's clock skew and the tick watermark (pure, no I/O).

The runtime ticks the engine's clock forward; feeds stamp events with the
PBX's own time. Two things keep the floor on one timeline:

- `PbxClockSkew`: when the PBX clock runs steadily apart from ours (no NTP on
  the PBX, a fast simulator's latency), the floor follows the PBX.
- `FeedBacklog` and `tick_bounds`: a tick never runs the floor clock past a
  feed event still waiting to be applied (a backlog would make each one late).
"""
from __future__ import annotations

import logging
import statistics
from collections import deque
from collections.abc import Hashable, Sequence

logger = logging.getLogger(__name__)

# the median of the last SKEW_WINDOW feed events' (ts - our clock), re-estimated every
# SKEW_EVERY events once SKEW_MIN_SAMPLES are in; under SKEW_MIN_S it is jitter
SKEW_WINDOW = 101
SKEW_EVERY = 8
SKEW_MIN_SAMPLES = 16
SKEW_MIN_S = 1.0


class PbxClockSkew:
    """How far the feeds' event times run from the runtime clock (median; 0 when negligible)."""

    def __init__(self, reorder_window_s: float) -> None:
        self.reorder_window_s = reorder_window_s
        self.skew_s = 0.0
        self._offsets: deque[float] = deque(maxlen=SKEW_WINDOW)
        self._count = 0
        self._reported = False

    def observe(self, offset_s: float) -> None:
        """One feed event's offset (its ts minus our clock's now), in seconds."""
        offsets = self._offsets
        offsets.append(offset_s)
        self._count += 1
        if len(offsets) < SKEW_MIN_SAMPLES or self._count % SKEW_EVERY:
            return
        skew = statistics.median(offsets)
        skew = skew if abs(skew) >= SKEW_MIN_S else 0.0
        if abs(skew) > self.reorder_window_s and not self._reported:
            self._reported = True
            logger.warning("the PBX clock runs %.1f s %s ours; the floor follows the PBX's event times",
                           abs(skew), "behind" if skew < 0 else "ahead of")
        self.skew_s = skew


class FeedBacklog:
    """Per feed, the ts (epoch seconds) of its events queued for the consumer, oldest first."""

    def __init__(self) -> None:
        self._queued: dict[Hashable, deque[float]] = {}

    def queued(self, feed: Hashable, ts: float) -> None:
        """An event of `feed` is on its way to the consumer (note it before it enters the inbox)."""
        self._queued.setdefault(feed, deque()).append(ts)

    def taken(self, feed: Hashable) -> None:
        """The consumer took `feed`'s oldest queued event."""
        queued = self._queued.get(feed)
        if queued:
            queued.popleft()

    def oldest(self) -> float | None:
        return min((q[0] for q in self._queued.values() if q), default=None)


def tick_bounds(batch: Sequence[float | None], oldest_queued: float | None) -> dict[int, float]:
    """For each tick in the batch (None), the oldest ts of the feed events after it: those later in
    the batch (a float: a feed event's ts; skip API events by passing nan) and those still queued."""
    if all(entry is not None for entry in batch):
        return {}
    oldest = oldest_queued
    bounds: dict[int, float] = {}
    for index in range(len(batch) - 1, -1, -1):
        entry = batch[index]
        if entry is None:
            if oldest is not None:
                bounds[index] = oldest
        elif entry == entry and (oldest is None or entry < oldest):  # nan (an API event) never bounds
            oldest = entry
    return bounds
