"""/roster — the scheduler's page: inputs, a live solve, the month grid, coverage and fairness.

Schedulers and admins only (GET /api/me here and in every callback, because the
solver runs in this process). The optimizer does the work (optimizer.roster
load_problem/solve, optimizer.publish); dashboard/roster_jobs.py keeps each run
on disk so the page can poll its progress.
"""
from __future__ import annotations

import base64
import logging
from datetime import date, datetime
from pathlib import Path

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import roster_jobs
from dashboard.app import api, api_down, context, forbidden, nav, sign_in_needed
from dashboard.client import ApiError
from dashboard.figures import coverage_heatmap, fairness_chart, month_grid, solver_progress
from dashboard.i18n import label

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/roster", title="Roster 排班", name="Roster", order=3)

ROLES = ("scheduler", "admin")
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"


def _jobs_dir() -> Path:
    return Path(context().config.dashboard.roster_jobs_dir)


def _role_refusal() -> str | None:
    try:
        me = api().me()
    except ApiError as exc:
        return f"{exc.status} {exc.error}"
    return None if me.role in ROLES else "403 schedulers and admins only"


def _next_month(today: date) -> str:
    return f"{today.year + (today.month == 12)}-{today.month % 12 + 1:02d}"


def layout(**_query) -> html.Div:
    try:
        me = api().me()
    except ApiError as exc:
        if exc.status in (0, 502):
            return html.Div([nav("/roster"), api_down(exc.detail or exc.error)])
        return html.Div([nav("/roster"), sign_in_needed("/roster")])
    if me.role not in ROLES:
        return html.Div([nav("/roster", me), forbidden("Schedulers and admins only. 仅限排班员。")])
    config = context().config
    sample = SAMPLE_DIR / "roster"
    upload_style = {"border": "1px dashed #5a6877", "borderRadius": "8px", "padding": "10px", "margin": "6px 0"}
    return html.Div(
        className="page roster",
        children=[
            nav("/roster", me),
            dcc.Store(id="roster-job"),
            dcc.Interval(id="roster-interval", interval=1000, disabled=True),
            html.H1(label("roster")),
            html.Div(
                className="panel",
                children=[
                    dcc.RadioItems(id="roster-source", value="sample" if sample.exists() else "upload", inline=True,
                                   className="radio",
                                   options=[{"label": " sample_data/roster (2027-01) 示例", "value": "sample",
                                             "disabled": not sample.exists()},
                                            {"label": " sample agents + forecast from sample_data/history 历史预测",
                                             "value": "sample-forecast",
                                             "disabled": not (SAMPLE_DIR / "history" / "bank_calls.csv").exists()},
                                            {"label": " Upload 上传", "value": "upload"}]),
                    dcc.Upload(id="roster-agents", children=html.Div(f"{label('agents_csv')}: drop or click 拖放或点击"),
                               style=upload_style),
                    dcc.Upload(id="roster-demand", children=html.Div(f"{label('demand_csv')}: drop or click"),
                               style=upload_style),
                    dcc.Upload(id="roster-history", children=html.Div(f"{label('history_csv')}: drop or click"),
                               style=upload_style),
                    html.Div([
                        html.Span(label("month") + " "),
                        dcc.Input(id="roster-month", value="2027-01" if sample.exists() else _next_month(datetime.now(config.floor.tz).date()),
                                  type="text", className="note", style={"maxWidth": "120px", "minHeight": "0"}),
                        html.Span(" time limit 时限 (s) "),
                        dcc.Input(id="roster-time", value=min(config.roster.time_limit_s, 30), type="number", min=1,
                                  max=600, className="note", style={"maxWidth": "90px", "minHeight": "0"}),
                        html.Span(" seed "),
                        dcc.Input(id="roster-seed", value=0, type="number", min=0, className="note",
                                  style={"maxWidth": "80px", "minHeight": "0"}),
                    ]),
                    html.Button(label("solve"), id="roster-solve", className="button"),
                    html.Div(id="roster-status", role="status"),
                ],
            ),
            html.Div(className="panel", children=[dcc.Graph(id="roster-progress", config={"displaylogo": False})]),
            html.Div(id="roster-results"),
            html.Div(
                className="panel",
                children=[
                    html.H2("Versions 版本 (R6)"),
                    dcc.Textarea(id="roster-note", placeholder="Note 备注 (what changed, why)", className="note"),
                    html.Button(label("approve_publish"), id="roster-publish", className="button"),
                    html.Div(id="roster-publish-result", role="status"),
                    html.Div(id="roster-versions"),
                ],
            ),
            html.Div(
                className="panel",
                children=[
                    html.H2(label("swaps") + " (R7)"),
                    html.P("Both agents agreed; you approve as manager. 双方同意，经理审批。", className="muted"),
                    dcc.Input(id="swap-a", placeholder="agent A", type="text", className="note", style={"maxWidth": "140px", "minHeight": "0"}),
                    dcc.Input(id="swap-b", placeholder="agent B", type="text", className="note", style={"maxWidth": "140px", "minHeight": "0"}),
                    dcc.Input(id="swap-day", placeholder="YYYY-MM-DD", type="text", className="note", style={"maxWidth": "160px", "minHeight": "0"}),
                    dcc.Input(id="swap-day2", placeholder="2nd day (optional)", type="text", className="note", style={"maxWidth": "180px", "minHeight": "0"}),
                    html.Button("Approve swap 批准换班", id="swap-approve", className="button"),
                    html.Div(id="swap-result", role="status"),
                ],
            ),
            html.Div(
                className="panel",
                children=[
                    html.Button(label("download_csv") + " roster.csv", id="roster-dl-csv", className="button secondary"),
                    html.Button(label("download_xlsx"), id="roster-dl-xlsx", className="button secondary"),
                    html.Button("Download ICS 日历 (zip)", id="roster-dl-ics", className="button secondary"),
                    dcc.Download(id="roster-download"),
                ],
            ),
        ],
    )


def _upload_bytes(contents: str | None) -> bytes | None:
    if not contents:
        return None
    _, _, data = contents.partition(",")
    return base64.b64decode(data)


@callback(
    Output("roster-job", "data"),
    Output("roster-interval", "disabled"),
    Output("roster-status", "children"),
    Input("roster-solve", "n_clicks"),
    State("roster-source", "value"),
    State("roster-agents", "contents"),
    State("roster-demand", "contents"),
    State("roster-history", "contents"),
    State("roster-month", "value"),
    State("roster-time", "value"),
    State("roster-seed", "value"),
    prevent_initial_call=True,
)
def start(_n, source, agents, demand, history, month, time_limit, seed):
    refused = _role_refusal()
    if refused:
        return no_update, True, html.Div(refused, className="level-alarm")
    if source == "sample":
        agents_csv = (SAMPLE_DIR / "roster" / "agents.csv").read_bytes()
        demand_csv, history_csv = (SAMPLE_DIR / "roster" / "demand.csv").read_bytes(), None
    elif source == "sample-forecast":
        agents_csv = (SAMPLE_DIR / "roster" / "agents.csv").read_bytes()
        demand_csv, history_csv = None, (SAMPLE_DIR / "history" / "bank_calls.csv").read_bytes()
    else:
        agents_csv, demand_csv, history_csv = _upload_bytes(agents), _upload_bytes(demand), _upload_bytes(history)
        if agents_csv is None:
            return no_update, True, html.Div("agents.csv is missing 缺少座席名单", className="level-alarm")
    try:
        job_id = roster_jobs.start_job(
            context().config, _jobs_dir(), month=(month or "").strip(), agents_csv=agents_csv,
            demand_csv=demand_csv, history_csv=history_csv, time_limit=float(time_limit or 30), seed=int(seed or 0),
        )
    except roster_jobs.JobError as exc:
        return no_update, True, html.Div(str(exc), className="level-alarm", id="roster-error")
    return job_id, False, html.Div(f"solving 求解中… run {job_id}", id="roster-running")


def _results(jobs_dir: Path, status: roster_jobs.JobStatus) -> list:
    path = roster_jobs.job_dir(jobs_dir, status.job_id)
    result = status.result
    roster = pd.read_csv(path / "roster.csv", dtype=str, keep_default_na=False)
    coverage = pd.read_csv(path / "coverage.csv", dtype={"date": str, "interval_start": str})
    fairness = pd.read_csv(path / "fairness.csv", dtype={"agent_id": str})
    gap = result.get("gap")
    summary = (f"{result.get('status')} · {label('objective')} {result.get('objective')} · {label('bound')} "
               f"{result.get('bound')} · {label('gap')} {'—' if gap is None else f'{gap:.1%}'} · "
               f"{label('unmet')} {result.get('unmet_agent_intervals')} · {result.get('seconds', 0):.1f} s")
    explanation = [html.Li(text) for text in result.get("explanation", [])]
    return [
        html.Div(className="panel", children=[html.H2(summary, id="roster-summary"), html.Ul(explanation)]),
        html.Div(className="panel", children=[dcc.Graph(figure=month_grid(roster), id="roster-grid")]),
        html.Div(className="panel", children=[dcc.Graph(figure=coverage_heatmap(coverage), id="roster-coverage")]),
        html.Div(className="panel", children=[dcc.Graph(figure=fairness_chart(fairness), id="roster-fairness")]),
    ]


@callback(
    Output("roster-progress", "figure"),
    Output("roster-results", "children"),
    Output("roster-interval", "disabled", allow_duplicate=True),
    Output("roster-status", "children", allow_duplicate=True),
    Input("roster-interval", "n_intervals"),
    State("roster-job", "data"),
    prevent_initial_call=True,
)
def poll(_n, job_id):
    if not job_id or _role_refusal():
        return no_update, no_update, True, no_update
    jobs_dir = _jobs_dir()
    try:
        status = roster_jobs.job_status(jobs_dir, job_id)
    except roster_jobs.JobError as exc:
        return no_update, no_update, True, html.Div(str(exc), className="level-alarm")
    figure = solver_progress(status.progress)
    if status.state == "running":
        last = status.progress[-1] if status.progress else {}
        text = (f"solving 求解中… {last.get('elapsed_s', 0):.0f} s · {label('objective')} {last.get('objective')} · "
                f"{label('bound')} {last.get('bound')}")
        return figure, no_update, False, html.Div(text, id="roster-running")
    if status.state == "failed":
        return figure, [], True, html.Div(f"failed 失败: {status.error}", className="level-alarm", id="roster-failed")
    return figure, _results(jobs_dir, status), True, html.Div(f"done 完成 · run {job_id}", className="level-ok",
                                                               id="roster-done")


@callback(
    Output("roster-download", "data"),
    Input("roster-dl-csv", "n_clicks"),
    Input("roster-dl-xlsx", "n_clicks"),
    Input("roster-dl-ics", "n_clicks"),
    State("roster-job", "data"),
    prevent_initial_call=True,
)
def download(_a, _b, _c, job_id):
    if not job_id or _role_refusal():
        return no_update
    jobs_dir = _jobs_dir()
    trigger = dash.ctx.triggered_id
    try:
        if trigger == "roster-dl-csv":
            return dcc.send_file(str(roster_jobs.job_file(jobs_dir, job_id, "roster.csv")))
        if trigger == "roster-dl-ics":
            return dcc.send_bytes(roster_jobs.bundle(jobs_dir, job_id, ".ics"), f"roster-{job_id}-ics.zip")
        status = roster_jobs.job_status(jobs_dir, job_id)
        xlsx = next((f for f in status.files if f.endswith(".xlsx")), None)
        if xlsx is None:
            return no_update
        return dcc.send_file(str(roster_jobs.job_file(jobs_dir, job_id, xlsx)))
    except roster_jobs.JobError:
        return no_update


def _versions_table(month: str) -> html.Table:
    from optimizer.roster import RosterVersions

    folder = Path(context().config.dashboard.roster_dir) / month
    rows = RosterVersions(folder).list() if folder.exists() else []
    header = ["version", "status", "author", "created", "approved_by", "published_at", "changes", "note"]
    return html.Table(
        className="report-table",
        children=[html.Thead(html.Tr([html.Th(h) for h in header]))]
        + [html.Tbody([html.Tr([html.Td(str(getattr(v, h) if getattr(v, h) is not None else "—")) for h in header],
                               className=f"version-{v.status}") for v in reversed(rows)])],
    )


@callback(
    Output("roster-publish-result", "children"),
    Output("roster-versions", "children"),
    Input("roster-publish", "n_clicks"),
    State("roster-job", "data"),
    State("roster-month", "value"),
    State("roster-note", "value"),
)
def approve_and_publish(n_clicks, job_id, month, note):
    """Record the run's roster as the month's next version, approve it and publish it (R6);
    the version it replaces is withdrawn by optimizer.roster.versions."""
    from optimizer.roster import RosterVersions, VersionError

    try:
        me = api().me()
    except ApiError as exc:
        return html.Div(f"{exc.status} {exc.error}", className="level-alarm"), no_update
    if me.role not in ROLES:
        return html.Div("403 schedulers and admins only", className="level-alarm"), no_update
    month = (month or "").strip()
    if not n_clicks:
        return "", _versions_table(month) if month else ""
    if not job_id:
        return html.Div("Solve first 请先求解", className="level-alarm"), no_update
    jobs_dir = _jobs_dir()
    try:
        status = roster_jobs.job_status(jobs_dir, job_id)
        if status.state != "done":
            return html.Div(f"run {job_id} is {status.state}", className="level-alarm"), no_update
        run = roster_jobs.job_dir(jobs_dir, job_id)
        versions = RosterVersions(Path(context().config.dashboard.roster_dir) / status.month)
        info = versions.record_new(run / "roster.csv", author=me.username, note=(note or f"run {job_id}").strip(),
                                   inputs={"agents": str(run / "agents.csv"), "demand": str(run / "demand.csv")})
        versions.approve(info.version, by=me.username)
        roster_rules = context().config.roster
        info = versions.publish(info.version, by=me.username,
                                holidays=tuple(date.fromisoformat(d) for d in roster_rules.holidays),
                                days_ahead=roster_rules.holiday_publish_days_ahead)
    except (roster_jobs.JobError, VersionError, OSError) as exc:
        return html.Div(str(exc), className="level-alarm"), no_update
    text = f"version {info.version} published 已发布 by {me.username}; replaces {info.replaces or '—'} ({info.changes} changes)"
    if info.extra.get("late_for_holiday"):
        text += f" · late for a holiday (R6): {info.extra['late_for_holiday']}"
    return html.Div(text, className="level-ok", id="roster-published"), _versions_table(status.month)


@callback(
    Output("swap-result", "children"),
    Output("roster-versions", "children", allow_duplicate=True),
    Input("swap-approve", "n_clicks"),
    State("roster-month", "value"),
    State("swap-a", "value"),
    State("swap-b", "value"),
    State("swap-day", "value"),
    State("swap-day2", "value"),
    prevent_initial_call=True,
)
def decide_swap(_n, month, agent_a, agent_b, day, day2):
    """Apply a swap to the month's published roster if R7 and the independent checker allow it."""
    from optimizer.roster import SwapRequest, apply_swap

    try:
        me = api().me()
    except ApiError as exc:
        return html.Div(f"{exc.status} {exc.error}", className="level-alarm"), no_update
    if me.role not in ROLES:
        return html.Div("403 schedulers and admins only", className="level-alarm"), no_update
    month = (month or "").strip()
    if not (agent_a and agent_b and day):
        return html.Div("agent A, agent B and the day are required 必填", className="level-alarm"), no_update
    try:
        request = SwapRequest(agent_a=agent_a.strip(), agent_b=agent_b.strip(), day=date.fromisoformat(day.strip()),
                              approved_by=me.username,
                              day2=date.fromisoformat(day2.strip()) if (day2 or "").strip() else None)
    except ValueError as exc:
        return html.Div(f"date: {exc}", className="level-alarm"), no_update
    try:
        outcome = apply_swap(Path(context().config.dashboard.roster_dir) / month, request, context().config)
    except (FileNotFoundError, ValueError, OSError) as exc:
        return html.Div(str(exc), className="level-alarm"), no_update
    if not outcome.applied:
        items = [html.Li(f"{r.rule}: {r.detail}") for r in outcome.refusals]
        return html.Div([html.B("Refused 未批准"), html.Ul(items)], className="level-alarm", id="swap-refused"), no_update
    return (html.Div(f"Swap applied as version {outcome.version} 已生效 ({len(outcome.changes)} changes)",
                     className="level-ok", id="swap-applied"), _versions_table(month))


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
