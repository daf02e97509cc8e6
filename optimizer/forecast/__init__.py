"""Interval forecast from call history: next month's 30-min call volumes and AHT.

history CSV -> `read_history` (validated, 30-min) -> day x interval panel ->
each candidate of `DEFAULT_CANDIDATES` backtested at rolling origins that
replay the month-ahead use on the history alone -> the lowest pooled WAPE
refitted on all history -> forecast for each day of the target month after
the cutoff, 0 on holidays the history shows closed.
"""
from __future__ import annotations

import calendar as _calendar
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from optimizer.forecast.backtest import BASELINE, BacktestResult, Score, backtest, mape, wape
from optimizer.forecast.calendar import ClosedDay, closed_history_days, holiday_calendar, holiday_multipliers
from optimizer.forecast.history import History, HistoryError, read_history
from optimizer.forecast.models import BASELINES, MODELS, Calendar, open_weekdays

log = logging.getLogger(__name__)

__all__ = [
    "Calendar", "ClosedDay", "ForecastResult", "ForecastSettingsError", "History", "HistoryError", "BacktestResult", "Score",
    "read_history", "to_panel", "forecast_month", "month_days", "parse_month", "wape", "mape", "BASELINE", "BASELINES",
    "DEFAULT_CANDIDATES", "DEFAULT_ORIGINS", "holiday_calendar",
]

# Candidate set and origin count of the model choice, settled on the bank series' early month-ahead
# folds only (benchmarks/forecast.py: tuning folds 2003-05..06, reported folds 2003-07..10).
# The tuning folds preferred the combination alone to any choice among candidates (choice on one to
# three short origins is noisy); the baselines are backtested beside it for the report.
DEFAULT_CANDIDATES: tuple[str, ...] = ("regression_weekday_mean",)
DEFAULT_ORIGINS = 3


class ForecastSettingsError(ValueError):
    """A forecast setting (a model or candidate name) the pipeline does not know; the message names it."""


@dataclass(frozen=True)
class ForecastResult:
    """The forecast of one month and how its model was chosen.

    `frame` columns: date (datetime.date), interval_start ("HH:MM"), calls, aht_s.
    `cutoff` is the history's last day used; `history_days` are the month's days
    on or before it (their counts are the history's own); `closed_days` are
    target holidays forecast 0; `history_closed` the closed days found in the history.
    """

    month: str
    model: str
    frame: pd.DataFrame
    backtest: BacktestResult
    aht_source: str
    cutoff: date | None = None
    history_days: tuple[date, ...] = ()
    closed_days: tuple[date, ...] = ()
    history_closed: tuple[ClosedDay, ...] = ()


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


def _aht_profile(history: History, default_aht_s: float, cutoff: date) -> tuple[pd.DataFrame | None, str]:
    if not history.has_aht:
        return None, f"assumed {default_aht_s:g} s (history has no aht_s; service.default_aht_s)"
    frame = history.frame.dropna(subset=["aht_s"])
    frame = frame.loc[frame.index < pd.Timestamp(cutoff) + pd.Timedelta(days=1)]
    if frame.empty:
        return None, f"assumed {default_aht_s:g} s (no aht_s on or before the cutoff; service.default_aht_s)"
    last = frame.index.max()
    recent = frame.loc[frame.index > last - pd.Timedelta(weeks=8)]
    weights = recent["calls"].where(recent["calls"] > 0, 1e-9)
    key = [recent.index.day_of_week, recent.index.strftime("%H:%M")]
    profile = (recent["aht_s"] * weights).groupby(key).sum() / weights.groupby(key).sum()
    return profile.rename("aht_s").to_frame(), "history (call-weighted mean, same weekday and interval, last 8 weeks)"


def _month_ahead_plan(panel: pd.DataFrame, days: list[date]) -> tuple[list[date], list[date], int, int]:
    """(days taken from the history, days to forecast, lead days, horizon days) for a target month."""
    last = panel.index.max()
    past = [d for d in days if d <= last]
    future = [d for d in days if d > last]
    if not future:
        return past, future, 0, 0
    return past, future, (future[0] - last).days, (future[-1] - future[0]).days + 1


def _choose(panel, calendar, lead, horizon, backtest_weeks, origins, min_train_days, candidates, progress) -> BacktestResult:
    models = {name: MODELS[name] for name in (*candidates, *[b for b in BASELINES if b not in candidates])}
    try:
        return backtest(panel, calendar, models=models, lead_days=lead, horizon_days=horizon, origins=origins,
                        min_train_days=min_train_days, progress=progress, choose_from=candidates)
    except ValueError as exc:
        # too short to replay the month ahead: hold out the final `backtest_weeks` weeks instead
        log.warning("backtest %d..%d days ahead impossible (%s): holding out the final %d week(s)", lead, lead + horizon - 1, exc, backtest_weeks)
        return backtest(panel, calendar, models=models, lead_days=1, horizon_days=7 * backtest_weeks, origins=1,
                        min_train_days=min_train_days, progress=progress, choose_from=candidates)


def forecast_month(
    history: History,
    month: str,
    calendar: Calendar,
    backtest_weeks: int,
    default_aht_s: float,
    min_history_weeks: int = 3,
    volume_scale: float = 1.0,
    model: str | None = None,
    *,
    cutoff: date | None = None,
    backtest_origins: int = DEFAULT_ORIGINS,
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES,
    history_country: str = "",
    target_country: str = "",
    holiday_closed_without_history: bool = True,
    progress: Callable[[], None] | None = None,
) -> ForecastResult:
    """Forecast every 30-min interval of `month` ("YYYY-MM") from `history` up to `cutoff` (default: its end).

    Days of the month up to the cutoff are the history's own counts; the rest
    are forecast by the candidate with the lowest WAPE in a rolling-origin
    backtest that replays this very use (same lead and horizon) at up to
    `backtest_origins` earlier origins, on the history alone; `model` forces
    one. Holidays (`calendar`, plus `history_country`'s and `target_country`'s
    public holidays) are left out of fits; a target holiday is forecast 0
    when the history shows such days closed (see `calendar.holiday_multipliers`).
    Weekdays never open in the recent history get no rows. Volumes are
    multiplied by `volume_scale` (floor size). `progress` is called once per
    model fit. Raises HistoryError when the history is too short.
    """
    days = month_days(month)
    panel = to_panel(history)
    if cutoff is not None:
        panel = panel.loc[[d <= cutoff for d in panel.index]]
        if panel.empty:
            raise HistoryError(f"{history.source}: no history on or before the cutoff {cutoff}")
    span_weeks = ((panel.index.max() - panel.index.min()).days + 1) / 7.0
    if span_weeks < min_history_weeks + backtest_weeks:
        raise HistoryError(
            f"{history.source}: {span_weeks:.1f} weeks of history; need at least "
            f"{min_history_weeks + backtest_weeks} (forecast.min_history_weeks + forecast.backtest_weeks)"
        )
    if history_country or target_country:
        countries = holiday_calendar(history_country, target_country, [panel.index.min(), panel.index.max()], days)
        calendar = replace(calendar, holidays=calendar.holidays | countries.holidays,
                           names=tuple(sorted({**dict(countries.names), **dict(calendar.names)}.items())))
    if model is not None and model not in MODELS:
        raise ForecastSettingsError(f"unknown forecast model {model!r}; one of {', '.join(MODELS)}")
    unknown = [name for name in candidates if name not in MODELS]
    if unknown:
        raise ForecastSettingsError(f"forecast.candidates: unknown model(s) {', '.join(unknown)}; each one of {', '.join(MODELS)}")
    last = panel.index.max()
    past, future, lead, horizon = _month_ahead_plan(panel, days)
    if past:
        log.info("month %s starts before the history ends (%s): %d day(s) taken from the history", month, last, len(past))
    if future and (future[0] - last).days / 7.0 > calendar.trend_max_weeks:
        log.warning("month %s is %.0f weeks past the history: trend frozen after %d weeks", month, (future[0] - last).days / 7.0, calendar.trend_max_weeks)
    result = _choose(panel, calendar, lead or 1, horizon or 7 * backtest_weeks, backtest_weeks, backtest_origins,
                     7 * min_history_weeks, candidates, progress)
    chosen = model or result.chosen
    matrix = pd.DataFrame(columns=panel.columns, dtype=float)
    if future:
        try:
            matrix = MODELS[chosen].predict(panel, future, calendar)
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.warning("model %s failed on the full history (%s); using profile", chosen, exc)
            chosen = "profile"
            matrix = MODELS[chosen].predict(panel, future, calendar)
        finally:
            if progress:
                progress()
    multipliers = holiday_multipliers(panel, calendar, future, holiday_closed_without_history)
    closed = tuple(sorted(d for d, m in multipliers.items() if m == 0))
    weekdays = set(open_weekdays(panel, calendar))
    rows = {}
    for day in past:
        if day.weekday() in weekdays or day in panel.index:
            rows[day] = panel.loc[day].to_numpy(dtype=float) if day in panel.index else np.zeros(len(panel.columns))
    for day in matrix.index:
        rows[day] = matrix.loc[day].to_numpy(dtype=float) * multipliers.get(day, 1.0)
    for day in closed:
        rows[day] = np.zeros(len(panel.columns))
    matrix = pd.DataFrame.from_dict(dict(sorted(rows.items())), orient="index", columns=list(panel.columns)) if rows else matrix
    long = matrix.stack().rename("calls").reset_index()
    long.columns = ["date", "interval_start", "calls"]
    long["calls"] = long["calls"].astype(float).clip(lower=0.0) * volume_scale
    aht, aht_source = _aht_profile(history, default_aht_s, last)
    if aht is None:
        long["aht_s"] = float(default_aht_s)
    else:
        keys = pd.MultiIndex.from_arrays([[d.weekday() for d in long["date"]], long["interval_start"]])
        values = aht["aht_s"].reindex(keys).to_numpy()
        long["aht_s"] = np.where(np.isfinite(values), values, default_aht_s)
    long = long.sort_values(["date", "interval_start"]).reset_index(drop=True)
    return ForecastResult(
        month=month, model=chosen, frame=long, backtest=result, aht_source=aht_source,
        cutoff=last, history_days=tuple(past), closed_days=closed,
        history_closed=tuple(closed_history_days(panel, calendar)),
    )
