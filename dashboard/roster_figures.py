"""Figures of the roster page, from the API's version view (optimizer.roster.grid): pure, no I/O.

`roster_grid` labels every agent row (id and name) and draws each cell's shift
code; `interval_cover` shows agents scheduled against required per interval
with the projected service level (Erlang C) on a second axis.
"""
from __future__ import annotations

import plotly.graph_objects as go

from dashboard.figures import AMBER, BLUE, GREEN, MUTED, RED, _dark_layout

SHIFT_COLOURS = [BLUE, "#8e7cff", AMBER, GREEN, RED]
OFF_COLOUR = "#1f252d"
ROW_PX = 22


def legend_colours(view: dict) -> dict[str, str]:
    """Code → colour, in the legend's order (OFF dark)."""
    colours = {}
    for i, item in enumerate(x for x in view["legend"] if x["shift"] != "OFF"):
        colours[item["code"]] = SHIFT_COLOURS[i % len(SHIFT_COLOURS)]
    for item in view["legend"]:
        if item["shift"] == "OFF":
            colours[item["code"]] = OFF_COLOUR
    return colours


def roster_grid(view: dict) -> go.Figure:
    """Agents × days; every row labelled "id name", each cell its shift code (legend beside the grid)."""
    fig = go.Figure()
    agents, days = view["agents"], view["days"]
    if not agents:
        return _dark_layout(fig, height=200)
    shifts = [x for x in view["legend"] if x["shift"] != "OFF"]
    index = {x["shift"]: i + 1 for i, x in enumerate(shifts)}
    z, text, hover = [], [], []
    for agent in agents:
        row = view["cells"].get(agent["agent_id"], {})
        z.append([index.get(row.get(d, {}).get("shift", "OFF"), 0) for d in days])
        text.append([row.get(d, {}).get("code", "") if row.get(d, {}).get("shift", "OFF") != "OFF" else ""
                     for d in days])
        hover.append([_cell_words(row.get(d, {})) for d in days])
    colours = [OFF_COLOUR] + [SHIFT_COLOURS[i % len(SHIFT_COLOURS)] for i in range(len(shifts))]
    n = max(len(colours) - 1, 1)
    scale = [[i / n, c] for i, c in enumerate(colours)] if len(colours) > 1 else [[0, OFF_COLOUR], [1, OFF_COLOUR]]
    labels = [a["label"] for a in agents]
    fig.add_trace(go.Heatmap(
        z=z, x=[d[-2:] for d in days], y=labels, text=text, texttemplate="%{text}", textfont={"size": 13},
        colorscale=scale, zmin=0, zmax=n, showscale=False, xgap=1, ygap=1, customdata=hover,
        hovertemplate="%{y} · day %{x}: %{customdata}<extra></extra>",
    ))
    _dark_layout(fig, height=ROW_PX * len(agents) + 120)
    fig.update_layout(
        yaxis={"autorange": "reversed", "tickmode": "array", "tickvals": labels, "ticktext": labels,
               "tickfont": {"size": 12}, "automargin": True, "type": "category"},
        xaxis={"side": "top", "type": "category", "tickfont": {"size": 12}},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def _cell_words(cell: dict) -> str:
    if not cell or cell.get("shift") == "OFF":
        return "rest day 休息"
    meal = f", meal 用餐 {cell['meal']}" if cell.get("meal") else ""
    return f"{cell['shift']} {cell['start']}–{cell['end']}{meal}"


def interval_cover(view: dict) -> go.Figure:
    """Required vs scheduled agents on post per interval, and the projected service level."""
    rows = view.get("intervals") or []
    fig = go.Figure()
    if not rows:
        return _dark_layout(fig, height=200)
    xs = [f"{r['date']} {r['interval_start']}" for r in rows]
    fig.add_trace(go.Scatter(x=xs, y=[r["required"] for r in rows], name="required 需求", mode="lines",
                             line={"color": AMBER}))
    fig.add_trace(go.Scatter(x=xs, y=[r["on_post"] for r in rows], name="scheduled 排班", mode="lines",
                             line={"color": BLUE}))
    if any(r.get("projected_sl") is not None for r in rows):
        fig.add_trace(go.Scatter(x=xs, y=[None if r.get("projected_sl") is None else r["projected_sl"] * 100
                                          for r in rows],
                                 name="projected SL 预计服务水平 %", mode="lines", yaxis="y2",
                                 line={"color": GREEN, "width": 1}))
    _dark_layout(fig, height=340)
    fig.update_layout(
        xaxis={"type": "category", "nticks": 31, "tickfont": {"size": 10}},
        yaxis={"title": "agents 座席"},
        yaxis2={"title": "SL %", "overlaying": "y", "side": "right", "range": [0, 100], "color": MUTED},
        legend={"orientation": "h", "y": 1.15},
    )
    return fig


def cell_from_click(click: dict | None, days: list[str], agents: list[dict]) -> tuple[str, str] | None:
    """(agent id, YYYY-MM-DD) of a click on the roster grid (Plotly clickData), or None."""
    if not click or not click.get("points"):
        return None
    point = click["points"][0]
    label, day = str(point.get("y", "")), str(point.get("x", ""))
    agent = next((a["agent_id"] for a in agents if a["label"] == label), None)
    date = next((d for d in days if d[-2:] == day), None)
    return (agent, date) if agent and date else None
