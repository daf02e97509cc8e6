"""SerialAdapter: a serial CTI port (ACD text lines and/or SMDR CSV) as a floor feed.

Opens the device with pyserial-asyncio-fast at the feed's settings (default
9600 8N1), reads bytes into the sans-I/O LineDecoder and queues the events.
An unplugged port (the device vanishes, the read fails or hits EOF) ends the
connection; telephony.reconnect.Reconnector then retries with capped
backoff until the device is back, and reading resumes. A half-received line
from before the unplug is dropped with the old decoder (a fresh line starts
on the new connection). The feed is one-way: no snapshot, no pause command.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

import serial
import serial_asyncio_fast

from telephony.adapter import ActionResult, Adapter, ConnectionState, FeedHealth
from telephony.reconnect import Reconnector, StateReport
from telephony.serial.offline import LineDecoder
from telephony.serial.protocol import Profile
from wfm.clock import Clock, WallClock
from telephony.serial.settings import SerialSettings
from wfm.events import BadLine, Event

log = logging.getLogger(__name__)

READ_SIZE = 4096
_CLOSED = object()
_BYTESIZE = {5: serial.FIVEBITS, 6: serial.SIXBITS, 7: serial.SEVENBITS, 8: serial.EIGHTBITS}
_STOPBITS = {1: serial.STOPBITS_ONE, 2: serial.STOPBITS_TWO}


class SerialAdapter(Adapter):
    """A serial CTI port: open, read lines, reopen after an unplug."""

    def __init__(
        self,
        settings: SerialSettings,
        *,
        device: str,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: int = 1,
        profile: Profile = "auto",
        source: str | None = None,
        clock: Clock | None = None,
        queue_size: int = 10000,
        yield_skipped: bool = False,
    ) -> None:
        self.settings = settings
        self.device = device
        self.port_settings = {"baudrate": baudrate, "bytesize": _BYTESIZE[bytesize], "parity": parity,
                         "stopbits": _STOPBITS[stopbits]}
        self.profile = profile
        self.source = source or f"serial:{device}"
        self.clock = clock or WallClock()
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size)
        self._reconnector = Reconnector(
            self.source, self._connect_once, settings.reconnect,
            network_errors=(OSError, EOFError, ConnectionError, serial.SerialException, asyncio.TimeoutError),
        )
        self._last_data_at: datetime | None = None
        self._started = False
        self._closed = False
        self.skipped = 0
        self.lines = 0
        self._yield_skipped = yield_skipped

    # ---- Adapter interface ---------------------------------------------------------
    async def stream(self) -> AsyncIterator[Event]:
        if not self._started:
            self._started = True
            self._reconnector.start()
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            yield item

    async def snapshot(self) -> None:
        """A serial CTI line has no snapshot to ask for: state rebuilds from the next lines."""
        log.debug("%s: serial feeds carry no snapshot", self.source)

    async def set_paused(self, agent: str, paused: bool, reason: str | None = None) -> ActionResult:
        return ActionResult(action="pause", agent=agent, ok=False, detail="serial CTI feed is read-only: pause at the PBX")

    @property
    def state(self) -> ConnectionState:
        return self._reconnector.state

    def health(self, now: datetime) -> FeedHealth:
        state = self.state
        connected = state is ConnectionState.CONNECTED
        age = (now - self._last_data_at).total_seconds() if self._last_data_at else None
        return FeedHealth(
            source=self.source, state=state, connected=connected,
            stale=not connected or age is None or age > self.settings.stale_after_s,
            last_event_age_s=age, reconnects=self._reconnector.reconnects, skipped=self.skipped,
            detail=self._reconnector.last_error,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._reconnector.close()
        try:
            self._queue.put_nowait(_CLOSED)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self._queue.put_nowait(_CLOSED)

    # ---- one open port ----------------------------------------------------------------
    async def _connect_once(self, report: StateReport) -> None:
        report(ConnectionState.CONNECTING)
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=self.device, **self.port_settings)
        decoder = LineDecoder(self.settings, self.source, self.profile)
        report(ConnectionState.CONNECTED)
        log.info("%s: port open (%s)", self.source, self.port_settings)
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    raise EOFError("serial port closed (unplugged?)")
                self._last_data_at = self.clock.now()
                for item in decoder.feed(data):
                    await self._put(item)
        finally:
            writer.close()

    async def _put(self, item: Event | BadLine) -> None:
        if isinstance(item, BadLine):
            self.skipped += 1
            level = logging.WARNING if self.skipped == 1 else logging.DEBUG
            log.log(level, "%s: skipped line %d: %s", self.source, item.line, item.reason)
            if not self._yield_skipped:
                return
        else:
            self.lines += 1
        await self._queue.put(item)
