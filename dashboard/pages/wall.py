"""/wall — the floor's wall board: 1920×1080, read from five metres, no login.

The page is a static shell; assets/wall.js fills it in the browser from the
floor pushed over the WebSocket /ws/wall (the same incremental floor snapshot
GET /api/wall serves) after one GET /api/wall/settings (names, colour
thresholds, timings). Nothing is polled: a push changes only the text and
classes that changed, the times in state tick between pushes, a silent socket
turns the board STALE 数据过期 after dashboard.wall_stale_s, and the socket
reconnects with backoff.

Readable at five metres: every text is at least 24 px and no word (English or
Chinese) is broken inside. Agents beyond one screen and people on break beyond
the list rotate through pages (each says "1/3" or "+N"); a team's own kiosk
shows only its people: /wall?team=A.
"""
from __future__ import annotations

import dash
from dash import html

from dashboard.i18n import LABELS, STATES
from dashboard.wildcard import wildcard

dash.register_page(__name__, path="/wall", title="Wall board 话务大屏", name="Wall 大屏", order=0)

TILE_KEYS = ("calls_waiting", "longest_wait", "idle_agents", "short_break", "meal", "service_level",
             "occupancy", "abandon_rate")
LEGEND_STATES = ("ready", "ringing", "on_call", "wrap_up", "short_break", "meal", "not_ready", "logged_out")


def bilingual(key: str, table=LABELS) -> list[html.Span]:
    """A label as two unbreakable lines: English, then Chinese."""
    en, zh = table[key]
    return [html.Span(en, className="en"), html.Span(zh, className="zh")]


def layout(token: str | None = None, team: str | None = None, **_query) -> html.Div:
    return html.Div(
        className="wall",
        id="wall-root",
        **wildcard({"data-token": token or "", "data-team": team or ""}),
        children=[
            html.Div(className="wall-head", children=[
                html.H1(["Floor 话务大屏", html.Span(f" · Team 班组 {team}" if team else "", id="wall-team")]),
                html.Span("SIMULATED 模拟", id="wall-sim", className="badge-sim", hidden=True),
                html.Div(id="wall-status", className="wall-status", children="connecting… 连接中"),
                html.Div(id="wall-clock", className="wall-clock"),
            ]),
            html.Div(id="wall-tiles", className="wall-tiles", children=[
                html.Div(id=f"tile-{key}", className="tile level-neutral", children=[
                    html.Div(bilingual(key), className="tile-title", id=f"tile-{key}-title"),
                    html.Div("—", className="tile-value", id=f"tile-{key}-value"),
                    html.Div("", className="tile-detail", id=f"tile-{key}-detail"),
                ])
                for key in TILE_KEYS
            ]),
            html.Div(className="wall-main", children=[
                html.Div(className="wall-panel wall-rotor", children=[
                    html.Div(className="panel-head", children=[
                        html.H2("Agents 座席", id="wall-main-title"),
                        html.Span("", id="wall-page", className="page-no"),
                        html.Div(className="legend", id="wall-legend", children=[
                            html.Span(STATES[s][1], className=f"legend-chip s-{s}", title=STATES[s][0])
                            for s in LEGEND_STATES
                        ]),
                    ]),
                    html.Div(id="wall-agents", className="agent-grid"),
                    html.Div(id="wall-queues", className="queue-board", hidden=True),
                ]),
                html.Div(className="wall-side", children=[
                    html.Div(className="wall-panel wall-breaks-panel", children=[
                        html.Div(className="panel-head", children=[
                            html.H2("On break 正在休息"),
                            html.Span("", id="wall-breaks-more", className="page-no"),
                        ]),
                        html.Div(id="wall-breaks", className="break-list"),
                    ]),
                    html.Div(className="wall-panel wall-alerts-panel", children=[
                        html.H2("Alerts 告警"),
                        html.Div(id="wall-alerts", className="alert-list"),
                    ]),
                ]),
            ]),
            html.Div(id="wall-feeds", className="wall-feeds"),
        ],
    )
