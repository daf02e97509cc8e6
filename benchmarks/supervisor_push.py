"""The /supervisor page on the push: what one open page asks of the server, and floor change -> its screen.

    .venv/bin/python benchmarks/supervisor_push.py [--agents 60] [--seconds 60]

Starts `wfm demo -v --port 0` (simulator -> AMI -> runtime -> API -> Dash in one process, its access log
on stderr) with `--agents` simulated agents at real time and the default call volume per agent, opens
ONE headless Chromium on /supervisor as the supervisor, and for `--seconds`:

- counts the access log's requests made for the page: GET /api/floor (none: the floor comes from the
  WebSocket push; the polling page made one a second), POST /_dash-update-component (the page's
  callbacks: floor redraws, adherence refreshes and its figure), GET /api/adherence;
- measures the demo process's CPU (utime+stime, /proc) with the page open;
- stamps each change of idle_agents in GET /api/wall (polled every 20 ms) and, by a MutationObserver,
  each change of the page's "Idle agents" chip; latency = first screen stamp showing the new value -
  the API stamp (same machine clock). The page redraws at most once a second
  (dashboard/pages/supervisor.py FLOOR_REDRAW_MS), so a value overtaken within that second is counted
  as overtaken, not measured.

Results: benchmarks/results/supervisor_push.json, one summary line on stdout, progress on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.pagelib import cpu_seconds, latencies, start_demo  # noqa: E402
RESULTS = REPO / "benchmarks" / "results" / "supervisor_push.json"

OBSERVER = """
window.__idle = [];
const read = () => { const chip = Array.from(document.querySelectorAll('#sup-summary .chip'))
                       .find(c => c.textContent.startsWith('Idle agents'));
                     return chip ? chip.textContent.split(':').pop().trim() : null; };
let last = read();
window.__idle.push([Date.now(), last]);
new MutationObserver(() => { const v = read(); if (v !== last) { last = v; window.__idle.push([Date.now(), v]); } })
  .observe(document.querySelector('#sup-summary'), {subtree: true, childList: true, characterData: true});
"""


def log(message: str) -> None:
    print(f"supervisor_push bench: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    from support.browser import headless_chromium, wait_for
    from test_browser_demo import login

    load_before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="wfm-sup-bench-"))
    log(f"starting wfm demo -v with {args.agents} agents")
    proc, base = start_demo(folder, args.agents, verbose=True)
    try:
        wait_for(lambda: requests.get(base + "/api/wall", timeout=10).json()["agents_signed_in"], timeout=60, step=0.5)
        with headless_chromium() as browser:
            login(browser, base, "supervisor", "/supervisor")
            wait_for(lambda: "Idle agents" in browser.find_element("id", "sup-summary").text, timeout=30)
            time.sleep(2.0)  # the first adherence fetch and figure are done
            browser.execute_script(OBSERVER)
            log(f"one /supervisor page open for {args.seconds:.0f} s")
            start = (folder / "demo.stderr").stat().st_size
            c0, t0 = cpu_seconds(proc.pid), time.monotonic()
            session, last, api_changes = requests.Session(), None, []
            while time.monotonic() - t0 < args.seconds:
                value = str(session.get(base + "/api/wall", timeout=10).json()["idle_agents"])
                if value != last:
                    api_changes.append((time.time() * 1000.0, value))
                    last = value
                time.sleep(0.02)
            cpu = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
            elapsed = time.monotonic() - t0
            screen = browser.execute_script("return window.__idle;")
            page = browser.execute_script("var s = window.wfmSupervisor;"  # absent on a page that polls
                                          "return s ? {pushes: s.pushes, handed: s.handed, adherence: s.adherenceBumps}"
                                          " : {pushes: null, handed: null, adherence: null};")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        text = (folder / "demo.stderr").read_text(encoding="utf-8")[start:] if "start" in locals() else ""
        shutil.rmtree(folder, ignore_errors=True)
    access = [line for line in text.splitlines() if "aiohttp.access" in line and " supervisor " in line]

    def per_min(pattern: str) -> float:
        return round(sum(1 for line in access if re.search(pattern, line)) * 60 / elapsed, 1)
    result = {
        "benchmark": "supervisor_push",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "note": "2 cores shared with other work; the demo (simulator, runtime, API, Dash) is one process"},
        "setup": {"agents": args.agents, "seconds": round(elapsed, 1), "load_average_before": load_before,
                  "method": "one headless Chromium on /supervisor; the demo's access log (-v) for its requests"},
        "requests_per_min": {"GET /api/floor": per_min(r" GET /api/floor "),
                             "POST /_dash-update-component": per_min(r" POST /_dash-update-component "),
                             "GET /api/adherence": per_min(r" GET /api/adherence ")},
        "page": {"floor_pushes": page["pushes"], "floors_redrawn": page["handed"], "adherence_refreshes": page["adherence"]},
        "server_cpu_cores_with_page": round(cpu, 3),
        "change_to_screen": {"definition": "idle_agents change visible in GET /api/wall -> the page's Idle agents chip",
                             **latencies(api_changes, screen)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    rpm = result["requests_per_min"]
    print(f"supervisor_push: {args.agents} agents, one page, {elapsed:.0f} s: per minute {rpm['GET /api/floor']} "
          f"GET /api/floor, {rpm['POST /_dash-update-component']} callbacks, {rpm['GET /api/adherence']} adherence; "
          f"change -> screen median {result['change_to_screen']['median_ms']} ms p95 {result['change_to_screen']['p95_ms']} ms "
          f"(load average {load_before:.1f} before)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
