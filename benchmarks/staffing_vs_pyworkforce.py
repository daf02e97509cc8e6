"""`wfm staffing --from` vs pyworkforce 0.5.1 as whole processes: 96 intervals x 1,000 queues (96,000 Erlang C solves).

    .venv/bin/python benchmarks/staffing_vs_pyworkforce.py [--repeat 5]

One input CSV (queue,date,interval_start,calls,aht_s; two days of half-hour
intervals per queue, an intraday double hump scaled per queue, AHT 120-600 s)
is staffed by both, each a fresh process timed from start to exit (interpreter
start-up, imports, reading the CSV, solving, writing a JSON file), `--repeat`
times, alternating; wall time and CPU time (user + sys, steadier when the
machine is shared) are both recorded. Target: 80 % answered in 20 s, occupancy at most 85 %,
no shrinkage. pyworkforce runs in its own virtualenv, benchmarks/.venv-pyworkforce
(created here with `pyworkforce==0.5.1` from PyPI), so its pinned
dependencies never touch the product's; its runner reads the CSV with the
csv module, calls `ErlangC(...).required_positions(...)` per row and writes its
answers as JSON. Agent counts are compared cell by cell: a difference is
explained only when our count gives an occupancy exactly at the cap and
pyworkforce's float ceil(A / cap) took one more. Also timed: the interpreter
with `import numpy` alone. Writes benchmarks/results/staffing_vs_pyworkforce.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PYWORKFORCE = "pyworkforce==0.5.1"
VENV = ROOT / "benchmarks" / ".venv-pyworkforce"
RESULTS = ROOT / "benchmarks" / "results" / "staffing_vs_pyworkforce.json"
WFM = ROOT / ".venv" / "bin" / "wfm"
INTERVALS, QUEUES = 96, 1000
TARGET = {"sl": 0.8, "answer_s": 20, "occ": 0.85, "interval_min": 30}

RUNNER = r'''
import csv, json, sys
from pyworkforce.queuing import ErlangC
source, target, sl, answer_s, occ, interval_min = sys.argv[1:7]
sl, answer_s, occ, interval_min = float(sl), float(answer_s), float(occ), float(interval_min)
out = []
with open(source, newline="") as handle:
    for row in csv.DictReader(handle):
        calls, aht = float(row["calls"]), float(row["aht_s"])
        if calls <= 0:
            out.append({"raw_positions": 0}); continue
        erlang = ErlangC(transactions=calls, aht=aht / 60.0, asa=answer_s / 60.0, interval=interval_min, shrinkage=0.0)
        out.append(erlang.required_positions(service_level=sl, max_occupancy=occ))
with open(target, "w") as handle:
    json.dump(out, handle)
'''


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} with {PYWORKFORCE} ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", PYWORKFORCE], check=True)
    return python


def workload(seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """calls and AHT, shape (96 intervals, 1,000 queues)."""
    rng = np.random.default_rng(seed)
    day = (np.arange(INTERVALS) / 2.0) % 24
    curve = np.exp(-((day - 10.5) ** 2) / 6) + 0.8 * np.exp(-((day - 15) ** 2) / 5) + 0.05
    size = rng.uniform(5, 600, QUEUES)
    calls = np.round(curve[:, None] * size[None, :] * rng.uniform(0.9, 1.1, (INTERVALS, QUEUES)))
    aht = rng.uniform(120, 600, (INTERVALS, QUEUES)).round()
    return calls, aht


def write_input(path: Path, calls: np.ndarray, aht: np.ndarray) -> None:
    lines = ["queue,date,interval_start,calls,aht_s"]
    for q in range(QUEUES):
        for i in range(INTERVALS):
            minute = (i % 48) * 30
            lines.append(f"Q{q:04d},2027-01-{4 + i // 48:02d},{minute // 60:02d}:{minute % 60:02d},{calls[i, q]:g},{aht[i, q]:g}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def timed(argv: list[str], stdout=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + sys) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=stdout or subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from tqdm import tqdm

    python = ensure_venv()
    calls, aht = workload()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source, runner = tmp / "intervals.csv", tmp / "pyworkforce_runner.py"
        write_input(source, calls, aht)
        runner.write_text(RUNNER, encoding="utf-8")
        ours_cmd = [str(WFM), "staffing", "--from", str(source), "--json", "--interval-min", str(TARGET["interval_min"]),
                    "--target-sl", str(TARGET["sl"]), "--answer-s", str(TARGET["answer_s"]),
                    "--max-occupancy", str(TARGET["occ"]), "--shrinkage", "0"]
        theirs_cmd = [str(python), str(runner), str(source), str(tmp / "theirs.json"), str(TARGET["sl"]),
                      str(TARGET["answer_s"]), str(TARGET["occ"]), str(TARGET["interval_min"])]
        numpy_cmd = [sys.executable, "-c", "import numpy"]
        runs: dict[str, list[tuple[float, float]]] = {"ours": [], "theirs": [], "bare": []}
        for _ in tqdm(range(args.repeat), desc="whole-process runs (ours, pyworkforce)", file=sys.stderr):
            with (tmp / "ours.json").open("wb") as out:
                runs["ours"].append(timed(ours_cmd, out))
            runs["theirs"].append(timed(theirs_cmd))
            runs["bare"].append(timed(numpy_cmd))
        ours, theirs, bare = ([wall for wall, _ in runs[k]] for k in ("ours", "theirs", "bare"))
        cpu = {k: [c for _, c in runs[k]] for k in runs}
        mine = np.array([row["agents"] for row in json.loads((tmp / "ours.json").read_text())])
        their = np.array([int(row["raw_positions"]) for row in json.loads((tmp / "theirs.json").read_text())])
    order = calls.T.ravel(), aht.T.ravel()  # the CSV is queue by queue
    load = order[0] * order[1] / (TARGET["interval_min"] * 60.0)
    differ = np.flatnonzero(mine != their)
    explained = [
        {"calls": float(order[0][i]), "aht_s": float(order[1][i]), "ours": int(mine[i]), "pyworkforce": int(their[i]),
         "occupancy_at_ours": round(float(load[i] / mine[i]), 12)}
        for i in differ if their[i] == mine[i] + 1 and abs(load[i] / mine[i] - TARGET["occ"]) < 1e-9
    ]
    result = {
        "cells": int(calls.size),
        "shape": f"{INTERVALS} intervals x {QUEUES} queues",
        "target": "80 % in 20 s, occupancy <= 85 %, Erlang C, no shrinkage",
        "measured": "whole processes, start to exit: interpreter, imports, CSV read, solve, JSON written",
        "repeat": args.repeat,
        "ours_seconds": {"best": min(ours), "median": statistics.median(ours), "all": ours},
        "pyworkforce_seconds": {"best": min(theirs), "median": statistics.median(theirs), "all": theirs},
        "python_import_numpy_seconds": {"best": min(bare), "median": statistics.median(bare)},
        "cpu_seconds_user_sys": {"ours_best": min(cpu["ours"]), "pyworkforce_best": min(cpu["theirs"]),
                                 "python_import_numpy_best": min(cpu["bare"]),
                                 "ratio_best": min(cpu["theirs"]) / min(cpu["ours"])},
        "speed_ratio_best": min(theirs) / min(ours),
        "speed_ratio_median": statistics.median(theirs) / statistics.median(ours),
        "pyworkforce_version": PYWORKFORCE,
        "agent_count_mismatches": int(differ.size),
        "mismatches_occupancy_exactly_at_cap": explained,
        "unexplained_mismatches": int(differ.size - len(explained)),
        "total_agents": int(mine.sum()),
        "max_load_erlangs": float(load.max()),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("ours_seconds", "pyworkforce_seconds")}
                     | {"ours_best": min(ours), "pyworkforce_best": min(theirs)}, indent=2))
    return 0 if result["unexplained_mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
