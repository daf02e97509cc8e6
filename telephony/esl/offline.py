"""ESL for `wfm ingest`: a raw event-socket capture → §1 events, and a live `--connect` feed.

Replays use the same sans-I/O parser and mapper as the live adapter. Event
times are `Event-Date-Timestamp`; a `callcenter_config` listing (api/response
body) in the capture is recognised by its header row and mapped as a
snapshot at the receive time (side file), else the last event time seen;
listings before any known time wait for the first one.
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from telephony.esl.mapping import EslMapper, EslMappingError
from telephony.esl.protocol import EslError, EslMessage, EslParser
from telephony.esl.settings import EslSettings
from wfm.events import BadLine, Event

log = logging.getLogger(__name__)

EVENT_SOURCE = "esl"
_FAR_FUTURE = timedelta(days=3650)


def map_listing(mapper: EslMapper, message: EslMessage, ts: datetime) -> list[Event]:
    """A `callcenter_config` listing's events (tier and queue lists only update the mapper)."""
    body = message.body_text()
    kind = mapper.listing_kind(body)
    if kind == "agents":
        return mapper.map_agent_list(body, ts)
    if kind == "members":
        return mapper.map_member_list(body, ts)
    if kind == "tiers":
        mapper.map_tier_list(body)
    return []


def parse_capture(
    chunks: Iterable[bytes],
    settings: EslSettings,
    source: str,
    *,
    fallback_time: datetime | None = None,
) -> Iterator[Event | BadLine]:
    """Events and skipped-message records of one ESL capture, in stream order."""
    parser = EslParser()
    mapper = EslMapper(settings, EVENT_SOURCE)
    held: list[EslMessage] = []  # listings waiting for a known time
    last_time: datetime | None = None
    started = False

    def listing(message: EslMessage, ts: datetime) -> Iterator[Event | BadLine]:
        try:
            yield from map_listing(mapper, message, ts)
        except (EslMappingError, UnicodeDecodeError, KeyError) as exc:
            yield BadLine(source, message.line, f"callcenter_config listing: {exc}")

    def finish() -> Iterator[Event | BadLine]:
        for error in parser.close():
            yield BadLine(source, error.line, error.reason)
        if last_time is not None:
            yield from mapper.advance(last_time + _FAR_FUTURE)

    for chunk in chunks:
        if getattr(chunk, "new_connection", False) and started:
            yield from finish()
            mapper = EslMapper(settings, EVENT_SOURCE)
        started = True
        received: datetime | None = getattr(chunk, "received", None)
        for item in parser.feed(chunk):
            if isinstance(item, EslError):
                yield BadLine(source, item.line, item.reason)
                continue
            if isinstance(item, EslMessage):
                if item.content_type != "api/response" or not item.body:
                    continue
                when = received or last_time
                if when is None:
                    held.append(item)
                    continue
                yield from listing(item, when)
                continue
            if not mapper.handles(item):
                continue
            try:
                when = mapper.event_time(item, received)
            except EslMappingError as exc:
                yield BadLine(source, item.line, str(exc))
                continue
            if held:  # listings read before the first timed event are the snapshot as of that event
                for message in held:
                    yield from listing(message, when)
                held.clear()
            try:
                events = mapper.map_event(item, received)
            except EslMappingError as exc:
                yield BadLine(source, item.line, str(exc))
                continue
            last_time = when if last_time is None or when > last_time else last_time
            yield from events
    if held:
        if fallback_time is None:
            for message in held:
                yield BadLine(source, message.line, "listing with no receive time and no event time to place it")
        else:
            last_time = last_time or fallback_time
            for message in held:
                yield from listing(message, fallback_time)
    yield from finish()


async def live(args: argparse.Namespace, settings: EslSettings, emit: Callable[[Event | BadLine], None]) -> None:
    """`wfm ingest --protocol esl --connect HOST:PORT`: print events until Ctrl-C or --max-events; a PBX
    that goes away is connected to again, or with --no-reconnect ends the ingest non-zero with a message."""
    from telephony.esl.client import DEFAULT_PASSWORD, EslAdapter
    from telephony.ingest import follow_live
    from telephony.reconnect import Backoff

    host, port = args.connect_host, args.connect_port
    secret = getattr(args, "secret", None) or ""  # wfm ingest fills it from the config's matching feed when not given

    def one_connection() -> EslAdapter:
        return EslAdapter(settings, host=host, port=port, password=secret or DEFAULT_PASSWORD, source=EVENT_SOURCE,
                          capture_path=getattr(args, "capture", None), reconnect=False, yield_skipped=True)

    await follow_live(one_connection, emit, where=f"{host}:{port}", reconnect=not getattr(args, "no_reconnect", False),
                      backoff=Backoff(settings.reconnect))
