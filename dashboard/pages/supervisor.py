"""/supervisor — who is on break (with End break beside each), who is out of adherence now,
adherence and conformance per team and agent, alerts, overrides with a reason, log verification.

Supervisors and admins only (the API guards the page and every call). Adherence
comes from GET /api/adherence, computed on the server from the event log and the
floor's shifts: it is the same after a reload or a restart. Overrides go to
POST /api/overrides ("allow" with its kind, 小休 or 用餐); End break beside a
person goes to POST /api/agents/{agent}/breaks/end. The override form empties
itself after a successful send.

Pushed, not polled: assets/supervisor.js holds the page's WebSocket (/ws, the
socket /me uses: assets/live.js) and hands the floor the hub pushes — the one
floor snapshot GET /api/floor serves — to the `sup-push` store when something
the page shows changed, at most every FLOOR_REDRAW_MS; it bumps the `sup-log`
store, and adherence is fetched again, when a pushed floor shows an agent's
state or shift changed (the events adherence is computed from were logged), at
most every ADHERENCE_REFRESH_MS, and every ADHERENCE_CLOCK_MS on a floor where
nothing changes (adherence so far moves with the clock). A silent socket marks the page STALE 数据过期 after
dashboard.wall_stale_s; it reconnects with capped, jittered backoff.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import dash
import msgspec
from dash import ALL, Input, Output, State, callback, ctx as dash_ctx, dcc, html, no_update

from dashboard import adherence, wall_model
from dashboard.app import api, api_down, context, forbidden, nav, sign_in_needed
from dashboard.client import ApiError
from dashboard.figures import adherence_timeline
from dashboard.i18n import label, state_label
from dashboard.wildcard import wildcard
from wfm.views import FloorView

dash.register_page(__name__, path="/supervisor", title="Supervisor 主管", name="Supervisor", order=2)

ROLES = ("supervisor", "admin")
DEFAULT_AGENTS_SHOWN = 12
SCHEDULED = {"work": "scheduled work 排班上班", "meal": "scheduled meal 排班用餐"}
FLOOR_REDRAW_MS = 1000  # the floor part is redrawn at most this often (pushes may come every api.ws_floor_interval_ms)
ADHERENCE_REFRESH_MS = 5000  # adherence is fetched again at most this often, when its events were logged
ADHERENCE_CLOCK_MS = 60000  # and this often when nothing changed: its figures so far move with the clock


def layout(at: str | None = None, **_query) -> html.Div:
    try:
        me = api().me()
    except ApiError as exc:
        if exc.status in (0, 502):
            return html.Div([nav("/supervisor"), api_down(exc.detail or exc.error)])
        return html.Div([nav("/supervisor"), sign_in_needed("/supervisor")])
    if me.role not in ROLES:
        return html.Div([nav("/supervisor", me), forbidden("Supervisors only. 仅限主管。")])
    stale_s = context().config.dashboard.wall_stale_s
    return html.Div(
        className="page supervisor",
        id="sup-root",
        # read by assets/supervisor.js and assets/live.js
        **wildcard({"data-stale-s": str(stale_s), "data-floor-ms": str(FLOOR_REDRAW_MS),
                    "data-adherence-ms": str(ADHERENCE_REFRESH_MS),
                    "data-adherence-clock-ms": str(ADHERENCE_CLOCK_MS), "data-at": at or ""}),
        children=[
            nav("/supervisor", me),
            dcc.Store(id="sup-push", data=None),  # {floor, agents}: the newest floor pushed (assets/supervisor.js)
            dcc.Store(id="sup-log", data=None),  # bumped when adherence's events were logged: it is fetched again
            html.Div(id="sup-live", className="live-status", role="status"),
            dcc.Store(id="sup-adherence", data={}),
            dcc.Store(id="sup-breaks-key", data=None),
            dcc.Store(id="sup-at", data=at),  # ?at=ISO: adherence as of that instant (same figures on every load)
            html.H1("Supervisor 主管"),
            html.Div(id="sup-summary", className="summary"),
            html.Div(className="columns", children=[
                html.Div(className="panel", children=[
                    html.H2("On break now 正在休息"), html.Div(id="sup-breaks", className="sup-breaks"),
                    html.H2("Out of adherence now 当前偏离排班"), html.Div(id="sup-exceptions"),
                ]),
                html.Div(className="panel", children=[
                    html.H2(label("override")),
                    dcc.Dropdown(id="sup-agent", placeholder="Agent 座席", clearable=True),
                    dcc.RadioItems(
                        id="sup-action",
                        options=[{"label": " " + label("allow_break"), "value": "allow_break"},
                                 {"label": " " + label("end_break"), "value": "end_break"}],
                        value="allow_break", className="radio", inline=True,
                    ),
                    dcc.RadioItems(
                        id="sup-kind",
                        options=[{"label": " " + label("short_break"), "value": "short"},
                                 {"label": " " + label("meal"), "value": "meal"}],
                        value="short", className="radio", inline=True,
                    ),
                    dcc.Textarea(id="sup-note", placeholder=f"{label('reason')} (required 必填)", className="note", value=""),
                    html.Button(label("send"), id="sup-send", className="button"),
                    html.Div(id="sup-result", role="status"),
                    html.H2(label("break_queue")),
                    html.Div(id="sup-queue"),
                    html.H2(label("alerts")),
                    html.Div(id="sup-alerts"),
                ]),
            ]),
            html.Div(className="panel", children=[
                html.H2(label("adherence")),
                html.Div(id="sup-adherence-teams"),
                html.Div(id="sup-adherence-agents-table", className="table-scroll"),
                dcc.Dropdown(id="sup-adherence-agents", multi=True, placeholder="Agents 座席"),
                dcc.Graph(id="sup-adherence-figure", config={"displaylogo": False}),
            ]),
            html.Div(className="panel", children=[
                html.H2(label("log_verify")),
                html.Button("Verify now 立即校验", id="sup-verify", className="button secondary"),
                html.Div(id="sup-verify-result"),
            ]),
        ],
    )


def break_rows(view, tz) -> tuple[list, list]:
    """Everyone on 小休 or 用餐, each with an End break button beside them, and the list's key: the rows
    show when each break began and reaches its limit, so they change only when someone starts or ends."""
    rows = []
    key = []
    for agent in sorted(view.agents, key=lambda a: (len(a.agent), a.agent)):
        state = agent.state.value if hasattr(agent.state, "value") else str(agent.state)
        if state not in ("short_break", "meal"):
            continue
        limit = agent.break_limit_s
        ends = f"{(agent.since + timedelta(seconds=limit)).astimezone(tz):%H:%M}" if limit else "—"
        key.append([agent.agent, state, agent.since.isoformat(), agent.overrun])
        rows.append(html.Div(className="sup-break-row" + (" overrun" if agent.overrun else ""), children=[
            html.B(agent.agent), html.Span(state_label(state)),
            html.Span(f"since 自 {agent.since.astimezone(tz):%H:%M}"), html.Span(f"limit 截止 {ends}"),
            html.Button(label("end_break"), id={"type": "sup-end", "agent": agent.agent}, className="button small warn"),
        ]))
    return rows or [html.Div(label("nobody_on_break"), className="muted")], key


@callback(
    Output("sup-summary", "children"),
    Output("sup-alerts", "children"),
    Output("sup-queue", "children"),
    Output("sup-breaks", "children"),
    Output("sup-breaks-key", "data"),
    Output("sup-agent", "options"),
    Input("sup-push", "data"),
    State("sup-agent", "options"),
    State("sup-breaks-key", "data"),
)
def refresh(pushed, known_options, breaks_key):
    """Draw the floor the socket pushed (assets/supervisor.js hands it over as {floor, agents}: the
    FloorView with only the people on a break in its agent list, and every agent's id); nothing is fetched."""
    app = context()
    if pushed is None:
        return (html.Span(label("connecting"), className="muted", id="sup-connecting"),
                no_update, no_update, no_update, no_update, no_update)
    try:
        view = msgspec.convert(pushed.get("floor"), FloorView)
        agent_ids = sorted(msgspec.convert(pushed.get("agents"), list[str]), key=lambda a: (len(a), a))
    except (AttributeError, msgspec.ValidationError) as exc:
        message = html.Div(f"{label('api_down')}: {exc}", className="level-alarm")
        return message, no_update, no_update, no_update, no_update, no_update
    options = [{"label": agent, "value": agent} for agent in agent_ids]
    if options == known_options:
        options = no_update  # an open list is not redrawn under the supervisor's cursor
    tiles = wall_model.tiles(view, app.wall)
    summary = [html.Span(f"{t.title}: {t.value}", className=f"chip level-{t.level}") for t in tiles]
    alerts = [
        html.Div([html.Span(r.time, className="alert-time"), html.B(r.rule_label), html.Span(r.agent),
                  html.Span(r.detail, className="alert-detail")], className="alert-row")
        for r in wall_model.alert_rows(view, app.wall)
    ] or [html.Div(label("no_alerts"), className="muted")]
    queue = [html.Div(f"#{q.position} {q.agent} · {q.kind.value} · {q.requested_at.astimezone(app.wall.tz):%H:%M:%S}")
             for q in view.break_queue] or [html.Div("—", className="muted")]
    rows, key = break_rows(view, app.wall.tz)
    if key == breaks_key:  # nobody started or ended a break: the buttons stay put under the cursor
        rows, key = no_update, no_update
    return summary, alerts, queue, rows, key, options


def _table(header: list[str], rows: list[list[str]], table_id: str) -> html.Table:
    return html.Table(className="report-table", id=table_id, children=[
        html.Thead(html.Tr([html.Th(h) for h in header])),
        html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows]),
    ])


@callback(
    Output("sup-adherence", "data"),
    Output("sup-exceptions", "children"),
    Output("sup-adherence-teams", "children"),
    Output("sup-adherence-agents-table", "children"),
    Output("sup-adherence-agents", "options"),
    Output("sup-adherence-agents", "value"),
    Input("sup-log", "data"),
    State("sup-adherence-agents", "value"),
    State("sup-at", "data"),
)
def refresh_adherence(_n, chosen, at):
    tz = context().config.floor.tz
    try:
        doc = api().adherence(at)
    except ApiError as exc:
        return no_update, html.Div(f"{exc.status} {exc.error}: {exc.detail}", className="level-alarm"), \
            no_update, no_update, no_update, no_update
    exceptions = [
        html.Div(className="alert-row exception-row", children=[
            html.B(e["agent"]), html.Span(SCHEDULED.get(e["scheduled"], "—")),
            html.Span(state_label(e["actual"])),
            html.Span("since 自 " + datetime.fromisoformat(e["since"]).astimezone(tz).strftime("%H:%M")),
        ])
        for e in doc.get("exceptions", [])
    ] or [html.Div("Nobody 无", className="muted")]
    header = ["", "Adherence 遵从度", "Conformance 符合度", "Scheduled 排班", ""]
    teams = _table(["Team 班组"] + header[1:4] + ["Out now 偏离人数"], adherence.table_rows(doc.get("teams", []), "team"),
                   "sup-adherence-team-table")
    agents = _table(["Agent 座席"] + header[1:], adherence.table_rows(doc.get("agents", []), "agent"),
                    "sup-adherence-agent-table")
    agent_ids = [row["agent"] for row in doc.get("agents", [])]
    if not chosen:
        out = [e["agent"] for e in doc.get("exceptions", [])]
        chosen = list(dict.fromkeys(out + agent_ids))[:DEFAULT_AGENTS_SHOWN]
    return doc, exceptions, teams, agents, [{"label": a, "value": a} for a in agent_ids], chosen


@callback(
    Output("sup-adherence-figure", "figure"),
    Input("sup-adherence", "data"),
    Input("sup-adherence-agents", "value"),
)
def draw_adherence(doc, chosen):
    """Scheduled vs actual for the chosen agents, from the server's adherence document."""
    if not doc:
        return no_update
    frame = adherence.segments_frame(doc, chosen or [])
    return adherence_timeline(frame, context().wall.tz, now=datetime.fromisoformat(doc["ts"]))


@callback(
    Output("sup-result", "children"),
    Output("sup-agent", "value"),
    Output("sup-note", "value"),
    Output("sup-action", "value"),
    Input("sup-send", "n_clicks"),
    Input({"type": "sup-end", "agent": ALL}, "n_clicks"),
    State("sup-agent", "value"),
    State("sup-action", "value"),
    State("sup-kind", "value"),
    State("sup-note", "value"),
    prevent_initial_call=True,
)
def send_override(_n, _ends, agent, action, kind, note):
    trigger = dash_ctx.triggered_id
    if isinstance(trigger, dict) and trigger.get("type") == "sup-end":
        if not any(_ends or []):  # the buttons were (re)drawn, not pressed
            return no_update, no_update, no_update, no_update
        target = trigger["agent"]
        try:
            api().end_break(target)
        except ApiError as exc:
            return html.Div(f"{exc.status} {exc.error}: {exc.detail}", className="level-alarm"), \
                no_update, no_update, no_update
        return html.Div(f"OK — end_break {target}", className="level-ok", id="sup-result-ok"), \
            no_update, no_update, no_update
    if not agent:
        return html.Div("Choose an agent. 请选择座席。", className="level-alarm"), no_update, no_update, no_update
    if not (note or "").strip():
        return html.Div("A reason is required. 请填写原因。", className="level-alarm"), no_update, no_update, no_update
    try:
        answer = api().override(agent, action, note.strip(), kind=kind if action == "allow_break" else None)
    except ApiError as exc:
        return html.Div(f"{exc.status} {exc.error}: {exc.detail}", className="level-alarm"), \
            no_update, no_update, no_update
    outputs = answer.get("outputs") or answer.get("decisions") or []
    detail = "; ".join(f"{o.get('type')} {o.get('rule') or ''} {o.get('detail', '')}".strip()
                       for o in outputs if isinstance(o, dict))
    what = f"{action} {kind}" if action == "allow_break" else action
    # sent: the form empties (no agent, no reason, back to "allow") so the next override starts clean
    return html.Div(f"OK — {what} {agent}. {detail}", className="level-ok", id="sup-result-ok"), None, "", "allow_break"


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
