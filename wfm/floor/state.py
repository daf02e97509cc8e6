"""FloorState: the one owner of the floor's mutable state and its running counts.

Counts (idle agents 话务空闲数, on post, signed in per post, on break per
team, calls waiting) are kept incrementally at every state change, so a
decision never scans the floor.
"""
from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import KeysView
from functools import lru_cache
from datetime import datetime, timezone, tzinfo
from typing import Any

from wfm.config import Config
from wfm.events import ON_POST_STATES, AgentState, BreakKind, ShiftEvent
from wfm.floor.holds import Hold, HoldBook
from wfm.floor.model import OFF_POST_SPELL_STATES, AgentRecord, BreakRecord, BreakRequest, ShiftRecord
from wfm.floor.queues import QueueRecord, Traffic
from wfm.floor.timers import DeadlineHeap

log = logging.getLogger(__name__)

FLOOR_POST = "floor"
BUSY_STATES = frozenset({AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP})
SHIFT_KEEP_S = 2 * 86400.0  # shifts that ended longer ago than this are forgotten


@lru_cache(maxsize=16384)  # shift starts, ends and meal slots repeat across thousands of agents
def _aware(t: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc).astimezone(tz)


class FloorState:
    def __init__(self, config: Config) -> None:
        self.config = config
        floor = config.floor
        self.tz = floor.tz
        self.short_max_s = floor.short_break_max_min * 60.0
        self.short_budget_s = floor.short_break_budget_min * 60.0
        self.meal_max_s = floor.meal_max_min * 60.0
        self.meal_slot_s = floor.meal_slot_min * 60.0
        self.serious_s = floor.serious_late_min * 60.0
        self.answer_s = config.service.service_level_answer_s
        self.agents: dict[str, AgentRecord] = {}
        self.queues: dict[str, QueueRecord] = {}
        self.deadlines = DeadlineHeap()
        self.now: float | None = None  # the floor clock (never moves backwards)
        self.rostered = False  # any shift event seen: NOT_ON_SHIFT is judged against the roster
        self.n_state: Counter[AgentState] = Counter()
        self.post_agents: dict[str, set[str]] = {}
        self.post_signed_in: Counter[str] = Counter()
        self.post_on_post: Counter[str] = Counter()
        self.post_gen: Counter[str] = Counter()  # bumped when a post goes from empty to staffed
        self.team_short: Counter[str] = Counter()
        self.team_breaks: Counter[str] = Counter()
        self.total_waiting = 0
        self.break_queue: list[BreakRequest] = []  # fair queue, oldest first
        self.queued_kinds: Counter[BreakKind] = Counter()
        # places held by allowed breaks not yet started, with the counts every judgement reads
        self.holds = HoldBook(floor.allowed_break_hold_s)
        # call_id -> [offered_t (float), seen-flags (int bits)]; the engine updates the entry in place
        self.calls: dict[str, list[Any]] = {}
        self.finished_calls: deque[tuple[float, str]] = deque()  # (t, call_id) of abandoned/completed calls, in order
        self.traffic = Traffic(config.floor.gate.horizon_min * 60.0)
        self._break_seq = 0
        self._posts_by_team = {t.name: (t.name if t.queues else FLOOR_POST) for t in config.teams}

    # --- clock and conversion -------------------------------------------------
    @property
    def now_s(self) -> float:
        """The floor clock where it is known to be set: in a rule's on_due and after_event hooks
        (the engine sets `now` before it runs them)."""
        now = self.now
        if now is None:
            raise RuntimeError("the floor clock was read before any event or tick set it")
        return now

    def dt(self, t: float) -> datetime:
        """Epoch seconds as an aware datetime in the floor zone."""
        return _aware(t, self.tz)

    def local_day(self, t: float) -> int:
        return datetime.fromtimestamp(t, self.tz).toordinal()

    def clock(self, t: float) -> str:
        """Local wall-clock HH:MM (HH:MM:SS when not on the minute) for details."""
        local = datetime.fromtimestamp(t, self.tz)
        return local.strftime("%H:%M" if local.second == 0 and local.microsecond == 0 else "%H:%M:%S")

    # --- agents -----------------------------------------------------------
    def agent(self, agent: str, t: float) -> AgentRecord:
        rec = self.agents.get(agent)
        if rec is None:
            team = self.config.team_of(agent)
            post = self._posts_by_team.get(team, FLOOR_POST)
            rec = AgentRecord(agent, team, post, t)
            self.agents[agent] = rec
            self.n_state[AgentState.LOGGED_OUT] += 1
            self.post_agents.setdefault(post, set()).add(agent)
        return rec

    @property
    def idle(self) -> int:
        """话务空闲数: agents in `ready`, every one of them (docs/interfaces.md §1)."""
        return self.n_state[AgentState.READY]

    @property
    def on_post(self) -> int:
        n = self.n_state
        return n[AgentState.READY] + n[AgentState.RINGING] + n[AgentState.ON_CALL] + n[AgentState.WRAP_UP]

    @property
    def busy(self) -> int:
        n = self.n_state
        return n[AgentState.RINGING] + n[AgentState.ON_CALL] + n[AgentState.WRAP_UP]

    def add_shift(self, rec: AgentRecord, event: ShiftEvent, t: float) -> ShiftRecord:
        """Add (or replace: same agent, same start) a rostered shift; old shifts are forgotten."""
        self.rostered = True
        start = event.start.timestamp()
        meal = event.meal_start.timestamp() if event.meal_start is not None else None
        shift = ShiftRecord(start, event.end.timestamp(), meal, self.meal_slot_s)
        kept = [s for s in rec.shifts if s.start != start and s.end >= t - SHIFT_KEEP_S]
        for old in rec.shifts:
            if old.start == start:  # a re-published shift keeps the budget already used
                shift.short_used_s, shift.short_count = old.short_used_s, old.short_count
                shift.meal_count, shift.first_meal_start = old.meal_count, old.first_meal_start
                shift.slot_off_post_s, shift.first_on_post = old.slot_off_post_s, old.first_on_post
                shift.reported = old.reported
                if rec.brk is not None and rec.brk.bucket is old:
                    rec.brk.bucket = shift
        kept.append(shift)
        kept.sort(key=lambda s: s.start)
        rec.shifts = kept
        since = rec.on_post_since
        if since is not None and since < shift.end and shift.start <= t and shift.first_on_post is None:
            shift.first_on_post = max(since, shift.start)  # a roster published late: on post since then
        return shift

    def budget_bucket(self, rec: AgentRecord, t: float) -> ShiftRecord:
        """The shift whose short-break budget applies at t; without one, the agent's floor-day bucket."""
        shift = rec.current_shift(t)
        if shift is not None:
            return shift
        day = self.local_day(t)
        bucket = rec.day_buckets.get(day)
        if bucket is None:
            midnight = datetime.fromordinal(day).replace(tzinfo=self.tz).timestamp()
            bucket = ShiftRecord(midnight, midnight + 86400.0, None, 0.0, rostered=False)
            rec.day_buckets = {d: b for d, b in rec.day_buckets.items() if d >= day - 1}
            rec.day_buckets[day] = bucket
        return bucket

    def short_used_s(self, bucket: ShiftRecord, rec: AgentRecord, t: float) -> float:
        """Short-break seconds used in `bucket` up to t, the running break included."""
        used = bucket.short_used_s
        brk = rec.brk
        if brk is not None and brk.kind is BreakKind.SHORT and brk.bucket is bucket:
            used += max(0.0, t - brk.start)
        return used

    # --- state changes ----------------------------------------------------
    def set_state(self, rec: AgentRecord, new: AgentState, t: float) -> AgentState:
        """Move an agent to `new` at t, closing the old state's accounting; returns the old state."""
        if t < rec.since:
            t = rec.since  # a reordered event never ends a state before it began
        old = rec.state
        if rec.hold is not None:
            self.holds.leave(rec, rec.hold, t)
        if rec.brk is not None:
            self.end_break(rec, t)
        self._account_slot(rec, old, rec.since, t)
        n = self.n_state
        n[old] -= 1
        n[new] += 1
        post = rec.post
        was_on, now_on = old in ON_POST_STATES, new in ON_POST_STATES
        if was_on != now_on:
            self.post_on_post[post] += 1 if now_on else -1
        was_in, now_in = old is not AgentState.LOGGED_OUT, new is not AgentState.LOGGED_OUT
        if was_in != now_in:
            self.post_signed_in[post] += 1 if now_in else -1
            if now_in:
                rec.signed_in_since = t
                if self.post_signed_in[post] == 1:
                    self.post_gen[post] += 1
            else:
                rec.signed_in_since = None
        if (old in OFF_POST_SPELL_STATES) != (new in OFF_POST_SPELL_STATES):
            if new in OFF_POST_SPELL_STATES:
                rec.off_post_since = t
                rec.off_post_spell += 1
            else:
                rec.off_post_since = None
        if was_on and not now_on:  # an on-post spell closes: note it in the shifts it overlaps
            spell_start = rec.on_post_since if rec.on_post_since is not None else rec.since
            rec.on_post_since = None
            for shift in rec.shifts:
                first = max(spell_start, shift.start)
                if first < min(t, shift.end) and (shift.first_on_post is None or first < shift.first_on_post):
                    shift.first_on_post = first
        if now_on and not was_on:
            rec.on_post_since = t
            for shift in rec.shifts:
                if shift.start <= t < shift.end and shift.first_on_post is None:
                    shift.first_on_post = t
        rec.state = new
        rec.since = t
        rec.gen += 1
        if rec.hold is not None:
            self.holds.enter(rec, rec.hold, t)
        return old

    def _account_slot(self, rec: AgentRecord, state: AgentState, start: float, end: float) -> None:
        """Off-post time inside meal slots (MEAL_STATE_MISSING), for the interval just closed."""
        if state in ON_POST_STATES or end <= start:
            return
        if state is AgentState.MEAL:
            return
        for shift in rec.shifts:
            overlap = shift.slot_overlap(start, end)
            if overlap > 0:
                shift.slot_off_post_s += overlap

    def first_on_post(self, rec: AgentRecord, shift: ShiftRecord) -> float | None:
        """First instant the agent was on post within the shift, the current on-post state included."""
        first = shift.first_on_post
        since = rec.on_post_since
        if since is not None and since < shift.end:
            current = max(since, shift.start)
            if first is None or current < first:
                first = current
        return first

    def slot_off_post_s(self, rec: AgentRecord, shift: ShiftRecord, upto: float) -> float:
        """Off-post (not meal) seconds inside the shift's meal slot up to `upto`, the current state included."""
        total = shift.slot_off_post_s
        if rec.state not in ON_POST_STATES and rec.state is not AgentState.MEAL:
            overlap = shift.slot_overlap(rec.since, upto)
            if overlap > 0:
                total += overlap
        return total

    def start_break(self, rec: AgentRecord, kind: BreakKind, t: float, *, allowed: bool,
                    overridden: bool, rule: str | None) -> BreakRecord:
        self._break_seq += 1
        bucket = self.budget_bucket(rec, t)
        brk = BreakRecord(self._break_seq, kind, t, allowed, overridden, bucket, rule)
        rec.brk = brk
        if kind is BreakKind.SHORT:
            bucket.short_count += 1
            self.team_short[rec.team] += 1
        else:
            for shift in rec.shifts:
                if shift.start <= t < shift.end:
                    shift.meal_count += 1
                    if shift.first_meal_start is None:
                        shift.first_meal_start = t
        self.team_breaks[rec.team] += 1
        return brk

    def end_break(self, rec: AgentRecord, t: float) -> BreakRecord | None:
        brk = rec.brk
        if brk is None:
            return None
        if brk.kind is BreakKind.SHORT:
            if brk.bucket is not None:
                brk.bucket.short_used_s += max(0.0, t - brk.start)
            self.team_short[rec.team] -= 1
        self.team_breaks[rec.team] -= 1
        rec.brk = None
        return brk

    # --- held places (wfm/floor/holds.py) ----------------------------------------
    def hold(self, rec: AgentRecord, kind: BreakKind, t: float, *, override: bool = False,
             origin: str = "request") -> Hold:
        """An allowed break: `rec` holds its place from t until it starts, is withdrawn or lapses."""
        rec.lapsed = None
        return self.holds.hold(rec, kind, t, override=override, origin=origin)

    def release_hold(self, rec: AgentRecord, t: float) -> Hold | None:
        """`rec`'s place is no longer held; the hold it had, if any."""
        return self.holds.release(rec, t)

    @property
    def pending_agents(self) -> KeysView[str]:
        """Agents holding a place (allowed, not yet on break)."""
        return self.holds.holders.keys()

    @property
    def pending_ready(self) -> Counter[BreakKind]:
        """Ready agents holding a place, per kind held."""
        return self.holds.ready

    @property
    def pending_on_post(self) -> int:
        """Agents on post holding a place."""
        return self.holds.on_post

    @property
    def pending_team(self) -> Counter[str]:
        """Agents holding a place, per team (any kind)."""
        return self.holds.team

    @property
    def idle_for_rules(self) -> int:
        """话务空闲数 as a new request sees it: ready agents minus the ready ones holding a place."""
        return self.idle - self.holds.ready_total

    # --- break queue ------------------------------------------------------
    def enqueue(self, request: BreakRequest) -> int:
        """Queue a refused request (replacing the agent's older one); returns its 1-based position."""
        self.dequeue(request.agent)
        self.break_queue.append(request)
        self.queued_kinds[request.kind] += 1
        self.agents[request.agent].queued = request
        return len(self.break_queue)

    def dequeue(self, agent: str) -> BreakRequest | None:
        rec = self.agents.get(agent)
        if rec is None or rec.queued is None:
            return None
        request = rec.queued
        rec.queued = None
        self.queued_kinds[request.kind] -= 1
        self.break_queue = [r for r in self.break_queue if r.agent != agent]
        return request

    def queue_position(self, agent: str) -> int | None:
        for index, request in enumerate(self.break_queue, start=1):
            if request.agent == agent:
                return index
        return None

    # --- queues -----------------------------------------------------------
    def queue(self, queue: str) -> QueueRecord:
        rec = self.queues.get(queue)
        if rec is None:
            rec = self.queues[queue] = QueueRecord(queue, self.config.floor.gate.horizon_min * 60.0)
        return rec

    def set_waiting(self, rec: QueueRecord, waiting: int, longest: float | None, t: float = 0.0) -> None:
        self.total_waiting += waiting - rec.waiting
        rec.report(t, waiting, longest)
