"""Run every benchmark in this folder; each writes its JSON under benchmarks/results/.

Usage: .venv/bin/python benchmarks/run_all.py [NAME ...]   (default: all)
Each benchmark also runs on its own: .venv/bin/python benchmarks/<name>.py
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["events", "telephony", "enactment", "simulator", "rules", "staffing", "staffing_vs_pyworkforce", "forecast", "roster", "roster_months", "nrp", "dashboard", "supervisor_push", "api", "wall", "scaleout", "failover", "load"]


def main(argv: list[str]) -> int:
    wanted = argv or [name for name in ORDER if (HERE / f"{name}.py").exists()]
    failed = []
    for name in wanted:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"benchmarks: no such benchmark {name!r}", file=sys.stderr)
            return 2
        print(f"== {name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"== {name}: exit {code} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        if code:
            failed.append(name)
    if failed:
        print("benchmarks failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
