"""The agent's rest-day and leave requests on /me: a small form and the list of their requests.

Calls only the API (POST/GET/DELETE /api/agents/{agent}/roster-requests/{month}); the
API checks the rulebook's limits (R3 rest days a month, R7 no leave on a swapped shift,
dates of the month, not past) and answers in plain words, shown as is. Each request
shows whether the month's latest roster honours it, and if not, why.
"""
from __future__ import annotations

from datetime import datetime

from dash import Input, Output, State, callback, dcc, html, no_update
from dash.development.base_component import Component

from dashboard import roster_client as rc
from dashboard.app import api, context
from dashboard.client import ApiError


def _next_month(today) -> str:
    return f"{today.year + (today.month == 12)}-{today.month % 12 + 1:02d}"


def request_form(agent: str) -> html.Details:
    """The collapsible form for `agent` (the page shows it only to the agent themself)."""
    month = _next_month(datetime.now(context().config.floor.tz).date())
    small = {"maxWidth": "150px", "minHeight": "0"}
    return html.Details(id="me-roster-requests", className="panel", children=[
        html.Summary("Rest days and leave 休息日与请假申请"),
        dcc.Store(id="me-req-agent", data=agent),
        html.P(f"Ask for a rest day or leave in a month not yet rostered. A month has "
               f"{context().config.roster.rest_days_per_month} rest days (R3); the scheduler honours rest "
               "requests where the cover allows, leave always.", className="muted"),
        dcc.Input(id="me-req-month", value=month, type="text", className="note", style=small),
        dcc.RadioItems(id="me-req-kind", value="rest", inline=True, className="radio",
                       options=[{"label": " rest day 休息", "value": "rest"}, {"label": " leave 请假", "value": "leave"}]),
        dcc.Input(id="me-req-date", placeholder="YYYY-MM-DD", type="text", className="note", style=small),
        dcc.Input(id="me-req-note", placeholder="note 备注", type="text", className="note", style={"maxWidth": "260px"}),
        html.Button("Ask 申请", id="me-req-submit", className="button"),
        html.Div(id="me-req-answer", role="status"),
        html.Div(id="me-req-list"),
        dcc.Input(id="me-req-withdraw-id", placeholder="request id to withdraw", type="text", className="note",
                  style=small),
        html.Button("Withdraw 撤回", id="me-req-withdraw", className="button secondary"),
    ])


def _list(requests: list[dict]) -> Component:
    if not requests:
        return html.Div("No requests for this month. 本月无申请。", className="muted", id="me-req-none")
    rows = [html.Tr([html.Td(r["day"]), html.Td("rest 休息" if r["kind"] == "rest" else "leave 请假"),
                     html.Td("—" if r["honoured"] is None else ("honoured 已满足" if r["honoured"] else "not honoured 未满足")),
                     html.Td(r["why"]), html.Td(r["request_id"], className="muted")]) for r in requests]
    return html.Table(className="report-table", id="me-req-table",
                      children=[html.Thead(html.Tr([html.Th(h) for h in ("date", "kind", "roster", "why", "id")])),
                                html.Tbody(rows)])


@callback(
    Output("me-req-answer", "children"),
    Output("me-req-list", "children"),
    Input("me-req-submit", "n_clicks"),
    Input("me-req-withdraw", "n_clicks"),
    Input("me-req-month", "value"),
    State("me-req-agent", "data"),
    State("me-req-kind", "value"),
    State("me-req-date", "value"),
    State("me-req-note", "value"),
    State("me-req-withdraw-id", "value"),
)
def ask(submit, withdraw, month, agent, kind, day, note, request_id):
    from dash import ctx

    client = rc.patient(api())
    month = (month or "").strip()
    answer = no_update
    try:
        if ctx.triggered_id == "me-req-submit" and submit:
            made = rc.submit_request(client, agent, month, kind, (day or "").strip(), (note or "").strip())
            answer = html.Div(f"Asked 已申请: {made['kind']} on {made['day']}", className="level-ok", id="me-req-ok")
        elif ctx.triggered_id == "me-req-withdraw" and withdraw:
            gone = rc.withdraw_request(client, agent, month, (request_id or "").strip())
            answer = html.Div(f"Withdrawn 已撤回: {gone['day']}", className="level-ok", id="me-req-ok")
    except ApiError as exc:
        answer = html.Div(exc.detail or f"{exc.status} {exc.error}", className="level-alarm", id="me-req-refused")
    try:
        listed = _list(rc.agent_requests(client, agent, month))
    except ApiError as exc:
        listed = html.Div(exc.detail or f"{exc.status} {exc.error}", className="level-alarm")
    return answer, listed
