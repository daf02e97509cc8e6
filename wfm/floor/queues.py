"""Per-queue traffic: calls waiting now, and offered/answered/abandoned today and in the last 15 min.

Longest wait (live): the calls offered and not yet answered or abandoned are
tracked per queue (`open_calls`, from `call` events), so longest wait at any
instant = now - the oldest one's offered time. A feed's queue_status
`longest_wait_s` (a snapshot: AMI QueueStatus, ESL) covers the calls that were
already waiting when the floor started; it ages with the clock and is dropped
when the queue reports no calls waiting or a caller the floor never saw offered
leaves the queue (answered or abandoned: FIFO, the snapshot's oldest goes first).
The value shown is the larger of the two (a snapshot's callers joined earlier).
A queue_status count below the tracked calls drops the oldest tracked ones
(their answer was missed or is still on its way).

"Today" is the floor-local calendar day (the counters restart at local
midnight). The 15-min figures use a sliding window of call outcomes. Service
level = answered within `service.service_level_answer_s` / (answered +
abandoned); ASA = mean wait of answered calls.
"""
from __future__ import annotations

from collections import deque

WINDOW_S = 15 * 60.0


class Tally:
    __slots__ = ("offered", "answered", "in_target", "abandoned", "wait_sum", "talk_sum", "completed")

    def __init__(self) -> None:
        self.offered = 0
        self.answered = 0
        self.in_target = 0
        self.abandoned = 0
        self.wait_sum = 0.0
        self.talk_sum = 0.0
        self.completed = 0

    def add(self, other: Tally) -> None:
        self.offered += other.offered
        self.answered += other.answered
        self.in_target += other.in_target
        self.abandoned += other.abandoned
        self.wait_sum += other.wait_sum
        self.talk_sum += other.talk_sum
        self.completed += other.completed

    @property
    def service_level(self) -> float | None:
        handled = self.answered + self.abandoned
        return self.in_target / handled if handled else None

    @property
    def asa_s(self) -> float | None:
        return self.wait_sum / self.answered if self.answered else None

    @property
    def abandon_rate(self) -> float | None:
        handled = self.answered + self.abandoned
        return self.abandoned / handled if handled else None


# window entry kinds
OFFERED, ANSWERED, ABANDONED, COMPLETED = 0, 1, 2, 3


class QueueRecord:
    __slots__ = ("id", "waiting", "reported_wait_s", "reported_at", "open_calls", "source", "today", "day",
                 "window", "keep_s", "recent", "recent_tally", "recent_now")

    def __init__(self, queue: str, keep_s: float = WINDOW_S) -> None:
        self.keep_s = max(WINDOW_S, keep_s)  # outcomes kept: the 15-min figures and the gate's horizon
        self.id = queue
        self.waiting = 0
        self.reported_wait_s: float | None = None  # a feed's longest wait (queue_status), at reported_at
        self.reported_at = 0.0
        self.open_calls: dict[str, float] = {}  # call_id -> offered time, offered but not answered/abandoned
        self.source: str | None = None
        self.today = Tally()
        self.day = -1  # floor-local date ordinal of `today`
        self.window: deque[tuple[float, int, float, bool]] = deque()  # (t, kind, seconds, in_target)
        # the 15-min figures kept incrementally (the floor view reads them at every push): the outcomes
        # after recent_now - WINDOW_S, sorted by t, and their running tally
        self.recent: deque[tuple[float, int, float, bool]] = deque()
        self.recent_tally = Tally()
        self.recent_now = float("-inf")

    def report(self, t: float, waiting: int, longest: float | None) -> None:
        """A feed's queue_status: calls waiting now, and its longest wait when it gives one."""
        self.waiting = waiting
        if waiting <= 0:
            self.reported_wait_s = None
            self.open_calls.clear()
            return
        if longest is not None:
            self.reported_wait_s, self.reported_at = longest, t
        extra = len(self.open_calls) - waiting
        if extra > 0:
            for call_id in sorted(self.open_calls, key=self.open_calls.__getitem__)[:extra]:
                del self.open_calls[call_id]

    def offered(self, call_id: str, t: float) -> None:
        self.open_calls[call_id] = t

    def left(self, call_id: str) -> None:
        """The call was answered or abandoned: it no longer waits."""
        if self.open_calls.pop(call_id, None) is None:
            self.reported_wait_s = None  # a caller from before the floor's first knowledge left

    def longest_wait_s(self, now: float) -> float | None:
        """Longest wait of the calls waiting at `now` (None when nothing is known to wait)."""
        best = None
        if self.open_calls:
            best = now - min(self.open_calls.values())
        if self.reported_wait_s is not None:
            aged = self.reported_wait_s + max(0.0, now - self.reported_at)
            best = aged if best is None else max(best, aged)
        return None if best is None else max(0.0, best)

    def roll_day(self, day: int) -> None:
        if day != self.day:
            self.day = day
            self.today = Tally()

    def record(self, t: float, kind: int, seconds: float, in_target: bool) -> None:
        window = self.window
        entry = (t, kind, seconds, in_target)
        window.append(entry)
        if len(window) > 64:
            self.prune(t)
        if t <= self.recent_now - WINDOW_S:
            return  # already outside every 15-min window still to be asked for
        recent = self.recent
        if recent and t < recent[-1][0]:  # a reordered event: keep `recent` sorted
            index = len(recent)
            while index and recent[index - 1][0] > t:
                index -= 1
            recent.insert(index, entry)
        else:
            recent.append(entry)
        _count(self.recent_tally, entry, 1)
        if recent[0][0] < t - 2 * self.keep_s:  # nobody asked for the 15-min figures for a while (no page
            self._advance_recent(t - self.keep_s)  # open): without this every outcome of the day stayed here

    def _advance_recent(self, now: float) -> None:
        """Move the incremental 15-min window to `now`: drop the outcomes at or before now - WINDOW_S
        (an earlier `now` is answered by scanning `window`, which keeps keep_s)."""
        self.recent_now = max(self.recent_now, now)
        since = self.recent_now - WINDOW_S
        recent, running = self.recent, self.recent_tally
        while recent and recent[0][0] <= since:
            _count(running, recent.popleft(), -1)

    def prune(self, now: float) -> None:
        window = self.window
        horizon = now - self.keep_s
        while window and window[0][0] <= horizon:
            window.popleft()

    def window_tally(self, now: float, span_s: float = WINDOW_S) -> Tally:
        """Outcomes of the last span_s (15 min by default): kept incrementally while `now`
        moves forward, scanned otherwise."""
        if span_s == WINDOW_S and now >= self.recent_now:
            self._advance_recent(now)
            tally = Tally()
            tally.add(self.recent_tally)
            return tally
        self.prune(now)
        since = now - span_s
        tally = Tally()
        for t, kind, seconds, in_target in self.window:
            if t <= since:
                continue
            if kind == OFFERED:
                tally.offered += 1
            elif kind == ANSWERED:
                tally.answered += 1
                tally.wait_sum += seconds
                tally.in_target += in_target
            elif kind == ABANDONED:
                tally.abandoned += 1
            else:
                tally.completed += 1
                tally.talk_sum += seconds
        return tally


def _count(tally: Tally, entry: tuple[float, int, float, bool], sign: int) -> None:
    _, kind, seconds, in_target = entry
    if kind == OFFERED:
        tally.offered += sign
    elif kind == ANSWERED:
        tally.answered += sign
        tally.wait_sum += sign * seconds
        tally.in_target += sign * in_target
    elif kind == ABANDONED:
        tally.abandoned += sign
    else:
        tally.completed += sign
        tally.talk_sum += sign * seconds


class Traffic:
    """Floor-wide arrivals and handle times over a sliding horizon, kept in O(1) per call event
    (the service-level gate reads it at every request and every break-queue check).

    Writing prunes too: with any other gate nobody reads it, and a floor that only wrote kept
    every call of the day (about 130 bytes each; found by the soak run, benchmarks/load.py)."""

    __slots__ = ("horizon_s", "_offered", "_completed", "_talk_sum", "_writes")

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self._offered: deque[float] = deque()
        self._completed: deque[tuple[float, float]] = deque()
        self._talk_sum = 0.0
        self._writes = 0

    @property
    def held(self) -> int:
        """Calls held in memory (offered and completed entries)."""
        return len(self._offered) + len(self._completed)

    def offered(self, t: float) -> None:
        self._offered.append(t)
        self._wrote(t)

    def completed(self, t: float, talk_s: float) -> None:
        if talk_s > 0:
            self._completed.append((t, talk_s))
            self._talk_sum += talk_s
            self._wrote(t)

    def _wrote(self, t: float) -> None:
        self._writes += 1
        if self._writes >= 256:  # amortised: the horizon plus at most 256 calls are held
            self._writes = 0
            self._prune(t)

    def _prune(self, now: float) -> None:
        horizon = now - self.horizon_s
        offered, completed = self._offered, self._completed
        while offered and offered[0] <= horizon:
            offered.popleft()
        while completed and completed[0][0] <= horizon:
            self._talk_sum -= completed.popleft()[1]

    def rate_and_aht(self, now: float, default_aht_s: float) -> tuple[float, float]:
        """Calls per second over the horizon and mean talk time of the calls completed in it."""
        self._prune(now)
        n = len(self._completed)
        aht = self._talk_sum / n if n and self._talk_sum > 0 else default_aht_s
        return len(self._offered) / self.horizon_s, aht
