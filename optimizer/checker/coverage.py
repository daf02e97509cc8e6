"""The checker's coverage, unmet demand and fairness figures, recomputed from roster lines."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from optimizer.checker.reader import REST, AgentLine, DemandLine, RosterLine


class ShiftIndex:
    """Worked lines indexed by start date, so a window only looks at shifts that could span it."""

    def __init__(self, worked: list[RosterLine]) -> None:
        self.index: dict[date, list[RosterLine]] = defaultdict(list)
        self.longest = 1
        for item in worked:
            self.index[item.day].append(item)
            start, end = item.span
            self.longest = max(self.longest, (end - start).days + 1)

    def around(self, day: date):
        for back in range(self.longest + 1):
            yield from self.index.get(day - timedelta(days=back), ())


def on_post_at(worked, window: datetime, interval: timedelta, meal_length: timedelta) -> int:
    """Agents on post over [window, window+interval): shift covers it whole, meal does not overlap it."""
    pool = worked.around(window.date()) if isinstance(worked, ShiftIndex) else worked
    count = 0
    close = window + interval
    for item in pool:
        if item.start <= window and close <= item.end:
            if item.meal is None or not (item.meal < close and window < item.meal + meal_length):
                count += 1
    return count


def coverage(lines: list[RosterLine], demand: list[DemandLine], interval: timedelta, meal_length: timedelta,
             previous: list[RosterLine] | None = None) -> list[dict]:
    """One entry per demand row: required, on post, short, over."""
    worked = ShiftIndex([i for i in lines if i.shift != REST] + [p for p in (previous or []) if p.shift != REST])
    rows = []
    for need in demand:
        present = on_post_at(worked, need.start, interval, meal_length)
        rows.append({"date": str(need.day), "interval_start": f"{need.start:%H:%M}", "required": need.required,
                     "on_post": present, "short": max(0, need.required - present), "over": max(0, present - need.required)})
    return rows


def fairness(lines: list[RosterLine], month_days: tuple[date, ...], evening_from: time, holidays: set[date],
             agents: list[AgentLine] | None, rest_days_per_month: int, previous: list[RosterLine] | None = None) -> dict:
    """R5: evenings, weekend days, holidays and days worked per agent; spread and fair share over the compared agents.

    Compared agents: those whose unavailable dates fit inside their monthly rest days.
    """
    month = set(month_days)
    everyone = sorted({a.agent for a in agents} if agents else {i.agent for i in lines})
    if agents:
        compared = [a.agent for a in agents if len(a.unavailable & month) <= rest_days_per_month]
    else:
        compared = list(everyone)
    tallies = {k: {a: 0 for a in compared} for k in ("evenings", "weekends", "holidays", "workdays")}
    for i in lines:
        if i.shift == REST or i.agent not in tallies["evenings"] or i.day not in month:
            continue
        tallies["evenings"][i.agent] += i.span[0].time() >= evening_from
        tallies["weekends"][i.agent] += i.day.isoweekday() in (6, 7)
        tallies["holidays"][i.agent] += i.day in holidays
        tallies["workdays"][i.agent] += 1
    carried: dict[str, defaultdict[str, int]] = {k: defaultdict(int) for k in tallies}
    for p in previous or []:
        if p.shift == REST:
            continue  # workdays are a monthly load: nothing carried
        carried["evenings"][p.agent] += p.span[0].time() >= evening_from
        carried["weekends"][p.agent] += p.day.isoweekday() in (6, 7)
        carried["holidays"][p.agent] += p.day in holidays
    result: dict = {"agents": len(compared), "excluded": sorted(set(everyone) - set(compared))}
    for kind, per_agent in tallies.items():
        values = list(per_agent.values()) or [0]
        mean = sum(values) / len(values)
        total = [v + carried[kind][a] for a, v in per_agent.items()] or [0]
        result[kind] = {"min": min(values), "max": max(values), "spread": max(values) - min(values),
                        "fair_share": round(mean, 3), "max_deviation": round(max(abs(v - mean) for v in values), 3),
                        "spread_with_carry_over": max(total) - min(total), "per_agent": per_agent}
    return result
