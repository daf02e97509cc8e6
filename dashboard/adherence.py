"""Adherence (scheduled vs actual state per agent): pure bookkeeping for the supervisor page.

The floor view carries each agent's current state and when it began; the
supervisor's browser keeps the states it has seen (a dcc.Store), so the
"actual" lane covers the time since the page was opened (each agent's current
state reaching back to when it began). The "scheduled" lane is the shift and
its meal slot.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from collections.abc import Iterable

import pandas as pd

from wfm.views import FloorView


def _state(agent) -> str:
    return agent.state.value if hasattr(agent.state, "value") else str(agent.state)


def observe(store: dict[str, Any] | None, view: FloorView, window_min: int) -> dict[str, Any]:
    """The store with this view's states added; segments older than the window dropped.

    Store shape: {"agents": {agent: [[state, start_iso, end_iso], ...]}}.
    """
    agents: dict[str, list[list[str]]] = {k: [list(s) for s in v] for k, v in (store or {}).get("agents", {}).items()}
    now = view.ts
    for agent in view.agents:
        state = _state(agent)
        lane = agents.setdefault(agent.agent, [])
        since = agent.since
        if lane and lane[-1][0] == state and datetime.fromisoformat(lane[-1][1]) <= since:
            lane[-1][2] = now.isoformat()
            continue
        if lane:
            # the previous state lasted until the new one began (between two observations)
            lane[-1][2] = max(since, datetime.fromisoformat(lane[-1][1])).isoformat()
        lane.append([state, since.isoformat(), now.isoformat()])
    cutoff = now - timedelta(minutes=window_min)
    for name in list(agents):
        kept = [s for s in agents[name] if datetime.fromisoformat(s[2]) >= cutoff]
        if kept:
            agents[name] = kept
        else:
            del agents[name]
    return {"agents": agents}


def segments_frame(store: dict[str, Any] | None, view: FloorView, agents: Iterable[str], meal_slot_min: int) -> pd.DataFrame:
    """Rows (agent, lane, state, start, end) for the chosen agents, ready for figures.adherence_timeline."""
    chosen = set(agents)
    rows: list[dict[str, Any]] = []
    for agent in view.agents:
        if agent.agent not in chosen:
            continue
        if agent.shift_start is not None and agent.shift_end is not None:
            rows.append({"agent": agent.agent, "lane": "scheduled", "state": "scheduled",
                         "start": agent.shift_start, "end": agent.shift_end})
        if agent.meal_slot_start is not None:
            rows.append({"agent": agent.agent, "lane": "scheduled", "state": "meal_slot",
                         "start": agent.meal_slot_start,
                         "end": agent.meal_slot_start + timedelta(minutes=meal_slot_min)})
    for name, lane in (store or {}).get("agents", {}).items():
        if name not in chosen:
            continue
        for state, start, end in lane:
            rows.append({"agent": name, "lane": "actual", "state": state,
                         "start": datetime.fromisoformat(start), "end": datetime.fromisoformat(end)})
    return pd.DataFrame(rows, columns=["agent", "lane", "state", "start", "end"])
