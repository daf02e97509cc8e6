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

The design plugs into the runtime through its one explicit hook, a Sequencer
(wfm/runtime.py): `FloorJudge` takes each batch from the runtime's inbox,
appends it to the shared log, and applies records in log order through the
runtime's public methods. `FloorRuntime` is a Runtime built with one.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncGenerator, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from wfm.clock import Clock
from wfm.config import Config
from wfm.decisions import HoldReleased, Output
from wfm.events import EventDecodeError, event_from_builtins, event_to_builtins
from wfm.ports import EnginePort, EngineStep, FeedPort, LoggedRecord, SharedLogPort
from wfm.runtime import (
    AUDIT_KIND,
    DECISION_KIND,
    EVENT_KIND,
    NO_STEP,
    RELEASE_TYPE,
    TICK_TYPE,
    FloorChanged,
    Input,
    OutputPublished,
    PlaceReleased,
    ReplayReport,
    Runtime,
)

logger = logging.getLogger(__name__)

JUDGED_TYPE = "judged"
Logged = Output | HoldReleased  # what the judge logs as decision records
_sorted = msgspec.json.Encoder(order="sorted")
_APPLY_BATCH = 512
_RECENT_RESULTS = 10_000  # results of applied events kept for an ack that comes back after its record
_Kept = TypeVar("_Kept", Output, HoldReleased)


def _output_key(body: object) -> bytes:
    """An output's identity: its record body as canonical JSON (the same for the engine's struct and the log's dict)."""
    return _sorted.encode(body if isinstance(body, dict) else msgspec.to_builtins(body))


def floor_lock_key(floor_id: str) -> int:
    """The PostgreSQL advisory lock key of a floor (a signed 64-bit int from its id)."""
    digest = hashlib.sha256(b"wfm-floor-judge:" + floor_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _engine_input(record: LoggedRecord) -> bool:
    """Events, tick markers and freed places move an engine; everything else is only published."""
    return record.kind == EVENT_KIND or (record.kind == AUDIT_KIND and record.body.get("type") in (TICK_TYPE, RELEASE_TYPE))


def _judged_through(record: LoggedRecord) -> int | None:
    body = record.body
    through = body.get("through")
    if record.kind == AUDIT_KIND and body.get("type") == JUDGED_TYPE and isinstance(through, int):
        return through
    return None


class FloorJudge:
    """The runtime's Sequencer for a shared log: inputs are appended, the engine applies the log in
    order, and the holder of the floor's lock judges (logs the outputs and a judged marker).

    lead_retry_s: a standby retries the lock (the judge pings its lock connection) this often;
    follow_poll_s: the log is read this often when no NOTIFY came.
    """

    def __init__(self, log: SharedLogPort, floor_id: str, *, follow_poll_s: float = 0.5,
                 lead_retry_s: float = 0.5) -> None:
        self.log = log
        self.floor_id = floor_id
        self.follow_poll_s = follow_poll_s
        self.lead_retry_s = lead_retry_s
        self.leader = False
        self.leads_since: float | None = None  # time.time() this process became the judge
        self.takeovers = 0
        self.outputs_not_relogged = 0
        self._floor: Runtime | None = None
        self._own_seqs: set[int] = set()  # records this process appended (outputs, markers) — not events
        self._awaiting: dict[int, Input] = {}  # seq of a submitted event -> its input (its caller waits)
        self._results: OrderedDict[int, EngineStep] = OrderedDict()  # seq -> step of recently applied events
        self._buffer: deque[LoggedRecord] = deque()  # followed records not yet applied
        self._marker = 0  # the highest `through` of a judged marker seen
        self._marker_seq = 0  # the seq of the record that carried it
        self._replayed = asyncio.Event()  # the engine is rebuilt: judging may start
        self._applied = 0  # every record up to this seq was applied to the engine
        self._follow_from = 0
        self._news = asyncio.Event()
        self._tick_due = False
        self._after_marker: Counter[bytes] = Counter()  # outputs a previous judge logged after its last marker

    @property
    def floor(self) -> Runtime:
        if self._floor is None:
            raise RuntimeError("FloorJudge is not bound to a Runtime")
        return self._floor

    # ── the Sequencer hook (wfm/runtime.py) ───────────────────────────────

    def bind(self, floor: Runtime) -> None:
        self._floor = floor

    async def prepare(self, *, replay: bool) -> ReplayReport | None:
        """Take part in the lock contest, then rebuild the engine from the log up to the last judged
        marker (the rest is applied live), or start from the log's head."""
        report = None
        if not replay:
            head = await asyncio.to_thread(self.log.last_seq)
            self._follow_from = self._marker = self._marker_seq = self._applied = head
        self.floor.spawn(self._lead(), "wfm-floor-lock")
        if replay:
            report = await self._replay()
        return report

    def begin(self) -> None:
        self._replayed.set()
        self.floor.spawn(self._follow(), "wfm-floor-follow")
        self.floor.spawn(self._apply_loop(), "wfm-floor-apply")

    async def sequence(self, batch: Sequence[Input]) -> None:
        """Every process logs its feeds' and API's events (and freed places); nothing is judged here.
        A tick asks the judge for a tick marker."""
        floor = self.floor
        appends: list[tuple[Input, tuple[str, dict[str, Any], datetime]]] = []
        for item in batch:
            if item.release is not None:  # a pause never enacted frees its place: a record every engine applies
                assert item.now is not None
                appends.append((item, (AUDIT_KIND, item.release, item.now)))
            elif item.tick:
                if self.leader:
                    self._tick_due = True
                    self._news.set()
            elif item.event is not None:
                appends.append((item, (EVENT_KIND, event_to_builtins(item.event), item.event.ts)))
        if not appends:
            return
        acks = await floor.append_group([record for _, record in appends])
        for (item, _), ack in zip(appends, acks):
            if isinstance(ack, BaseException):
                floor.events_failed += 1
                logger.error("event not logged, not acted on: %s: %r", type(item.event).__name__, ack)
                item.fail(ack)
            elif item.release is not None:
                item.answer(NO_STEP)  # applied when its record comes back, like any record
            elif item.future is not None:
                if ack.seq <= self._applied:  # already applied by the time the ack came back
                    item.answer(self._results.pop(ack.seq, NO_STEP))
                else:
                    self._awaiting[ack.seq] = item

    # ── restart ────────────────────────────────────────────────────────────

    async def _replay(self) -> ReplayReport:
        floor = self.floor
        since = floor.replay_since()
        records = await asyncio.to_thread(lambda: list(self.log.read(since=since, kinds=[EVENT_KIND, AUDIT_KIND])))
        marker = marker_seq = 0
        for record in records:
            through = _judged_through(record)
            if through is not None and through >= marker:
                marker, marker_seq = through, record.seq
        report = await floor.replay_records([r for r in records if r.seq <= marker])
        if marker:
            self._follow_from = marker
        elif records:  # nothing judged in the window yet: all of it is applied live
            self._follow_from = records[0].seq - 1
        else:
            self._follow_from = await asyncio.to_thread(self.log.last_seq)
        self._marker = self._applied = self._follow_from
        self._marker_seq = marker_seq or self._follow_from
        return report

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
            if isinstance(follow, AsyncGenerator):
                try:
                    await follow.aclose()
                except RuntimeError:
                    pass

    async def _apply_loop(self) -> None:
        while True:
            await self._news.wait()
            self._news.clear()
            while await self._apply_some():
                pass

    async def _apply_some(self) -> bool:
        """Apply followed records (the judge: all of them; a standby: up to the marker). True if more wait."""
        floor = self.floor
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
            marker = await self._append(AUDIT_KIND, {"type": TICK_TYPE}, floor.now() - floor.reorder_window)
            if marker is not None:
                self._own_seqs.discard(marker.seq)  # a tick marker is applied when it comes back, like any record
        if leader and applied_any:
            for output in outputs:
                await self._append(DECISION_KIND, msgspec.to_builtins(output), output.ts)
            for freed in released:
                await self._append(AUDIT_KIND, msgspec.to_builtins(freed), freed.ts)
            for output in outputs:
                floor.publish(OutputPublished(output))
            for freed in released:
                floor.publish(PlaceReleased(freed))
            await self._append(AUDIT_KIND, {"type": JUDGED_TYPE, "through": self._applied}, floor.now())
        if applied_any:
            floor.publish(FloorChanged(floor.now()))
        return bool(self._buffer) and (leader or self._buffer[0].seq <= self._marker
                                       or not _engine_input(self._buffer[0]))

    def _apply(self, record: LoggedRecord, leader: bool, outputs: list[Output], released: list[HoldReleased]) -> bool:
        """One record into the engine (events, tick markers, freed places); decisions and actions published."""
        floor = self.floor
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
                result = floor.engine.handle(event_from_builtins(body))
                floor.events_processed += 1
            elif body.get("type") == RELEASE_TYPE:
                result = floor.apply_release(body, record.ts.astimezone(floor.tz))
            else:
                result = floor.engine.tick(record.ts.astimezone(floor.tz))
        except (EventDecodeError, msgspec.DecodeError) as exc:
            logger.warning("log record %s skipped: %s", record.seq, exc)
            return False
        except Exception as exc:
            floor.events_failed += 1
            logger.exception("engine failed on log record %s", record.seq)
            failed = self._awaiting.pop(record.seq, None)
            if failed is not None:
                failed.fail(exc)
            return True
        if leader:
            self._keep_new(result.outputs, outputs)
            self._keep_new(result.released, released)
        for action in result.actions:
            if floor.reports_agent(action.agent):  # our feed reports that agent: we tell its PBX
                floor.enforce(action)
        waiting = self._awaiting.pop(record.seq, None)
        if waiting is not None:
            waiting.answer(result)
        elif kind == EVENT_KIND:
            self._results[record.seq] = result
            if len(self._results) > _RECENT_RESULTS:
                self._results.popitem(last=False)
        return True

    def _keep_new(self, produced: Iterable[_Kept], bucket: list[_Kept]) -> None:
        """The judge's outputs to log: all but those the previous judge logged after its last marker."""
        for output in produced:
            key = _output_key(output)
            if self._after_marker[key] > 0:
                self._after_marker[key] -= 1
                self.outputs_not_relogged += 1
                continue
            bucket.append(output)

    def _decision_from_elsewhere(self, record: LoggedRecord, leader: bool) -> None:
        try:
            output = msgspec.convert(record.body, Logged)
        except msgspec.ValidationError as exc:
            logger.warning("followed decision %s not published: %s", record.seq, exc)
            return
        if not leader:  # the judge's decisions reach this process's clients as they are committed
            self.floor.publish(PlaceReleased(output) if isinstance(output, HoldReleased) else OutputPublished(output))

    async def _append(self, kind: str, body: dict[str, Any], ts: datetime) -> LoggedRecord | None:
        try:
            record = await self.floor.log.append_async(kind, body, ts)
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

    async def _lead(self) -> None:
        import psycopg

        key = floor_lock_key(self.floor_id)
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.log.url, autocommit=True, connect_timeout=5)
                async with conn:
                    while True:
                        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                        row = await cursor.fetchone()
                        got = row is not None and bool(row[0])
                        if got and not self.leader:
                            await self._become_judge()
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
                await asyncio.sleep(self.lead_retry_s)


class FloorRuntime(Runtime):
    """A Runtime sequenced by a FloorJudge: its engine applies the shared log in order; the floor's
    lock holder judges. Only the constructor is its own; `judge` is the sequencer."""

    def __init__(self, config: Config, engine: EnginePort, log: SharedLogPort, adapters: Iterable[FeedPort],
                 clock: Clock, *, floor_id: str | None = None, follow_poll_s: float = 0.5,
                 lead_retry_s: float = 0.5, speed: float = 1.0) -> None:
        self.judge = FloorJudge(log, floor_id or config.storage.floor_id,
                                follow_poll_s=follow_poll_s, lead_retry_s=lead_retry_s)
        super().__init__(config, engine, log, adapters, clock, sequencer=self.judge, speed=speed)

    @property
    def floor_id(self) -> str:
        return self.judge.floor_id

    @property
    def leader(self) -> bool:
        """This process judges its floor now."""
        return self.judge.leader

    @property
    def takeovers(self) -> int:
        return self.judge.takeovers


SharedRuntime = FloorRuntime  # the name benchmarks/scaleout.py and older callers use


def runtime_class(url: str) -> type[Runtime]:
    """FloorRuntime for a PostgreSQL log (other processes may share it), else Runtime."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    return FloorRuntime if scheme in ("postgresql", "postgres") else Runtime
