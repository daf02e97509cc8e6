"""`wfm demo`: the whole system on a simulated floor, through the same AMI adapter a real PBX uses.

    wfm demo [--port N] [--speed X] [--agents N] [--no-browser] [--config site.toml]

Simulator (an Asterisk-style AMI server on a free localhost port, SimClock
starting at a busy time of the floor's day) → AmiAdapter → Runtime (the
simulator's shifts handed over after the feed's first snapshot, and each new
simulated day's at its rollover; event log at storage.url, so a plain
`wfm log verify` afterwards checks the demo's log) → API and pages on
api.port. The first stdout line is exactly `http://127.0.0.1:PORT/wall`.
Ctrl-C or SIGTERM stops within 2 s. Started again on the same log, the demo
resumes the simulated day where the log ends: budgets survive a restart.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from wfm.commands import CliError, load_config

if TYPE_CHECKING:
    from wfm.runtime import Runtime

logger = logging.getLogger(__name__)

DEMO_USERS = ("admin", "supervisor", "scheduler", "1001", "1002")
DEMO_LOGINS = "logins: admin/admin  supervisor/supervisor  scheduler/scheduler  agent 1001/1001  agent 1002/1002"
BUSY_TIME = time(9, 30)  # a busy morning on the floor's default day shift
_RESUME_SCAN = 2000  # records from the end of the log searched for the last event


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default api.port; 0 = any free port)")
    parser.add_argument("--speed", type=float, default=None, help="simulated seconds per wall second (default simulator.speed)")
    parser.add_argument("--agents", type=int, default=None, help="simulated agents (default simulator.agents)")
    parser.add_argument("--no-browser", action="store_true", help="do not open the wall board in a browser")


def sim_start(config, now: datetime | None = None) -> datetime:
    """simulator.day / start_at when set, else 09:30 local today (floor zone)."""
    from wfm.timeutil import utcnow

    tz = config.floor.tz
    local_now = (now or utcnow()).astimezone(tz)
    day = datetime.fromisoformat(config.simulator.day).date() if config.simulator.day else local_now.date()
    at = time.fromisoformat(config.simulator.start_at) if config.simulator.start_at else BUSY_TIME
    return datetime.combine(day, at, tzinfo=tz)


def last_event_ts(log) -> datetime | None:
    """The ts of the newest logged floor event (searching back from the end)."""
    last = log.last_seq()
    if last <= 0:
        return None
    after = max(0, last - _RESUME_SCAN)
    newest = None
    for record in log.read(kinds=["event"], after_seq=after):
        if newest is None or record.ts > newest:
            newest = record.ts
    return newest


def resume_point(config, log, start: datetime) -> datetime:
    """Continue where the log ends when it ends later than `start` (a restart): the
    simulated floor never runs behind what the log already holds."""
    last = last_event_ts(log)
    if last is None:
        return start
    last_local = last.astimezone(config.floor.tz)
    if last_local > start:
        return last_local + timedelta(seconds=1)
    return start


class NewDayFeed:
    """Hands each rolled-over simulated day's roster to the floor.

    `submit_many(shifts)` returns an awaitable (Runtime.submit_many), or None while the
    floor is not up yet: then the shifts are held until `flush()`. Each shift is
    stamped no earlier than the simulated now. `close()` stops listening.
    """

    def __init__(self, simulation, clock, config, submit_many: Callable[[list], Any]) -> None:
        self._clock = clock
        self._tz = config.floor.tz
        self._submit_many = submit_many
        self._loop = asyncio.get_running_loop()
        self._held: list = []
        self._tasks: set[asyncio.Task] = set()
        self.close = simulation.on_new_day(self._new_day)

    def _send(self, shifts: list) -> bool:
        awaitable = self._submit_many(shifts)
        if awaitable is None:
            return False
        task = self._loop.create_task(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._submitted)
        return True

    def _submitted(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("the new simulated day's shifts were not handed to the floor: %r", task.exception())

    def _new_day(self, model) -> None:
        now = self._clock.now().astimezone(self._tz)
        shifts = [msgspec.structs.replace(s, ts=max(s.ts, now)) for s in model.shifts]
        logger.info("simulated day %s: %d shifts handed to the floor", model.day, len(shifts))
        if self._held or not self._send(shifts):
            self._held.extend(shifts)

    def flush(self) -> None:
        """Hand over what was held while the floor was not up yet."""
        if self._held and self._send(list(self._held)):
            self._held.clear()


def _open_browser(url: str) -> None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32")):
        return
    import webbrowser

    try:
        webbrowser.open(url, new=2)
    except webbrowser.Error as exc:
        logger.info("could not open a browser: %s", exc)


def run(args: argparse.Namespace) -> int:
    from telephony.ami.client import AmiAdapter
    from wfm.commands.feeds import ami_settings
    from pbxsim.ami_server import AmiServer, FloorSimulation
    from pbxsim.clock import SimClock
    from wfm.commands.serve import exit_now, host_floor, open_floor_log, print_urls

    config = load_config(args)
    if args.speed is not None and args.speed <= 0:
        raise CliError(f"--speed {args.speed}: must be positive", 2)
    if args.agents is not None and args.agents < 1:
        raise CliError(f"--agents {args.agents}: at least one agent", 2)
    if args.port is not None and not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port}: not a TCP port", 2)
    speed = args.speed if args.speed is not None else config.simulator.speed
    port = config.api.port if args.port is None else args.port
    log = open_floor_log(config)
    start = resume_point(config, log, sim_start(config))

    async def main() -> int:
        clock = SimClock(start, speed)
        simulation = FloorSimulation(config, clock, agents=args.agents)
        secret = secrets.token_urlsafe(18)  # a fresh manager secret per run, never printed
        ami = AmiServer(simulation, users={"wfm": secret}, host="127.0.0.1", port=config.simulator.port)
        await ami.start()
        adapter = AmiAdapter(ami_settings(config), host="127.0.0.1", port=ami.port, username="wfm", secret=secret,
                             source="ami:simulator", clock=clock)

        def prelude(report):
            # the day's roster is handed to the floor now (its own ts is the simulated day's start)
            now = clock.now().astimezone(config.floor.tz)
            return [msgspec.structs.replace(s, ts=max(s.ts, now)) for s in simulation.model.shifts
                    if report is None or not report.has_shift(s)]

        floor: dict[str, Runtime] = {}  # the runtime, once the server has built it
        day_feed = NewDayFeed(
            simulation, clock, config,
            lambda shifts: floor["runtime"].submit_many(shifts) if "runtime" in floor else None)

        def ready(server) -> None:
            from wfm.api.routes import RUNTIME

            floor["runtime"] = server.app[RUNTIME]
            day_feed.flush()
            agents = len(simulation.model.agent_ids)
            print_urls(server.base_url, as_json=args.json,
                       info={"logins": [{"username": u, "password": u} for u in DEMO_USERS],
                             "agents": agents, "sim_start": start.isoformat(), "speed": speed,
                             "log": config.storage.url},
                       extra=[DEMO_LOGINS, f"simulated floor: {agents} agents from "
                                           f"{start.isoformat(timespec='seconds')} at {speed:g}x; log {config.storage.url}"])
            if not args.no_browser:
                _open_browser(server.base_url + "/wall")

        return await host_floor(config, log, [adapter], clock, port=port, prelude=prelude,
                                on_ready=ready, extra_closers=[ami.close], speed=clock.speed)

    try:
        code = asyncio.run(main())
    finally:
        if not getattr(log, "_closed", True):
            log.close(timeout=1.0)
    exit_now(code)
    return code
