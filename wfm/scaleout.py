"""One judge per floor, hot standbys: several `wfm serve` processes over one PostgreSQL log.

Every process of a floor (`storage.floor_id`) ingests its own PBX feeds and
API into the shared log. Exactly one of them — the holder of the floor's
PostgreSQL advisory lock — is the JUDGE: it applies the floor's records in
log order (its own and the standbys' events alike, and tick markers), logs
the decisions, violations and alerts, then an audit marker
`{"type": "judged", "through": SEQ}` saying every record up to SEQ has been
judged and its outputs are in the log. The others are hot STANDBYS: they
apply the same records to their own engine, in the same order, but only up
to the judge's latest marker, and log no outputs; their wall boards and pages
read that replica, and the judge's decisions reach their WebSocket clients as
they are committed.

    site A: feed ─► log ◄─ feed :site B          judge (A, lock held): log order ─► engine ─► decisions
                      │                           standby (B): log order, up to the judged marker ─► engine
                      └── follow (LISTEN/NOTIFY) ─┘

Because every engine applies the same records in the same order, a standby's
engine is the judge's as of the last marker. When the judge dies its lock
connection drops; a standby takes the lock (within `lead_retry_s`) and
judges the records after the last marker. Outputs the old judge logged after
its last marker are recognised and not logged again (the engine is
deterministic: the same records give the same outputs). So nothing is lost
or judged twice, and a floor-wide limit (concurrent 小休) has one judge.

Ticks are records too: the judge appends a tick marker when its timer fires,
and every engine applies it where it lies in the log. PBX actions (QueuePause)
are sent by the process whose feed reported the agent, whether it judges or
not: its replica computes the same actions. Several floors, several locks.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec

from wfm.decisions import HoldReleased, Output
from wfm.events import AgentState, AgentStateEvent, EventDecodeError, event_from_builtins, event_to_builtins
from wfm.runtime import (
    AUDIT_KIND,
    DECISION_KIND,
    EVENT_KIND,
    RELEASE_TYPE,
    TICK_TYPE,
    FloorChanged,
    OutputPublished,
    PlaceReleased,
    ReplayReport,
    Runtime,
    _Item,
)

logger = logging.getLogger(__name__)

JUDGED_TYPE = "judged"
Logged = Output | HoldReleased  # what the judge logs as decision records
_sorted = msgspec.json.Encoder(order="sorted")


def _output_key(body: Any) -> bytes:
    """An output's identity: its record body as canonical JSON (the same for the engine's struct and the log's dict)."""
    return _sorted.encode(body if isinstance(body, dict) else msgspec.to_builtins(body))
_APPLY_BATCH = 512
_RECENT_RESULTS = 10_000  # results of applied events kept for an ack that comes back after its record


def floor_lock_key(floor_id: str) -> int:
    """The PostgreSQL advisory lock key of a floor (a signed 64-bit int from its id)."""
    digest = hashlib.sha256(b"wfm-floor-judge:" + floor_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _engine_input(record: Any) -> bool:
    """Events, tick markers and freed places move an engine; everything else is only published."""
    return record.kind == EVENT_KIND or (record.kind == AUDIT_KIND and record.body.get("type") in (TICK_TYPE, RELEASE_TYPE))


def _judged_through(record: Any) -> int | None:
    body = record.body
    if record.kind == AUDIT_KIND and body.get("type") == JUDGED_TYPE and isinstance(body.get("through"), int):
        return body["through"]
    return None


class FloorRuntime(Runtime):
    """A Runtime whose engine applies the shared log in order; the floor's lock holder judges.

    lead_retry_s: a standby retries the lock (the judge pings its lock connection) this often;
    follow_poll_s: the log is read this often when no NOTIFY came.
    """

    def __init__(self, config, engine, log, adapters, clock, *, floor_id: str | None = None,
                 follow_poll_s: float = 0.5, lead_retry_s: float = 0.5, **options: Any) -> None:
        super().__init__(config, engine, log, adapters, clock, **options)
        self.floor_id = floor_id or config.storage.floor_id
        self.follow_poll_s = follow_poll_s
        self.lead_retry_s = lead_retry_s
        self.leader = False
        self.leads_since: float | None = None  # time.time() this process became the judge
        self.takeovers = 0
        self._own_seqs: set[int] = set()  # records this process appended (outputs, markers) — not events
        self._awaiting: dict[int, _Item] = {}  # seq of a submitted event -> its item (future)
        self._results: OrderedDict[int, Any] = OrderedDict()  # seq -> result of recently applied events
        self._buffer: deque = deque()  # followed records not yet applied
        self._marker = 0  # the highest `through` of a judged marker seen
        self._marker_seq = 0  # the seq of the record that carried it
        self._replayed = asyncio.Event()  # the engine is rebuilt: judging may start
        self._applied = 0  # every record up to this seq was applied to the engine
        self._follow_from = 0
        self._news = asyncio.Event()
        self._tick_due = False
        self._after_marker: Counter[bytes] = Counter()  # outputs a previous judge logged after its last marker
        self.outputs_not_relogged = 0

    # ── lifecycle ──────────────────────────────────────────────────────────

    async def start(self, *, replay: bool = True, prelude=None):
        if not replay:
            head = await asyncio.to_thread(self.log.last_seq)
            self._follow_from = self._marker = self._marker_seq = self._applied = head
        self._spawn(self._lead(asyncio.Event()), "wfm-floor-lock")
        report = await super().start(replay=replay, prelude=None)
        self._replayed.set()
        self._spawn(self._follow(), "wfm-floor-follow")
        self._spawn(self._apply_loop(), "wfm-floor-apply")
        if prelude is not None:
            await self.submit_many(prelude(report))
        return report

    async def replay_log(self, since: datetime | None = None) -> ReplayReport:
        """Rebuild the engine from the log up to the last judged marker; the rest is applied live."""
        since = since or self.replay_since()
        records = await asyncio.to_thread(lambda: list(self.log.read(since=since, kinds=[EVENT_KIND, AUDIT_KIND])))
        marker = marker_seq = 0
        for record in records:
            through = _judged_through(record)
            if through is not None and through >= marker:
                marker, marker_seq = through, record.seq
        judged = [r for r in records if r.seq <= marker]

        class _UpToMarker:
            def read(self, *args, **kwargs):
                return judged

        saved, self.log = self.log, _UpToMarker()
        try:
            report = await super().replay_log(since)
        finally:
            self.log = saved
        if marker:
            self._follow_from = marker
        elif records:  # nothing judged in the window yet: all of it is applied live
            self._follow_from = records[0].seq - 1
        else:
            self._follow_from = await asyncio.to_thread(self.log.last_seq)
        self._marker = self._applied = self._follow_from
        self._marker_seq = marker_seq or self._follow_from
        return report

    # ── ingest: every process logs its feeds' and API's events; nothing is judged here ──

    async def _process(self, batch: list[_Item]) -> None:
        appends = []
        for item in batch:
            if item.release is not None:  # a pause never enacted frees its place: a record every engine applies
                assert item.now is not None
                appends.append((item, self.log.append_async(AUDIT_KIND, item.release, item.now)))
                continue
            if item.tick:
                self._tick_pending = False
                if self.leader:
                    self._tick_due = True
                    self._news.set()
                if item.future is not None and not item.future.done():
                    item.future.set_result(None)
                continue
            appends.append((item, self.log.append_async(EVENT_KIND, event_to_builtins(item.event), item.event.ts)))
            if type(item.event) is AgentStateEvent and item.adapter is not None:
                self._agent_feed[item.event.agent] = item.adapter  # this process tells that agent's PBX
                self.enactor.watch.observe(item.event.agent, AgentState(item.event.state))
        if not appends:
            return
        acks = await asyncio.gather(*(coro for _, coro in appends), return_exceptions=True)
        for (item, _), ack in zip(appends, acks):
            if isinstance(ack, BaseException):
                self.events_failed += 1
                logger.error("event not logged, not acted on: %s: %r", type(item.event).__name__, ack)
                item.fail(ack)
            elif item.release is not None:
                if item.future is not None and not item.future.done():
                    item.future.set_result(None)
            elif item.future is not None:
                if ack.seq <= self._applied:  # already applied by the time the ack came back
                    item.future.set_result(self._results.pop(ack.seq, None))
                else:
                    self._awaiting[ack.seq] = item

    # ── the log, in order ──────────────────────────────────────────────────

    async def _follow(self) -> None:
        follow = self.log.follow(after_seq=self._follow_from, poll_s=self.follow_poll_s)
        try:
            async for record in follow:
                self._buffer.append(record)
                through = _judged_through(record)
                if through is not None and through > self._marker:
                    self._marker, self._marker_seq = through, record.seq
                self._news.set()
        finally:
            await _aclose(follow)

    async def _apply_loop(self) -> None:
        while True:
            await self._news.wait()
            self._news.clear()
            while await self._apply_some():
                pass

    async def _apply_some(self) -> bool:
        """Apply followed records (the judge: all of them; a standby: up to the marker). True if more wait."""
        leader = self.leader
        outputs: list[Output] = []
        released: list[HoldReleased] = []
        applied_any = False
        count = 0
        while self._buffer and count < _APPLY_BATCH:
            record = self._buffer[0]
            if not leader and _engine_input(record) and record.seq > self._marker:
                break  # a standby waits for the judge
            self._buffer.popleft()
            count += 1
            applied_any |= self._apply(record, leader, outputs, released)
            self._applied = record.seq
        if leader and not self._buffer and self._tick_due:
            self._tick_due = False
            marker = await self._append(AUDIT_KIND, {"type": TICK_TYPE}, self.now() - self._reorder_window)
            if marker is not None:
                self._own_seqs.discard(marker.seq)  # a tick marker is applied when it comes back, like any record
        if leader and applied_any:
            for output in outputs:
                await self._append(DECISION_KIND, msgspec.to_builtins(output), output.ts)
            for freed in released:
                await self._append(AUDIT_KIND, msgspec.to_builtins(freed), freed.ts)
            for output in outputs:
                self.publish(OutputPublished(output))
            for freed in released:
                self.publish(PlaceReleased(freed))
            await self._append(AUDIT_KIND, {"type": JUDGED_TYPE, "through": self._applied}, self.now())
        if applied_any:
            self.publish(FloorChanged(self.now()))
        return bool(self._buffer) and (leader or self._buffer[0].seq <= self._marker
                                       or not _engine_input(self._buffer[0]))

    def _apply(self, record: Any, leader: bool, outputs: list, released: list) -> bool:
        """One record into the engine (events, tick markers, freed places); decisions and actions published."""
        kind, body = record.kind, record.body
        own = record.seq in self._own_seqs
        if own:
            self._own_seqs.discard(record.seq)
        if kind == DECISION_KIND:
            if not own:
                self._decision_from_elsewhere(record, leader)
            return False
        if kind != EVENT_KIND and not _engine_input(record):
            return False  # PBX action records, judged markers, freed-place records: shown where they were made
        try:
            if kind == EVENT_KIND:
                event = event_from_builtins(body)
                result = self.engine.handle(event)
                self.events_processed += 1
            elif body.get("type") == RELEASE_TYPE:
                result = self._apply_release(body, record.ts.astimezone(self._tz))
            else:
                result = self.engine.tick(record.ts.astimezone(self._tz))
        except (EventDecodeError, msgspec.DecodeError) as exc:
            logger.warning("log record %s skipped: %s", record.seq, exc)
            return False
        except Exception as exc:
            self.events_failed += 1
            logger.exception("engine failed on log record %s", record.seq)
            item = self._awaiting.pop(record.seq, None)
            if item is not None and item.future is not None and not item.future.done():
                item.future.set_exception(exc)
            return True
        if leader:
            for bucket, produced in ((outputs, result.outputs), (released, getattr(result, "released", ()))):
                for output in produced:
                    key = _output_key(output)
                    if self._after_marker[key] > 0:  # the previous judge logged it after its last marker
                        self._after_marker[key] -= 1
                        self.outputs_not_relogged += 1
                        continue
                    bucket.append(output)
        assert self._actions is not None
        for action in result.actions:
            if action.agent in self._agent_feed:  # our feed reports that agent: we tell its PBX
                self._actions.put_nowait((action, None, None))
        item = self._awaiting.pop(record.seq, None)
        if item is not None and item.future is not None and not item.future.done():
            item.future.set_result(result)
        elif kind == EVENT_KIND:
            self._results[record.seq] = result
            if len(self._results) > _RECENT_RESULTS:
                self._results.popitem(last=False)
        return True

    def _decision_from_elsewhere(self, record: Any, leader: bool) -> None:
        try:
            output = msgspec.convert(record.body, Logged)
        except msgspec.ValidationError as exc:
            logger.warning("followed decision %s not published: %s", record.seq, exc)
            return
        if not leader:  # the judge's decisions reach this process's clients as they are committed
            self.publish(OutputPublished(output))

    async def _append(self, kind: str, body: dict, ts: datetime):
        try:
            record = await self.log.append_async(kind, body, ts)
        except Exception as exc:
            logger.error("%s %s not logged: %r", kind, body.get("type"), exc)
            return None
        self._own_seqs.add(record.seq)
        return record

    # ── the floor's lock ─────────────────────────────────────────────────

    async def _become_judge(self) -> None:
        """Judge from the replica's position on. The previous judge is gone (its lock died with its
        connection), so the log holds all it will ever log: the outputs it logged after its last
        judged marker are noted, and not logged again when the same records give them here."""
        await self._replayed.wait()
        after = self._marker_seq
        records = await asyncio.to_thread(lambda: [r for r in self.log.read(after_seq=after, kinds=[DECISION_KIND, AUDIT_KIND])
                                                   if r.kind == DECISION_KIND or r.body.get("type") == "hold_released"])
        self._after_marker = Counter(_output_key(record.body) for record in records)
        self.leader = True
        self.leads_since = time.time()
        self.takeovers += 1
        logger.warning("this process judges floor %r now (records after seq %d; %d outputs of the previous "
                       "judge after its last marker)", self.floor_id, self._marker, len(records))
        self._news.set()

    async def _lead(self, tried: asyncio.Event) -> None:
        import psycopg

        key = floor_lock_key(self.floor_id)
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.log.url, autocommit=True, connect_timeout=5)
                async with conn:
                    while True:
                        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                        got = bool((await cursor.fetchone())[0])
                        if got and not self.leader:
                            await self._become_judge()
                        tried.set()
                        if got:  # held as long as this connection lives
                            while True:
                                await asyncio.sleep(self.lead_retry_s)
                                await conn.execute("SELECT 1")
                        await asyncio.sleep(self.lead_retry_s)
            except asyncio.CancelledError:
                self.leader = False
                raise
            except psycopg.Error as exc:
                if self.leader:
                    # another process may judge now; this one stops at once (it cannot know otherwise)
                    logger.error("floor %r: judge lock lost (%s); standing by", self.floor_id,
                                 str(exc).strip().splitlines()[0] if str(exc) else exc)
                self.leader = False
                tried.set()
                await asyncio.sleep(self.lead_retry_s)


async def _aclose(agen: AsyncIterator) -> None:
    closer = getattr(agen, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except RuntimeError:
            pass


SharedRuntime = FloorRuntime  # the name benchmarks/scaleout.py and older callers use


def runtime_class(url: str) -> type[Runtime]:
    """FloorRuntime for a PostgreSQL log (other processes may share it), else Runtime."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    return FloorRuntime if scheme in ("postgresql", "postgres") else Runtime
