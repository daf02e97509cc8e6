"""Holidays for the forecast: which days are special, and whether the floor is closed on them.

`holiday_calendar` builds a `Calendar` from a country's public holidays (the
`holidays` package, by ISO code: "CN", "US", ...) over the history's and the
target's years, plus listed dates. `closed_history_days` finds the days the
history shows closed: a holiday on an open weekday with no calls, or an
ordinary open weekday with no rows at all. `holiday_multipliers` says what a
target holiday gets: the ratio the same holiday (by name) had in the history,
else 0 when most of the history's holidays were closed, else the mean ratio of
the open ones; without evidence 0 or 1 as configured.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from optimizer.forecast.models import Calendar, _ordinary, open_weekdays

log = logging.getLogger(__name__)

__all__ = ["holiday_calendar", "country_holidays", "closed_history_days", "holiday_multipliers", "ClosedDay"]


def country_holidays(country: str, years: Iterable[int]) -> dict[date, str]:
    """Public holidays of `country` (ISO 3166 code) in `years`: date -> name; {} for country ""."""
    if not country:
        return {}
    import holidays  # imported here: only the forecast needs it

    try:
        table = holidays.country_holidays(country.upper(), years=sorted(set(years)))
    except NotImplementedError:
        raise ValueError(f"unknown holiday country {country!r} (an ISO 3166 code such as CN or US)") from None
    return {day: str(name) for day, name in table.items()}


def holiday_calendar(
    history_country: str,
    target_country: str,
    history_days: Iterable[date],
    target_days: Iterable[date],
    extra: Iterable[date] = (),
    trend_max_weeks: int = 8,
) -> Calendar:
    """A Calendar with `history_country`'s holidays over the history and `target_country`'s over the target days, plus `extra`."""
    history_days, target_days = list(history_days), list(target_days)
    names: dict[date, str] = {}
    if history_days:
        span = (min(history_days), max(history_days))
        names.update({d: n for d, n in country_holidays(history_country, range(span[0].year, span[1].year + 1)).items()
                      if span[0] <= d <= span[1]})
    if target_days:
        span = (min(target_days), max(target_days))
        names.update({d: n for d, n in country_holidays(target_country, range(span[0].year, span[1].year + 1)).items()
                      if span[0] <= d <= span[1]})
    holidays = frozenset(names) | frozenset(extra)
    return Calendar(holidays=holidays, trend_max_weeks=trend_max_weeks, names=tuple(sorted(names.items())))


@dataclass(frozen=True)
class ClosedDay:
    """A day on an open weekday inside the history that has no calls, and why when known."""

    day: date
    holiday: str | None  # the holiday's name, "" for a listed date without a name, None when not a holiday


def closed_history_days(panel: pd.DataFrame, calendar: Calendar) -> list[ClosedDay]:
    """Open-weekday days between the history's first and last date with no calls (missing or all zero)."""
    if panel.empty:
        return []
    weekdays = set(open_weekdays(panel, calendar))
    totals = panel.sum(axis=1)
    first, last = panel.index.min(), panel.index.max()
    closed = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        if day.weekday() in weekdays and float(totals.get(day, 0.0)) <= 0:
            closed.append(ClosedDay(day, (calendar.name_of(day) or "") if day in calendar.holidays else None))
    return closed


def _history_ratios(panel: pd.DataFrame, calendar: Calendar) -> dict[date, float]:
    """Ratio of each history holiday on an open weekday to its weekday's ordinary mean (closed = 0)."""
    first, last = panel.index.min(), panel.index.max()
    weekdays = set(open_weekdays(panel, calendar))
    ordinary = _ordinary(panel, calendar)
    means = ordinary.sum(axis=1).groupby([d.weekday() for d in ordinary.index]).mean()
    ratios = {}
    for day in sorted(calendar.holidays):
        if not first <= day <= last or day.weekday() not in weekdays or means.get(day.weekday(), 0.0) <= 0:
            continue
        actual = float(panel.loc[day].sum()) if day in panel.index else 0.0
        ratios[day] = actual / float(means[day.weekday()])
    return ratios


def holiday_multipliers(
    panel: pd.DataFrame, calendar: Calendar, dates: Iterable[date], closed_without_history: bool = True,
) -> dict[date, float]:
    """Multiplier of each target holiday in `dates` (0 = closed); ordinary days are left out.

    Without any holiday in the history to learn from, a holiday is closed
    (`closed_without_history`, forecast.holiday_closed_without_history) or ordinary.
    """
    targets = [d for d in dates if d in calendar.holidays and d > panel.index.max()]
    if not targets or panel.empty:
        return {}
    ratios = _history_ratios(panel, calendar)
    by_name: dict[str, list[float]] = {}
    for day, ratio in ratios.items():
        name = calendar.name_of(day)
        if name:
            by_name.setdefault(name, []).append(ratio)
    open_ratios = [r for r in ratios.values() if r > 0]
    closed_share = (len(ratios) - len(open_ratios)) / len(ratios) if ratios else None
    out = {}
    for day in targets:
        name = calendar.name_of(day)
        if name and name in by_name:
            out[day] = float(np.mean(by_name[name]))
        elif closed_share is None:
            out[day] = 0.0 if closed_without_history else 1.0
        elif closed_share >= 0.5:
            out[day] = 0.0
        else:
            out[day] = float(np.mean(open_ratios))
    return out
