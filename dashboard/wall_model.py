"""What the wall board shows, computed from a floor view: pure, no Dash, no I/O.

Works on the full FloorView (supervisors) and on the open wall's projection
(wfm.views.WallView), which has the same numbers but fewer agent fields.

The wall page turns these small frozen models into HTML; tests check them
directly. Colour levels: "ok" (green), "warn" (amber), "alarm" (red),
"neutral" (no judgement).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal
from collections.abc import Sequence

from dashboard.i18n import label, rule_label, state_label
from wfm.views import AgentView, FloorView

Level = Literal["ok", "warn", "alarm", "neutral"]


@dataclass(frozen=True)
class WallSettings:
    """The config numbers the wall judges by (never constants in code)."""

    answer_target_s: float  # S1: answer within about 15 s
    service_level_answer_s: float  # service level counts answers within this
    idle_amber_margin: int  # amber at threshold + margin, red at <= threshold
    occupancy_cap: float
    alerts_shown: int
    occupancy_history_min: int
    tz: tzinfo
    short_break_max_s: float  # F4: a short break's limit when the view does not carry one
    meal_max_s: float  # F5: a meal's limit

    @classmethod
    def from_config(cls, config) -> WallSettings:
        return cls(
            answer_target_s=config.service.answer_target_s,
            service_level_answer_s=config.service.service_level_answer_s,
            idle_amber_margin=config.dashboard.idle_amber_margin,
            occupancy_cap=config.service.occupancy_cap,
            alerts_shown=config.dashboard.alerts_shown,
            occupancy_history_min=config.dashboard.occupancy_history_min,
            tz=config.floor.tz,
            short_break_max_s=config.floor.short_break_max_min * 60.0,
            meal_max_s=config.floor.meal_max_min * 60.0,
        )


TILE_KEYS = ("calls_waiting", "longest_wait", "idle_agents", "short_break", "meal", "service_level",
             "occupancy", "abandon_rate")


@dataclass(frozen=True)
class Tile:
    key: str  # stable id: calls_waiting, longest_wait, idle_agents, short_break, meal, service_level, occupancy, abandon_rate
    title: str
    value: str
    detail: str
    level: Level


@dataclass(frozen=True)
class AgentCard:
    agent: str
    state: str
    state_label: str
    time_in_state: str
    level: Level  # alarm = on a break past its limit


@dataclass(frozen=True)
class BreakRow:
    agent: str
    kind_label: str
    elapsed: str
    remaining: str  # "3:12 left" or "+1:05 over"
    overrun: bool


@dataclass(frozen=True)
class AlertRow:
    time: str
    rule: str
    rule_label: str
    agent: str
    detail: str


@dataclass(frozen=True)
class FeedRow:
    source: str
    status: str
    age: str
    level: Level


def format_duration(seconds: float | None) -> str:
    """m:ss under an hour, h:mm:ss above; an em dash when unknown."""
    if seconds is None:
        return "—"
    total = int(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    mins, secs = divmod(rest, 60)
    return f"{hours}:{mins:02d}:{secs:02d}" if hours else f"{mins}:{secs:02d}"


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def idle_level(idle: int, threshold: int, amber_margin: int) -> Level:
    """F3: red at or below the near-full threshold (小休 blocked), amber just above it."""
    if idle <= threshold:
        return "alarm"
    if idle <= threshold + amber_margin:
        return "warn"
    return "ok"


def wait_level(longest_wait_s: float | None, waiting: int, settings: WallSettings) -> Level:
    if not waiting or longest_wait_s is None:
        return "ok" if not waiting else "warn"
    if longest_wait_s > settings.service_level_answer_s:
        return "alarm"
    if longest_wait_s > settings.answer_target_s:
        return "warn"
    return "ok"


def service_level_level(today: float | None, last_15m: float | None, target: float) -> Level:
    if today is None and last_15m is None:
        return "neutral"
    worst = min(v for v in (today, last_15m) if v is not None)
    if worst >= target:
        return "ok"
    if today is not None and today >= target:
        return "warn"  # the day is fine, the last 15 minutes are not
    return "alarm"


def held_places_text(held: int, counted: int) -> str:
    """'2 allowed, not yet on break (已批准未离席2人) → 3 count': the places F3 counts as away."""
    return f"{held} {label('held_places', 'en')} ({label('held_places', 'zh')}{held}人) → {counted}"


def tiles(view: FloorView, settings: WallSettings) -> list[Tile]:
    """The wall's big tiles, always all of them (also when nobody is on break)."""
    # F3 counts the idle agents minus those already allowed a break (held places, docs/break-holds.md)
    held = getattr(view, "held_places", 0) or 0
    for_rules = getattr(view, "idle_for_rules", None)
    counted = view.idle_agents if for_rules is None else for_rules
    idle = idle_level(counted, view.idle_threshold, settings.idle_amber_margin)
    if view.short_break_blocked:
        idle_detail = f"{label('short_break_blocked')} · ≤ {view.idle_threshold}"
    elif idle == "warn":
        idle_detail = f"{label('near_threshold')} {view.idle_threshold}"
    else:
        idle_detail = f"{label('short_break_open')} · {label('threshold')} {view.idle_threshold}"
    if held:
        idle_detail = f"{held_places_text(held, counted)} · {idle_detail}"
    occupancy_level: Level = "neutral"
    if view.occupancy is not None:
        occupancy_level = "warn" if view.occupancy > settings.occupancy_cap else "ok"
    return [
        Tile(
            "calls_waiting",
            label("calls_waiting"),
            str(view.calls_waiting),
            " · ".join(f"{q.queue} {q.waiting}" for q in view.queues) or "—",
            wait_level(view.longest_wait_s, view.calls_waiting, settings),
        ),
        Tile(
            "longest_wait",
            label("longest_wait"),
            format_duration(view.longest_wait_s if view.calls_waiting else 0),
            f"{label('target')} {settings.service_level_answer_s:.0f} s",
            wait_level(view.longest_wait_s, view.calls_waiting, settings),
        ),
        Tile("idle_agents", label("idle_agents"), str(view.idle_agents), idle_detail, idle),
        Tile(
            "short_break",
            label("short_break"),
            str(view.agents_on_short_break),
            f"{label('break_queue')} {len(view.break_queue)}",
            "neutral",
        ),
        Tile(
            "meal",
            label("meal"),
            str(view.agents_at_meal),
            f"{label('on_post')} {view.agents_on_post} / {label('signed_in')} {view.agents_signed_in}",
            "neutral",
        ),
        Tile(
            "service_level",
            label("service_level"),
            format_percent(view.service_level_today),
            f"{label('service_level_15m')} {format_percent(view.service_level_15m)} · "
            f"{label('target')} {format_percent(view.service_level_target)}",
            service_level_level(view.service_level_today, view.service_level_15m, view.service_level_target),
        ),
        Tile(
            "occupancy",
            label("occupancy"),
            format_percent(view.occupancy),
            f"cap {format_percent(settings.occupancy_cap)}",
            occupancy_level,
        ),
        Tile(
            "abandon_rate",
            label("abandon_rate"),
            format_percent(view.abandon_rate),
            f"{label('asa')} {format_duration(view.asa_s)}",
            "neutral",
        ),
    ]


def _remaining_s(agent: AgentView, state: str, settings: WallSettings) -> float:
    limit = getattr(agent, "break_limit_s", None)
    if limit is None:
        limit = settings.meal_max_s if state == "meal" else settings.short_break_max_s
    return limit - agent.seconds_in_state


def agent_cards(view: FloorView) -> list[AgentCard]:
    """Every agent, ordered by id so cards keep their place between updates."""
    cards = []
    for agent in sorted(view.agents, key=lambda a: (len(a.agent), a.agent)):
        state = agent.state.value if hasattr(agent.state, "value") else str(agent.state)
        cards.append(
            AgentCard(
                agent=agent.agent,
                state=state,
                state_label=state_label(state, "zh") if state in ("short_break", "meal") else state_label(state, "en"),
                time_in_state=format_duration(agent.seconds_in_state),
                level="alarm" if agent.overrun else "neutral",
            )
        )
    return cards


def agent_grid_data(cards: list[AgentCard], view) -> list[list]:
    """The agent grid as compact rows [agent, state, label, since (epoch ms), level] for the
    browser to draw: 500 agents cost ~20 KB instead of ~200 KB of components, and the
    time in state ticks in the browser from `since` and the floor clock."""
    since = {a.agent: a.since for a in view.agents}
    return [[c.agent, c.state, c.state_label, round(since[c.agent].timestamp() * 1000), c.level] for c in cards]


def break_rows(view: FloorView, settings: WallSettings) -> list[BreakRow]:
    """Agents on 小休 or 用餐 with the countdown to their limit; overruns first."""
    rows = []
    for agent in view.agents:
        state = agent.state.value if hasattr(agent.state, "value") else str(agent.state)
        if state not in ("short_break", "meal"):
            continue
        remaining = _remaining_s(agent, state, settings)
        overrun = agent.overrun or remaining < 0
        if remaining >= 0:
            text = f"{format_duration(remaining)} {label('left', 'en')}"
        else:
            text = f"+{format_duration(-remaining)} {label('over', 'en')}"
        rows.append(
            BreakRow(
                agent=agent.agent,
                kind_label=state_label(state),
                elapsed=format_duration(agent.seconds_in_state),
                remaining=text,
                overrun=overrun,
            )
        )
    rows.sort(key=lambda r: (not r.overrun, r.agent))
    return rows


def alert_rows(view: FloorView, settings: WallSettings) -> list[AlertRow]:
    rows = []
    for alert in view.alerts[: settings.alerts_shown]:
        rows.append(
            AlertRow(
                time=alert.ts.astimezone(settings.tz).strftime("%H:%M:%S"),
                rule=alert.rule,
                rule_label=rule_label(alert.rule),
                agent=alert.agent or "",
                detail=getattr(alert, "detail", ""),
            )
        )
    return rows


def feed_rows(view: FloorView) -> list[FeedRow]:
    """Feed freshness: a stale or disconnected feed says so in words, not only colour."""
    rows = []
    for feed in view.feeds:
        if not feed.connected:
            status, level = label("feed_down"), "alarm"
        elif feed.stale:
            status, level = label("feed_stale"), "alarm"
        else:
            status, level = label("feed_live"), "ok"
        age_s = getattr(feed, "last_event_age_s", None)
        age = "—" if age_s is None else f"{age_s:.0f} s"
        rows.append(FeedRow(feed.source, status, age, level))  # type: ignore[arg-type]
    return rows


def floor_time(view: FloorView, tz: tzinfo) -> str:
    return view.ts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def append_history(
    history: Sequence[Sequence], ts: datetime, occupancy: float | None, window_min: int, min_step_s: float
) -> list[list]:
    """The occupancy line's points [iso ts, value]: one more point (at most one per
    `min_step_s` of floor time), older than `window_min` dropped. A floor clock that
    jumps backwards (a restarted demo) starts the line afresh."""
    points = [list(p) for p in history]
    if points:
        last = datetime.fromisoformat(points[-1][0])
        if ts < last:
            points = []
        elif (ts - last).total_seconds() < min_step_s:
            return points
    if occupancy is not None:
        points.append([ts.isoformat(), round(occupancy, 4)])
    cutoff = ts - timedelta(minutes=window_min)
    return [p for p in points if datetime.fromisoformat(p[0]) >= cutoff]
