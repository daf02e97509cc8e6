"""The publish gate (R6): what a scheduler must see before a roster goes to everyone.

`publish_gate(roster_csv, config, agents_csv, demand_csv)` asks the independent
checker (optimizer.checker) for unmet demand, hard rule violations and the
fairness spreads (R5), and says whether publishing needs a confirmation and a
reason: it does when any demand is unmet or any rule is broken. The answer is
plain data (JSON-able) so the API and the CLI show the same thing.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

FAIRNESS_KINDS = ("evenings", "weekends", "holidays", "workdays")


def publish_gate(roster_csv: str | Path, config, agents_csv: str | Path | None = None,
                 demand_csv: str | Path | None = None, today: date | None = None) -> dict:
    """{headline, unmet_agent_intervals, hard_violations, by_rule, warnings, spreads, needs_confirmation}."""
    from optimizer.checker import check_files

    check = check_files(roster_csv, config, agents_csv, demand_csv)
    unmet = check.unmet_agent_intervals or 0
    spreads = {k: check.fairness[k]["spread"] for k in FAIRNESS_KINDS if k in check.fairness}
    warnings = [f"{v.rule}: agent {v.agent} {v.day}: {v.detail}" if getattr(v, "agent", None) else f"{v.rule}: {v.detail}"
                for v in check.violations[:50]]
    short_intervals = sum(1 for row in check.coverage if row.get("short", 0) > 0)
    findings = []
    if unmet:
        findings.append(f"{unmet} unmet agent-intervals in {short_intervals} interval(s)")
    if check.hard_violations:
        findings.append(f"{check.hard_violations} rule warning(s)")
    holidays = sorted(h for h in config.roster.holidays if h.startswith(check.month))
    if holidays and today is not None:
        ahead = (date.fromisoformat(holidays[0]) - today).days
        if ahead < config.roster.holiday_publish_days_ahead:
            warnings.append(f"R6: holiday {holidays[0]} is {ahead} day(s) away; rosters covering a holiday go out "
                            f"{config.roster.holiday_publish_days_ahead} days ahead")
            findings.append("late for a holiday (R6)")
    headline = " · ".join(findings) if findings else "no unmet demand, no rule warnings"
    return {
        "month": check.month,
        "headline": headline,
        "unmet_agent_intervals": unmet,
        "short_intervals": short_intervals,
        "hard_violations": check.hard_violations,
        "by_rule": check.by_rule(),
        "warnings": warnings,
        "spreads": spreads,
        "needs_confirmation": bool(findings),
    }
