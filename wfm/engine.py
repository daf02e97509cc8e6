"""FloorEngine: events in, decisions/violations/alerts and PBX actions out (docs/interfaces.md §2).

Pure: no I/O, no wall clock, no asyncio. Time is the events' `ts`: `handle`
first advances the floor clock to the event (popping the deadlines that are
due: overruns, late sign-ins, empty posts … stamped with that event's `ts`),
then applies the event, then grants waiting break-queue requests that the
new floor allows (oldest first). `tick(now)` does the same without an event.

Ordering. The engine applies events in the order given (in replay the input
order is the order). An event older than the floor clock by at most
floor.reorder_window_s (a feed's small reordering) keeps its own time for its
agent's durations and budget (never before that agent's previous change);
an older one is applied at the clock's time and logged. Durations never run
backwards, the clock never moves back, and no finding already made is
revisited. Both kinds are counted in `late_events`. Identical feed events
(agent_state, queue_status, call: a PBX resend or reconnect overlap) within
floor.duplicate_window_s are dropped (`duplicates_dropped`); a break request,
cancel, override or shift is a person's act and is never dropped (§2: one
break_request gets exactly one break_decision).

Resync. Between ResyncEvent begin/end from a source, the agent_state and
queue_status events are that source's full snapshot: at `end`, agents last
reported by that source and missing from the snapshot are logged out and its
queues missing from it have nobody waiting. Budgets are never reset by a
resync; an unchanged state (an agent still on the same break) changes nothing.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wfm.config import Config
from wfm.decisions import Alert, BreakDecision, HoldReleased, Output, Violation
from wfm.events import (
    AgentState,
    AgentStateEvent,
    BreakCancelEvent,
    BreakKind,
    BreakRequestEvent,
    CallEvent,
    CallEventKind,
    Event,
    OverrideAction,
    OverrideEvent,
    QueueStatusEvent,
    ResyncEvent,
    ShiftEvent,
)
from wfm.floor.dedup import Deduplicator
from wfm.floor.holds import LAPSED, NOT_ENACTED, Hold
from wfm.floor.model import AgentRecord, BreakRequest
from wfm.floor.queues import ABANDONED, ANSWERED, COMPLETED, OFFERED
from wfm.floor.state import FloorState
from wfm.readmodel import FloorReadModel
from wfm.rules import Note, Refusal, make_rules
from wfm.rules.base import overrides
from wfm.rules.queue_near_full import QueueNearFull
from wfm.rules.text import KIND_EN, KIND_ZH, dur, dur_zh
from wfm.timeutil import require_aware
from wfm.views import (
    AgentBudgetView,
    FeedView,
    FloorView,
)

log = logging.getLogger(__name__)

BREAK_KIND = {AgentState.SHORT_BREAK: BreakKind.SHORT, AgentState.MEAL: BreakKind.MEAL}
_CALL_BITS = {CallEventKind.OFFERED: 1, CallEventKind.ANSWERED: 2, CallEventKind.ABANDONED: 4, CallEventKind.COMPLETED: 8}
_LEFT_BITS = 2 | 4 | 8  # answered, abandoned or completed: the call no longer waits
_ENDED_BITS = 4 | 8  # abandoned or completed: nothing more happens to the call
# An ended call's outcome bits are kept this long to drop late repeats (the PBX resends within
# seconds; reorder and duplicate windows are shorter), then forgotten: at 5,000 agents the floor
# would otherwise hold every call of two days (issue 19: the soak's RSS growth).
FINISHED_CALL_MEMORY_S = 3600.0
_OVERRUN_RULES = frozenset({"SHORT_BREAK_TOO_LONG", "MEAL_TOO_LONG"})  # F4/F5: one break ran too long
_FEED_EVENTS = frozenset({AgentStateEvent, QueueStatusEvent, CallEvent})  # deduplicated (PBX resends)
# an event handler: (event of its type, floor time, the step's outputs, the step's PBX actions)
_Handler = Callable[[Any, float, "list[Output]", "list[PbxAction]"], None]


class ActionPurpose(str, enum.Enum):
    """Why the engine asks the PBX to pause or unpause an agent."""

    ENACT = "enact"  # an allowed break: pause the agent so the break can start
    END = "end"  # a break ended on /me or by a supervisor: back to ready
    REFUSED = "refused"  # a pause judged and refused (floor.enforcement.unpause_on_refused_pause)
    OVERRUN = "overrun"  # F4/F5 overrun (floor.enforcement.unpause_on_overrun)


@dataclass(frozen=True, slots=True)
class PbxAction:
    """An enforcement action for the PBX adapter: pause an allowed break, unpause its end."""

    agent: str
    paused: bool
    reason: str | None
    cause: str
    kind: BreakKind | None = None  # the break a pause enacts (or an unpause ends)
    purpose: ActionPurpose = ActionPurpose.REFUSED
    decided_at: datetime | None = None  # an enacting pause: when its break was allowed (the held place's key)


@dataclass(frozen=True, slots=True)
class StepResult:
    outputs: tuple[Output, ...] = ()
    actions: tuple[PbxAction, ...] = ()
    released: tuple[HoldReleased, ...] = ()  # held places freed (lapsed, not enacted): log records, not §2
    # the Chinese detail of each output, aligned with `outputs` (None where there is none): the live
    # API shows it beside a decision; the §2 record carries English only
    details_zh: tuple[str | None, ...] = ()


EMPTY = StepResult()


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    rule: str | None
    detail: str
    detail_zh: str
    next_window: float | None = None
    queueable: bool = False


class FloorEngine:
    """The live floor and its rulebook. One owner; never re-entered concurrently."""

    def __init__(self, config: Config, *, names: dict[str, str] | None = None) -> None:
        self.config = config
        self.names = dict(names or {})
        self.floor = FloorState(config)
        self.rules = make_rules()
        for index, rule in enumerate(self.rules):
            rule.index = index
        self._judges = {kind: [r for r in self.rules if kind in r.kinds] for kind in BreakKind}
        self._floor_judges = {kind: [r for r in rules if r.floor_wide] for kind, rules in self._judges.items()}
        self._on_shift = [r for r in self.rules if overrides(r, "on_shift")]
        self._on_state = [r for r in self.rules if overrides(r, "on_state")]
        self._on_break = [r for r in self.rules if overrides(r, "on_break_start")]
        self._after = [r for r in self.rules if overrides(r, "after_event")]
        self._gate_rule = next(r for r in self.rules if isinstance(r, QueueNearFull))
        self._dedup = Deduplicator(config.floor.duplicate_window_s)
        self._snapshots: dict[str, tuple[set[str], set[str]]] = {}
        self._queue_fp: tuple[object, ...] | None = None
        self._time_sensitive_queue = config.floor.gate.policy == "service_level"
        self._day = -1
        self._day_end = float("-inf")
        self.late_events = 0
        self._late_logged = 0  # late events logged (the first at WARNING, repeats at DEBUG)
        self._released: list[HoldReleased] = []  # this step's freed places
        self._zh: dict[int, str] = {}  # id(decision) -> its Chinese detail, this step
        # live, with a feed that can be commanded: the agents whose end_break waits for the PBX to
        # confirm the unpause (the floor shows PBX truth, never what was asked for). None (replay,
        # `wfm replay`): an end_break ends the break at the override's ts.
        self.defer_break_end: Callable[[str], bool] | None = None
        self.read_model = FloorReadModel(config, self.floor, self._gate_rule.threshold, self._judge)
        self._handlers: dict[type, _Handler] = {
            AgentStateEvent: self._agent_state,
            QueueStatusEvent: self._queue_status,
            CallEvent: self._call,
            BreakRequestEvent: self._break_request,
            BreakCancelEvent: self._break_cancel,
            OverrideEvent: self._override,
            ShiftEvent: self._shift,
            ResyncEvent: self._resync,
        }

    # --- public API ---------------------------------------------------------
    @property
    def duplicates_dropped(self) -> int:
        return self._dedup.dropped

    def handle(self, event: Event) -> StepResult:
        """Advance the clock to event.ts (timed findings first), then apply the event."""
        floor = self.floor
        ts = event.ts
        t = ts.timestamp()
        out: list[Output] = []
        actions: list[PbxAction] = []
        if floor.now is None or t >= floor.now:
            self._advance(t, ts, out, actions)
        else:
            self.late_events += 1
            if floor.now - t > self.config.floor.reorder_window_s:
                self._late_logged += 1
                log.log(logging.WARNING if self._late_logged == 1 else logging.DEBUG,
                        "event %s at %s is %.1f s behind the floor clock; applied now (%d such so far%s)",
                        type(event).__name__, ts.isoformat(), floor.now - t, self._late_logged,
                        "; repeats are logged at DEBUG" if self._late_logged == 1 else "")
                t = floor.now
            # within the reorder window the event keeps its own time for its agent's accounting
            # (never before that agent's last change); findings already made stay made
        if type(event) in _FEED_EVENTS and self._dedup.is_duplicate(event, ts.timestamp()):
            if floor.break_queue and self._released and floor.now is not None:
                self._grant(floor.now, floor.dt(floor.now), out, actions)  # a lapse freed a place just now
            return self._result(out, actions)
        self._handlers[type(event)](event, t, out, actions)
        for rule in self._after:
            finding = rule.after_event(floor, ts)
            if finding is not None:
                out.append(finding)
        if floor.break_queue:
            self._grant(t, ts, out, actions)
        return self._result(out, actions)

    def _result(self, out: list[Output], actions: list[PbxAction]) -> StepResult:
        released = self._released
        if not out and not actions and not released:
            return EMPTY
        self.read_model.remember(out)
        if released:
            self.read_model.remember_released(released)
            self._released = []
        zh = self._zh
        details_zh = tuple(zh.get(id(o)) for o in out) if zh else ()
        if zh:
            self._zh = {}
        return StepResult(tuple(out), tuple(actions), tuple(released), details_zh)

    def tick(self, now: datetime) -> StepResult:
        """Timed findings due up to `now`, then break-queue grants; never moves the clock back."""
        floor = self.floor
        require_aware(now)
        t = now.timestamp()
        if floor.now is not None and t < floor.now:
            return EMPTY
        out: list[Output] = []
        actions: list[PbxAction] = []
        self._advance(t, now, out, actions)
        if floor.break_queue:
            self._grant(t, now, out, actions)
        return self._result(out, actions)

    def release_hold(self, agent: str, ts: datetime, *, reason: str = NOT_ENACTED,
                     allowed_at: datetime | None = None) -> StepResult:
        """Free the place `agent` holds for an allowed break not yet started, at `ts`.

        For the PBX side: a grant that paused the agent in the PBX holds its place until the
        PBX confirms the pause (the agent_state into the break then starts it, as for any
        allowed break); when the pause is marked not enacted, call this. `allowed_at` (the
        allowed decision's `ts`) makes a late outcome harmless: only the place held by that
        decision is freed, never a newer one. Like `tick`, the clock first advances to `ts`;
        waiting break-queue requests may be granted at once. The result carries one
        HoldReleased (`reason`) when a place was freed, plus any grants. Deterministic: a
        replay that makes the same call at the same `ts` gets the same result.
        """
        floor = self.floor
        require_aware(ts)
        t = ts.timestamp()
        out: list[Output] = []
        actions: list[PbxAction] = []
        if floor.now is None or t > floor.now:
            self._advance(t, ts, out, actions)
        else:
            t, ts = floor.now, floor.dt(floor.now)
        rec = floor.agents.get(agent)
        hold = rec.hold if rec is not None else None
        if rec is not None and hold is not None \
                and (allowed_at is None or abs(hold.decided_at - allowed_at.timestamp()) < 1e-6):
            floor.release_hold(rec, t)
            self._note_released(rec, hold, t, reason)
        if floor.break_queue:
            self._grant(t, ts, out, actions)
        return self._result(out, actions)

    def add_alert(self, alert: Alert) -> None:
        """An alert raised outside the rules (a PBX action that failed) shown with the findings."""
        self.read_model.remember([alert])

    def known_agent(self, agent: str) -> bool:
        if agent in self.floor.agents:
            return True
        return any(agent in team.agents for team in self.config.teams) or any(
            user.agent == agent for user in self.config.users
        )

    # --- time -----------------------------------------------------------------
    def _advance(self, t: float, ts: datetime, out: list[Output], actions: list[PbxAction]) -> None:
        floor = self.floor
        floor.now = t
        rules = self.rules
        pop = floor.deadlines.pop_due
        deadline = pop(t)
        while deadline is not None:
            finding = rules[deadline.rule].on_due(floor, deadline, ts)
            if finding is not None:
                out.append(finding)
                if finding.rule in _OVERRUN_RULES and self.config.floor.enforcement.unpause_on_overrun:
                    self._end_overrun(finding, actions)
            deadline = pop(t)
        if floor.holds.next_lapse() is not None:
            for rec, hold in floor.holds.pop_lapsed(t):
                self._note_released(rec, hold, t if hold.lapse_at is None else hold.lapse_at, LAPSED)
                rec.lapsed = hold

    def _note_released(self, rec: AgentRecord, hold: Hold, t: float, reason: str) -> None:
        """A freed place as a log record (docs/break-holds.md); never a §2 output."""
        floor = self.floor
        kind = hold.kind
        allowed = floor.clock(hold.decided_at)
        if reason == LAPSED:
            spent = dur(self.config.floor.allowed_break_hold_s)
            detail = (f"approval of {KIND_EN[kind]} at {allowed} lapsed: {spent} ready without starting it; "
                      f"the place is free again — ask again")
            detail_zh = f"{allowed}批准的{KIND_ZH[kind]}已失效：空闲{dur_zh(self.config.floor.allowed_break_hold_s)}未离开，名额已释放，请重新申请"
        else:
            detail = (f"approval of {KIND_EN[kind]} at {allowed} released: the PBX pause was not enacted ({reason}); "
                      f"the place is free again — ask again")
            detail_zh = f"{allowed}批准的{KIND_ZH[kind]}未能在电话系统中执行，名额已释放，请重新申请"
        log.info("held place released: %s's %s allowed at %s (%s)", rec.id, kind.value, allowed, reason)
        self._released.append(HoldReleased(ts=floor.dt(t), agent=rec.id, kind=kind, reason=reason,
                                           allowed_at=floor.dt(hold.decided_at), detail=detail, detail_zh=detail_zh))

    def keep_break(self, agent: str) -> bool:
        """The PBX refused (or never enacted) the unpause of an end_break: the break simply
        continues, as the PBX says (its `ending` mark is dropped). True if there was one to keep."""
        rec = self.floor.agents.get(agent)
        if rec is None or rec.brk is None or rec.brk.ending is None:
            return False
        rec.brk.ending = None
        log.info("end of %s's %s not enacted by the PBX: the break continues", agent, rec.brk.kind.value)
        return True

    def _end_overrun(self, finding: Output, actions: list[PbxAction]) -> None:
        agent = finding.agent if isinstance(finding, Violation | BreakDecision) else None  # an Alert names none
        rec = self.floor.agents.get(agent) if agent else None
        if rec is not None and rec.brk is not None:
            actions.append(PbxAction(rec.id, False, None, f"{KIND_EN[rec.brk.kind]} overran ({finding.rule})",
                                     rec.brk.kind, ActionPurpose.OVERRUN))

    def _enact(self, rec: AgentRecord, kind: BreakKind, t: float, cause: str, actions: list[PbxAction]) -> None:
        """Ask the PBX to pause an agent whose break was just allowed at `t` (the break starts at its
        confirmation; a pause never confirmed frees the place through release_hold(allowed_at))."""
        if self.config.floor.enforcement.pause_on_allow:
            reasons = self.config.pbx.break_reasons
            reason = reasons.short if kind is BreakKind.SHORT else reasons.meal
            actions.append(PbxAction(rec.id, True, reason, cause, kind, ActionPurpose.ENACT,
                                     decided_at=self.floor.dt(t)))

    # --- event handlers -------------------------------------------------------
    def _agent_state(self, ev: AgentStateEvent, t: float, out: list[Output], actions: list[PbxAction]) -> None:
        floor = self.floor
        rec = floor.agent(ev.agent, t)
        source = ev.source
        snapshot = self._snapshot_for(source)
        if snapshot is not None:
            snapshot[0].add(rec.id)
            source = source or self._single_snapshot_source()
        if source is not None:
            rec.source = source
        if ev.queues is not None:
            rec.queues = tuple(ev.queues)
        state = ev.state if type(ev.state) is AgentState else AgentState(ev.state)
        if state is not rec.state:
            self._change_state(rec, state, t, ev.ts, out, actions)

    def _change_state(self, rec: AgentRecord, new: AgentState, t: float, ts: datetime,
                      out: list[Output], actions: list[PbxAction]) -> None:
        floor = self.floor
        t = max(t, rec.since)  # a reordered event never changes a state before it began
        brk = rec.brk
        if brk is not None and brk.ending is not None:  # the end_break the PBX now enacts: minutes until it
            floor.end_break(rec, min(t, max(brk.ending, brk.start)))
        kind = BREAK_KIND.get(new)
        if kind is None:
            old = floor.set_state(rec, new, t)
            for rule in self._on_state:
                rule.on_state(floor, rec, old, t)
            if new is AgentState.LOGGED_OUT:
                floor.dequeue(rec.id)
                floor.release_hold(rec, t)
                rec.lapsed = None
            return
        approval = rec.hold
        lapsed, rec.lapsed = rec.lapsed, None
        if approval is not None:  # the place becomes the break (or is given up for the other kind)
            floor.release_hold(rec, t)
        elif lapsed is not None and lapsed.kind is kind and self._floor_has_room(rec, kind, t):
            approval = lapsed  # its place lapsed, but the floor still has room: the approval stands
        granted = approval is not None and approval.kind is kind
        if approval is not None and granted:
            allowed, overridden, rule_code = True, approval.override, None
            floor.dequeue(rec.id)
        else:
            verdict = self._decide(rec, BreakRequest(rec.id, kind, t, origin="pause"), ts, out)
            allowed, overridden, rule_code = verdict.allowed, False, verdict.rule
            if not allowed and self.config.floor.enforcement.unpause_on_refused_pause:
                actions.append(PbxAction(rec.id, False, None, f"refused {kind.value} pause: {rule_code}", kind,
                                         ActionPurpose.REFUSED))
        old = floor.set_state(rec, new, t)
        brk = floor.start_break(rec, kind, t, allowed=allowed, overridden=overridden, rule=rule_code)
        for rule in self._on_state:
            rule.on_state(floor, rec, old, t)
        for rule in self._on_break:
            finding = rule.on_break_start(floor, rec, brk, t, ts, granted)
            if finding is not None:
                out.append(finding)

    def _break_request(self, ev: BreakRequestEvent, t: float, out: list[Output], actions: list[PbxAction]) -> None:
        rec = self.floor.agent(ev.agent, t)
        kind = BreakKind(ev.kind)
        verdict = self._decide(rec, BreakRequest(rec.id, kind, t, ev.minutes, ev.queue, "request"), ev.ts, out)
        if verdict.allowed and rec.brk is None:
            self._enact(rec, kind, t, f"{KIND_EN[kind]} request allowed", actions)

    def _break_cancel(self, ev: BreakCancelEvent, t: float, out: list[Output], actions: list[PbxAction]) -> None:
        floor = self.floor
        rec = floor.agent(ev.agent, t)
        floor.dequeue(rec.id)
        floor.release_hold(rec, t)  # withdrawn: the place is free at once
        rec.refused = None
        rec.lapsed = None
        if rec.brk is not None:
            # the agent ends their own break: the PBX unpauses them and its event ends the break
            actions.append(PbxAction(rec.id, False, None, f"{KIND_EN[rec.brk.kind]} ended by the agent",
                                     rec.brk.kind, ActionPurpose.END))

    def _override(self, ev: OverrideEvent, t: float, out: list[Output], actions: list[PbxAction]) -> None:
        floor = self.floor
        rec = floor.agent(ev.agent, t)
        note = f": {ev.note}" if ev.note else ""
        if OverrideAction(ev.action) is OverrideAction.ALLOW_BREAK:
            if rec.brk is not None:  # already on a (refused) break: it becomes an approved one
                kind = rec.brk.kind
                rec.brk.allowed = rec.brk.overridden = True
            else:
                queued = floor.dequeue(rec.id)
                if ev.kind is not None:  # the supervisor chose the kind
                    kind = BreakKind(ev.kind)
                elif queued is not None:
                    kind = queued.kind
                elif rec.refused is not None:
                    kind = rec.refused.kind
                elif rec.pending is not None:
                    kind = rec.pending
                else:
                    kind = BreakKind.SHORT
                verdict = self._judge(rec, BreakRequest(rec.id, kind, t, origin="override"))
                if not verdict.allowed:  # the supervisor's word stands; what it overrode is on record
                    log.info("override: %s allows %s's %s the rules refuse (%s: %s)", ev.supervisor, rec.id,
                             kind.value, verdict.rule, verdict.detail)
                floor.hold(rec, kind, t, override=True, origin="override")
                self._enact(rec, kind, t, f"{KIND_EN[kind]} allowed by supervisor {ev.supervisor}", actions)
            rec.refused = None
            out.append(BreakDecision(
                ts=ev.ts, agent=rec.id, kind=kind, allowed=True, rule=None,
                detail=f"{KIND_EN[kind]} allowed by supervisor {ev.supervisor} (override){note}",
                next_window=None,
            ))
        elif rec.brk is not None:  # end_break: the break's minutes count until now
            brk = rec.brk
            kind = brk.kind
            if self.defer_break_end is not None and self.defer_break_end(rec.id):
                # the break ends when the feed reports the unpause (_change_state); until then the
                # floor shows it, marked ending; a refused unpause leaves it running (keep_break)
                if brk.ending is None:
                    brk.ending = t
            else:
                self._change_state(rec, AgentState.READY, t, ev.ts, out, actions)
            actions.append(PbxAction(rec.id, False, None,
                                     f"{KIND_EN[kind]} ended by supervisor {ev.supervisor} (override){note}",
                                     kind, ActionPurpose.END))

    def _shift(self, ev: ShiftEvent, t: float, out: list[Output], actions: list[PbxAction]) -> None:
        floor = self.floor
        rec = floor.agent(ev.agent, t)
        shift = floor.add_shift(rec, ev, t)
        for rule in self._on_shift:
            rule.on_shift(floor, rec, shift, t)

    def _queue_status(self, ev: QueueStatusEvent, t: float, out: list[Output], actions: list[PbxAction]) -> None:
        floor = self.floor
        queue = floor.queue(ev.queue)
        source = ev.source
        snapshot = self._snapshot_for(source)
        if snapshot is not None:
            snapshot[1].add(queue.id)
            source = source or self._single_snapshot_source()
        if source is not None:
            queue.source = source
        floor.set_waiting(queue, ev.waiting, ev.longest_wait_s, t)

    def _call(self, ev: CallEvent, t: float, out: list[Output], actions: list[PbxAction]) -> None:
        floor = self.floor
        if t >= self._day_end:
            self._roll_day(t)
        queue = floor.queue(ev.queue)
        if queue.day != self._day:
            queue.roll_day(self._day)
        entry = floor.calls.get(ev.call_id)
        if entry is None:
            entry = floor.calls[ev.call_id] = [t, 0]
        kind = ev.event if type(ev.event) is CallEventKind else CallEventKind(ev.event)
        bit = _CALL_BITS[kind]
        if entry[1] & bit:
            return  # the same outcome of the same call again
        prior = entry[1]
        entry[1] |= bit
        if bit & _ENDED_BITS and not prior & _ENDED_BITS:
            self._forget_ended_calls(t, ev.call_id)
        if not prior & _LEFT_BITS:  # live longest wait: the call waits from offered until it leaves
            if kind is CallEventKind.OFFERED:
                queue.offered(ev.call_id, t)
            else:
                queue.left(ev.call_id)
        today = queue.today
        if kind is CallEventKind.OFFERED:
            entry[0] = t
            today.offered += 1
            queue.record(t, OFFERED, 0.0, False)
            floor.traffic.offered(t)
        elif kind is CallEventKind.ANSWERED:
            wait = ev.wait_s if ev.wait_s is not None else (t - entry[0] if entry[1] & 1 else 0.0)
            in_target = wait <= floor.answer_s
            today.answered += 1
            today.in_target += in_target
            today.wait_sum += wait
            queue.record(t, ANSWERED, wait, in_target)
        elif kind is CallEventKind.ABANDONED:
            today.abandoned += 1
            queue.record(t, ABANDONED, ev.wait_s or 0.0, False)
        else:
            talk = ev.talk_s or 0.0
            today.completed += 1
            today.talk_sum += talk
            queue.record(t, COMPLETED, talk, False)
            floor.traffic.completed(t, talk)

    def _forget_ended_calls(self, t: float, call_id: str) -> None:
        finished = self.floor.finished_calls
        finished.append((t, call_id))
        horizon = t - FINISHED_CALL_MEMORY_S
        calls = self.floor.calls
        while finished and finished[0][0] < horizon:
            calls.pop(finished.popleft()[1], None)

    def _roll_day(self, t: float) -> None:
        floor = self.floor
        local = floor.dt(t)
        self._day = local.toordinal()
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        self._day_end = datetime.fromordinal(self._day + 1).replace(tzinfo=floor.tz).timestamp()
        horizon = midnight.timestamp() - 86400.0
        floor.calls = {cid: e for cid, e in floor.calls.items() if e[0] >= horizon}
        for queue in floor.queues.values():  # a call still "waiting" after a day lost its end
            queue.open_calls = {cid: at for cid, at in queue.open_calls.items() if at >= horizon}

    def _resync(self, ev: ResyncEvent, t: float, out: list[Output], actions: list[PbxAction]) -> None:
        floor = self.floor
        if ev.phase == "begin":
            self._snapshots[ev.source] = (set(), set())
            return
        snapshot = self._snapshots.pop(ev.source, None)
        if snapshot is None:
            log.warning("resync end from %s without a begin; ignored", ev.source)
            return
        agents_seen, queues_seen = snapshot
        for rec in list(floor.agents.values()):
            if rec.source == ev.source and rec.id not in agents_seen and rec.state is not AgentState.LOGGED_OUT:
                self._change_state(rec, AgentState.LOGGED_OUT, t, ev.ts, out, actions)
        for queue in floor.queues.values():
            if queue.source == ev.source and queue.id not in queues_seen:
                floor.set_waiting(queue, 0, None, t)

    def _snapshot_for(self, source: str | None) -> tuple[set[str], set[str]] | None:
        if not self._snapshots:
            return None
        if source is None:
            return next(iter(self._snapshots.values())) if len(self._snapshots) == 1 else None
        return self._snapshots.get(source)

    def _single_snapshot_source(self) -> str | None:
        return next(iter(self._snapshots)) if len(self._snapshots) == 1 else None

    # --- break decisions ------------------------------------------------------
    def _judge(self, rec: AgentRecord, req: BreakRequest) -> Verdict:
        """The one judgement of a break: a request, a pause judged as one, a queue grant, a
        supervisor's allow (whose verdict is logged, not obeyed) and the /me preview all come
        here, with the same view of the floor (other agents' held places count as away)."""
        notes: list[Note] = []
        floor = self.floor
        for rule in self._judges[req.kind]:
            result = rule.judge(floor, rec, req)
            if result is None:
                continue
            if isinstance(result, Refusal):
                detail = "; ".join([result.detail] + [n.detail for n in notes])
                zh = "；".join([result.detail_zh] + [n.detail_zh for n in notes if n.detail_zh])
                return Verdict(False, result.rule, detail, zh, result.next_window, result.queueable)
            notes.append(result)
        detail = f"{KIND_EN[req.kind]} allowed"
        if notes:
            detail += ": " + "; ".join(n.detail for n in notes)
        zh = f"可以{KIND_ZH[req.kind]}" + ("：" + "，".join(n.detail_zh for n in notes if n.detail_zh) if notes else "")
        return Verdict(True, None, detail, zh)

    def _floor_has_room(self, rec: AgentRecord, kind: BreakKind, t: float) -> bool:
        """Would the floor-wide rules (team cap, gate, lunch cover) let `rec` go now?"""
        req = BreakRequest(rec.id, kind, t, origin="pause")
        return not any(isinstance(rule.judge(self.floor, rec, req), Refusal) for rule in self._floor_judges[kind])

    def _decide(self, rec: AgentRecord, req: BreakRequest, ts: datetime, out: list[Output]) -> Verdict:
        """Judge a request (or a pause judged as one) and print its one break_decision."""
        floor = self.floor
        verdict = self._judge(rec, req)
        detail, zh = verdict.detail, verdict.detail_zh
        rec.lapsed = None
        if verdict.allowed:
            floor.dequeue(rec.id)
            rec.refused = None
            if req.origin == "request" and rec.brk is None:
                # an agent already on a break holds no second place (the API refuses such a request
                # with a 409; one can still reach the judge from a standby's stale view)
                floor.hold(rec, req.kind, req.t, origin="request")
        elif req.queue and verdict.queueable and self.config.floor.break_queue.enabled:
            position = floor.enqueue(req)
            rec.refused = None
            detail += f"; waiting in the break queue at position {position}"  # (the API answer carries the position)
        else:
            floor.dequeue(rec.id)
            rec.refused = req
        decision = BreakDecision(
            ts=ts, agent=rec.id, kind=req.kind, allowed=verdict.allowed, rule=verdict.rule,
            detail=detail,
            next_window=floor.dt(verdict.next_window) if verdict.next_window is not None else None,
        )
        out.append(decision)
        self._zh[id(decision)] = zh
        return verdict

    def _queue_fingerprint(self) -> tuple[object, ...]:
        floor = self.floor
        n = floor.n_state
        holds = floor.holds
        return (n[AgentState.READY], floor.on_post, n[AgentState.SHORT_BREAK], n[AgentState.MEAL],
                len(holds), holds.ready_total, holds.on_post, len(floor.break_queue),
                floor.now if self._time_sensitive_queue else 0)

    def _grant(self, t: float, ts: datetime, out: list[Output], actions: list[PbxAction]) -> None:
        """Grant waiting requests the floor now allows, oldest first; a blocked kind blocks younger ones."""
        floor = self.floor
        fingerprint = self._queue_fingerprint()
        if fingerprint == self._queue_fp:
            return
        team_cap = self.config.floor.break_queue.max_on_break_per_team
        blocked: set[BreakKind] = set()
        kinds = floor.queued_kinds
        for req in list(floor.break_queue):
            if req.kind in blocked:
                if all(kinds[k] == 0 or k in blocked for k in kinds):
                    break  # the oldest of every waiting kind waits: nobody younger may pass it
                continue
            rec = floor.agents[req.agent]
            verdict = self._judge(rec, BreakRequest(rec.id, req.kind, t, req.minutes, True, "queue"))
            if not verdict.allowed:
                if verdict.queueable:
                    blocked.add(req.kind)
                else:
                    floor.dequeue(rec.id)
                    log.info("break queue: %s's %s request dropped (%s)", rec.id, req.kind.value, verdict.rule)
                continue
            if team_cap:
                reserved = floor.pending_team[rec.team]
                if floor.team_breaks[rec.team] + reserved >= team_cap:
                    continue
            floor.dequeue(rec.id)
            floor.hold(rec, req.kind, t, origin="queue")
            self._enact(rec, req.kind, t, f"{KIND_EN[req.kind]} granted from the break queue", actions)
            decision = BreakDecision(
                ts=ts, agent=rec.id, kind=req.kind, allowed=True, rule=None,
                detail=f"{verdict.detail}; granted from the break queue after {dur(t - req.t)} waiting",
                next_window=None,
            )
            out.append(decision)
            self._zh[id(decision)] = f"{verdict.detail_zh}；排队{dur_zh(t - req.t)}后获准"
        self._queue_fp = self._queue_fingerprint()

    # --- read side (wfm/readmodel.py) -------------------------------------------
    def floor_view(self, now: datetime, *, feeds: tuple[FeedView, ...] | list[FeedView] = ()) -> FloorView:
        """The whole floor at `now` (wall board, supervisor page); see FloorReadModel.floor_view."""
        return self.read_model.floor_view(now, feeds=feeds)

    def floor_data(self, now: datetime, *, feeds: tuple[FeedView, ...] | list[FeedView] = (),
                   agents: bool = True) -> dict[str, Any]:
        """floor_view as JSON builtins, built incrementally; see FloorReadModel.floor_data."""
        return self.read_model.floor_data(now, feeds=feeds, agents=agents)

    def agent_budget(self, agent: str, now: datetime) -> AgentBudgetView:
        """An agent's own budget and what a request now would get (the /me page)."""
        return self.read_model.agent_budget(agent, now)
