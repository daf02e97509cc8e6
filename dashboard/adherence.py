"""Adherence for the supervisor page, from the API's document (GET /api/adherence): pure.

The API computes scheduled vs actual from the event log and the floor's
shifts (wfm/api/adherence.py), so the page shows the same after a reload or a
restart; these helpers only shape that document for the table and the
timeline figure.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

SCHEDULED_STATE = {"work": "scheduled", "meal": "meal_slot"}  # the timeline's names for scheduled activities


def segments_frame(doc: dict[str, Any], agents: Iterable[str]) -> pd.DataFrame:
    """Rows (agent, lane, state, start, end) of the chosen agents, ready for figures.adherence_timeline."""
    rows: list[dict[str, Any]] = []
    segments = doc.get("segments", {})
    for agent in agents:
        lanes = segments.get(agent)
        if not lanes:
            continue
        for what, start, end in lanes.get("scheduled", []):
            rows.append({"agent": agent, "lane": "scheduled", "state": SCHEDULED_STATE.get(what, what),
                         "start": datetime.fromisoformat(start), "end": datetime.fromisoformat(end)})
        for state, start, end in lanes.get("actual", []):
            rows.append({"agent": agent, "lane": "actual", "state": state,
                         "start": datetime.fromisoformat(start), "end": datetime.fromisoformat(end)})
    return pd.DataFrame(rows, columns=["agent", "lane", "state", "start", "end"])


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def table_rows(rows: list[dict[str, Any]], key: str) -> list[list[str]]:
    """[name, adherence, conformance, scheduled h, out now] per agent or team row."""
    out = []
    for row in rows:
        out.append([str(row[key]), percent(row.get("adherence")), percent(row.get("conformance")),
                    f"{row.get('scheduled_s', 0) / 3600:.1f} h",
                    str(row.get("out_now", "")) if key == "team" else ("OUT 偏离" if row.get("out_since") else "")])
    return out
