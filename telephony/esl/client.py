"""EslAdapter: a FreeSWITCH mod_callcenter floor over the inbound event socket (TCP 8021).

One connection: wait for `auth/request`, `auth <password>`, subscribe with
`event plain HEARTBEAT CUSTOM callcenter::info`, then resync — ResyncEvent
begin, `api callcenter_config tier list` / `agent list` / `queue list` /
`queue list members <q>` mapped as a full snapshot, ResyncEvent end — and
stream live events (those arriving during the snapshot are held and mapped
after it). Replies to commands arrive in the order the commands were sent, so
they are matched first-in first-out. `set_paused` is
`api callcenter_config agent set status <agent> 'On Break'|'Available'`.
Reconnects are telephony.reconnect.Reconnector's job; this file is transport.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from datetime import datetime
from pathlib import Path

from telephony.adapter import ActionResult, AdapterError, ConnectionState
from telephony.capture import CaptureWriter
from telephony.streaming import CLOSED, StreamingAdapter
from telephony.esl.mapping import EslMapper, EslMappingError
from telephony.esl.protocol import EslError, EslEvent, EslMessage, EslParser, encode_command
from telephony.reconnect import AuthFailed, Reconnector, StateReport
from wfm.clock import Clock, WallClock
from telephony.esl.settings import EslSettings
from wfm.events import ResyncEvent

log = logging.getLogger(__name__)

READ_SIZE = 65536
SUBSCRIPTION = "event plain HEARTBEAT CUSTOM callcenter::info"
DEFAULT_PASSWORD = "ClueCon"  # mod_event_socket's shipped password (event_socket.conf.xml)


class EslCommandError(AdapterError):
    """FreeSWITCH answered a command with -ERR."""


class EslConnection:
    """One live event-socket connection: read loop, FIFO reply matching, event hand-off."""

    def __init__(self, adapter: EslAdapter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.adapter = adapter
        self.reader = reader
        self.writer = writer
        self.parser = EslParser()
        self.mapper = EslMapper(adapter.settings, adapter.source)
        loop = asyncio.get_running_loop()
        self.auth_request: asyncio.Future[EslMessage] = loop.create_future()
        self.replies: collections.deque[asyncio.Future[EslMessage]] = collections.deque()
        self.syncing = False
        self.deferred: list[tuple[EslEvent, datetime]] = []

    async def read_loop(self) -> None:
        adapter = self.adapter
        while True:
            data = await self.reader.read(READ_SIZE)
            if not data:
                for error in self.parser.close():
                    await adapter._malformed(error.reason, error.line)
                raise ConnectionResetError("FreeSWITCH closed the event socket")
            received = adapter.clock.now()
            adapter._last_message_at = received
            if adapter._capture is not None:
                adapter._capture.write(data, received)
            for item in self.parser.feed(data):
                if isinstance(item, EslError):
                    await adapter._malformed(item.reason, item.line)
                elif isinstance(item, EslEvent):
                    if self.syncing:
                        self.deferred.append((item, received))
                    else:
                        await adapter._emit_event(self.mapper, item, received)
                else:
                    await self._message(item)

    async def _message(self, message: EslMessage) -> None:
        kind = message.content_type
        if kind == "auth/request":
            if not self.auth_request.done():
                self.auth_request.set_result(message)
        elif kind in ("command/reply", "api/response"):
            while self.replies:
                future = self.replies.popleft()
                if not future.done():  # a timed-out command's reply is dropped with it
                    future.set_result(message)
                    break
        elif kind in ("text/disconnect-notice", "text/rude-rejection"):
            log.warning("%s: FreeSWITCH says %s: %s", self.adapter.source, kind, message.body[:200].decode("utf-8", "replace"))
            if kind == "text/rude-rejection":
                raise AuthFailed(f"{self.adapter.source}: connection rejected (ACL): {message.body[:120].decode('utf-8', 'replace')}")

    async def command(self, command: str, timeout: float | None = None) -> EslMessage:
        """Send one command and wait for its reply (command/reply or api/response)."""
        future: asyncio.Future[EslMessage] = asyncio.get_running_loop().create_future()
        self.replies.append(future)
        self.writer.write(encode_command(command))
        await self.writer.drain()
        return await asyncio.wait_for(future, timeout or self.adapter.command_timeout_s)

    async def api(self, command: str, timeout: float | None = None) -> str:
        """`api <command>` → the response body; EslCommandError on `-ERR`."""
        reply = await self.command(f"api {command}", timeout)
        body = reply.body.decode("utf-8", "replace")
        if body.startswith("-ERR") or body.startswith("-USAGE"):
            raise EslCommandError(f"api {command}: {body.strip()}")
        return body

    def fail_pending(self, reason: str) -> None:
        while self.replies:
            future = self.replies.popleft()
            if not future.done():
                future.set_exception(ConnectionResetError(reason))

    async def close(self) -> None:
        self.fail_pending("connection closed")
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


class EslAdapter(StreamingAdapter[EslSettings, EslConnection]):
    """FreeSWITCH mod_callcenter feed: auth, snapshot + live events, agent status changes, health."""

    protocol_label = "ESL"
    setup_lost = "event socket ended during setup"

    sends_snapshots = True  # a ResyncEvent begin/end pair after every connect (the runtime waits for the first)
    can_pause = True  # callcenter_config agent set status

    def __init__(
        self,
        settings: EslSettings,
        *,
        host: str,
        port: int,
        password: str,
        source: str | None = None,
        capture_path: str | Path | None = None,
        reconnect: bool = True,
        clock: Clock | None = None,
        connect_timeout_s: float = 10.0,
        command_timeout_s: float = 10.0,
        queue_size: int = 10000,
        yield_skipped: bool = False,
    ) -> None:
        self.settings = settings
        self.host, self.port = host, port
        self._password = password
        self.source = source or f"esl:{host}:{port}"
        self.clock = clock or WallClock()
        self.connect_timeout_s = connect_timeout_s
        self.command_timeout_s = command_timeout_s
        self.keepalive_s = max(1.0, settings.stale_after_s / 3)
        self._capture = CaptureWriter(capture_path) if capture_path else None
        self._reconnect = reconnect
        self._queue = asyncio.Queue(maxsize=queue_size)
        self._reconnector = Reconnector(
            self.source, self._connect_once, settings.reconnect,
            network_errors=(OSError, EOFError, asyncio.TimeoutError, ConnectionError, AdapterError),
        )
        self._single: asyncio.Task | None = None
        self._conn = None
        self._last_message_at: datetime | None = None
        self._started = False
        self._closed = False
        self.skipped = 0
        self.failure = None
        self._yield_skipped = yield_skipped
        self._resyncs: set[asyncio.Task] = set()  # requested resyncs in flight (kept referenced)

    # ---- Adapter interface -----------------------------------------------------------
    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        if self._reconnect:
            self._reconnector.start()
        else:
            self._single = asyncio.get_running_loop().create_task(self._run_single(), name=f"esl:{self.source}")

    async def set_paused(self, agent: str, paused: bool, reason: str | None = None) -> ActionResult:
        """mod_callcenter has no pause reason: paused = status 'On Break', unpaused = 'Available'."""
        action = "callcenter_config agent set status"
        conn = self._conn
        if conn is None or self.state is not ConnectionState.CONNECTED:
            return ActionResult(action=action, agent=agent, ok=False, detail="ESL feed not connected", transient=True)
        raw = conn.mapper.raw_name(agent)
        if raw is None:
            return ActionResult(action=action, agent=agent, ok=False, detail=f"no mod_callcenter agent known for {agent}")
        status = "On Break" if paused else "Available"
        try:
            body = await conn.api(f"callcenter_config agent set status {raw} '{status}'")
        except EslCommandError as exc:
            return ActionResult(action=action, agent=agent, ok=False, detail=str(exc))
        except (TimeoutError, ConnectionError, OSError) as exc:
            return ActionResult(action=action, agent=agent, ok=False,
                                detail=f"no answer: {type(exc).__name__} {exc}".strip(), transient=True)
        return ActionResult(action=action, agent=agent, ok=body.strip().startswith("+OK"), detail=body.strip()[:200])

    def request_resync(self, reason: str, *, full: bool = True) -> None:
        """Take a fresh snapshot soon (after an action failure): the floor shows PBX truth."""
        conn = self._conn
        if conn is None or self.state is not ConnectionState.CONNECTED:
            return  # the next connection snapshots anyway
        log.info("%s: resync (%s)", self.source, reason)
        task = asyncio.get_running_loop().create_task(self._resync_quietly(conn), name=f"esl-resync:{self.source}")
        self._resyncs.add(task)
        task.add_done_callback(self._resyncs.discard)

    async def _resync_quietly(self, conn: EslConnection) -> None:
        try:
            await self._resync(conn)
        except (AdapterError, ConnectionError, OSError, TimeoutError) as exc:
            log.warning("%s: resync failed: %s", self.source, exc)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._resyncs):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
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

    # ---- one connection ----------------------------------------------------------------
    async def _connect_once(self, report: StateReport) -> None:
        report(ConnectionState.CONNECTING)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.connect_timeout_s)
        conn = EslConnection(self, reader, writer)
        if self._capture is not None:
            self._capture.connection_started()
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task] = []
        try:
            read_task = loop.create_task(conn.read_loop(), name=f"esl-read:{self.source}")
            tasks.append(read_task)
            await self._await_or_fail(asyncio.wait_for(asyncio.shield(conn.auth_request), self.connect_timeout_s), read_task)
            report(ConnectionState.AUTHENTICATING)
            reply = await self._await_or_fail(conn.command(f"auth {self._password}"), read_task)
            if not (reply.reply_text or "").startswith("+OK"):
                raise AuthFailed(f"{self.source}: {reply.reply_text or 'auth refused'}")
            reply = await self._await_or_fail(conn.command(SUBSCRIPTION), read_task)
            if not (reply.reply_text or "").startswith("+OK"):
                raise EslCommandError(f"{self.source}: subscription refused: {reply.reply_text}")
            self._conn = conn
            report(ConnectionState.SYNCING)
            await self._await_or_fail(self._resync(conn), read_task)
            report(ConnectionState.CONNECTED)
            tasks.append(loop.create_task(self._keepalive(conn), name=f"esl-keepalive:{self.source}"))
            tasks.append(loop.create_task(self._wrap_up_timer(conn), name=f"esl-wrap:{self.source}"))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            self._conn = None
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            await conn.close()

    async def _resync(self, conn: EslConnection) -> None:
        conn.syncing = True
        try:
            now = self._now_floor()
            await self._put(ResyncEvent(ts=now, source=self.source, phase="begin"))
            mapper = conn.mapper
            tiers = await conn.api("callcenter_config tier list")
            if mapper.listing_kind(tiers) == "tiers":
                mapper.map_tier_list(tiers)
            agents = await conn.api("callcenter_config agent list")
            for event in mapper.map_agent_list(agents, now):
                await self._put(event)
            queues = await conn.api("callcenter_config queue list")
            names = mapper.queue_names(queues) if mapper.listing_kind(queues) == "queues" else []
            for name in names:
                members = await conn.api(f"callcenter_config queue list members {name}")
                for event in mapper.map_member_list(members, now, queue=name):
                    await self._put(event)
            await self._put(ResyncEvent(ts=self._now_floor(), source=self.source, phase="end"))
        except EslMappingError as exc:
            raise EslCommandError(f"{self.source}: snapshot unreadable: {exc}") from None
        finally:
            conn.syncing = False
        deferred, conn.deferred = conn.deferred, []
        for held, received in deferred:
            await self._emit_event(conn.mapper, held, received)

    async def _keepalive(self, conn: EslConnection) -> None:
        """On a quiet link ask `api uptime`; no answer in stale_after_s drops the connection."""
        while True:
            await asyncio.sleep(self.keepalive_s)
            last = self._last_message_at
            if last is not None and (self.clock.now() - last).total_seconds() < self.keepalive_s:
                continue
            try:
                await conn.api("uptime", timeout=self.settings.stale_after_s)
            except TimeoutError:
                raise ConnectionResetError(f"no answer to `api uptime` within {self.settings.stale_after_s} s") from None

    async def _wrap_up_timer(self, conn: EslConnection) -> None:
        while True:
            due = conn.mapper.next_due()
            delay = 1.0 if due is None else max(0.0, min(1.0, (due - self.clock.now()).total_seconds()))
            await asyncio.sleep(delay)
            if not conn.syncing:
                for event in conn.mapper.advance(self.clock.now()):
                    await self._put(event)

    # ---- events ------------------------------------------------------------------------------
    async def _emit_event(self, mapper: EslMapper, event: EslEvent, received: datetime) -> None:
        try:
            events = mapper.map_event(event, received)
        except EslMappingError as exc:
            await self._malformed(str(exc), event.line)
            return
        for item in events:
            await self._put(item)
