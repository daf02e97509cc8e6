"""Pure Plotly figure builders for history, forecast and required agents (the dashboard reuses them).

Data frames in, a `plotly.graph_objects.Figure` out: no I/O, no globals.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["forecast_figure", "interval_timestamps"]


def interval_timestamps(frame: pd.DataFrame) -> pd.Series:
    """Local interval starts from `date` + `interval_start` ("HH:MM") columns."""
    return pd.to_datetime(frame["date"].astype(str) + " " + frame["interval_start"].astype(str))


def forecast_figure(
    history: pd.DataFrame | None,
    forecast: pd.DataFrame,
    demand: pd.DataFrame | None = None,
    title: str = "Calls and required agents (需求人数)",
    history_weeks: int = 4,
) -> go.Figure:
    """Calls per 30 min (history, forecast) above and agents required on post / scheduled below.

    history: index = local interval start, column `calls` (optimizer.forecast History.frame);
    forecast: date, interval_start, calls; demand: date, interval_start, required[, scheduled].
    Only the last `history_weeks` weeks of history are drawn.
    """
    rows = 2 if demand is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Calls per 30 min (话务量)",) + (("Agents per 30 min (坐席)",) if demand is not None else ()))
    if history is not None and not history.empty:
        recent = history.loc[history.index > history.index.max() - pd.Timedelta(weeks=history_weeks)]
        fig.add_trace(go.Scatter(x=recent.index, y=recent["calls"], mode="lines", name="History (历史)",
                                 line=dict(color="#7f7f7f", width=1)), row=1, col=1)
    if not forecast.empty:
        fig.add_trace(go.Scatter(x=interval_timestamps(forecast), y=forecast["calls"], mode="lines", name="Forecast (预测)",
                                 line=dict(color="#1f77b4", width=1.5)), row=1, col=1)
    if demand is not None and not demand.empty:
        when = interval_timestamps(demand)
        fig.add_trace(go.Scatter(x=when, y=demand["required"], mode="lines", line_shape="hv", name="Required on post (在席需求)",
                                 line=dict(color="#d62728", width=1.5)), row=2, col=1)
        if "scheduled" in demand:
            fig.add_trace(go.Scatter(x=when, y=demand["scheduled"], mode="lines", line_shape="hv", name="Scheduled heads (排班人数)",
                                     line=dict(color="#ff7f0e", width=1, dash="dot")), row=2, col=1)
    fig.update_layout(title=title, hovermode="x unified", template="plotly_white", height=320 * rows + 80,
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    fig.update_yaxes(title_text="calls", row=1, col=1, rangemode="tozero")
    if demand is not None:
        fig.update_yaxes(title_text="agents", row=2, col=1, rangemode="tozero")
    return fig
