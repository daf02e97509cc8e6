"""Read models: what the floor shows to the API, the wall board and agents.

The rules engine builds these immutable views; the API serves them as JSON
(msgspec.to_builtins); the dashboard renders them. They are the contract
between wfm/ (state), wfm/api/ (HTTP) and dashboard/ (pixels).
"""
from __future__ import annotations

from datetime import datetime

import msgspec

from wfm.events import AgentState, BreakKind


class _View(msgspec.Struct, frozen=True, kw_only=True):
    pass


class QueueView(_View, frozen=True):
    queue: str
    waiting: int
    longest_wait_s: float | None
    offered: int
    answered: int
    answered_in_target: int
    abandoned: int
    service_level: float | None  # answered within target / (answered + abandoned), today
    asa_s: float | None


class AgentView(_View, frozen=True):
    agent: str
    team: str
    state: AgentState
    since: datetime  # when the current state began
    seconds_in_state: float
    queues: list[str]
    break_kind: BreakKind | None  # set while on short break (小休) or meal (用餐)
    break_limit_s: float | None  # this break's limit (F4 / F5)
    overrun: bool  # on a break past its limit
    shift_start: datetime | None
    shift_end: datetime | None
    meal_slot_start: datetime | None
    short_break_used_s: float  # this shift
    short_break_left_s: float  # this shift's remaining budget (F4)
    short_breaks_taken: int
    meal_taken: bool
    # allowed a break not yet started: the place it holds counts as away (docs/break-holds.md)
    allowed_break: BreakKind | None = None
    allowed_at: datetime | None = None


class AlertView(_View, frozen=True):
    ts: datetime
    rule: str
    agent: str | None
    detail: str


class QueuedBreakView(_View, frozen=True):
    agent: str
    kind: BreakKind
    requested_at: datetime
    position: int  # 1 = next


class FeedView(_View, frozen=True):
    source: str
    state: str
    connected: bool
    stale: bool
    last_event_age_s: float | None
    skipped: int
    drift: int = 0  # agents a reconciliation with the PBX had to correct (AMI QueueStatus)


class FloorView(_View, frozen=True):
    """The whole floor at one instant."""

    ts: datetime
    idle_agents: int  # 话务空闲数: agents in `ready`
    idle_threshold: int  # F3 threshold in force (fixed or scaled)
    short_break_blocked: bool  # idle_for_rules <= idle_threshold: 小休 blocked
    agents_signed_in: int
    agents_on_post: int
    agents_on_short_break: int
    agents_at_meal: int
    calls_waiting: int
    longest_wait_s: float | None
    occupancy: float | None  # busy (on call + wrap-up + ringing) / on post
    service_level_today: float | None
    service_level_15m: float | None
    service_level_target: float
    asa_s: float | None
    abandon_rate: float | None
    queues: list[QueueView]
    agents: list[AgentView]
    alerts: list[AlertView]  # active and recent alerts/violations, newest first
    break_queue: list[QueuedBreakView]
    feeds: list[FeedView]
    # places held by allowed breaks not yet started (docs/break-holds.md): "2 allowed, not yet on break"
    held_places: int = 0
    idle_for_rules: int | None = None  # idle_agents minus the ready agents holding a place: what F3 counts


class BreakPreview(_View, frozen=True):
    """What would happen if the agent asked for a break now."""

    kind: BreakKind
    allowed: bool
    rule: str | None
    detail: str
    detail_zh: str
    next_window: datetime | None


class ApprovalLapsedView(_View, frozen=True):
    """The agent's last approval whose place lapsed, shown until they ask again or go."""

    kind: BreakKind
    allowed_at: datetime
    lapsed_at: datetime
    detail: str  # "your approval lapsed — ask again"
    detail_zh: str


class AgentBudgetView(_View, frozen=True):
    """An agent's own break budget (the /me page)."""

    ts: datetime
    agent: str
    state: AgentState
    since: datetime | None
    shift_start: datetime | None
    shift_end: datetime | None
    short_break_used_s: float
    short_break_left_s: float
    short_break_budget_s: float
    short_break_max_s: float
    short_breaks_taken: int
    meal_slot_start: datetime | None
    meal_slot_end: datetime | None
    meal_taken: bool
    on_break: BreakKind | None
    break_ends_at: datetime | None  # when the current break reaches its limit
    queue_position: int | None  # position in the break queue, if waiting
    short_break: BreakPreview
    meal: BreakPreview
    # an allowed break not yet started holds its place until `hold_lapses_at` if the agent stays ready
    allowed_break: BreakKind | None = None
    allowed_at: datetime | None = None
    hold_lapses_at: datetime | None = None  # None: not ready (the clock stands) or holds never lapse
    approval_lapsed: ApprovalLapsedView | None = None  # "your approval lapsed — ask again"



class _Wall(msgspec.Struct, frozen=True, kw_only=True):
    """The wall's wire types: the one declaration of what GET /api/wall and /ws/wall carry."""


class WallAgent(_Wall, frozen=True, kw_only=True):
    """An agent as the open wall sees them: id and state only (no personal budget)."""

    agent: str
    team: str = ""
    state: AgentState
    since: datetime
    seconds_in_state: float
    break_kind: BreakKind | None = None
    overrun: bool = False
    break_limit_s: float | None = None  # when the API shares it; else the config limit is used


class WallAlert(_Wall, frozen=True, kw_only=True):
    ts: datetime
    rule: str
    agent: str | None = None
    detail: str = ""


class WallQueued(_Wall, frozen=True, kw_only=True):
    agent: str
    kind: BreakKind
    position: int


class WallFeed(_Wall, frozen=True, kw_only=True):
    source: str
    state: str = ""
    connected: bool
    stale: bool
    last_event_age_s: float | None = None


class WallView(_Wall, frozen=True, kw_only=True):
    """GET /api/wall and the /ws/wall floor: the FloorView's public numbers with agent ids and states
    (wfm/api/projections.py builds it from these fields). Fields added later are optional."""

    ts: datetime
    idle_agents: int
    idle_threshold: int
    short_break_blocked: bool
    agents_signed_in: int
    agents_on_post: int
    agents_on_short_break: int
    agents_at_meal: int
    calls_waiting: int
    longest_wait_s: float | None
    occupancy: float | None
    service_level_today: float | None
    service_level_15m: float | None
    service_level_target: float
    asa_s: float | None
    abandon_rate: float | None
    queues: list[QueueView] = []
    agents: list[WallAgent] = []
    alerts: list[WallAlert] = []
    break_queue: list[WallQueued] = []
    feeds: list[WallFeed] = []
    held_places: int = 0  # allowed a break, not yet on it: "2 allowed, not yet on break" (docs/break-holds.md)
    idle_for_rules: int | None = None  # idle_agents minus the ready ones holding a place: the count F3 judges by

