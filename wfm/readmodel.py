"""The floor's read side: views of the engine's floor state for the wall, the supervisor and the agent.

The engine owns the floor state and calls `remember(outputs)` after each step;
this module only reads it. `floor_view(now)` is the typed view (docs/interfaces.md
§4); `floor_data(now)` is the same view as JSON builtins, built incrementally
for frequent live pushes (agent rows cached per agent and patched in place);
`agent_budget(agent, now)` is one agent's budget with what a request now would
get (the engine's own judgement, handed in as `judge`).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol


from wfm.config import Config
from wfm.decisions import Alert, HoldReleased, Output, Violation
from wfm.events import AgentState, BreakKind
from wfm.floor.model import AgentRecord, BreakRequest, ShiftRecord
from wfm.floor.queues import Tally
from wfm.floor.state import FloorState
from wfm.rules.text import KIND_EN, KIND_ZH, dur, dur_zh
from wfm.wire import to_builtins
from wfm.views import (
    AgentBudgetView,
    AgentView,
    AlertView,
    ApprovalLapsedView,
    BreakPreview,
    FeedView,
    FloorView,
    QueuedBreakView,
    QueueView,
)

RECENT_FINDINGS = 50  # violations and alerts the wall lists


class Judgement(Protocol):
    """What the engine's judgement says about a break request (wfm.engine.Verdict, read-only)."""

    @property
    def allowed(self) -> bool: ...
    @property
    def rule(self) -> str | None: ...
    @property
    def detail(self) -> str: ...
    @property
    def detail_zh(self) -> str: ...
    @property
    def next_window(self) -> float | None: ...


Judge = Callable[[AgentRecord, BreakRequest], Judgement]


class _Row:
    """One agent's cached JSON row for floor_data() and what it was built from.

    The row stays right while the agent's record is unchanged (state generation, queues,
    shift list, break) and `t` stays inside [lo, hi) (no shift starts or ends, no new floor
    day); only the time-dependent fields are patched: seconds_in_state, and for an agent
    on a break its overrun and running short-break use.
    """

    __slots__ = ("row", "gen", "queues", "shifts", "brk", "hold", "lo", "hi", "limit", "bucket")

    def __init__(self, row: dict[str, Any], rec: AgentRecord, lo: float, hi: float, limit: float | None,
                 bucket: ShiftRecord) -> None:
        self.row = row
        self.gen = rec.gen
        self.queues = rec.queues
        self.shifts = rec.shifts
        self.brk = rec.brk
        self.hold = rec.hold
        self.lo = lo
        self.hi = hi
        self.limit = limit
        self.bucket = bucket


class FloorReadModel:
    """Views of one FloorState; never changes it. `threshold(floor)` is the break gate's threshold in
    force, `judge(record, request)` the engine's verdict on a request (for the /me page's previews)."""

    def __init__(self, config: Config, floor: FloorState, threshold: Callable[[FloorState], int], judge: Judge) -> None:
        self.config = config
        self.floor = floor
        self._threshold = threshold
        self._judge = judge
        self._recent: deque[AlertView] = deque(maxlen=RECENT_FINDINGS)
        self._rows: dict[str, _Row] = {}  # floor_data(): each agent's JSON row, patched in place
        self._row_order: list[str] = []

    def remember(self, outputs: Iterable[Output]) -> None:
        """Keep the latest violations and alerts for the wall's alert list."""
        tz = self.floor.tz  # the view shows every time in the floor zone, whatever zone the event came in
        for output in outputs:
            if isinstance(output, Violation):
                self._recent.append(AlertView(ts=output.ts.astimezone(tz), rule=output.rule, agent=output.agent,
                                              detail=output.detail))
            elif isinstance(output, Alert):
                self._recent.append(AlertView(ts=output.ts.astimezone(tz), rule=output.rule, agent=None,
                                              detail=output.detail))

    def remember_released(self, records: Iterable[HoldReleased]) -> None:
        """Held places freed before their break started, in the same list: the supervisor page shows
        them (HOLD_LAPSED / HOLD_NOT_ENACTED are not rule codes; docs/break-holds.md)."""
        tz = self.floor.tz
        for record in records:
            self._recent.append(AlertView(ts=record.ts.astimezone(tz), rule=f"HOLD_{record.reason.upper()}",
                                          agent=record.agent, detail=record.detail))

    def _shift_for_view(self, rec: AgentRecord, t: float) -> ShiftRecord | None:
        return rec.current_shift(t) or rec.next_shift(t)

    def _agent_view(self, rec: AgentRecord, t: float) -> AgentView:
        floor = self.floor
        brk = rec.brk
        limit = None if brk is None else (floor.short_max_s if brk.kind is BreakKind.SHORT else floor.meal_max_s)
        bucket = floor.budget_bucket(rec, t)
        used = floor.short_used_s(bucket, rec, t)
        shift = self._shift_for_view(rec, t)
        return AgentView(
            agent=rec.id, team=rec.team, state=rec.state, since=floor.dt(rec.since),
            seconds_in_state=max(0.0, t - rec.since), queues=list(rec.queues),
            break_kind=brk.kind if brk else None, break_limit_s=limit,
            overrun=brk is not None and limit is not None and t - brk.start > limit,
            shift_start=floor.dt(shift.start) if shift else None,
            shift_end=floor.dt(shift.end) if shift else None,
            meal_slot_start=floor.dt(shift.meal_start) if shift and shift.meal_start is not None else None,
            short_break_used_s=used, short_break_left_s=max(0.0, floor.short_budget_s - used),
            short_breaks_taken=bucket.short_count,
            meal_taken=bool(shift.meal_count) if shift else False,
            allowed_break=rec.hold.kind if rec.hold is not None else None,
            allowed_at=floor.dt(rec.hold.decided_at) if rec.hold is not None else None,
        )

    def floor_view(self, now: datetime, *, feeds: tuple[FeedView, ...] | list[FeedView] = ()) -> FloorView:
        """The whole floor at `now` (wall board, supervisor page)."""
        t = now.timestamp()
        agents = self.floor.agents
        return self._floor_view(now, feeds, [self._agent_view(agents[a], t) for a in sorted(agents)])

    def floor_data(self, now: datetime, *, feeds: tuple[FeedView, ...] | list[FeedView] = (),
                   agents: bool = True) -> dict[str, Any]:
        """msgspec.to_builtins(floor_view(now, feeds=feeds)), built for frequent live pushes.

        The floor numbers come from the incremental counters; the agent rows are cached per
        agent and rebuilt only for agents whose record changed (or whose shift or floor day
        turned over), the others get their time-dependent fields patched. `agents=False`
        leaves "agents" empty (an audience that shows only numbers). The rows are shared
        and patched in place by the next call: encode the result before calling again.
        """
        data = to_builtins(self._floor_view(now, feeds, []))
        if agents:
            data["agents"] = self._agent_rows(now.timestamp())
        return data

    def _agent_rows(self, t: float) -> list[dict[str, Any]]:
        floor = self.floor
        recs = floor.agents
        order = self._row_order
        if len(order) != len(recs):  # agents are only ever added
            order = self._row_order = sorted(recs)
        cache = self._rows
        budget = floor.short_budget_s
        short = BreakKind.SHORT
        day_end: float | None = None
        rows: list[dict[str, Any]] = []
        append = rows.append
        for aid in order:
            rec = recs[aid]
            c = cache.get(aid)
            if (c is None or c.gen != rec.gen or c.queues is not rec.queues or c.shifts is not rec.shifts
                    or c.brk is not rec.brk or c.hold is not rec.hold or not c.lo <= t < c.hi):
                if day_end is None:
                    local = floor.dt(t)
                    day_end = datetime.fromordinal(local.toordinal() + 1).replace(tzinfo=floor.tz).timestamp()
                c = cache[aid] = self._agent_row(rec, t, day_end)
            else:
                row = c.row
                since = rec.since
                row["seconds_in_state"] = t - since if t > since else 0.0
                brk = rec.brk
                if brk is not None:
                    ran = t - brk.start
                    row["overrun"] = c.limit is not None and ran > c.limit
                    if brk.kind is short and brk.bucket is c.bucket:
                        used = c.bucket.short_used_s + (ran if ran > 0.0 else 0.0)
                        row["short_break_used_s"] = used
                        row["short_break_left_s"] = max(0.0, budget - used)
            append(c.row)
        return rows

    def _agent_row(self, rec: AgentRecord, t: float, day_end: float) -> _Row:
        hi = day_end  # a new floor day: another day bucket
        for shift in rec.shifts:  # a shift starting or ending: another current/next shift and bucket
            if t < shift.start < hi:
                hi = shift.start
            if t < shift.end < hi:
                hi = shift.end
        brk = rec.brk
        floor = self.floor
        limit = None if brk is None else (floor.short_max_s if brk.kind is BreakKind.SHORT else floor.meal_max_s)
        return _Row(to_builtins(self._agent_view(rec, t)), rec, t, hi, limit, floor.budget_bucket(rec, t))

    def _floor_view(self, now: datetime, feeds: Sequence[FeedView], agent_views: list[AgentView]) -> FloorView:
        floor = self.floor
        t = now.timestamp()
        day = floor.local_day(t)
        today, window = Tally(), Tally()
        queue_views = []
        longest = None
        for qid in sorted(floor.queues):
            queue = floor.queues[qid]
            q_today = queue.today if queue.day == day else Tally()
            today.add(q_today)
            window.add(queue.window_tally(t))
            longest_q = queue.longest_wait_s(t)
            if longest_q is not None:
                longest = max(longest or 0.0, longest_q)
            queue_views.append(QueueView(
                queue=qid, waiting=queue.waiting, longest_wait_s=longest_q,
                offered=q_today.offered, answered=q_today.answered, answered_in_target=q_today.in_target,
                abandoned=q_today.abandoned, service_level=q_today.service_level, asa_s=q_today.asa_s,
            ))
        threshold = self._threshold(floor)
        on_post = floor.on_post
        n = floor.n_state
        idle_for_rules = floor.idle_for_rules
        return FloorView(
            ts=now, idle_agents=floor.idle, idle_threshold=threshold,
            short_break_blocked=idle_for_rules <= threshold,
            held_places=len(floor.holds), idle_for_rules=idle_for_rules,
            agents_signed_in=len(floor.agents) - n[AgentState.LOGGED_OUT],
            agents_on_post=on_post, agents_on_short_break=n[AgentState.SHORT_BREAK],
            agents_at_meal=n[AgentState.MEAL], calls_waiting=floor.total_waiting,
            longest_wait_s=longest, occupancy=floor.busy / on_post if on_post else None,
            service_level_today=today.service_level, service_level_15m=window.service_level,
            service_level_target=self.config.service.service_level_target,
            asa_s=today.asa_s, abandon_rate=today.abandon_rate,
            queues=queue_views,
            agents=agent_views,
            alerts=list(reversed(self._recent)),
            break_queue=[
                QueuedBreakView(agent=r.agent, kind=r.kind, requested_at=floor.dt(r.t), position=i)
                for i, r in enumerate(floor.break_queue, start=1)
            ],
            feeds=list(feeds),
        )

    def _preview(self, rec: AgentRecord, kind: BreakKind, t: float) -> BreakPreview:
        verdict = self._judge(rec, BreakRequest(rec.id, kind, t))
        return BreakPreview(
            kind=kind, allowed=verdict.allowed, rule=verdict.rule, detail=verdict.detail,
            detail_zh=verdict.detail_zh,
            next_window=self.floor.dt(verdict.next_window) if verdict.next_window is not None else None,
        )

    def agent_budget(self, agent: str, now: datetime) -> AgentBudgetView:
        """An agent's own budget and what a request now would get (the /me page)."""
        floor = self.floor
        t = now.timestamp()
        rec = floor.agents.get(agent)
        if rec is None:  # a configured agent not seen yet: a transient record, never stored
            rec = AgentRecord(agent, self.config.team_of(agent), "floor", t)
        bucket = floor.budget_bucket(rec, t)
        used = floor.short_used_s(bucket, rec, t)
        shift = self._shift_for_view(rec, t)
        brk = rec.brk
        hold = rec.hold
        ends = None
        if brk is not None:
            ends = floor.dt(brk.start + (floor.short_max_s if brk.kind is BreakKind.SHORT else floor.meal_max_s))
        return AgentBudgetView(
            ts=now, agent=agent, state=rec.state, since=floor.dt(rec.since) if agent in floor.agents else None,
            shift_start=floor.dt(shift.start) if shift else None,
            shift_end=floor.dt(shift.end) if shift else None,
            short_break_used_s=used, short_break_left_s=max(0.0, floor.short_budget_s - used),
            short_break_budget_s=floor.short_budget_s, short_break_max_s=floor.short_max_s,
            short_breaks_taken=bucket.short_count,
            meal_slot_start=floor.dt(shift.meal_start) if shift and shift.meal_start is not None else None,
            meal_slot_end=floor.dt(shift.meal_end) if shift and shift.meal_end is not None else None,
            meal_taken=bool(shift.meal_count) if shift else False,
            on_break=brk.kind if brk else None, break_ends_at=ends,
            queue_position=floor.queue_position(agent),
            short_break=self._preview(rec, BreakKind.SHORT, t),
            meal=self._preview(rec, BreakKind.MEAL, t),
            allowed_break=hold.kind if hold is not None else None,
            allowed_at=floor.dt(hold.decided_at) if hold is not None else None,
            hold_lapses_at=floor.dt(hold.lapse_at) if hold is not None and hold.lapse_at is not None else None,
            approval_lapsed=self._lapsed_view(rec),
        )

    def _lapsed_view(self, rec: AgentRecord) -> ApprovalLapsedView | None:
        lapsed = rec.lapsed
        if lapsed is None or lapsed.lapse_at is None:
            return None
        floor = self.floor
        allowed = floor.clock(lapsed.decided_at)
        return ApprovalLapsedView(
            kind=lapsed.kind, allowed_at=floor.dt(lapsed.decided_at), lapsed_at=floor.dt(lapsed.lapse_at),
            detail=f"your approval lapsed — ask again ({KIND_EN[lapsed.kind]} allowed at {allowed}, not started "
                   f"within {dur(self.config.floor.allowed_break_hold_s)} ready)",
            detail_zh=f"你的{KIND_ZH[lapsed.kind]}批准已失效，请重新申请（{allowed}批准，空闲"
                      f"{dur_zh(self.config.floor.allowed_break_hold_s)}未离开）",
        )
