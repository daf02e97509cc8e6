"""Tee raw feed bytes to a capture file, with receive times in a side file; replay them.

The capture file holds the bytes exactly as the PBX sent them, nothing added,
so `wfm ingest FILE` reads what a live adapter read. The side file
`<capture>.times` has one line per received chunk:

    <byte offset> <receive time, RFC 3339 UTC>[ connect][ datagram]

`connect` marks the first chunk of a new connection (after a reconnect), so a
replay can tell a message cut off by a dropped connection from garbage;
`datagram` marks a chunk that was one whole UDP datagram (SIP over UDP), whose
boundaries frame the message where no Content-Length does.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from wfm.timeutil import parse_ts, require_aware

log = logging.getLogger(__name__)

SIDE_SUFFIX = ".times"
READ_BLOCK = 64 * 1024


class CaptureError(ValueError):
    """A capture's side file is unreadable or inconsistent; the message names file and line."""


class TimedChunk(bytes):
    """Bytes as received in one read, with when they arrived (None if unknown).

    A bytes subclass, so any parser that takes bytes takes it; a protocol module
    that wants receive times reads `.received` and `.new_connection`.
    """

    received: datetime | None
    new_connection: bool
    datagram: bool

    def __new__(cls, data: bytes, received: datetime | None = None, new_connection: bool = False, datagram: bool = False) -> TimedChunk:
        chunk = super().__new__(cls, data)
        chunk.received = received
        chunk.new_connection = new_connection
        chunk.datagram = datagram
        return chunk


def side_path(capture: str | Path) -> Path:
    return Path(str(capture) + SIDE_SUFFIX)


class CaptureWriter:
    """Appends received bytes to `path` and (offset, receive time) lines to `path.times`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._data = open(self.path, "ab")
        self._times = open(side_path(self.path), "a", encoding="utf-8")
        self._offset = self._data.seek(0, os.SEEK_END)
        self._new_connection = True

    def connection_started(self) -> None:
        """The next chunk is the first of a new connection."""
        self._new_connection = True

    def write(self, data: bytes, received: datetime, *, datagram: bool = False) -> None:
        """Append one read (or, with datagram=True, one whole UDP datagram) as received."""
        if not data:
            return
        require_aware(received)
        marker = (" connect" if self._new_connection else "") + (" datagram" if datagram else "")
        self._new_connection = False
        self._times.write(f"{self._offset} {received.isoformat()}{marker}\n")
        self._data.write(data)
        self._offset += len(data)
        self._data.flush()
        self._times.flush()

    def close(self) -> None:
        for handle in (self._data, self._times):
            try:
                handle.close()
            except OSError as exc:  # a full disk must not hide the feed's own error
                log.warning("closing capture %s: %s", self.path, exc)

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_side(path: Path, size: int) -> list[tuple[int, datetime, frozenset[str]]]:
    marks: list[tuple[int, datetime, frozenset[str]]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                offset = int(parts[0])
                received = parse_ts(parts[1])
            except (IndexError, ValueError) as exc:
                raise CaptureError(f"{path}:{number}: not '<offset> <time>': {exc}") from None
            if offset < 0 or offset > size or (marks and offset < marks[-1][0]):
                raise CaptureError(f"{path}:{number}: offset {offset} out of order or past the capture's end")
            flags = frozenset(parts[2:])
            if not flags <= {"connect", "datagram"}:
                raise CaptureError(f"{path}:{number}: unknown marker {' '.join(sorted(flags - {'connect', 'datagram'}))!r}")
            marks.append((offset, received, flags))
    return marks


def read_capture(path: str | Path, *, block: int = READ_BLOCK) -> Iterator[TimedChunk]:
    """The capture's bytes as received: one TimedChunk per recorded read when the
    side file exists, else blocks of `block` bytes without receive times."""
    path = Path(path)
    side = side_path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if not side.exists():
            first = True
            while data := handle.read(block):
                yield TimedChunk(data, None, first)
                first = False
            return
        marks = _read_side(side, size)
        if marks and marks[0][0] > 0:
            yield TimedChunk(handle.read(marks[0][0]), None, True)
        for index, (offset, received, flags) in enumerate(marks):
            end = marks[index + 1][0] if index + 1 < len(marks) else size
            if end > offset:
                yield TimedChunk(handle.read(end - offset), received, "connect" in flags, "datagram" in flags)
