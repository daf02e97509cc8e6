"""Edit one cell of a roster (an agent's shift or meal slot on one day); the checker answers at once.

`edit_cell(roster_csv, out_csv, CellEdit(...), config)` writes the edited roster
to `out_csv` and returns the change in words; errors are CellEditError with a
plain sentence (no Python exception text). The caller runs the independent
checker on the result and records it as a new version (optimizer.roster.versions).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from optimizer.roster.io import read_roster_csv, shifts_from_config, write_roster_csv
from optimizer.roster.problem import OFF, Assignment, hhmm_to_min, min_to_hhmm

_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class CellEditError(ValueError):
    """The edit cannot be made; the message is one plain sentence."""


@dataclass(frozen=True, slots=True)
class CellEdit:
    agent_id: str
    day: str  # YYYY-MM-DD
    shift: str  # a template name or OFF
    meal_start: str | None = None  # HH:MM; None keeps the old slot if it still fits, else the template's middle slot


def parse_day(text: str | None, what: str = "date") -> date:
    """A YYYY-MM-DD date, or CellEditError in plain words."""
    text = (text or "").strip()
    if not _DAY_RE.match(text):
        raise CellEditError(f"the {what} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2027-01-15")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CellEditError(f"the {what} {text} does not exist on the calendar") from None


def edit_cell(roster_csv: str | Path, out_csv: str | Path, edit: CellEdit, config) -> str:
    """Write the roster with one cell changed to out_csv; returns "agent 1001 on 2027-01-05: day → OFF"."""
    shifts = {s.name: s for s in shifts_from_config(config.roster, config.floor)}
    lines = list(read_roster_csv(roster_csv, shifts.values()))
    day = parse_day(edit.day)
    index = next((i for i, a in enumerate(lines) if a.agent_id == edit.agent_id and a.day == day), None)
    if index is None:
        agents = {a.agent_id for a in lines}
        if edit.agent_id not in agents:
            raise CellEditError(f"agent {edit.agent_id!r} is not on this roster")
        raise CellEditError(f"{day} is not in this roster's month")
    old = lines[index]
    name = (edit.shift or "").strip()
    if name.upper() == OFF:
        new = Assignment(agent_id=old.agent_id, day=day, shift=OFF)
    elif name in shifts:
        template = shifts[name]
        allowed = [template.start_min + o for o in template.meal_offsets]
        meal: int | None
        if edit.meal_start:
            if not _HHMM_RE.match(edit.meal_start.strip()):
                raise CellEditError(f"the meal start {edit.meal_start!r} is not a time; write it as HH:MM, e.g. 12:00")
            meal = hhmm_to_min(edit.meal_start.strip())
            if meal < template.start_min:
                meal += 24 * 60
            if meal not in allowed:
                raise CellEditError(f"a {name} shift's meal may start at {', '.join(min_to_hhmm(m) for m in allowed)} "
                                    f"(R8), not {edit.meal_start.strip()}")
        elif old.shift == name and old.meal_start_min in allowed:
            meal = old.meal_start_min
        else:
            meal = allowed[len(allowed) // 2] if allowed else None
        new = replace(old, shift=name, start_min=template.start_min, end_min=template.end_min, meal_start_min=meal)
    else:
        raise CellEditError(f"{name!r} is not a shift; choose one of {', '.join([*shifts, OFF])}")
    if new == old:
        raise CellEditError(f"agent {old.agent_id} already has {describe(old)} on {day}; nothing to change")
    lines[index] = new
    write_roster_csv(lines, out_csv)
    return f"agent {old.agent_id} on {day}: {describe(old)} → {describe(new)}"


def describe(cell: Assignment) -> str:
    if not cell.works:
        return "rest day (OFF)"
    start, end = cell.span
    meal = f", meal {min_to_hhmm(cell.meal_start_min)}" if cell.meal_start_min is not None else ""
    return f"{cell.shift} {min_to_hhmm(start)}–{min_to_hhmm(end)}{meal}"
