"""XLSX workbook: the classic agent × day grid with shift codes, and coverage vs demand."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

FILLS = ["FFD166", "118AB2", "06D6A0", "EF476F", "8338EC"]


def write_workbook(path: str | Path, *, month: str, agents: Sequence[tuple[str, str]], days: Sequence[str],
                   codes: dict[tuple[str, str], str], meals: dict[tuple[str, str], str], shift_names: Sequence[str],
                   coverage_rows: Sequence[dict], summary: dict, fairness: dict[str, dict[str, int]] | None = None) -> Path:
    wb = Workbook()
    grid = wb.active
    grid.title = "Roster 排班"
    grid.append(["agent_id", "name"] + [d[5:] for d in days] + ["worked", "OFF"])
    weekday = ["", "weekday"] + [date.fromisoformat(d).strftime("%a") for d in days]
    grid.append(weekday)
    fills = {name: PatternFill("solid", fgColor=FILLS[i % len(FILLS)]) for i, name in enumerate(shift_names)}
    short_code = {name: name[:1].upper() if sum(n[:1].upper() == name[:1].upper() for n in shift_names) == 1 else name for name in shift_names}
    for row, (agent_id, name) in enumerate(agents, start=3):
        values = [codes.get((agent_id, d), "OFF") for d in days]
        grid.append([agent_id, name] + [short_code.get(v, v) for v in values] +
                    [sum(v != "OFF" for v in values), sum(v == "OFF" for v in values)])
        for col, (day, value) in enumerate(zip(days, values), start=3):
            cell = grid.cell(row=row, column=col)
            cell.alignment = Alignment(horizontal="center")
            if value in fills:
                cell.fill = fills[value]
                meal = meals.get((agent_id, day))
                if meal:
                    cell.comment = Comment(f"{value}; meal 用餐 {meal}", "wfm")
    for cell in grid[1]:
        cell.font = Font(bold=True)
    grid.freeze_panes = "C3"
    grid.column_dimensions["B"].width = 12
    for col in range(3, 3 + len(days)):
        grid.column_dimensions[get_column_letter(col)].width = 5
    legend = wb.create_sheet("Legend 图例")
    legend.append(["code", "shift", "meaning"])
    for name in shift_names:
        legend.append([short_code[name], name, "shift template"])
    legend.append(["OFF", "OFF", "rest day 休息"])

    cov = wb.create_sheet("Coverage 覆盖")
    cov.append(["date", "interval_start", "required", "on_post", "short", "over"])
    red = PatternFill("solid", fgColor="F4CCCC")
    for entry in coverage_rows:
        cov.append([entry["date"], entry["interval_start"], entry["required"], entry["on_post"], entry["short"], entry["over"]])
        if entry["short"]:
            for cell in cov[cov.max_row]:
                cell.fill = red
    cov.freeze_panes = "A2"
    for cell in cov[1]:
        cell.font = Font(bold=True)

    if fairness:
        fair = wb.create_sheet("Fairness 公平")
        categories = list(fairness)
        fair.append(["agent_id"] + categories)
        for agent_id, _ in agents:
            if agent_id in fairness[categories[0]]:
                fair.append([agent_id] + [fairness[c].get(agent_id, 0) for c in categories])
        for cell in fair[1]:
            cell.font = Font(bold=True)

    info = wb.create_sheet("Summary 汇总")
    info.append(["month", month])
    for key, value in summary.items():
        info.append([key, value if isinstance(value, (int, float, str)) or value is None else str(value)])
    wb.save(path)
    return Path(path)
