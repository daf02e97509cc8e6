"""Model choice by rolling-origin backtest on the history alone (nothing after the cutoff is looked at).

The forecast is used `lead` days after the history ends, for `horizon` days
(a month ahead: lead 1, horizon to the month's end). The backtest replays that
use at several earlier origins, 28 days apart (whole weeks, so weekdays line up):
each model is fitted on the history up to the origin and scored on the days
`lead .. lead + horizon - 1` after it. Scores are pooled over the origins
(WAPE = sum |F - A| / sum A over every scored interval); the lowest wins.
Holidays are not scored: they are handled by the calendar, not the model.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from optimizer.forecast.models import MODELS, Calendar

log = logging.getLogger(__name__)

__all__ = ["Score", "BacktestResult", "wape", "mape", "backtest", "BASELINE", "ORIGIN_STEP_DAYS"]

BASELINE = "seasonal_naive"
ORIGIN_STEP_DAYS = 28


@dataclass(frozen=True)
class Score:
    model: str
    wape: float
    mape: float


@dataclass(frozen=True)
class BacktestResult:
    """Scores of every model over the backtest's origins; `chosen` has the lowest pooled WAPE."""

    held_out_from: date
    held_out_to: date
    held_out_days: int
    scores: tuple[Score, ...]
    chosen: str
    failed: dict[str, str] = field(default_factory=dict)
    origins: tuple[date, ...] = ()

    def score(self, model: str) -> Score:
        return next(s for s in self.scores if s.model == model)


def _aligned(actual: pd.DataFrame, forecast: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    forecast = forecast.reindex(index=actual.index, columns=actual.columns).fillna(0.0)
    return actual.to_numpy(dtype=float).ravel(), forecast.to_numpy(dtype=float).ravel()


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |F - A| / sum A."""
    total = float(np.sum(actual))
    return float(np.sum(np.abs(forecast - actual)) / total) if total > 0 else float("nan")


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error over intervals with calls (A > 0)."""
    mask = actual > 0
    return float(np.mean(np.abs(forecast[mask] - actual[mask]) / actual[mask])) if mask.any() else float("nan")


def backtest(
    panel: pd.DataFrame,
    calendar: Calendar,
    weeks: int | None = None,
    models=None,
    *,
    lead_days: int = 1,
    horizon_days: int | None = None,
    origins: int = 1,
    min_train_days: int = 14,
    progress: Callable[[], None] | None = None,
    choose_from: tuple[str, ...] | None = None,
) -> BacktestResult:
    """Score each model at up to `origins` rolling origins; raises ValueError when no origin fits.

    `weeks` (the older form) holds out the final `weeks` weeks once: lead 1,
    horizon 7 x weeks. The first origin is `lead_days + horizon_days - 1` days
    before the history's end, each next one 28 days earlier; an origin needs
    `min_train_days` of history before it. `progress` is called once per model fit.
    `chosen` is the best of `choose_from` (default: every model scored); the
    others are scored for comparison only.
    """
    if horizon_days is None:
        horizon_days = 7 * (weeks or 2)
    models = models or MODELS
    first, last = panel.index.min(), panel.index.max()
    actual_days = [d for d in panel.index if d not in calendar.holidays]
    pooled: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in models}
    failed: dict[str, str] = {}
    used: list[date] = []
    scored: list[date] = []
    origin = last - timedelta(days=lead_days + horizon_days - 1)
    while len(used) < origins and (origin - first).days + 1 >= min_train_days:
        window = (origin + timedelta(days=lead_days), origin + timedelta(days=lead_days + horizon_days - 1))
        test_days = [d for d in actual_days if window[0] <= d <= window[1]]
        train = panel.loc[[d <= origin for d in panel.index]]
        if test_days and not train.empty:
            used.append(origin)
            scored += test_days
            test = panel.loc[test_days]
            for name, model in models.items():
                if name in failed:
                    continue
                try:
                    forecast = model.predict(train, test_days, calendar)
                except (ValueError, np.linalg.LinAlgError) as exc:
                    failed[name] = str(exc)
                    log.info("model %s skipped in backtest: %s", name, exc)
                    continue
                finally:
                    if progress:
                        progress()
                pooled[name].append(_aligned(test, forecast))
        origin -= timedelta(days=ORIGIN_STEP_DAYS)
    if not used:
        raise ValueError(f"history too short for a backtest: {lead_days + horizon_days - 1} days ahead of {min_train_days} days of history")
    scores = []
    for name, pairs in pooled.items():
        if name in failed or not pairs:
            continue
        a = np.concatenate([p[0] for p in pairs])
        f = np.concatenate([p[1] for p in pairs])
        scores.append(Score(model=name, wape=wape(a, f), mape=mape(a, f)))
    eligible = [s for s in scores if choose_from is None or s.model in choose_from]
    if not eligible:
        raise ValueError("no forecast model could be fitted to the history")
    chosen = min(eligible, key=lambda s: (s.wape, s.model == BASELINE)).model
    return BacktestResult(
        held_out_from=min(scored), held_out_to=max(scored), held_out_days=len(set(scored)),
        scores=tuple(scores), chosen=chosen, failed=failed, origins=tuple(used),
    )
