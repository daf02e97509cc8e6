"""What the page benchmarks share (dashboard.py, supervisor_push.py): a `wfm demo` of a given
size on a free port, its process's CPU time, and API change → screen latencies."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def start_demo(folder: Path, agents: int, *, verbose: bool = False) -> tuple[subprocess.Popen, str]:
    """`wfm demo` of `agents` agents (the default floor's call volume per agent) in `folder`; the
    process and its base URL. verbose: `-v`, its stderr (the access log) kept in folder/demo.stderr."""
    config = folder / "bench.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{folder / "wfm.sqlite"}"\n'
        f"[simulator]\nspeed = 1.0\nagents = {agents}\ncalls_per_day = {int(6000 * agents / 60)}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "WFM_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}
    stderr = (folder / "demo.stderr").open("w", encoding="utf-8") if verbose else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "wfm.cli", "demo", *(["-v"] if verbose else []), "--port", "0",
                             "--no-browser", "--config", str(config)], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=stderr, text=True)
    first = proc.stdout.readline().strip() if proc.stdout else ""
    if not first.endswith("/wall"):
        proc.kill()
        raise SystemExit(f"wfm demo did not print its wall URL (got {first!r})")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, first[: -len("/wall")]


def latencies(api_changes: list[tuple[float, str]], screen: list[list]) -> dict:
    """Each API change (ms stamp, value) against the screen's first showing of its value (ms)."""
    measured, overtaken = [], 0
    for index, (stamp, value) in enumerate(api_changes[1:], start=1):
        shown = next((t for t, v in screen if v == value and t >= stamp - 5), None)
        if index + 1 < len(api_changes):
            # the screen moved on to the next value: a later showing of this one is another change, not this
            following, after = api_changes[index + 1]
            moved_on = next((t for t, v in screen if v == after and t >= following - 5), None)
            if shown is not None and moved_on is not None and shown > moved_on:
                shown = None
        if shown is None:
            overtaken += 1  # overtaken by the next change before a push carried it (pushes are throttled)
            continue
        measured.append(shown - stamp)
    measured.sort()

    def pct(p: float) -> float | None:
        return round(measured[min(len(measured) - 1, int(p * len(measured)))], 1) if measured else None
    return {"api_changes": len(api_changes) - 1, "measured": len(measured), "overtaken": overtaken,
            "median_ms": pct(0.5), "p95_ms": pct(0.95), "max_ms": round(measured[-1], 1) if measured else None}
