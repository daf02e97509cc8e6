"""`wfm serve`: the live floor against the PBX feeds in the config, on the wall clock.

    wfm serve --config site.toml [--port N]

Feeds (`[[pbx.feeds]]`) → their protocol's adapter → Runtime (rules engine,
event log at storage.url, replayed on start) → API, WebSocket and pages on
api.host:api.port. The first stdout line is the wall board's URL. SIGINT or
SIGTERM stops everything within 2 s.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any

from wfm.commands import CliError, load_config

logger = logging.getLogger(__name__)

# protocol → where its adapter may live (module, class); the class takes its protocol's
# settings object first (wfm/commands/feeds.py builds it). The first importable one is used.
ADAPTERS: dict[str, tuple[tuple[str, str], ...]] = {
    "ami": (("telephony.ami.client", "AmiAdapter"),),
    "esl": (("telephony.esl.client", "EslAdapter"),),
    "sip": (("telephony.sip.client", "SipAdapter"), ("telephony.sip.adapter", "SipAdapter"),
            ("telephony.sip.ua", "SipAdapter")),
    "serial": (("telephony.serial.client", "SerialAdapter"),),
}
STOP_BUDGET_S = 1.8
PAGES = ("/wall", "/me", "/supervisor", "/roster", "/reports", "/login")


def load_dash_factory() -> Callable[..., Any] | None:
    """The dashboard's Dash factory for the web layer, or None when this build has no dashboard."""
    try:
        from dashboard.app import create_dash
    except ImportError as exc:
        logger.info("dashboard not available (%s); serving the basic wall page", exc)
        return None
    return create_dash


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default api.port; 0 = any free port)")


def adapter_class(protocol: str) -> type:
    """The adapter class for a feed protocol, or CliError when this build has none."""
    from telephony.adapter import Adapter

    if protocol not in ADAPTERS:
        raise CliError(f"pbx.feeds: unknown protocol {protocol!r} (known: {', '.join(ADAPTERS)})", 2)
    reasons = []
    for module_name, class_name in ADAPTERS[protocol]:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            reasons.append(f"{module_name}: {exc}")
            continue
        cls = getattr(module, class_name, None)
        if isinstance(cls, type) and issubclass(cls, Adapter):
            return cls
        reasons.append(f"{module_name} offers no {class_name}")
    raise CliError(f"pbx.feeds: no adapter for protocol {protocol!r} in this build ({'; '.join(reasons)})", 2)


def build_adapters(config, clock) -> list:
    from wfm.commands.feeds import build_adapter

    adapters = []
    for index, feed in enumerate(config.pbx.feeds):
        cls = adapter_class(feed.protocol)
        try:
            adapters.append(build_adapter(config, feed, cls, clock=clock))
        except (ValueError, OSError) as exc:
            raise CliError(f"pbx.feeds[{index}] ({feed.protocol}): {exc}", 2) from None
    return adapters


def print_urls(base: str, *, extra: Iterable[str] = (), as_json: bool = False, info: dict | None = None) -> None:
    """The wall URL first (docs/interfaces.md §3), then the other pages and the API.

    With --json: one JSON object instead (stdout holds only JSON).
    """
    if as_json:
        import json

        data = {"wall": base + "/wall", "pages": {p.strip("/"): base + p for p in PAGES},
                "api": base + "/api/", "openapi": base + "/api/openapi.json",
                "websocket": "ws://" + base.split("://", 1)[1] + "/ws", **(info or {})}
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    lines = [base + "/wall"] + [base + p for p in PAGES[1:]]
    lines.append(f"API: {base}/api/  (OpenAPI: {base}/api/openapi.json, live: ws://{base.split('://', 1)[1]}/ws)")
    lines.extend(extra)
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def open_floor_log(config):
    from wfm.eventlog import EventLogError, open_log_from_config

    try:
        return open_log_from_config(config)
    except (EventLogError, OSError) as exc:
        from wfm.config import redact_url

        raise CliError(f"storage.url {redact_url(config.storage.url)}: {redact_url(str(exc))}", 2) from None


def make_engine(config):
    try:
        from wfm.engine import FloorEngine
    except ImportError as exc:
        raise CliError(f"the rules engine is not installed in this build (wfm.engine: {exc})", 2) from None
    return FloorEngine(config)


async def host_floor(
    config,
    log,
    adapters: list,
    clock,
    *,
    port: int,
    prelude: Callable[[Any], Iterable] | None = None,
    on_ready: Callable[[Any], None],
    extra_closers: Iterable[Callable[[], Any]] = (),
    users: list | None = None,
    speed: float = 1.0,
) -> int:
    """Run runtime + API until SIGINT/SIGTERM; returns the exit code. `speed`: how fast `clock`
    runs against wall time (the demo's simulated clock), for the tick interval.

    `prelude(replay_report)` gives events (e.g. the day's shifts) submitted after the log
    replay and before the feeds start. `users` are the accounts (default: config `[[users]]`).
    """
    from wfm.api.app import ApiServer, create_app
    from wfm.commands.heap import keep_heap, settle_heap
    from wfm.scaleout import runtime_class

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # a PostgreSQL log may be shared with other `wfm serve` processes: follow them (wfm/scaleout.py)
    runtime = runtime_class(config.storage.url)(config, make_engine(config), log, adapters, clock, speed=speed)
    server = None
    heap_keeper: asyncio.Task[None] | None = None
    try:
        report = await runtime.start(prelude=prelude)
        if report is not None and report.events:
            sys.stderr.write(f"resumed from the event log: {report.events} events replayed "
                             f"(last {report.last_ts.isoformat() if report.last_ts else '-'})\n")
        from wfm.auth import AccountConfigError, Accounts

        try:
            app = create_app(runtime, config, dashboard=load_dash_factory(),
                             accounts=Accounts(config.users if users is None else users))
        except AccountConfigError as exc:
            raise CliError(f"config: {exc}", 2) from None
        server = ApiServer(app, config.api.host, port)
        try:
            await server.start()
        except OSError as exc:
            raise CliError(f"api.port {port}: cannot listen on {config.api.host}:{port}: {exc.strerror}", 2) from None
        on_ready(server)
        settle_heap(config.process)
        heap_keeper = asyncio.create_task(keep_heap(config.process), name="wfm-heap-keeper")
        await stop.wait()
    finally:
        if heap_keeper is not None:
            heap_keeper.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

        async def shutdown() -> None:
            if server is not None:
                await server.stop()
            await runtime.stop()
            for closer in extra_closers:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result

        try:
            await asyncio.wait_for(shutdown(), STOP_BUDGET_S)
        except TimeoutError:
            logger.error("shutdown took longer than %.1f s; exiting anyway", STOP_BUDGET_S)
            log.close(timeout=0.2)  # a no-op when the log is already closed
    return 0


def exit_now(code: int) -> None:
    """Leave at once after a clean shutdown (log closed, streams flushed).

    Every resource was closed explicitly; the interpreter's own finalization of
    the Dash/pandas object graphs would add over a second to the 2 s stop budget.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)


def site_accounts(config) -> list:
    """The accounts of a real floor, or CliError naming the first demo login or default secret still active."""
    from wfm.users import UsersFileError, effective_users, load_entries, unsafe_defaults, users_path

    try:
        users = effective_users(config, load_entries(users_path(config)))
    except UsersFileError as exc:
        raise CliError(str(exc), 2) from None
    unsafe = unsafe_defaults(config, users)
    if unsafe:
        raise CliError(f"refusing to serve: {unsafe[0]} (make accounts with `wfm user add NAME --role admin`, "
                       f"which replaces the demo accounts; see docs/deployment.md)", 2)
    if not any(user.role == "admin" for user in users):
        raise CliError(f"refusing to serve: no admin account (make the first with `wfm user add NAME --role admin`; "
                       f"accounts live in {users_path(config)})", 2)
    return users


def run(args: argparse.Namespace) -> int:
    from wfm.clock import WallClock

    config = load_config(args)
    users = site_accounts(config)
    if not config.pbx.feeds:
        raise CliError(f"{args.config or 'defaults.toml'}: pbx.feeds is empty: configure at least one PBX feed", 2)
    clock = WallClock()
    port = config.api.port if args.port is None else args.port
    log = open_floor_log(config)

    async def main() -> int:
        adapters = build_adapters(config, clock)
        return await host_floor(config, log, adapters, clock, port=port, users=users,
                                on_ready=lambda server: print_urls(server.base_url, as_json=args.json))

    try:
        code = asyncio.run(main())
    finally:
        log.close(timeout=1.0)  # a no-op when shutdown closed it
    exit_now(code)
    return code
