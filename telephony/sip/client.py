"""SIP presence feed as an `Adapter` for `wfm serve`: the subscriber, kept alive by the Reconnector.

Each connection runs a fresh `SipSubscriber` (new dialogs, so the PBX sends a
full state for every agent): ResyncEvent begin → each agent's first NOTIFY
(the snapshot) → ResyncEvent end (at the latest after `snapshot_timeout_s`,
once the server has accepted a subscription) → live changes. One resync has
exactly one begin and one end, however many connection attempts it takes.
SIP cannot pause a queue member, so `set_paused` reports that honestly. A
refused login (401/407 after our credentials) is an auth failure, retried
slowly; a closed TCP connection or a server that stops answering the OPTIONS
liveness check (feed `keepalive_s`) is a network failure, retried with
backoff. Health follows the subscriptions: connected while the server
answers and holds our subscriptions, stale while some are not accepted.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

from telephony.adapter import ActionResult, Adapter, AdapterError, ConnectionState, FeedHealth
from telephony.reconnect import AuthFailed, Reconnector, StateReport
from telephony.sip.ua import SipAuthFailed, SipSubscriber
from wfm.clock import Clock, WallClock
from telephony.sip.settings import SipSettings
from wfm.events import AgentStateEvent, BadLine, Event, ResyncEvent

log = logging.getLogger(__name__)
_CLOSED = object()


class SipAdapter(Adapter):
    """Agent states from SIP dialog (and optionally presence) subscriptions."""

    sends_snapshots = True  # a ResyncEvent begin/end pair after every connect (the runtime waits for the first)

    def __init__(
        self,
        settings: SipSettings,
        *,
        host: str,
        port: int,
        agents: list[str],
        transport: str = "udp",
        username: str = "wfm",
        secret: str = "",
        presence: bool = False,
        expires_s: int = 3600,
        keepalive_s: float = 0.0,
        source: str | None = None,
        clock: Clock | None = None,
        snapshot_timeout_s: float = 5.0,
    ) -> None:
        if not agents:
            raise ValueError("a SIP feed needs its agents listed (pbx.feeds[].agents)")
        self.settings = settings
        self.host, self.port = host, port
        self.agents = list(agents)
        self.transport = transport
        self.username, self._secret = username or "wfm", secret
        self.packages = ("dialog", "presence") if presence else ("dialog",)
        self.source = source or f"sip:{host}:{port}"
        self.clock = clock or WallClock()
        self.snapshot_timeout_s = snapshot_timeout_s
        self.expires_s = expires_s
        self.keepalive_s = keepalive_s
        self._resync_open = False  # a ResyncEvent begin is out and its end is not
        self._queue: asyncio.Queue = asyncio.Queue()
        self._reconnector = Reconnector(self.source, self._connect_once, settings.reconnect,
                                        network_errors=(OSError, EOFError, asyncio.TimeoutError, ConnectionError, AdapterError))
        self._subscriber: SipSubscriber | None = None
        self._last_message_at: datetime | None = None
        self._started = False
        self._closed = False
        self.skipped = 0

    # ---- Adapter interface ------------------------------------------------------------
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
        """Subscribe afresh: the PBX answers every new subscription with the agent's full state."""
        self._reconnector.retry_now()
        subscriber = self._subscriber
        if subscriber is not None:
            await subscriber.close()  # connect_once returns; the loop reconnects with new dialogs

    async def set_paused(self, agent: str, paused: bool, reason: str | None = None) -> ActionResult:
        return ActionResult(action="pause", agent=agent, ok=False,
                            detail="SIP presence feeds cannot pause a queue member; use the PBX's AMI/ESL feed")

    def health(self, now: datetime) -> FeedHealth:
        state = self._reconnector.state
        subscriber = self._subscriber
        active, wanted = subscriber.subscription_counts() if subscriber is not None else (0, len(self.agents) * len(self.packages))
        connected = state is ConnectionState.CONNECTED and active > 0
        detail = self._reconnector.last_error
        if connected and active < wanted:
            detail = f"{wanted - active} of {wanted} subscriptions not accepted by the server"
        age = (now - self._last_message_at).total_seconds() if self._last_message_at else None
        return FeedHealth(source=self.source, state=state, connected=connected, stale=not connected or active < wanted,
                          last_event_age_s=age, reconnects=self._reconnector.reconnects, skipped=self.skipped,
                          detail=detail)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._reconnector.close()
        self._queue.put_nowait(_CLOSED)

    # ---- one connection ----------------------------------------------------------------
    async def _connect_once(self, report: StateReport) -> None:
        report(ConnectionState.CONNECTING)
        pending = set(self.agents)  # agents whose first NOTIFY (their snapshot) is still due
        synced = asyncio.Event()
        if not self._resync_open:  # a retry of an unfinished resync does not begin another one
            self._resync_open = True
            now = self.clock.now().astimezone(self.settings.tz)
            self._queue.put_nowait(ResyncEvent(ts=now, source=self.source, phase="begin"))

        def emit(item) -> None:
            self._last_message_at = self.clock.now()
            if isinstance(item, BadLine):
                self.skipped += 1
                return  # logged by the subscriber
            self._queue.put_nowait(item)
            if isinstance(item, AgentStateEvent) and item.agent in pending:
                pending.discard(item.agent)
                if not pending:
                    end_snapshot()

        def end_snapshot() -> None:
            if not synced.is_set():
                synced.set()
                self._resync_open = False
                self._queue.put_nowait(ResyncEvent(ts=self.clock.now().astimezone(self.settings.tz), source=self.source, phase="end"))
                report(ConnectionState.CONNECTED)

        def on_active(agent: str) -> None:
            if not synced.is_set():  # a refresh accepted later changes nothing: the feed stays connected
                report(ConnectionState.SYNCING)

        subscriber = SipSubscriber(self.settings, self.host, self.port, self.agents, emit, transport=self.transport,
                                   packages=self.packages, username=self.username, password=self._secret,
                                   expires=self.expires_s, keepalive_s=self.keepalive_s,
                                   clock=self.clock, source=self.source, on_active=on_active)
        self._subscriber = subscriber

        async def snapshot_deadline() -> None:
            await asyncio.sleep(self.snapshot_timeout_s)
            while subscriber.subscription_counts()[0] == 0:  # nobody answered yet: no snapshot to end
                await asyncio.sleep(0.2)
            if pending:
                log.warning("%s: no state yet for %s; the snapshot ends without them", self.source, ", ".join(sorted(pending)))
            end_snapshot()

        deadline = asyncio.get_running_loop().create_task(snapshot_deadline(), name=f"sip-snapshot:{self.source}")
        try:
            await subscriber.run()
        except SipAuthFailed as exc:
            raise AuthFailed(str(exc)) from None
        finally:
            deadline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deadline
            await asyncio.shield(subscriber.close())
            self._subscriber = None
        if not self._closed:
            raise ConnectionResetError(f"{self.source}: SIP feed ended")
