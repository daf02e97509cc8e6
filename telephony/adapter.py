"""The base every PBX adapter builds on: it implements wfm.ports.FeedPort.

An adapter owns its connection (and its reconnects); the floor only sees
normalized events (wfm.events) from `stream()`, asks for `snapshot()`,
sends `set_paused()` actions and reads `health()`. After every (re)connect
an adapter emits ResyncEvent(phase="begin"), the full snapshot as
agent_state/queue_status events, then ResyncEvent(phase="end").
"""
from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from datetime import datetime

from wfm.events import Event
from wfm.ports import ActionResult, AdapterError, ConnectionState, FeedHealth

__all__ = ["ActionResult", "Adapter", "AdapterError", "ConnectionState", "FeedHealth"]


class Adapter(abc.ABC):
    """A PBX feed: connect, stream events, snapshot, actions, health."""

    source: str
    sends_snapshots: bool = False  # True: a ResyncEvent begin/end pair after every connect
    can_pause: bool = False  # this protocol can pause a queue member (AMI, ESL); SIP presence and serial CTI cannot
    enact_breaks: bool = True  # the site lets allowed breaks be paused through this feed (pbx.feeds[].enact_breaks)

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

    def request_resync(self, reason: str) -> None:
        """Ask for a fresh snapshot soon (after a PBX action failed); a feed without snapshots does nothing."""
        return None
