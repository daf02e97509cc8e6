"""What each audience may see of the floor: pure functions from read models to JSON data.

- supervisors, schedulers, admins: the whole FloorView;
- the wall display (no login): the floor numbers and agent ids/states only;
- an agent's WebSocket: the public floor numbers and nothing about colleagues.
"""
from __future__ import annotations

from typing import Any

import msgspec

from wfm.decisions import Output
from wfm.views import FloorView, WallAgent, WallAlert, WallFeed, WallQueued, WallView

# the wall's fields are declared once, as the wire types in wfm/views.py
_WALL_LISTS = ("queues", "agents", "alerts", "break_queue", "feeds")
PUBLIC_NUMBERS = tuple(f for f in WallView.__struct_fields__ if f not in _WALL_LISTS)  # 话务空闲数, 小休, 用餐 …
WALL_AGENT_FIELDS = WallAgent.__struct_fields__
WALL_ALERT_FIELDS = WallAlert.__struct_fields__
WALL_QUEUED_FIELDS = WallQueued.__struct_fields__
WALL_FEED_FIELDS = WallFeed.__struct_fields__


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
    wall["break_queue"] = [{k: q[k] for k in WALL_QUEUED_FIELDS} for q in data["break_queue"]]
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


def output_agent(output: Output) -> str | None:
    return getattr(output, "agent", None)
