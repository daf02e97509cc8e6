"""Plumbing shared by the connection-oriented adapters (Asterisk AMI, FreeSWITCH ESL).

One event queue read by `stream()`, a Reconnector that owns the connection
state, feed health from the last message time, malformed messages logged
(first at WARNING, repeats at DEBUG), counted and skipped. Subclasses set the
attributes declared on the class and implement `_start`, `_connect_once`,
`_resync` and `close`.
"""
from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, tzinfo
from typing import Any, Final, Generic, Protocol, TypeVar

from telephony.adapter import Adapter, AdapterError, ConnectionState, FeedHealth
from telephony.reconnect import Reconnector, StateReport
from wfm.clock import Clock
from wfm.events import BadLine, Event


class _End(enum.Enum):
    CLOSED = "closed"


CLOSED: Final = _End.CLOSED  # end-of-stream marker on an adapter's event queue


class StreamSettings(Protocol):
    """What the shared plumbing reads of an adapter's settings (AmiSettings, EslSettings)."""

    @property
    def tz(self) -> tzinfo: ...

    @property
    def stale_after_s(self) -> float: ...


SettingsT = TypeVar("SettingsT", bound=StreamSettings)
ConnT = TypeVar("ConnT")  # the protocol's one live connection (AmiConnection, EslConnection)
T = TypeVar("T")


class StreamingAdapter(Adapter, Generic[SettingsT, ConnT]):
    """Base for adapters that read one PBX connection into an event queue."""

    protocol_label = ""  # e.g. "AMI", for log lines
    setup_lost = "connection ended during setup"  # why a setup step failed when the read loop died
    # set by subclasses in __init__
    settings: SettingsT
    clock: Clock
    host: str
    port: int
    skipped: int  # malformed messages skipped
    failure: BaseException | None  # why a non-reconnecting adapter stopped
    _queue: asyncio.Queue[Event | BadLine | _End]
    _reconnector: Reconnector
    _conn: ConnT | None
    _last_message_at: datetime | None
    _yield_skipped: bool  # stream() also yields BadLine records (wfm ingest --connect)

    def _start(self) -> None:
        raise AdapterError(f"{type(self).__name__} does not say how it starts")

    async def _connect_once(self, report: StateReport) -> None:
        raise AdapterError(f"{type(self).__name__} does not say how it connects")

    async def _resync(self, conn: ConnT) -> None:
        raise AdapterError(f"{type(self).__name__} does not say how it resyncs")

    async def _await_or_fail(self, awaitable: Awaitable[T], read_task: asyncio.Task[Any]) -> T:
        """Await a setup step (banner, login, resync), failing at once if the read loop dies meanwhile."""
        step = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait({step, read_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            step.cancel()
            raise
        if step in done:
            return step.result()
        # the reply may have been read just before the peer hung up (Asterisk closes after a
        # refused login): give the step the loop turns it needs to see it before giving up
        done, _ = await asyncio.wait({step}, timeout=0.2)
        if step in done:
            return step.result()
        step.cancel()
        with contextlib.suppress(BaseException):
            await step
        read_task.result()
        raise ConnectionResetError(self.setup_lost)

    async def stream(self) -> AsyncIterator[Event]:
        self._start()
        while True:
            item = await self._queue.get()
            if item is CLOSED:
                return
            if not isinstance(item, BadLine):  # queued only with yield_skipped, for records()
                yield item

    async def records(self) -> AsyncIterator[Event | BadLine]:
        """stream() with the skipped messages in their place as BadLine records, when built with
        yield_skipped (`wfm ingest --connect` prints both)."""
        self._start()
        while True:
            item = await self._queue.get()
            if item is CLOSED:
                return
            yield item

    async def _run_single(self) -> None:
        """One connection without reconnects (`wfm ingest --connect`)."""
        try:
            await self._connect_once(self._reconnector.report)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the caller through .failure
            self.failure = exc
        finally:
            self._reconnector.report(ConnectionState.CLOSED)
            await self._queue.put(CLOSED)

    async def snapshot(self) -> None:
        conn = self._conn
        if conn is None or self.state is not ConnectionState.CONNECTED:
            raise AdapterError(f"{self.source}: not connected")
        await self._resync(conn)

    @property
    def ever_connected(self) -> bool:
        """True once a connection got through login and snapshot."""
        return self._reconnector.connections > 0

    @property
    def state(self) -> ConnectionState:
        return self._reconnector.state

    def health(self, now: datetime) -> FeedHealth:
        state = self.state
        connected = state is ConnectionState.CONNECTED
        age = (now - self._last_message_at).total_seconds() if self._last_message_at else None
        return FeedHealth(
            source=self.source, state=state, connected=connected,
            stale=not connected or age is None or age > self.settings.stale_after_s,
            last_event_age_s=age, reconnects=self._reconnector.reconnects, skipped=self.skipped,
            detail=self._reconnector.last_error, drift=getattr(self, "drift", 0),
        )

    async def _put(self, event: Event) -> None:
        await self._queue.put(event)

    async def _malformed(self, reason: str, line: int) -> None:
        self.skipped += 1
        level = logging.WARNING if self.skipped == 1 else logging.DEBUG
        logging.getLogger(type(self).__module__).log(
            level, "%s: skipped malformed %s message at line %d: %s", self.source, self.protocol_label, line, reason)
        if self._yield_skipped:
            await self._queue.put(BadLine(f"{self.host}:{self.port}", line, reason))

    def _now_floor(self) -> datetime:
        return self.clock.now().astimezone(self.settings.tz)
