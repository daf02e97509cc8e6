"""`wfm forecast`: next month's 30-min forecast from call history, with backtest scores and demand.

Reports WAPE and MAPE of every model on the held-out final weeks against the
seasonal-naive baseline; the best model is refitted on all history. With
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
    parser.add_argument("--model", help="force a model instead of the backtest's choice (seasonal_naive, profile, holt_winters, seasonal_regression)")
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
    from optimizer.forecast import BASELINE, HistoryError, parse_month, read_history

    config = load_config(args)
    try:
        parse_month(args.month)
    except ValueError as exc:
        raise CliError(f"--month: {exc}", 2) from None
    holidays = _holidays(args.holidays)
    steps = tqdm(total=3, desc="forecast", file=sys.stderr, leave=False)
    try:
        steps.set_postfix_str("reading history, backtesting models")
        plan = plan_from_history(args.history, args.month, config, holidays=holidays, model=args.model)
        steps.update(2)
    except HistoryError as exc:
        raise CliError(str(exc), 2) from None
    except ValueError as exc:
        raise CliError(f"{args.history}: {exc}", 2) from None
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
    steps.update(1)
    steps.close()
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
        "backtest": {
            "held_out_from": bt.held_out_from.isoformat(),
            "held_out_to": bt.held_out_to.isoformat(),
            "held_out_days": bt.held_out_days,
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
    print(f"Backtest on {bt.held_out_days} held-out days {bt.held_out_from} .. {bt.held_out_to}:")
    for s in sorted(bt.scores, key=lambda s: s.wape):
        mark = " <- chosen" if s.model == result.model else (" (baseline)" if s.model == BASELINE else "")
        print(f"  {s.model:<20} WAPE {s.wape:6.1%}  MAPE {s.mape:6.1%}{mark}")
    print(f"AHT: {result.aht_source}")
    if args.demand:
        d = summary["demand"]
        print(f"Demand: {d['rows']} rows, peak {d['peak_required']} agents on post -> {args.demand}")
    return 0
