"""WebSocket hub: one Runtime subscriber fanning updates out to browser sockets.

Decisions, violations and alerts are pushed the moment the runtime publishes
them (already durable in the log). Floors come from the one floor snapshot
(wfm/api/snapshot.py), pushed after the floor changed at most once per
`api.ws_floor_interval_ms` (no agent list unless a supervisor or wall socket is
open), one projection per audience:

- supervisor / scheduler / admin: every output, freed held places ("hold_released",
  docs/break-holds.md) and the full floor view;
- agent: only their own decisions, violations and lapsed approvals, and the public floor numbers;
- wall (no login, kiosk rule): the wall projection, no decisions.

A client that cannot keep up (its queue fills) is disconnected rather than
allowed to grow memory without bound.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from wfm.api import projections
from wfm.api.snapshot import FloorSnapshot, FloorSnapshots
from wfm.auth import FLOOR_READERS, Account, Role
from wfm.runtime import ActionDone, OutputPublished, PlaceReleased, Runtime, Update

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
    def __init__(self, runtime: Runtime, snapshots: FloorSnapshots) -> None:
        self.runtime = runtime
        self.snapshots = snapshots
        self._clients: set[_Client] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._closing = False

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def start(self) -> None:
        self._unsubscribe = [
            self.runtime.subscribe(self.on_update),
            self.snapshots.subscribe(self.on_snapshot, lambda: {client.audience for client in self._clients}),
        ]

    async def close(self) -> None:
        self._closing = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
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
        elif isinstance(update, PlaceReleased):  # a lapsed approval: supervisors and the agent themself
            text = _encoder.encode(update.record).decode()
            for client in list(self._clients):
                if client.wants(update.record) and not client.offer(text):
                    self._drop(client)
        elif isinstance(update, ActionDone):
            text = _encoder.encode({"type": "action", "ts": update.ts, **msgspec.to_builtins(update.result)}).decode()
            for client in list(self._clients):
                if client.audience == "full" and not client.offer(text):
                    self._drop(client)

    def on_snapshot(self, snapshot: FloorSnapshot) -> None:
        messages: dict[str, str] = {}
        for client in list(self._clients):
            if client.audience in snapshot.bodies:  # (a socket that opened mid-build got its own first floor)
                if client.audience not in messages:
                    messages[client.audience] = snapshot.message(client.audience)
                client.offer_floor(messages[client.audience])

    def _drop(self, client: _Client) -> None:
        logger.warning("WebSocket client %s too slow; disconnecting",
                       client.account.username if client.account else "wall")
        self._clients.discard(client)
        if not client.offer(None):  # its queue is full: what it holds will never be read in time
            while not client.queue.empty():
                client.queue.get_nowait()
            client.offer(None)

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
            first = self.snapshots.current(client.audience, max_age_s=self.snapshots.push_interval_s)
            await ws.send_str(first.message(client.audience))
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
