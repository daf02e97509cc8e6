"""`wfm forecast`: next month's 30-min forecast from call history, with backtest scores and demand.

The model is chosen by a rolling-origin backtest that replays the month-ahead
use on the history alone (forecast.candidates, forecast.backtest_origins); the
baselines (seasonal naive, mean of the last four same weekdays) are scored
beside it. Public holidays (forecast.holiday_country) the history shows closed
are forecast 0. `--cutoff` ends the history on a given day (any day, mid-month too). With
`--demand` it also staffs the forecast (Erlang C, [service] targets) and writes
demand.csv (docs/interfaces.md section 4); `--chart` writes an HTML Plotly chart.
"""
from __future__ import annotations

import argparse
import json
import sys

from wfm.commands import CliError, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history", required=True, metavar="CSV", help="call history: timestamp,calls[,aht_s] at 5/15/30-min resolution")
    parser.add_argument("--month", required=True, metavar="YYYY-MM", help="month to forecast")
    parser.add_argument("--holidays", default="", metavar="DATES",
                        help="comma-separated YYYY-MM-DD holidays (history and target month), added to roster.holidays")
    parser.add_argument("--cutoff", metavar="YYYY-MM-DD", help="use the history up to this day only (default: all of it)")
    parser.add_argument("--model", help="force a model instead of the backtest's choice (seasonal_naive, weekday_mean, profile, "
                                        "holt_winters, seasonal_regression, regression_weekday_mean)")
    parser.add_argument("--out", metavar="CSV", help="write the forecast: date,interval_start,calls,aht_s")
    parser.add_argument("--demand", metavar="CSV", help="also write demand.csv: date,interval_start,required")
    parser.add_argument("--chart", metavar="HTML", help="also write a Plotly chart of history, forecast and required agents")


def _holidays(text: str) -> list[str]:
    from datetime import date

    days = [part.strip() for part in text.split(",") if part.strip()]
    for day in days:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise CliError(f"--holidays: {day!r} is not a YYYY-MM-DD date", 2) from None
    return days


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from optimizer.demand import plan_from_history, write_demand_csv
    from optimizer.forecast import BASELINE, BASELINES, ForecastSettingsError, HistoryError, parse_month, read_history

    config = load_config(args)
    try:
        parse_month(args.month)
    except ValueError as exc:
        raise CliError(f"--month: {exc}", 2) from None
    holidays = _holidays(args.holidays)
    cutoff = None
    if args.cutoff:
        from datetime import date

        try:
            cutoff = date.fromisoformat(args.cutoff)
        except ValueError:
            raise CliError(f"--cutoff: {args.cutoff!r} is not a YYYY-MM-DD date", 2) from None
    steps = tqdm(desc="forecast (model fits)", unit="fit", file=sys.stderr, leave=False)
    try:
        plan = plan_from_history(args.history, args.month, config, holidays=holidays, model=args.model, cutoff=cutoff,
                                 progress=lambda: steps.update(1))
    except (HistoryError, ForecastSettingsError) as exc:
        raise CliError(str(exc), 2) from None
    except ValueError as exc:
        raise CliError(f"{args.history}: {exc}", 2) from None
    finally:
        steps.close()  # the error line, if any, starts on a clean line
    result = plan.forecast
    frame = result.frame
    if args.out:
        out = frame.copy()
        out["date"] = [d.isoformat() for d in out["date"]]
        out["calls"] = out["calls"].round(2)
        out["aht_s"] = out["aht_s"].round(1)
        out.to_csv(args.out, index=False, columns=["date", "interval_start", "calls", "aht_s"])
    if args.demand:
        write_demand_csv(args.demand, plan.demand)
    if args.chart:
        from optimizer.charts import forecast_figure

        history = read_history(args.history, config.floor.tz)
        scaled = history.frame.assign(calls=history.frame["calls"] * config.forecast.volume_scale)
        fig = forecast_figure(scaled, frame, plan.demand, title=f"{args.history}: forecast {args.month} ({result.model})")
        fig.write_html(args.chart, include_plotlyjs="cdn")
    bt = result.backtest
    baseline = next((s for s in bt.scores if s.model == BASELINE), None)
    chosen = bt.score(result.model) if any(s.model == result.model for s in bt.scores) else None
    summary = {
        "month": args.month,
        "model": result.model,
        "intervals": int(len(frame)),
        "calls": round(float(frame["calls"].sum()), 1),
        "volume_scale": config.forecast.volume_scale,
        "aht": result.aht_source,
        "cutoff": result.cutoff.isoformat() if result.cutoff else None,
        "days_from_history": [d.isoformat() for d in result.history_days],
        "closed_days": [d.isoformat() for d in result.closed_days],
        "history_closed_days": [{"date": c.day.isoformat(), "holiday": c.holiday} for c in result.history_closed],
        "backtest": {
            "held_out_from": bt.held_out_from.isoformat(),
            "held_out_to": bt.held_out_to.isoformat(),
            "held_out_days": bt.held_out_days,
            "origins": [d.isoformat() for d in bt.origins],
            "scores": {s.model: {"wape": round(s.wape, 4), "mape": round(s.mape, 4)} for s in bt.scores},
            "skipped": bt.failed,
        },
        "wape": None if chosen is None else round(chosen.wape, 4),
        "mape": None if chosen is None else round(chosen.mape, 4),
        "baseline_wape": None if baseline is None else round(baseline.wape, 4),
        "baseline_mape": None if baseline is None else round(baseline.mape, 4),
    }
    if args.demand:
        summary["demand"] = {"rows": int(len(plan.demand)), "peak_required": int(plan.demand["required"].max()) if len(plan.demand) else 0,
                             "dropped_intervals": plan.dropped_intervals, "dropped_calls": round(plan.dropped_calls, 1)}
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return 0
    print(f"Forecast {args.month}: {summary['calls']:.0f} calls over {summary['intervals']} intervals, model {result.model}")
    print(f"History to {summary['cutoff']}" + (f"; {len(result.history_days)} day(s) of {args.month} taken from it" if result.history_days else ""))
    if result.closed_days:
        print(f"Closed (holidays the history shows closed), forecast 0: {', '.join(summary['closed_days'])}")
    if result.history_closed:
        print("Closed days found in the history: " + ", ".join(
            f"{c.day}" + (f" ({c.holiday})" if c.holiday else " (not a listed holiday)" if c.holiday is None else "") for c in result.history_closed))
    print(f"Backtest at {len(bt.origins)} origin(s) ({', '.join(str(o) for o in bt.origins)}), "
          f"{bt.held_out_days} held-out days {bt.held_out_from} .. {bt.held_out_to}:")
    for s in sorted(bt.scores, key=lambda s: s.wape):
        mark = " <- chosen" if s.model == result.model else (" (baseline)" if s.model in BASELINES else "")
        print(f"  {s.model:<20} WAPE {s.wape:6.1%}  MAPE {s.mape:6.1%}{mark}")
    print(f"AHT: {result.aht_source}")
    if args.demand:
        d = summary["demand"]
        print(f"Demand: {d['rows']} rows, peak {d['peak_required']} agents on post -> {args.demand}")
    return 0
