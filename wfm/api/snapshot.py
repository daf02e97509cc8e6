"""The one floor snapshot the web layer serves: GET /api/floor, GET /api/wall and every WebSocket.

Home Assistant's DataUpdateCoordinator shape: one owner (`FloorSnapshots`)
builds the floor from the runtime, incrementally (Runtime.floor_data: only
changed agents' rows are rebuilt), and hands it out; subscribers register and
get an unsubscribe callable back. A snapshot carries each audience's encoded
projection (wfm/api/projections.py), encoded once however many readers ask:

- "full": the whole FloorView (supervisors, schedulers, admins);
- "agent": the public floor numbers (an agent's socket);
- "wall": the wall (wfm.views.WallView; no login, kiosk rule).

Freshness: GET /api/floor builds a new snapshot on every call; GET /api/wall
reuses one younger than api.wall_cache_ms; after the floor changed, a new one
is pushed to subscribers at most every api.ws_floor_interval_ms, and a
socket's first floor reuses the last push when it is that recent. The "full"
projection (every agent's row: 2.4 MB at 5,000 agents) goes at most every
api.ws_full_floor_interval_ms: the supervisor page draws its floor at most once
a second, and encoding and sending it five times a second held the one event
loop that also carries the decisions.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from wfm.api import projections
from wfm.runtime import FloorChanged, Runtime, Update

logger = logging.getLogger(__name__)

AUDIENCES = ("full", "agent", "wall")
_encoder = msgspec.json.Encoder()

SnapshotSubscriber = Callable[["FloorSnapshot"], None]


class FloorSnapshot:
    """One build of the floor: its encoded projections per audience (JSON bytes) and when it was built."""

    __slots__ = ("version", "built_at", "bodies", "_messages")

    def __init__(self, version: int, built_at: float, bodies: dict[str, bytes],
                 messages: dict[str, str] | None = None) -> None:
        self.version = version
        self.built_at = built_at  # time.monotonic()
        self.bodies = bodies
        self._messages = messages if messages is not None else {}

    def body(self, audience: str) -> bytes:
        """The audience's floor as JSON (the HTTP body)."""
        return self.bodies[audience]

    def message(self, audience: str) -> str:
        """The audience's floor as a WebSocket message: {"type": "floor", "data": …} (made once)."""
        text = self._messages.get(audience)
        if text is None:
            text = self._messages[audience] = _message(self.bodies[audience])
        return text


def _message(body: bytes) -> str:
    return '{"type":"floor","data":' + body.decode() + "}"


class FloorSnapshots:
    """The owner of the web layer's floor read model; one per app."""

    def __init__(self, runtime: Runtime, push_interval_s: float, full_interval_s: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.runtime = runtime
        self.push_interval_s = push_interval_s
        self.full_interval_s = push_interval_s if full_interval_s is None else max(push_interval_s, full_interval_s)
        self._full_at = float("-inf")  # when a pushed snapshot last carried "full"
        self._full_owed = False  # the floor changed since: a later push carries it
        self._monotonic = monotonic
        self._latest: FloorSnapshot | None = None
        self._wall_rows = projections.WallRows()
        self._subscribers: list[SnapshotSubscriber] = []
        self._audiences: Callable[[], set[str]] = lambda: set()
        self._dirty = asyncio.Event()
        self._pusher: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.builds = 0

    # ── readers ──────────────────────────────────────────────────────────

    def current(self, audience: str, max_age_s: float = 0.0) -> FloorSnapshot:
        """A snapshot carrying `audience`'s projection, built now unless the latest is younger than
        `max_age_s` (0: always a new one)."""
        latest = self._latest
        if latest is not None and audience in latest.bodies and self._monotonic() - latest.built_at < max_age_s:
            return latest
        return self.build({audience})

    def subscribe(self, callback: SnapshotSubscriber, audiences: Callable[[], set[str]]) -> Callable[[], None]:
        """Push each new snapshot to `callback` (after the floor changed, throttled); `audiences()`
        says which projections the pushed snapshots must carry. Returns the unsubscribe callable."""
        self._subscribers.append(callback)
        self._audiences = audiences

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    # ── building ─────────────────────────────────────────────────────────

    def build(self, audiences: Iterable[str]) -> FloorSnapshot:
        """A new snapshot carrying the projections of `audiences`."""
        *_, snapshot = self._stages(set(audiences))
        assert snapshot is not None
        return snapshot

    async def build_yielding(self, audiences: Iterable[str]) -> FloorSnapshot:
        """build(), letting the event loop run between the stages (the floor, then each projection
        and its message text), so a decision waiting on the loop is held by one stage at most, not
        the whole build (at 5,000 agents a step of the build held the loop 16-112 ms; the load
        benchmark's decisions waited behind it)."""
        last: FloorSnapshot | None = None
        for stage in self._stages(set(audiences)):
            last = stage
            await asyncio.sleep(0)
        assert last is not None
        return last

    def _stages(self, audiences: set[str]) -> Iterator[FloorSnapshot | None]:
        """Build in stages (the floor, then each audience's projection), yielding between them so the
        pusher can let the event loop run; the last item yielded is the finished snapshot."""
        # one consistent build: rows stay valid until the next floor_data call, which only this owner makes
        data: dict[str, Any] = self.runtime.floor_data(agents="full" in audiences or "wall" in audiences)
        bodies: dict[str, bytes] = {}
        messages: dict[str, str] = {}
        if "full" in audiences:
            yield None
            bodies["full"] = _encoder.encode(data)
            yield None
            messages["full"] = _message(bodies["full"])  # what every full socket sends, made here, not in the fan-out
        if "agent" in audiences:
            bodies["agent"] = _encoder.encode(projections.public_from_data(data))
        if "wall" in audiences:
            yield None
            wall = projections.wall_from_data(data, self._wall_rows)
            yield None
            bodies["wall"] = _encoder.encode(wall)
        self.builds += 1
        self._latest = FloorSnapshot(self.builds, self._monotonic(), bodies, messages)
        yield self._latest

    # ── the push loop ────────────────────────────────────────────────────

    def start(self) -> None:
        self._unsubscribe = self.runtime.subscribe(self._on_update)
        self._pusher = asyncio.create_task(self._push(), name="wfm-floor-snapshots")

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
        self._subscribers.clear()

    def _on_update(self, update: Update) -> None:
        if isinstance(update, FloorChanged):
            self._dirty.set()

    async def _push(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            audiences = set(self._audiences()) if self._subscribers else set()
            if "full" in audiences:
                now = self._monotonic()
                self._full_owed = now - self._full_at < self.full_interval_s
                if self._full_owed:
                    audiences.discard("full")  # not yet: the next push after the full interval carries it
                else:
                    self._full_at = now
            if audiences:
                try:
                    snapshot = await self.build_yielding(audiences)
                except Exception:
                    logger.exception("floor snapshot for the live push failed")
                else:
                    for callback in list(self._subscribers):
                        try:
                            callback(snapshot)
                        except Exception:
                            logger.exception("floor snapshot subscriber %r failed", callback)
            await asyncio.sleep(self.push_interval_s)
            if self._full_owed:
                self._dirty.set()  # the full floor's readers still have an older one
