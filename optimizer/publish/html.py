"""A self-contained HTML page: coverage heatmap and month grid (plotly.js inline, no network needed)."""
from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio


def write_page(path: str | Path, *, title: str, summary: dict, explanation: list[str], figures: list[go.Figure]) -> Path:
    parts = []
    for i, fig in enumerate(figures):
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs="inline" if i == 0 else False, div_id=f"fig{i}"))
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items())
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in explanation)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:.2em .6em;text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1><table>{rows}</table>
{f'<h2>Unmet demand 未满足需求</h2><ul>{notes}</ul>' if notes else ''}
{''.join(parts)}
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)
