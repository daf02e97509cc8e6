"""Forecast benchmark: month-ahead held-out folds on the real bank_calls series, pipeline vs baselines.

    .venv/bin/python benchmarks/forecast.py [--history sample_data/history/bank_calls.csv] [--tuning-folds 2]

Every fold is used the way `wfm forecast` is: the history up to the end of one
month (the cutoff), the whole next month forecast. The forecast never sees a
day after its cutoff; its model is chosen by its own rolling-origin backtest
on the history alone. Scored: every Monday-Friday of the target month up to
the series' end, 30-min intervals, a closed day counting as 0 calls (staffing
a closed day is an error too); the open-days-only figure is given beside it.

Honest evaluation: the pipeline's settings (candidate set, backtest origins)
are picked from SETTINGS on the first `--tuning-folds` folds only, then
reported on the later folds, which played no part in any choice. Baselines
beside them: per interval the mean of the last four same weekdays, and the
same weekday one week back (seasonal naive), fitted on the same history.
`*_with_closed_days` are the baselines with the pipeline's closed days set to 0,
for information (how much of the gain is the calendar's).
Writes benchmarks/results/forecast.json.
"""
from __future__ import annotations

import argparse
import calendar as _calendar
import json
import sys
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "forecast.json"
COUNTRY = "US"  # the bank's own holidays (a North American bank)

# settings the tuning folds choose from: (name, candidate set, backtest origins)
SETTINGS = {
    "all_candidates_3_origins": (None, 3),
    "all_candidates_1_origin": (None, 1),
    "combination_and_parts_3_origins": (("weekday_mean", "seasonal_regression", "regression_weekday_mean"), 3),
    "combination_only": (("regression_weekday_mean",), 3),
}


def month_end(year: int, month: int) -> date:
    return date(year, month, _calendar.monthrange(year, month)[1])


def folds(panel: pd.DataFrame, min_weeks: int) -> list[tuple[date, str]]:
    """(cutoff, target month) for every month-end with `min_weeks` of history before it and data after it."""
    out = []
    first, last = panel.index.min(), panel.index.max()
    year, month = first.year, first.month
    while True:
        cutoff = month_end(year, month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if date(year, month, 1) > last:
            return out
        if (cutoff - first).days + 1 >= 7 * min_weeks:
            out.append((cutoff, f"{year:04d}-{month:02d}"))


def scoring_matrix(panel: pd.DataFrame, month: str, series_end: date, open_only: bool) -> pd.DataFrame:
    from optimizer.forecast import month_days

    days = [d for d in month_days(month) if d.weekday() < 5 and d <= series_end]
    if open_only:
        days = [d for d in days if d in panel.index]
    return panel.reindex(index=days, fill_value=0.0).fillna(0.0)


def score(actual: pd.DataFrame, forecast: pd.DataFrame) -> float:
    from optimizer.forecast import wape

    f = forecast.reindex(index=actual.index, columns=actual.columns).fillna(0.0)
    return wape(actual.to_numpy().ravel(), f.to_numpy().ravel())


def to_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.pivot(index="date", columns="interval_start", values="calls")


def run_fold(history, panel, cutoff: date, month: str, setting, calendar_base, progress) -> dict:
    from optimizer.forecast import MODELS, Calendar, forecast_month, month_days

    candidates, origins = setting
    kwargs = dict(cutoff=cutoff, backtest_origins=origins, history_country=COUNTRY, target_country=COUNTRY, progress=progress,
                  candidates=tuple(candidates or MODELS))
    start = time.perf_counter()
    result = forecast_month(history, month, calendar_base, 2, 180.0, **kwargs)
    seconds = time.perf_counter() - start
    train = panel.loc[[d <= cutoff for d in panel.index]]
    days = [d for d in month_days(month) if d > cutoff]
    baselines = {name: MODELS[name].predict(train, days, Calendar()) for name in ("weekday_mean", "seasonal_naive")}
    # for information: the baselines given the pipeline's closed days (the calendar's share of the gain)
    for name in list(baselines):
        baselines[f"{name}_with_closed_days"] = baselines[name].drop(index=[d for d in result.closed_days if d in baselines[name].index])
    series_end = panel.index.max()
    out = {"cutoff": cutoff.isoformat(), "month": month, "chosen": result.model, "seconds": round(seconds, 2),
           "backtest_origins": [d.isoformat() for d in result.backtest.origins],
           "closed_days_forecast": [d.isoformat() for d in result.closed_days]}
    for label, open_only in (("wape", False), ("wape_open_days", True)):
        actual = scoring_matrix(panel, month, series_end, open_only)
        out[label] = {"pipeline": round(score(actual, to_matrix(result.frame)), 4),
                      **{name: round(score(actual, frame), 4) for name, frame in baselines.items()}}
    out["scored_days"] = len(scoring_matrix(panel, month, series_end, False))
    return out


def summarise(rows: list[dict]) -> dict:
    if not rows:
        return {}
    out = {}
    for label in ("wape", "wape_open_days"):
        out[label] = {name: round(float(np.mean([r[label][name] for r in rows])), 4) for name in rows[0][label]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", default=str(ROOT / "sample_data" / "history" / "bank_calls.csv"))
    parser.add_argument("--tuning-folds", type=int, default=2)
    parser.add_argument("--tuning-only", action="store_true", help="print the tuning folds' figures, write nothing")
    args = parser.parse_args()
    import logging

    from tqdm import tqdm

    from optimizer.forecast import DEFAULT_CANDIDATES, DEFAULT_ORIGINS, MODELS, Calendar, read_history, to_panel

    logging.basicConfig(level=logging.ERROR)
    history = read_history(args.history, ZoneInfo("Asia/Shanghai"))
    panel = to_panel(history)
    # the product refuses less than forecast.min_history_weeks + forecast.backtest_weeks (3 + 2) weeks: 2003-04 cannot be formed
    all_folds = folds(panel, 5)
    tuning, held_out = all_folds[: args.tuning_folds], all_folds[args.tuning_folds:]
    base = Calendar()
    bar = tqdm(desc="forecast folds (model fits)", file=sys.stderr, unit="fit")
    tick = lambda: bar.update(1)  # noqa: E731

    tuning_rows = {name: [run_fold(history, panel, c, m, setting, base, tick) for c, m in tuning] for name, setting in SETTINGS.items()}
    tuning_means = {name: summarise(rows)["wape"]["pipeline"] for name, rows in tuning_rows.items()}
    chosen_setting = min(tuning_means, key=tuning_means.get)
    setting = SETTINGS[chosen_setting]
    if args.tuning_only:
        bar.close()
        print(json.dumps({"means": tuning_means, "folds": {k: [(r["month"], r["chosen"], r["wape"], r["wape_open_days"]) for r in v]
                                                           for k, v in tuning_rows.items()}}, indent=1))
        return 0
    product = (tuple(setting[0] or MODELS), setting[1]) == (DEFAULT_CANDIDATES, DEFAULT_ORIGINS)
    held_rows = [run_fold(history, panel, c, m, setting, base, tick) for c, m in held_out]
    bar.close()

    out = {
        "series": "fpp3 bank_calls (5-min, aggregated to 30 min), 2003-03-03 .. 2003-10-24",
        "history": Path(args.history).name,
        "method": ("month-ahead folds: history to a month's end, forecast the whole next month; "
                   "scored Mon-Fri of the target month up to the series' end, closed days as 0 calls; 30-min WAPE"),
        "holiday_country": COUNTRY,
        "tuning_folds": [m for _, m in tuning],
        "held_out_folds": [m for _, m in held_out],
        "tuning": {"settings": {name: {"candidates": list(s[0] or MODELS), "backtest_origins": s[1]} for name, s in SETTINGS.items()},
                   "mean_wape_on_tuning_folds": tuning_means, "chosen": chosen_setting,
                   "product_defaults_match": product,
                   "folds": tuning_rows[chosen_setting]},
        "held_out": {"mean": summarise(held_rows), "folds": held_rows},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"tuning": out["tuning"]["mean_wape_on_tuning_folds"], "chosen": chosen_setting,
                      "held_out_mean": out["held_out"]["mean"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
