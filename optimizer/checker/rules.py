"""The checker's hard rules — one function per rule, each returning its violations.

Written apart from the model on purpose (style.md: an independent checker that
shares no code with the solver), from the rulebook's own words.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from optimizer.checker.coverage import ShiftIndex, on_post_at
from optimizer.checker.reader import REST, AgentLine, RosterLine


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    agent: str | None
    day: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class CheckRules:
    month_days: tuple[date, ...]
    templates: dict[str, tuple[str, str]]  # name -> (start HH:MM, end HH:MM)
    max_consecutive_days: int
    rest_days_per_month: int
    min_rest: timedelta
    meal_length: timedelta
    meal_margin: timedelta
    meal_grid_min: int
    interval: timedelta
    lunch_cover_min_agents: int


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def by_agent(lines: list[RosterLine]) -> dict[str, list[RosterLine]]:
    grouped: dict[str, list[RosterLine]] = defaultdict(list)
    for item in lines:
        grouped[item.agent].append(item)
    return grouped


def one_shift_a_day(lines: list[RosterLine], rules: CheckRules, **_) -> list[Violation]:
    """R4: one line (one shift) per agent per day."""
    seen: dict[tuple[str, date], int] = {}
    out = []
    for item in lines:
        key = (item.agent, item.day)
        if key in seen:
            out.append(Violation("R4_ONE_SHIFT_A_DAY", item.agent, str(item.day), f"second line for the day (lines {seen[key]} and {item.line})"))
        else:
            seen[key] = item.line
    return out


def complete_month(lines: list[RosterLine], rules: CheckRules, agents: list[AgentLine] | None = None, **_) -> list[Violation]:
    """Every agent has a line (shift or OFF) for every day of the month, and nothing outside it."""
    out = []
    month = set(rules.month_days)
    names = {a.agent for a in agents} if agents else {i.agent for i in lines}
    days_of: dict[str, set[date]] = defaultdict(set)
    for item in lines:
        if item.day not in month:
            out.append(Violation("ROSTER_INCOMPLETE", item.agent, str(item.day), f"line {item.line} is outside the month"))
        days_of[item.agent].add(item.day)
    for agent in sorted(set(days_of) - names):
        out.append(Violation("UNKNOWN_AGENT", agent, None, "rostered but not in agents.csv"))
    for agent in sorted(names):
        missing = sorted(month - days_of.get(agent, set()))
        if missing:
            out.append(Violation("ROSTER_INCOMPLETE", agent, str(missing[0]), f"no line for {len(missing)} day(s) of the month"))
    return out


def template_times(lines: list[RosterLine], rules: CheckRules, **_) -> list[Violation]:
    """R1: a shift's times are its template's times."""
    out = []
    for item in lines:
        if item.shift != REST and rules.templates.get(item.shift) != (item.start_text, item.end_text):
            want = rules.templates.get(item.shift)
            out.append(Violation("R1_SHIFT_TEMPLATE", item.agent, str(item.day),
                                 f"{item.shift} {item.start_text}-{item.end_text} differs from the template {want[0]}-{want[1]}" if want else f"unknown template {item.shift}"))
    return out


def unavailable_dates(lines: list[RosterLine], rules: CheckRules, agents: list[AgentLine] | None = None, **_) -> list[Violation]:
    """Leave: nobody works a date she is unavailable."""
    if not agents:
        return []
    leave = {a.agent: a.unavailable for a in agents}
    return [Violation("UNAVAILABLE", i.agent, str(i.day), f"works {i.shift} on a date marked unavailable")
            for i in lines if i.shift != REST and i.day in leave.get(i.agent, frozenset())]


def minimum_rest(lines: list[RosterLine], rules: CheckRules, previous: list[RosterLine] | None = None, **_) -> list[Violation]:
    """R4: no back-to-back shifts — at least min rest between the end of one shift and the start of the next."""
    out = []
    history = by_agent([p for p in (previous or []) if p.shift != REST])
    for agent, items in by_agent([i for i in lines if i.shift != REST]).items():
        shifts = sorted(history.get(agent, []) + items, key=lambda i: _utc(i.span[0]))
        for before, after in zip(shifts, shifts[1:]):
            gap = _utc(after.span[0]) - _utc(before.span[1])
            if gap < rules.min_rest:
                hours = gap.total_seconds() / 3600
                out.append(Violation("R4_MIN_REST", agent, str(after.day),
                                     f"{hours:.1f} h between {before.day} {before.shift} and {after.day} {after.shift} (minimum {rules.min_rest.total_seconds() / 3600:g} h)"))
    return out


def consecutive_days(lines: list[RosterLine], rules: CheckRules, previous: list[RosterLine] | None = None, **_) -> list[Violation]:
    """R2 (做六休一): no run of working days longer than the maximum, counting last month's tail."""
    out = []
    earlier = defaultdict(set)
    for p in previous or []:
        if p.shift != REST:
            earlier[p.agent].add(p.day)
    for agent, items in by_agent(lines).items():
        worked = {i.day for i in items if i.shift != REST} | earlier.get(agent, set())
        first = rules.month_days[0]
        run = 0
        day = first - timedelta(days=rules.max_consecutive_days + 1)
        while day <= rules.month_days[-1]:
            run = run + 1 if day in worked else 0
            if run == rules.max_consecutive_days + 1 and day >= first:
                out.append(Violation("R2_CONSECUTIVE_DAYS", agent, str(day), f"{run}th working day in a row (at most {rules.max_consecutive_days})"))
            day += timedelta(days=1)
    return out


def rest_days(lines: list[RosterLine], rules: CheckRules, **_) -> list[Violation]:
    """R3: at least the monthly rest days (unavailable days count: they are not worked)."""
    out = []
    for agent, items in by_agent(lines).items():
        worked = {i.day for i in items if i.shift != REST and i.day in set(rules.month_days)}
        free = len(rules.month_days) - len(worked)
        need = min(rules.rest_days_per_month, len(rules.month_days))
        if free < need:
            out.append(Violation("R3_REST_DAYS", agent, None, f"{free} rest day(s) in the month, at least {need} required"))
    return out


def meal_slot(lines: list[RosterLine], rules: CheckRules, **_) -> list[Violation]:
    """R8: one meal slot per shift, on the grid, starting ≥ margin after start and ending ≥ margin before end."""
    out = []
    for i in lines:
        if i.shift == REST:
            continue
        if i.meal is None:
            out.append(Violation("R8_MEAL_SLOT", i.agent, str(i.day), "worked shift without a meal slot"))
            continue
        if (i.meal.hour * 60 + i.meal.minute) % rules.meal_grid_min:
            out.append(Violation("R8_MEAL_SLOT", i.agent, str(i.day), f"meal {i.meal:%H:%M} is off the {rules.meal_grid_min}-min grid"))
        start, end = i.span
        if i.meal - start < rules.meal_margin or end - (i.meal + rules.meal_length) < rules.meal_margin:
            out.append(Violation("R8_MEAL_SLOT", i.agent, str(i.day),
                                 f"meal {i.meal:%H:%M} is within {rules.meal_margin.total_seconds() / 60:g} min of the shift's start or end"))
    return out


def lunch_cover(lines: list[RosterLine], rules: CheckRules, previous: list[RosterLine] | None = None, **_) -> list[Violation]:
    """F8: during every interval in which someone is at a meal, at least the minimum stay on post."""
    if rules.lunch_cover_min_agents <= 0:
        return []
    worked = [i for i in lines if i.shift != REST] + [p for p in (previous or []) if p.shift != REST]
    windows: set[datetime] = set()
    step = int(rules.interval.total_seconds() // 60)
    for i in worked:
        if i.meal is None or i.day not in set(rules.month_days):
            continue
        t = i.meal.replace(minute=(i.meal.minute // step) * step) if step <= 60 else i.meal
        while t < i.meal + rules.meal_length:
            windows.add(t)
            t += rules.interval
    out = []
    index = ShiftIndex(worked)
    for window in sorted(windows):
        present = on_post_at(index, window, rules.interval, rules.meal_length)
        if present < rules.lunch_cover_min_agents:
            out.append(Violation("F8_LUNCH_COVER", None, str(window.date()),
                                 f"{window:%H:%M}: {present} on post while others eat (minimum {rules.lunch_cover_min_agents})"))
    return out


ALL_RULES = (one_shift_a_day, complete_month, template_times, unavailable_dates, minimum_rest,
             consecutive_days, rest_days, meal_slot, lunch_cover)
