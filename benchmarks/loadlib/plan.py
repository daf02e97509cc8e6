"""The load run's plan, shared by its three processes: sizes, seed, simulated clock, ids, skills, roster."""
from __future__ import annotations

import json
import sys
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

logger = logging.getLogger("benchmarks.load")

FIRST_AGENT = 1001
SHORT_REASON = "小休"
MEAL_REASON = "用餐"
SECRET_ENV = "WFM_LOAD_AMI_SECRET"
PROFILE_ENV = "WFM_LOAD_PROFILE"  # set to a file name: the product process runs under cProfile
TRACEMALLOC_ENV = "WFM_LOAD_TRACEMALLOC"  # set to a file name: where the product's memory growth is allocated
CENSUS_ENV = "WFM_LOAD_CENSUS"  # set to a file name: which object types and containers grow (cheaper than tracemalloc)
PUMP_S = 0.02  # the generator steps its model and writes every 20 ms of wall time
STATUS_S = 1.0  # the product reports its counters this often
TARGET_P99_MS = 100.0



# ───────────────────────────────────────────────────────────── the plan shared by all three processes


@dataclass(frozen=True)
class LoadPlan:
    agents: int
    queues: int
    speed: float
    sim_start: str  # ISO, floor zone
    wall_t0: float  # time.time() at which the simulated clock reads sim_start
    seed: int
    mean_talk_s: float = 170.0
    occupancy: float = 0.80  # offered load as a share of the agents on post
    mean_patience_s: float = 120.0
    ring_s: float = 3.0
    ws_floor_interval_ms: int | None = None  # None: the shipped api.ws_floor_interval_ms

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.sim_start)

    def sim_epoch(self, wall: float | None = None) -> float:
        return self.start.timestamp() + ((time.time() if wall is None else wall) - self.wall_t0) * self.speed

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadPlan:
        return cls(**json.loads(text))


class PlanClock:
    """wfm.clock.Clock for the product: the plan's simulated time (speed × wall), tz-aware."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.speed = plan.speed  # handed to the Runtime for its tick interval
        self._tz = plan.start.tzinfo

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.plan.sim_epoch(), tz=timezone.utc).astimezone(self._tz)


def agent_ids(n: int) -> list[str]:
    return [str(FIRST_AGENT + i) for i in range(n)]


def queue_ids(n: int) -> list[str]:
    return [f"q{i + 1:03d}" for i in range(n)]


def skills(plan: LoadPlan) -> dict[str, tuple[str, ...]]:
    """Each agent's queues: a primary one, a second for one agent in three, a third for one in five."""
    queues = queue_ids(plan.queues)
    out = {}
    for i, agent in enumerate(agent_ids(plan.agents)):
        own = [queues[i % plan.queues]]
        if i % 3 == 0 and plan.queues > 1:
            own.append(queues[(i * 7 + 1) % plan.queues])
        if i % 5 == 0 and plan.queues > 2:
            own.append(queues[(i * 13 + 2) % plan.queues])
        out[agent] = tuple(dict.fromkeys(own))
    return out


def roster(plan: LoadPlan) -> list[tuple[str, datetime, datetime, datetime]]:
    """(agent, shift start, shift end, meal slot start): one 7.5-hour day shift starting 5-10 min after
    the simulated start (everyone signs in before it), meal slots on the half-hour grid from one hour
    in, spread round-robin (R8)."""
    start = plan.start
    shift_start = start.replace(second=0, microsecond=0) + timedelta(minutes=5 + (5 - start.minute % 5) % 5)
    shift_end = shift_start + timedelta(hours=7, minutes=30)
    first_slot = shift_start + timedelta(minutes=60)
    first_slot += timedelta(minutes=(30 - first_slot.minute % 30) % 30)
    slots = []
    slot = first_slot
    while slot + timedelta(minutes=90) <= shift_end:
        slots.append(slot)
        slot += timedelta(minutes=30)
    return [(agent, shift_start, shift_end, slots[i % len(slots)]) for i, agent in enumerate(agent_ids(plan.agents))]


def emit(obj: dict) -> None:
    """A child process's report to the driver: one JSON line on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
