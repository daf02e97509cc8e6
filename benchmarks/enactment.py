"""The break loop through the PBX: from an allowed request to the PBX's confirmation, and back.

    .venv/bin/python benchmarks/enactment.py [--rounds N]

A real runtime (rules engine, SQLite log) reads the simulated Asterisk AMI
server on a localhost port. Each round an agent the simulator has ready asks
for a 小休 (runtime.submit_enacted): the engine allows it, the Enactor sends
QueuePause (Reason 小休), the simulator pauses the member and its
QueueMemberPause comes back as the agent_state that starts the break. The
round trip is measured from the submit to the "confirmed" outcome, then the
same for the unpause that ends the break. Writes benchmarks/results/enactment.json
and prints a one-line summary; progress on stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tqdm import tqdm  # noqa: E402

from pbxsim.ami_server import AmiServer, FloorSimulation  # noqa: E402
from pbxsim.clock import SimClock  # noqa: E402
from telephony.ami.client import AmiAdapter  # noqa: E402
from wfm.commands.feeds import ami_settings  # noqa: E402
from wfm.config import default_data, from_data, merge  # noqa: E402
from wfm.engine import FloorEngine  # noqa: E402
from wfm.enactment import Outcome  # noqa: E402
from wfm.eventlog import open_log_from_config  # noqa: E402
from wfm.events import AgentState, BreakCancelEvent, BreakKind, BreakRequestEvent  # noqa: E402
from wfm.runtime import Runtime  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "enactment.json"
SECRET = "bench"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(rounds: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="wfm-enact-"))
    config = from_data(merge(default_data(), {
        "storage": {"url": f"sqlite:///{folder / 'wfm.sqlite'}", "batch_max_delay_ms": 1},
        "simulator": {"agents": 30, "calls_per_day": 0, "overrun_probability": 0.0},
        "pbx": {"reconcile_s": 0.0},
    }), "benchmark")
    clock = SimClock(datetime(2027, 1, 4, 10, 30, tzinfo=config.floor.tz), speed=1.0)
    sim = FloorSimulation(config, clock, tick_s=0.02)
    server = AmiServer(sim, users={"wfm": SECRET})
    await server.start()
    adapter = AmiAdapter(ami_settings(config), host="127.0.0.1", port=server.port, username="wfm", secret=SECRET,
                         source="ami:sim", clock=clock)
    runtime = Runtime(config, FloorEngine(config), open_log_from_config(config), [adapter], clock)
    shifts = list(sim.model.shifts)
    await runtime.start(prelude=lambda report: shifts)
    pause_ms: list[float] = []
    unpause_ms: list[float] = []
    outcomes: dict[str, int] = {}
    try:
        progress = tqdm(total=rounds, desc="pause/unpause rounds", file=sys.stderr, disable=None, leave=False)
        while len(pause_ms) < rounds:
            now = clock.now().timestamp()
            ready = [p.agent for p in sim.model.plans if sim.model.state_of(p.agent) is AgentState.READY
                     and p.shift_start <= now < p.shift_end]
            agent = ready[len(pause_ms) % len(ready)]
            started = time.perf_counter()
            _, pending = await runtime.submit_enacted(BreakRequestEvent(ts=runtime.now(), agent=agent,
                                                                        kind=BreakKind.SHORT))
            records = [await asyncio.wait_for(p, 10) for p in pending]
            if not records:
                await asyncio.sleep(0.05)  # refused (the floor at its limit): try another agent
                continue
            outcomes[records[-1].outcome.value] = outcomes.get(records[-1].outcome.value, 0) + 1
            if records[-1].outcome is Outcome.CONFIRMED:
                pause_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            _, pending = await runtime.submit_enacted(BreakCancelEvent(ts=runtime.now(), agent=agent))
            records = [await asyncio.wait_for(p, 10) for p in pending]
            if records and records[-1].outcome is Outcome.CONFIRMED:
                unpause_ms.append((time.perf_counter() - started) * 1000)
            progress.update(1)
        progress.close()
    finally:
        await runtime.stop()
        await server.close()
    return {
        "rounds": rounds,
        "outcomes": outcomes,
        "pause_confirmed_ms": {"p50": round(_pct(pause_ms, 0.5), 2), "p95": round(_pct(pause_ms, 0.95), 2),
                               "max": round(max(pause_ms), 2), "mean": round(statistics.fmean(pause_ms), 2)},
        "unpause_confirmed_ms": {"p50": round(_pct(unpause_ms, 0.5), 2), "p95": round(_pct(unpause_ms, 0.95), 2),
                                 "max": round(max(unpause_ms), 2)} if unpause_ms else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.rounds))
    results.update({"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "python": platform.python_version(), "machine": platform.machine()})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    p, u = results["pause_confirmed_ms"], results["unpause_confirmed_ms"] or {}
    print(f"enactment: {args.rounds} rounds; pause confirmed p50 {p['p50']} ms p95 {p['p95']} ms; "
          f"unpause confirmed p50 {u.get('p50')} ms p95 {u.get('p95')} ms; outcomes {results['outcomes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
