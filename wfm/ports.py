"""The core's ports: what the live floor needs from a PBX feed, its event log and its rules engine.

The core (wfm.runtime, wfm.scaleout) owns these shapes and the adapters
implement them (telephony/<protocol>/client.py, wfm/eventlog), so arrows point
from the adapters down to here and never from the core up to an adapter.
The structs a feed reports (FeedHealth, ActionResult) live here for the same
reason. See docs/architecture.md for the layers.
"""
from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import msgspec

from wfm.decisions import Alert, HoldReleased, Output
from wfm.events import Event
from wfm.views import AgentBudgetView, FeedView, FloorView


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
    drift: int = 0  # agents a reconciliation with the PBX had to correct (AMI QueueStatus)


class ActionResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of an action sent to the PBX (e.g. AMI QueuePause), for the log."""

    action: str
    agent: str
    ok: bool
    detail: str  # the PBX's own message (e.g. "Permission denied"), or why it was not sent
    action_id: str | None = None
    transient: bool = False  # no link or no answer: worth retrying (a refusal by the PBX is not)


class AdapterError(Exception):
    """Raised by an adapter for a failure the caller must see (not network blips)."""


@runtime_checkable
class PbxActions(Protocol):
    """Pause or unpause an agent at the PBX, where the PBX allows it."""

    async def set_paused(self, agent: str, paused: bool, reason: str | None = None) -> ActionResult: ...


@runtime_checkable
class FeedPort(PbxActions, Protocol):
    """A PBX feed as the runtime sees it: connect, stream events, snapshot, actions, health.

    After every (re)connect a feed emits ResyncEvent(phase="begin"), the full
    snapshot as agent_state/queue_status events, then ResyncEvent(phase="end").
    `sends_snapshots` says whether it does (the runtime then waits for the first
    snapshot before it submits the day's shifts).
    """

    source: str
    sends_snapshots: bool
    can_pause: bool  # set_paused can work through this feed (AMI, ESL); False: the agent pauses on the phone
    enact_breaks: bool  # the site lets allowed breaks be paused through this feed

    def stream(self) -> AsyncIterator[Event]:
        """Connect (and reconnect) and yield normalized events until close()."""
        ...

    async def snapshot(self) -> None:
        """Ask the PBX for a full snapshot; it arrives on stream() between resync markers."""
        ...

    def health(self, now: datetime) -> FeedHealth:
        """Connected, stale (no event for stale_after_s), last event age."""
        ...

    async def close(self) -> None:
        """Stop streaming, close the connection; no task is left running."""
        ...

    def request_resync(self, reason: str) -> None:
        """Ask for a fresh snapshot soon (after a PBX action failed); a feed without snapshots does nothing."""
        ...


class LoggedRecord(Protocol):
    """One durable record of the event log (wfm.eventlog.LogRecord implements it)."""

    @property
    def seq(self) -> int: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def body(self) -> dict[str, Any]: ...


@runtime_checkable
class LogPort(Protocol):
    """The append-only event log as the runtime uses it (wfm.eventlog.EventLog implements it)."""

    async def append_async(self, kind: str, body: dict[str, Any], ts: datetime, *,
                           flush: bool = False) -> LoggedRecord:
        """Durable once the returned awaitable resolves; `flush`: the last of the caller's group, commit
        it without waiting for more."""
        ...

    def read(self, since: datetime | None = None, until: datetime | None = None,
             kinds: Iterable[str] | None = None, *, after_seq: int | None = None,
             limit: int | None = None) -> Iterable[LoggedRecord]:
        """Records in seq order, filtered by time, kinds and seq."""
        ...

    def verify(self, progress: Callable[[int], None] | None = None) -> Any:
        """Walk the whole hash chain (blocking; the runtime runs it off the loop)."""
        ...

    async def aclose(self) -> None:
        """Flush pending appends and release storage."""
        ...


@runtime_checkable
class SharedLogPort(LogPort, Protocol):
    """A log several processes append to and follow (PostgreSQL: wfm.eventlog.postgres), for one judge
    per floor (wfm/scaleout.py)."""

    url: str  # where it lives (the judge's advisory lock is taken on the same database)

    def last_seq(self) -> int:
        """The seq of the newest stored record (0 for an empty log); blocking."""
        ...

    def follow(self, after_seq: int | None = None, poll_s: float = 0.5) -> AsyncIterator[LoggedRecord]:
        """Records as they are committed by any process, after `after_seq`, until closed."""
        ...


class PauseAction(Protocol):
    """What the engine asks the PBX to do for an agent (wfm.engine.PbxAction implements it)."""

    @property
    def agent(self) -> str: ...
    @property
    def paused(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def cause(self) -> str: ...
    @property
    def kind(self) -> Any: ...  # the BreakKind a pause enacts or an unpause ends (None: not a break)
    @property
    def purpose(self) -> Any: ...  # why: enact, end, refused, overrun (wfm.engine.ActionPurpose)
    @property
    def decided_at(self) -> datetime | None: ...  # an enacting pause: when its break was allowed


class EngineStep(Protocol):
    """What one engine step produced (wfm.engine.StepResult implements it)."""

    @property
    def outputs(self) -> Sequence[Output]: ...
    @property
    def actions(self) -> Sequence[PauseAction]: ...
    @property
    def released(self) -> Sequence[HoldReleased]: ...  # held places the step freed (audit records, not §2)


class EnginePort(Protocol):
    """The rules engine as the runtime drives it (wfm.engine.FloorEngine implements it): one owner,
    never re-entered; events and ticks in, steps out; read models on demand."""

    # live, with a commandable feed: whether an agent's end_break waits for the PBX's unpause
    defer_break_end: Callable[[str], bool] | None

    def handle(self, event: Event) -> EngineStep: ...
    def tick(self, now: datetime) -> EngineStep: ...
    def known_agent(self, agent: str) -> bool: ...
    def floor_view(self, now: datetime, *, feeds: Sequence[FeedView] = ()) -> FloorView: ...
    def floor_data(self, now: datetime, *, feeds: Sequence[FeedView] = (), agents: bool = True) -> dict[str, Any]: ...
    def agent_budget(self, agent: str, now: datetime) -> AgentBudgetView: ...
    def release_hold(self, agent: str, ts: datetime, *, reason: str = ...,
                     allowed_at: datetime | None = None) -> EngineStep: ...
    def add_alert(self, alert: Alert) -> None: ...
    def keep_break(self, agent: str) -> bool: ...  # the PBX did not enact an end_break: the break goes on
