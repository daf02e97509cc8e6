"""A seeded, discrete-event model of one call-centre floor day.

Pure: no sockets, no wall clock. Every random draw comes from one
`numpy.random.Generator` seeded from the config (or the caller), so a seed
gives the same day every time. Time is float epoch seconds inside the model
(rounded to the millisecond) and tz-aware datetimes (floor zone) outside.

The model is steppable: `advance_to(t)` runs every scheduled happening up to
`t` and returns them in order, so the same model serves a real-time AMI
server (stepped by a SimClock) and an as-fast-as-possible JSON-lines run
(`run()`). Agents react to commands: `set_paused(agent, False)` ends a pause
at once (enforcement), `set_paused(agent, True, reason)` starts one.

Behaviour (all numbers from `[simulator]` and `[floor]`/`[roster]` config):
  * agents split over the roster's shift templates in proportion to the
    peak call load inside each template; meal slots 30 min on the half-hour
    grid, >= 1 h from either shift edge, staggered round-robin (R8/F8);
  * sign-in within the F2 window before shift start, sometimes late
    (`late_sign_in_probability`), a quarter of those >= the F10 threshold;
  * 2-3 short breaks (小休) of 50-90 % of the F4 maximum, overrunning it with
    `overrun_probability`; one meal (用餐) in the slot, sometimes overrunning,
    sometimes outside the slot (`meal_off_slot_probability`);
  * Poisson arrivals over an hourly intraday curve scaled to
    `calls_per_day`, split over queues by `queue_weights`; lognormal talk
    time (mean `mean_handle_s`, cv `handle_cv`), wrap-up, exponential caller
    patience and abandonment, longest-idle routing, rare ring-no-answer;
  * sign-out at shift end after the current call (the evening shift signs
    in before the day shift leaves: handover, F9).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import cast

import numpy as np

from wfm.config import Config, ShiftTemplate
from wfm.events import AgentState, ShiftEvent

log = logging.getLogger(__name__)

PAUSED_STATES = frozenset({AgentState.SHORT_BREAK, AgentState.MEAL, AgentState.NOT_READY})
BUSY_STATES = frozenset({AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP})
FIRST_AGENT_ID = 1001  # agent ids 1001, 1002, ... match the shipped demo users
SERIOUS_LATE_SHARE = 0.25  # share of late sign-ins that are serious (>= F10 threshold)
RING_TIMEOUT_S = 15.0  # Asterisk queue `timeout` default: how long a member rings
OTHER_PAUSE_REASON = "Admin"  # a non-break pause (back-office work) -> not_ready
OTHER_PAUSE_PROBABILITY = 0.3  # share of shifts with one back-office pause


# ---------------------------------------------------------------- happenings


@dataclass(frozen=True, slots=True)
class MemberChanged:
    """An agent's state changed (sign-in, sign-out, call phase, pause)."""

    ts: datetime
    agent: str
    state: AgentState
    previous: AgentState
    reason: str | None
    queues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MemberFlagged:
    """The member's pause flag or device changed while its queue state did not (Asterisk pauses a
    member on a call at once; a phone busy on another line shows in use)."""

    ts: datetime
    agent: str
    state: AgentState
    queues: tuple[str, ...]
    pause: bool  # True: QueueMemberPause (the pause flag changed); False: QueueMemberStatus (the device)


@dataclass(frozen=True, slots=True)
class CallerJoined:
    ts: datetime
    queue: str
    call_id: str
    caller: str
    position: int
    count: int


@dataclass(frozen=True, slots=True)
class CallerLeft:
    """The caller left the queue because an agent answered."""

    ts: datetime
    queue: str
    call_id: str
    caller: str
    position: int
    count: int
    longest_wait_s: float


@dataclass(frozen=True, slots=True)
class CallerAbandoned:
    ts: datetime
    queue: str
    call_id: str
    caller: str
    position: int
    original_position: int
    hold_s: float
    count: int
    longest_wait_s: float


@dataclass(frozen=True, slots=True)
class AgentCalled:
    ts: datetime
    agent: str
    queue: str
    call_id: str
    caller: str


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer:
    ts: datetime
    agent: str
    queue: str
    call_id: str
    caller: str
    ring_s: float


@dataclass(frozen=True, slots=True)
class AgentConnected:
    ts: datetime
    agent: str
    queue: str
    call_id: str
    caller: str
    hold_s: float
    ring_s: float


@dataclass(frozen=True, slots=True)
class AgentCompleted:
    ts: datetime
    agent: str
    queue: str
    call_id: str
    caller: str
    hold_s: float
    talk_s: float
    reason: str  # "caller" or "agent": who hung up


Happening = (
    MemberChanged
    | MemberFlagged
    | CallerJoined
    | CallerLeft
    | CallerAbandoned
    | AgentCalled
    | AgentRingNoAnswer
    | AgentConnected
    | AgentCompleted
)


@dataclass(frozen=True, slots=True)
class PauseResult:
    ok: bool
    message: str


# ---------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class AgentPlan:
    """What one agent means to do today (the model may bend it: calls, commands)."""

    agent: str
    queues: tuple[str, ...]
    template: str
    shift_start: float
    shift_end: float
    meal_slot_start: float
    sign_in: float
    sign_out: float
    late_min: float  # minutes after shift start the agent signs in; <= 0 = on time
    short_breaks: tuple[tuple[float, float], ...]  # (planned start, length s)
    meal: tuple[float, float]  # (planned start, length s)
    other_pause: tuple[float, float] | None


@dataclass
class _Call:
    call_id: str
    queue: str
    caller: str
    joined: float
    original_position: int
    patience_s: float
    talk_s: float
    ring_s: float
    no_answer: bool
    agent: str | None = None
    ringing_since: float = 0.0
    connected_at: float = 0.0
    done: bool = False


@dataclass
class _Agent:
    plan: AgentPlan
    index: int = 0  # roster order, the routing tie-break
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    idle_since: float = 0.0
    token: int = 0  # bumped to invalidate a scheduled end of pause or call phase
    call: _Call | None = None
    pending: list[tuple[str, float, str | None]] = field(default_factory=list)  # (kind, length, reason)
    sign_out_due: bool = False
    calls_taken: int = 0
    last_call: float = 0.0
    last_pause: float = 0.0
    login_time: float = 0.0
    state_since: float = 0.0
    pause_flag: str | None = None  # paused at the PBX during a call: the reason ("" for none); the pause follows the call
    other_line: bool = False  # the phone is busy on a call outside the queues (the device shows in use)


# event kinds, in tie-break order for equal times (lower first)
_SIGN_IN, _PAUSE_END, _WRAP_END, _CALL_END, _RING_END, _ABANDON, _ARRIVE, _WANT_PAUSE, _SIGN_OUT = range(9)


def _round_ms(value: float) -> float:
    return round(value, 3)


def _hhmm_on(day: date, text: str, tz: tzinfo) -> datetime:
    hour, minute = (int(part) for part in text.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def shift_window(template: ShiftTemplate, day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The template's start and end on `day` (an end at or before the start is the next day)."""
    start = _hhmm_on(day, template.start, tz)
    end = _hhmm_on(day, template.end, tz)
    if end <= start:
        end = _hhmm_on(day + timedelta(days=1), template.end, tz)
    return start, end


def meal_slots(start: datetime, end: datetime, slot_min: int, margin_min: int, grid_min: int) -> list[datetime]:
    """R8: slot starts on the grid, >= margin after start and slot end >= margin before end."""
    first = start + timedelta(minutes=margin_min)
    base = first.replace(second=0, microsecond=0)
    if base < first:
        base += timedelta(minutes=1)
    cursor = base + timedelta(minutes=(-(base.hour * 60 + base.minute)) % grid_min)
    last = end - timedelta(minutes=margin_min + slot_min)
    slots = []
    while cursor <= last:
        slots.append(cursor)
        cursor += timedelta(minutes=grid_min)
    return slots


def hourly_rate_weight(curve: list[float], local: datetime) -> float:
    """The intraday curve at a local time, linear between the half-hour points of each hour."""
    position = local.hour + local.minute / 60.0 + local.second / 3600.0 - 0.5
    low = math.floor(position)
    frac = position - low
    return (1 - frac) * curve[low % 24] + frac * curve[(low + 1) % 24]


class FloorModel:
    """One simulated floor day; see the module docstring for the behaviour."""

    def __init__(
        self,
        config: Config,
        day: date,
        *,
        agents: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.sim = config.simulator
        self.tz = config.floor.tz
        self.day = day
        self.seed = self.sim.seed if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.queues: tuple[str, ...] = tuple(self.sim.queues)
        n_agents = self.sim.agents if agents is None else agents
        if n_agents < 1:
            raise ValueError("the simulator needs at least one agent")
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, int, int, object]] = []
        self._outbox: list[Happening] = []
        self._current: list[Happening] = self._outbox  # where happenings go while handling
        self._agents: dict[str, _Agent] = {}
        self._ready: dict[str, _Agent] = {}  # agents in `ready` now: routing looks only here
        self._waiting: dict[str, list[_Call]] = {q: [] for q in self.queues}
        self._call_seq = itertools.count(1)
        self.stats = {q: {"offered": 0, "answered": 0, "abandoned": 0, "completed": 0,
                          "answered_in_target": 0, "hold_total": 0.0, "talk_total": 0.0} for q in self.queues}
        self.plans: tuple[AgentPlan, ...] = self._make_plans(n_agents)
        self.shifts: tuple[ShiftEvent, ...]
        first_start = min(p.shift_start for p in self.plans)
        last_end = max(p.shift_end for p in self.plans)
        self.start_epoch = first_start - 30 * 60
        self.end_epoch = last_end + 30 * 60
        self.now_epoch = self.start_epoch
        shift_ts = self._dt(self.start_epoch)
        self.shifts = tuple(
            ShiftEvent(
                ts=shift_ts,
                agent=p.agent,
                start=self._dt(p.shift_start),
                end=self._dt(p.shift_end),
                meal_start=self._dt(p.meal_slot_start),
            )
            for p in self.plans
        )
        for index, plan in enumerate(self.plans):
            self._agents[plan.agent] = _Agent(plan=plan, index=index)
            self._push(plan.sign_in, _SIGN_IN, plan.agent)
            self._push(plan.sign_out, _SIGN_OUT, plan.agent)
            for start, length in plan.short_breaks:
                self._push(start, _WANT_PAUSE, (plan.agent, "short", length, "小休"))
            self._push(plan.meal[0], _WANT_PAUSE, (plan.agent, "meal", plan.meal[1], "用餐"))
            if plan.other_pause is not None:
                self._push(plan.other_pause[0], _WANT_PAUSE, (plan.agent, "other", plan.other_pause[1], OTHER_PAUSE_REASON))
        self.expected_calls = self._schedule_arrivals()

    # ------------------------------------------------------------ public API

    @property
    def start(self) -> datetime:
        return self._dt(self.start_epoch)

    @property
    def end(self) -> datetime:
        return self._dt(self.end_epoch)

    @property
    def now(self) -> datetime:
        return self._dt(self.now_epoch)

    @property
    def agent_ids(self) -> tuple[str, ...]:
        return tuple(p.agent for p in self.plans)

    def agent_queues(self, agent: str) -> tuple[str, ...]:
        return self._agents[agent].plan.queues

    def advance_to(self, when: datetime) -> list[Happening]:
        """Run every happening up to and including `when`; returns them in time order."""
        target = when.timestamp()
        out = self._outbox
        self._outbox = []
        self._current = out
        while self._heap and self._heap[0][0] <= target:
            t, _kind, _seq, _token, payload = heapq.heappop(self._heap)
            self.now_epoch = max(self.now_epoch, t)
            self._handle(_kind, _token, payload)
        self.now_epoch = max(self.now_epoch, target)
        self._current = self._outbox
        return out

    def run(self) -> Iterator[Happening]:
        """Every happening of the day, as fast as possible."""
        step = 15 * 60
        cursor = self.start_epoch
        while cursor < self.end_epoch:
            cursor = min(cursor + step, self.end_epoch)
            yield from self.advance_to(self._dt(cursor))

    @property
    def finished(self) -> bool:
        return self.now_epoch >= self.end_epoch

    def set_paused(self, agent: str, paused: bool, reason: str | None = None, queue: str | None = None) -> PauseResult:
        """A PBX-side pause command (AMI QueuePause) at the model's current time."""
        state = self._agents.get(agent)
        if state is None or state.state is AgentState.LOGGED_OUT:
            return PauseResult(False, "Interface not found")
        if queue is not None and queue not in state.plan.queues:
            return PauseResult(False, "Interface not found")
        self._current = self._outbox
        now = self.now_epoch
        if not paused:
            state.pending = [p for p in state.pending if p[0] == "sign_out"]
            if state.pause_flag is not None:
                state.pause_flag = None
                self._emit(MemberFlagged(self._dt(now), agent, state.state, state.plan.queues, True))
            if state.state in PAUSED_STATES:
                state.token += 1
                self._become_available(state, now)
            return PauseResult(True, "Interface unpaused successfully")
        kind = self._kind_of_reason(reason)
        length = self._typical_length(kind)
        if state.state is AgentState.READY:
            self._start_pause(state, now, kind, length, reason)
        elif state.state in PAUSED_STATES:
            # re-pausing with another reason: the pause continues under the new reason
            self._emit_state(state, now, self._pause_state(kind), reason)
        else:
            # Asterisk pauses a member on a call at once (QueuePause → QueueMemberPause Paused: 1);
            # the call goes on and the agent's pause follows it
            state.pending.insert(0, (kind, length, reason))
            state.pause_flag = reason or ""
            self._emit(MemberFlagged(self._dt(now), agent, state.state, state.plan.queues, True))
        return PauseResult(True, "Interface paused successfully")

    def remove_member(self, agent: str) -> bool:
        """The member leaves every queue without a QueueMemberRemoved (as `queue reload all` drops a
        member no longer in queues.conf); False when it was not signed in."""
        state = self._agents.get(agent)
        if state is None or state.state is AgentState.LOGGED_OUT or state.call is not None:
            return False
        state.token += 1
        state.pending.clear()
        state.pause_flag = None
        state.state = AgentState.LOGGED_OUT
        state.reason = None
        state.sign_out_due = True  # gone for the day
        self._ready.pop(agent, None)
        return True

    def set_other_line(self, agent: str, busy: bool) -> bool:
        """The agent's phone is busy (or free again) on a call outside the queues: the device shows in
        use and no queue call is offered to it (Asterisk's ringinuse=no). False for an unknown agent."""
        state = self._agents.get(agent)
        if state is None or state.state is AgentState.LOGGED_OUT or state.other_line == busy:
            return state is not None and state.other_line == busy
        self._current = self._outbox
        now = self.now_epoch
        state.other_line = busy
        if busy:
            self._ready.pop(agent, None)
        elif state.state is AgentState.READY:
            self._ready[agent] = state
        self._emit(MemberFlagged(self._dt(now), agent, state.state, state.plan.queues, False))
        if not busy and state.state is AgentState.READY:
            self._after_available(state, now)
        return True

    def members(self) -> list[dict]:
        """Current member table (for a QueueStatus snapshot): one dict per signed-in agent."""
        rows = []
        for agent_id in self.agent_ids:
            a = self._agents[agent_id]
            if a.state is AgentState.LOGGED_OUT:
                continue
            rows.append({
                "agent": agent_id,
                "queues": a.plan.queues,
                "state": a.state,
                "reason": a.reason,
                "calls_taken": a.calls_taken,
                "last_call": a.last_call,
                "last_pause": a.last_pause,
                "login_time": a.login_time,
            })
        return rows

    def member_info(self, agent: str) -> dict:
        """Asterisk member counters: calls taken and last call/pause/login (epoch seconds, 0 = never)."""
        a = self._agents[agent]
        return {"calls_taken": a.calls_taken, "last_call": a.last_call, "last_pause": a.last_pause,
                "login_time": a.login_time, "pause_flag": a.pause_flag, "other_line": a.other_line}

    def state_of(self, agent: str) -> AgentState:
        return self._agents[agent].state

    def waiting(self, queue: str) -> list[dict]:
        """Callers in `queue` now, oldest first (ringing ones included, as Asterisk counts them)."""
        now = self.now_epoch
        return [
            {"call_id": c.call_id, "caller": c.caller, "position": i + 1, "wait_s": max(0.0, now - c.joined)}
            for i, c in enumerate(self._waiting[queue])
        ]

    # ------------------------------------------------------------ plan

    def _dt(self, epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, self.tz)

    def _draw_uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def _make_plans(self, n_agents: int) -> tuple[AgentPlan, ...]:
        floor = self.config.floor
        roster = self.config.roster
        templates = list(roster.shifts)
        windows = [shift_window(t, self.day, self.tz) for t in templates]
        counts = self._split_agents(n_agents, windows)
        plans: list[AgentPlan] = []
        index = 0
        n_queues = len(self.queues)
        for template, (start, end), count in zip(templates, windows, counts):
            slots = meal_slots(start, end, floor.meal_slot_min, roster.meal_margin_min, roster.meal_grid_min)
            if not slots:
                slots = [start + (end - start) / 2]
            slot_plan = self._stagger_meals(slots, count)
            for k in range(count):
                agent = str(FIRST_AGENT_ID + index)
                # one agent in three is a generalist of the first queue only; others take every queue
                queues = self.queues if (n_queues == 1 or index % 3 != 2) else self.queues[:1]
                slot = slot_plan[k]
                plans.append(self._plan_agent(agent, queues, template.name, start, end, slot))
                index += 1
        return tuple(plans)

    def _stagger_meals(self, slots: list[datetime], count: int) -> list[datetime]:
        """R8/F8: spread `count` meals over the slots, more where calls are fewer (as a shift leader would).

        Each slot's share goes as 1/load; no slot takes more than a third of the
        shift, so lunch cover (F8) holds; the order is interleaved so that
        neighbouring agents eat at different times.
        """
        curve = self.sim.intraday_curve
        slot_min = self.config.floor.meal_slot_min
        loads = [max(hourly_rate_weight(curve, s + timedelta(minutes=slot_min / 2)), 0.05) for s in slots]
        weights = [1.0 / load for load in loads]
        total = sum(weights)
        cap = max(1, math.ceil(count / 3), math.ceil(count / len(slots)))
        raw = [count * w / total for w in weights]
        per_slot = [min(cap, int(math.floor(r))) for r in raw]
        order = sorted(range(len(slots)), key=lambda i: (raw[i] - per_slot[i], -i), reverse=True)
        while sum(per_slot) < count:
            for i in order:
                if sum(per_slot) >= count:
                    break
                if per_slot[i] < cap:
                    per_slot[i] += 1
            cap += 1  # only when every slot is full (count > 3 x slots): relax
        plan: list[datetime] = []
        remaining = list(per_slot)
        while len(plan) < count:
            for i, slot in enumerate(slots):
                if remaining[i] > 0:
                    plan.append(slot)
                    remaining[i] -= 1
        return plan

    def _split_agents(self, n_agents: int, windows: list[tuple[datetime, datetime]]) -> list[int]:
        """Agents per template in proportion to the curve's peak inside each template."""
        curve = self.sim.intraday_curve
        peaks = []
        for start, end in windows:
            points = [start + timedelta(minutes=m) for m in range(0, int((end - start).total_seconds() // 60), 15)]
            peaks.append(max(hourly_rate_weight(curve, p) for p in points) if points else 1.0)
        total = sum(peaks) or 1.0
        raw = [n_agents * p / total for p in peaks]
        counts = [int(math.floor(r)) for r in raw]
        for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[: n_agents - sum(counts)]:
            counts[i] += 1
        return counts

    def _plan_agent(self, agent, queues, template, start: datetime, end: datetime, slot: datetime) -> AgentPlan:
        floor = self.config.floor
        sim = self.sim
        s0, s1 = start.timestamp(), end.timestamp()
        window_s = max(floor.sign_in_window_min, 1) * 60.0
        late_min = 0.0
        if self.rng.random() < sim.late_sign_in_probability:
            if self.rng.random() < SERIOUS_LATE_SHARE:
                late_min = floor.serious_late_min + self._draw_uniform(0.5, 15.0)
            else:
                late_min = self._draw_uniform(1.0, min(12.0, max(1.5, floor.serious_late_min - 2.0)))
            sign_in = s0 + late_min * 60.0
        else:
            sign_in = s0 - self._draw_uniform(0.1 * window_s, 0.95 * window_s)
        sign_out = s1 + self._draw_uniform(10.0, 180.0)

        # meal
        meal_len = self._pause_length("meal")
        slot_s = slot.timestamp()
        meal_start = slot_s + self._draw_uniform(0.0, 90.0)
        if self.rng.random() < sim.meal_off_slot_probability:
            shift_by = self._draw_uniform(40.0, 90.0) * 60.0 * (1 if self.rng.random() < 0.5 else -1)
            candidate = slot_s + shift_by
            earliest, latest = s0 + 30 * 60, s1 - 30 * 60 - meal_len
            if not earliest <= candidate <= latest:
                candidate = slot_s - shift_by
            meal_start = min(max(candidate, earliest), latest)
        meal_end = meal_start + meal_len

        # short breaks, spread over the shift away from its edges and the meal
        low, high = sim.short_breaks_per_shift
        n_breaks = int(self.rng.integers(low, high + 1)) if high >= low else low
        work_from, work_to = s0 + 45 * 60, s1 - 40 * 60
        breaks = []
        for i in range(n_breaks):
            anchor = work_from + (i + 1) * (work_to - work_from) / (n_breaks + 1)
            at = anchor + self._draw_uniform(-20.0, 20.0) * 60.0
            length = self._pause_length("short")
            if at < meal_end + 15 * 60 and at + length > meal_start - 15 * 60:
                at = meal_end + self._draw_uniform(20.0, 40.0) * 60.0 if i * 2 >= n_breaks else meal_start - length - self._draw_uniform(25.0, 45.0) * 60.0
            at = min(max(at, work_from), work_to)
            breaks.append((_round_ms(at), length))
        other = None
        if self.rng.random() < OTHER_PAUSE_PROBABILITY:
            other = (_round_ms(self._draw_uniform(work_from, work_to)), self._draw_uniform(3.0, 12.0) * 60.0)
        return AgentPlan(
            agent=agent,
            queues=tuple(queues),
            template=template,
            shift_start=s0,
            shift_end=s1,
            meal_slot_start=slot_s,
            sign_in=_round_ms(sign_in),
            sign_out=_round_ms(sign_out),
            late_min=late_min,
            short_breaks=tuple(sorted(breaks)),
            meal=(_round_ms(meal_start), meal_len),
            other_pause=other,
        )

    def _pause_length(self, kind: str) -> float:
        """A planned pause length in seconds; overruns past the F4/F5 maximum with overrun_probability."""
        floor = self.config.floor
        overrun = self.rng.random() < self.sim.overrun_probability
        if kind == "short":
            limit = floor.short_break_max_min * 60.0
            factor = self._draw_uniform(1.05, 1.7) if overrun else self._draw_uniform(0.5, 0.9)
        else:
            limit = floor.meal_max_min * 60.0
            factor = self._draw_uniform(1.05, 1.5) if overrun else self._draw_uniform(0.8, 0.97)
        return _round_ms(limit * factor)

    def _typical_length(self, kind: str) -> float:
        if kind == "short":
            return _round_ms(self.config.floor.short_break_max_min * 60.0 * 0.7)
        if kind == "meal":
            return _round_ms(self.config.floor.meal_max_min * 60.0 * 0.9)
        return 600.0

    def _kind_of_reason(self, reason: str | None) -> str:
        mapped = self.config.pbx.pause_reasons.get(reason or "", "not_ready")
        return {"short_break": "short", "meal": "meal"}.get(mapped, "other")

    @staticmethod
    def _pause_state(kind: str) -> AgentState:
        return {"short": AgentState.SHORT_BREAK, "meal": AgentState.MEAL}.get(kind, AgentState.NOT_READY)

    def _schedule_arrivals(self) -> float:
        """Poisson arrivals minute by minute over the staffed hours; returns the expected count."""
        sim = self.sim
        intervals = sorted((p.shift_start, p.shift_end) for p in self.plans)
        merged: list[list[float]] = []
        for s, e in intervals:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        minutes: list[float] = []
        weights: list[float] = []
        for s, e in merged:
            t = s
            while t < e:
                minutes.append(t)
                weights.append(hourly_rate_weight(sim.intraday_curve, self._dt(t + 30.0)))
                t += 60.0
        if not minutes or sim.calls_per_day == 0:
            return 0.0
        w = np.asarray(weights, dtype=float)
        if w.sum() <= 0:
            w = np.ones_like(w)
        rates = w / w.sum() * sim.calls_per_day
        counts = self.rng.poisson(rates)
        queue_weights = np.asarray(sim.queue_weights if sim.queue_weights else [1.0] * len(self.queues), dtype=float)
        if len(queue_weights) != len(self.queues):
            raise ValueError("simulator.queue_weights must have one weight per simulator queue")
        queue_p = queue_weights / queue_weights.sum()
        mean, cv = sim.mean_handle_s, sim.handle_cv
        sigma = math.sqrt(math.log(1 + cv * cv))
        mu = math.log(mean) - sigma * sigma / 2
        for minute_start, count in zip(minutes, counts):
            if count == 0:
                continue
            offsets = np.sort(self.rng.uniform(0.0, 60.0, size=int(count)))
            for offset in offsets:
                queue = self.queues[int(self.rng.choice(len(self.queues), p=queue_p))]
                talk = max(10.0, float(self.rng.lognormal(mu, sigma)))
                patience = float(self.rng.exponential(sim.mean_patience_s))
                ring = self._draw_uniform(2.0, 8.0)
                no_answer = bool(self.rng.random() < sim.ring_no_answer_probability)
                caller = "1" + "".join(str(d) for d in self.rng.integers(0, 10, size=10))
                joined = _round_ms(minute_start + float(offset))
                self._push(joined, _ARRIVE, (queue, caller, _round_ms(talk), _round_ms(patience), _round_ms(ring), no_answer))
        return float(rates.sum())

    # ------------------------------------------------------------ engine

    def _push(self, at: float, kind: int, payload: object, token: int = 0) -> None:
        heapq.heappush(self._heap, (_round_ms(at), kind, next(self._seq), token, payload))

    def _handle(self, kind: int, token: int, payload) -> None:
        now = self.now_epoch
        if kind == _ARRIVE:
            self._arrive(now, *payload)
        elif kind == _SIGN_IN:
            self._sign_in(self._agents[payload], now)
        elif kind == _SIGN_OUT:
            agent = self._agents[payload]
            agent.sign_out_due = True
            if agent.state not in BUSY_STATES:
                self._sign_out(agent, now)
        elif kind == _WANT_PAUSE:
            agent_id, pause_kind, length, reason = payload
            self._want_pause(self._agents[agent_id], now, pause_kind, length, reason)
        elif kind == _PAUSE_END:
            agent = self._agents[payload]
            if agent.token == token and agent.state in PAUSED_STATES:
                self._become_available(agent, now)
        elif kind == _RING_END:
            agent_id, call = cast(tuple[str, _Call], payload)  # the heap's payload is what the kind says
            agent = self._agents[agent_id]
            if agent.token == token and agent.state is AgentState.RINGING and agent.call is call and not call.done:
                self._ring_end(agent, call, now)
        elif kind == _CALL_END:
            agent_id, call = payload
            agent = self._agents[agent_id]
            if agent.token == token and agent.state is AgentState.ON_CALL:
                self._call_end(agent, call, now)
        elif kind == _WRAP_END:
            agent = self._agents[payload]
            if agent.token == token and agent.state is AgentState.WRAP_UP:
                self._become_available(agent, now)
        elif kind == _ABANDON:
            call = payload
            if not call.done and (call.agent is None or self._agents[call.agent].state is AgentState.RINGING):
                self._abandon(call, now)

    def _emit(self, happening: Happening) -> None:
        self._current.append(happening)

    def _emit_state(self, agent: _Agent, now: float, state: AgentState, reason: str | None) -> None:
        previous = agent.state
        agent.state = state
        agent.reason = reason
        agent.state_since = now
        if state is AgentState.READY and not agent.other_line:
            self._ready[agent.plan.agent] = agent
        else:
            self._ready.pop(agent.plan.agent, None)
        self._emit(MemberChanged(self._dt(now), agent.plan.agent, state, previous, reason, agent.plan.queues))

    def _sign_in(self, agent: _Agent, now: float) -> None:
        if agent.state is not AgentState.LOGGED_OUT or agent.sign_out_due:
            return
        agent.login_time = now
        agent.idle_since = now
        self._emit_state(agent, now, AgentState.READY, None)
        self._after_available(agent, now)

    def _sign_out(self, agent: _Agent, now: float) -> None:
        if agent.state is AgentState.LOGGED_OUT:
            return
        agent.token += 1
        agent.pending.clear()
        agent.pause_flag = None
        self._emit_state(agent, now, AgentState.LOGGED_OUT, None)

    def _want_pause(self, agent: _Agent, now: float, kind: str, length: float, reason: str) -> None:
        if agent.state is AgentState.LOGGED_OUT or agent.sign_out_due:
            return  # not signed in (late) or already gone: the plan lapses
        if agent.state is AgentState.READY:
            self._start_pause(agent, now, kind, length, reason)
        else:
            agent.pending.append((kind, length, reason))

    def _start_pause(self, agent: _Agent, now: float, kind: str, length: float, reason: str | None) -> None:
        agent.pause_flag = None
        agent.token += 1
        agent.last_pause = now
        self._emit_state(agent, now, self._pause_state(kind), reason)
        self._push(now + length, _PAUSE_END, agent.plan.agent, agent.token)

    def _become_available(self, agent: _Agent, now: float) -> None:
        """End a pause or wrap-up: sign out, take a pending pause, or go ready."""
        agent.call = None
        if agent.sign_out_due:
            self._sign_out(agent, now)
            return
        if agent.pending:
            order = {"meal": 0, "short": 1, "other": 2}
            agent.pending.sort(key=lambda p: order.get(p[0], 3))
            kind, length, reason = agent.pending.pop(0)
            self._start_pause(agent, now, kind, length, reason)
            return
        agent.idle_since = now
        self._emit_state(agent, now, AgentState.READY, None)
        self._after_available(agent, now)

    def _after_available(self, agent: _Agent, now: float) -> None:
        """A ready agent takes the oldest caller waiting in one of their queues."""
        best: _Call | None = None
        for queue in agent.plan.queues:
            for call in self._waiting[queue]:
                if call.agent is None:
                    if best is None or call.joined < best.joined:
                        best = call
                    break
        if best is not None:
            self._ring(agent, best, now)

    def _arrive(self, now: float, queue: str, caller: str, talk: float, patience: float, ring: float, no_answer: bool) -> None:
        waiting = self._waiting[queue]
        call_id = f"{int(now)}.{next(self._call_seq)}"
        call = _Call(call_id, queue, caller, now, len(waiting) + 1, patience, talk, ring, no_answer)
        waiting.append(call)
        self.stats[queue]["offered"] += 1
        self._emit(CallerJoined(self._dt(now), queue, call_id, caller, len(waiting), len(waiting)))
        self._push(now + patience, _ABANDON, call)
        agent = self._longest_idle(queue, None)
        if agent is not None:
            self._ring(agent, call, now)

    def _ring(self, agent: _Agent, call: _Call, now: float) -> None:
        call.agent = agent.plan.agent
        call.ringing_since = now
        agent.call = call
        agent.token += 1
        self._emit(AgentCalled(self._dt(now), agent.plan.agent, call.queue, call.call_id, call.caller))
        self._emit_state(agent, now, AgentState.RINGING, None)
        self._push(now + (RING_TIMEOUT_S if call.no_answer else call.ring_s), _RING_END, (agent.plan.agent, call), agent.token)

    def _ring_end(self, agent: _Agent, call: _Call, now: float) -> None:
        if call.no_answer:
            call.no_answer = False  # the next member answers
            call.agent = None
            self._emit(AgentRingNoAnswer(self._dt(now), agent.plan.agent, call.queue, call.call_id, call.caller, _round_ms(now - call.ringing_since)))
            agent.token += 1
            self._dispatch(call.queue, now, exclude=agent)
            self._become_available(agent, now)
            return
        waiting = self._waiting[call.queue]
        position = waiting.index(call) + 1
        waiting.remove(call)
        hold = _round_ms(now - call.joined)
        stats = self.stats[call.queue]
        stats["answered"] += 1
        stats["hold_total"] += hold
        if hold <= self.config.service.service_level_answer_s:
            stats["answered_in_target"] += 1
        self._emit(CallerLeft(self._dt(now), call.queue, call.call_id, call.caller, position, len(waiting), self._longest_wait(call.queue, now)))
        self._emit(AgentConnected(self._dt(now), agent.plan.agent, call.queue, call.call_id, call.caller, hold, _round_ms(now - call.ringing_since)))
        call.done = True
        call.connected_at = now
        agent.token += 1
        self._emit_state(agent, now, AgentState.ON_CALL, None)
        self._push(now + call.talk_s, _CALL_END, (agent.plan.agent, call), agent.token)

    def _call_end(self, agent: _Agent, call: _Call, now: float) -> None:
        talk = call.talk_s
        hold = _round_ms(call.connected_at - call.joined)
        stats = self.stats[call.queue]
        stats["completed"] += 1
        stats["talk_total"] += talk
        agent.calls_taken += 1
        agent.last_call = now
        reason = "caller" if self.rng.random() < 0.6 else "agent"
        self._emit(AgentCompleted(self._dt(now), agent.plan.agent, call.queue, call.call_id, call.caller, hold, talk, reason))
        agent.token += 1
        wrap = self.sim.wrap_up_s
        if self.sim.wrapuptime_s > 0:  # the PBX holds every member for its fixed wrapuptime
            self._emit_state(agent, now, AgentState.WRAP_UP, None)
            self._push(now + self.sim.wrapuptime_s, _WRAP_END, agent.plan.agent, agent.token)
        elif wrap > 0:
            self._emit_state(agent, now, AgentState.WRAP_UP, None)
            self._push(now + wrap * self._draw_uniform(0.5, 1.5), _WRAP_END, agent.plan.agent, agent.token)
        else:
            self._become_available(agent, now)

    def _abandon(self, call: _Call, now: float) -> None:
        waiting = self._waiting[call.queue]
        position = waiting.index(call) + 1
        waiting.remove(call)
        call.done = True
        self.stats[call.queue]["abandoned"] += 1
        self._emit(CallerAbandoned(self._dt(now), call.queue, call.call_id, call.caller, position,
                                   call.original_position, _round_ms(now - call.joined), len(waiting),
                                   self._longest_wait(call.queue, now)))
        if call.agent is not None:
            agent = self._agents[call.agent]
            agent.token += 1
            self._become_available(agent, now)

    def _dispatch(self, queue: str, now: float, exclude: _Agent | None = None) -> None:
        for call in list(self._waiting[queue]):
            if call.agent is not None:
                continue
            agent = self._longest_idle(queue, exclude)
            if agent is None:
                return
            self._ring(agent, call, now)

    def _longest_idle(self, queue: str, exclude: _Agent | None) -> _Agent | None:
        """The ready member of `queue` idle longest (ties: roster order), as Asterisk's leastrecent."""
        best = None
        for agent in self._ready.values():
            if agent is exclude or queue not in agent.plan.queues:
                continue
            if best is None or (agent.idle_since, agent.index) < (best.idle_since, best.index):
                best = agent
        return best

    def _longest_wait(self, queue: str, now: float) -> float:
        waiting = self._waiting[queue]
        return _round_ms(now - waiting[0].joined) if waiting else 0.0
