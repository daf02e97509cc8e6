"""Model choice by backtest: hold out the final weeks, score every model, refit the best on all history."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from optimizer.forecast.models import MODELS, Calendar

log = logging.getLogger(__name__)

__all__ = ["Score", "BacktestResult", "wape", "mape", "backtest", "BASELINE"]

BASELINE = "seasonal_naive"


@dataclass(frozen=True)
class Score:
    model: str
    wape: float
    mape: float


@dataclass(frozen=True)
class BacktestResult:
    """Scores of every model on the held-out weeks; `chosen` has the lowest WAPE."""

    held_out_from: date
    held_out_to: date
    held_out_days: int
    scores: tuple[Score, ...]
    chosen: str
    failed: dict[str, str] = field(default_factory=dict)

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


def backtest(panel: pd.DataFrame, calendar: Calendar, weeks: int, models=None) -> BacktestResult:
    """Fit each model on all but the final `weeks` weeks and score it on them (holidays not scored)."""
    last = panel.index.max()
    cutoff = last - timedelta(days=7 * weeks)
    train = panel.loc[[d <= cutoff for d in panel.index]]
    test = panel.loc[[d > cutoff and d not in calendar.holidays for d in panel.index]]
    if train.empty or test.empty:
        raise ValueError(f"history too short to hold out {weeks} week(s)")
    dates = list(test.index)
    scores, failed = [], {}
    for name, model in (models or MODELS).items():
        try:
            forecast = model.predict(train, dates, calendar)
        except (ValueError, np.linalg.LinAlgError) as exc:
            failed[name] = str(exc)
            log.info("model %s skipped in backtest: %s", name, exc)
            continue
        a, f = _aligned(test, forecast)
        scores.append(Score(model=name, wape=wape(a, f), mape=mape(a, f)))
    if not scores:
        raise ValueError("no forecast model could be fitted to the history")
    chosen = min(scores, key=lambda s: (s.wape, s.model == BASELINE)).model
    return BacktestResult(
        held_out_from=min(dates), held_out_to=max(dates), held_out_days=len(dates),
        scores=tuple(scores), chosen=chosen, failed=failed,
    )
