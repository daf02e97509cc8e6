"""What each audience may see of the floor: pure functions from read models to JSON data.

- supervisors, schedulers, admins: the whole FloorView;
- the wall display (no login): the floor numbers and agent ids/states only;
- an agent's WebSocket: the public floor numbers and nothing about colleagues.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from wfm.decisions import Output
from wfm.views import FloorView

PUBLIC_NUMBERS = (
    "ts",
    "idle_agents",  # 话务空闲数
    "idle_threshold",
    "short_break_blocked",
    "agents_signed_in",
    "agents_on_post",
    "agents_on_short_break",  # 小休
    "agents_at_meal",  # 用餐
    "calls_waiting",
    "longest_wait_s",
    "occupancy",
    "service_level_today",
    "service_level_15m",
    "service_level_target",
    "asa_s",
    "abandon_rate",
)
WALL_AGENT_FIELDS = ("agent", "team", "state", "since", "seconds_in_state", "break_kind", "break_limit_s", "overrun")
WALL_ALERT_FIELDS = ("ts", "rule", "agent", "detail")
WALL_FEED_FIELDS = ("source", "state", "connected", "stale", "last_event_age_s")


def full_floor(view: FloorView) -> dict[str, Any]:
    return msgspec.to_builtins(view)


def public_numbers(view: FloorView) -> dict[str, Any]:
    return public_from_data(msgspec.to_builtins(view))


def wall_floor(view: FloorView) -> dict[str, Any]:
    """The read-only wall: floor numbers, queues, agent ids and states, feed health."""
    return wall_from_data(msgspec.to_builtins(view))


# The same projections from the floor's JSON builtins (FloorEngine.floor_data / to_builtins of a
# FloorView): the WebSocket push converts the floor once and projects that one dict per audience.

def public_from_data(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in PUBLIC_NUMBERS}


def wall_from_data(data: dict[str, Any], rows: WallRows | None = None) -> dict[str, Any]:
    wall = {key: data[key] for key in PUBLIC_NUMBERS}
    wall["queues"] = data["queues"]
    if rows is None:
        wall["agents"] = [{k: a[k] for k in WALL_AGENT_FIELDS} for a in data["agents"]]
    else:
        wall["agents"] = rows.project(data["agents"])
    wall["alerts"] = [{k: a[k] for k in WALL_ALERT_FIELDS} for a in data["alerts"]]
    wall["break_queue"] = [{k: q[k] for k in ("agent", "kind", "position")} for q in data["break_queue"]]
    wall["feeds"] = [{k: f[k] for k in WALL_FEED_FIELDS} for f in data["feeds"]]
    return wall


WALL_TIME_FIELDS = ("seconds_in_state", "overrun")  # the wall fields floor_data patches in place


class WallRows:
    """Each agent's wall row across pushes (the hub keeps one).

    FloorEngine.floor_data hands out the same row object for an unchanged agent, patching only
    its time fields, and a new object when the agent changed: a wall row is rebuilt for a new
    object and only has WALL_TIME_FIELDS refreshed otherwise. Rows from anywhere else are simply
    new objects each time (always rebuilt).
    """

    def __init__(self) -> None:
        self._rows: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def project(self, agents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cache = self._rows
        out = []
        for row in agents:
            hit = cache.get(row["agent"])
            if hit is not None and hit[0] is row:
                wall = hit[1]
                wall["seconds_in_state"] = row["seconds_in_state"]
                wall["overrun"] = row["overrun"]
            else:
                wall = {k: row[k] for k in WALL_AGENT_FIELDS}
                cache[row["agent"]] = (row, wall)
            out.append(wall)
        return out


class Recent:
    """One value, rebuilt at most every `ttl_s` (monotonic time): many wall boards polling
    /api/wall share one build of the view instead of each rebuilding it."""

    def __init__(self, ttl_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._at: float | None = None
        self._value: Any = None
        self.builds = 0

    def get(self, build: Callable[[], Any]) -> Any:
        now = self._monotonic()
        if self._at is None or now - self._at >= self.ttl_s:
            self._value = build()
            self._at = now
            self.builds += 1
        return self._value


def output_agent(output: Output) -> str | None:
    return getattr(output, "agent", None)
