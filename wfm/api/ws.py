"""WebSocket hub: one Runtime subscriber fanning updates out to browser sockets.

Decisions, violations and alerts are pushed the moment the runtime publishes
them (already durable in the log). Floors come from the one floor snapshot
(wfm/api/snapshot.py), pushed after the floor changed at most once per
`api.ws_floor_interval_ms` (no agent list unless a supervisor or wall socket is
open; the full floor at most once per `api.ws_full_floor_interval_ms`), one
projection per audience:

- supervisor / scheduler / admin: every output, freed held places ("hold_released",
  docs/break-holds.md) and the full floor view;
- agent: only their own decisions, violations and lapsed approvals, the public floor numbers, and
  their own break budget ({"type": "budget"}, the AgentBudgetView GET /api/agents/{agent}/budget
  serves, preview gate included), sent with the floor pushes at most every BUDGET_PUSH_S and with the
  first push after one of their own decisions — /me draws from it;
- wall (no login, kiosk rule): the wall projection, no decisions.

A reader (supervisor, admin) looking at an agent's /me sends "watch:<agent>" and gets that
agent's budget the same way; an agent may watch only themself.

A client that cannot keep up (its queue fills) is disconnected rather than
allowed to grow memory without bound.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from wfm.api import breakgate, projections
from wfm.api.snapshot import FloorSnapshot, FloorSnapshots
from wfm.auth import FLOOR_READERS, Account, Role
from wfm.runtime import ActionDone, OutputPublished, PlaceReleased, Runtime, Update

logger = logging.getLogger(__name__)

_QUEUE_MAX = 512
BUDGET_PUSH_S = 1.0  # a watched budget at most this often (what /me polled before it was pushed)
BUDGET_CHUNK = 25  # budgets computed between two yields to the event loop
MAX_CLIENTS = 2000  # sockets at once; beyond that new ones are refused (503) rather than starving the floor
_encoder = msgspec.json.Encoder()


class _Client:
    """One socket: outputs queue in order (a client that lets them pile up is dropped); the floor
    is a snapshot, so only the newest unsent one is kept, and it goes after any waiting output."""

    __slots__ = ("ws", "account", "audience", "queue", "latest", "wake", "watch", "budget_at", "budget_due")

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
        self.latest: dict[str, str] = {}  # the newest unsent snapshot-like message per kind (floor, budget)
        self.wake = asyncio.Event()
        # the agent whose budget this socket gets (an agent: themself; a reader: whom they "watch:")
        self.watch: str | None = account.agent if account is not None and account.role is Role.AGENT else None
        self.budget_at = float("-inf")  # time.monotonic() of the last budget sent
        self.budget_due = True  # send with the next push whatever the throttle (first, or after a decision)

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

    def offer_latest(self, kind: str, text: str) -> None:
        """The newest floor (or budget) replaces one still unsent: a slow reader gets fewer of them, never
        late decisions."""
        self.latest[kind] = text
        self.wake.set()

    def offer_floor(self, text: str) -> None:
        self.offer_latest("floor", text)

    async def next_message(self) -> str | None:
        """The next text to send (outputs first, then the newest floor, then the budget); None: close the socket."""
        while self.queue.empty() and not self.latest:
            self.wake.clear()
            await self.wake.wait()
        if not self.queue.empty():
            return self.queue.get_nowait()
        kind = "floor" if "floor" in self.latest else next(iter(self.latest))
        return self.latest.pop(kind)


class Hub:
    def __init__(self, runtime: Runtime, snapshots: FloorSnapshots) -> None:
        self.runtime = runtime
        self.snapshots = snapshots
        self._clients: set[_Client] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._closing = False
        self._budgets: asyncio.Task[None] | None = None  # the round of budgets after a floor push

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
        if self._budgets is not None:
            self._budgets.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._budgets
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.ws.close(code=1001, message=b"server shutting down")
        self._clients.clear()

    # ── runtime side ──────────────────────────────────────────────────────

    def on_update(self, update: Update) -> None:
        if isinstance(update, OutputPublished):
            text = _encoder.encode(update.output).decode()
            concerned = projections.output_agent(update.output)
            for client in list(self._clients):
                if client.watch is not None and client.watch == concerned:
                    client.budget_due = True  # a decision about them: the budget goes with the next push
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
        if any(client.watch is not None for client in self._clients) and \
                (self._budgets is None or self._budgets.done()):  # one round at a time; the next push starts the next
            self._budgets = asyncio.get_running_loop().create_task(self._push_budgets(), name="wfm-ws-budgets")

    async def _push_budgets(self) -> None:
        """Each watched agent's budget, after the floor push: at most every BUDGET_PUSH_S a socket, at once
        when due (a decision about them); computed once per agent however many sockets watch them, letting
        the event loop run every BUDGET_CHUNK budgets (each costs a rules preview, ~0.3 ms: 500 open agent
        pages must not hold a decision up for 150 ms)."""
        now = time.monotonic()
        texts: dict[str, str] = {}
        for client in list(self._clients):
            agent = client.watch
            if agent is None or client not in self._clients or \
                    (not client.budget_due and now - client.budget_at < BUDGET_PUSH_S):
                continue
            if agent not in texts:
                if texts and len(texts) % BUDGET_CHUNK == 0:
                    await asyncio.sleep(0)
                try:
                    texts[agent] = self.budget_message(agent)
                except Exception:
                    logger.exception("budget of %s for its sockets failed", agent)
                    continue
            client.offer_latest("budget", texts[agent])
            client.budget_at, client.budget_due = now, False

    def budget_message(self, agent: str) -> str:
        """{"type": "budget", "agent": …, "data": AgentBudgetView or null while the floor does not know them}."""
        data = None
        if self.runtime.known_agent(agent):
            data = breakgate.with_gate(self.runtime.agent_budget(agent))
        return _encoder.encode({"type": "budget", "agent": agent, "data": data}).decode()

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
        if client.watch is not None:
            self._send_budget_now(client)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT and message.data == "ping":
                    client.offer('{"type":"pong"}')
                elif message.type == WSMsgType.TEXT and message.data.startswith("watch:"):
                    self._watch(client, message.data[len("watch:"):])
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

    def _watch(self, client: _Client, agent: str) -> None:
        """A reader's "watch:<agent>" (an agent may watch only themself); refused quietly with an error message."""
        account = client.account
        if account is None or not agent or (client.audience != "full" and agent != account.agent):
            client.offer(_encoder.encode({"type": "error", "error": "forbidden",
                                          "detail": f"may not watch agent {agent!r}"}).decode())
            return
        client.watch = agent
        self._send_budget_now(client)

    def _send_budget_now(self, client: _Client) -> None:
        assert client.watch is not None
        try:
            client.offer_latest("budget", self.budget_message(client.watch))
        except Exception:
            logger.exception("budget of %s for its socket failed", client.watch)
            return
        client.budget_at, client.budget_due = time.monotonic(), False

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
