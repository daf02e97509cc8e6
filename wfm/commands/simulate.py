"""`wfm simulate`: write a seeded, simulated floor day as §1 JSON lines.

    wfm simulate [--agents N] [--day YYYY-MM-DD] [--seed S] [--out FILE]
                 [--from HH:MM] [--to HH:MM]
    wfm simulate --ami [--port P] [--esl [--esl-port P]] [--speed X] [--start HH:MM] [--day ...]

The second form serves the floor live on 127.0.0.1 until Ctrl-C: as an
Asterisk AMI server (user and secret from the first AMI feed in the config, a
fresh secret printed on stderr when none is set) and/or, with --esl, as a
FreeSWITCH mod_callcenter event socket (password from the first ESL feed,
else FreeSWITCH's default).

Without --out the events go to stdout. A progress bar goes to stderr; with
--json a one-line summary object is printed on stdout after the file (only
when --out is given, so stdout stays pure JSON lines otherwise).
"""
from __future__ import annotations

import argparse
import re
import sys
from datetime import date, datetime, time

from wfm.commands import CliError, load_config

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agents", type=int, help="agents on the floor (default: simulator.agents)")
    parser.add_argument("--day", help="day to simulate, YYYY-MM-DD (default: simulator.day, else today in the floor zone)")
    parser.add_argument("--seed", type=int, help="random seed (default: simulator.seed); same seed, same bytes")
    parser.add_argument("--out", metavar="FILE", help="write the JSON lines here (default: stdout)")
    parser.add_argument("--from", dest="window_from", metavar="HH:MM", help="keep only events from this local time")
    parser.add_argument("--to", dest="window_to", metavar="HH:MM", help="keep only events before this local time")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--ami", action="store_true", help="serve the floor live as an Asterisk AMI server instead")
    parser.add_argument("--port", type=int, help="AMI port (default: simulator.port; 0 = any free port)")
    parser.add_argument("--esl", action="store_true", help="also (or only) serve the floor as a FreeSWITCH event socket")
    parser.add_argument("--esl-port", type=int, default=0, help="ESL port (default: any free port)")
    parser.add_argument("--speed", type=float, help="simulated seconds per wall second (default: simulator.speed)")
    parser.add_argument("--start", metavar="HH:MM", help="simulated clock start (default: simulator.start_at, else now)")


def _parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{what}: {text!r} is not a YYYY-MM-DD date", 2) from None


def _window(day: date, text: str | None, flag: str, tz) -> datetime | None:
    if text is None:
        return None
    if not _HHMM.match(text):
        raise CliError(f"{flag}: {text!r} is not HH:MM", 2)
    return datetime.combine(day, time.fromisoformat(text), tzinfo=tz)


def run(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from pbxsim.jsonl import day_events, write_events
    from pbxsim.model import FloorModel
    from wfm.timeutil import utcnow

    config = load_config(args)
    if args.ami or args.esl:
        return _serve_ami(args, config)
    tz = config.floor.tz
    if args.day:
        day = _parse_day(args.day, "--day")
    elif config.simulator.day:
        day = _parse_day(config.simulator.day, "simulator.day")
    else:
        day = utcnow().astimezone(tz).date()
    if args.agents is not None and args.agents < 1:
        raise CliError(f"--agents: {args.agents} must be at least 1", 2)
    window_start = _window(day, args.window_from, "--from", tz)
    window_end = _window(day, args.window_to, "--to", tz)
    if window_start and window_end and window_end <= window_start:
        raise CliError("--to must be later than --from", 2)
    try:
        model = FloorModel(config, day, agents=args.agents, seed=args.seed)
    except ValueError as exc:
        raise CliError(f"simulator config: {exc}", 2) from None

    bar = tqdm(total=1000, desc=f"simulating {day}", unit="‰", file=sys.stderr,
               disable=args.no_progress or None, leave=False)
    last = [0]

    def progress(fraction: float) -> None:
        done = min(1000, int(fraction * 1000))
        if done > last[0]:
            bar.update(done - last[0])
            last[0] = done

    events = day_events(model, window_start=window_start, window_end=window_end, progress=progress)
    try:
        if args.out:
            try:
                with open(args.out, "wb") as out:
                    count = write_events(events, out)
            except OSError as exc:
                raise CliError(f"{args.out}: {exc.strerror}", 2) from None
        else:
            count = write_events(events, sys.stdout.buffer)
            sys.stdout.flush()
    finally:
        bar.close()
    offered = sum(s["offered"] for s in model.stats.values())
    summary = {
        "day": day.isoformat(),
        "agents": len(model.plans),
        "seed": model.seed,
        "events": count,
        "calls_offered": offered,
        "calls_answered": sum(s["answered"] for s in model.stats.values()),
        "calls_abandoned": sum(s["abandoned"] for s in model.stats.values()),
        "service_level": round(sum(s["answered_in_target"] for s in model.stats.values()) / offered, 4) if offered else None,
        "out": args.out,
    }
    if args.out:
        if args.json:
            sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(
                f"{args.out}: {count} events, {len(model.plans)} agents, {day}, seed {model.seed}; "
                f"{summary['calls_offered']} calls offered, {summary['calls_abandoned']} abandoned, "
                f"service level {summary['service_level']:.1%} in {config.service.service_level_answer_s:g} s\n"
            )
    return 0


def _serve_ami(args: argparse.Namespace, config) -> int:
    import asyncio
    import logging
    import secrets

    from telephony.esl.client import DEFAULT_PASSWORD
    from pbxsim.ami_server import AmiServer, FloorSimulation
    from pbxsim.clock import SimClock, default_sim_start
    from pbxsim.esl_server import EslServer

    log = logging.getLogger("wfm.simulate")
    start = default_sim_start(config)
    if args.day:
        start = start.replace(**{k: getattr(_parse_day(args.day, "--day"), k) for k in ("year", "month", "day")})
    if args.start:
        if not _HHMM.match(args.start):
            raise CliError(f"--start: {args.start!r} is not HH:MM", 2)
        start = start.replace(hour=int(args.start[:2]), minute=int(args.start[3:]), second=0, microsecond=0)
    speed = args.speed if args.speed is not None else config.simulator.speed
    if speed <= 0:
        raise CliError(f"--speed: {speed} must be positive", 2)
    port = args.port if args.port is not None else config.simulator.port
    if not 0 <= port <= 65535:
        raise CliError(f"--port: {port} is not a TCP port", 2)
    if not 0 <= args.esl_port <= 65535:
        raise CliError(f"--esl-port: {args.esl_port} is not a TCP port", 2)
    feed = next((f for f in config.pbx.feeds if f.protocol == "ami"), None)
    username = feed.username if feed and feed.username else "wfm"
    secret = feed.resolved_secret() if feed else ""
    if args.ami and not secret:
        secret = secrets.token_urlsafe(12)
        sys.stderr.write(f"AMI secret for user {username!r}: {secret}\n")
    esl_feed = next((f for f in config.pbx.feeds if f.protocol == "esl"), None)
    esl_password = (esl_feed.resolved_secret() if esl_feed else "") or DEFAULT_PASSWORD

    async def serve() -> None:
        simulation = FloorSimulation(config, SimClock(start, speed), agents=args.agents, seed=args.seed)
        servers: list[AmiServer | EslServer] = []
        try:
            if args.ami:
                ami = AmiServer(simulation, users={username: secret}, port=port)
                await ami.start()
                servers.append(ami)
                sys.stderr.write(f"AMI simulator on 127.0.0.1:{ami.port}\n")
            if args.esl:
                esl = EslServer(simulation, password=esl_password, port=args.esl_port)
                await esl.start()
                servers.append(esl)
                sys.stderr.write(f"ESL simulator on 127.0.0.1:{esl.port}\n")
        except OSError as exc:
            for server in servers:
                await server.close()
            raise CliError(f"cannot listen: {exc.strerror}", 2) from None
        sys.stderr.write(f"floor time {start.isoformat()} at {speed:g}x; Ctrl-C stops\n")
        sys.stderr.flush()
        try:
            await asyncio.Event().wait()
        finally:
            log.info("stopping the simulator")
            for server in servers:
                await server.close()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 0
    return 0
