"""The live floor's single owner (Home Assistant DataUpdateCoordinator style).

    adapters' streams ─┐
    API submissions ───┼─► inbox ─► one consumer task:
    clock ticks ───────┘             log "event" (durable) ─► engine.handle / tick
                                     ─► log outputs (durable) ─► publish to subscribers
                                     ─► enforcement queue ─► adapter.set_paused ─► log "action"

The engine is only ever called from the consumer task, so it is never
re-entered. The runtime sees its parts only through typed ports (wfm/ports.py:
FeedPort, LogPort, EnginePort). One explicit hook lets several processes share
one floor (wfm/scaleout.py, one judge per floor): a `Sequencer` takes each
batch from the inbox and decides when the engine applies it (there: in the
shared log's order), through the runtime's public methods. Clock skew and tick
watermarks are in wfm/watermark.py. An event is acknowledged by the log before the engine acts on it,
and a decision, violation or alert is acknowledged before anyone sees it or
the PBX is told. On start the engine is rebuilt by replaying the log's events
(budgets survive a restart), then each adapter's fresh snapshot resyncs it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Protocol

import msgspec

from wfm.clock import Clock
from wfm.config import Config
from wfm.decisions import Alert, HoldReleased, Output
from wfm.enactment import ActionRecord, Enactor
from wfm.events import (
    AgentState,
    AgentStateEvent,
    Event,
    EventDecodeError,
    ResyncEvent,
    ShiftEvent,
    event_from_builtins,
    event_to_builtins,
)
from wfm.ports import EnginePort, EngineStep, FeedPort, LogPort, LoggedRecord, PauseAction
from wfm.views import AgentBudgetView, FeedView, FloorView
from wfm.watermark import FeedBacklog, PbxClockSkew, tick_bounds

logger = logging.getLogger(__name__)

EVENT_KIND = "event"
ACTION_KIND = "action"
_NOT_DONE = frozenset({"failed", "not_enacted"})  # PBX action outcomes that left the PBX as it was
AUDIT_KIND = "audit"
TICK_TYPE = "tick"  # audit marker: the engine's clock was ticked to this record's ts
RELEASE_TYPE = "release_hold"  # audit marker: an allowed break's place freed, the PBX never paused it (replayed)
DECISION_KIND = "decision"  # every §2 record: break_decision, violation, alert (its body carries "type")
_INBOX_MAX = 10_000
_BATCH_MAX = 256
_STOP_TIMEOUT_S = 1.5
_MIN_TICK_WALL_S = 0.02


class RuntimeStopped(RuntimeError):
    """The runtime is not running (not started yet, or stopping)."""


class OutputPublished(msgspec.Struct, frozen=True):
    """A decision, violation or alert, already durable in the log."""

    output: Output


class FloorChanged(msgspec.Struct, frozen=True):
    """The floor changed at `ts` (subscribers re-read the view when they want it)."""

    ts: datetime


class ActionDone(msgspec.Struct, frozen=True):
    """A step of a PBX action (sent, retry, failed, confirmed, not enacted, manual), already logged."""

    ts: datetime
    result: ActionRecord


class PlaceReleased(msgspec.Struct, frozen=True):
    """An allowed break's held place was freed before the break started (lapsed or not
    enacted, docs/break-holds.md); its audit record is already in the log."""

    record: HoldReleased


Update = OutputPublished | FloorChanged | ActionDone | PlaceReleased
Subscriber = Callable[[Update], None]


@dataclass(frozen=True)
class NoStep:
    """An empty engine step: the answer to an input the engine applies later, elsewhere or never
    (a freed place logged for a sequencer, an event whose step was no longer kept)."""

    outputs: tuple[Output, ...] = ()
    actions: tuple[PauseAction, ...] = ()
    released: tuple[HoldReleased, ...] = ()


NO_STEP = NoStep()


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    skipped: int
    last_ts: datetime | None
    shifts: frozenset[tuple[str, datetime]] = frozenset()  # (agent, start) of every logged shift event

    def has_shift(self, event: ShiftEvent) -> bool:
        return (event.agent, event.start) in self.shifts


class Input:
    """One unit of work from the inbox, in arrival order: an event (from a feed, or the API when
    `adapter` is None), a tick, or a held place to free (`release`, its audit record body).
    A Sequencer reads these fields and answers the caller (answer, fail)."""

    __slots__ = ("event", "adapter", "future", "tick", "now", "marked", "enactments", "release")

    def __init__(self, event: Event | None, adapter: FeedPort | None = None,
                 future: asyncio.Future[EngineStep] | None = None, tick: bool = False) -> None:
        self.event = event
        self.adapter = adapter
        self.future = future
        self.tick = tick
        self.now: datetime | None = None  # a tick's time, fixed when the batch is logged; a release's time
        self.marked = False  # a tick whose marker is in the log
        # submit_enacted(): the outcomes of its PBX actions
        self.enactments: list[asyncio.Future[ActionRecord]] | None = None
        self.release: dict[str, Any] | None = None  # a held place to free (a pause never enacted): its audit record

    def answer(self, step: EngineStep) -> None:
        """The engine applied this input: its caller (submit, submit_many) gets `step`."""
        if self.future is not None and not self.future.done():
            self.future.set_result(step)

    def fail(self, exc: BaseException) -> None:
        """This input was not logged or not applied: its caller gets `exc`."""
        if self.future is not None and not self.future.done():
            self.future.set_exception(exc)


_Done = tuple[Input, EngineStep]  # an input the engine acted on, and its step
_Append = tuple[str, dict[str, Any], datetime]  # one log record to write: kind, body, ts


class Sequencer(Protocol):
    """When the engine applies the floor's inputs: the hook for one judge per floor (wfm/scaleout.py).

    Without a sequencer the runtime applies each batch from its inbox at once, in arrival order:
    inputs durable in the log, the engine acts, outputs durable, then publish and enforce. With
    one, the runtime still owns the inbox, the feeds, the ticker, enforcement and the subscribers,
    and hands every batch to `sequence`; the sequencer makes the inputs durable and has the engine
    apply them when and in the order it decides (FloorJudge: the shared log's order, outputs logged
    only while it holds the floor's lock), using only the runtime's public methods: `engine`,
    `log`, `replay_records`, `apply_release`, `enforce`, `reports_agent`, `publish`, `spawn`,
    `now`, `tz`, `reorder_window`. It answers every Input (answer, fail) once applied.
    """

    def bind(self, floor: Runtime) -> None:
        """The runtime it sequences (called once, by Runtime.__init__)."""
        ...

    async def prepare(self, *, replay: bool) -> ReplayReport | None:
        """Runtime.start, before any task runs: rebuild the engine from the log (replay=True:
        its report), or start from the log's head (replay=False: None)."""
        ...

    def begin(self) -> None:
        """Runtime.start, once the consumer and the enforcer run and before any input is taken:
        start the sequencer's own tasks (Runtime.spawn; Runtime.stop cancels them)."""
        ...

    async def sequence(self, batch: Sequence[Input]) -> None:
        """One batch from the inbox, in arrival order (the runtime has already noted which feed
        reports each agent and cleared the ticker's pending flag)."""
        ...


class Runtime:
    """Feeds, engine, log and subscribers wired into one live floor."""

    def __init__(
        self,
        config: Config,
        engine: EnginePort,
        log: LogPort,
        adapters: Iterable[FeedPort],
        clock: Clock,
        *,
        sequencer: Sequencer | None = None,
        speed: float = 1.0,
    ) -> None:
        """`speed`: how fast `clock` runs against wall time (a simulator's), for the tick interval;
        `sequencer`: when the engine applies the inputs (default: at once, in arrival order)."""
        self.config = config
        self.sequencer = sequencer
        self.speed = speed if speed > 0 else 1.0
        self.engine = engine
        self.log = log
        self.adapters: list[FeedPort] = list(adapters)
        self.clock = clock
        self._tz: tzinfo = config.floor.tz
        self._reorder_window = timedelta(seconds=config.floor.reorder_window_s)
        self._inbox: asyncio.Queue[Input] | None = None
        self._actions: asyncio.Queue[tuple[PauseAction, FeedPort | None, asyncio.Future[ActionRecord] | None]] | None = None
        self._agent_locks: dict[str, asyncio.Lock] = {}  # one PBX action at a time per agent, in order
        pbx = config.pbx
        self.enactor = Enactor(
            confirm_s=pbx.confirm_s, retries=pbx.action_retries,
            retry_initial_s=pbx.action_retry_initial_s, retry_max_s=pbx.action_retry_max_s,
            record=self._record_action, alert=self._alert_action, release=self._release_place,
            resync=self._request_resync,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscribers: list[Subscriber] = []
        self._agent_feed: dict[str, FeedPort] = {}
        self._running = False
        self._stopped = False
        self._tick_pending = False
        self._clock_ahead: datetime | None = None  # latest tick time not yet marked in the log
        self._skew = PbxClockSkew(config.floor.reorder_window_s)
        self.events_processed = 0
        self.events_failed = 0
        self.replay: ReplayReport | None = None
        self._first_snapshot: dict[int, asyncio.Event] = {}  # per adapter: its first ResyncEvent end is queued
        self._backlog = FeedBacklog()  # a tick never runs the floor clock past a queued feed event
        if sequencer is not None:
            sequencer.bind(self)

    # ── lifecycle ──────────────────────────────────────────────────────────

    @property
    def running(self) -> bool:
        return self._running

    @property
    def tz(self) -> tzinfo:
        """The floor's zone (floor.tz)."""
        return self._tz

    @property
    def reorder_window(self) -> timedelta:
        """How late a feed event may still arrive (floor.reorder_window_s): ticks lag the clock by it."""
        return self._reorder_window

    async def start(
        self,
        *,
        replay: bool = True,
        prelude: Callable[[ReplayReport | None], Iterable[Event]] | None = None,
    ) -> ReplayReport | None:
        """Replay the log into the engine, start the consumer, submit the `prelude(report)`
        events (e.g. the day's shifts) after the first snapshot of each feed that sends one,
        then start the ticks and the other feeds."""
        if self._running or self._stopped:
            raise RuntimeError("a Runtime starts once")
        self._inbox = asyncio.Queue(maxsize=_INBOX_MAX)
        self._actions = asyncio.Queue()
        # an end_break waits for the PBX's unpause, in the log's replay too: there the logged feed event
        # ends the break, or the logged failure of the unpause keeps it (replay_log), as they did live
        self.engine.defer_break_end = self._can_command
        if self.sequencer is not None:
            self.replay = await self.sequencer.prepare(replay=replay)
        elif replay:
            self.replay = await self.replay_log()
        self._running = True
        self._spawn(self._consume(), "wfm-runtime-consumer")
        self._spawn(self._enforce(), "wfm-runtime-enforcer")
        if self.sequencer is not None:
            self.sequencer.begin()
        # with a prelude, the feeds that snapshot (AMI, ESL, SIP) start first and the shifts follow
        # their first snapshot (ResyncEvent end, floor.first_snapshot_wait_s at most): a shift that
        # began before the floor started is judged from the state the floor first saw (F2)
        early = [a for a in self.adapters if prelude is not None and a.sends_snapshots]
        for adapter in early:
            self._first_snapshot[id(adapter)] = asyncio.Event()
            self._spawn(self._read_feed(adapter), f"wfm-feed-{adapter.source}")
        if prelude is not None:
            await self._await_first_snapshots()
            await self.submit_many(prelude(self.replay))
        self._spawn(self._ticker(), "wfm-runtime-ticker")
        for adapter in self.adapters:
            if adapter not in early:
                self._spawn(self._read_feed(adapter), f"wfm-feed-{adapter.source}")
        return self.replay

    async def _await_first_snapshots(self) -> None:
        waits = [e.wait() for e in self._first_snapshot.values() if not e.is_set()]
        if not waits:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self.config.floor.first_snapshot_wait_s)
        except TimeoutError:
            late = [a.source for a in self.adapters
                    if id(a) in self._first_snapshot and not self._first_snapshot[id(a)].is_set()]
            logger.warning("no first snapshot from %s within %.1f s; the shifts go to the floor now",
                           ", ".join(late), self.config.floor.first_snapshot_wait_s)

    async def stop(self) -> None:
        """Cancel and await every task, close adapters and the log (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._running = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=_STOP_TIMEOUT_S)
            for task in pending:
                logger.error("runtime task %s did not stop in %.1f s", task.get_name(), _STOP_TIMEOUT_S)
        self._tasks.clear()
        if self._inbox is not None:
            while not self._inbox.empty():
                item = self._inbox.get_nowait()
                if item.future is not None and not item.future.done():
                    item.future.set_exception(RuntimeStopped("the floor is shutting down"))
        for adapter in self.adapters:
            try:
                await asyncio.wait_for(adapter.close(), timeout=_STOP_TIMEOUT_S / 2)
            except Exception:  # a broken feed must not keep the log open
                logger.warning("feed %s did not close cleanly", adapter.source, exc_info=True)
        await self.log.aclose()
        self._subscribers.clear()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run `coro` as one of the runtime's tasks: a death is logged, stop() cancels and awaits it."""
        return self._spawn(coro, name)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("runtime task %s died: %r", task.get_name(), exc, exc_info=exc)

    # ── restart from the log ──────────────────────────────────────────────

    def replay_since(self) -> datetime:
        """Where a restart's replay begins: local midnight of the day before the clock's today.

        Budgets and meal slots are per shift and shifts last under a day (some cross
        midnight), so two floor days rebuild every live budget without replaying
        months of history on each start.
        """
        local = self.now()
        midnight = datetime.combine(local.date() - timedelta(days=1), time(0), tzinfo=self._tz)
        return midnight

    async def replay_log(self, since: datetime | None = None) -> ReplayReport:
        """Feed the logged events (from `since`, default replay_since()) back through the
        engine; outputs and actions are not repeated."""
        since = since or self.replay_since()
        return await self.replay_records(self.log.read(since=since, kinds=[EVENT_KIND, AUDIT_KIND, ACTION_KIND]))

    async def replay_records(self, records: Iterable[LoggedRecord]) -> ReplayReport:
        """Apply logged records to the engine as a restart does (events, tick markers, freed places,
        PBX refusals of an end_break); outputs and actions are not repeated, nothing is logged."""
        count = skipped = ticks = 0
        last_ts: datetime | None = None
        shifts: set[tuple[str, datetime]] = set()

        def apply(record: LoggedRecord) -> None:
            nonlocal count, skipped, last_ts, ticks
            if record.kind == AUDIT_KIND:
                if record.body.get("type") == TICK_TYPE:
                    self.engine.tick(record.ts.astimezone(self._tz))
                    ticks += 1
                elif record.body.get("type") == RELEASE_TYPE:
                    self.apply_release(record.body, record.ts.astimezone(self._tz))
                return
            if record.kind == ACTION_KIND:
                body = record.body
                if body.get("outcome") in _NOT_DONE and body.get("paused") is False and body.get("purpose") == "end":
                    self.engine.keep_break(str(body.get("agent")))  # the PBX kept the break it was asked to end
                return
            if record.kind != EVENT_KIND:
                return
            try:
                event = event_from_builtins(record.body)
            except (EventDecodeError, msgspec.DecodeError) as exc:
                skipped += 1
                logger.warning("replay: log record %s skipped: %s", record.seq, exc)
                return
            try:
                self.engine.handle(event)
            except Exception:  # one event the engine cannot take must not keep the floor down
                skipped += 1
                logger.exception("replay: engine refused log record %s", record.seq)
                return
            count += 1
            if last_ts is None or event.ts > last_ts:
                last_ts = event.ts
            if isinstance(event, ShiftEvent):
                shifts.add((event.agent, event.start))

        for index, record in enumerate(records):
            apply(record)
            if index % 5000 == 4999:
                await asyncio.sleep(0)
        if count:
            logger.info("replayed %d logged events and %d tick markers (last %s, %d skipped)",
                        count, ticks, last_ts, skipped)
        return ReplayReport(events=count, skipped=skipped, last_ts=last_ts, shifts=frozenset(shifts))

    # ── inputs ─────────────────────────────────────────────────────────────

    def now(self) -> datetime:
        """The floor's time in its zone: the runtime clock, following the PBX's own clock.

        Feeds stamp events with the PBX's time (docs/pbx-mapping.md); when that runs
        steadily apart from ours (no NTP on the PBX, or a fast simulator's
        latency), ticks and API events follow the PBX so the floor has one timeline.
        """
        now = self.clock.now()
        if self._skew.skew_s:
            now += timedelta(seconds=self._skew.skew_s)
        return now.astimezone(self._tz)

    @property
    def pbx_skew_s(self) -> float:
        """How far the feeds' event times run from the runtime clock (median, 0 when negligible)."""
        return self._skew.skew_s

    async def submit(self, event: Event) -> EngineStep:
        """Run an API event (break request, cancel, override, shift) through the consumer.

        Returns the engine's StepResult once the event and every output it caused are
        durable in the log and published.
        """
        if not self._running or self._inbox is None:
            raise RuntimeStopped("the floor is not running")
        future: asyncio.Future[EngineStep] = asyncio.get_running_loop().create_future()
        await self._inbox.put(Input(event, None, future))
        return await future

    async def submit_many(self, events: Iterable[Event]) -> list[EngineStep]:
        """Submit events in order as one batch (one group commit); their StepResults in order."""
        if not self._running or self._inbox is None:
            raise RuntimeStopped("the floor is not running")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[EngineStep]] = []
        for event in events:
            future: asyncio.Future[EngineStep] = loop.create_future()
            await self._inbox.put(Input(event, None, future))
            futures.append(future)
        return list(await asyncio.gather(*futures))

    async def _read_feed(self, adapter: FeedPort) -> None:
        assert self._inbox is not None
        try:
            async for event in adapter.stream():
                self._skew.observe((event.ts - self.clock.now()).total_seconds())
                self._backlog.queued(id(adapter), event.ts.timestamp())  # before put: a feed blocked on a full inbox counts too
                await self._inbox.put(Input(event, adapter))
                if type(event) is ResyncEvent and event.phase == "end" and id(adapter) in self._first_snapshot:
                    self._first_snapshot[id(adapter)].set()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("feed %s stream failed", adapter.source)
        else:
            logger.warning("feed %s stream ended", adapter.source)

    async def _ticker(self) -> None:
        assert self._inbox is not None
        # floor.tick_s of the runtime's clock, but never busier than _MIN_TICK_WALL_S of wall time
        interval = max(self.config.floor.tick_s / self.speed, min(self.config.floor.tick_s, _MIN_TICK_WALL_S))
        while True:
            await asyncio.sleep(interval)
            if not self._tick_pending:
                self._tick_pending = True
                await self._inbox.put(Input(None, tick=True))

    # ── the one consumer ──────────────────────────────────────────────────

    async def _consume(self) -> None:
        assert self._inbox is not None
        while True:
            batch = [await self._inbox.get()]
            while len(batch) < _BATCH_MAX and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            for item in batch:
                if item.adapter is not None:
                    self._backlog.taken(id(item.adapter))
            try:
                if self.sequencer is None:
                    await self._process(batch)
                else:
                    for item in batch:
                        if item.tick:
                            self._tick_pending = False
                        else:
                            self._learn_feed(item)
                    await self.sequencer.sequence(batch)
            except asyncio.CancelledError:
                for item in batch:  # nobody may wait forever on a batch cut short by stop()
                    item.fail(RuntimeStopped("the floor stopped before this was decided"))
                raise

    @staticmethod
    def _tick_marker(ts: datetime) -> _Append:
        return AUDIT_KIND, {"type": TICK_TYPE}, ts

    async def append_group(self, appends: list[_Append]) -> list[LoggedRecord | BaseException]:
        """Append a group of records in order, the last marked `flush` (the log commits them
        without waiting for more); each record's ack or the error it failed with."""
        last = len(appends) - 1
        return await asyncio.gather(*(self.log.append_async(kind, body, ts, flush=i == last)
                                      for i, (kind, body, ts) in enumerate(appends)), return_exceptions=True)

    def _learn_feed(self, item: Input) -> None:
        """An agent's state from a feed: that feed tells the agent's PBX, and the enactor watches it."""
        event = item.event
        if isinstance(event, AgentStateEvent) and item.adapter is not None:
            self._agent_feed[event.agent] = item.adapter
            self.enactor.watch.observe(event.agent, AgentState(event.state))

    async def _process(self, batch: list[Input]) -> None:
        """One batch: inputs durable, the engine acts, outputs durable, then publish and enforce."""
        failed = await self._log_inputs(batch)
        steps = self._run_engine(batch, failed)
        durable, undurable = await self._log_outputs(steps)
        freed = await self._log_released(steps)
        self._deliver(steps, durable, undurable)
        for record in freed:
            self.publish(PlaceReleased(record))

    async def _log_inputs(self, batch: list[Input]) -> set[int]:
        """1. Every event of the batch durable before the engine sees any of them; the ids of the
        items that could not be logged (their callers get the error). A tick that ran the engine's
        clock past a later-arriving event's ts is logged first (an audit "tick" marker), so a replay
        applies that event exactly as live did."""
        appends: list[tuple[Input | None, _Append]] = []
        ahead, ahead_item = self._clock_ahead, None
        bounds = tick_bounds([None if item.tick else (item.event.ts.timestamp() if item.adapter is not None
                                                      and item.event is not None else math.nan)
                              for item in batch], self._backlog.oldest())
        for index, item in enumerate(batch):
            if item.release is not None:
                assert item.now is not None
                appends.append((item, (AUDIT_KIND, item.release, item.now)))
                continue
            if item.tick:
                # a watermark: events may still arrive up to the reorder window late, and the
                # floor clock never passes a feed event still waiting (later in this batch or queued)
                item.now = self.now() - self._reorder_window
                bound = bounds.get(index)
                if bound is not None and bound < item.now.timestamp():
                    item.now = datetime.fromtimestamp(bound, self._tz)
                if ahead is None or item.now > ahead:
                    ahead, ahead_item = item.now, item
                continue
            event = item.event
            assert event is not None
            if ahead is not None and event.ts < ahead:
                appends.append((None, self._tick_marker(ahead)))
                if ahead_item is not None:
                    ahead_item.marked = True
                ahead, ahead_item = None, None
            appends.append((item, (EVENT_KIND, event_to_builtins(event), event.ts)))
        self._clock_ahead = ahead
        failed: set[int] = set()
        if not appends:
            return failed
        acks = await self.append_group([record for _, record in appends])
        for (logged, _), ack in zip(appends, acks):
            if not isinstance(ack, BaseException):
                continue
            if logged is None:
                logger.error("tick marker not logged (a replay may differ by the reorder): %r", ack)
                continue
            failed.add(id(logged))
            self.events_failed += 1
            logger.error("event not logged, not acted on: %s: %r", type(logged.event).__name__, ack)
            logged.fail(ack)
        return failed

    def _run_engine(self, batch: list[Input], failed: set[int]) -> list[_Done]:
        """2. The engine acts, in arrival order."""
        steps: list[_Done] = []
        for item in batch:
            if id(item) in failed:
                continue
            try:
                if item.release is not None:
                    assert item.now is not None
                    step = self.apply_release(item.release, item.now)
                elif item.tick:
                    assert item.now is not None
                    self._tick_pending = False
                    step = self.engine.tick(item.now)
                else:
                    event = item.event
                    assert event is not None
                    step = self.engine.handle(event)
                    self.events_processed += 1
                    self._learn_feed(item)
            except Exception as exc:
                self.events_failed += 1
                logger.exception("engine failed on %s", "tick" if item.tick else type(item.event).__name__)
                item.fail(exc)
                continue
            steps.append((item, step))
        return steps

    async def _log_outputs(self, steps: list[_Done]) -> tuple[list[Output], dict[int, BaseException]]:
        """3. Every output durable before it is published or enforced; a tick that decided something
        is marked in the log before its outputs. Returns the durable outputs and, per step index,
        why one of its outputs is not durable."""
        appended: list[tuple[int, Output | None]] = []  # (step index or -1 for a marker, output)
        output_appends: list[_Append] = []
        for index, (item, step) in enumerate(steps):
            produced = step.outputs
            if item.tick and produced and not item.marked:
                assert item.now is not None
                item.marked = True
                appended.append((-1, None))
                output_appends.append(self._tick_marker(item.now))
                if self._clock_ahead == item.now:
                    self._clock_ahead = None
            for output in produced:
                appended.append((index, output))
                output_appends.append((DECISION_KIND, msgspec.to_builtins(output), output.ts))
        durable: list[Output] = []
        undurable: dict[int, BaseException] = {}
        if output_appends:
            for (index, logged), ack in zip(appended, await self.append_group(output_appends)):
                if isinstance(ack, BaseException):
                    logger.error("%s not logged, so not published or enforced: %r",
                                 "tick marker" if logged is None else type(logged).__name__, ack)
                    if index >= 0:
                        undurable.setdefault(index, ack)
                elif logged is not None:
                    durable.append(logged)
        return durable, undurable

    async def _log_released(self, steps: list[_Done]) -> list[HoldReleased]:
        """3b. Held places the steps freed (docs/break-holds.md), each an audit record
        {type: hold_released} (not a decision: replay never prints it); the durable ones."""
        freed = [record for _, step in steps for record in step.released]
        if not freed:
            return []
        acks = await self.append_group([(AUDIT_KIND, msgspec.to_builtins(record), record.ts) for record in freed])
        durable: list[HoldReleased] = []
        for record, ack in zip(freed, acks):
            if isinstance(ack, BaseException):
                logger.error("freed place of %s not logged, so not shown: %r", record.agent, ack)
            else:
                durable.append(record)
        return durable

    def _deliver(self, steps: list[_Done], durable: list[Output],
                 undurable: dict[int, BaseException]) -> None:
        """4. Publish, enforce, answer the callers (only what the log holds)."""
        for output in durable:
            self.publish(OutputPublished(output))
        if steps:
            self.publish(FloorChanged(self.now()))
        assert self._actions is not None
        for index, (item, step) in enumerate(steps):
            if index in undurable:
                item.fail(undurable[index])
                continue
            for action in step.actions:
                done: asyncio.Future[ActionRecord] | None = None
                if item.enactments is not None:
                    done = asyncio.get_running_loop().create_future()
                    item.enactments.append(done)
                self.enforce(action, item.adapter, done)
            item.answer(step)

    # ── enforcement ───────────────────────────────────────────────────────

    def enforce(self, action: PauseAction, feed: FeedPort | None = None,
                done: asyncio.Future[ActionRecord] | None = None) -> None:
        """Send `action` to the PBX through the feed that reports its agent (else `feed`, else the
        only feed), after the agent's earlier actions; `done` gets its outcome."""
        if self._actions is None:
            raise RuntimeStopped("the floor is not running")
        self._actions.put_nowait((action, feed, done))

    def reports_agent(self, agent: str) -> bool:
        """Whether one of this process's feeds has reported `agent` (so it tells the agent's PBX)."""
        return agent in self._agent_feed

    def _adapter_for(self, agent: str, hint: FeedPort | None) -> FeedPort | None:
        if agent in self._agent_feed:
            return self._agent_feed[agent]
        if hint is not None:
            return hint
        return self.adapters[0] if len(self.adapters) == 1 else None

    async def _enforce(self) -> None:
        """Hand each action to the Enactor in its own task (one at a time per agent, in order)."""
        assert self._actions is not None
        while True:
            action, hint, done = await self._actions.get()
            agent = action.agent
            adapter = self._adapter_for(agent, hint)
            lock = self._agent_locks.setdefault(agent, asyncio.Lock())
            self._spawn(self._enact(action, adapter, lock, done), f"wfm-enact-{agent}")

    async def _enact(self, action: PauseAction, adapter: FeedPort | None, lock: asyncio.Lock,
                     done: asyncio.Future[ActionRecord] | None) -> None:
        try:
            async with lock:
                record = await self.enactor.enact(action, adapter)
        except BaseException as exc:
            if done is not None and not done.done():
                done.set_exception(RuntimeStopped("the floor stopped before the PBX answered"))
            if not isinstance(exc, Exception):
                raise
            logger.exception("PBX action for %s failed unexpectedly", action.agent)
            return
        if done is not None and not done.done():
            done.set_result(record)

    async def _record_action(self, record: ActionRecord) -> None:
        now = self.now()
        try:
            await self.log.append_async(ACTION_KIND, msgspec.to_builtins(record), now)
        except Exception as exc:
            logger.error("PBX action record for %s not logged: %r", record.agent, exc)
        self.publish(ActionDone(now, record))

    def _can_command(self, agent: str) -> bool:
        """Whether the PBX feed of `agent` takes pause/unpause commands (enactment on)."""
        adapter = self._adapter_for(agent, None)
        return adapter is not None and adapter.can_pause and adapter.enact_breaks

    def _alert_action(self, record: ActionRecord) -> None:
        """A failed or not-enacted PBX action on the wall and supervisor page (and an end_break the
        PBX did not enact: the break continues, as the PBX says)."""
        if not record.paused and record.purpose == "end":
            self.engine.keep_break(record.agent)
        alert = Alert(ts=self.now(), rule="PBX_ACTION_FAILED", detail=record.message())
        self.engine.add_alert(alert)
        self.publish(OutputPublished(alert))
        self.publish(FloorChanged(alert.ts))

    async def _release_place(self, agent: str, allowed_at: datetime | None) -> None:
        """An allowed break the PBX never paused: free its held place (engine.release_hold), through
        the consumer, after an audit record that a restart's replay applies the same way."""
        if not self._running or self._inbox is None:
            return
        future: asyncio.Future[EngineStep] = asyncio.get_running_loop().create_future()
        item = Input(None, None, future)
        item.now = self.now()
        item.release = {"type": RELEASE_TYPE, "agent": agent, "reason": "not_enacted",
                        "allowed_at": allowed_at.isoformat() if allowed_at is not None else None}
        await self._inbox.put(item)
        try:
            await future
        except Exception as exc:  # the floor is stopping, or the log refused: the place lapses by itself
            logger.warning("could not free the held place of %s: %r", agent, exc)

    def apply_release(self, body: dict[str, Any], ts: datetime) -> EngineStep:
        """Free the held place an audit record {type: release_hold} names, in the engine, at `ts`."""
        allowed_at = body.get("allowed_at")
        return self.engine.release_hold(body["agent"], ts, reason=body.get("reason") or "not_enacted",
                                        allowed_at=datetime.fromisoformat(allowed_at) if allowed_at else None)

    def _request_resync(self, adapter: FeedPort) -> None:
        adapter.request_resync("after a PBX action failure")

    async def submit_enacted(self, event: Event) -> tuple[EngineStep, list[asyncio.Future[ActionRecord]]]:
        """Like submit(), and also the futures of the outcomes (ActionRecord) of the PBX actions it caused."""
        if not self._running or self._inbox is None:
            raise RuntimeStopped("the floor is not running")
        future: asyncio.Future[EngineStep] = asyncio.get_running_loop().create_future()
        item = Input(event, None, future)
        enactments: list[asyncio.Future[ActionRecord]] = []
        item.enactments = enactments
        await self._inbox.put(item)
        result = await future
        return result, list(enactments)

    def action_health(self) -> dict[str, int]:
        """PBX action outcomes counted since start (sent, retry, failed, confirmed, not_enacted, manual)."""
        return self.enactor.health()

    # ── subscribers ───────────────────────────────────────────────────────

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register for updates; returns the callable that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, update: Update) -> None:
        """Hand an update to every subscriber (the runtime's own steps, and a sequencer's: the
        decisions another process logged, wfm/scaleout.py)."""
        for callback in list(self._subscribers):
            try:
                callback(update)
            except Exception:
                logger.exception("subscriber %r failed", callback)

    # ── read models ───────────────────────────────────────────────────────

    def feed_views(self, now: datetime) -> list[FeedView]:
        views = []
        for adapter in self.adapters:
            try:
                health = adapter.health(now)
            except Exception as exc:
                views.append(FeedView(source=adapter.source, state="error", connected=False, stale=True,
                                      last_event_age_s=None, skipped=0))
                logger.debug("health of %s failed: %r", adapter.source, exc)
                continue
            views.append(FeedView(
                source=health.source,
                state=health.state.value,
                connected=health.connected,
                stale=health.stale,
                last_event_age_s=health.last_event_age_s,
                skipped=health.skipped,
                drift=health.drift,
            ))
        return views

    def floor_view(self, now: datetime | None = None) -> FloorView:
        """The engine's floor view with the feeds' live health."""
        now = now or self.now()
        return self.engine.floor_view(now, feeds=self.feed_views(now))

    def floor_data(self, now: datetime | None = None, *, agents: bool = True) -> dict[str, Any]:
        """floor_view() as JSON builtins, built incrementally when the engine can (live pushes):
        `agents=False` leaves the agent list empty. Encode it before the next call (rows are reused)."""
        now = now or self.now()
        return self.engine.floor_data(now, feeds=self.feed_views(now), agents=agents)

    def agent_budget(self, agent: str, now: datetime | None = None) -> AgentBudgetView:
        return self.engine.agent_budget(agent, now or self.now())

    def known_agent(self, agent: str) -> bool:
        return bool(self.engine.known_agent(agent))

    async def audit(self, body: dict[str, Any]) -> None:
        """An audit record (logins, logouts) in the tamper-evident log, stamped with the floor clock.

        Never fatal: a failed audit write is logged, the caller goes on.
        """
        body = {"type": "audit", **body} if "type" not in body else body
        try:
            await self.log.append_async(AUDIT_KIND, body, self.now())
        except Exception as exc:
            logger.error("audit record %s not logged: %r", body.get("type"), exc)

    async def verify_log(self) -> Any:
        """The log's own verification result (run off the event loop when it is blocking)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.log.verify)
