"""WebSocket hub: one Runtime subscriber fanning updates out to browser sockets.

Decisions, violations and alerts are pushed the moment the runtime publishes
them (already durable in the log). Floor views are pushed when the floor
changed, at most once per `api.ws_floor_interval_ms`, converted once per push
(incrementally: only changed agents' rows are rebuilt; no agent list unless a
supervisor or wall socket is open) and projected per audience:

- supervisor / scheduler / admin: every output and the full floor view;
- agent: only their own decisions and violations, and the public floor numbers;
- wall (no login, kiosk rule): the wall projection, no decisions.

A client that cannot keep up (its queue fills) is disconnected rather than
allowed to grow memory without bound.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from wfm.api import projections
from wfm.auth import FLOOR_READERS, Account, Role
from wfm.runtime import ActionDone, FloorChanged, OutputPublished, Runtime, Update

logger = logging.getLogger(__name__)

_QUEUE_MAX = 512
MAX_CLIENTS = 2000  # sockets at once; beyond that new ones are refused (503) rather than starving the floor
_encoder = msgspec.json.Encoder()


class _Client:
    """One socket: outputs queue in order (a client that lets them pile up is dropped); the floor
    is a snapshot, so only the newest unsent one is kept, and it goes after any waiting output."""

    __slots__ = ("ws", "account", "audience", "queue", "floor", "wake")

    def __init__(self, ws: web.WebSocketResponse, account: Account | None) -> None:
        self.ws = ws
        self.account = account
        if account is None:
            self.audience = "wall"
        elif account.role in FLOOR_READERS:
            self.audience = "full"
        else:
            self.audience = "agent"
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=_QUEUE_MAX)
        self.floor: str | None = None  # the newest floor message not sent yet
        self.wake = asyncio.Event()

    def wants(self, output: Any) -> bool:
        if self.audience == "full":
            return True
        if self.audience == "agent":
            return self.account is not None and self.account.role is Role.AGENT and \
                projections.output_agent(output) == self.account.agent
        return False

    def offer(self, text: str | None) -> bool:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        self.wake.set()
        return True

    def offer_floor(self, text: str) -> None:
        """The newest floor replaces one still unsent: a slow reader gets fewer floors, never late decisions."""
        self.floor = text
        self.wake.set()

    async def next_message(self) -> str | None:
        """The next text to send (outputs first, then the newest floor); None: close the socket."""
        while self.queue.empty() and self.floor is None:
            self.wake.clear()
            await self.wake.wait()
        if not self.queue.empty():
            return self.queue.get_nowait()
        text, self.floor = self.floor, None
        return text


class Hub:
    def __init__(self, runtime: Runtime, floor_interval_s: float) -> None:
        self.runtime = runtime
        self.floor_interval_s = floor_interval_s
        self._clients: set[_Client] = set()
        self._dirty = asyncio.Event()
        self._unsubscribe = None
        self._pusher: asyncio.Task | None = None
        self._closing = False
        self._last: tuple[float, dict[str, str]] = (0.0, {})  # (monotonic, messages) of the last build
        self._wall_rows = projections.WallRows()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def start(self) -> None:
        self._unsubscribe = self.runtime.subscribe(self.on_update)
        self._pusher = asyncio.create_task(self._push_floor(), name="wfm-ws-floor-pusher")

    async def close(self) -> None:
        self._closing = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.ws.close(code=1001, message=b"server shutting down")
        self._clients.clear()

    # ── runtime side ──────────────────────────────────────────────────────

    def on_update(self, update: Update) -> None:
        if isinstance(update, OutputPublished):
            text = _encoder.encode(update.output).decode()
            for client in list(self._clients):
                if client.wants(update.output) and not client.offer(text):
                    self._drop(client)
        elif isinstance(update, FloorChanged):
            self._dirty.set()
        elif isinstance(update, ActionDone):
            text = _encoder.encode({"type": "action", "ts": update.ts, **msgspec.to_builtins(update.result)}).decode()
            for client in list(self._clients):
                if client.audience == "full" and not client.offer(text):
                    self._drop(client)

    def _drop(self, client: _Client) -> None:
        logger.warning("WebSocket client %s too slow; disconnecting",
                       client.account.username if client.account else "wall")
        self._clients.discard(client)
        if not client.offer(None):  # its queue is full: what it holds will never be read in time
            while not client.queue.empty():
                client.queue.get_nowait()
            client.offer(None)

    def _floor_messages(self, audiences: set[str] | frozenset[str] | None = None) -> dict[str, str]:
        """The floor message of each audience asked for (default: those with an open socket).

        The floor is converted once (runtime.floor_data, incremental) and projected per
        audience; the agent list is built only when a full or wall socket needs it.
        """
        messages: dict[str, str] = {}
        for _ in self._build_floor_messages(audiences, messages):
            pass
        return messages

    async def _floor_messages_yielding(self) -> dict[str, str]:
        """_floor_messages for the pusher, letting the event loop run between the stages
        (the floor snapshot, then each audience's projection and encoding), so a decision
        waiting on the loop is held by one stage at most, not the whole push."""
        messages: dict[str, str] = {}
        for _ in self._build_floor_messages(None, messages):
            await asyncio.sleep(0)
        return messages

    def _build_floor_messages(self, audiences, messages: dict[str, str]):
        if audiences is None:
            audiences = {client.audience for client in self._clients}
        # one consistent snapshot (rows valid until the next floor_data call, which only this hub makes)
        data = self.runtime.floor_data(agents="full" in audiences or "wall" in audiences)
        if "full" in audiences:
            yield
            messages["full"] = _encoder.encode({"type": "floor", "data": data}).decode()
        if "agent" in audiences:
            messages["agent"] = _encoder.encode({"type": "floor", "data": projections.public_from_data(data)}).decode()
        if "wall" in audiences:
            yield
            wall = projections.wall_from_data(data, self._wall_rows)
            messages["wall"] = _encoder.encode({"type": "floor", "data": wall}).decode()
        self._last = (time.monotonic(), messages)

    def _floor_message_for(self, audience: str) -> str:
        """A new socket's first floor: this push tick's message when there is one, else built."""
        at, messages = self._last
        if audience in messages and time.monotonic() - at < self.floor_interval_s:
            return messages[audience]
        return self._floor_messages({audience})[audience]

    async def _push_floor(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self._clients:
                try:
                    messages = await self._floor_messages_yielding()
                except Exception:
                    logger.exception("floor view for WebSocket push failed")
                else:
                    for client in list(self._clients):
                        message = messages.get(client.audience)
                        if message is not None:  # (a socket that opened mid-build got its own first floor)
                            client.offer_floor(message)
            await asyncio.sleep(self.floor_interval_s)

    # ── socket side ───────────────────────────────────────────────────────

    async def handle(self, request: web.Request, account: Account | None) -> web.WebSocketResponse:
        if len(self._clients) >= MAX_CLIENTS:
            from wfm.api.security import ApiError

            raise ApiError(503, "too many live connections", "try again later")
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
        await ws.prepare(request)
        if self._closing:
            await ws.close(code=1001, message=b"server shutting down")
            return ws
        client = _Client(ws, account)
        hello = {
            "type": "hello",
            "audience": client.audience,
            "user": account.username if account else None,
            "agent": account.agent if account else None,
        }
        await ws.send_str(_encoder.encode(hello).decode())
        try:
            await ws.send_str(self._floor_message_for(client.audience))
        except Exception:
            logger.exception("initial floor view failed")
        self._clients.add(client)
        sender = asyncio.create_task(self._send_loop(client), name="wfm-ws-sender")
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT and message.data == "ping":
                    client.offer('{"type":"pong"}')
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            self._clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if not ws.closed:
                await ws.close()
        return ws

    async def _send_loop(self, client: _Client) -> None:
        while True:
            text = await client.next_message()
            if text is None:
                await client.ws.close(code=1013, message=b"too slow")
                return
            try:
                await client.ws.send_str(text)
            except (ConnectionResetError, RuntimeError):
                return
