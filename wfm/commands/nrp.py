"""`wfm nrp INSTANCE.txt`: solve a Curtois nurse-rostering benchmark instance (docs/interfaces.md section 5).

The printed objective is the benchmark's penalty recomputed from the roster by
the independent evaluator, never the solver's own number. Progress lines
(objective, bound, gap) go to stderr as solutions improve.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from wfm.commands import CliError, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("instance", metavar="INSTANCE.txt", help="an instances1_24 file (schedulingbenchmarks.org format)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="S", help="solver time limit in seconds (default: roster.time_limit_s)")
    parser.add_argument("--deterministic-time", type=float, default=None, metavar="S",
                        help="search budget in deterministic seconds, the same effort under any load; --time-limit then "
                             "only guards the wall clock (default: roster.deterministic_time_s; 0 = off)")
    parser.add_argument("--seed", type=int, default=0, help="CP-SAT random seed")
    parser.add_argument("--workers", type=int, default=None, help="CP-SAT workers (default: roster.workers; 0 = all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    from optimizer.nrp.evaluate import evaluate_roster
    from optimizer.nrp.solve import solve
    from optimizer.nrp.parser import InstanceError, read_instance

    config = load_config(args)
    time_limit = args.time_limit if args.time_limit is not None else config.roster.time_limit_s
    if time_limit <= 0:
        raise CliError(f"--time-limit must be > 0, got {time_limit:g}", 2)
    deterministic = args.deterministic_time if args.deterministic_time is not None else config.roster.deterministic_time_s
    if deterministic < 0:
        raise CliError(f"--deterministic-time must be >= 0, got {deterministic:g}", 2)
    workers = args.workers if args.workers is not None else config.roster.workers
    if workers < 0:
        raise CliError(f"--workers must be >= 0, got {workers}", 2)
    try:
        instance = read_instance(args.instance)
    except InstanceError as exc:
        raise CliError(str(exc), 2) from None
    started = time.perf_counter()

    def progress(objective: float, bound: float, gap: float) -> None:
        if not args.quiet:
            print(f"nrp {instance.name}: {time.perf_counter() - started:6.1f} s  objective {objective:g}  bound {bound:g}  gap {gap:.1%}",
                  file=sys.stderr, flush=True)

    solution = solve(instance, time_limit, seed=args.seed, workers=workers, progress=progress, deterministic_s=deterministic)
    evaluation = evaluate_roster(instance, solution.roster) if solution.roster else None
    if evaluation is not None and not evaluation.feasible:
        raise CliError(f"{args.instance}: solver roster breaks hard rules: {evaluation.hard_violations[0]}", 1)
    if evaluation is not None and solution.solver_objective is not None and evaluation.penalty != round(solution.solver_objective):
        print(f"nrp {instance.name}: warning: evaluator penalty {evaluation.penalty} != solver objective {solution.solver_objective:g}", file=sys.stderr)
    result = {
        "instance": instance.name,
        "status": solution.status,
        "objective": evaluation.penalty if evaluation is not None else None,
        "bound": solution.bound,
        "seconds": round(solution.seconds, 3),
        "roster": solution.roster,
    }
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        print(f"{instance.name}: {solution.status}, objective {result['objective']}, bound {solution.bound}, {solution.seconds:.1f} s")
        width = max((len(p.id) for p in instance.staff), default=1)
        for staff_id, row in solution.roster.items():
            print(f"  {staff_id:<{width}} " + " ".join(f"{s or '.':>2}" for s in row))
    return 0 if solution.roster else 1
