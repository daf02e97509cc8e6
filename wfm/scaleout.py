"""Several `wfm serve` processes, one whole-centre floor: scale-out over a shared PostgreSQL log.

One process per site or PBX, all with the same `storage.url = postgresql://…`:

    site A: feed ami:pbx-a ─► SharedRuntime A ─┐                ┌─► wall board A (whole centre)
                                                ├─► one log ◄────┤
    site B: feed ami:pbx-b ─► SharedRuntime B ─┘  (hash chain,   └─► wall board B (whole centre)
                                                   NOTIFY)

Each process logs its own feed's and API's events exactly as a single
`Runtime` does. It also follows the log (`EventLog.follow()`, LISTEN/NOTIFY
plus polling) from the last seq its start-up replay applied, and hands every
event record committed by ANOTHER process to its own engine without logging
it again. So every engine sees every agent and every wall board shows the
whole centre.

Own or foreign. Appends go through `_OwnRecords`, which notes the seq of each
record this process committed. A followed record whose seq is not ours is
foreign once no own append still in flight could own that seq (group-commit
batches commit and are acknowledged in seq order, so once an own append with
a later seq was acknowledged, or none is in flight, the question is settled).

Who is authoritative (logs, publishes and enforces) — nothing is logged twice:

- Outputs of an EVENT (break decisions, violations …): the process that
  logged the event. A foreign event's outputs are computed (the engine's
  state moves) but dropped; the author's decision records arrive through the
  follower and are published to this process's subscribers as they are.
- Outputs of a TICK (timers: overdue breaks, late sign-in, floor alerts):
  the process owning the agent the output names, i.e. the one with a feed
  whose `source` last reported that agent's state (seen live or in the
  replay). Outputs naming no agent, or an agent no feed reported (e.g. only a
  shift is known), are logged by the floor LEADER: the one process holding a
  PostgreSQL advisory lock on its own connection (taken over by another
  process within `lead_retry_s` when the leader dies). Engines reach a timer
  at different moments and ownership can be learnt late, so a timer output
  identical to one another process already logged (seen by the follower) is
  not logged again either; and before the engine acts on an own event, the
  follower first catches up to that event's seq (`catch_up_s` at most), so an
  output another process logged earlier is known and not logged twice.
- PBX actions (QueuePause …): only the process owning the agent's feed sends
  them, whichever process decided; the leader sends those for agents no feed
  owns. Another site's PBX is never told twice, nor by the wrong process.

Known limits: an output the leader's timer makes for an agent no feed has
reported yet may race the owner's first report of that agent (both logged,
milliseconds apart). Each engine applies foreign events when they arrive, so two
engines can interleave the same events differently (seconds apart); a
contested floor-wide limit (concurrent 小休) may then be judged differently
by two processes, and the author's logged decision is the one that counts.
Ticks are per process: another process's tick markers are not applied live.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

import msgspec

from wfm.clock import Clock
from wfm.config import Config
from wfm.decisions import Output
from wfm.events import AgentStateEvent, Event, EventDecodeError, event_from_builtins
from wfm.enactment import ActionRecord
from wfm.ports import EnginePort, EngineStep, FeedPort, LoggedRecord, LogPort
from wfm.runtime import (
    ACTION_KIND,
    DECISION_KIND,
    EVENT_KIND,
    ActionDone,
    Authorized,
    OutputPublished,
    ReplayReport,
    Runtime,
)

logger = logging.getLogger(__name__)

LEADER_LOCK = 0x5746_4D46  # advisory lock key ("WFMF"): the floor leader
_SEEN_MAX = 20_000  # other processes' outputs remembered, so a timer output they logged is not logged again


def should_log(agent: str | None, owners: dict[str, str | None], own_sources: frozenset[str],
               leader: bool) -> bool:
    """Whether this process is authoritative for a timer output or PBX action naming `agent`.

    The owner is the process whose feed (by `source`) last reported the agent;
    no agent, or an agent no feed reported, falls to the leader.
    """
    source = owners.get(agent) if agent else None
    if source is None:
        return leader
    return source in own_sources


class SharedLog(LogPort, Protocol):
    """A log several processes append to and follow (wfm.eventlog.PostgresEventLog)."""

    url: str

    def last_seq(self) -> int: ...
    def follow(self, after_seq: int | None = None, poll_s: float = 0.5) -> AsyncIterator[LoggedRecord]: ...


class _OwnRecords:
    """The shared log as the runtime sees it (a LogPort), noting which seqs this process committed."""

    def __init__(self, log: SharedLog) -> None:
        self._log = log
        self.own: set[int] = set()
        self.in_flight = 0
        self.max_acked = 0
        self.changed = asyncio.Event()
        self.tracking = False  # while on, `read` notes the highest seq it yields (the start-up replay)
        self.max_read = 0
        self.following = False  # the follower runs: an own event waits (catch_up_s at most) until it passed
        self.passed = 0  # every record up to this seq was seen by the follower
        self.passed_changed = asyncio.Event()
        self.catch_up_s = 0.5
        self.catch_up_timeouts = 0

    @property
    def url(self) -> str:
        return self._log.url

    def last_seq(self) -> int:
        return self._log.last_seq()

    def follow(self, after_seq: int | None = None, poll_s: float = 0.5) -> AsyncIterator[LoggedRecord]:
        return self._log.follow(after_seq=after_seq, poll_s=poll_s)

    def verify(self, progress: Callable[[int], None] | None = None) -> Any:
        return self._log.verify(progress)

    async def aclose(self) -> None:
        await self._log.aclose()

    async def append_async(self, kind: str, body: dict[str, Any], ts: datetime) -> LoggedRecord:
        self.in_flight += 1
        try:
            record = await self._log.append_async(kind, body, ts)
        finally:
            self.in_flight -= 1
            self.changed.set()
        self.own.add(record.seq)
        if record.seq > self.max_acked:
            self.max_acked = record.seq
        if kind == EVENT_KIND and self.following:
            # before the engine acts on our event, every output other processes logged before it is known
            await self.wait_passed(record.seq - 1)
        return record

    def mark_passed(self, seq: int) -> None:
        self.passed = seq
        self.passed_changed.set()

    async def wait_passed(self, seq: int) -> None:
        if self.passed >= seq:
            return
        try:
            async with asyncio.timeout(self.catch_up_s):
                while self.passed < seq:
                    self.passed_changed.clear()
                    await self.passed_changed.wait()
        except TimeoutError:
            self.catch_up_timeouts += 1
            if self.catch_up_timeouts == 1 or self.catch_up_timeouts % 1000 == 0:
                logger.warning("the log follower is %d records behind; acting without waiting (%d times)",
                               seq - self.passed, self.catch_up_timeouts)

    def read(self, since: datetime | None = None, until: datetime | None = None,
             kinds: Iterable[str] | None = None, *, after_seq: int | None = None,
             limit: int | None = None) -> Iterable[LoggedRecord]:
        records = self._log.read(since, until, kinds, after_seq=after_seq, limit=limit)
        if not self.tracking:
            return records
        return self._noting(records)

    def _noting(self, records: Iterable[LoggedRecord]) -> Iterator[LoggedRecord]:
        for record in records:
            if record.seq > self.max_read:
                self.max_read = record.seq
            yield record

    async def is_own(self, seq: int) -> bool:
        """Whether record `seq` was committed by this process (waits while that is still open)."""
        while seq not in self.own and self.in_flight and self.max_acked < seq:
            self.changed.clear()
            await self.changed.wait()
        if seq in self.own:
            self.own.discard(seq)
            return True
        return False


class _Authority:
    """The StepPolicy of a process sharing the floor: it notes which feed reported each agent and
    keeps only the outputs and actions this process is authoritative for (module docstring)."""

    def __init__(self, own_sources: frozenset[str]) -> None:
        self.own_sources = own_sources
        self.owners: dict[str, str | None] = {}
        self.leader = False
        self.logged_elsewhere: OrderedDict[bytes, None] = OrderedDict()  # recent outputs other processes logged

    def note_logged_elsewhere(self, output: Output) -> None:
        self.logged_elsewhere[msgspec.json.encode(output)] = None
        while len(self.logged_elsewhere) > _SEEN_MAX:
            self.logged_elsewhere.popitem(last=False)

    def mine(self, agent: str | None) -> bool:
        return should_log(agent, self.owners, self.own_sources, self.leader)

    def authorize(self, event: Event | None, step: EngineStep, *, followed: bool) -> Authorized:
        if type(event) is AgentStateEvent and event.source is not None:
            self.owners[event.agent] = event.source
        actions = tuple(a for a in step.actions if self.mine(a.agent))
        # every process's engine frees the same held places at the same instants: the owner logs them
        released = tuple(r for r in getattr(step, "released", ()) if self.mine(r.agent))
        if followed:  # the author logged its outputs; they arrive as decision records
            return Authorized((), actions, released)
        outputs = tuple(step.outputs)
        if event is None:  # a timer: the agent's owner logs it, unless another process already did
            outputs = tuple(o for o in outputs if self.mine(getattr(o, "agent", None))
                            and msgspec.json.encode(o) not in self.logged_elsewhere)
        elif self.logged_elsewhere:
            outputs = tuple(o for o in outputs if msgspec.json.encode(o) not in self.logged_elsewhere)
        return Authorized(outputs, actions, released)


class SharedRuntime(Runtime):
    """A Runtime that shares its PostgreSQL log (and so the whole floor) with other processes.

    follow_poll_s: the follower reads the log this often when no NOTIFY came; lead_retry_s: a
    non-leader retries the leader lock (and the leader checks its lock connection) this often;
    catch_up_s: the longest an own event waits for the follower before the engine acts on it.
    """

    def __init__(self, config: Config, engine: EnginePort, log: SharedLog, adapters: Iterable[FeedPort],
                 clock: Clock, *, follow_poll_s: float = 2.0, lead_retry_s: float = 2.0,
                 catch_up_s: float = 0.5, speed: float = 1.0) -> None:
        adapters = list(adapters)
        self._owned = _Authority(frozenset(a.source for a in adapters))
        self._records = _OwnRecords(log)
        self._records.catch_up_s = catch_up_s
        super().__init__(config, engine, self._records, adapters, clock, policy=self._owned, speed=speed)
        self.follow_poll_s = follow_poll_s
        self.lead_retry_s = lead_retry_s
        self.follow_from: int | None = None

    @property
    def leader(self) -> bool:
        """Whether this process holds the floor-leader lock (logs what no feed owns)."""
        return self._owned.leader

    @property
    def owners(self) -> dict[str, str | None]:
        return self._owned.owners

    @property
    def foreign_events(self) -> int:
        """Events other processes logged that this engine applied."""
        return self.events_followed

    async def start(self, *, replay: bool = True,
                    prelude: Callable[[ReplayReport | None], Iterable[Event]] | None = None) -> ReplayReport | None:
        if not replay:
            self.follow_from = await asyncio.to_thread(self._records.last_seq)
        tried = asyncio.Event()
        self._spawn(self._lead(tried), "wfm-scaleout-leader")
        await tried.wait()  # the first try settles who logs the floor-wide outputs from the start
        report = await super().start(replay=replay, prelude=prelude)
        self._spawn(self._follow(), "wfm-scaleout-follower")
        return report

    async def replay_log(self, since: datetime | None = None) -> ReplayReport:
        before = await asyncio.to_thread(self._records.last_seq)
        self._records.tracking, self._records.max_read = True, 0
        try:
            report = await super().replay_log(since)
        finally:
            self._records.tracking = False
        self.follow_from = max(before, self._records.max_read)
        return report

    # ── following the other processes ─────────────────────────────────────

    async def _follow(self) -> None:
        records = self._records
        records.mark_passed(self.follow_from or 0)
        records.following = True
        follow = records.follow(after_seq=self.follow_from, poll_s=self.follow_poll_s)
        try:
            async for record in follow:
                if not await records.is_own(record.seq):
                    await self._apply_foreign(record)
                records.mark_passed(record.seq)
        finally:
            records.following = False
            await _aclose(follow)

    async def _apply_foreign(self, record: LoggedRecord) -> None:
        kind, body = record.kind, record.body
        if kind == EVENT_KIND:
            try:
                event = event_from_builtins(body)
            except (EventDecodeError, msgspec.DecodeError) as exc:
                logger.warning("followed log record %s skipped: %s", record.seq, exc)
                return
            if type(event) is AgentStateEvent and event.source is not None:
                self._owned.owners[event.agent] = event.source  # known before the next tick's outputs
            await self.apply_followed(event)
        elif kind == DECISION_KIND:
            try:
                output = msgspec.convert(body, Output)
            except msgspec.ValidationError as exc:
                logger.warning("followed decision %s not published: %s", record.seq, exc)
                return
            self._owned.note_logged_elsewhere(output)
            self.publish(OutputPublished(output))
        elif kind == ACTION_KIND:
            try:
                result = msgspec.convert(body, ActionRecord)
            except (msgspec.ValidationError, TypeError) as exc:
                logger.debug("followed action %s not published: %s", record.seq, exc)
                return
            self.publish(ActionDone(record.ts, result))

    # ── the floor leader ──────────────────────────────────────────────────

    async def _lead(self, tried: asyncio.Event) -> None:
        import psycopg

        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._records.url, autocommit=True, connect_timeout=5)
                async with conn:
                    while True:
                        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,))
                        got = bool((await cursor.fetchone())[0])
                        if got and not self._owned.leader:
                            logger.info("this process is the floor leader (logs alerts and agents no feed owns)")
                        self._owned.leader = got
                        tried.set()
                        if got:  # hold it: the lock lives as long as this connection
                            while True:
                                await asyncio.sleep(self.lead_retry_s)
                                await conn.execute("SELECT 1")
                        await asyncio.sleep(self.lead_retry_s)
            except asyncio.CancelledError:
                self._owned.leader = False
                raise
            except psycopg.Error as exc:
                if self._owned.leader:
                    logger.warning("floor leader lock lost: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
                self._owned.leader = False
                tried.set()
                await asyncio.sleep(self.lead_retry_s)


async def _aclose(agen: AsyncIterator[Any]) -> None:
    closer = getattr(agen, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except RuntimeError:
            pass


def runtime_class(url: str) -> type[Runtime]:
    """SharedRuntime for a PostgreSQL log (other processes may share it), else Runtime."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    return SharedRuntime if scheme in ("postgresql", "postgres") else Runtime
