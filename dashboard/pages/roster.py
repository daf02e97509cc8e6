"""/roster — the scheduler's page: demand in the floor's terms, a live solve, the month grid,
versions with a publish gate, one-cell edits, swaps and the agents' requests.

Only a client of the API: every callback calls the roster routes
(wfm/api/roster_routes.py via dashboard/roster_client.py) with the visitor's
session cookie and CSRF token, so who may do what is decided by the API's
route table. The solver runs in the API server; this page polls its progress.
"""
from __future__ import annotations

import logging
from datetime import datetime

import dash
from dash import ALL, Input, Output, State, callback, dcc, html, no_update
from dash.development.base_component import Component

from dashboard import roster_client as rc
from dashboard.app import api_down, context, forbidden, nav, sign_in_needed
from dashboard.app import api as floor_api
from dashboard.client import ApiError
from dashboard.figures import solver_progress
from dashboard.i18n import label
from dashboard.roster_figures import cell_from_click, interval_cover, legend_colours, roster_grid

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/roster", title="Roster 排班", name="Roster", order=3)

ROLES = ("scheduler", "admin")
SMALL = {"maxWidth": "110px", "minHeight": "0"}
WHATIF_DEFAULTS = (("base 基准", None, None, None), ("AHT +20 s", 20, None, None), ("5 fewer agents 少5人", None, None, -5))


def api():
    """The visitor's API client, patient enough for forecasts and roster checks."""
    return rc.patient(floor_api())


def _next_month(today) -> str:
    return f"{today.year + (today.month == 12)}-{today.month % 12 + 1:02d}"


def _field(text: str, component) -> html.Label:
    return html.Label([html.Span(text + " "), component], className="field", style={"marginRight": "12px"})


def _number(id_, value=None, step="any", **kw) -> dcc.Input:
    return dcc.Input(id=id_, value=value, type="number", step=step, className="note", style=SMALL, **kw)


def layout(**_query) -> html.Div:
    client = api()
    try:
        me = client.me()
    except ApiError as exc:
        if exc.status in (0, 502):
            return html.Div([nav("/roster"), api_down(exc.detail or exc.error)])
        return html.Div([nav("/roster"), sign_in_needed("/roster")])
    if me.role not in ROLES:
        return html.Div([nav("/roster", me), forbidden("Schedulers and admins only. 仅限排班员。")])
    try:
        sources = rc.sources(client)
    except ApiError as exc:
        return html.Div([nav("/roster", me), api_down(f"{exc.status} {exc.error}: {exc.detail}")])
    config = context().config
    service = config.service
    upload_style = {"border": "1px dashed #5a6877", "borderRadius": "8px", "padding": "10px", "margin": "6px 0"}
    month = "2027-01" if sources["sample"] else _next_month(datetime.now(config.floor.tz).date())
    return html.Div(
        className="page roster",
        children=[
            nav("/roster", me),
            dcc.Store(id="roster-job"),
            dcc.Store(id="roster-sources", data=sources),
            dcc.Interval(id="roster-interval", interval=1000, disabled=True),
            html.H1(label("roster")),
            html.Div(className="panel", children=[
                html.H2("Inputs 输入"),
                dcc.RadioItems(id="roster-source", value="sample-forecast" if sources["sample-forecast"] else "upload",
                               inline=True, className="radio", options=[
                                   {"label": " sample_data/roster (2027-01) 示例", "value": "sample",
                                    "disabled": not sources["sample"]},
                                   {"label": " sample agents + forecast from sample_data/history 历史预测",
                                    "value": "sample-forecast", "disabled": not sources["sample-forecast"]},
                                   {"label": " Upload 上传", "value": "upload"}]),
                dcc.Upload(id="roster-agents", children=html.Div(f"{label('agents_csv')}: drop or click 拖放或点击"),
                           style=upload_style),
                dcc.Upload(id="roster-demand", children=html.Div(f"{label('demand_csv')}: drop or click"),
                           style=upload_style),
                dcc.Upload(id="roster-history", children=html.Div(f"{label('history_csv')}: drop or click"),
                           style=upload_style),
                html.Div([
                    _field(label("month"), dcc.Input(id="roster-month", value=month, type="text", className="note",
                                                     style=SMALL)),
                    _field("time limit 时限 (s)", _number("roster-time", min(config.roster.time_limit_s, 30), step=1,
                                                         min=1, max=600)),
                    _field("seed", _number("roster-seed", 0, step=1, min=0)),
                ]),
                html.H3("Demand in the floor's terms 需求换算"),
                html.P("The history is the whole centre's volume; the floor answers its share of it (or give the "
                       "peak agents on post you want). Blank keeps the config's value.", className="muted"),
                html.Div([
                    _field("floor share of history volume 话务占比", _number("roster-share", None, min=0)),
                    _field("or target peak agents 峰值座席", _number("roster-peak", None, step=1, min=1)),
                    _field("AHT 平均处理时长 (s)", _number("roster-aht", None, min=1, placeholder=str(service.default_aht_s))),
                    _field("shrinkage 缩减率", _number("roster-shrinkage", None, min=0, max=0.95,
                                                     placeholder=str(service.shrinkage))),
                    _field("SL target 服务水平", _number("roster-sl", None, min=0.01, max=0.99,
                                                      placeholder=str(service.service_level_target))),
                    _field("answer within (s)", _number("roster-answer", None, min=0,
                                                       placeholder=str(service.service_level_answer_s))),
                ]),
                dcc.Checklist(id="roster-accept-unmet", value=[], className="checkbox", options=[
                    {"label": " solve even if demand exceeds what the floor can cover 超出人手仍求解", "value": "yes"}]),
                html.Button("Check demand 检查需求", id="roster-check", className="button secondary"),
                html.Button(label("solve"), id="roster-solve", className="button"),
                html.Div(id="roster-status", role="status"),
                html.Div(id="roster-capacity", role="status"),
            ]),
            html.Div(className="panel", children=[
                html.H2("What-if 假设比较"),
                html.P("Up to three variants side by side: agents required and the service level the floor would "
                       "give per half hour (month mean). Blank keeps the inputs above; headcount change is +/-.",
                       className="muted"),
                html.Div([html.Div([
                    dcc.Input(id={"whatif": "name", "i": i}, value=name, type="text", className="note",
                              style={"maxWidth": "180px", "minHeight": "0"}),
                    _field("AHT +/- s", _number({"whatif": "aht", "i": i}, aht)),
                    _field("shrinkage", _number({"whatif": "shrinkage", "i": i}, shrink, min=0, max=0.95)),
                    _field("headcount +/-", _number({"whatif": "heads", "i": i}, heads, step=1)),
                ]) for i, (name, aht, shrink, heads) in enumerate(WHATIF_DEFAULTS)]),
                html.Button("Compare 比较", id="roster-whatif", className="button secondary"),
                html.Div(id="roster-whatif-result"),
            ]),
            html.Div(className="panel", children=[dcc.Graph(id="roster-progress", config={"displaylogo": False})]),
            html.Div(id="roster-results"),
            html.Div(className="panel", children=[
                html.H2("Roster 排班表"),
                _field("version 版本", dcc.Dropdown(id="roster-version", clearable=False, style={"minWidth": "520px"})),
                html.Div(id="roster-view"),
            ]),
            dcc.Store(id="roster-grid-axes"),
            html.Div(className="panel", children=[
                html.H2("Edit one cell 修改单元格"),
                html.P("Click a cell of the grid to pick it. 点击表格选择单元格。", className="muted"),
                dcc.Dropdown(id="edit-agent", placeholder="agent 座席", style={"maxWidth": "260px"}),
                dcc.Input(id="edit-day", placeholder="YYYY-MM-DD", type="text", className="note",
                          style={"maxWidth": "160px", "minHeight": "0"}),
                dcc.Dropdown(id="edit-shift", placeholder="shift 班次", style={"maxWidth": "200px"},
                             options=[{"label": t.name, "value": t.name} for t in config.roster.shifts]
                             + [{"label": "OFF 休息", "value": "OFF"}]),
                dcc.Input(id="edit-meal", placeholder="meal HH:MM (optional)", type="text", className="note",
                          style={"maxWidth": "200px", "minHeight": "0"}),
                html.Button("Apply edit 修改", id="roster-edit", className="button"),
                html.Div(id="roster-edit-result", role="status"),
            ]),
            html.Div(className="panel", children=[
                html.H2("Publish 发布 (R6)"),
                html.Div(id="roster-gate"),
                dcc.Checklist(id="roster-publish-confirm", value=[], className="checkbox", options=[
                    {"label": " I have seen the unmet demand and warnings and publish anyway 已知悉，仍发布",
                     "value": "yes"}]),
                dcc.Textarea(id="roster-publish-reason", placeholder="Reason 原因 (required when anything is unmet)",
                             className="note"),
                html.Button(label("approve_publish"), id="roster-publish", className="button"),
                html.Div(id="roster-publish-result", role="status"),
            ]),
            html.Div(className="panel", children=[
                html.H2("Downloads 下载 (shown version)"),
                html.Button(label("download_csv") + " roster.csv", id="roster-dl-csv", className="button secondary"),
                html.Button(label("download_xlsx"), id="roster-dl-xlsx", className="button secondary"),
                html.Button("Download ICS 日历 (zip)", id="roster-dl-ics", className="button secondary"),
                html.Button("Download HTML 网页", id="roster-dl-html", className="button secondary"),
                html.Div(id="roster-dl-result", role="status"),
                dcc.Download(id="roster-download"),
            ]),
            html.Div(className="panel", children=[
                html.H2(label("swaps") + " (R7)"),
                html.P("Both agents agreed; you approve as manager. 双方同意，经理审批。", className="muted"),
                dcc.Input(id="swap-a", placeholder="agent A", type="text", className="note", style={"maxWidth": "140px", "minHeight": "0"}),
                dcc.Input(id="swap-b", placeholder="agent B", type="text", className="note", style={"maxWidth": "140px", "minHeight": "0"}),
                dcc.Input(id="swap-day", placeholder="YYYY-MM-DD", type="text", className="note", style={"maxWidth": "160px", "minHeight": "0"}),
                dcc.Input(id="swap-day2", placeholder="2nd day (optional)", type="text", className="note", style={"maxWidth": "180px", "minHeight": "0"}),
                html.Button("Approve swap 批准换班", id="swap-approve", className="button"),
                html.Div(id="swap-result", role="status"),
            ]),
            html.Div(className="panel", children=[
                html.H2("Versions 版本"),
                html.Div(id="roster-versions"),
            ]),
        ],
    )


# ── inputs ───────────────────────────────────────────────────────────────────

def _inputs(source, agents, demand, history, month, share, peak, aht, shrinkage, sl, answer) -> dict:
    body = {"month": (month or "").strip(), "source": source or "upload"}
    if source == "upload":
        body.update(agents_csv=agents, demand_csv=demand, history_csv=history)
    for key, value in (("floor_share", share), ("target_peak", peak), ("aht_s", aht), ("shrinkage", shrinkage),
                       ("service_level", sl), ("answer_s", answer)):
        if value not in (None, ""):
            body[key] = int(value) if key == "target_peak" else float(value)
    return body


INPUT_STATES = [State("roster-source", "value"), State("roster-agents", "contents"), State("roster-demand", "contents"),
                State("roster-history", "contents"), State("roster-month", "value"), State("roster-share", "value"),
                State("roster-peak", "value"), State("roster-aht", "value"), State("roster-shrinkage", "value"),
                State("roster-sl", "value"), State("roster-answer", "value")]


def _error(exc: ApiError, id_: str | None = None) -> html.Div:
    text = exc.detail or exc.error
    message = text if exc.status in (400, 404, 409, 413, 422) else f"{exc.status} {exc.error}: {text}"
    if id_:  # Dash refuses id=None
        return html.Div(message, className="level-alarm", id=id_)
    return html.Div(message, className="level-alarm")


def _capacity(capacity: dict, share) -> html.Div:
    share_text = "" if share is None else f" (floor share {share:.4g} of the history's volume)"
    return html.Div(capacity["message"] + share_text, id="roster-capacity-text",
                    className="level-alarm" if capacity["over"] else "level-ok")


@callback(Output("roster-share", "value"), Input("roster-source", "value"), State("roster-sources", "data"))
def default_share(source, sources):
    """The sample history is a whole bank: its sample floor answers sample_share of it."""
    if source == "sample-forecast" and sources and sources.get("sample_share"):
        return sources["sample_share"]
    return None


@callback(Output("roster-capacity", "children"), Input("roster-check", "n_clicks"), *INPUT_STATES,
          prevent_initial_call=True)
def check_demand(_n, *inputs):
    try:
        data = rc.demand(api(), _inputs(*inputs))
    except ApiError as exc:
        return _error(exc, "roster-error")
    peak = max(data["by_interval"], key=lambda r: r["required_peak"]) if data["by_interval"] else None
    extra = []
    if data["dropped_intervals"]:
        extra.append(html.Div(f"{data['dropped_intervals']} interval(s) with {data['dropped_calls']:.0f} forecast "
                              "calls lie outside every shift and are left out.", className="muted"))
    if peak:
        extra.append(html.Div(f"busiest half hour of the day: {peak['interval_start']} "
                              f"(mean {peak['required_mean']}, peak {peak['required_peak']} agents on post)",
                              className="muted"))
    return [_capacity(data["capacity"], data["share"]), *extra]


@callback(Output("roster-whatif-result", "children"), Input("roster-whatif", "n_clicks"),
          State({"whatif": "name", "i": ALL}, "value"), State({"whatif": "aht", "i": ALL}, "value"),
          State({"whatif": "shrinkage", "i": ALL}, "value"), State({"whatif": "heads", "i": ALL}, "value"),
          *INPUT_STATES, prevent_initial_call=True)
def compare(_n, names, ahts, shrinks, heads, *inputs):
    client = api()
    body = _inputs(*inputs)
    try:
        base = rc.demand(client, body)
    except ApiError as exc:
        return _error(exc)
    base_aht = body.get("aht_s") or context().config.service.default_aht_s
    headcount = base["capacity"]["headcount"]
    variants = []
    for name, aht, shrink, head in zip(names, ahts, shrinks, heads, strict=True):
        if not (name or "").strip():
            continue
        variants.append({"name": name.strip(), "aht_s": None if aht in (None, "") else base_aht + float(aht),
                         "shrinkage": None if shrink in (None, "") else float(shrink),
                         "headcount": None if head in (None, "") else max(1, headcount + int(head))})
    try:
        data = rc.what_if(client, {**body, "variants": variants[:3]})
    except ApiError as exc:
        return _error(exc)
    cols = data["variants"]
    header = [html.Th("interval 时段")] + [html.Th(f"{v['name']}: required · expected SL") for v in cols]
    summary = [html.Td("month")] + [html.Td(
        f"AHT {v['aht_s'] or base_aht:.0f} s, shrinkage {v['shrinkage']:.0%}, {v['headcount']} agents → peak "
        f"{v['peak_required']} on post ({v['heads_at_peak']} heads); about {v['on_post']} of them at work a day; SL "
        f"{'—' if v['expected_sl_month'] is None else format(v['expected_sl_month'], '.0%')}") for v in cols]
    body_rows = []
    for i, row in enumerate(cols[0]["rows"] if cols else []):
        cells = [html.Td(row["interval_start"])]
        for v in cols:
            r = v["rows"][i]
            sl = "—" if r["expected_sl"] is None else f"{r['expected_sl']:.0%}"
            cells.append(html.Td(f"{r['required_mean']} (peak {r['required_peak']}) · {sl}"))
        body_rows.append(html.Tr(cells))
    return html.Table(className="report-table", id="roster-whatif-table",
                      children=[html.Thead(html.Tr(header)), html.Tbody([html.Tr(summary), *body_rows])])


# ── solving ──────────────────────────────────────────────────────────────────

@callback(
    Output("roster-job", "data"),
    Output("roster-interval", "disabled"),
    Output("roster-status", "children"),
    Output("roster-capacity", "children", allow_duplicate=True),
    Input("roster-solve", "n_clicks"),
    *INPUT_STATES,
    State("roster-time", "value"),
    State("roster-seed", "value"),
    State("roster-accept-unmet", "value"),
    prevent_initial_call=True,
)
def start(_n, *states):
    *inputs, time_limit, seed, accept = states
    body = {**_inputs(*inputs), "time_limit_s": float(time_limit or 30), "seed": int(seed or 0),
            "accept_unmet": bool(accept)}
    try:
        data = rc.start(api(), body)
    except ApiError as exc:
        if exc.status == 409 and "exceeds the floor" in exc.detail:
            return (no_update, True, html.Div("Not started: demand exceeds the floor (see below) 未开始",
                                              className="level-alarm", id="roster-not-started"),
                    html.Div(exc.detail, className="level-alarm", id="roster-capacity-text"))
        return no_update, True, _error(exc, "roster-error"), no_update
    requests = f" · {data['requests']} agent request(s) included" if data["requests"] else ""
    return (data["job_id"], False, html.Div(f"solving 求解中… run {data['job_id']}{requests}", id="roster-running"),
            _capacity(data["capacity"], data["share"]))


@callback(
    Output("roster-progress", "figure"),
    Output("roster-results", "children"),
    Output("roster-interval", "disabled", allow_duplicate=True),
    Output("roster-status", "children", allow_duplicate=True),
    Output("roster-version", "options"),
    Output("roster-version", "value"),
    Input("roster-interval", "n_intervals"),
    State("roster-job", "data"),
    prevent_initial_call=True,
)
def poll(_n, job_id):
    if not job_id:
        return no_update, no_update, True, no_update, no_update, no_update
    client = api()
    try:
        status = rc.job(client, job_id)
    except ApiError as exc:
        return no_update, no_update, True, _error(exc), no_update, no_update
    figure = solver_progress(status["progress"])
    if status["state"] == "running":
        gap = status.get("gap")
        text = (f"solving 求解中… {status['elapsed_s']:.0f} s"
                + ("" if gap is None or gap >= 0.5 else f" · within {gap:.0%} of the best possible"))
        return figure, no_update, False, html.Div(text, id="roster-running"), no_update, no_update
    if status["state"] == "failed":
        return (figure, [], True, html.Div(f"failed 失败: {status['error']}", className="level-alarm", id="roster-failed"),
                no_update, no_update)
    result = status["result"]
    try:
        info = rc.record(client, status["month"], job_id)
        options = _version_options(rc.versions(client, status["month"]))
    except ApiError as exc:
        return figure, [], True, _error(exc), no_update, no_update
    try:
        requests = rc.month_requests(client, status["month"])
    except ApiError:
        requests = []
    honoured = sum(1 for r in requests if r["honoured"])
    asked = (html.Div(f"Agents' requests 座席请求: {honoured} of {len(requests)} honoured "
                      "(each with its reason in the table under the grid)", id="roster-requests-summary")
             if requests else "")
    results = html.Div(className="panel", children=[
        html.H2(result.get("summary", ""), id="roster-summary"),
        asked,
        html.Ul([html.Li(text) for text in result.get("explanation", [])]),
    ])
    done = html.Div(f"done 完成 · run {job_id} saved as draft version {info['version']}", className="level-ok",
                    id="roster-done")
    return figure, results, True, done, options, info["version"]


# ── versions ─────────────────────────────────────────────────────────────────

def _when(text: str | None) -> str:
    return text.replace("T", " ")[:16] if text else "—"


def _version_options(versions: list[dict]) -> list[dict]:
    out = []
    for v in versions:
        who = v.get("published_by") or v.get("author")
        out.append({"label": f"v{v['version']} · {v['status']} · {_when(v.get('published_at') or v['created'])} · "
                             f"{who} · {v.get('note') or ''}"[:110], "value": v["version"]})
    return out


@callback(Output("roster-version", "options", allow_duplicate=True),
          Output("roster-version", "value", allow_duplicate=True),
          Input("roster-month", "value"), prevent_initial_call="initial_duplicate")
def month_versions(month):
    try:
        versions = rc.versions(api(), (month or "").strip())
    except ApiError:
        return [], None
    return _version_options(versions), versions[0]["version"] if versions else None


def _legend(view: dict) -> html.Div:
    colours = legend_colours(view)
    items = [html.Span([html.Span(x["code"], className="legend-code",
                                  style={"background": colours[x["code"]], "padding": "2px 8px", "borderRadius": "4px",
                                         "marginRight": "6px", "fontWeight": "bold"}),
                        f"{x['shift']} {x['start']}–{x['end']}" if x["start"] else "rest day 休息"],
                       style={"marginRight": "18px"}) for x in view["legend"]]
    return html.Div(items, id="roster-legend", className="legend")


def _totals(view: dict) -> html.Table:
    header = ["agent 座席", "hours 工时", "days 天数", "evenings 晚班", "weekends 周末", "requests honoured 请求满足"]
    rows = []
    for agent in view["agents"]:
        t = view["totals"][agent["agent_id"]]
        asked = f"{t['requests_honoured']}/{t['requests']}" if t["requests"] else "—"
        rows.append(html.Tr([html.Td(agent["label"]), html.Td(f"{t['hours']:g}"), html.Td(t["days"]),
                             html.Td(t["evenings"]), html.Td(t["weekends"]), html.Td(asked)]))
    return html.Table(className="report-table", id="roster-totals",
                      children=[html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(rows)])


def _per_day(view: dict) -> html.Table:
    shifts = [x["shift"] for x in view["legend"] if x["shift"] != "OFF"]
    header = ["date 日期", "working 上班"] + shifts
    rows = [html.Tr([html.Td(d["date"]), html.Td(d["working"])] + [html.Td(d.get(s, 0)) for s in shifts])
            for d in view["per_day"]]
    return html.Table(className="report-table", id="roster-perday",
                      children=[html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(rows)])


def _requests(requests: list[dict]) -> Component:
    if not requests:
        return html.Div("No rest-day or leave requests from agents this month. 本月无请求。", className="muted",
                        id="roster-requests")
    header = ["agent", "kind", "date", "asked", "honoured 满足", "why 原因"]
    rows = [html.Tr([html.Td(r["agent"]), html.Td(r["kind"]), html.Td(r["day"]), html.Td(_when(r["submitted_at"])),
                     html.Td("—" if r["honoured"] is None else ("yes 是" if r["honoured"] else "no 否")),
                     html.Td(r["why"])]) for r in requests]
    return html.Table(className="report-table", id="roster-requests",
                      children=[html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(rows)])


def _gate(gate: dict, info: dict) -> html.Div:
    spreads = ", ".join(f"{k} {v}" for k, v in gate["spreads"].items())
    children: list[Component] = [
        html.Div(f"Version {info['version']} ({info['status']}): {gate['headline']}", id="roster-gate-headline",
                 className="level-alarm" if gate["needs_confirmation"] else "level-ok"),
        html.Div(f"Fairness spreads (max − min per agent, R5): {spreads}", className="muted"),
    ]
    if gate["warnings"]:
        children.append(html.Ul([html.Li(w) for w in gate["warnings"][:20]], id="roster-gate-warnings"))
    if gate["needs_confirmation"]:
        children.append(html.Div("Publishing needs your confirmation and a reason. 发布需确认并填写原因。",
                                 className="level-warn"))
    if info.get("published_at"):
        children.append(html.Div(f"published {_when(info['published_at'])} by {info.get('published_by')}: "
                                 f"{info.get('reason') or '—'}", className="muted"))
    return html.Div(children)


def _versions_table(versions: list[dict]) -> html.Table:
    header = ["version", "status", "author", "created", "published", "by", "reason / note", "changes", "replaces"]
    rows = [html.Tr([html.Td(f"v{v['version']}"), html.Td(v["status"]), html.Td(v["author"]), html.Td(_when(v["created"])),
                     html.Td(_when(v.get("published_at"))), html.Td(v.get("published_by") or "—"),
                     html.Td(v.get("reason") or v.get("note") or "—"), html.Td(v["changes"]),
                     html.Td(v["replaces"] or "—")], className=f"version-{v['status']}") for v in versions]
    return html.Table(className="report-table", id="roster-versions-table",
                      children=[html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(rows)])


def _diff(diff: dict) -> html.Div:
    changes = diff["changes"]
    if diff["replaces"] is None:
        return html.Div("First version of the month.", className="muted", id="roster-diff")
    if not changes:
        return html.Div(f"No cell differs from version {diff['replaces']}.", className="muted", id="roster-diff")

    def cell(text: str) -> str:
        if not text:
            return "—"
        shift, start, end, meal = (text.split("|") + ["", "", "", ""])[:4]
        return "rest 休" if shift == "OFF" else f"{shift} {start}–{end}" + (f" meal {meal}" if meal else "")

    rows = [html.Tr([html.Td(c["agent_id"]), html.Td(c["date"]), html.Td(cell(c["before"])), html.Td(cell(c["after"]))])
            for c in changes[:200]]
    return html.Div(id="roster-diff", children=[
        html.H3(f"{len(changes)} cell(s) changed against version {diff['replaces']} 变更"),
        html.Table(className="report-table", children=[
            html.Thead(html.Tr([html.Th(h) for h in ("agent", "date", "before", "after")])), html.Tbody(rows)])])


@callback(
    Output("roster-view", "children"),
    Output("roster-gate", "children"),
    Output("roster-versions", "children"),
    Output("edit-agent", "options"),
    Output("roster-grid-axes", "data"),
    Input("roster-version", "value"),
    State("roster-month", "value"),
)
def show_version(version, month):
    client = api()
    month = (month or "").strip()
    try:
        versions = rc.versions(client, month)
    except ApiError as exc:
        return _error(exc), "", "", [], None
    if version is None:
        return html.Div("No roster for this month yet: solve one. 本月尚无排班。", className="muted"), "", \
            _versions_table(versions), [], None
    try:
        view = rc.view(client, month, version)
        gate = rc.gate(client, month, version)
        diff = rc.diff(client, month, version)
        requests = rc.month_requests(client, month)
    except ApiError as exc:
        return _error(exc), "", _versions_table(versions), [], None
    shown = html.Div([
        html.Div(f"Showing version {version} ({view['info']['status']}) · {len(view['agents'])} agents · "
                 f"{len(view['days'])} days", id="roster-shown"),
        _legend(view),
        dcc.Graph(figure=roster_grid(view), id="roster-grid", config={"displaylogo": False}),
        html.H3("Scheduled vs required, projected service level 排班与需求"),
        dcc.Graph(figure=interval_cover(view), id="roster-coverage", config={"displaylogo": False}),
        _diff(diff),
        html.Details([html.Summary("Per agent: hours, days, evenings, weekends, requests 每人统计"), _totals(view)],
                     open=True),
        html.Details([html.Summary("Per day headcount 每日人数"), _per_day(view)]),
        html.H3("Agents' requests 座席请求"),
        _requests(requests),
    ])
    options = [{"label": a["label"], "value": a["agent_id"]} for a in view["agents"]]
    axes = {"days": view["days"], "agents": view["agents"],
            "cells": {a: {d: [c["shift"], c["meal"]] for d, c in row.items()} for a, row in view["cells"].items()}}
    return shown, _gate(gate, view["info"]), _versions_table(versions), options, axes


@callback(
    Output("edit-agent", "value"),
    Output("edit-day", "value"),
    Output("edit-shift", "value"),
    Output("edit-meal", "value"),
    Input("roster-grid", "clickData"),
    State("roster-grid-axes", "data"),
    prevent_initial_call=True,
)
def pick_cell(click, axes):
    """A click on the grid fills the edit form with that agent, day, shift and meal."""
    cell = cell_from_click(click, (axes or {}).get("days", []), (axes or {}).get("agents", []))
    if cell is None:
        return no_update, no_update, no_update, no_update
    agent, day = cell
    shift, meal = (axes["cells"].get(agent, {}).get(day) or ["OFF", ""])
    return agent, day, shift, meal or ""


@callback(
    Output("roster-edit-result", "children"),
    Output("roster-version", "options", allow_duplicate=True),
    Output("roster-version", "value", allow_duplicate=True),
    Input("roster-edit", "n_clicks"),
    State("roster-month", "value"),
    State("roster-version", "value"),
    State("edit-agent", "value"),
    State("edit-day", "value"),
    State("edit-shift", "value"),
    State("edit-meal", "value"),
    prevent_initial_call=True,
)
def edit(_n, month, version, agent, day, shift, meal):
    if version is None:
        return html.Div("No version shown: solve or pick one first. 请先选择版本。", className="level-alarm"), no_update, no_update
    if not (agent and day and shift):
        return html.Div("Choose the agent, the date and the shift. 请选择座席、日期和班次。", className="level-alarm"), \
            no_update, no_update
    client = api()
    month = (month or "").strip()
    try:
        data = rc.edit_cell(client, month, version, agent, day.strip(), shift, (meal or "").strip() or None)
        options = _version_options(rc.versions(client, month))
    except ApiError as exc:
        return _error(exc, "roster-edit-refused"), no_update, no_update
    check = data["checker"]
    new = data["version"]["version"]
    if check["ok"]:
        verdict = html.Div(f"Checker: no new rule broken 校验通过 · unmet demand {check['unmet_before']} → "
                           f"{check['unmet_after']}", className="level-ok", id="roster-edit-ok")
    else:
        verdict = html.Div([html.B("Checker: this edit breaks a rule 违反规则"),
                            html.Ul([html.Li(f"{v['rule']}: {v.get('agent') or ''} {v.get('day') or ''} {v['detail']}")
                                     for v in check["new_violations"][:10]])],
                           className="level-alarm", id="roster-edit-violations")
    return html.Div([html.Div(f"{data['change']} — saved as draft version {new} 已保存", id="roster-edited"), verdict]), \
        options, new


@callback(
    Output("roster-publish-result", "children"),
    Output("roster-version", "options", allow_duplicate=True),
    Output("roster-version", "value", allow_duplicate=True),
    Input("roster-publish", "n_clicks"),
    State("roster-month", "value"),
    State("roster-version", "value"),
    State("roster-publish-confirm", "value"),
    State("roster-publish-reason", "value"),
    prevent_initial_call=True,
)
def publish(_n, month, version, confirm, reason):
    """Publish the shown version (R6) through the API's gate: unmet demand needs confirmation and a reason."""
    if version is None:
        return html.Div("Solve first 请先求解", className="level-alarm"), no_update, no_update
    client = api()
    month = (month or "").strip()
    try:
        data = rc.publish(client, month, version, (reason or "").strip(), bool(confirm))
        options = _version_options(rc.versions(client, month))
    except ApiError as exc:
        return _error(exc, "roster-publish-refused"), no_update, no_update
    info = data["version"]
    text = (f"version {info['version']} published 已发布 {_when(info['published_at'])} by {info.get('published_by')}"
            + (f" · reason: {info['reason']}" if info.get("reason") else "")
            + (f" · replaces version {info['replaces']}" if info.get("replaces") else ""))
    return html.Div(text, className="level-ok", id="roster-published"), options, info["version"]


@callback(
    Output("roster-download", "data"),
    Output("roster-dl-result", "children"),
    Input("roster-dl-csv", "n_clicks"),
    Input("roster-dl-xlsx", "n_clicks"),
    Input("roster-dl-ics", "n_clicks"),
    Input("roster-dl-html", "n_clicks"),
    State("roster-month", "value"),
    State("roster-version", "value"),
    prevent_initial_call=True,
)
def download(_a, _b, _c, _d, month, version):
    if version is None:
        return no_update, html.Div("No version shown. 无版本。", className="level-alarm")
    fmt = {"roster-dl-csv": "csv", "roster-dl-xlsx": "xlsx", "roster-dl-ics": "ics", "roster-dl-html": "html"}[
        dash.ctx.triggered_id]
    month = (month or "").strip()
    try:
        data = rc.download(api(), month, version, fmt)
    except ApiError as exc:
        return no_update, _error(exc)
    suffix = {"csv": ".csv", "xlsx": ".xlsx", "ics": "-ics.zip", "html": ".html"}[fmt]
    name = f"roster-{month}-v{version}{suffix}"
    return (dcc.send_bytes(data, name),
            html.Div(f"{name} ({len(data):,} bytes)", className="level-ok", id="roster-downloaded"))


@callback(
    Output("swap-result", "children"),
    Output("roster-version", "options", allow_duplicate=True),
    Output("roster-version", "value", allow_duplicate=True),
    Input("swap-approve", "n_clicks"),
    State("roster-month", "value"),
    State("swap-a", "value"),
    State("swap-b", "value"),
    State("swap-day", "value"),
    State("swap-day2", "value"),
    prevent_initial_call=True,
)
def decide_swap(_n, month, agent_a, agent_b, day, day2):
    """Apply a swap to the month's roster if R7 and the independent checker allow it."""
    client = api()
    month = (month or "").strip()
    try:
        outcome = rc.swap(client, month, (agent_a or "").strip(), (agent_b or "").strip(), (day or "").strip(),
                          (day2 or "").strip() or None)
    except ApiError as exc:
        return _error(exc, "swap-error"), no_update, no_update
    if not outcome["applied"]:
        items = [html.Li(f"{r['rule']}: {r['detail']}") for r in outcome["refusals"]]
        return html.Div([html.B("Refused 未批准"), html.Ul(items)], className="level-alarm", id="swap-refused"), \
            no_update, no_update
    try:
        options = _version_options(rc.versions(client, month))
    except ApiError:
        options = no_update
    return (html.Div(f"Swap applied as version {outcome['version']} 已生效 ({len(outcome['changes'])} changes)",
                     className="level-ok", id="swap-applied"), options, outcome["version"])


def _upload_label(name: str | None, what: str) -> html.Div:
    return html.Div(f"{what}: {name} ✓" if name else f"{what}: drop or click 拖放或点击")


@callback(Output("roster-agents", "children"), Input("roster-agents", "filename"), prevent_initial_call=True)
def show_agents_file(name):
    return _upload_label(name, label("agents_csv"))


@callback(Output("roster-demand", "children"), Input("roster-demand", "filename"), prevent_initial_call=True)
def show_demand_file(name):
    return _upload_label(name, label("demand_csv"))


@callback(Output("roster-history", "children"), Input("roster-history", "filename"), prevent_initial_call=True)
def show_history_file(name):
    return _upload_label(name, label("history_csv"))


