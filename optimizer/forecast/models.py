"""Forecast models on a day x interval panel of 30-min call counts.

Each model is a small frozen dataclass with `predict(panel, dates, calendar)`
returning a DataFrame (index = target dates, columns = "HH:MM" intervals) for
the target dates on the panel's open weekdays, as if they were ordinary days.
Holidays in the history are left out of every fit (imputed where a model needs
a regular sequence); what a target holiday gets (closed = 0, or a factor) is
decided once, after the model, by `optimizer.forecast.calendar.holiday_multipliers`.

- `seasonal_naive`: the same weekday one (observed, ordinary) week back. A baseline.
- `weekday_mean`: per interval, the mean of the last four ordinary same weekdays. A baseline.
- `profile`: day-of-week x interval means over recent weeks, scaled by a
  linear trend in day totals (extrapolated at most `trend_max_weeks`).
- `holt_winters`: statsmodels exponential smoothing (damped additive trend,
  weekly seasonality over the open weekdays) on day totals x weekday shape.
- `seasonal_regression`: OLS of log day totals on weekday dummies and a
  (capped) linear trend x weekday shape.
- `regression_weekday_mean`: the mean of `seasonal_regression` and `weekday_mean`
  (a combination: the regression's level and trend, the recent weeks' detail).
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

__all__ = ["Calendar", "MODELS", "BASELINES", "ForecastModel", "weekday_shapes", "open_weekdays"]

RECENT_WEEKS = 8  # weeks of history behind the intraday shape and the profile means
WEEKDAY_MEAN_WEEKS = 4  # the baseline: mean of the last four same weekdays


@dataclass(frozen=True)
class Calendar:
    """Holidays (with their names, when known) and trend settings shared by every model.

    `holidays` are left out of every fit and treated specially on target days;
    `names` maps some of them to a holiday name, so a target holiday can learn
    from the same holiday in an earlier year.
    """

    holidays: frozenset[date] = frozenset()
    trend_max_weeks: int = 8
    names: tuple[tuple[date, str], ...] = ()

    def name_of(self, day: date) -> str | None:
        return dict(self.names).get(day)


def _ordinary(panel: pd.DataFrame, calendar: Calendar) -> pd.DataFrame:
    return panel.loc[[d not in calendar.holidays for d in panel.index]]


def open_weekdays(panel: pd.DataFrame, calendar: Calendar) -> list[int]:
    """Weekdays (0 = Monday) with ordinary data in the last four weeks of the panel."""
    ordinary = _ordinary(panel, calendar)
    if ordinary.empty:
        return []
    last = ordinary.index.max()
    recent = [d for d in ordinary.index if (last - d).days < 28]
    return sorted({d.weekday() for d in recent})


def weekday_shapes(panel: pd.DataFrame, calendar: Calendar) -> dict[int, pd.Series]:
    """Per open weekday: share of the day's calls per interval over recent ordinary days."""
    ordinary = _ordinary(panel, calendar)
    shapes: dict[int, pd.Series] = {}
    for weekday in open_weekdays(panel, calendar):
        days = ordinary.loc[[d.weekday() == weekday for d in ordinary.index]].tail(RECENT_WEEKS)
        totals = days.sum(axis=1)
        days = days.loc[totals > 0]
        if days.empty:
            shapes[weekday] = pd.Series(0.0, index=panel.columns)
            continue
        shares = days.div(days.sum(axis=1), axis=0).mean(axis=0)
        shapes[weekday] = shares / shares.sum()
    return shapes


def _frame(rows: dict[date, np.ndarray], columns) -> pd.DataFrame:
    out = pd.DataFrame.from_dict(rows, orient="index", columns=list(columns)) if rows else pd.DataFrame(columns=list(columns), dtype=float)
    out.index.name = "date"
    return out.astype(float)


def _trend_line(panel: pd.DataFrame, calendar: Calendar) -> tuple[float, float, date]:
    """(intercept, slope per day) of day totals relative to their weekday mean, and the origin date."""
    ordinary = _ordinary(panel, calendar)
    totals = ordinary.sum(axis=1)
    totals = totals.loc[totals > 0]
    origin = panel.index.min()
    if len(totals) < 10:
        return 1.0, 0.0, origin
    weekday = np.array([d.weekday() for d in totals.index])
    means = totals.groupby(weekday).transform("mean").to_numpy()
    ratio = totals.to_numpy() / means
    t = np.array([(d - origin).days for d in totals.index], dtype=float)
    slope, intercept = np.polyfit(t, ratio, 1)
    return float(intercept), float(slope), origin


def _capped_t(day: date, origin: date, last: date, calendar: Calendar) -> float:
    horizon = min((day - last).days, 7 * calendar.trend_max_weeks)
    return float((last - origin).days + max(horizon, 0))


@dataclass(frozen=True)
class SeasonalNaive:
    name: str = "seasonal_naive"

    def predict(self, panel: pd.DataFrame, dates: list[date], calendar: Calendar) -> pd.DataFrame:
        ordinary = _ordinary(panel, calendar)
        open_days = set(open_weekdays(panel, calendar))
        rows = {}
        for day in dates:
            if day.weekday() not in open_days:
                continue
            same = ordinary.loc[[d.weekday() == day.weekday() for d in ordinary.index]]
            rows[day] = same.iloc[-1].to_numpy(dtype=float)
        return _frame(rows, panel.columns)


@dataclass(frozen=True)
class WeekdayMean:
    name: str = "weekday_mean"
    weeks: int = WEEKDAY_MEAN_WEEKS

    def predict(self, panel: pd.DataFrame, dates: list[date], calendar: Calendar) -> pd.DataFrame:
        ordinary = _ordinary(panel, calendar)
        means = {}
        for weekday in open_weekdays(panel, calendar):
            same = ordinary.loc[[d.weekday() == weekday for d in ordinary.index]].tail(self.weeks)
            means[weekday] = same.mean(axis=0).to_numpy(dtype=float)
        return _frame({day: means[day.weekday()] for day in dates if day.weekday() in means}, panel.columns)


@dataclass(frozen=True)
class Profile:
    name: str = "profile"

    def predict(self, panel: pd.DataFrame, dates: list[date], calendar: Calendar) -> pd.DataFrame:
        ordinary = _ordinary(panel, calendar)
        intercept, slope, origin = _trend_line(panel, calendar)
        last = panel.index.max()
        rows = {}
        for weekday in open_weekdays(panel, calendar):
            days = ordinary.loc[[d.weekday() == weekday for d in ordinary.index]].tail(RECENT_WEEKS)
            mean = days.mean(axis=0).to_numpy(dtype=float)
            t_window = float(np.mean([(d - origin).days for d in days.index]))
            base = intercept + slope * t_window
            for day in dates:
                if day.weekday() != weekday:
                    continue
                level = intercept + slope * _capped_t(day, origin, last, calendar)
                scale = max(level, 0.0) / base if base > 0 else 1.0
                rows[day] = mean * scale
        return _frame(dict(sorted(rows.items())), panel.columns)


def _regular_totals(panel: pd.DataFrame, calendar: Calendar, weekdays: list[int]) -> pd.Series:
    """Day totals on every open weekday from first to last date; holidays and missing days imputed."""
    ordinary = _ordinary(panel, calendar)
    totals = ordinary.sum(axis=1)
    first, last = panel.index.min(), panel.index.max()
    span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    span = [d for d in span if d.weekday() in weekdays]
    series = pd.Series([totals.get(d, np.nan) for d in span], index=span, dtype=float)
    by_weekday = series.groupby([d.weekday() for d in span])
    # missing or holiday days take the mean of the same weekday's neighbours (two each side)
    filled = by_weekday.transform(lambda s: s.fillna(s.rolling(5, center=True, min_periods=1).mean()).fillna(s.mean()))
    return filled.fillna(0.0)


@dataclass(frozen=True)
class HoltWinters:
    name: str = "holt_winters"

    def predict(self, panel: pd.DataFrame, dates: list[date], calendar: Calendar) -> pd.DataFrame:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        weekdays = open_weekdays(panel, calendar)
        period = len(weekdays)
        totals = _regular_totals(panel, calendar, weekdays)
        if period < 2 or len(totals) < 3 * period:
            raise ValueError(f"holt_winters needs at least 3 weeks of open days, have {len(totals)}")
        last = panel.index.max()
        targets = [d for d in dates if d.weekday() in weekdays]
        end = max([*targets, last + timedelta(days=7)])
        steps: dict[date, int] = {}
        cursor = last
        while cursor < end:
            cursor += timedelta(days=1)
            if cursor.weekday() in weekdays:
                steps[cursor] = len(steps) + 1
        # a target on or before the history's end (never asked by forecast_month) takes its weekday's first step
        first_step: dict[int, int] = {}
        for day, step in steps.items():
            first_step.setdefault(day.weekday(), step)
        seasonal = "mul" if (totals > 0).all() else "add"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ExponentialSmoothing(
                totals.to_numpy(), trend="add", damped_trend=True, seasonal=seasonal, seasonal_periods=period,
                initialization_method="estimated",
            ).fit(optimized=True)
            path = model.forecast(max(steps.values()))
        shapes = weekday_shapes(panel, calendar)
        rows = {}
        for day in targets:
            total = max(float(path[steps.get(day, first_step[day.weekday()]) - 1]), 0.0)
            rows[day] = shapes[day.weekday()].to_numpy(dtype=float) * total
        return _frame(rows, panel.columns)


@dataclass(frozen=True)
class SeasonalRegression:
    name: str = "seasonal_regression"

    def predict(self, panel: pd.DataFrame, dates: list[date], calendar: Calendar) -> pd.DataFrame:
        weekdays = open_weekdays(panel, calendar)
        ordinary = _ordinary(panel, calendar)
        totals = ordinary.sum(axis=1)
        totals = totals.loc[[d.weekday() in weekdays and totals[d] > 0 for d in totals.index]]
        if len(totals) < 2 * len(weekdays) + 2:
            raise ValueError("seasonal_regression needs at least two weeks of open days")
        origin, last = panel.index.min(), panel.index.max()

        def design(days: list[date], capped: bool) -> np.ndarray:
            t = [(_capped_t(d, origin, last, calendar) if capped else float((d - origin).days)) / 7.0 for d in days]
            columns = [np.ones(len(days)), np.array(t)]
            columns += [np.array([1.0 if d.weekday() == w else 0.0 for d in days]) for w in weekdays[1:]]
            return np.column_stack(columns)

        x = design(list(totals.index), capped=False)
        y = np.log(totals.to_numpy(dtype=float))
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        smearing = float(np.mean(np.exp(y - x @ coef)))  # Duan's smearing: unbiased back-transform
        targets = [d for d in dates if d.weekday() in weekdays]
        shapes = weekday_shapes(panel, calendar)
        rows = {}
        if targets:
            level = np.exp(design(targets, capped=True) @ coef) * smearing
            for day, total in zip(targets, level):
                rows[day] = shapes[day.weekday()].to_numpy(dtype=float) * total
        return _frame(rows, panel.columns)


@dataclass(frozen=True)
class Combination:
    """The cell-wise mean of its parts' forecasts (cells every part forecasts)."""

    name: str
    parts: tuple[ForecastModel, ...]

    def predict(self, panel: pd.DataFrame, dates: list[date], calendar: Calendar) -> pd.DataFrame:
        frames = [part.predict(panel, dates, calendar) for part in self.parts]
        common = frames[0].index
        for frame in frames[1:]:
            common = common.intersection(frame.index)
        stacked = np.stack([f.reindex(index=common, columns=panel.columns).to_numpy(dtype=float) for f in frames])
        out = pd.DataFrame(stacked.mean(axis=0), index=common, columns=panel.columns)
        out.index.name = "date"
        return out


ForecastModel = SeasonalNaive | WeekdayMean | Profile | HoltWinters | SeasonalRegression | Combination
_ALL: tuple[ForecastModel, ...] = (
    SeasonalNaive(), WeekdayMean(), Profile(), HoltWinters(), SeasonalRegression(),
    Combination("regression_weekday_mean", (SeasonalRegression(), WeekdayMean())),
)
MODELS: dict[str, ForecastModel] = {m.name: m for m in _ALL}
BASELINES = ("seasonal_naive", "weekday_mean")
