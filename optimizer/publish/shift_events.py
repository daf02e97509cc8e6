"""The roster as §1 `shift` events (JSON Lines) for the live floor and replays: one event per worked shift,
tz-aware start, end and meal_start, stamped at 00:00 of the shift's date so it precedes the day's traffic."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from optimizer.roster.problem import Assignment
from wfm.events import ShiftEvent, encode_event


def _at(day: date, minute: int, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz) + timedelta(minutes=minute)


def shift_events(assignments: Iterable[Assignment], tz: tzinfo) -> list[ShiftEvent]:
    """Worked roster lines as ShiftEvents, ordered by stamp, start and agent."""
    events: list[ShiftEvent] = []
    for item in assignments:
        if not item.works:
            continue
        start, end = item.span
        meal = None if item.meal_start_min is None else _at(item.day, item.meal_start_min, tz)
        events.append(ShiftEvent(ts=_at(item.day, 0, tz), agent=item.agent_id, start=_at(item.day, start, tz),
                                 end=_at(item.day, end, tz), meal_start=meal))
    events.sort(key=lambda e: (e.ts, e.start, e.agent))
    return events


def write_shift_events(assignments: Iterable[Assignment], tz: tzinfo, path: str | Path) -> Path:
    path = Path(path)
    with open(path, "wb") as fh:
        for event in shift_events(assignments, tz):
            fh.write(encode_event(event) + b"\n")
    return path
