"""/reports — daily and monthly KPIs from the tamper-evident event log, with CSV/XLSX export.

Supervisors, schedulers and admins (checked against GET /api/me; the API also
guards the page). The log is opened read-only at the config's storage URL;
dashboard/reports.py does the arithmetic.
"""
from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import reports
from dashboard.app import api, api_down, context, forbidden, nav, sign_in_needed
from dashboard.client import ApiError
from dashboard.figures import kpi_trend
from dashboard.i18n import label

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/reports", title="KPI reports 指标报表", name="Reports", order=4)

ROLES = ("supervisor", "scheduler", "admin")
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
PERCENT = {"service_level", "abandon_rate", "occupancy"}


class PeriodError(ValueError):
    """The chosen period is not a date (YYYY-MM-DD) or month (YYYY-MM)."""


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


def period_bounds(kind: str, period: str, tz) -> tuple[datetime, datetime]:
    """The [start, end) of a floor-local day or month; PeriodError names what is wrong."""
    text = (period or "").strip()
    try:
        if kind == "monthly":
            if not MONTH_RE.match(text):
                raise ValueError
            first = date.fromisoformat(text + "-01")
            following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            first = date.fromisoformat(text)
            following = first + timedelta(days=1)
    except ValueError:
        expected = "YYYY-MM" if kind == "monthly" else "YYYY-MM-DD"
        raise PeriodError(f"period {text!r}: expected {expected}") from None
    return datetime.combine(first, time(0), tzinfo=tz), datetime.combine(following, time(0), tzinfo=tz)


def _build(kind: str, period: str) -> tuple[reports.KpiReport, str]:
    """Read the log for the period (plus the day before, for states already running) and compute."""
    from wfm.eventlog import open_log

    config = context().config
    start, end = period_bounds(kind, period, config.floor.tz)
    settings = reports.ReportSettings.from_config(config)
    event_log = open_log(config.storage.url, readonly=True)
    try:
        records = list(event_log.read(since=start - timedelta(days=1), until=end))
    finally:
        event_log.close()
    # states still running are counted up to the log's own latest time (the floor's clock,
    # which in a simulation is not the wall clock), never past the period's end
    latest = max((r.ts for r in records), default=None)
    clip_until = end if latest is None else min(end, latest)
    compute = reports.compute_monthly if kind == "monthly" else reports.compute_daily
    report = compute(records, settings, until=clip_until)
    key = period.strip()
    report = reports.KpiReport(
        floor=report.floor[report.floor["period"] == key].reset_index(drop=True),
        agents=report.agents[report.agents["period"] == key].reset_index(drop=True),
        skipped=report.skipped,
    )
    return report, key


def _allowed() -> ApiError | None:
    try:
        me = api().me()
    except ApiError as exc:
        return exc
    return None if me.role in ROLES else ApiError(403, "forbidden", "reports are for supervisors, schedulers and admins")


def _table(frame: pd.DataFrame) -> html.Table:
    def cell(column, value):
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "—"
        if column in PERCENT:
            return f"{value * 100:.1f}%"
        return str(value)

    return html.Table(
        className="report-table",
        children=[html.Thead(html.Tr([html.Th(c) for c in frame.columns]))]
        + [html.Tbody([html.Tr([html.Td(cell(c, v)) for c, v in zip(frame.columns, row)])
                       for row in frame.itertuples(index=False)])],
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
    refused = _allowed()
    if refused is not None:
        return no_update, no_update, no_update, html.Div(f"{refused.status} {refused.error}", className="level-alarm")
    try:
        report, key = _build(kind, period)
    except PeriodError as exc:
        return no_update, no_update, no_update, html.Div(str(exc), className="level-alarm")
    except Exception as exc:  # the log may be missing or locked: say so, keep the page
        log.warning("report for %s failed: %s", period, exc)
        return no_update, no_update, no_update, html.Div(f"event log: {exc}", className="level-alarm")
    target = context().config.service.service_level_target
    status = f"{key}: {len(report.agents)} agent rows"
    if report.skipped:
        status += f" · {report.skipped} log records not understood (skipped)"
    return _table(report.floor), _table(report.agents), kpi_trend(report.floor.rename(columns={"period": "date"}), target), status


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
    if _allowed() is not None:
        return no_update
    try:
        report, key = _build(kind, period)
    except PeriodError:
        return no_update
    trigger = dash.ctx.triggered_id
    if trigger == "rep-csv-floor":
        return dcc.send_bytes(reports.to_csv(report.floor), f"wfm-kpi-floor-{key}.csv")
    if trigger == "rep-csv-agents":
        return dcc.send_bytes(reports.to_csv(report.agents), f"wfm-kpi-agents-{key}.csv")
    return dcc.send_bytes(reports.to_xlsx(report, f"WFM KPIs {key}"), f"wfm-kpi-{key}.xlsx")
