"""Pure figure builders: data (a view, a list or a data frame) in, a Plotly figure out.

No I/O, no clock, no Dash: every function here is tested directly
(tests/test_figures.py). Colours follow the wall board's dark theme.
"""
from __future__ import annotations

from datetime import datetime, tzinfo
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboard.i18n import label, state_label

BACKGROUND = "#0b0f14"
PANEL = "#151b23"
TEXT = "#f2f5f8"
MUTED = "#9aa7b4"
GREEN = "#2ecc71"
AMBER = "#f5a623"
RED = "#ff4d4f"
BLUE = "#3fa7ff"
FONT = "Noto Sans CJK SC, Noto Sans SC, WenQuanYi Micro Hei, Microsoft YaHei, PingFang SC, Arial, sans-serif"

STATE_COLOURS: dict[str, str] = {
    "ready": GREEN,
    "ringing": "#ffe066",
    "on_call": BLUE,
    "wrap_up": "#8e7cff",
    "short_break": AMBER,
    "meal": "#ff8c42",
    "not_ready": "#8a94a0",
    "logged_out": "#3a424c",
    "scheduled": "#4b5968",
    "meal_slot": "#a0522d",
}


def _dark_layout(fig: go.Figure, height: int | None = None) -> go.Figure:
    fig.update_layout(
        paper_bgcolor=PANEL,
        plot_bgcolor=PANEL,
        font={"color": TEXT, "size": 16, "family": FONT},
        margin={"l": 40, "r": 20, "t": 40, "b": 30},
        uirevision="keep",  # a data update keeps zoom and avoids a full redraw
    )
    if height:
        fig.update_layout(height=height)
    return fig


def gauge_value(occupancy: float | None) -> float:
    return 0.0 if occupancy is None else round(occupancy * 100, 1)


def gauge_colour(occupancy: float | None, cap: float) -> str:
    """Green up to the occupancy cap, amber above it, grey when unknown."""
    return MUTED if occupancy is None else (AMBER if occupancy > cap else GREEN)


def occupancy_series(history: Sequence[Sequence], tz: tzinfo) -> tuple[list[str], list[float]]:
    """The occupancy line's x (floor-local wall time, as Plotly shows dates) and y (percent)."""
    times = [datetime.fromisoformat(p[0]).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") for p in history]
    return times, [round(p[1] * 100, 2) for p in history]


def occupancy_gauge(occupancy: float | None, cap: float) -> go.Figure:
    """A 0–100 % gauge with the occupancy cap marked; amber above the cap.

    The wall updates it in place with gauge_value/gauge_colour (a data patch,
    no new figure)."""
    value = gauge_value(occupancy)
    colour = gauge_colour(occupancy, cap)
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=value,
            number={"suffix": "%", "font": {"size": 44, "color": TEXT}, "valueformat": ".0f"},
            gauge={
                "axis": {"range": [0, 100], "tickcolor": MUTED, "tickfont": {"size": 12}},
                "bar": {"color": colour},
                "bgcolor": "#232b35",
                "threshold": {"line": {"color": RED, "width": 4}, "thickness": 0.8, "value": cap * 100},
            },
            title={"text": label("occupancy"), "font": {"size": 18, "color": MUTED}},
        )
    )
    _dark_layout(fig, height=230)
    fig.update_layout(margin={"l": 30, "r": 30, "t": 50, "b": 10})
    return fig


def occupancy_window(history: Sequence[Sequence], tz: tzinfo, window_min: int) -> list[str] | None:
    """The x range of the occupancy line: the last `window_min` minutes up to the newest point,
    so the line grows from the right and the axis reads in clock hours from the start."""
    if not history:
        return None
    newest = datetime.fromisoformat(history[-1][0]).astimezone(tz)
    oldest = newest - pd.Timedelta(minutes=window_min)
    edge = newest + pd.Timedelta(minutes=window_min / 40)  # the newest point is not clipped at the edge
    return [oldest.strftime("%Y-%m-%d %H:%M:%S"), edge.strftime("%Y-%m-%d %H:%M:%S")]


def occupancy_line(history: Sequence[Sequence], cap: float, tz: tzinfo, window_min: int = 120) -> go.Figure:
    """Occupancy over the kept window (points [iso ts, fraction]) with the cap as a line.

    The wall replaces only its x/y (occupancy_series) and x range (occupancy_window) as points arrive."""
    times, values = occupancy_series(history, tz)
    fig = go.Figure(
        go.Scatter(x=times, y=values, mode="lines+markers", line={"color": BLUE, "width": 3},
                   marker={"size": 5}, name=label("occupancy"))
    )
    fig.add_hline(y=cap * 100, line={"color": AMBER, "dash": "dash", "width": 2})
    _dark_layout(fig, height=230)
    fig.update_layout(
        title={"text": label("occupancy_2h"), "font": {"size": 18, "color": MUTED}},
        showlegend=False,
        yaxis={"range": [0, 100], "ticksuffix": "%", "gridcolor": "#2a333d"},
        xaxis={"gridcolor": "#2a333d", "tickformat": "%H:%M", "type": "date",
               "range": occupancy_window(history, tz, window_min)},
    )
    return fig


def _lane_state_name(state: str) -> str:
    if state in ("scheduled", "meal_slot"):
        return label(state)
    return state_label(state)


def adherence_timeline(segments: pd.DataFrame, tz: tzinfo, now: datetime | None = None,
                       window: tuple[float, float] = (120.0, 60.0)) -> go.Figure:
    """Scheduled vs actual per agent: one row pair per agent, bars coloured by state.

    `segments` columns: agent, lane ("scheduled" or "actual"), state, start, end
    (aware datetimes). Scheduled lanes carry "scheduled" (the shift) and
    "meal_slot"; actual lanes the agent's states.
    """
    fig = go.Figure()
    if segments.empty:
        _dark_layout(fig, height=200)
        fig.add_annotation(text="—", showarrow=False, font={"size": 24, "color": MUTED})
        return fig
    frame = segments.copy()
    frame["start"] = pd.to_datetime(frame["start"], utc=True).dt.tz_convert(tz)
    frame["end"] = pd.to_datetime(frame["end"], utc=True).dt.tz_convert(tz)
    frame["row"] = frame["agent"].astype(str) + " " + frame["lane"].map(
        {"scheduled": label("scheduled", "en"), "actual": label("actual", "en")}
    )
    order = []
    for agent in sorted(frame["agent"].astype(str).unique(), key=lambda a: (len(a), a)):
        order += [f"{agent} {label('scheduled', 'en')}", f"{agent} {label('actual', 'en')}"]
    # the shift first, its meal slot over it, then the actual states
    rank = {"scheduled": 0, "meal_slot": 1}
    for state in sorted(frame["state"].unique(), key=lambda s: (rank.get(s, 2), s)):
        group = frame[frame["state"] == state]
        duration_ms = (group["end"] - group["start"]).dt.total_seconds() * 1000
        fig.add_trace(
            go.Bar(
                base=group["start"],
                x=duration_ms,
                y=group["row"],
                orientation="h",
                name=_lane_state_name(str(state)),
                marker={"color": STATE_COLOURS.get(str(state), MUTED)},
                hovertemplate="%{y}<br>%{base|%H:%M}–%{customdata|%H:%M}<extra>" + str(state) + "</extra>",
                customdata=group["end"],
            )
        )
    fig.update_layout(barmode="overlay")
    _dark_layout(fig, height=max(240, 28 * len(order) + 80))
    if now is not None:
        # show the recent past and the next hour around a "now" line, not the whole shift
        local_now = now.astimezone(tz)
        fig.add_vline(x=local_now, line={"color": RED, "width": 2})
        fig.update_xaxes(range=[local_now - pd.Timedelta(minutes=window[0]), local_now + pd.Timedelta(minutes=window[1])])
    fig.update_layout(
        xaxis={"type": "date", "tickformat": "%H:%M", "gridcolor": "#2a333d"},
        yaxis={"categoryorder": "array", "categoryarray": list(reversed(order)), "automargin": True},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def month_grid(roster: pd.DataFrame) -> go.Figure:
    """The classic agent × day grid; each cell shows the shift code, OFF cells dark.

    `roster` columns: agent_id, date (YYYY-MM-DD), shift.
    """
    fig = go.Figure()
    if roster.empty:
        return _dark_layout(fig, height=200)
    shifts = sorted(s for s in roster["shift"].unique() if s != "OFF")
    codes = {"OFF": 0, **{name: i + 1 for i, name in enumerate(shifts)}}
    pivot = roster.pivot(index="agent_id", columns="date", values="shift").fillna("OFF")
    agents = sorted(pivot.index, key=lambda a: (len(str(a)), str(a)))
    pivot = pivot.loc[agents]
    z = pivot.map(lambda s: codes.get(s, 0)).to_numpy()
    text = pivot.map(lambda s: "" if s == "OFF" else str(s)[:1].upper()).to_numpy()
    palette = ["#1f252d", BLUE, "#8e7cff", AMBER, GREEN, RED]
    n = max(len(codes) - 1, 1)
    colorscale = []
    for i in range(len(codes)):
        colour = palette[i % len(palette)]
        colorscale += [[i / max(n, 1), colour]]
    if len(colorscale) == 1:
        colorscale.append([1.0, colorscale[0][1]])
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=[d[-2:] for d in pivot.columns],
            y=[str(a) for a in pivot.index],
            text=text,
            texttemplate="%{text}",
            colorscale=colorscale,
            zmin=0,
            zmax=n,
            showscale=False,
            xgap=1,
            ygap=1,
            customdata=pivot.to_numpy(),
            hovertemplate="%{y} day %{x}: %{customdata}<extra></extra>",
        )
    )
    _dark_layout(fig, height=max(300, 16 * len(agents) + 80))
    fig.update_layout(yaxis={"autorange": "reversed", "type": "category"}, xaxis={"type": "category", "side": "top"})
    return fig


def coverage_heatmap(coverage: pd.DataFrame) -> go.Figure:
    """On post minus required per date × interval: red short, blue over, white exact.

    `coverage` columns: date, interval_start (HH:MM), required, on_post.
    """
    fig = go.Figure()
    if coverage.empty:
        return _dark_layout(fig, height=200)
    frame = coverage.assign(diff=coverage["on_post"] - coverage["required"])
    pivot = frame.pivot_table(index="interval_start", columns="date", values="diff", aggfunc="sum")
    limit = float(max(1.0, abs(pivot.to_numpy()).max() if pivot.size else 1.0))
    fig.add_trace(
        go.Heatmap(
            z=pivot.to_numpy(),
            x=list(pivot.columns),
            y=list(pivot.index),
            colorscale=[[0, RED], [0.5, "#f2f5f8"], [1, BLUE]],
            zmin=-limit,
            zmax=limit,
            colorbar={"title": "on post − required"},
            hovertemplate="%{x} %{y}: %{z:+d}<extra></extra>",
        )
    )
    _dark_layout(fig, height=520)
    fig.update_layout(yaxis={"autorange": "reversed", "type": "category"}, title=label("coverage"))
    return fig


def fairness_chart(fairness: pd.DataFrame) -> go.Figure:
    """Evenings and weekend days worked per agent (R5): spread visible at a glance.

    `fairness` columns: agent_id, evenings, weekends.
    """
    frame = fairness.sort_values("agent_id", key=lambda s: s.astype(str).str.len() * 10**6 + s.astype(str).rank())
    fig = go.Figure(
        [
            go.Bar(x=frame["agent_id"].astype(str), y=frame["evenings"], name="evenings 晚班", marker={"color": "#8e7cff"}),
            go.Bar(x=frame["agent_id"].astype(str), y=frame["weekends"], name="weekends 周末", marker={"color": AMBER}),
        ]
    )
    _dark_layout(fig, height=320)
    fig.update_layout(barmode="group", title=label("fairness"), xaxis={"type": "category"})
    return fig


def solver_progress(points: Sequence[dict]) -> go.Figure:
    """Objective and bound over solve time (points: {elapsed_s, objective, bound})."""
    xs = [p["elapsed_s"] for p in points]
    fig = go.Figure(
        [
            go.Scatter(x=xs, y=[p.get("objective") for p in points], name=label("objective"), mode="lines+markers", line={"color": BLUE}),
            go.Scatter(x=xs, y=[p.get("bound") for p in points], name=label("bound"), mode="lines", line={"color": GREEN, "dash": "dot"}),
        ]
    )
    _dark_layout(fig, height=260)
    fig.update_layout(xaxis={"title": "s"})
    return fig


def kpi_trend(daily: pd.DataFrame, target: float) -> go.Figure:
    """Service level and abandon rate per day with the service-level target.

    `daily` columns: date, service_level, abandon_rate (fractions or None).
    """
    fig = go.Figure()
    if daily.empty:
        return _dark_layout(fig, height=260)
    fig.add_trace(go.Bar(x=daily["date"], y=daily["service_level"] * 100, name=label("service_level"), marker={"color": BLUE}))
    fig.add_trace(go.Scatter(x=daily["date"], y=daily["abandon_rate"] * 100, name=label("abandon_rate"), mode="lines+markers", line={"color": RED}))
    fig.add_hline(y=target * 100, line={"color": AMBER, "dash": "dash"})
    _dark_layout(fig, height=300)
    fig.update_layout(yaxis={"ticksuffix": "%", "range": [0, 100]}, xaxis={"type": "category"})
    return fig
