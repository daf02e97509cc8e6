"""Publish a roster (R6): roster.csv, report.json, ledger.json, shifts.jsonl (§1 shift events for the floor),
XLSX workbook, one ICS per agent, an HTML page.

`publish(problem, assignments, out_dir, config, result=None, check=None)` writes every
format and returns their paths; the report's `hard_violations` is the
independent checker's figure. `republish(roster_dir, config)` does it again for a
roster folder's current version (optimizer.roster.versions), e.g. after a swap.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from optimizer.roster.io import write_roster_csv
from optimizer.roster.evaluate import on_post_counts
from optimizer.roster.problem import Assignment, RosterProblem, RosterResult, min_to_hhmm

log = logging.getLogger(__name__)


def build_report(problem: RosterProblem, assignments: Sequence[Assignment], result: RosterResult | None, check) -> dict:
    """report.json: at least hard_violations, unmet_agent_intervals, objective, status, fairness (docs/interfaces.md §4)."""
    from optimizer.roster.evaluate import unmet_agent_intervals
    from optimizer.roster.solve import fairness_summary

    report = {
        "month": f"{problem.year:04d}-{problem.month:02d}",
        "status": result.status if result else "EDITED",
        "objective": result.objective if result else None,
        "bound": result.bound if result else None,
        "gap": None if not result or result.gap is None else round(result.gap, 4),
        "seconds": result.seconds if result else None,
        "seed": result.seed if result else None,
        "workers": result.workers if result else None,
        "agents": len(problem.agents),
        "hard_violations": check.hard_violations if check is not None else None,
        "unmet_agent_intervals": unmet_agent_intervals(problem, assignments),
        "fairness": fairness_summary(problem, assignments),
        "penalties": result.penalties if result else {},
        "explanation": list(result.explanation) if result else [],
        "checker": None if check is None else {
            "hard_violations": check.hard_violations, "by_rule": check.by_rule(),
            "unmet_agent_intervals": check.unmet_agent_intervals,
            "violations": [asdict(v) for v in check.violations[:200]],
        },
        "progress": [{"elapsed_s": p.elapsed_s, "objective": p.objective, "bound": p.bound, "gap": p.gap, "phase": p.phase}
                     for p in (result.progress if result else ())],
    }
    return report


def write_ledger(problem: RosterProblem, assignments: Sequence[Assignment], path: Path) -> Path:
    """ledger.json: evenings, weekend days and holidays per agent, carried + this month (next month's --ledger)."""
    evening = {s.name for s in problem.shifts if s.evening}
    carried = {"evenings": problem.ledger.evenings, "weekends": problem.ledger.weekends, "holidays": problem.ledger.holidays}
    totals = {k: {a.agent_id: int(v.get(a.agent_id, 0)) for a in problem.agents} for k, v in carried.items()}
    for item in assignments:
        if item.works and item.agent_id in totals["evenings"]:
            totals["evenings"][item.agent_id] += item.shift in evening
            totals["weekends"][item.agent_id] += problem.is_weekend(item.day)
            totals["holidays"][item.agent_id] += item.day in problem.rules.holidays
    data = {"through": f"{problem.year:04d}-{problem.month:02d}", **totals}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def publish(problem: RosterProblem, assignments: Sequence[Assignment], out_dir: str | Path, config,
            result: RosterResult | None = None, check=None, version: str = "1") -> dict[str, Path]:
    """Write every format into out_dir (created if missing); returns {format: path}."""
    from optimizer.publish.figures import coverage_heatmap, fairness_bars, month_grid
    from optimizer.publish.html import write_page
    from optimizer.publish.ics import write_calendars
    from optimizer.publish.xlsx import write_workbook

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"roster.csv": write_roster_csv(assignments, out / "roster.csv")}
    if check is None:  # report.json always carries the independent checker's verdict (without leave dates if not given)
        from optimizer.checker import check_files

        check = check_files(paths["roster.csv"], config)
    report = build_report(problem, assignments, result, check)
    report_path = out / "report.json"
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    paths["report.json"] = report_path
    paths["ledger.json"] = write_ledger(problem, assignments, out / "ledger.json")
    from optimizer.publish.shift_events import write_shift_events

    paths["shifts.jsonl"] = write_shift_events(assignments, config.floor.tz, out / "shifts.jsonl")

    days = [d.isoformat() for d in problem.days]
    codes = {(a.agent_id, a.day.isoformat()): a.shift for a in assignments}
    meals = {(a.agent_id, a.day.isoformat()): min_to_hhmm(a.meal_start_min) for a in assignments if a.meal_start_min is not None}
    counts = on_post_counts(problem, assignments)
    coverage_rows = []
    required, on_post = {}, {}
    for slot in sorted(problem.demand, key=lambda s: (s.day, s.start_min)):
        present = counts.get((problem.day_index(slot.day), slot.start_min), 0)
        key = (slot.day.isoformat(), min_to_hhmm(slot.start_min))
        required[key] = slot.required
        on_post[key] = present
        coverage_rows.append({"date": key[0], "interval_start": key[1], "required": slot.required, "on_post": present,
                              "short": max(0, slot.required - present), "over": max(0, present - slot.required)})
    summary = {k: report[k] for k in ("status", "objective", "bound", "gap", "hard_violations", "unmet_agent_intervals", "seconds")}
    for cat in ("evenings", "weekends", "holidays", "workdays"):
        summary[f"{cat} spread"] = report["fairness"][cat]["spread"]
    shift_names = [s.name for s in problem.shifts]
    agents = [(a.agent_id, a.name) for a in problem.agents]
    month = report["month"]
    paths["xlsx"] = write_workbook(out / f"roster-{month}.xlsx", month=month, agents=agents, days=days, codes=codes,
                                   meals=meals, shift_names=shift_names, coverage_rows=coverage_rows, summary=summary,
                                   fairness={k: report["fairness"][k]["per_agent"] for k in ("evenings", "weekends", "holidays", "workdays")})
    ics_dir = out / "ics"
    write_calendars(assignments, dict(agents), config.floor.timezone, config.floor.tz, ics_dir,
                    datetime.now(timezone.utc), version, problem.rules.meal_len_min)
    paths["ics"] = ics_dir
    intervals = sorted({k[1] for k in required})
    figures = [coverage_heatmap(days, intervals, required, on_post),
               month_grid([a for a, _ in agents], days, codes, shift_names),
               fairness_bars({k: report["fairness"][k]["per_agent"] for k in ("evenings", "weekends", "holidays", "workdays")})]
    paths["html"] = write_page(out / f"roster-{month}.html", title=f"Roster 排班 {month}", summary=summary,
                               explanation=report["explanation"], figures=figures)
    log.info("roster published to %s", out)
    return paths


def republish(roster_dir: str | Path, config) -> None:
    """Rewrite the human formats (XLSX, ICS, HTML, report) of a roster folder's current version, e.g. after a swap."""
    from optimizer.checker import check_files
    from optimizer.roster.io import load_problem, read_roster_csv, shifts_from_config
    from optimizer.roster.solve import evaluate
    from optimizer.roster.versions import RosterVersions

    versions = RosterVersions(roster_dir, tz=config.floor.tz)
    current = versions.current()
    agents_csv, demand_csv = versions.input_path("agents"), versions.input_path("demand")
    if current is None or agents_csv is None or demand_csv is None:
        log.warning("%s: inputs not stored; only roster.csv was updated", roster_dir)
        return
    shifts = shifts_from_config(config.roster, config.floor)
    assignments = read_roster_csv(versions.path(current.version), shifts)
    month = f"{min(a.day for a in assignments):%Y-%m}"
    problem = load_problem(config, month, agents_csv, demand_csv, versions.input_path("previous"))
    check = check_files(versions.path(current.version), config, agents_csv, demand_csv, versions.input_path("previous"))
    result = evaluate(problem, assignments)
    publish(problem, assignments, roster_dir, config, result=result, check=check, version=str(current.version))
