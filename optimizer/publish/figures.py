"""Pure figure builders (data in, plotly figure out) for the roster page and the dashboard."""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go


def coverage_heatmap(days: Sequence[str], intervals: Sequence[str], required: dict[tuple[str, str], int],
                     on_post: dict[tuple[str, str], int]) -> go.Figure:
    """On post minus required per day × interval (red short, blue over)."""
    z: list[list[int | None]] = []
    text: list[list[str]] = []
    for interval in intervals:
        row: list[int | None] = []
        labels: list[str] = []
        for day in days:
            if (day, interval) in required:
                diff = on_post.get((day, interval), 0) - required[(day, interval)]
                row.append(diff)
                labels.append(f"{day} {interval}: on post {on_post.get((day, interval), 0)}, required {required[(day, interval)]}")
            else:
                row.append(None)
                labels.append("")
        z.append(row)
        text.append(labels)
    limit = max([abs(v) for r in z for v in r if v is not None] or [1])
    fig = go.Figure(go.Heatmap(z=z, x=list(days), y=list(intervals), text=text, hoverinfo="text",
                               colorscale="RdBu", zmid=0, zmin=-limit, zmax=limit, colorbar={"title": "on post − required"}))
    fig.update_layout(title="Coverage vs demand 覆盖 (agents on post − required)", yaxis={"autorange": "reversed"},
                      height=max(400, 18 * len(intervals)), margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def fairness_bars(per_category: dict[str, dict[str, int]]) -> go.Figure:
    """Per agent: evenings, weekend days, holidays and days worked this month (R5), one bar group each."""
    fig = go.Figure()
    labels = {"evenings": "Evenings 晚班", "weekends": "Weekend days 周末", "holidays": "Holidays 节假日", "workdays": "Days worked 出勤天数"}
    for category, per_agent in per_category.items():
        agents = list(per_agent)
        fig.add_trace(go.Bar(name=labels.get(category, category), x=agents, y=[per_agent[a] for a in agents]))
    fig.update_layout(title="Fairness 公平性 (per agent)", barmode="group", xaxis={"type": "category"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def month_grid(agents: Sequence[str], days: Sequence[str], codes: dict[tuple[str, str], str], shift_names: Sequence[str]) -> go.Figure:
    """Agent × day grid of shift codes (OFF blank)."""
    palette = {name: i + 1 for i, name in enumerate(shift_names)}
    z = [[palette.get(codes.get((a, d), "OFF"), 0) for d in days] for a in agents]
    text = [[codes.get((a, d), "OFF") for d in days] for a in agents]
    scale = ["#f2f2f2", "#ffd166", "#118ab2", "#06d6a0", "#ef476f", "#8338ec"]
    steps = len(shift_names) + 1
    colorscale = []
    for i in range(steps):
        colour = scale[i % len(scale)]
        colorscale += [[i / steps, colour], [(i + 1) / steps, colour]]
    fig = go.Figure(go.Heatmap(z=z, x=list(days), y=list(agents), text=text, texttemplate="%{text}", hoverinfo="x+y+text",
                               colorscale=colorscale, zmin=0, zmax=steps, showscale=False))
    fig.update_layout(title="Month grid 月排班 (agent × day)", yaxis={"autorange": "reversed", "type": "category"},
                      xaxis={"type": "category"}, height=max(400, 16 * len(agents)), margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig
