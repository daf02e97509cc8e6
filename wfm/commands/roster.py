"""`wfm roster`: next month's roster with CP-SAT, checked independently, published in every format."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from wfm.commands import CliError, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", required=True, help="YYYY-MM to roster")
    parser.add_argument("--agents", required=True, metavar="CSV", help="agents.csv (agent_id,name[,unavailable,rest_requests,preferred_shift])")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--demand", metavar="CSV", help="demand.csv (date,interval_start,required)")
    source.add_argument("--forecast", metavar="CSV", help="call history: forecast, then Erlang staffing, then demand")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    parser.add_argument("--previous", metavar="CSV", help="last month's roster.csv (rest, consecutive days and fairness carry-over)")
    parser.add_argument("--ledger", metavar="JSON", help="fairness ledger (ledger.json of last month's roster) instead of counting --previous")
    parser.add_argument("--time-limit", type=float, metavar="S", help="solver time limit in seconds (default roster.time_limit_s)")
    parser.add_argument("--deterministic-time", type=float, metavar="S",
                        help="search budget in deterministic seconds, the same effort under any load; --time-limit then "
                             "only guards the wall clock (default roster.deterministic_time_s; 0 = off)")
    parser.add_argument("--seed", type=int, default=0, help="solver random seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    scale = parser.add_argument_group("demand in the floor's terms (with --forecast; default: the config's values)")
    scale.add_argument("--floor-share", type=float, metavar="F",
                       help="this floor's share of the history's call volume (default forecast.volume_scale)")
    scale.add_argument("--target-peak", type=int, metavar="N", help="instead: scale so the busiest interval needs N agents on post")
    scale.add_argument("--aht", type=float, metavar="S", help="average handle time in seconds (default: history or service.default_aht_s)")
    scale.add_argument("--shrinkage", type=float, metavar="F", help="shrinkage 0-1 (default service.shrinkage)")
    scale.add_argument("--sl-target", type=float, metavar="F", help="service-level target 0-1 (default service.service_level_target)")


def _forecast_demand(args, config, out_dir):
    """Forecast → Erlang staffing → demand (optimizer.demand), written to DIR/demand.csv and read back like any demand file."""
    import csv

    from optimizer.roster.io import covered_starts, shifts_from_config
    from optimizer.roster.problem import hhmm_to_min

    from optimizer.demand import DemandParams, plan_from_history

    try:
        params = DemandParams.from_config(config, floor_share=args.floor_share, target_peak=args.target_peak,
                                          aht_s=args.aht, shrinkage=args.shrinkage, service_level=args.sl_target)
        plan = plan_from_history(args.forecast, args.month, config, params=params)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc).splitlines()[0] if str(exc) else f"{args.forecast}: cannot forecast", 2) from None
    frame = plan.demand
    print(f"wfm roster: demand at floor share {plan.share:.4g} of the history's volume", file=sys.stderr)
    open_starts = covered_starts(shifts_from_config(config.roster, config.floor), config.roster.interval_min)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demand.csv"
    dropped = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["date", "interval_start", "required"])
        for row in frame.itertuples(index=False):
            start = str(row.interval_start)[:5]
            if int(row.required) > 0 and hhmm_to_min(start) not in open_starts:
                dropped += int(row.required)
                continue
            writer.writerow([str(row.date)[:10], start, int(row.required)])
    if dropped:
        logging.getLogger(__name__).warning("forecast demand outside opening hours dropped: %d agent-intervals", dropped)
    return path


def run(args: argparse.Namespace) -> int:
    from optimizer.checker import CheckInputError, check_files
    from optimizer.publish import publish
    from optimizer.roster.io import RosterInputError, load_problem, parse_month
    from optimizer.roster.solve import solve
    from optimizer.roster.versions import RosterVersions

    from pathlib import Path

    config = load_config(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out}: exists and is not a folder", 2)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--out {out}: cannot create the folder: {exc.strerror}", 2) from None
    try:
        parse_month(args.month)
        if args.forecast:
            args.demand = str(_forecast_demand(args, config, out))
        problem = load_problem(config, args.month, args.agents, args.demand, args.previous, ledger_json=args.ledger)
    except RosterInputError as exc:
        raise CliError(str(exc), 2) from None
    if args.time_limit is not None and args.time_limit <= 0:
        raise CliError("--time-limit must be positive", 2)
    if args.deterministic_time is not None and args.deterministic_time < 0:
        raise CliError("--deterministic-time must be >= 0", 2)
    _tell_capacity(problem, config)
    result = solve(problem, config, time_limit=args.time_limit, seed=args.seed, show_progress=not args.no_progress,
                   deterministic_time=args.deterministic_time)
    if not result.assignments:
        for line in result.explanation:
            print(f"wfm roster: {line}", file=sys.stderr)
        if args.json:
            sys.stdout.write(json.dumps({"status": result.status, "explanation": list(result.explanation)}, ensure_ascii=False) + "\n")
        return 1
    from optimizer.roster.io import write_roster_csv

    out.mkdir(parents=True, exist_ok=True)

    draft = write_roster_csv(result.assignments, out / "roster.csv")
    try:
        check = check_files(draft, config, args.agents, args.demand, args.previous)
    except CheckInputError as exc:
        raise CliError(f"independent check failed to read the new roster: {exc}", 2) from None
    paths = publish(problem, result.assignments, out, config, result=result, check=check)
    RosterVersions(out, tz=config.floor.tz).record_new(
        paths["roster.csv"], author="wfm roster", note=f"solver {result.status}, seed {args.seed}",
        inputs={"agents": args.agents, "demand": args.demand, "previous": args.previous})
    report = json.loads(paths["report.json"].read_text(encoding="utf-8"))
    if args.json:
        slim = {k: report[k] for k in ("month", "status", "objective", "bound", "gap", "seconds", "hard_violations", "unmet_agent_intervals")}
        slim["fairness"] = {k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items() if kk != "per_agent"})
                            for k, v in report["fairness"].items()}
        slim["out"] = str(out)
        sys.stdout.write(json.dumps(slim, ensure_ascii=False) + "\n")
    else:
        fair = report["fairness"]
        gap = "-" if report["gap"] is None else f"{report['gap']:.1%}"
        print(f"roster {report['month']}: {report['status']}, objective {report['objective']:g}, bound {report['bound']}, "
              f"gap {gap}, {report['seconds']} s")
        print(f"hard violations (independent check): {report['hard_violations']}; unmet agent-intervals: {report['unmet_agent_intervals']}")
        print(f"fairness spread — evenings {fair['evenings']['spread']}, weekends {fair['weekends']['spread']}, holidays {fair['holidays']['spread']}, days worked {fair['workdays']['spread']}")
        for line in report["explanation"]:
            print(f"  {line}")
        if report["unmet_agent_intervals"] or report["hard_violations"]:
            print("recorded as a draft: publishing it needs a confirmation and a reason (unmet demand or rule warnings)")
        print(f"written to {out}: roster.csv, report.json, ledger.json, shifts.jsonl, {paths['xlsx'].name}, {paths['html'].name}, ics/")
    if report["hard_violations"]:
        return 1
    return 1 if report["unmet_agent_intervals"] else 0


def _tell_capacity(problem, config) -> None:
    """Before solving: the demand's peak and volume against what the agents can cover (stderr)."""
    import pandas as pd

    from optimizer.demand import floor_capacity
    from optimizer.roster.problem import min_to_hhmm

    demand = pd.DataFrame({"date": [s.day.isoformat() for s in problem.demand],
                           "interval_start": [min_to_hhmm(s.start_min) for s in problem.demand],
                           "required": [s.required for s in problem.demand]})
    capacity = floor_capacity(demand, len(problem.agents), config, len(problem.days))
    print(f"wfm roster: {capacity.message()}", file=sys.stderr)
