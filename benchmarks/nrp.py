"""Curtois benchmark run: instances 1-8 from benchmarks/instances/nrp/, objective vs best known.

    nice .venv/bin/python benchmarks/nrp.py --time-limit 60 [--instances 1 2 3] [--workers 0] [--seed 0]

Each objective is recomputed from the roster by optimizer.nrp.evaluate.
Writes benchmarks/results/nrp.json: objective, bound, gap to best known,
seconds and status per instance, plus the mean gap of instances 5-8.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "nrp.json"
INSTANCES = ROOT / "benchmarks" / "instances" / "nrp"
# best-known objectives (schedulingbenchmarks.org; 1-3 proven optimal), as listed in benchmarks/instances/nrp/README.md
BEST_KNOWN = {1: 607, 2: 828, 3: 1001, 4: 1716, 5: 1143, 6: 1950, 7: 1056, 8: 1300}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--instances", type=int, nargs="+", default=sorted(BEST_KNOWN))
    parser.add_argument("--workers", type=int, default=0, help="CP-SAT workers; 0 = all cores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from optimizer.nrp.evaluate import evaluate_roster
    from optimizer.nrp.solve import solve
    from optimizer.nrp.parser import read_instance

    rows = []
    for number in args.instances:
        instance = read_instance(INSTANCES / f"Instance{number}.txt")
        started = time.perf_counter()

        def progress(objective, bound, gap, name=instance.name, started=started):
            print(f"{name}: {time.perf_counter() - started:6.1f} s objective {objective:g} bound {bound:g}", file=sys.stderr, flush=True)

        solution = solve(instance, args.time_limit, seed=args.seed, workers=args.workers, progress=progress)
        evaluation = evaluate_roster(instance, solution.roster) if solution.roster else None
        objective = evaluation.penalty if evaluation else None
        best = BEST_KNOWN.get(number)
        rows.append({
            "instance": instance.name,
            "status": solution.status,
            "objective": objective,
            "feasible": bool(evaluation and evaluation.feasible),
            "bound": solution.bound,
            "best_known": best,
            "gap_to_best_known": None if objective is None or best is None else round((objective - best) / best, 4),
            "seconds": round(solution.seconds, 2),
        })
        print(json.dumps(rows[-1]), file=sys.stderr)
    gaps = [r["gap_to_best_known"] for r in rows if r["instance"] in {f"Instance{i}" for i in (5, 6, 7, 8)} and r["gap_to_best_known"] is not None]
    out = {
        "time_limit_s": args.time_limit,
        "workers": args.workers or os.cpu_count(),
        "seed": args.seed,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "note": "machine shared with other jobs while measured; run under nice",
        "instances": rows,
        "mean_gap_instances_5_8": round(sum(gaps) / len(gaps), 4) if len(gaps) == 4 else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
