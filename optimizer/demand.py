"""Demand: forecast x AHT -> Erlang staffing per interval -> demand.csv (docs/interfaces.md section 4).

`required` is agents on post (before shrinkage), the fewest meeting the
[service] targets (service level, occupancy cap) under Erlang C for each
30-min interval's forecast calls and AHT. Intervals that no configured shift
template covers whole are dropped when `forecast.clip_to_shifts` is on (no
roster could staff them; the dropped volume is logged).
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from optimizer.staffing import StaffingTarget, scheduled_heads, solve_agents

if TYPE_CHECKING:  # the functions below import optimizer.forecast where they make a forecast
    from optimizer.forecast import ForecastResult

log = logging.getLogger(__name__)

__all__ = ["DEMAND_HEADER", "demand_from_forecast", "demand_from_history", "write_demand_csv", "covered_interval_starts",
           "DemandPlan", "plan_from_history", "DemandParams", "Capacity", "floor_capacity", "size_forecast", "what_if"]

DEMAND_HEADER = ("date", "interval_start", "required")
_DAY_MIN = 24 * 60


def covered_interval_starts(shifts, interval_min: int) -> set[str]:
    """"HH:MM" starts of the intervals some shift template covers whole (after midnight too)."""
    starts: set[str] = set()
    for template in shifts:
        start = template.start_time.hour * 60 + template.start_time.minute
        end = start + template.length_min
        first = -(-start // interval_min) * interval_min
        for begin in range(first, end - interval_min + 1, interval_min):
            minute = begin % _DAY_MIN
            starts.add(f"{minute // 60:02d}:{minute % 60:02d}")
    return starts


def demand_from_forecast(forecast: pd.DataFrame, target: StaffingTarget, interval_min: int) -> pd.DataFrame:
    """Per forecast row (date, interval_start, calls, aht_s): Erlang agents on post and heads.

    Returns columns date ("YYYY-MM-DD"), interval_start ("HH:MM"), calls, aht_s,
    required (agents on post) and scheduled (heads after shrinkage).
    """
    calls = forecast["calls"].to_numpy(dtype=float)
    aht = forecast["aht_s"].to_numpy(dtype=float)
    required = solve_agents(calls, interval_min * 60.0, aht, target) if len(calls) else np.zeros(0, dtype=np.int64)
    out = pd.DataFrame(
        {
            "date": [d.isoformat() if hasattr(d, "isoformat") else str(d) for d in forecast["date"]],
            "interval_start": forecast["interval_start"].astype(str).to_numpy(),
            "calls": calls,
            "aht_s": aht,
            "required": required.astype(int),
            "scheduled": scheduled_heads(required, target.shrinkage).astype(int),
        }
    )
    return out


@dataclass(frozen=True)
class DemandPlan:
    """A month's demand with the forecast behind it (for reports and charts)."""

    demand: pd.DataFrame  # date, interval_start, calls, aht_s, required, scheduled
    forecast: ForecastResult
    dropped_calls: float
    dropped_intervals: int
    share: float = 1.0  # the floor's share of the history's volume that was staffed
    params: DemandParams | None = None


def forecast_for(history_csv: Path, month: str, config, holidays=(), model: str | None = None,
                 volume_scale: float = 1.0, cutoff=None, progress=None):
    """The forecast of `month` from a call-history CSV (optimizer.forecast, up to `cutoff`),
    at `volume_scale` × the history's volume."""
    from optimizer.forecast import Calendar, forecast_month, read_history
    from datetime import date

    extra = {date.fromisoformat(h) if isinstance(h, str) else h for h in holidays}
    calendar = Calendar(
        holidays=frozenset({date.fromisoformat(h) for h in config.roster.holidays} | extra),
        trend_max_weeks=config.forecast.trend_max_weeks,
    )
    history = read_history(history_csv, config.floor.tz)
    settings = config.forecast
    return forecast_month(
        history, month, calendar,
        backtest_weeks=settings.backtest_weeks,
        default_aht_s=config.service.default_aht_s,
        min_history_weeks=settings.min_history_weeks,
        volume_scale=volume_scale,
        model=model,
        cutoff=cutoff,
        backtest_origins=settings.backtest_origins,
        candidates=tuple(settings.candidates),
        history_country=settings.history_holiday_country or settings.holiday_country,
        target_country=settings.holiday_country,
        holiday_closed_without_history=settings.holiday_closed_without_history,
        progress=progress,
    )


def plan_from_history(history_csv: Path, month: str, config, holidays=(), model: str | None = None,
                      cutoff=None, progress=None, params: DemandParams | None = None) -> DemandPlan:
    """Forecast `month` from `history_csv` (up to `cutoff`), staff it with the config's targets, clip to shift hours.

    With `params` the scale is explicit (the floor's share of the history's volume,
    or the share giving a target peak) and AHT, shrinkage and SL target may be
    overridden; without, `forecast.volume_scale` and the [service] targets apply.
    """
    result = forecast_for(history_csv, month, config, holidays, model,
                          volume_scale=1.0 if params is not None else config.forecast.volume_scale,
                          cutoff=cutoff, progress=progress)
    if params is not None:
        sized = size_forecast(result.frame, params, config)
        return DemandPlan(demand=sized.demand, forecast=result, dropped_calls=sized.dropped_calls,
                          dropped_intervals=sized.dropped_intervals, share=sized.share, params=params)
    target = StaffingTarget.from_config(config)
    interval_min = config.roster.interval_min
    demand = demand_from_forecast(result.frame, target, interval_min)
    demand, dropped_calls, dropped_intervals = _clip(demand, config)
    return DemandPlan(demand=demand, forecast=result, dropped_calls=dropped_calls, dropped_intervals=dropped_intervals,
                      share=config.forecast.volume_scale)


def _clip(demand: pd.DataFrame, config, quiet: bool = False) -> tuple[pd.DataFrame, float, int]:
    """Drop intervals no shift template covers whole (forecast.clip_to_shifts); log the volume dropped."""
    interval_min = config.roster.interval_min
    dropped_calls, dropped_intervals = 0.0, 0
    if config.forecast.clip_to_shifts:
        covered = covered_interval_starts(config.roster.shifts, interval_min)
        outside = ~demand["interval_start"].isin(covered)
        dropped = demand.loc[outside & (demand["required"] > 0)]
        dropped_calls, dropped_intervals = float(dropped["calls"].sum()), int(len(dropped))
        if dropped_intervals and not quiet:
            log.warning(
                "%d interval(s) with %.0f forecast calls lie outside every shift template (%s) and are left out of the demand",
                dropped_intervals, dropped_calls, ", ".join(sorted(set(dropped["interval_start"]))),
            )
        demand = demand.loc[~outside].reset_index(drop=True)
    return demand, dropped_calls, dropped_intervals


def demand_from_history(history_csv: Path, month: str, config) -> pd.DataFrame:
    """demand.csv rows for `month` ("YYYY-MM") from a call-history CSV: columns date, interval_start, required.

    date is "YYYY-MM-DD", interval_start "HH:MM" (floor local time), required an
    int (agents on post before shrinkage). Raises optimizer.forecast.HistoryError
    (a ValueError naming file and line) on bad history.
    """
    plan = plan_from_history(Path(history_csv), month, config)
    return plan.demand.loc[:, list(DEMAND_HEADER)].reset_index(drop=True)


def write_demand_csv(path: Path, demand: pd.DataFrame) -> None:
    """Write `date,interval_start,required` exactly (docs/interfaces.md section 4)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(DEMAND_HEADER)
        for row in demand.loc[:, list(DEMAND_HEADER)].itertuples(index=False):
            writer.writerow([row.date, row.interval_start, int(row.required)])


# ── demand in the floor's terms: scale, targets, capacity, what-if ────────────

@dataclass(frozen=True)
class DemandParams:
    """How a history's volume becomes this floor's demand.

    `floor_share`: the fraction of the history's calls this floor answers (a
    bank's whole volume on a 60-agent floor is absurd). `target_peak`, when
    set, overrides it: the share is chosen so the busiest interval needs
    exactly that many agents on post. `aht_s` replaces the forecast's handle
    time; `shrinkage`, `service_level`, `answer_s` replace the [service]
    targets. None keeps the config's value.
    """

    floor_share: float = 1.0
    target_peak: int | None = None
    aht_s: float | None = None
    shrinkage: float | None = None
    service_level: float | None = None
    answer_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.floor_share <= 1000:
            raise ValueError(f"floor share must be > 0, got {self.floor_share}")
        if self.target_peak is not None and self.target_peak < 1:
            raise ValueError(f"target peak must be at least 1 agent, got {self.target_peak}")
        if self.aht_s is not None and not 0 < self.aht_s <= 7200:
            raise ValueError(f"AHT must be in (0, 7200] s, got {self.aht_s}")

    @classmethod
    def from_config(cls, config, **overrides) -> DemandParams:
        values = {"floor_share": config.forecast.volume_scale}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def target(self, config) -> StaffingTarget:
        return StaffingTarget.from_config(config, shrinkage=self.shrinkage, service_level=self.service_level,
                                          answer_s=self.answer_s)

    def to_dict(self) -> dict:
        return {"floor_share": self.floor_share, "target_peak": self.target_peak, "aht_s": self.aht_s,
                "shrinkage": self.shrinkage, "service_level": self.service_level, "answer_s": self.answer_s}


@dataclass(frozen=True)
class Sized:
    demand: pd.DataFrame
    share: float
    dropped_calls: float
    dropped_intervals: int


def _staff(frame: pd.DataFrame, share: float, params: DemandParams, config) -> pd.DataFrame:
    scaled = frame.loc[:, ["date", "interval_start", "calls", "aht_s"]].copy()
    scaled["calls"] = scaled["calls"].to_numpy(dtype=float) * share
    if params.aht_s is not None:
        scaled["aht_s"] = float(params.aht_s)
    return demand_from_forecast(scaled, params.target(config), config.roster.interval_min)


def size_forecast(frame: pd.DataFrame, params: DemandParams, config) -> Sized:
    """The forecast (full history volume) staffed for this floor: share, AHT, targets, clipped to shift hours."""
    share = params.floor_share
    if params.target_peak is not None:
        share = _share_for_peak(frame, params.target_peak, params, config)
    demand, dropped_calls, dropped_intervals = _clip(_staff(frame, share, params, config), config)
    return Sized(demand=demand, share=share, dropped_calls=dropped_calls, dropped_intervals=dropped_intervals)


def _share_for_peak(frame: pd.DataFrame, target_peak: int, params: DemandParams, config) -> float:
    """The largest share whose busiest (shift-covered) interval needs at most target_peak agents on post."""
    def peak(share: float) -> int:
        demand, _, _ = _clip(_staff(frame, share, params, config), config, quiet=True)
        return int(demand["required"].max()) if len(demand) else 0

    lo, hi = 0.0, 1.0
    while peak(hi) <= target_peak and hi < 1e4:
        lo, hi = hi, hi * 2
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if peak(mid) <= target_peak else (lo, mid)
    return round(lo, 6) if lo > 0 else hi


@dataclass(frozen=True)
class Capacity:
    """What a floor of `headcount` agents can cover, against the demand (before solving).

    A day has `working_per_day` agents at work (R2 six days in seven, R3 rest
    days a month), one shift each. A day's demand needs at least `day_need`
    agents at work: its peak, and never fewer than the sum over shift templates
    of the peak among the intervals only that template covers (an agent works
    one shift a day, so those are different people). Meals are not counted.
    """

    headcount: int
    working_per_day: float
    shifts: int
    peak_required: int
    peak_at: str
    busiest_day: str
    day_need: int
    shift_peaks: dict
    agent_intervals_required: int
    agent_intervals_available: int

    @property
    def over(self) -> bool:
        return self.day_need > self.working_per_day + 1e-9

    @property
    def on_post(self) -> int:
        """The most agents the floor can have on post in one interval (all of a day's workers on one shift)."""
        return int(self.working_per_day)

    def message(self) -> str:
        split = " + ".join(f"{n} {name}" for name, n in self.shift_peaks.items() if n)
        need = (f"the busiest day ({self.busiest_day}) needs at least {self.day_need} agents at work"
                + (f" ({split} at the shifts' peaks)" if len(self.shift_peaks) > 1 and split else ""))
        head = (f"peak demand {self.peak_required} agents on post ({self.peak_at}); {need}; a floor of "
                f"{self.headcount} has about {self.working_per_day:.0f} at work a day (R2, R3)")
        volume = (f"; the month needs {self.agent_intervals_required} agent-intervals, the floor can give "
                  f"about {self.agent_intervals_available}")
        if self.over:
            return (f"Demand exceeds the floor 需求超出人手: {head}{volume}. Lower the floor's share or the target "
                    "peak, or add agents — or solve anyway and accept unmet demand.")
        return f"Demand fits the floor 人手足够: {head}{volume}."

    def to_dict(self) -> dict:
        return {"headcount": self.headcount, "working_per_day": round(self.working_per_day, 1), "shifts": self.shifts,
                "on_post": self.on_post, "peak_required": self.peak_required, "peak_at": self.peak_at,
                "busiest_day": self.busiest_day, "day_need": self.day_need, "shift_peaks": self.shift_peaks,
                "agent_intervals_required": self.agent_intervals_required,
                "agent_intervals_available": self.agent_intervals_available, "over": self.over,
                "message": self.message()}


def working_per_day(headcount: int, config, days_in_month: int) -> float:
    """Agents at work on an average day: R3's rest days a month or R2's one day in seven, whichever is more."""
    rules = config.roster
    rest = max(rules.rest_days_per_month / max(days_in_month, 1),
               1 - rules.max_consecutive_days / (rules.max_consecutive_days + 1))
    return headcount * (1 - rest)


def day_needs(demand: pd.DataFrame, config) -> pd.DataFrame:
    """Per date: the agents at work the day's demand needs at least (see Capacity), with each template's exclusive peak."""
    interval = config.roster.interval_min
    templates = list(config.roster.shifts)
    covers = {t.name: covered_interval_starts([t], interval) for t in templates}
    owner = {}
    for start in set().union(*covers.values()) if covers else ():
        holders = [name for name, starts in covers.items() if start in starts]
        owner[start] = holders[0] if len(holders) == 1 else None
    frame = demand.assign(template=demand["interval_start"].map(owner))
    rows = []
    for day, group in frame.groupby("date"):
        peaks = {t.name: int(group.loc[group["template"] == t.name, "required"].max() or 0)
                 if (group["template"] == t.name).any() else 0 for t in templates}
        rows.append({"date": day, "need": max(int(group["required"].max()), sum(peaks.values())), **peaks})
    return pd.DataFrame(rows, columns=["date", "need", *[t.name for t in templates]])


def floor_capacity(demand: pd.DataFrame, headcount: int, config, days_in_month: int) -> Capacity:
    """Compare the demand's busiest day and volume with what `headcount` agents can cover (before solving)."""
    rules = config.roster
    working = working_per_day(headcount, config, days_in_month)
    templates = list(rules.shifts)
    interval = rules.interval_min
    meal_intervals = -(-config.floor.meal_slot_min // interval)
    per_shift = [max(0, t.length_min // interval - meal_intervals) for t in templates]
    available = int(working * (sum(per_shift) / max(len(per_shift), 1)) * days_in_month)
    if len(demand):
        row = demand.loc[demand["required"].idxmax()]
        peak, peak_at = int(row["required"]), f"{row['date']} {row['interval_start']}"
        needs = day_needs(demand, config)
        busiest = needs.loc[needs["need"].idxmax()]
        day, need = str(busiest["date"]), int(busiest["need"])
        shift_peaks = {t.name: int(busiest[t.name]) for t in templates}
    else:
        peak, peak_at, day, need, shift_peaks = 0, "—", "—", 0, {t.name: 0 for t in templates}
    return Capacity(headcount=headcount, working_per_day=working, shifts=len(templates), peak_required=peak,
                    peak_at=peak_at, busiest_day=day, day_need=need, shift_peaks=shift_peaks,
                    agent_intervals_required=int(demand["required"].sum()) if len(demand) else 0,
                    agent_intervals_available=available)


@dataclass(frozen=True)
class Variant:
    """One column of a what-if: a name and what it changes (None keeps the base value)."""

    name: str
    aht_s: float | None = None
    shrinkage: float | None = None
    headcount: int | None = None


def what_if(frame: pd.DataFrame, base: DemandParams, variants: list[Variant], headcount: int, config,
            days_in_month: int) -> list[dict]:
    """Per variant: agents required and expected service level per interval of the day (month mean).

    Expected SL is Erlang C with the agents really on post: the heads asked
    for, scaled down on a day whose heads needed (see `day_needs`, in heads)
    exceed the variant's agents at work, less shrinkage — so a variant that
    needs more than the floor has shows the service it would really get.
    """
    from optimizer import erlang

    out = []
    share = _share_for_peak(frame, base.target_peak, base, config) if base.target_peak is not None else base.floor_share
    for variant in variants:
        params = DemandParams(floor_share=share, aht_s=variant.aht_s if variant.aht_s is not None else base.aht_s,
                              shrinkage=variant.shrinkage if variant.shrinkage is not None else base.shrinkage,
                              service_level=base.service_level, answer_s=base.answer_s)
        demand, _, _ = _clip(_staff(frame, share, params, config), config, quiet=True)
        heads = variant.headcount if variant.headcount is not None else headcount
        capacity = floor_capacity(demand, heads, config, days_in_month)
        target = params.target(config)
        heads_needed = day_needs(demand.assign(required=demand["scheduled"]), config).set_index("date")["need"]
        ratio = np.minimum(1.0, capacity.working_per_day / demand["date"].map(heads_needed).clip(lower=1).to_numpy())
        heads_on_shift = np.floor(np.round(demand["scheduled"].to_numpy() * ratio, 9))
        staffed = np.floor(np.round(heads_on_shift * (1 - target.shrinkage), 9))
        perf = erlang.erlang_c_performance(staffed, demand["calls"].to_numpy(), config.roster.interval_min * 60.0,
                                           demand["aht_s"].to_numpy(), target.answer_s)
        demand = demand.assign(expected_sl=perf.service_level, staffed=staffed)
        calls = demand.groupby("interval_start")["calls"].sum()
        answered = (demand["expected_sl"] * demand["calls"]).groupby(demand["interval_start"]).sum()
        by_interval = demand.groupby("interval_start").agg(required_mean=("required", "mean"),
                                                           required_peak=("required", "max"),
                                                           heads_peak=("scheduled", "max"))
        rows = [{"interval_start": start, "required_mean": round(float(r.required_mean), 1),
                 "required_peak": int(r.required_peak), "heads_peak": int(r.heads_peak),
                 "expected_sl": round(float(answered[start] / calls[start]), 3) if calls[start] > 0 else None}
                for start, r in by_interval.iterrows()]
        total_calls = float(demand["calls"].sum())
        out.append({
            "name": variant.name, "aht_s": params.aht_s, "shrinkage": target.shrinkage, "headcount": heads,
            "peak_required": capacity.peak_required, "on_post": capacity.on_post,
            "heads_at_peak": int(scheduled_heads(np.asarray([capacity.peak_required]), target.shrinkage)[0]),
            "expected_sl_month": round(float((demand["expected_sl"] * demand["calls"]).sum() / total_calls), 3)
            if total_calls > 0 else None,
            "rows": rows,
        })
    return out
