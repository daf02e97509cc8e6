"""/supervisor — alerts, overrides with a reason, adherence timeline, log verification.

Supervisors and admins only (checked here against GET /api/me, and again by
the API on every call). Overrides go to POST /api/overrides; the API logs who
and why.
"""
from __future__ import annotations

import dash
import msgspec
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import adherence, wall_model
from dashboard.app import api, api_down, context, forbidden, nav, sign_in_needed
from dashboard.client import ApiError
from dashboard.figures import adherence_timeline
from dashboard.i18n import label
from wfm.views import FloorView

dash.register_page(__name__, path="/supervisor", title="Supervisor 主管", name="Supervisor", order=2)

ROLES = ("supervisor", "admin")
DEFAULT_AGENTS_SHOWN = 12


def layout(**_query) -> html.Div:
    try:
        me = api().me()
    except ApiError as exc:
        if exc.status in (0, 502):
            return html.Div([nav("/supervisor"), api_down(exc.detail or exc.error)])
        return html.Div([nav("/supervisor"), sign_in_needed("/supervisor")])
    if me.role not in ROLES:
        return html.Div([nav("/supervisor", me), forbidden("Supervisors only. 仅限主管。")])
    return html.Div(
        className="page supervisor",
        children=[
            nav("/supervisor", me),
            dcc.Interval(id="sup-interval", interval=1000, n_intervals=0),
            dcc.Interval(id="sup-draw-interval", interval=5000, n_intervals=0),  # the timeline is redrawn less often
            dcc.Store(id="sup-adherence", data={}),
            html.H1("Supervisor 主管"),
            html.Div(id="sup-summary", className="summary"),
            html.Div(
                className="columns",
                children=[
                    html.Div(className="panel", children=[html.H2(label("alerts")), html.Div(id="sup-alerts")]),
                    html.Div(
                        className="panel",
                        children=[
                            html.H2(label("override")),
                            dcc.Dropdown(id="sup-agent", placeholder="Agent 座席", clearable=False),
                            dcc.RadioItems(
                                id="sup-action",
                                options=[{"label": " " + label("allow_break"), "value": "allow_break"},
                                         {"label": " " + label("end_break"), "value": "end_break"}],
                                value="allow_break",
                                className="radio",
                            ),
                            dcc.Textarea(id="sup-note", placeholder=f"{label('reason')} (required 必填)", className="note"),
                            html.Button(label("send"), id="sup-send", className="button"),
                            html.Div(id="sup-result", role="status"),
                            html.H2(label("break_queue")),
                            html.Div(id="sup-queue"),
                        ],
                    ),
                ],
            ),
            html.Div(
                className="panel",
                children=[
                    html.H2(label("adherence")),
                    dcc.Dropdown(id="sup-adherence-agents", multi=True, placeholder="Agents 座席"),
                    dcc.Graph(id="sup-adherence-figure", config={"displaylogo": False}),
                ],
            ),
            html.Div(
                className="panel",
                children=[
                    html.H2(label("log_verify")),
                    html.Button("Verify now 立即校验", id="sup-verify", className="button secondary"),
                    html.Div(id="sup-verify-result"),
                ],
            ),
        ],
    )


@callback(
    Output("sup-summary", "children"),
    Output("sup-alerts", "children"),
    Output("sup-queue", "children"),
    Output("sup-agent", "options"),
    Output("sup-adherence-agents", "options"),
    Output("sup-adherence-agents", "value"),
    Output("sup-adherence", "data"),
    Input("sup-interval", "n_intervals"),
    State("sup-adherence", "data"),
    State("sup-adherence-agents", "value"),
    State("sup-agent", "options"),
)
def refresh(_n, store, chosen, known_options):
    app = context()
    try:
        view = api().floor()
    except ApiError as exc:
        message = html.Div(f"{exc.status} {exc.error}: {exc.detail}", className="level-alarm")
        return message, no_update, no_update, no_update, no_update, no_update, no_update
    store = adherence.observe(store, view, app.config.dashboard.occupancy_history_min * 4)
    agent_ids = sorted((a.agent for a in view.agents), key=lambda a: (len(a), a))
    options = [{"label": agent, "value": agent} for agent in agent_ids]
    if options == known_options:
        options = no_update  # an open list is not redrawn under the supervisor's cursor
    if not chosen:
        flagged = [a.agent for a in view.alerts if a.agent]
        chosen = list(dict.fromkeys(flagged + agent_ids))[:DEFAULT_AGENTS_SHOWN]
    tiles = wall_model.tiles(view, app.wall)
    summary = [html.Span(f"{t.title}: {t.value}", className=f"chip level-{t.level}") for t in tiles]
    alerts = [
        html.Div([html.Span(r.time, className="alert-time"), html.B(r.rule_label), html.Span(r.agent),
                  html.Span(r.detail, className="alert-detail")], className="alert-row")
        for r in wall_model.alert_rows(view, app.wall)
    ] or [html.Div(label("no_alerts"), className="muted")]
    queue = [html.Div(f"#{q.position} {q.agent} · {q.kind.value} · {q.requested_at.astimezone(app.wall.tz):%H:%M:%S}")
             for q in view.break_queue] or [html.Div("—", className="muted")]
    store = {**store, "view": msgspec.to_builtins(_schedule_only(view, chosen))}
    return summary, alerts, queue, options, options, chosen, store


def _schedule_only(view, chosen):
    """The few fields the timeline needs of the chosen agents (kept with the observed states)."""
    keep = set(chosen or [])
    return msgspec.structs.replace(view, agents=[a for a in view.agents if a.agent in keep], alerts=[],
                                   queues=[], break_queue=[], feeds=[])


@callback(
    Output("sup-adherence-figure", "figure"),
    Input("sup-draw-interval", "n_intervals"),
    Input("sup-adherence-agents", "value"),
    State("sup-adherence", "data"),
)
def draw_adherence(_n, chosen, store):
    """Scheduled vs actual for the chosen agents, from what this browser has observed."""
    app = context()
    if not store or "view" not in store:
        return no_update
    view = msgspec.convert(store["view"], FloorView)
    frame = adherence.segments_frame(store, view, chosen or [], app.config.floor.meal_slot_min)
    return adherence_timeline(frame, app.wall.tz, now=view.ts)


@callback(
    Output("sup-result", "children"),
    Input("sup-send", "n_clicks"),
    State("sup-agent", "value"),
    State("sup-action", "value"),
    State("sup-note", "value"),
    prevent_initial_call=True,
)
def send_override(_n, agent, action, note):
    if not agent:
        return html.Div("Choose an agent. 请选择座席。", className="level-alarm")
    if not (note or "").strip():
        return html.Div("A reason is required. 请填写原因。", className="level-alarm")
    try:
        answer = api().override(agent, action, note.strip())
    except ApiError as exc:
        return html.Div(f"{exc.status} {exc.error}: {exc.detail}", className="level-alarm")
    outputs = answer.get("outputs") or answer.get("decisions") or []
    detail = "; ".join(f"{o.get('type')} {o.get('rule') or ''} {o.get('detail', '')}".strip() for o in outputs if isinstance(o, dict))
    return html.Div(f"OK — {action} {agent}. {detail}", className="level-ok", id="sup-result-ok")


@callback(
    Output("sup-verify-result", "children"),
    Input("sup-verify", "n_clicks"),
)
def verify_log(_n):
    try:
        result = api().log_verify()
    except ApiError as exc:
        return html.Div(f"{exc.status} {exc.error}: {exc.detail}", className="level-alarm")
    ok = bool(result.get("ok"))
    text = (f"{label('log_ok')}: {result.get('records', '?')} records" if ok
            else f"{label('log_bad')}: first bad record seq {result.get('first_bad_seq')}: {result.get('reason', '')}")
    return html.Div(text, className="level-ok" if ok else "level-alarm", id="sup-verify-text")



