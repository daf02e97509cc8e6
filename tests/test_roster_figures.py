"""The roster page's pure figure helpers (dashboard/roster_figures.py): every agent row labelled,
the legend's colours match the cells, a grid click names its agent and date."""
from __future__ import annotations

from dashboard.roster_figures import cell_from_click, legend_colours, roster_grid

DAYS = [f"2027-01-{d:02d}" for d in range(1, 32)]
AGENTS = [{"agent_id": str(1001 + i), "name": f"名{i}", "label": f"{1001 + i} 名{i}"} for i in range(60)]
LEGEND = [{"code": "D", "shift": "day", "start": "08:30", "end": "16:00"},
          {"code": "E", "shift": "evening", "start": "16:00", "end": "23:30"},
          {"code": "休", "shift": "OFF", "start": "", "end": ""}]


def view() -> dict:
    cells = {}
    for i, agent in enumerate(AGENTS):
        cells[agent["agent_id"]] = {d: ({"shift": "OFF", "code": "休", "start": "", "end": "", "meal": ""} if (i + n) % 7 == 0
                                        else {"shift": "day", "code": "D", "start": "08:30", "end": "16:00", "meal": "12:00"})
                                    for n, d in enumerate(DAYS)}
    return {"agents": AGENTS, "days": DAYS, "legend": LEGEND, "cells": cells}


def test_every_agent_row_carries_its_label_in_order():
    figure = roster_grid(view())
    axis = figure.layout.yaxis
    assert list(axis.tickvals) == [a["label"] for a in AGENTS] == list(axis.ticktext)
    assert axis.tickmode == "array" and axis.autorange == "reversed"
    assert figure.layout.height >= 20 * len(AGENTS)  # room for every label
    heatmap = figure.data[0]
    assert list(heatmap.y) == [a["label"] for a in AGENTS]
    assert heatmap.text[0][0] == "" and heatmap.text[0][1] == "D"  # rest days blank, shifts by code


def test_legend_colours_follow_the_shift_order_and_rest_is_dark():
    colours = legend_colours(view())
    assert set(colours) == {"D", "E", "休"} and len(set(colours.values())) == 3


def test_a_click_names_the_agent_and_the_date():
    click = {"points": [{"x": "05", "y": "1003 名2", "z": 1}]}
    assert cell_from_click(click, DAYS, AGENTS) == ("1003", "2027-01-05")
    assert cell_from_click({"points": [{"x": "32", "y": "1003 名2"}]}, DAYS, AGENTS) is None
    assert cell_from_click({"points": [{"x": "05", "y": "nobody"}]}, DAYS, AGENTS) is None
    assert cell_from_click(None, DAYS, AGENTS) is None
