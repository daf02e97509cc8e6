"""Generic reconnect loop for every PBX adapter (AMI, ESL, SIP, serial).

`Reconnector` runs an adapter's `connect_once(report)` again and again until
`close()`: `connect_once` opens the connection, logs in, resyncs and then
serves it until it drops (returning or raising). It calls `report(state)` as it
goes; reaching `ConnectionState.CONNECTED` resets the backoff. Between
attempts the loop waits a capped exponential backoff with jitter
(config `pbx.reconnect`). A wrong password (`AuthFailed`) is not a network blip:
it is logged at ERROR every time and retried only after the maximum delay.
The first network failure in a row is a WARNING, repeats are DEBUG.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from telephony.adapter import ConnectionState
from wfm.timeutil import utcnow

log = logging.getLogger(__name__)

StateReport = Callable[[ConnectionState], None]
ConnectOnce = Callable[[StateReport], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class ReconnectSettings:
    """Backoff between connection attempts (config `pbx.reconnect`)."""

    initial_s: float  # the first delay
    max_s: float  # the cap (and the delay after a refused login)
    jitter: float  # ± this fraction of the delay, at random


class AuthFailed(Exception):
    """The PBX refused the credentials (distinct from a network failure)."""


class Backoff:
    """Capped exponential backoff with proportional jitter; pure apart from its random source."""

    def __init__(self, config: ReconnectSettings, rng: random.Random | None = None) -> None:
        self.config = config
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        base = min(self.config.max_s, self.config.initial_s * (2 ** min(self.failures, 30)))
        self.failures += 1
        spread = base * self.config.jitter
        return max(0.0, min(self.config.max_s, base + self._rng.uniform(-spread, spread)))

    def auth_delay(self) -> float:
        """After a refused login: the maximum delay, so a wrong password does not hammer the PBX."""
        self.failures += 1
        return self.config.max_s

    def reset(self) -> None:
        self.failures = 0


class Reconnector:
    """Keeps one connection alive through `connect_once`; owns and cancels its task."""

    def __init__(
        self,
        name: str,
        connect_once: ConnectOnce,
        config: ReconnectSettings,
        *,
        on_state: StateReport | None = None,
        rng: random.Random | None = None,
        network_errors: tuple[type[BaseException], ...] = (OSError, EOFError, asyncio.TimeoutError, ConnectionError),
    ) -> None:
        self.name = name
        self._connect_once = connect_once
        self._on_state = on_state
        self._network_errors = network_errors
        self.backoff = Backoff(config, rng)
        self.state = ConnectionState.DISCONNECTED
        self.reconnects = 0  # successful connections after the first
        self.connections = 0
        self.last_error: str = ""
        self.state_since: datetime = utcnow()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._wake = asyncio.Event()

    # ---- state ---------------------------------------------------------------
    def _set_state(self, state: ConnectionState) -> None:
        if state is self.state:
            return
        if state is ConnectionState.CONNECTED:
            if self.connections:
                self.reconnects += 1
            self.connections += 1
            self.backoff.reset()
            self.last_error = ""
            log.info("%s: connected", self.name)
        self.state = state
        self.state_since = utcnow()
        if self._on_state is not None:
            self._on_state(state)

    def report(self, state: ConnectionState) -> None:
        """Called by connect_once as the connection progresses."""
        if self._closing and state is not ConnectionState.CLOSED:
            return
        self._set_state(state)

    # ---- lifecycle -------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        """Start the loop (idempotent); the task is kept so it cannot be collected mid-flight."""
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"reconnect:{self.name}")
        return self._task

    def retry_now(self) -> None:
        """Cut the current backoff wait short (e.g. an operator asked to reconnect)."""
        self._wake.set()

    async def close(self) -> None:
        """Stop the loop and the connection; returns when the task has ended."""
        self._closing = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if asyncio.current_task() is not None and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise
        self._set_state(ConnectionState.CLOSED)

    async def wait_closed(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        quiet = False  # after the first failure in a row, repeats log at DEBUG
        while not self._closing:
            self._set_state(ConnectionState.CONNECTING)
            try:
                await self._connect_once(self.report)
            except asyncio.CancelledError:
                raise
            except AuthFailed as exc:
                self.last_error = f"authentication failed: {exc}"
                self._set_state(ConnectionState.AUTH_FAILED)
                delay = self.backoff.auth_delay()
                log.error("%s: %s; check the feed's username/secret (retrying in %.0f s)", self.name, self.last_error, delay)
                await self._sleep(delay)
                quiet = False
                continue
            except self._network_errors as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a protocol bug must not kill the feed: log with traceback, back off
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("%s: connection failed unexpectedly", self.name)
            else:
                self.last_error = "connection closed by peer"
            if self._closing:
                break
            if self.state is ConnectionState.CONNECTED:
                quiet = False  # a connection that worked: the next failure warns again
            delay = self.backoff.next_delay()
            level = logging.DEBUG if quiet else logging.WARNING
            log.log(level, "%s: %s; reconnecting in %.1f s", self.name, self.last_error, delay)
            quiet = True
            self._set_state(ConnectionState.BACKOFF)
            await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=delay)
        except TimeoutError:
            pass
