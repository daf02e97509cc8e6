"""Interval forecast from call history: next month's 30-min call volumes and AHT.

history CSV -> `read_history` (validated, 30-min) -> day x interval panel ->
every model of `models.MODELS` backtested on the final weeks -> the lowest
WAPE refitted on all history -> forecast for each day of the target month.
"""
from __future__ import annotations

import calendar as _calendar
import logging
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from optimizer.forecast.backtest import BASELINE, BacktestResult, Score, backtest, mape, wape
from optimizer.forecast.history import History, HistoryError, read_history
from optimizer.forecast.models import MODELS, Calendar

log = logging.getLogger(__name__)

__all__ = [
    "Calendar", "ForecastResult", "History", "HistoryError", "BacktestResult", "Score",
    "read_history", "to_panel", "forecast_month", "month_days", "parse_month", "wape", "mape", "BASELINE",
]


@dataclass(frozen=True)
class ForecastResult:
    """The forecast of one month and how its model was chosen.

    `frame` columns: date (datetime.date), interval_start ("HH:MM"), calls, aht_s.
    """

    month: str
    model: str
    frame: pd.DataFrame
    backtest: BacktestResult
    aht_source: str


def parse_month(text: str) -> tuple[int, int]:
    """(year, month) of "YYYY-MM"; ValueError with the reason otherwise."""
    try:
        year, month = (int(part) for part in text.split("-"))
        date(year, month, 1)
    except ValueError:
        raise ValueError(f"month must be YYYY-MM, got {text!r}") from None
    if len(text) != 7:
        raise ValueError(f"month must be YYYY-MM, got {text!r}")
    return year, month


def month_days(text: str) -> list[date]:
    year, month = parse_month(text)
    return [date(year, month, d) for d in range(1, _calendar.monthrange(year, month)[1] + 1)]


def to_panel(history: History) -> pd.DataFrame:
    """Day x "HH:MM" interval matrix of calls; open days only, intervals a day lacks are 0."""
    frame = history.frame
    panel = frame["calls"].groupby([frame.index.date, frame.index.strftime("%H:%M")]).sum().unstack(fill_value=0.0)
    panel.index = pd.Index(panel.index, name="date")
    return panel.sort_index(axis=0).sort_index(axis=1).astype(float)


def _aht_profile(history: History, default_aht_s: float) -> tuple[pd.DataFrame | None, str]:
    if not history.has_aht:
        return None, f"assumed {default_aht_s:g} s (history has no aht_s; service.default_aht_s)"
    frame = history.frame.dropna(subset=["aht_s"])
    last = frame.index.max()
    recent = frame.loc[frame.index > last - pd.Timedelta(weeks=8)]
    weights = recent["calls"].where(recent["calls"] > 0, 1e-9)
    key = [recent.index.day_of_week, recent.index.strftime("%H:%M")]
    profile = (recent["aht_s"] * weights).groupby(key).sum() / weights.groupby(key).sum()
    return profile.rename("aht_s").to_frame(), "history (call-weighted mean, same weekday and interval, last 8 weeks)"


def forecast_month(
    history: History,
    month: str,
    calendar: Calendar,
    backtest_weeks: int,
    default_aht_s: float,
    min_history_weeks: int = 3,
    volume_scale: float = 1.0,
    model: str | None = None,
) -> ForecastResult:
    """Forecast every 30-min interval of `month` ("YYYY-MM") from `history`.

    The model is chosen by backtest on the final `backtest_weeks` weeks unless
    `model` names one. Volumes are multiplied by `volume_scale` (floor size).
    Raises HistoryError when the history is too short.
    """
    days = month_days(month)
    panel = to_panel(history)
    span_weeks = ((panel.index.max() - panel.index.min()).days + 1) / 7.0
    if span_weeks < min_history_weeks + backtest_weeks:
        raise HistoryError(
            f"{history.source}: {span_weeks:.1f} weeks of history; need at least "
            f"{min_history_weeks + backtest_weeks} (forecast.min_history_weeks + forecast.backtest_weeks)"
        )
    if days[0] <= panel.index.max():
        log.warning("target month %s starts before the history ends (%s): forecasting it anyway", month, panel.index.max())
    result = backtest(panel, calendar, backtest_weeks)
    chosen = model or result.chosen
    if chosen not in MODELS:
        raise ValueError(f"unknown forecast model {chosen!r}; one of {', '.join(MODELS)}")
    gap_weeks = (days[0] - panel.index.max()).days / 7.0
    if gap_weeks > calendar.trend_max_weeks:
        log.warning("month %s is %.0f weeks past the history: trend frozen after %d weeks", month, gap_weeks, calendar.trend_max_weeks)
    try:
        matrix = MODELS[chosen].predict(panel, days, calendar)
    except (ValueError, np.linalg.LinAlgError) as exc:
        log.warning("model %s failed on the full history (%s); using profile", chosen, exc)
        chosen = "profile"
        matrix = MODELS[chosen].predict(panel, days, calendar)
    long = matrix.stack().rename("calls").reset_index()
    long.columns = ["date", "interval_start", "calls"]
    long["calls"] = long["calls"].clip(lower=0.0) * volume_scale
    aht, aht_source = _aht_profile(history, default_aht_s)
    if aht is None:
        long["aht_s"] = float(default_aht_s)
    else:
        keys = pd.MultiIndex.from_arrays([[d.weekday() for d in long["date"]], long["interval_start"]])
        values = aht["aht_s"].reindex(keys).to_numpy()
        long["aht_s"] = np.where(np.isfinite(values), values, default_aht_s)
    long = long.sort_values(["date", "interval_start"]).reset_index(drop=True)
    return ForecastResult(month=month, model=chosen, frame=long, backtest=result, aht_source=aht_source)
