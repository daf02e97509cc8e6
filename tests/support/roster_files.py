"""Roster input files for solver tests: agents.csv and demand.csv as docs/interfaces.md 4 reads them."""
from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

FEB = [date(2027, 2, 1) + timedelta(days=i) for i in range(28)]


def write_agents(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """rows: (agent_id, unavailable, rest_requests, preferred_shift)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["agent_id", "name", "unavailable", "rest_requests", "preferred_shift"])
        for agent_id, unavailable, rest, preferred in rows:
            out.writerow([agent_id, f"Agent {agent_id}", unavailable, rest, preferred])
    return path


def write_demand(path: Path, per_interval: dict[str, int], days: list[date] = FEB) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["date", "interval_start", "required"])
        for day in days:
            for start, need in per_interval.items():
                out.writerow([day.isoformat(), start, need])
    return path


def all_intervals(first: str = "08:30", last: str = "23:00", need: int = 5) -> dict[str, int]:
    """Every half-hour from `first` to `last` (inclusive) needing `need` agents."""
    minute, end = int(first[:2]) * 60 + int(first[3:]), int(last[:2]) * 60 + int(last[3:])
    return {f"{m // 60:02d}:{m % 60:02d}": need for m in range(minute, end + 1, 30)}


def roster_lines(problem, roster: dict[tuple[str, int], str], *, rotate_meals: bool = False) -> list:
    """The Assignment lines of a (agent_id, day) -> template roster, each meal at its template's first slot
    (F8's staggering is the model's job, not the greedy's or the repair's), or with `rotate_meals` the
    meals of each day's template taken in turn over its slots."""
    from optimizer.roster.problem import OFF, Assignment

    turn: dict[tuple[int, str], int] = {}
    lines = []
    for agent in problem.agents:
        for day, when in enumerate(problem.days):
            name = roster.get((agent.agent_id, day))
            if name is None:
                lines.append(Assignment(agent.agent_id, when, OFF))
                continue
            shift = problem.shift(name)
            k = turn.get((day, name), 0) if rotate_meals else 0
            turn[(day, name)] = k + 1
            lines.append(Assignment(agent.agent_id, when, name, shift.start_min, shift.end_min,
                                    shift.start_min + shift.meal_offsets[k % len(shift.meal_offsets)]))
    return lines
