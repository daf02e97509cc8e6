"""Serial CTI for `wfm ingest`: a raw capture of the port's bytes → §1 events, and a live port.

The same splitter, line parser and mapper serve replays and the live reader.
The profile (auto | acd | smdr) comes from the settings (the first serial
feed's in the config, `auto` when there is none): both formats may share one port.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator

from telephony.serial.mapping import SerialMapper
from telephony.serial.protocol import LineError, LineSplitter, Profile, RawLine, parse_line
from telephony.serial.settings import SerialSettings
from wfm.events import BadLine, Event

EVENT_SOURCE = "serial"


class LineDecoder:
    """Bytes → events and skipped lines; one per live port or replayed file."""

    def __init__(self, settings: SerialSettings, source: str, profile: Profile | None = None) -> None:
        self.source = source
        self.profile: Profile = profile or settings.profile
        self.splitter = LineSplitter()
        self.mapper = SerialMapper(settings, EVENT_SOURCE)

    def feed(self, data: bytes) -> Iterator[Event | BadLine]:
        yield from self._lines(self.splitter.feed(data))

    def close(self) -> Iterator[Event | BadLine]:
        yield from self._lines(self.splitter.close())

    def _lines(self, items: list[RawLine | LineError]) -> Iterator[Event | BadLine]:
        for item in items:
            record = parse_line(item, self.profile) if isinstance(item, RawLine) else item
            if record is None:
                continue
            if isinstance(record, LineError):
                yield BadLine(self.source, record.line, record.reason)
                continue
            yield from self.mapper.map(record)


def parse_capture(
    chunks: Iterable[bytes], settings: SerialSettings, source: str, *, profile: Profile | None = None
) -> Iterator[Event | BadLine]:
    """Events and skipped-line records of one serial capture, in line order.

    A UTF-8 byte-order mark at the very start of the file (a capture saved by a
    Windows editor) is not part of the first line; the port itself never sends one.
    """
    decoder = LineDecoder(settings, source, profile)
    head: bytes | None = b""
    for chunk in chunks:
        if head is not None:
            head += chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                continue  # too short to tell yet
            chunk, head = (head[len(_BOM):] if head.startswith(_BOM) else head), None
        yield from decoder.feed(chunk)
    if head:
        yield from decoder.feed(head)
    yield from decoder.close()


_BOM = b"\xef\xbb\xbf"


async def live(args: argparse.Namespace, settings: SerialSettings, emit: Callable[[Event | BadLine], None]) -> None:
    """`wfm ingest --protocol serial --connect HOST:PORT`: the port's lines through a serial-to-TCP
    terminal server (raw TCP, e.g. a Moxa NPort in TCP-server mode), until it closes or Ctrl-C."""
    import asyncio

    from telephony.ingest import LiveConnectError

    host, port = args.connect_host, args.connect_port
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10.0)
    except (TimeoutError, OSError) as exc:
        raise LiveConnectError(f"{host}:{port}: cannot connect: {type(exc).__name__}: {exc}") from None
    decoder = LineDecoder(settings, f"{host}:{port}", getattr(args, "profile", None))
    try:
        while True:
            data = await reader.read(4096)
            if not data:
                break
            for item in decoder.feed(data):
                emit(item)
        for item in decoder.close():
            emit(item)
    finally:
        writer.close()
