"""SIP for `wfm ingest`: a capture of SIP messages → agent states, and a live `--connect` subscriber.

A capture is SIP messages back to back as they crossed the wire: a TCP
stream framed by Content-Length, or UDP datagrams whose boundaries the side
file marks (`datagram`), so a datagram cut short stays one skipped message. Only NOTIFYs carry floor state: the agent is the user part
of the notifier's From URI (the subscribed `sip:AGENT@HOST`), the
subscription is the Call-ID. Time of each event: the capture's receive time
(side file), else the NOTIFY's Date header, else `fallback_time`.
"""
from __future__ import annotations

import argparse
import email.utils
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from telephony.sip.mapping import SipMapper, SipMappingError, parse_dialog_info
from telephony.sip.protocol import SipError, SipMessage, SipParser, parse_datagram, uri_user
from telephony.sip.settings import DEFAULT_EXPIRES_S, DEFAULT_KEEPALIVE_S, SipSettings
from wfm.events import BadLine, Event

EVENT_SOURCE = "sip"


def _date_header(message: SipMessage) -> datetime | None:
    value = message.get("Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_capture(
    chunks: Iterable[bytes],
    settings: SipSettings,
    source: str,
    *,
    fallback_time: datetime | None = None,
) -> Iterator[Event | BadLine]:
    """Agent states and skipped-message records of one SIP capture, in stream order."""
    parser = SipParser()
    mapper = SipMapper(settings, EVENT_SOURCE)
    tz = settings.tz

    def handle(item: SipMessage | SipError, received: datetime | None) -> Iterator[Event | BadLine]:
        if isinstance(item, SipError):
            yield BadLine(source, item.line, item.reason)
            return
        if item.method != "NOTIFY":
            return
        when = received or _date_header(item) or fallback_time
        if when is None:
            yield BadLine(source, item.line, "NOTIFY without a Date header or receive time")
            return
        package = (item.get("Event") or "dialog").split(";")[0].strip().lower()
        agent = uri_user(item.get("From"))
        try:
            if agent is None and package == "dialog" and item.body.strip():
                agent = uri_user(parse_dialog_info(item.body).entity)
            if agent is None:
                yield BadLine(source, item.line, "NOTIFY names no agent (From URI without a user)")
                return
            subscription = item.call_id or agent
            when = when.astimezone(tz)
            if package == "presence":
                yield from mapper.presence_notify(agent, subscription, item.body, when)
            else:
                yield from mapper.dialog_notify(agent, subscription, item.body, when)
        except SipMappingError as exc:
            yield BadLine(source, item.line, f"NOTIFY for {agent}: {exc}")

    line = 1  # line of the capture where the next datagram starts
    for chunk in chunks:
        received = getattr(chunk, "received", None)
        if getattr(chunk, "datagram", False):  # one whole UDP datagram: its own boundaries frame it
            for error in parser.close():
                yield BadLine(source, error.line, error.reason)
            yield from handle(parse_datagram(bytes(chunk), line), received)
            line += chunk.count(b"\n")
            parser = SipParser(first_line=line)
            continue
        line += chunk.count(b"\n")
        for item in parser.feed(chunk):
            yield from handle(item, received)
    for error in parser.close():
        yield BadLine(source, error.line, error.reason)
    due = mapper.next_due()
    if due is not None:
        yield from mapper.advance(due + timedelta(days=3650))  # wrap-ups still running when the capture ends


async def live(args: argparse.Namespace, settings: SipSettings, emit: Callable[[Event | BadLine], None]) -> None:
    """`wfm ingest --protocol sip --connect HOST:PORT --agents A,B [--transport udp|tcp]`.

    Subscribes until Ctrl-C or --max-events. A server that closes the TCP
    connection or stops answering the liveness probe is subscribed to again
    after a backoff (config pbx.reconnect); with `--no-reconnect` that ends
    the ingest with LiveFeedLost instead. A server that never answers, or
    refuses our credentials, is a LiveConnectError. `wfm ingest` fills agents,
    transport, username, secret, presence, expires_s and keepalive_s from the
    config's matching feed when the command line leaves them out.
    """
    import asyncio
    import logging

    from telephony.ingest import LiveConnectError, LiveFeedLost
    from telephony.reconnect import Backoff
    from telephony.sip.ua import SipAuthFailed, SipSubscriber

    log = logging.getLogger(__name__)
    host, port = args.connect_host, args.connect_port
    agents = [a.strip() for a in (args.agents or "").split(",") if a.strip()]
    if not agents:
        raise LiveConnectError("no agents to subscribe to: give --agents 1001,1002 (or pbx.feeds[].agents)")
    transport = args.transport or "udp"
    username = args.username if args.username is not None else "wfm"
    secret = args.secret if args.secret is not None else ""
    packages = ("dialog", "presence") if getattr(args, "presence", False) else ("dialog",)
    expires = getattr(args, "expires_s", None) or DEFAULT_EXPIRES_S
    keepalive = getattr(args, "keepalive_s", None)
    keepalive = DEFAULT_KEEPALIVE_S if keepalive is None else keepalive
    reconnect = not getattr(args, "no_reconnect", False)
    backoff = Backoff(settings.reconnect)
    answered_once = False
    while True:
        subscriber = SipSubscriber(settings, host, port, agents, emit, transport=transport, username=username, password=secret,
                                   packages=packages, expires=expires, keepalive_s=keepalive, source=EVENT_SOURCE,
                                   capture_path=getattr(args, "capture", None))
        try:
            await subscriber.run()
            lost = f"{host}:{port}: the server closed the connection"
        except SipAuthFailed as exc:
            raise LiveConnectError(str(exc)) from None
        except (TimeoutError, OSError) as exc:
            if not answered_once and subscriber.last_answer_at is None:
                raise LiveConnectError(f"{host}:{port}: cannot connect over {transport}: {exc or type(exc).__name__}") from None
            lost = str(exc) or f"{host}:{port}: {type(exc).__name__}"
        finally:
            await asyncio.shield(subscriber.close())
        answered_once = answered_once or subscriber.last_answer_at is not None
        if not reconnect:
            raise LiveFeedLost(lost)
        if subscriber.last_answer_at is not None:
            backoff.reset()
        delay = backoff.next_delay()
        log.warning("%s; subscribing again in %.1f s", lost, delay)
        await asyncio.sleep(delay)
