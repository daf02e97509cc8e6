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

import numpy as np
import pandas as pd

from optimizer.staffing import StaffingTarget, scheduled_heads, solve_agents

log = logging.getLogger(__name__)

__all__ = ["DEMAND_HEADER", "demand_from_forecast", "demand_from_history", "write_demand_csv", "covered_interval_starts", "DemandPlan", "plan_from_history"]

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
    forecast: object  # optimizer.forecast.ForecastResult
    dropped_calls: float
    dropped_intervals: int


def plan_from_history(history_csv: Path, month: str, config, holidays=(), model: str | None = None,
                      cutoff=None, progress=None) -> DemandPlan:
    """Forecast `month` from `history_csv` (up to `cutoff`), staff it with the config's targets, clip to shift hours."""
    from optimizer.forecast import Calendar, forecast_month, read_history
    from datetime import date

    extra = {date.fromisoformat(h) if isinstance(h, str) else h for h in holidays}
    calendar = Calendar(
        holidays=frozenset({date.fromisoformat(h) for h in config.roster.holidays} | extra),
        trend_max_weeks=config.forecast.trend_max_weeks,
    )
    history = read_history(history_csv, config.floor.tz)
    settings = config.forecast
    result = forecast_month(
        history, month, calendar,
        backtest_weeks=settings.backtest_weeks,
        default_aht_s=config.service.default_aht_s,
        min_history_weeks=settings.min_history_weeks,
        volume_scale=settings.volume_scale,
        model=model,
        cutoff=cutoff,
        backtest_origins=settings.backtest_origins,
        candidates=tuple(settings.candidates),
        history_country=settings.history_holiday_country or settings.holiday_country,
        target_country=settings.holiday_country,
        holiday_closed_without_history=settings.holiday_closed_without_history,
        progress=progress,
    )
    target = StaffingTarget.from_config(config)
    interval_min = config.roster.interval_min
    demand = demand_from_forecast(result.frame, target, interval_min)
    dropped_calls, dropped_intervals = 0.0, 0
    if config.forecast.clip_to_shifts:
        covered = covered_interval_starts(config.roster.shifts, interval_min)
        outside = ~demand["interval_start"].isin(covered)
        dropped = demand.loc[outside & (demand["required"] > 0)]
        dropped_calls, dropped_intervals = float(dropped["calls"].sum()), int(len(dropped))
        if dropped_intervals:
            log.warning(
                "%d interval(s) with %.0f forecast calls lie outside every shift template (%s) and are left out of the demand",
                dropped_intervals, dropped_calls, ", ".join(sorted(set(dropped["interval_start"]))),
            )
        demand = demand.loc[~outside].reset_index(drop=True)
    return DemandPlan(demand=demand, forecast=result, dropped_calls=dropped_calls, dropped_intervals=dropped_intervals)


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
