"""Asyncio AMI adapter: a thin transport around the sans-I/O parser and the pure mapper.

One `AmiConnection` per TCP connection: it reads bytes, tees them to the
capture, feeds `AmiParser`, routes responses to the action waiting on their
ActionID (list actions collected until their `…Complete` event) and hands
live events to the adapter. `AmiAdapter` logs in (MD5 challenge, or a plain
Secret when the server offers no challenge), resyncs with a QueueStatus
snapshot between ResyncEvent markers after every (re)connect, streams live
events, keeps the link checked with Ping, sends QueuePause and reports health.
Reconnects are `telephony.reconnect.Reconnector`'s job.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import secrets as _secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from telephony.adapter import ActionResult, AdapterError, ConnectionState
from telephony.ami.mapping import AmiMapper, AmiMappingError, check_suffix
from telephony.ami.protocol import AmiBanner, AmiError, AmiMessage, AmiParser
from telephony.capture import CaptureWriter
from telephony.streaming import CLOSED, StreamingAdapter
from telephony.reconnect import AuthFailed, Reconnector, StateReport
from wfm.clock import Clock, WallClock
from telephony.ami.settings import AmiSettings
from wfm.events import ResyncEvent

log = logging.getLogger(__name__)

READ_SIZE = 65536
# a QueueStatus list must complete within this; it waits longer while the link keeps delivering (the
# answer is then behind a backlog of live events: in the 60-min soak at 5,000 agents a check that
# timed out behind it dropped the link twelve times, and what was buffered on it was lost)
LIST_TIMEOUT_S = 30.0


# after these the PBX's member table may differ from what its events told: ask for a snapshot
RESYNC_EVENTS = frozenset({"Reload", "QueueMemberAdded", "QueueMemberRemoved"})


class AmiActionError(AdapterError):
    """An action the adapter needs (QueueStatus) was refused or timed out."""


def encode_action(fields: dict[str, str]) -> bytes:
    """One AMI action as wire bytes; refuses CR/LF inside a key or value (header injection)."""
    lines = []
    for key, value in fields.items():
        text = str(value)
        if "\r" in text or "\n" in text or "\r" in key or "\n" in key or ":" in key:
            raise AdapterError(f"AMI action field {key!r} may not contain a line break")
        lines.append(f"{key}: {text}\r\n")
    return ("".join(lines) + "\r\n").encode("utf-8")


@dataclass
class _Pending:
    future: asyncio.Future
    is_list: bool
    streamed: bool = False  # its messages also go through the mapper as they come (a reconciliation)
    response: AmiMessage | None = None
    items: list[tuple[AmiMessage, datetime]] = field(default_factory=list)  # a list's items, unless streamed


class AmiConnection:
    """One live manager connection: read loop, ActionID correlation, live-event hand-off."""

    def __init__(self, adapter: AmiAdapter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.adapter = adapter
        self.reader = reader
        self.writer = writer
        self.parser = AmiParser()
        self.mapper = AmiMapper(adapter.settings, adapter.source)
        self.banner: asyncio.Future[AmiBanner] = asyncio.get_running_loop().create_future()
        self.pending: dict[str, _Pending] = {}
        self.syncing = False
        self.deferred: list[tuple[AmiMessage, datetime]] = []  # live events held while a snapshot is collected
        self.resync_lock = asyncio.Lock()
        self.reads = 0  # chunks read: the link is alive while this moves

    async def read_loop(self) -> None:
        """Read until EOF; raises ConnectionError when the peer goes away."""
        adapter = self.adapter
        while True:
            data = await self.reader.read(READ_SIZE)
            if not data:
                for error in self.parser.close():
                    await adapter._malformed(error.reason, error.line)
                raise ConnectionResetError("AMI server closed the connection")
            received = adapter.clock.now()
            adapter._last_message_at = received
            self.reads += 1
            if adapter._capture is not None:
                adapter._capture.write(data, received)
            for item in self.parser.feed(data):
                if type(item) is AmiMessage:
                    await self._dispatch(item, received)
                elif type(item) is AmiError:
                    await adapter._malformed(item.reason, item.line)
                elif not self.banner.done():
                    self.banner.set_result(item)

    async def _dispatch(self, msg: AmiMessage, received: datetime) -> None:
        action_id = msg.action_id
        event = msg.event
        if action_id is not None and (pending := self.pending.get(action_id)) is not None:
            if pending.streamed:  # in stream order, exactly as a capture replay maps them
                await self.adapter._emit_mapped(self.mapper, msg, received)
            response = msg.response
            if response is not None and pending.response is None:
                pending.response = msg
                if not pending.is_list or response != "Success":
                    self._resolve(action_id, pending)
                return
            if event is not None:
                if not pending.streamed:  # a streamed list is mapped as it comes: keeping its items (a
                    pending.items.append((msg, received))  # message per member, 7,600 at 5,000 agents) only held memory
                if (msg.get("EventList") or "").lower() == "complete" or event.endswith("Complete"):
                    self._resolve(action_id, pending)
                return
        if event is None:
            return  # a late response to an action that timed out
        if self.syncing:
            self.deferred.append((msg, received))
            return
        await self.adapter._emit_mapped(self.mapper, msg, received)

    def _resolve(self, action_id: str, pending: _Pending) -> None:
        self.pending.pop(action_id, None)
        if not pending.future.done():
            pending.future.set_result(pending)

    async def action(self, fields: dict[str, str], *, is_list: bool = False, timeout: float | None = None,
                     streamed: bool = False, suffix: str = "", patient: bool = False) -> _Pending:
        """Send an action with a fresh ActionID (+ suffix); wait for its response (and list items).
        `streamed`: its response and items are also mapped as they arrive. `patient`: the timeout
        starts again while the link keeps delivering — the answer is queued behind messages this
        floor has not read yet (a backlog), which is no sign of a dead PBX."""
        action_id = self.adapter._next_action_id() + suffix
        wire = {"Action": fields["Action"], "ActionID": action_id}
        wire.update({k: v for k, v in fields.items() if k != "Action"})
        data = encode_action(wire)
        pending = _Pending(asyncio.get_running_loop().create_future(), is_list, streamed)
        self.pending[action_id] = pending
        try:
            self.writer.write(data)
            await self.writer.drain()
            wait_s = timeout or self.adapter.action_timeout_s
            while True:
                reads = self.reads
                try:
                    return await asyncio.wait_for(asyncio.shield(pending.future), wait_s)
                except TimeoutError:
                    if not patient or self.reads == reads:
                        raise
        finally:
            self.pending.pop(action_id, None)

    def fail_pending(self, reason: str) -> None:
        for pending in self.pending.values():
            if not pending.future.done():
                pending.future.set_exception(ConnectionResetError(reason))
        self.pending.clear()

    async def close(self, logoff: bool = False) -> None:
        self.fail_pending("connection closed")
        if logoff and not self.writer.is_closing():
            with contextlib.suppress(OSError, ConnectionError, RuntimeError):
                self.writer.write(encode_action({"Action": "Logoff", "ActionID": self.adapter._next_action_id()}))  # a polite goodbye
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


class AmiAdapter(StreamingAdapter[AmiSettings, AmiConnection]):
    """Asterisk AMI feed: login, snapshot + live events, QueuePause, health."""

    protocol_label = "AMI"
    setup_lost = "AMI connection ended during setup"

    sends_snapshots = True  # a ResyncEvent begin/end pair after every connect (the runtime waits for the first)
    can_pause = True  # QueuePause

    def __init__(
        self,
        settings: AmiSettings,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        source: str | None = None,
        auth: Literal["md5", "plain"] = "md5",
        events: str | None = None,
        capture_path: str | Path | None = None,
        reconnect: bool = True,
        clock: Clock | None = None,
        connect_timeout_s: float = 10.0,
        action_timeout_s: float = 10.0,
        queue_size: int = 10000,
        yield_skipped: bool = False,
    ) -> None:
        self.settings = settings
        self.host, self.port = host, port
        self.username, self._secret = username, secret
        self.source = source or f"ami:{host}:{port}"
        self.auth = auth
        self.events = events if events is not None else settings.events  # least privilege: only the classes used
        self.reconcile_s = settings.reconcile_s
        self._resync_wanted = asyncio.Event()
        self._resync_reason = ""
        self._resync_full = False
        self.drift = 0
        self.reconciliations = 0
        self.clock = clock or WallClock()
        self.connect_timeout_s = connect_timeout_s
        self.action_timeout_s = action_timeout_s
        self.keepalive_s = max(1.0, settings.stale_after_s / 3)
        self._capture = CaptureWriter(capture_path) if capture_path else None
        self._reconnect = reconnect
        self._queue = asyncio.Queue(maxsize=queue_size)
        self._reconnector = Reconnector(
            self.source,
            self._connect_once,
            settings.reconnect,
            network_errors=(OSError, EOFError, asyncio.TimeoutError, ConnectionError, AdapterError),
        )
        self._single: asyncio.Task | None = None
        self._conn = None
        self._action_ids = itertools.count(1)
        self._action_prefix = _secrets.token_hex(3)
        self._last_message_at: datetime | None = None
        self._started_at: datetime | None = None
        self.skipped = 0
        self.failure = None
        self._closed = False
        self._yield_skipped = yield_skipped  # stream() also yields BadLine records (wfm ingest --connect)

    # ---- Adapter interface ---------------------------------------------------------
    def _start(self) -> None:
        if self._started_at is not None:
            return
        self._started_at = self.clock.now()
        if self._reconnect:
            self._reconnector.start()
        else:
            self._single = asyncio.get_running_loop().create_task(self._run_single(), name=f"ami:{self.source}")

    async def set_paused(self, agent: str, paused: bool, reason: str | None = None) -> ActionResult:
        """QueuePause on every queue of the member (no Queue header); the PBX's Message on a refusal."""
        conn = self._conn
        if conn is None or self.state is not ConnectionState.CONNECTED:
            return ActionResult(action="QueuePause", agent=agent, ok=False, detail="AMI feed not connected", transient=True)
        interface = conn.mapper.interface_of(agent) or self._interface_from_aliases(agent)
        if interface is None:
            return ActionResult(action="QueuePause", agent=agent, ok=False, detail=f"no PBX interface known for agent {agent}")
        fields = {"Action": "QueuePause", "Interface": interface, "Paused": "true" if paused else "false"}
        if reason:
            fields["Reason"] = reason
        try:
            pending = await conn.action(fields)
        except AdapterError as exc:
            return ActionResult(action="QueuePause", agent=agent, ok=False, detail=str(exc))
        except (TimeoutError, ConnectionError, OSError) as exc:
            return ActionResult(action="QueuePause", agent=agent, ok=False,
                                detail=f"no answer: {type(exc).__name__} {exc}".strip(), transient=True)
        response = pending.response
        ok = response is not None and response.response == "Success"
        detail = (response.get("Message") or "") if response is not None else ""
        if not ok and not detail:
            detail = f"Response: {response.response}" if response is not None else "no response"
        return ActionResult(action="QueuePause", agent=agent, ok=ok, detail=detail, action_id=response.action_id if response else None)

    def request_resync(self, reason: str, *, full: bool = True) -> None:
        """Ask the PBX for its member table soon: a full resync (after a Reload or an action
        failure) or, with full=False, a check that emits only what differs (a member added/removed)."""
        self._resync_reason = reason
        self._resync_full = self._resync_full or full
        self._resync_wanted.set()

    def _interface_from_aliases(self, agent: str) -> str | None:
        for raw, canonical in self.settings.agent_aliases.items():
            if canonical == agent and "/" in raw:
                return raw
        return None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._single is not None:
            self._single.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._single
        await self._reconnector.close()
        if self._capture is not None:
            self._capture.close()
        try:
            self._queue.put_nowait(CLOSED)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self._queue.put_nowait(CLOSED)

    def _conn_syncing(self) -> bool:
        conn = self._conn
        return conn is not None and conn.syncing

    # ---- one connection --------------------------------------------------------------
    def _next_action_id(self) -> str:
        return f"wfm-{self._action_prefix}-{next(self._action_ids)}"

    async def _connect_once(self, report: StateReport) -> None:
        report(ConnectionState.CONNECTING)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.connect_timeout_s)
        conn = AmiConnection(self, reader, writer)
        if self._capture is not None:
            self._capture.connection_started()
        tasks: list[asyncio.Task] = []
        try:
            read_task = asyncio.get_running_loop().create_task(conn.read_loop(), name=f"ami-read:{self.source}")
            tasks.append(read_task)
            await self._await_or_fail(asyncio.wait_for(asyncio.shield(conn.banner), self.connect_timeout_s), read_task)
            report(ConnectionState.AUTHENTICATING)
            await self._await_or_fail(self._login(conn), read_task)
            self._conn = conn
            report(ConnectionState.SYNCING)
            await self._await_or_fail(self._resync(conn), read_task)
            report(ConnectionState.CONNECTED)
            tasks.append(asyncio.get_running_loop().create_task(self._keepalive(conn), name=f"ami-ping:{self.source}"))
            tasks.append(asyncio.get_running_loop().create_task(self._reconcile(conn), name=f"ami-reconcile:{self.source}"))
            # a wrap-up may come from the PBX (member Wrapuptime) or the config: the timer always runs
            tasks.append(asyncio.get_running_loop().create_task(self._wrap_up_timer(conn), name=f"ami-wrap:{self.source}"))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises the reason the connection ended
        finally:
            self._conn = None
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            await conn.close(logoff=self._closed or not self._reconnect)

    async def _login(self, conn: AmiConnection) -> None:
        login = {"Action": "Login", "Username": self.username, "Events": self.events}
        if self.auth == "md5":
            challenge = await conn.action({"Action": "Challenge", "AuthType": "MD5"})
            text = challenge.response.get("Challenge") if challenge.response is not None else None
            if challenge.response is not None and challenge.response.response == "Success" and text:
                login["AuthType"] = "MD5"
                login["Key"] = hashlib.md5((text + self._secret).encode("utf-8")).hexdigest()
            else:
                log.info("%s: server offers no MD5 challenge; logging in with a plain secret", self.source)
        if "Key" not in login:
            login["Secret"] = self._secret
        result = await conn.action(login)
        response = result.response
        if response is None or response.response != "Success":
            message = response.get("Message", "login refused") if response is not None else "no response"
            raise AuthFailed(f"{self.source}: {message}")

    async def _resync(self, conn: AmiConnection) -> None:
        """ResyncEvent begin → QueueStatus snapshot mapped → ResyncEvent end → held live events."""
        async with conn.resync_lock:  # one snapshot at a time per connection
            await self._resync_locked(conn)

    async def _resync_locked(self, conn: AmiConnection) -> None:
        conn.syncing = True
        try:
            await self._put(ResyncEvent(ts=self._now_floor(), source=self.source, phase="begin"))
            result = await conn.action({"Action": "QueueStatus"}, is_list=True, timeout=max(self.action_timeout_s, LIST_TIMEOUT_S), patient=True)
            if result.response is None or result.response.response != "Success":
                message = result.response.get("Message", "") if result.response is not None else "no response"
                raise AmiActionError(f"{self.source}: QueueStatus refused: {message}")
            completed = False
            for msg, received in result.items:
                completed = completed or msg.event == "QueueStatusComplete"
                await self._emit_mapped(conn.mapper, msg, received)
            if not completed:
                for event in conn.mapper.finish_snapshot(self._now_floor()):
                    await self._put(event)
            await self._put(ResyncEvent(ts=self._now_floor(), source=self.source, phase="end"))
        finally:
            conn.syncing = False
        deferred, conn.deferred = conn.deferred, []
        for msg, received in deferred:
            await self._emit_mapped(conn.mapper, msg, received)

    async def _reconcile(self, conn: AmiConnection) -> None:
        """Resync when asked (request_resync) and compare with the PBX's QueueStatus every pbx.reconcile_s.

        A requested resync is a full one (between ResyncEvent markers); the periodic
        check emits only what differs from what the floor was told, and counts it as drift.
        With pbx.reconcile_scope "queue" the periodic check asks for one queue at a time
        (QueueStatus with Queue:), a round through every queue the feed knows spread over
        reconcile_s, so live events never wait behind one list of the whole member table (at
        5,000 agents in 200 queues that list is 2.2 MB every 4 s, and decisions behind it
        waited up to 0.4 s); "all" asks for the whole table each time.
        """
        self._resync_wanted.clear()
        order: list[str | None] = []  # what the round still has to check (None: the whole table)
        step = self.reconcile_s
        while True:
            if not order:
                by_queue = self.settings.reconcile_scope == "queue"
                order = [*conn.mapper.known_queues()] if by_queue else []
                order = order or [None]
                step = self.reconcile_s / len(order)
            timeout = step if self.reconcile_s > 0 else None
            try:
                await asyncio.wait_for(self._resync_wanted.wait(), timeout)
            except TimeoutError:
                await self._check_drift(conn, order.pop(0))
                continue
            await asyncio.sleep(0.05)  # a burst (QueueMemberRemoved for every queue) asks once
            self._resync_wanted.clear()
            full, self._resync_full = self._resync_full, False
            log.info("%s: %s (%s)", self.source, "resync" if full else "reconciliation", self._resync_reason)
            if full:
                await self._resync(conn)
            else:
                await self._check_drift(conn, None)

    async def _check_drift(self, conn: AmiConnection, queue: str | None) -> None:
        """A QueueStatus (of `queue`, or of every queue) whose list the mapper compares with what it
        emitted (check_suffix ActionID); mapped in stream order with the live events around it, so a
        capture replays the same."""
        fields = {"Action": "QueueStatus"} if queue is None else {"Action": "QueueStatus", "Queue": queue}
        async with conn.resync_lock:
            result = await conn.action(fields, is_list=True, timeout=max(self.action_timeout_s, LIST_TIMEOUT_S), patient=True,
                                       streamed=True, suffix=check_suffix(queue))
            if result.response is None or result.response.response != "Success":
                message = result.response.get("Message", "") if result.response is not None else "no response"
                raise AmiActionError(f"{self.source}: QueueStatus refused: {message}")
            self.reconciliations += 1
            corrected, conn.mapper.corrected = conn.mapper.corrected, []
            if corrected:
                self.drift += len(corrected)
                log.warning("%s: the floor had drifted from the PBX for %s; corrected", self.source, ", ".join(corrected))

    async def _keepalive(self, conn: AmiConnection) -> None:
        """Ping when the link is quiet; a Ping without answer drops the connection (half-open TCP)."""
        while True:
            await asyncio.sleep(self.keepalive_s)
            last = self._last_message_at
            if last is not None and (self.clock.now() - last).total_seconds() < self.keepalive_s:
                continue
            try:
                await conn.action({"Action": "Ping"}, timeout=self.settings.stale_after_s)
            except TimeoutError:
                raise ConnectionResetError(f"no answer to Ping within {self.settings.stale_after_s} s") from None

    async def _wrap_up_timer(self, conn: AmiConnection) -> None:
        """Emit the `ready` that ends a computed wrap-up when its time comes."""
        while True:
            due = conn.mapper.next_due()
            now = self.clock.now()
            # short naps: a simulated clock may run many times faster than the wall
            delay = 0.5 if due is None else max(0.0, min(0.1, (due - now).total_seconds()))
            await asyncio.sleep(delay)
            if not conn.syncing:
                for event in conn.mapper.advance(self.clock.now()):
                    await self._put(event)

    # ---- events ------------------------------------------------------------------------
    async def _emit_mapped(self, mapper: AmiMapper, msg: AmiMessage, received: datetime) -> None:
        name = msg.event
        if name in RESYNC_EVENTS and not self._conn_syncing():
            self.request_resync(f"{name} event", full=name == "Reload")
        try:
            events = mapper.map(msg, received)
        except AmiMappingError as exc:
            await self._malformed(str(exc), msg.line)
            return
        for event in events:
            await self._put(event)
