"""Clocks: the wall clock for `serve`, a virtual clock driven by event times for replays."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from wfm.timeutil import require_aware, utcnow


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    """Real time, always timezone-aware (UTC)."""

    def now(self) -> datetime:
        return utcnow()


class VirtualClock:
    """Time advanced only by the replayed events; never moves backwards."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = require_aware(start) if start is not None else None

    def now(self) -> datetime:
        if self._now is None:
            raise RuntimeError("virtual clock has not been set by any event yet")
        return self._now

    def advance_to(self, when: datetime) -> datetime:
        require_aware(when)
        if self._now is None or when > self._now:
            self._now = when
        return self._now
