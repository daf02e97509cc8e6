"""Independent evaluator of a Curtois benchmark roster: hard-rule violations and the benchmark penalty.

Written from the rules of schedulingbenchmarks.org/nrp/instances1_24.html and
sharing no code with the CP-SAT model (only the parsed instance): it walks
each employee's row of shift IDs ("" = day off) and counts.

Hard: one shift a day (by construction of the roster), shift rotation (days
outside the horizon are days off), max shifts per type, min/max total
minutes, max consecutive shifts, min consecutive shifts and min consecutive
days off (a run touching the first or last day is never too short), max
weekends (a weekend is worked if Saturday or Sunday is; day 0 is a Monday),
fixed days off. Soft: shift-on requests not granted, shift-off requests not
granted, cover under and over, each times its weight.
"""
from __future__ import annotations

from dataclasses import dataclass

from optimizer.nrp.parser import Instance

__all__ = ["Evaluation", "evaluate_roster"]


@dataclass(frozen=True)
class Evaluation:
    penalty: int
    hard_violations: tuple[str, ...]
    on_request_penalty: int = 0
    off_request_penalty: int = 0
    cover_under_penalty: int = 0
    cover_over_penalty: int = 0

    @property
    def feasible(self) -> bool:
        return not self.hard_violations


def _runs(flags: list[bool]) -> list[tuple[int, int, bool]]:
    """(start, length, value) of maximal runs of equal flags."""
    runs: list[tuple[int, int, bool]] = []
    start = 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[start]:
            runs.append((start, i - start, flags[start]))
            start = i
    return runs


def evaluate_roster(instance: Instance, roster: dict[str, list[str]]) -> Evaluation:
    """Penalty and hard violations of `roster` (employee -> one shift ID or "" per day)."""
    horizon = instance.horizon
    lengths = {s.id: s.minutes for s in instance.shifts}
    banned_next = {s.id: s.cannot_follow for s in instance.shifts}
    problems: list[str] = []
    for person in instance.staff:
        row = roster.get(person.id)
        if row is None:
            problems.append(f"{person.id}: missing from the roster")
            continue
        if len(row) != horizon:
            problems.append(f"{person.id}: {len(row)} days, horizon is {horizon}")
            continue
        for day, shift in enumerate(row):
            if shift and shift not in lengths:
                problems.append(f"{person.id} day {day}: unknown shift {shift!r}")
        if any(shift and shift not in lengths for shift in row):
            continue
        for day in range(horizon - 1):
            today, tomorrow = row[day], row[day + 1]
            if today and tomorrow and tomorrow in banned_next[today]:
                problems.append(f"{person.id} day {day}->{day + 1}: {tomorrow} may not follow {today}")
        for shift_id in lengths:
            count = row.count(shift_id)
            if count > person.max_shifts.get(shift_id, horizon):
                problems.append(f"{person.id}: {count} x {shift_id} > max {person.max_shifts.get(shift_id)}")
        minutes = sum(lengths[s] for s in row if s)
        if minutes > person.max_minutes:
            problems.append(f"{person.id}: {minutes} min > max {person.max_minutes}")
        if minutes < person.min_minutes:
            problems.append(f"{person.id}: {minutes} min < min {person.min_minutes}")
        for start, length, working in _runs([bool(s) for s in row]):
            touches_edge = start == 0 or start + length == horizon
            if working and length > person.max_consecutive:
                problems.append(f"{person.id}: {length} consecutive shifts from day {start} > max {person.max_consecutive}")
            if working and not touches_edge and length < person.min_consecutive:
                problems.append(f"{person.id}: {length} consecutive shifts from day {start} < min {person.min_consecutive}")
            if not working and not touches_edge and length < person.min_days_off:
                problems.append(f"{person.id}: {length} consecutive days off from day {start} < min {person.min_days_off}")
        weekends = sum(
            1 for saturday in range(5, horizon, 7)
            if row[saturday] or (saturday + 1 < horizon and row[saturday + 1])
        )
        if weekends > person.max_weekends:
            problems.append(f"{person.id}: {weekends} weekends worked > max {person.max_weekends}")
        for day in sorted(instance.days_off.get(person.id, ())):
            if row[day]:
                problems.append(f"{person.id} day {day}: works {row[day]} on a fixed day off")
    unknown = set(roster) - {p.id for p in instance.staff}
    problems.extend(f"{name}: not an employee of the instance" for name in sorted(unknown))

    def assigned(staff_id: str, day: int) -> str:
        row = roster.get(staff_id) or []
        return row[day] if day < len(row) else ""

    on_penalty = sum(r.weight for r in instance.on_requests if assigned(r.staff, r.day) != r.shift)
    off_penalty = sum(r.weight for r in instance.off_requests if assigned(r.staff, r.day) == r.shift)
    under = over = 0
    for need in instance.cover:
        staffed = sum(1 for p in instance.staff if assigned(p.id, need.day) == need.shift)
        under += max(0, need.requirement - staffed) * need.under_weight
        over += max(0, staffed - need.requirement) * need.over_weight
    return Evaluation(
        penalty=on_penalty + off_penalty + under + over,
        hard_violations=tuple(problems),
        on_request_penalty=on_penalty,
        off_request_penalty=off_penalty,
        cover_under_penalty=under,
        cover_over_penalty=over,
    )
