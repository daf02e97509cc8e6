"""SimClock: simulated floor time running at `speed` times the wall clock.

now() = sim_start + (wall − wall_start) × speed, always tz-aware (the start's
zone). It implements wfm.clock.Clock, so the demo can hand the same clock to
the AMI simulator, the adapter (receive times) and the rules engine.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, time as dtime, timedelta

from wfm.config import Config
from wfm.timeutil import require_aware, utcnow


class SimClock:
    """Simulated time; speed 1 = real time, N = N times faster."""

    def __init__(self, sim_start: datetime, speed: float = 1.0, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if speed <= 0:
            raise ValueError("simulator speed must be positive")
        self.sim_start = require_aware(sim_start)
        self.speed = float(speed)
        self._monotonic = monotonic
        self._wall_start = monotonic()

    def now(self) -> datetime:
        return self.sim_start + timedelta(seconds=(self._monotonic() - self._wall_start) * self.speed)

    def wall_seconds_until(self, when: datetime) -> float:
        """Wall seconds until the simulated clock reaches `when` (0 if past)."""
        return max(0.0, (when - self.now()).total_seconds() / self.speed)


def default_sim_start(config: Config, now: datetime | None = None) -> datetime:
    """Where the demo's simulated clock starts: simulator.day / start_at, else now (floor zone)."""
    tz = config.floor.tz
    local_now = (now or utcnow()).astimezone(tz)
    day = date.fromisoformat(config.simulator.day) if config.simulator.day else local_now.date()
    if config.simulator.start_at:
        at = dtime.fromisoformat(config.simulator.start_at)
    else:
        at = local_now.time().replace(tzinfo=None)
    return datetime.combine(day, at, tzinfo=tz)
