"""/me — an agent's own break budget and break requests, usable on a phone.

The layout asks the API who the visitor is (GET /api/me with their cookie):
not signed in → a sign-in link; an agent asking for another agent's page
(/me?agent=1002) → 403; supervisors and admins may look at any agent's
budget (read-only view of the same numbers). Requests go to
POST /api/agents/{agent}/breaks and are answered at once with the decision.
"""
from __future__ import annotations

import dash
from dash import Input, Output, State, callback, ctx as dash_ctx, dcc, html, no_update

from dashboard.agent_model import budget_lines, decision_box, preview_text
from dashboard.app import api, api_down, context, forbidden, nav, sign_in_needed
from dashboard.client import ApiError
from dashboard.i18n import label

dash.register_page(__name__, path="/me", title="My breaks 我的休息", name="My breaks", order=1)

VIEW_ROLES = ("supervisor", "admin")


def layout(agent: str | None = None, **_query) -> html.Div:
    client = api()
    try:
        me = client.me()
    except ApiError as exc:
        if exc.status in (0, 502):
            return html.Div([nav("/me"), api_down(exc.detail or exc.error)])
        return html.Div([nav("/me"), sign_in_needed("/me")])
    own = me.agent or None
    target = agent or own
    if me.role == "agent" and agent and agent != own:
        return html.Div([nav("/me", me), forbidden(f"Agent {own} may only see their own breaks. 座席只能查看本人数据。")])
    if me.role not in ("agent",) + VIEW_ROLES or not target:
        return html.Div([nav("/me", me), forbidden("This page shows an agent's own breaks. 此页面仅供座席使用。")])
    can_request = me.role == "agent" and target == own
    return html.Div(
        className="page me",
        children=[
            nav("/me", me),
            dcc.Interval(id="me-interval", interval=1000, n_intervals=0),
            dcc.Store(id="me-agent", data=target),
            html.H1(f"{label('my_breaks')} · {target}"),
            html.Div(id="me-budget", className="budget"),
            html.Div(
                className="me-actions",
                hidden=not can_request,
                children=[
                    html.Button(label("request_short"), id="me-request-short", className="button big"),
                    html.Button(label("request_meal"), id="me-request-meal", className="button big"),
                    dcc.Checklist(id="me-queue", options=[{"label": " " + label("wait_in_queue"), "value": "queue"}],
                                  value=[], className="checkbox"),
                    html.Button(label("cancel_break"), id="me-cancel", className="button secondary"),
                ],
            ),
            html.Div(id="me-decision", className="decision", role="status", **{"aria-live": "polite"}),
            html.Div(id="me-preview", className="preview"),
        ],
    )


def _render_lines(lines) -> list:
    return [
        html.Div([html.Span(line.title, className="k"), html.Span(line.value, className="v")],
                 className=f"budget-line level-{line.level}", id=f"me-{line.key}")
        for line in lines
    ]


@callback(
    Output("me-budget", "children"),
    Output("me-preview", "children"),
    Input("me-interval", "n_intervals"),
    State("me-agent", "data"),
)
def refresh_budget(_n, agent):
    tz = context().config.floor.tz
    try:
        view = api().budget(agent)
    except ApiError as exc:
        if exc.status == 403:
            return forbidden(f"Not allowed to see agent {agent}. 无权查看。"), ""
        if exc.status == 404:
            return html.Div(f"Agent {agent} is not on the floor yet (no sign-in or shift seen). 尚未签入。",
                            className="level-warn", id="me-unknown"), ""
        return html.Div(f"{label('api_down')}: {exc.status} {exc.error}", className="level-alarm"), no_update
    preview = html.Div(
        [
            html.H3(label("would_be")),
            html.Div(f"{label('short_break')}: {preview_text(view.short_break, tz)}", id="me-preview-short"),
            html.Div(f"{label('meal')}: {preview_text(view.meal, tz)}", id="me-preview-meal"),
        ]
    )
    return _render_lines(budget_lines(view, tz)), preview


@callback(
    Output("me-decision", "children"),
    Output("me-decision", "className"),
    Input("me-request-short", "n_clicks"),
    Input("me-request-meal", "n_clicks"),
    Input("me-cancel", "n_clicks"),
    State("me-agent", "data"),
    State("me-queue", "value"),
    prevent_initial_call=True,
)
def request_break(_short, _meal, _cancel, agent, queue):
    tz = context().config.floor.tz
    trigger = dash_ctx.triggered_id
    client = api()
    try:
        if trigger == "me-cancel":
            client.cancel_break(agent)
            return html.Div("OK — cancelled / ended 已取消", id="me-decision-text"), "decision level-ok"
        kind = "short" if trigger == "me-request-short" else "meal"
        answer = client.request_break(agent, kind, queue=bool(queue))
    except ApiError as exc:
        return html.Div(f"{exc.status} {exc.error}: {exc.detail}", id="me-decision-text"), "decision level-alarm"
    box = decision_box(answer, tz)
    children = [html.B(box.headline, id="me-decision-headline"), html.Span(" " + box.reason, id="me-decision-text")]
    if box.next_window:
        children.append(html.Span(f" · {label('next_window')} {box.next_window}"))
    if box.queue_position is not None:
        children.append(html.Span(f" · {label('queue_position')} #{box.queue_position}"))
    return children, "decision level-ok" if box.allowed else "decision level-alarm"
