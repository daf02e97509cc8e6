"""Held places: an allowed break holds its place until it starts, is withdrawn or lapses.

docs/interfaces.md §2 ("An allowed break holds its place"), docs/break-holds.md.
A request allowed (directly, from the break queue, or by a supervisor's
allow_break) and not yet started counts its agent as already away for every
floor-wide limit of every later judgement:

- idle agents (话务空闲数) for QUEUE_NEAR_FULL and the gate: ready agents minus
  the ready agents holding a place (short or meal);
- on post for LUNCH_COVER and the service-level gate: on post minus the agents
  on post holding a place (per post);
- the team cap: agents of the team on short break plus those holding a short place.

A place lapses once its agent has spent floor.allowed_break_hold_s in `ready`
since the decision without starting the break (0 = never): time on a call
does not count, a ready agent who does not go does. The book keeps the
counts incrementally (FloorState calls `leave`/`enter` around every state
change of a holder) and its own lapse heap; `pop_lapsed(now)` hands back the
places whose time is up, already released.
"""
from __future__ import annotations

import heapq
from collections import Counter

from wfm.events import ON_POST_STATES, AgentState, BreakKind
from wfm.floor.model import AgentRecord, Hold

__all__ = ["LAPSED", "NOT_ENACTED", "Hold", "HoldBook"]

# why a place was freed before its break started (HoldReleased.reason; a start, a withdrawal or a
# sign-out frees it too, but those are no news to anyone)
LAPSED = "lapsed"  # floor.allowed_break_hold_s spent ready without going
NOT_ENACTED = "not_enacted"  # the PBX never confirmed the pause a grant asked for


class HoldBook:
    """Every held place on the floor and the counts the judgements read."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s  # floor.allowed_break_hold_s; 0 = never lapses
        self.holders: dict[str, AgentRecord] = {}  # agent id -> record (rec.hold set)
        self.ready: Counter[BreakKind] = Counter()  # holders now in `ready`, per kind held
        self.ready_total = 0
        self.on_post = 0  # holders now on post
        self.post_on_post: Counter[str] = Counter()  # holders on post, per post
        self.team: Counter[str] = Counter()  # holders per team (any kind)
        self.team_short: Counter[str] = Counter()  # short-break holders per team
        self._lapses: list[tuple[float, int, str]] = []  # (lapse_at, hold seq, agent)
        self._seq = 0

    def __len__(self) -> int:
        return len(self.holders)

    # --- the counts a judgement uses (the requester's own place never counts against it) ---
    def ready_others(self, rec: AgentRecord) -> int:
        """Ready agents other than `rec` holding a place (short or meal)."""
        own = 1 if rec.hold is not None and rec.state is AgentState.READY else 0
        return self.ready_total - own

    def on_post_others(self, rec: AgentRecord, post: str | None = None) -> int:
        """Agents other than `rec` on post (on `post` when given) holding a place."""
        own = 1 if rec.hold is not None and rec.state in ON_POST_STATES and (post is None or post == rec.post) else 0
        return (self.on_post if post is None else self.post_on_post[post]) - own

    def team_short_others(self, rec: AgentRecord) -> int:
        """Agents of `rec`'s team other than `rec` holding a short-break place."""
        own = 1 if rec.hold is not None and rec.hold.kind is BreakKind.SHORT else 0
        return self.team_short[rec.team] - own

    # --- holding and releasing -------------------------------------------------
    def hold(self, rec: AgentRecord, kind: BreakKind, t: float, *, override: bool = False,
             origin: str = "request") -> Hold:
        """`rec` holds a place for `kind` from t (a hold it had is replaced)."""
        if rec.hold is not None:
            self.release(rec, t)
        self._seq += 1
        hold = Hold(self._seq, rec.id, kind, t, override, origin)
        rec.hold = hold
        self.holders[rec.id] = rec
        self._count(rec, kind, +1)
        if rec.state is AgentState.READY:
            self._start_clock(hold, t)
        return hold

    def release(self, rec: AgentRecord, t: float) -> Hold | None:
        """`rec`'s place is no longer held (started, withdrawn, lapsed, not enacted); the hold, if any."""
        hold = rec.hold
        if hold is None:
            return None
        if hold.ready_since is not None:
            hold.ready_s += max(0.0, t - hold.ready_since)
            hold.ready_since = None
        self._count(rec, hold.kind, -1)
        rec.hold = None
        del self.holders[rec.id]
        return hold

    # --- a holder's state change (FloorState.set_state) ---------------------------
    def leave(self, rec: AgentRecord, hold: Hold, t: float) -> None:
        """Before `rec` (a holder, `hold` its place) leaves its state at t."""
        self._count(rec, hold.kind, -1)
        if hold.ready_since is not None:
            hold.ready_s += max(0.0, t - hold.ready_since)
            hold.ready_since = None
            hold.lapse_at = None

    def enter(self, rec: AgentRecord, hold: Hold, t: float) -> None:
        """After `rec` (a holder, `hold` its place) entered its new state at t."""
        self._count(rec, hold.kind, +1)
        if rec.state is AgentState.READY:
            self._start_clock(hold, t)

    # --- lapses -------------------------------------------------------------
    def next_lapse(self) -> float | None:
        return self._lapses[0][0] if self._lapses else None

    def pop_lapsed(self, now: float) -> list[tuple[AgentRecord, Hold]]:
        """The places whose agent has spent hold_s in ready by `now` (inclusive), released,
        earliest first; stale heap entries (the hold ended or its clock stopped) are dropped."""
        lapsed: list[tuple[AgentRecord, Hold]] = []
        heap = self._lapses
        while heap and heap[0][0] <= now:
            due, seq, agent = heapq.heappop(heap)
            rec = self.holders.get(agent)
            hold = rec.hold if rec is not None else None
            if rec is None or hold is None or hold.seq != seq or hold.lapse_at != due:
                continue
            self.release(rec, due)
            lapsed.append((rec, hold))
        return lapsed

    def _start_clock(self, hold: Hold, t: float) -> None:
        hold.ready_since = t
        if self.hold_s > 0:
            hold.lapse_at = t + max(0.0, self.hold_s - hold.ready_s)
            heapq.heappush(self._lapses, (hold.lapse_at, hold.seq, hold.agent))

    def _count(self, rec: AgentRecord, kind: BreakKind, sign: int) -> None:
        if rec.state is AgentState.READY:
            self.ready[kind] += sign
            self.ready_total += sign
        if rec.state in ON_POST_STATES:
            self.on_post += sign
            self.post_on_post[rec.post] += sign
        self.team[rec.team] += sign
        if kind is BreakKind.SHORT:
            self.team_short[rec.team] += sign
