"""/reports — daily and monthly KPIs with CSV/XLSX export, computed by the server.

Supervisors, schedulers and admins (the API guards the page and the routes).
The page only asks GET /api/reports/{kind}/{period} (and its /export) and
draws what comes back: the server reads the event log and counts lateness,
overruns and violations from the rules' own logged findings
(wfm/api/reports.py), so the report agrees with the engine, the wall and the
supervisor page. Column headers are bilingual.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard.app import api, api_down, context, forbidden, nav, sign_in_needed
from dashboard.client import ApiError
from dashboard.figures import kpi_trend
from dashboard.i18n import label

dash.register_page(__name__, path="/reports", title="KPI reports 指标报表", name="Reports", order=4)

ROLES = ("supervisor", "scheduler", "admin")
PERCENT = {"service_level", "abandon_rate", "occupancy"}


def layout(**_query) -> html.Div:
    try:
        me = api().me()
    except ApiError as exc:
        if exc.status in (0, 502):
            return html.Div([nav("/reports"), api_down(exc.detail or exc.error)])
        return html.Div([nav("/reports"), sign_in_needed("/reports")])
    if me.role not in ROLES:
        return html.Div([nav("/reports", me), forbidden("Supervisors, schedulers and admins only. 仅限主管、排班员。")])
    today = datetime.now(context().config.floor.tz).date()
    return html.Div(
        className="page reports",
        children=[
            nav("/reports", me),
            html.H1(label("reports")),
            html.Div(
                className="panel",
                children=[
                    dcc.RadioItems(id="rep-kind", value="daily", className="radio", inline=True,
                                   options=[{"label": " " + label("daily"), "value": "daily"},
                                            {"label": " " + label("monthly"), "value": "monthly"}]),
                    dcc.Input(id="rep-period", value=today.isoformat(), type="text", debounce=True,
                              placeholder="YYYY-MM-DD or YYYY-MM", className="note", style={"maxWidth": "220px"}),
                    html.Button("Compute 计算", id="rep-compute", className="button"),
                    html.Button(label("download_csv") + " (floor 现场)", id="rep-csv-floor", className="button secondary"),
                    html.Button(label("download_csv") + " (agents 座席)", id="rep-csv-agents", className="button secondary"),
                    html.Button(label("download_xlsx"), id="rep-xlsx", className="button secondary"),
                    dcc.Download(id="rep-download"),
                    html.Div(id="rep-status", role="status"),
                ],
            ),
            html.Div(className="panel", children=[dcc.Graph(id="rep-trend", config={"displaylogo": False})]),
            html.Div(className="panel", children=[html.H2("Floor 现场"), html.Div(id="rep-floor", className="table-scroll")]),
            html.Div(className="panel", children=[html.H2("Agents 座席"), html.Div(id="rep-agents", className="table-scroll")]),
        ],
    )


def report_table(rows: list[dict], columns: list[str], headers: dict[str, str], table_id: str) -> html.Table:
    """The rows as a table with bilingual headers; each header cell keeps its column key (data-column)."""
    def cell(column, value):
        if value is None:
            return "—"
        if column in PERCENT:
            return f"{value * 100:.1f}%"
        return str(value)

    return html.Table(
        className="report-table", id=table_id,
        children=[html.Thead(html.Tr([_header_cell(headers.get(c, c), c) for c in columns]))]
        + [html.Tbody([html.Tr([html.Td(cell(c, row.get(c))) for c in columns]) for row in rows])],
    )


@callback(
    Output("rep-floor", "children"),
    Output("rep-agents", "children"),
    Output("rep-trend", "figure"),
    Output("rep-status", "children"),
    Input("rep-compute", "n_clicks"),
    State("rep-kind", "value"),
    State("rep-period", "value"),
)
def compute(_n, kind, period):
    try:
        doc = api().report(kind, (period or "").strip())
    except ApiError as exc:
        return no_update, no_update, no_update, html.Div(f"{exc.status} {exc.error}: {exc.detail}", className="level-alarm")
    headers = doc["headers"]
    target = context().config.service.service_level_target
    floor = pd.DataFrame(doc["floor"], columns=doc["floor_columns"])
    status = f"{doc['period']}: {len(doc['agents'])} agent rows"
    if doc.get("skipped"):
        status += f" · {doc['skipped']} log records not understood (skipped)"
    return (report_table(doc["floor"], doc["floor_columns"], headers, "rep-floor-table"),
            report_table(doc["agents"], doc["agent_columns"], headers, "rep-agents-table"),
            kpi_trend(floor.rename(columns={"period": "date"}), target), status)


@callback(
    Output("rep-download", "data"),
    Input("rep-csv-floor", "n_clicks"),
    Input("rep-csv-agents", "n_clicks"),
    Input("rep-xlsx", "n_clicks"),
    State("rep-kind", "value"),
    State("rep-period", "value"),
    prevent_initial_call=True,
)
def download(_a, _b, _c, kind, period):
    key = (period or "").strip()
    trigger = dash.ctx.triggered_id
    try:
        if trigger == "rep-xlsx":
            return dcc.send_bytes(api().report_file(kind, key, "xlsx"), f"wfm-kpi-{key}.xlsx")
        table = "floor" if trigger == "rep-csv-floor" else "agents"
        return dcc.send_bytes(api().report_file(kind, key, "csv", table), f"wfm-kpi-{table}-{key}.csv")
    except ApiError:
        return no_update


def _header_cell(text: str, column: str) -> html.Th:
    """A column header carrying its raw column id as `data-column` (Dash passes data-* attributes through)."""
    attributes: dict[str, Any] = {"data-column": column}
    return html.Th(text, **attributes)
