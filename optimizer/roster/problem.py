"""The monthly roster problem as small frozen dataclasses (no positional tuples).

Times inside the model are whole minutes on the floor's wall clock, counted
from 00:00 of the month's first day (`abs_min`); a day index below zero is a
day of the previous month (carry-over from `--previous`).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

DAY_MIN = 24 * 60
OFF = "OFF"


def hhmm_to_min(text: str) -> int:
    value = time.fromisoformat(text)
    return value.hour * 60 + value.minute


def min_to_hhmm(minute: int) -> str:
    minute %= DAY_MIN
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class Shift:
    """One shift template (R1); `end_min` may pass 24:00 (ends after midnight)."""

    name: str
    start_min: int
    length_min: int
    evening: bool
    meal_offsets: tuple[int, ...]  # allowed meal starts (R8), minutes after shift start

    @property
    def end_min(self) -> int:
        return self.start_min + self.length_min

    @property
    def start_text(self) -> str:
        return min_to_hhmm(self.start_min)

    @property
    def end_text(self) -> str:
        return min_to_hhmm(self.end_min)


@dataclass(frozen=True, slots=True)
class Agent:
    agent_id: str
    name: str
    unavailable: frozenset[date] = frozenset()
    rest_requests: frozenset[date] = frozenset()
    preferred_shift: str | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class DemandSlot:
    """Agents needed on post for the interval starting `start_min` after midnight of `day`."""

    day: date
    start_min: int
    required: int
    line: int = 0


@dataclass(frozen=True, slots=True)
class PastShift:
    """A worked shift of the previous month (for rest, consecutive days and cover carry-over)."""

    agent_id: str
    day: date
    shift: str
    start_min: int
    length_min: int
    meal_start_min: int | None  # minutes after midnight of `day`, may pass 24:00


@dataclass(frozen=True, slots=True)
class FairnessLedger:
    """Carried fairness counts per agent (evenings, weekends, holidays) from earlier months."""

    evenings: dict[str, int] = field(default_factory=dict)
    weekends: dict[str, int] = field(default_factory=dict)
    holidays: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Weights:
    under_cover: int
    over_cover: int
    rest_request: int
    preferred_shift: int
    fair_evenings: int
    fair_weekends: int
    fair_holidays: int
    fair_workdays: int
    stability: int


@dataclass(frozen=True, slots=True)
class Rules:
    """Rulebook numbers for one roster (R2–R8, F8), all from config."""

    max_consecutive_days: int
    rest_days_per_month: int
    min_rest_between_shifts_min: int
    meal_len_min: int
    meal_margin_min: int
    meal_grid_min: int
    interval_min: int
    lunch_cover_min_agents: int
    holidays: frozenset[date]
    weights: Weights


@dataclass(frozen=True, slots=True)
class RosterProblem:
    year: int
    month: int
    tz: tzinfo
    agents: tuple[Agent, ...]
    shifts: tuple[Shift, ...]
    demand: tuple[DemandSlot, ...]
    rules: Rules
    previous: tuple[PastShift, ...] = ()
    ledger: FairnessLedger = FairnessLedger()
    days: tuple[date, ...] = field(init=False, repr=False, compare=False)  # every date of the month

    def __post_init__(self) -> None:
        count = calendar.monthrange(self.year, self.month)[1]
        object.__setattr__(self, "days", tuple(date(self.year, self.month, d) for d in range(1, count + 1)))

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def day_index(self, day: date) -> int:
        return (day - self.first_day).days

    def shift(self, name: str) -> Shift:
        for shift in self.shifts:
            if shift.name == name:
                return shift
        raise KeyError(name)

    def abs_datetime(self, abs_min: int) -> datetime:
        """The tz-aware instant of a model minute (wall clock of the floor zone)."""
        day = self.first_day + timedelta(days=abs_min // DAY_MIN)
        minute = abs_min % DAY_MIN
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.tz)

    def fairness_agents(self) -> tuple[str, ...]:
        """Agents compared for fairness (R5): those whose absences fit in their rest days."""
        days = set(self.days)
        limit = self.rules.rest_days_per_month
        return tuple(a.agent_id for a in self.agents if len(a.unavailable & days) <= limit)

    def is_weekend(self, day: date) -> bool:
        return day.weekday() >= 5


@dataclass(frozen=True, slots=True)
class Assignment:
    """One roster line: an agent's shift (or OFF) on one date, with her meal slot."""

    agent_id: str
    day: date
    shift: str  # template name or OFF
    start_min: int | None = None
    end_min: int | None = None  # may pass 24:00
    meal_start_min: int | None = None  # minutes after midnight of `day`, may pass 24:00

    @property
    def works(self) -> bool:
        return self.shift != OFF

    @property
    def span(self) -> tuple[int, int]:
        """(start_min, end_min) of a working line, which always has both."""
        if self.start_min is None or self.end_min is None:
            raise ValueError(f"{self.agent_id} on {self.day}: the {self.shift} line has no start or end")
        return self.start_min, self.end_min


@dataclass(frozen=True, slots=True)
class ProgressPoint:
    """One step of the search, streamed to tqdm and to the optional progress callback."""

    elapsed_s: float
    objective: float | None
    bound: float | None
    gap: float | None
    phase: str


@dataclass(frozen=True, slots=True)
class RosterResult:
    status: str  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN | MODEL_INVALID
    assignments: tuple[Assignment, ...]
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    unmet_agent_intervals: int | None  # None when no roster was found
    fairness: dict
    penalties: dict
    explanation: tuple[str, ...] = ()
    progress: tuple[ProgressPoint, ...] = ()
    seed: int = 0
    workers: int = 0
