"""The one interface every PBX adapter offers to the floor.

An adapter owns its connection (and its reconnects); the floor only sees
normalized events (wfm.events) from `stream()`, asks for `snapshot()`,
sends `set_paused()` actions and reads `health()`. After every (re)connect
an adapter emits ResyncEvent(phase="begin"), the full snapshot as
agent_state/queue_status events, then ResyncEvent(phase="end").
"""
from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec

from wfm.events import Event


class ConnectionState(str, enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    AUTHENTICATING = "authenticating"
    SYNCING = "syncing"  # connected, snapshot under way
    CONNECTED = "connected"
    BACKOFF = "backoff"  # waiting before the next attempt
    AUTH_FAILED = "auth_failed"  # wrong credentials: retried slowly, reported loudly
    CLOSED = "closed"


class FeedHealth(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    state: ConnectionState
    connected: bool
    stale: bool
    last_event_age_s: float | None
    reconnects: int
    skipped: int  # malformed messages logged, counted and skipped
    detail: str = ""


class ActionResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of an action sent to the PBX (e.g. AMI QueuePause), for the log."""

    action: str
    agent: str
    ok: bool
    detail: str
    action_id: str | None = None


class AdapterError(Exception):
    """Raised by an adapter for a failure the caller must see (not network blips)."""


class Adapter(abc.ABC):
    """A PBX feed: connect, stream events, snapshot, actions, health."""

    source: str

    @abc.abstractmethod
    def stream(self) -> AsyncIterator[Event]:
        """Connect (and reconnect) and yield normalized events until close()."""

    @abc.abstractmethod
    async def snapshot(self) -> None:
        """Ask the PBX for a full snapshot; it arrives on stream() between resync markers."""

    @abc.abstractmethod
    async def set_paused(self, agent: str, paused: bool, reason: str | None = None) -> ActionResult:
        """Pause or unpause an agent at the PBX, where the PBX allows it."""

    @abc.abstractmethod
    def health(self, now: datetime) -> FeedHealth:
        """Connected, stale (no event for stale_after_s), last event age."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop streaming, close the connection; no task is left running."""
