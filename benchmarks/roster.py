"""Roster benchmark: the sample month (60 agents, 60 s) and a 200-agent × 31-day month (120 s), on all cores.

Records status, objective, bound and gap at 10/30/60/120 s (from the solver's own progress trace), the
independent checker's hard violations and unmet demand, fairness spreads, and wall time, into
benchmarks/results/roster.json. Run with `nice .venv/bin/python benchmarks/roster.py [--quick]`.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import random
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from optimizer.checker import check_files  # noqa: E402
from optimizer.roster.io import write_roster_csv  # noqa: E402
from optimizer.roster.io import load_problem  # noqa: E402
from optimizer.roster.solve import solve  # noqa: E402
from wfm.config import load_config  # noqa: E402

SAMPLE = REPO / "sample_data" / "roster"
RESULTS = REPO / "benchmarks" / "results" / "roster.json"


def scaled_inputs(folder: Path, agents: int, seed: int = 7) -> tuple[Path, Path]:
    """A 200-agent month: the sample demand scaled by agents/60, agents with the sample's mix of leave and wishes."""
    rng = random.Random(seed)
    factor = agents / 60
    demand = folder / "demand.csv"
    with open(SAMPLE / "demand.csv", encoding="utf-8") as src, open(demand, "w", newline="", encoding="utf-8") as dst:
        out = csv.writer(dst, lineterminator="\n")
        out.writerow(["date", "interval_start", "required"])
        for row in csv.DictReader(src):
            out.writerow([row["date"], row["interval_start"], round(int(row["required"]) * factor)])
    days = [date(2027, 1, d) for d in range(1, 32)]
    roster_agents = folder / "agents.csv"
    with open(roster_agents, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["agent_id", "name", "unavailable", "rest_requests", "preferred_shift"])
        for i in range(agents):
            leave = sorted(rng.sample(days, rng.choice([1, 2, 3]))) if i % 4 == 0 else []
            rest = [d for d in (sorted(rng.sample(days, rng.choice([1, 2]))) if i % 3 == 0 else []) if d not in leave]
            out.writerow([f"A{i:04d}", f"Agent {i}", ";".join(map(str, leave)), ";".join(map(str, rest)),
                          ["day", "evening", ""][i % 3] if i % 5 else ""])
    return roster_agents, demand


def at(points, second: float) -> dict:
    """Best objective / bound / gap reached by `second` in the progress trace."""
    seen = [p for p in points if p.elapsed_s <= second]
    if not seen:
        return {"seconds": second, "objective": None, "bound": None, "gap": None}
    last = seen[-1]
    if last.phase != "improve":  # still completing the greedy roster: its bound is not a bound of the month
        return {"seconds": second, "objective": last.objective, "bound": None, "gap": None}
    return {"seconds": second, "objective": last.objective, "bound": last.bound, "gap": None if last.gap is None else round(last.gap, 4)}


def run_case(name: str, config, agents_csv: Path, demand_csv: Path, limit: float, checkpoints: list[float], seed: int) -> dict:
    problem = load_problem(config, "2027-01", agents_csv, demand_csv)
    started = time.monotonic()
    result = solve(problem, config, time_limit=limit, seed=seed)
    wall = time.monotonic() - started
    with tempfile.TemporaryDirectory() as tmp:
        roster = write_roster_csv(result.assignments, Path(tmp) / "roster.csv")
        check = check_files(roster, config, agents_csv, demand_csv)
    fair = check.fairness
    return {
        "case": name, "agents": len(problem.agents), "days": len(problem.days), "time_limit_s": limit, "seed": seed,
        "wall_s": round(wall, 2), "status": result.status, "objective": result.objective, "bound": result.bound,
        "gap": None if result.gap is None else round(result.gap, 4),
        "hard_violations_checker": check.hard_violations, "unmet_agent_intervals_solver": result.unmet_agent_intervals,
        "unmet_agent_intervals_checker": check.unmet_agent_intervals,
        "spread": {k: fair[k]["spread"] for k in ("evenings", "weekends", "holidays", "workdays")},
        "first_solution_s": next((p.elapsed_s for p in result.progress if p.objective is not None), None),
        "checkpoints": [at(result.progress, s) for s in checkpoints],
        "penalties": {k: v["count"] for k, v in result.penalties.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short limits (smoke run), results not written")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(SAMPLE / "site.toml")
    sample_limit, scale_limit = (10, 20) if args.quick else (60, 120)
    cases = [run_case("sample-60x31", config, SAMPLE / "agents.csv", SAMPLE / "demand.csv", sample_limit, [10, 30, 60], args.seed)]
    with tempfile.TemporaryDirectory() as tmp:
        agents_csv, demand_csv = scaled_inputs(Path(tmp), 200)
        cases.append(run_case("scale-200x31", config, agents_csv, demand_csv, scale_limit, [10, 30, 60, 120], args.seed))
    record = {"benchmark": "roster", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "note": "2 cores shared with other jobs"},
              "cases": cases}
    text = json.dumps(record, ensure_ascii=False, indent=1)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
