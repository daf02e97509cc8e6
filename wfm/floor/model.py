"""Mutable per-agent records owned by FloorState (never handed out to callers).

Read models handed to the API and dashboard are the frozen structs of
wfm.views; these records are the engine's private working state, kept as
`__slots__` classes because 5,000 agents are updated tens of thousands of
times a second.
"""
from __future__ import annotations

from dataclasses import dataclass
from wfm.events import AgentState, BreakKind

OFF_POST_SPELL_STATES = frozenset({AgentState.NOT_READY, AgentState.LOGGED_OUT})


class ShiftRecord:
    """One rostered shift of one agent, with the break budget used in it.

    The short-break budget (F4) belongs to the shift: a new shift starts a new
    budget, a reconnect or restart does not. A floor without any roster keeps
    a per-agent, per-floor-day bucket of the same type (`rostered=False`).
    """

    __slots__ = (
        "start", "end", "meal_start", "meal_end", "rostered",
        "short_used_s", "short_count", "meal_count", "first_meal_start",
        "slot_off_post_s", "first_on_post", "reported",
    )

    def __init__(self, start: float, end: float, meal_start: float | None, meal_slot_s: float,
                 rostered: bool = True) -> None:
        self.start = start
        self.end = end
        self.meal_start = meal_start
        self.meal_end = meal_start + meal_slot_s if meal_start is not None else None
        self.rostered = rostered
        self.short_used_s = 0.0  # closed short breaks only; add the running break for "used now"
        self.short_count = 0
        self.meal_count = 0
        self.first_meal_start: float | None = None
        self.slot_off_post_s = 0.0  # off-post seconds inside the meal slot (closed intervals)
        self.first_on_post: float | None = None  # first instant on post at or after start
        self.reported: set[str] = set()  # once-per-shift findings already made (kept when re-published)

    def in_slot(self, t: float) -> bool:
        start, end = self.meal_start, self.meal_end
        return start is not None and end is not None and start <= t < end

    @property
    def meal_slot(self) -> tuple[float, float] | None:
        """(start, end) of the assigned meal slot; None when the shift has none."""
        start, end = self.meal_start, self.meal_end
        return (start, end) if start is not None and end is not None else None

    def slot_overlap(self, start: float, end: float) -> float:
        """Seconds of [start, end) inside the meal slot; 0 or less when they do not meet or there is no slot."""
        start_slot, end_slot = self.meal_start, self.meal_end
        if start_slot is None or end_slot is None:
            return 0.0
        return min(end, end_slot) - max(start, start_slot)


class BreakRecord:
    """A break in progress: short break (小休) or meal (用餐)."""

    __slots__ = ("id", "kind", "start", "allowed", "overridden", "bucket", "rule", "ending")

    def __init__(self, id: int, kind: BreakKind, start: float, allowed: bool, overridden: bool,
                 bucket: ShiftRecord | None, rule: str | None) -> None:
        self.id = id
        self.kind = kind
        self.start = start
        self.allowed = allowed
        self.overridden = overridden
        self.bucket = bucket  # the shift (or day bucket) whose budget this break uses
        self.rule = rule  # the refusal code when the break was taken against a refusal
        # an end asked for (end_break) and sent to the PBX, not yet confirmed by the feed: when it was
        # asked (the break's minutes count until then once the feed reports the unpause)
        self.ending: float | None = None


class Hold:
    """The place held by an allowed break not yet started (wfm/floor/holds.py): whose, which
    kind, since when, and its clock of ready time."""

    __slots__ = ("seq", "agent", "kind", "decided_at", "override", "origin", "ready_s", "ready_since", "lapse_at")

    def __init__(self, seq: int, agent: str, kind: BreakKind, decided_at: float, override: bool, origin: str) -> None:
        self.seq = seq
        self.agent = agent
        self.kind = kind
        self.decided_at = decided_at  # the allowed decision's time (epoch s)
        self.override = override  # allowed by a supervisor's allow_break
        self.origin = origin  # "request" | "queue" | "override"
        self.ready_s = 0.0  # ready seconds spent before ready_since
        self.ready_since: float | None = None  # in ready since (None while not ready)
        self.lapse_at: float | None = None  # when the place lapses if the agent stays ready


@dataclass(frozen=True, slots=True)
class BreakRequest:
    """A request to judge: a §1 break_request, or a pause with no allowed request pending."""

    agent: str
    kind: BreakKind
    t: float
    minutes: float | None = None
    queue: bool = False
    origin: str = "request"  # "request" | "pause" | "queue"


class AgentRecord:
    __slots__ = (
        "id", "team", "post", "state", "since", "queues", "source", "shifts", "day_buckets",
        "gen", "brk", "hold", "lapsed", "queued", "refused", "off_post_since",
        "off_post_spell", "signed_in_since", "on_post_since",
    )

    def __init__(self, agent: str, team: str, post: str, t: float) -> None:
        self.id = agent
        self.team = team
        self.post = post
        self.state = AgentState.LOGGED_OUT
        self.since = t
        self.queues: tuple[str, ...] = ()
        self.source: str | None = None
        self.shifts: list[ShiftRecord] = []  # sorted by start
        self.day_buckets: dict[int, ShiftRecord] = {}
        self.gen = 0  # bumped at every state change
        self.brk: BreakRecord | None = None
        self.hold: Hold | None = None  # an allowed break not yet started: the place it holds (wfm/floor/holds.py)
        self.lapsed: Hold | None = None  # the last place that lapsed, until the agent asks again or goes
        self.queued: BreakRequest | None = None
        self.refused: BreakRequest | None = None  # last refused request, for a supervisor's allow_break
        self.off_post_since: float | None = t  # start of the not_ready/logged_out spell
        self.off_post_spell = 0
        self.signed_in_since: float | None = None
        self.on_post_since: float | None = None  # start of the current on-post spell (ready/ringing/on call/wrap-up)

    @property
    def pending(self) -> BreakKind | None:
        """The kind of the allowed break not yet started (None when no place is held)."""
        return self.hold.kind if self.hold is not None else None

    @property
    def pending_override(self) -> bool:
        return self.hold is not None and self.hold.override

    def current_shift(self, t: float) -> ShiftRecord | None:
        """The rostered shift with start <= t < end (the latest-starting one if several overlap)."""
        found = None
        for shift in self.shifts:
            if shift.start > t:
                break
            if t < shift.end:
                found = shift
        return found

    def next_shift(self, t: float) -> ShiftRecord | None:
        for shift in self.shifts:
            if shift.start > t:
                return shift
        return None
