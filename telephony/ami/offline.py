"""AMI for `wfm ingest`: a raw capture → §1 events, and a live `--connect` feed.

Replays go through the same sans-I/O parser and mapper as the live adapter.
Time of each event: the message's `Timestamp:` header, else the receive time
from the capture's side file, else the last PBX time seen; messages before
any known time wait for the first one (and, in a capture with no time at
all, take `fallback_time`, e.g. the file's modification time).
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone

from telephony.ami.mapping import AmiMapper, AmiMappingError
from telephony.ami.protocol import AmiError, AmiMessage, AmiParser
from telephony.ami.settings import AmiSettings
from wfm.events import BadLine, Event

log = logging.getLogger(__name__)

EVENT_SOURCE = "ami"
_FAR_FUTURE = timedelta(days=3650)
_UNUSED = datetime(1970, 1, 1, tzinfo=timezone.utc)  # a receive time never read: the message has its own Timestamp


def parse_capture(
    chunks: Iterable[bytes],
    settings: AmiSettings,
    source: str,
    *,
    fallback_time: datetime | None = None,
) -> Iterator[Event | BadLine]:
    """Events and skipped-message records of one AMI capture, in stream order."""
    parser = AmiParser()
    mapper = AmiMapper(settings, EVENT_SOURCE)
    untimed: list[AmiMessage] = []  # waiting for the first known time
    last_time: datetime | None = None
    started = False

    def map_one(msg: AmiMessage, received: datetime) -> Iterator[Event | BadLine]:
        nonlocal last_time
        try:
            events = mapper.map(msg, received)
        except AmiMappingError as exc:
            yield BadLine(source, msg.line, str(exc))
            return
        if msg.get("Timestamp"):
            last_time = mapper.event_time(msg, received)
        yield from events

    def finish_connection() -> Iterator[Event | BadLine]:
        for error in parser.close():
            yield BadLine(source, error.line, error.reason)
        if last_time is not None:
            yield from mapper.finish_snapshot(last_time)
            yield from mapper.advance(last_time + _FAR_FUTURE)

    for chunk in chunks:
        if getattr(chunk, "new_connection", False) and started:
            yield from finish_connection()
            mapper = AmiMapper(settings, EVENT_SOURCE)  # a reconnect starts afresh, as live
        started = True
        received: datetime | None = getattr(chunk, "received", None)
        for item in parser.feed(chunk):
            if type(item) is AmiError:
                yield BadLine(source, item.line, item.reason)
                continue
            if type(item) is not AmiMessage or not mapper.handles(item):
                continue
            when = received or last_time
            if when is None:
                if not item.get("Timestamp"):
                    untimed.append(item)
                    continue
                try:
                    when = mapper.event_time(item, _UNUSED)
                except AmiMappingError as exc:
                    yield BadLine(source, item.line, str(exc))
                    continue
            if untimed:
                for held in untimed:
                    yield from map_one(held, when)
                untimed.clear()
            yield from map_one(item, when)
    if untimed:
        if fallback_time is None:
            for held in untimed:
                yield BadLine(source, held.line, "no Timestamp header and no receive time for this message")
        else:
            last_time = fallback_time
            for held in untimed:
                yield from map_one(held, fallback_time)
    yield from finish_connection()


async def live(args: argparse.Namespace, settings: AmiSettings, emit: Callable[[Event | BadLine], None]) -> None:
    """`wfm ingest --protocol ami --connect HOST:PORT`: print events until Ctrl-C or --max-events; a PBX
    that goes away is connected to again (as `wfm serve` does), or with --no-reconnect ends the ingest
    non-zero with a message."""
    from telephony.ami.client import AmiAdapter
    from telephony.ingest import follow_live
    from telephony.reconnect import Backoff

    host, port = args.connect_host, args.connect_port
    # wfm ingest fills username and secret from the config's matching feed when not given
    username = args.username if args.username is not None else ""
    secret = args.secret if args.secret is not None else ""

    def one_connection() -> AmiAdapter:
        return AmiAdapter(settings, host=host, port=port, username=username, secret=secret, source=EVENT_SOURCE,
                          capture_path=getattr(args, "capture", None), reconnect=False, yield_skipped=True)

    await follow_live(one_connection, emit, where=f"{host}:{port}", reconnect=not getattr(args, "no_reconnect", False),
                      backoff=Backoff(settings.reconnect))
