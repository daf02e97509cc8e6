"""/me — an agent's own break budget and break requests, made for a phone (390×844).

The layout asks the API who the visitor is (GET /api/me with their cookie):
not signed in → a sign-in link; an agent asking for another agent's page
(/me?agent=1002) → 403; supervisors and admins may look at any agent's
budget (read-only view of the same numbers).

One truth: "if you asked now" is the API's preview, which runs the same gate
and rules a request runs (wfm/api/breakgate.py, the engine's judge); the
answer to a request shows at the top of the screen, above the buttons'
fold; during a break the page shows the break, its minutes left and "end
break". A queued request shows its position; when it is granted the page
shows a banner, beeps and (if allowed) raises a notification
(assets/me.js). /me?lang=zh shows Chinese only (the API's detail_zh).

Pushed, not polled: assets/me.js holds the page's WebSocket (/ws; a reader
looking at an agent sends "watch:<agent>") and hands each budget the hub
pushes with the floor (wfm/api/ws.py) to the `me-push` store, which redraws
the page; the first drawing fetches the budget once. A silent socket marks
the page STALE 数据过期 after dashboard.wall_stale_s; it reconnects with
capped, jittered backoff.
"""
from __future__ import annotations

from datetime import datetime

import dash
import flask
import msgspec
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx as dash_ctx, dcc, html
from dash import no_update

from dashboard.agent_model import break_status, budget_lines, decision_box, preview_text
from dashboard.app import api, api_down, context, forbidden, nav, sign_in_needed
from dashboard.client import ApiError
from dashboard.roster_requests_form import request_form
from wfm.views import AgentBudgetView
from dashboard.i18n import Lang, label
from dashboard.wildcard import wildcard

dash.register_page(__name__, path="/me", title="My breaks 我的休息", name="My breaks", order=1)

VIEW_ROLES = ("supervisor", "admin")


def page_language(lang: str | None) -> str:
    """'zh' or 'en': the ?lang= choice, else the browser's preferred language."""
    if lang in ("zh", "en"):
        return lang
    try:
        best = flask.request.accept_languages.best_match(["zh", "zh-CN", "en"])
    except RuntimeError:
        best = None
    return "zh" if best and best.startswith("zh") else "en"


def layout(agent: str | None = None, lang: str | None = None, **_query) -> html.Div:
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
    language = page_language(lang)
    zh = language == "zh"
    one: Lang = "zh" if zh else "both"
    other = ("English", f"/me?lang=en{'&agent=' + target if agent else ''}") if zh else \
        ("中文", f"/me?lang=zh{'&agent=' + target if agent else ''}")
    stale_s = context().config.dashboard.wall_stale_s
    return html.Div(
        className="page me",
        id="me-root",
        lang="zh-CN" if zh else "en",
        # read by assets/me.js: whose budget to follow on the socket, and when silence means stale
        **wildcard({"data-agent": target, "data-own": "1" if target == own else "", "data-stale-s": str(stale_s)}),
        children=[
            nav("/me", me),
            dcc.Store(id="me-push", data=None),  # {agent, budget}: the newest budget the socket pushed
            html.Div(id="me-live", className="me-live", role="status"),
            dcc.Store(id="me-agent", data=target),
            dcc.Store(id="me-lang", data=language),
            dcc.Store(id="me-queued", data=None),  # the queue position last seen (a grant is its end)
            dcc.Store(id="me-granted", data=None),
            html.Div(id="me-granted-banner", className="granted-banner", hidden=True, role="alert",
                     children=label("granted_banner", one)),
            html.Div(className="me-title", children=[
                html.H1(f"{label('my_breaks', one)} · {target}"),
                html.A(other[0], href=other[1], className="lang-switch", id="me-lang-switch"),
            ]),
            html.Div(id="me-status", className="me-status"),
            html.Div(
                className="me-actions",
                hidden=not can_request,
                children=[
                    html.Button(label("request_short", one), id="me-request-short", className="button big"),
                    html.Button(label("request_meal", one), id="me-request-meal", className="button big"),
                    dcc.Checklist(id="me-queue", options=[{"label": " " + label("wait_in_queue", one), "value": "queue"}],
                                  value=[], className="checkbox"),
                    html.Button(label("end_my_break", one), id="me-end-break", className="button big warn", hidden=True),
                    html.Button(label("cancel_break", one), id="me-cancel", className="button secondary"),
                ],
            ),
            html.Div(id="me-decision", className="decision", role="status", **wildcard({"aria-live": "polite"})),
            html.Div(id="me-preview", className="preview"),
            html.Div(id="me-budget", className="budget"),
            my_month(client, target, one),
            *([request_form(target)] if can_request else []),  # rest days and leave (dashboard/roster_requests_form.py)
        ],
    )


def my_month(client, agent: str, one: Lang) -> html.Div:
    """The agent's own month of the published roster, with its calendar file."""
    month = datetime.now(context().config.floor.tz).strftime("%Y-%m")
    children: list = [html.H2(f"{label('my_month', one)} · {month}")]
    try:
        data = client.agent_roster(agent, month)
    except ApiError as exc:
        text = "No published roster yet. 本月排班尚未发布。" if exc.status == 404 else f"{exc.status} {exc.error}"
        return html.Div(children + [html.Div(text, className="muted", id="me-month-none")], className="panel me-month")
    rows = []
    for day in data.get("days", []):
        when = datetime.fromisoformat(day["date"]).strftime("%m-%d %a")
        if day["shift"] == "OFF":
            text = "OFF 休"
        else:
            text = f"{day['shift']} {day['start']}–{day['end']}" + (f" · 用餐 {day['meal_start']}" if day["meal_start"] else "")
        rows.append(html.Div([html.Span(when, className="k"), html.Span(text)], className="month-row"))
    children += [html.A("Add to my calendar 导入日历 (ICS)", href=f"/api/agents/{agent}/roster/{month}/ics",
                        className="button secondary", id="me-ics")]
    children += [html.Div(rows, className="month-rows", id="me-month")]
    return html.Div(children, className="panel me-month")


def _render_lines(lines) -> list:
    return [
        html.Div([html.Span(line.title, className="k"), html.Span(line.value, className="v")],
                 className=f"budget-line level-{line.level}", id=f"me-{line.key}")
        for line in lines
    ]


@callback(
    Output("me-budget", "children"),
    Output("me-preview", "children"),
    Output("me-status", "children"),
    Output("me-end-break", "hidden"),
    Output("me-queued", "data"),
    Output("me-granted", "data"),
    Output("me-decision", "children", allow_duplicate=True),  # a grant replaces the refusal that queued it
    Output("me-decision", "className", allow_duplicate=True),
    Input("me-push", "data"),
    State("me-agent", "data"),
    State("me-lang", "data"),
    State("me-queued", "data"),
    prevent_initial_call="initial_duplicate",
)
def refresh_budget(pushed, agent, lang, was_queued):
    """Draw the budget the socket pushed (assets/me.js); the first drawing, before any push, fetches it."""
    tz = context().config.floor.tz
    one = "zh" if lang == "zh" else "both"
    unknown = (html.Div(f"Agent {agent} is not on the floor yet (no sign-in or shift seen). 尚未签入。",
                        className="level-warn", id="me-unknown"), "", "", True, no_update, no_update, no_update, no_update)
    if pushed is not None and pushed.get("agent") == agent:
        if pushed.get("budget") is None:
            return unknown
        try:
            view = msgspec.convert(pushed["budget"], AgentBudgetView)
        except msgspec.ValidationError as exc:
            return (html.Div(f"{label('api_down')}: {exc}", className="level-alarm"),
                    no_update, no_update, no_update, no_update, no_update, no_update, no_update)
    else:
        try:
            view = api().budget(agent)
        except ApiError as exc:
            if exc.status == 403:
                return (forbidden(f"Not allowed to see agent {agent}. 无权查看。"), "", "", True, no_update, no_update,
                        no_update, no_update)
            if exc.status == 404:
                return unknown
            return (html.Div(f"{label('api_down')}: {exc.status} {exc.error}", className="level-alarm"),
                    no_update, no_update, no_update, no_update, no_update, no_update, no_update)
    preview = html.Div(
        [
            html.H3(label("would_be", one)),
            html.Div(f"{label('short_break', one)}: {preview_text(view.short_break, tz, lang)}", id="me-preview-short"),
            html.Div(f"{label('meal', one)}: {preview_text(view.meal, tz, lang)}", id="me-preview-meal"),
        ]
    )
    on_break = break_status(view, tz, lang)
    if on_break is not None:
        status = html.Div([html.B(on_break[0], id="me-break-kind"), html.Span(on_break[1], id="me-break-left")],
                          className="status-card level-warn", id="me-on-break")
    elif view.queue_position is not None:
        status = html.Div(f"{label('queue_position', one)} #{view.queue_position}",
                          className="status-card level-warn", id="me-queue-position")
    else:
        status = ""
    # granted: a queued request left the queue allowed (an allowed place is held, or the break began)
    granted = decision = decision_class = no_update
    if was_queued is not None and view.queue_position is None and (view.allowed_break is not None or on_break):
        granted = view.ts.isoformat()
        decision = [html.B(label("allowed", one), id="me-decision-headline"),
                    html.Span(" " + label("granted_banner", one), id="me-decision-text")]
        decision_class = "decision level-ok"
    return (_render_lines(budget_lines(view, tz, lang)), preview, status, on_break is None,
            view.queue_position, granted, decision, decision_class)


@callback(
    Output("me-decision", "children"),
    Output("me-decision", "className"),
    Input("me-request-short", "n_clicks"),
    Input("me-request-meal", "n_clicks"),
    Input("me-cancel", "n_clicks"),
    Input("me-end-break", "n_clicks"),
    State("me-agent", "data"),
    State("me-queue", "value"),
    State("me-lang", "data"),
    prevent_initial_call=True,
)
def request_break(_short, _meal, _cancel, _end, agent, queue, lang):
    tz = context().config.floor.tz
    trigger = dash_ctx.triggered_id
    client = api()
    zh = lang == "zh"
    try:
        if trigger == "me-cancel":
            client.cancel_break(agent)
            return html.Div("已取消申请" if zh else "OK — request cancelled 已取消", id="me-decision-text"), "decision level-ok"
        if trigger == "me-end-break":
            client.end_break(agent)
            return html.Div("休息已结束" if zh else "OK — break ended 休息已结束", id="me-decision-text"), "decision level-ok"
        kind = "short" if trigger == "me-request-short" else "meal"
        answer = client.request_break(agent, kind, queue=bool(queue))
    except ApiError as exc:
        # a request the API refuses before judging (409: on a break, queued, signed out) says why in words
        reason = exc.detail_zh if zh and exc.detail_zh else exc.detail or exc.error
        return html.Div([html.B(label("refused", "zh" if zh else "both"), id="me-decision-headline"),
                         html.Span(" " + reason, id="me-decision-text")]), "decision level-alarm"
    box = decision_box(answer, tz, lang, asked_to_queue=bool(queue))
    children = [html.B(box.headline, id="me-decision-headline"), html.Span(" " + box.reason, id="me-decision-text")]
    if box.next_window:
        children.append(html.Span(f" · {label('next_window', 'zh' if zh else 'both')} {box.next_window}"))
    if box.queue_position is not None:
        children.append(html.Span(f" · {label('queue_position', 'zh' if zh else 'both')} #{box.queue_position}",
                                  id="me-decision-position"))
    if answer.get("instruction"):  # a feed that cannot pause the agent: the phone must (SIP presence, serial CTI)
        children.append(html.Span(" · " + answer["instruction"], id="me-pbx-instruction"))
    return children, "decision level-ok" if box.allowed else "decision level-alarm"


clientside_callback(
    ClientsideFunction(namespace="me", function_name="granted"),
    Output("me-granted-banner", "hidden"),
    Input("me-granted", "data"),
    prevent_initial_call=True,
)
