"""/wall — the floor's wall board: 1920×1080, read from five metres, no login.

One dcc.Interval (dashboard.wall_refresh_ms, 500 ms by default) fetches
GET /api/wall (with ?token= when a kiosk token is configured) and hands over
only what changed, judged by a digest per section kept in the browser
(dcc.Store): the eight tiles are drawn once and each tile's value, detail and
colour are updated in place; the gauge and the 2-hour occupancy line get data
patches (the line's points live in the browser's store); the agent grid goes
over as compact rows and is drawn by assets/wall.js, which also ticks each
agent's time in state. Nothing is re-mounted, so nothing flickers.
"""
from __future__ import annotations

import hashlib

import dash
from dash import ClientsideFunction, Input, Output, Patch, State, callback, clientside_callback, dcc, html, no_update

from dashboard import wall_model
from dashboard.app import api, context
from dashboard.client import ApiError
from dashboard.figures import (
    gauge_colour,
    gauge_value,
    occupancy_gauge,
    occupancy_line,
    occupancy_series,
    occupancy_window,
)
from dashboard.i18n import label, state_label

dash.register_page(__name__, path="/wall", title="Wall board 话务大屏", name="Wall 大屏", order=0)

def layout(token: str | None = None, **_query) -> html.Div:
    ctx = context()
    return html.Div(
        className="wall",
        children=[
            dcc.Interval(id="wall-interval", interval=ctx.config.dashboard.wall_refresh_ms, n_intervals=0),
            dcc.Store(id="wall-token", data=token),
            dcc.Store(id="wall-history", data=[]),
            dcc.Store(id="wall-digest", data={}),
            dcc.Store(id="wall-grid", data=[]),
            dcc.Store(id="wall-now", data=0),
            dcc.Store(id="wall-grid-drawn", data=0),
            html.Div(
                className="wall-head",
                children=[
                    html.H1("Floor 话务大屏"),
                    html.Div(id="wall-status", className="wall-status"),
                    html.Div(id="wall-clock", className="wall-clock"),
                ],
            ),
            # drawn once; each tile's value, detail and colour are then updated in place
            html.Div(id="wall-tiles", className="wall-tiles", children=[
                html.Div(id=f"tile-{key}", className="tile level-neutral", children=[
                    html.Div(label(key), className="tile-title", id=f"tile-{key}-title"),
                    html.Div("—", className="tile-value", id=f"tile-{key}-value"),
                    html.Div("", className="tile-detail", id=f"tile-{key}-detail"),
                ])
                for key in wall_model.TILE_KEYS
            ]),
            html.Div(
                className="wall-figures",
                children=[
                    dcc.Graph(id="wall-gauge", config={"displayModeBar": False, "staticPlot": True},
                              figure=occupancy_gauge(None, ctx.wall.occupancy_cap)),
                    dcc.Graph(id="wall-line", config={"displayModeBar": False, "staticPlot": True},
                              figure=occupancy_line([], ctx.wall.occupancy_cap, ctx.wall.tz,
                                                    ctx.wall.occupancy_history_min)),
                    html.Div(
                        className="wall-panel",
                        children=[html.H2(label("on_break_now")), html.Div(id="wall-breaks")],
                    ),
                    html.Div(
                        className="wall-panel",
                        children=[html.H2(label("alerts")), html.Div(id="wall-alerts")],
                    ),
                ],
            ),
            html.Div(className="wall-panel wall-agents-panel",
                     # drawn in the browser (assets/wall.js) from the compact rows in wall-grid
                     children=[html.Div(className="agents-head", children=[html.H2(label("agents")), state_legend()]),
                               html.Div(id="wall-agents", className="agent-grid")]),
            html.Div(id="wall-feeds", className="wall-feeds"),
        ],
    )


def state_legend() -> html.Div:
    """What each card colour means (big floors show colour and id only)."""
    return html.Div(className="legend", children=[
        html.Span(state_label(state), className=f"agent s-{state} legend-chip")
        for state in ("ready", "ringing", "on_call", "wrap_up", "short_break", "meal", "not_ready", "logged_out")
    ])


def _digest(items) -> str:
    return hashlib.blake2b(repr(items).encode("utf-8"), digest_size=12).hexdigest()


def render_breaks(rows: list[wall_model.BreakRow]) -> list:
    if not rows:
        return [html.Div(label("nobody_on_break"), className="muted")]
    return [
        html.Div(
            [html.B(r.agent), html.Span(r.kind_label), html.Span(r.elapsed), html.Span(r.remaining, className="countdown")],
            className="break-row overrun" if r.overrun else "break-row",
            key=r.agent,
        )
        for r in rows
    ]


def render_alerts(rows: list[wall_model.AlertRow]) -> list:
    if not rows:
        return [html.Div(label("no_alerts"), className="muted")]
    return [
        html.Div(
            [html.Span(r.time, className="alert-time"), html.B(r.rule_label), html.Span(r.agent), html.Span(r.detail, className="alert-detail")],
            className=f"alert-row rule-{r.rule}",
        )
        for r in rows
    ]


def render_feeds(rows: list[wall_model.FeedRow]) -> list:
    if not rows:
        return [html.Span(f"{label('feeds')}: —", className="feed level-neutral")]
    return [html.Span(f"{label('feeds')}:", className="muted")] + [
        html.Span(f"{r.source} {r.status} · {r.age}", className=f"feed level-{r.level}") for r in rows
    ]


def gauge_patch(occupancy: float | None, cap: float) -> Patch:
    """Only the gauge's number and bar colour change: no new figure is built or sent."""
    patch = Patch()
    patch["data"][0]["value"] = gauge_value(occupancy)
    patch["data"][0]["gauge"]["bar"]["color"] = gauge_colour(occupancy, cap)
    return patch


def line_patch(history, tz, window_min: int) -> Patch:
    patch = Patch()
    xs, ys = occupancy_series(history, tz)
    patch["data"][0]["x"] = xs
    patch["data"][0]["y"] = ys
    patch["layout"]["xaxis"]["range"] = occupancy_window(history, tz, window_min)
    return patch


TILE_OUTPUTS = [
    output
    for key in wall_model.TILE_KEYS
    for output in (Output(f"tile-{key}", "className"), Output(f"tile-{key}-value", "children"),
                   Output(f"tile-{key}-detail", "children"))
]


@callback(
    *TILE_OUTPUTS,
    Output("wall-grid", "data"),
    Output("wall-now", "data"),
    Output("wall-breaks", "children"),
    Output("wall-alerts", "children"),
    Output("wall-feeds", "children"),
    Output("wall-gauge", "figure"),
    Output("wall-line", "figure"),
    Output("wall-clock", "children"),
    Output("wall-status", "children"),
    Output("wall-status", "className"),
    Output("wall-history", "data"),
    Output("wall-digest", "data"),
    Input("wall-interval", "n_intervals"),
    State("wall-token", "data"),
    State("wall-history", "data"),
    State("wall-digest", "data"),
)
def refresh(_n, token, history, digests):
    """Fetch the floor and hand over only what changed."""
    ctx = context()
    settings = ctx.wall
    try:
        view = api().wall(token)
    except ApiError as exc:
        text = label("no_feed_data") + f" — {exc.status or ''} {exc.error}".rstrip()
        if exc.status in (401, 403):
            text = "Kiosk token required 需要大屏令牌" if exc.status == 401 else "Kiosk token refused 大屏令牌无效"
        return (*([no_update] * (len(TILE_OUTPUTS) + 8)), text, "wall-status level-alarm", no_update, no_update)

    history = wall_model.append_history(
        history or [], view.ts, view.occupancy, settings.occupancy_history_min,
        min_step_s=settings.occupancy_history_min * 60 / 240,
    )
    cards = wall_model.agent_cards(view)
    tiles = {tile.key: tile for tile in wall_model.tiles(view, settings)}
    models = {
        **{f"tile-{key}": tiles[key] for key in wall_model.TILE_KEYS},
        # the time in state ticks in the browser: only states, starts and overruns count as change
        "agents": [(c.agent, c.state, c.level) for c in cards] + [(a.agent, a.since) for a in view.agents],
        "breaks": wall_model.break_rows(view, settings),
        "alerts": wall_model.alert_rows(view, settings),
        "feeds": wall_model.feed_rows(view),
        "gauge": (view.occupancy,),
        "line": history,
    }
    new_digests = {name: _digest(model) for name, model in models.items()}
    old = digests or {}

    def changed(name: str) -> bool:
        return old.get(name) != new_digests[name]

    stale = any(f.stale or not f.connected for f in view.feeds)
    status = (label("feed_stale"), "wall-status level-alarm") if stale else ("", "wall-status")
    tile_values = []
    for key in wall_model.TILE_KEYS:
        tile = tiles[key]
        fresh = changed(f"tile-{key}")
        tile_values += [f"tile level-{tile.level}", tile.value, tile.detail] if fresh else [no_update] * 3
    return (
        *tile_values,
        wall_model.agent_grid_data(cards, view) if changed("agents") else no_update,
        round(view.ts.timestamp() * 1000),
        render_breaks(models["breaks"]) if changed("breaks") else no_update,
        render_alerts(models["alerts"]) if changed("alerts") else no_update,
        render_feeds(models["feeds"]) if changed("feeds") else no_update,
        gauge_patch(view.occupancy, settings.occupancy_cap) if changed("gauge") else no_update,
        line_patch(history, settings.tz, settings.occupancy_history_min) if changed("line") else no_update,
        f"{label('floor_time')} {wall_model.floor_time(view, settings.tz)}",
        status[0],
        status[1],
        history if changed("line") else no_update,
        new_digests,
    )


clientside_callback(
    ClientsideFunction(namespace="wall", function_name="drawGrid"),
    Output("wall-grid-drawn", "data"),
    Input("wall-grid", "data"),
    Input("wall-now", "data"),
)
