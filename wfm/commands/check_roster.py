"""`wfm check-roster ROSTER.csv`: independent check of every hard roster rule, coverage, unmet demand, fairness."""
from __future__ import annotations

import argparse
import json
import sys

from wfm.commands import CliError, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("roster", metavar="ROSTER.csv", help="roster to check (agent_id,date,shift,start,end,meal_start)")
    parser.add_argument("--agents", metavar="CSV", help="agents.csv: unavailable dates and fairness membership")
    parser.add_argument("--demand", metavar="CSV", help="demand.csv: recompute coverage and unmet demand")
    parser.add_argument("--previous", metavar="CSV", help="last month's roster.csv for rest and consecutive-day carry-over")
    parser.add_argument("--coverage", action="store_true", help="with --json, include the per-interval coverage rows")


def run(args: argparse.Namespace) -> int:
    from optimizer.checker import CheckInputError, check_files

    config = load_config(args)
    try:
        report = check_files(args.roster, config, args.agents, args.demand, args.previous)
    except CheckInputError as exc:
        raise CliError(str(exc), 2) from None
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(with_coverage=args.coverage), ensure_ascii=False) + "\n")
    else:
        print(f"{args.roster}: month {report.month}, {report.agents} agents, {report.hard_violations} hard violation(s)")
        for rule, count in sorted(report.by_rule().items()):
            print(f"  {rule}: {count}")
        for v in report.violations[:50]:
            print(f"  {v.rule} {v.agent or '-'} {v.day or '-'}: {v.detail}")
        if report.hard_violations > 50:
            print(f"  … {report.hard_violations - 50} more")
        if report.unmet_agent_intervals is not None:
            print(f"unmet agent-intervals: {report.unmet_agent_intervals}; over: {report.over_agent_intervals}")
        fair = report.fairness
        print(f"fairness spread over {fair['agents']} agents — evenings {fair['evenings']['spread']}, "
              f"weekends {fair['weekends']['spread']}, holidays {fair['holidays']['spread']}, days worked {fair['workdays']['spread']}")
    return 1 if report.hard_violations else 0
