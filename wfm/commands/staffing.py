"""`wfm staffing`: Erlang C/A agents for one interval, or for every row of a CSV (docs/interfaces.md section 6).

`--from` reads the CSV as columns, solves every row at once and writes the
JSON / CSV from those columns (optimizer.staffing_table); on the Erlang C path
nothing heavier than numpy is imported, so start-up stays short.
"""
from __future__ import annotations

import argparse
import json
import sys

from wfm.commands import CliError, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=float, help="calls offered in the interval")
    parser.add_argument("--interval-min", type=float, help="interval length in minutes (default: roster.interval_min)")
    parser.add_argument("--aht-s", type=float, help="average handle time, seconds (default: service.default_aht_s)")
    parser.add_argument("--target-sl", type=float, help="service level target, a fraction in (0, 1) (default: service.service_level_target)")
    parser.add_argument("--answer-s", type=float, help="answer-time threshold of the service level, seconds (default: service.service_level_answer_s)")
    parser.add_argument("--max-occupancy", type=float, help="occupancy cap in (0, 1] (default: service.occupancy_cap)")
    parser.add_argument("--shrinkage", type=float, help="share of paid time off the phones, in [0, 1) (default: service.shrinkage)")
    parser.add_argument("--target-asa-s", type=float, help="optional average speed of answer target, seconds")
    parser.add_argument("--model", choices=("erlang-c", "erlang-a"), default="erlang-c", help="queue model (erlang-a: callers abandon)")
    parser.add_argument("--patience-s", type=float, help="mean caller patience for erlang-a, seconds (default: service.patience_s)")
    parser.add_argument("--from", dest="from_csv", metavar="CSV",
                        help="intervals to staff: columns [queue,]date,interval_start,calls,aht_s")
    parser.add_argument("--out", metavar="CSV", help="with --from: also write the results as CSV")


def _human(result) -> str:
    abandon = "" if result.p_abandon is None else f", P(abandon) {result.p_abandon:.2%}"
    return (
        f"{result.agents} agents on post, {result.scheduled} scheduled after shrinkage: "
        f"service level {result.service_level:.1%}, occupancy {result.occupancy:.1%}, "
        f"P(wait) {result.p_wait:.1%}, ASA {result.asa_s:.1f} s{abandon}"
    )


def _human_columns(table, result) -> str:
    lines = []
    for i in range(len(table)):
        abandon = "" if result.p_abandon is None else f", P(abandon) {result.p_abandon[i]:.2%}"
        queue = "" if table.queue is None else f"{table.queue[i]} "
        lines.append(
            f"{queue}{table.date[i]} {table.interval_start[i]}  {table.calls[i]:>8g} calls  "
            f"{result.agents[i]} agents on post, {result.scheduled[i]} scheduled after shrinkage: "
            f"service level {result.service_level[i]:.1%}, occupancy {result.occupancy[i]:.1%}, "
            f"P(wait) {result.p_wait[i]:.1%}, ASA {result.asa_s[i]:.1f} s{abandon}"
        )
    return "\n".join(lines)


def _from_csv(args: argparse.Namespace, target, interval_min: float) -> int:
    from optimizer.staffing import StaffingInputError, solve_columns
    from optimizer.staffing_table import read_interval_table, results_json, write_table_csv

    if args.calls is not None:
        raise CliError("give either --calls or --from CSV, not both", 2)
    if int(interval_min) != interval_min:
        raise CliError("--interval-min must be whole minutes with --from", 2)
    try:
        table = read_interval_table(args.from_csv, int(interval_min))
    except StaffingInputError as exc:
        raise CliError(str(exc), 2) from None
    result = solve_columns(table.calls, interval_min * 60.0, table.aht_s, target)
    if args.out:
        write_table_csv(args.out, table, result)
    if args.json:
        sys.stdout.write(results_json(result) + "\n")
    elif len(table):
        print(_human_columns(table, result))
    return 0


def run(args: argparse.Namespace) -> int:
    from optimizer.staffing import StaffingInputError, StaffingTarget, staff_interval

    config = load_config(args)
    try:
        target = StaffingTarget.from_config(
            config,
            service_level=args.target_sl, answer_s=args.answer_s, max_occupancy=args.max_occupancy,
            shrinkage=args.shrinkage, model=args.model, patience_s=args.patience_s, max_asa_s=args.target_asa_s,
        )
    except StaffingInputError as exc:
        raise CliError(f"bad target: {exc}", 2) from None
    interval_min = args.interval_min if args.interval_min is not None else config.roster.interval_min
    if interval_min <= 0:
        raise CliError(f"--interval-min must be > 0, got {interval_min:g}", 2)
    if args.from_csv:
        return _from_csv(args, target, interval_min)
    if args.calls is None:
        raise CliError("give --calls N (or --from CSV)", 2)
    aht = args.aht_s if args.aht_s is not None else config.service.default_aht_s
    try:
        result = staff_interval(args.calls, interval_min, aht, target)
    except StaffingInputError as exc:
        raise CliError(str(exc), 2) from None
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        print(_human(result))
    return 0
