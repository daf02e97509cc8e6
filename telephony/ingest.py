"""Registry of the protocols `wfm ingest` reads, and what a protocol module offers.

Each module named in PROTOCOLS provides

    parse_capture(chunks: Iterable[bytes], settings, source: str) -> Iterator[Event | BadLine]

turning a raw capture (the bytes exactly as the PBX sent them, in any chunking)
into §1 events and BadLine records (`line` = line or message number), and
optionally

    async def live(args: argparse.Namespace, settings, emit: Callable[[Event | BadLine], None]) -> None

for `--connect HOST:PORT`; `emit` raises MaxEventsReached once `--max-events`
objects are out, and `live` lets it propagate after closing its connection.
Chunks may be `telephony.capture.TimedChunk`s carrying receive times from a
capture's side file. `settings` is the protocol's own settings object (e.g.
telephony.ami.settings.AmiSettings), built from the config by wfm/commands/feeds.py.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Protocol

from telephony.reconnect import AuthFailed, Backoff
from wfm.events import BadLine, Event, ResyncEvent

log = logging.getLogger(__name__)

PROTOCOLS: dict[str, str] = {
    "ami": "telephony.ami.offline",
    "esl": "telephony.esl.offline",
    "sip": "telephony.sip.offline",
    "serial": "telephony.serial.offline",
}


class ProtocolUnavailable(LookupError):
    """The protocol is unknown or its module is not part of this build."""


class MaxEventsReached(Exception):
    """Raised by the ingest emitter once `--max-events` objects have been printed."""


class LiveConnectError(Exception):
    """A live feed could not be opened or was refused (bad address, refused login)."""


class LiveFeedLost(Exception):
    """A live feed that was up went away and `--no-reconnect` was given: ingest ends non-zero."""


def load_protocol(name: str) -> ModuleType:
    """The protocol's module; ProtocolUnavailable with a one-line reason if it is missing."""
    try:
        module_name = PROTOCOLS[name]
    except KeyError:
        raise ProtocolUnavailable(f"unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        parts = module_name.split(".")
        own = {".".join(parts[: i + 1]) for i in range(len(parts))}
        if exc.name in own:
            raise ProtocolUnavailable(f"protocol {name!r} is not available in this build (no module {module_name})") from None
        raise
    if not hasattr(module, "parse_capture"):
        raise ProtocolUnavailable(f"protocol {name!r}: module {module_name} offers no parse_capture")
    return module


class LiveFeed(Protocol):
    """A non-reconnecting connection-oriented adapter, as follow_live drives it (telephony.streaming)."""

    failure: BaseException | None

    def records(self) -> AsyncIterator[Event | BadLine]: ...

    async def close(self) -> None: ...

    @property
    def ever_connected(self) -> bool: ...


async def follow_live(make_adapter: Callable[[], LiveFeed], emit: Callable[[Event | BadLine], None], *, where: str,
                      reconnect: bool, backoff: Backoff) -> None:
    """Stream a live feed's events to `emit` (resync markers left out) like `wfm serve` does: when the
    PBX goes away, connect again after a backoff; with reconnect=False end with LiveFeedLost (exit 1,
    never a silent 0). A refused login, or a PBX that cannot be reached at all, is a LiveConnectError.
    `make_adapter()` builds a non-reconnecting adapter for one connection."""
    connected_once = False
    while True:
        adapter = make_adapter()
        try:
            async for event in adapter.records():
                if isinstance(event, ResyncEvent):
                    continue  # resync markers are internal to the floor
                emit(event)
        finally:
            await asyncio.shield(adapter.close())
        failure = adapter.failure
        if isinstance(failure, AuthFailed):
            raise LiveConnectError(f"{where}: login refused: {failure}")
        if adapter.ever_connected:
            connected_once = True
            backoff.reset()
            lost = f"{where}: the PBX closed the connection" + (f" ({failure})" if failure else "")
        elif not connected_once:
            raise LiveConnectError(f"{where}: cannot connect: {type(failure).__name__}: {failure}")
        else:
            lost = f"{where}: cannot connect again: {type(failure).__name__}: {failure}"
        if not reconnect:
            raise LiveFeedLost(lost)
        delay = backoff.next_delay()
        log.warning("%s; connecting again in %.1f s", lost, delay)
        await asyncio.sleep(delay)
