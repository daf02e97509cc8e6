"""Independent roster checker: its own CSV reader and its own rule code.

It shares no code with optimizer/roster, so a bug in the model cannot hide
itself: `wfm roster` and the tests compare the solver's report with it.

`check_files(roster_csv, config, agents_csv=None, demand_csv=None, previous_csv=None)`
→ CheckReport; `report.to_dict()` is the JSON of `wfm check-roster --json`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from optimizer.checker.coverage import coverage, fairness
from optimizer.checker.reader import CheckInputError, RosterLine, read_agents, read_demand, read_roster
from optimizer.checker.rules import ALL_RULES, CheckRules, Violation

__all__ = ["CheckInputError", "CheckReport", "Violation", "check_files", "check_lines"]


@dataclass(frozen=True, slots=True)
class CheckReport:
    month: str
    agents: int
    violations: tuple[Violation, ...]
    unmet_agent_intervals: int | None
    over_agent_intervals: int | None
    fairness: dict
    coverage: tuple[dict, ...] = field(default=())

    @property
    def hard_violations(self) -> int:
        return len(self.violations)

    def by_rule(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for v in self.violations:
            counts[v.rule] = counts.get(v.rule, 0) + 1
        return counts

    def to_dict(self, with_coverage: bool = False) -> dict:
        data = {"month": self.month, "agents": self.agents, "hard_violations": self.hard_violations,
                "by_rule": self.by_rule(), "violations": [asdict(v) for v in self.violations],
                "unmet_agent_intervals": self.unmet_agent_intervals, "over_agent_intervals": self.over_agent_intervals,
                "fairness": self.fairness}
        if with_coverage:
            data["coverage"] = list(self.coverage)
        return data


def _rules_from(config, month_days: tuple[date, ...]) -> CheckRules:
    r = config.roster
    return CheckRules(
        month_days=month_days,
        templates={t.name: (t.start, t.end) for t in r.shifts},
        max_consecutive_days=r.max_consecutive_days,
        rest_days_per_month=r.rest_days_per_month,
        min_rest=timedelta(hours=r.min_rest_between_shifts_h),
        meal_length=timedelta(minutes=config.floor.meal_slot_min),
        meal_margin=timedelta(minutes=r.meal_margin_min),
        meal_grid_min=r.meal_grid_min,
        interval=timedelta(minutes=r.interval_min),
        lunch_cover_min_agents=config.floor.lunch_cover_min_agents,
    )


def _month_of(lines: list[RosterLine], source: str) -> tuple[date, ...]:
    if not lines:
        raise CheckInputError(f"{source}: no roster lines")
    first = min(i.day for i in lines).replace(day=1)
    days = []
    day = first
    while day.month == first.month:
        days.append(day)
        day += timedelta(days=1)
    return tuple(days)


def check_lines(lines, config, agents=None, demand=None, previous=None, source: str = "roster") -> CheckReport:
    month_days = _month_of(lines, source)
    rules = _rules_from(config, month_days)
    previous = [p for p in (previous or []) if p.day < month_days[0]]
    violations: list[Violation] = []
    for rule in ALL_RULES:
        violations.extend(rule(lines, rules, agents=agents, previous=previous))
    unmet = over = None
    rows: list[dict] = []
    if demand is not None:
        rows = coverage(lines, demand, rules.interval, rules.meal_length, previous)
        unmet = sum(r["short"] for r in rows)
        over = sum(r["over"] for r in rows)
    evening_from = datetime.strptime(config.roster.evening_from, "%H:%M").time()
    holidays = {datetime.strptime(h, "%Y-%m-%d").date() for h in config.roster.holidays}
    fair = fairness(lines, month_days, evening_from, holidays, agents, config.roster.rest_days_per_month, previous)
    return CheckReport(month=f"{month_days[0]:%Y-%m}", agents=len({i.agent for i in lines}), violations=tuple(violations),
                       unmet_agent_intervals=unmet, over_agent_intervals=over, fairness=fair, coverage=tuple(rows))


def check_files(roster_csv: str | Path, config, agents_csv: str | Path | None = None, demand_csv: str | Path | None = None,
                previous_csv: str | Path | None = None) -> CheckReport:
    """Check a roster.csv against every hard rule; recompute coverage, unmet demand and fairness."""
    tz = config.floor.tz
    names = {t.name for t in config.roster.shifts}
    lines = read_roster(roster_csv, tz, names)
    agents = read_agents(agents_csv) if agents_csv else None
    demand = read_demand(demand_csv, tz) if demand_csv else None
    previous = read_roster(previous_csv, tz, names | _names_in(previous_csv)) if previous_csv else None
    return check_lines(lines, config, agents, demand, previous, source=str(roster_csv))


def _names_in(path: str | Path) -> set[str]:
    """Template names used in an earlier roster (templates may have changed since)."""
    import csv

    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return {row.get("shift", "") for row in csv.DictReader(fh)} - {"OFF", ""}
    except OSError:
        return set()
