"""roster.csv exactly as docs/interfaces.md §4: `agent_id,date,shift,start,end,meal_start`."""
from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from optimizer.roster.problem import Assignment, min_to_hhmm

HEADER = ("agent_id", "date", "shift", "start", "end", "meal_start")


def roster_rows(assignments: Iterable[Assignment]) -> list[tuple[str, ...]]:
    rows = []
    for a in sorted(assignments, key=lambda a: (a.agent_id, a.day)):
        if a.works:
            rows.append((a.agent_id, a.day.isoformat(), a.shift, min_to_hhmm(a.start_min), min_to_hhmm(a.end_min),
                         min_to_hhmm(a.meal_start_min) if a.meal_start_min is not None else ""))
        else:
            rows.append((a.agent_id, a.day.isoformat(), a.shift, "", "", ""))
    return rows


def write_roster_csv(assignments: Iterable[Assignment], path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(roster_rows(assignments))
    tmp.replace(path)  # readers never see a half-written roster
    return path
