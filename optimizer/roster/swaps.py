"""Shift swaps (R7): both agents named, a manager approves, the independent checker agrees.

A swap exchanges the two agents' roster lines (shift and meal slot) on `day`,
and also on `day2` when given (A works B's shift one day, B works A's on the
other). Applied only when every R7 condition holds and the checker finds no new
hard violation; the result is a new published version, the old one withdrawn.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from optimizer.roster.io import read_roster_csv, shifts_from_config, write_roster_csv
from optimizer.roster.problem import Assignment
from optimizer.roster.versions import RosterVersions

log = logging.getLogger(__name__)

MANAGER_ROLES = ("supervisor", "scheduler", "admin")


@dataclass(frozen=True, slots=True)
class SwapRequest:
    agent_a: str
    agent_b: str
    day: date
    approved_by: str
    day2: date | None = None

    @property
    def days(self) -> tuple[date, ...]:
        return (self.day,) if self.day2 is None or self.day2 == self.day else (self.day, self.day2)


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class SwapOutcome:
    applied: bool
    refusals: tuple[Refusal, ...]
    version: int | None
    changes: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        return {"applied": self.applied, "version": self.version,
                "refusals": [{"rule": r.rule, "detail": r.detail} for r in self.refusals], "changes": list(self.changes)}


def swapped(assignments: tuple[Assignment, ...], request: SwapRequest) -> tuple[Assignment, ...]:
    """The roster with A's and B's lines exchanged on the request's day(s)."""
    lines = {(a.agent_id, a.day): a for a in assignments}
    out = dict(lines)
    for day in request.days:
        line_a, line_b = lines.get((request.agent_a, day)), lines.get((request.agent_b, day))
        if line_a is None or line_b is None:
            continue
        out[(request.agent_a, day)] = replace(line_b, agent_id=request.agent_a)
        out[(request.agent_b, day)] = replace(line_a, agent_id=request.agent_b)
    return tuple(out[(a.agent_id, a.day)] for a in assignments)


def _prior_swaps(versions: RosterVersions, month: str) -> list[dict]:
    return [v.swap for v in versions.list() if v.swap and v.swap.get("month") == month]


def r7_refusals(request: SwapRequest, assignments: tuple[Assignment, ...], config, unavailable: dict[str, frozenset[date]],
                prior: list[dict]) -> list[Refusal]:
    """Every R7 condition the request breaks (empty = R7 allows it)."""
    refusals: list[Refusal] = []
    agents = {a.agent_id for a in assignments}
    lines = {(a.agent_id, a.day): a for a in assignments}
    a, b = request.agent_a, request.agent_b
    if a == b or a not in agents or b not in agents:
        refusals.append(Refusal("R7_BOTH_AGREE", f"a swap needs two different rostered agents, got {a!r} and {b!r}"))
        return refusals
    managers = {u.username for u in config.users if u.role in MANAGER_ROLES}
    if request.approved_by not in managers:
        refusals.append(Refusal("R7_MANAGER_APPROVAL", f"{request.approved_by!r} is not a manager (roles {', '.join(MANAGER_ROLES)})"))
    for day in request.days:
        if (a, day) not in lines or (b, day) not in lines:
            refusals.append(Refusal("R7_NOT_IN_ROSTER", f"{day} is not in this roster"))
    if refusals:
        return refusals
    if all(lines[(a, d)].shift == lines[(b, d)].shift and lines[(a, d)].meal_start_min == lines[(b, d)].meal_start_min for d in request.days):
        refusals.append(Refusal("R7_NOTHING_TO_SWAP", "both agents have the same line on the swap day(s)"))
    holidays = {date.fromisoformat(h) for h in config.roster.holidays}
    for day in request.days:
        if day in holidays and (lines[(a, day)].works or lines[(b, day)].works):
            refusals.append(Refusal("R7_HOLIDAY_DUTY", f"{day} is a holiday: no swaps on holiday duty"))
        for giver, taker in ((a, b), (b, a)):
            if lines[(giver, day)].works and day in unavailable.get(taker, frozenset()):
                refusals.append(Refusal("R7_LEAVE", f"{taker} is on leave (unavailable) on {day} and cannot take {giver}'s {lines[(giver, day)].shift} shift"))
    if request.day2 is not None and abs((request.day2 - request.day).days) == 1:
        refusals.append(Refusal("R7_CONSECUTIVE_SWAPS", f"{request.day} and {request.day2} are consecutive days"))
    limit = config.roster.max_swaps_per_month
    for person in (a, b):
        mine = [s for s in prior if person in (s.get("a"), s.get("b"))]
        if len(mine) >= limit:
            refusals.append(Refusal("R7_MAX_SWAPS", f"{person} already has {len(mine)} swap(s) this month (at most {limit})"))
        earlier = {date.fromisoformat(d) for s in mine for d in s.get("days", [])}
        for day in request.days:
            if any(abs((day - e).days) == 1 for e in earlier):
                refusals.append(Refusal("R7_CONSECUTIVE_SWAPS", f"{person} already swapped on a day next to {day}"))
    return refusals


def apply_swap(roster_dir: str | Path, request: SwapRequest, config) -> SwapOutcome:
    """Check and apply a swap to the roster folder's current version; refusals leave everything untouched."""
    from optimizer.checker import check_files
    from optimizer.roster.io import read_agents

    versions = RosterVersions(roster_dir, tz=config.floor.tz)
    current = versions.current()
    if current is None:
        raise FileNotFoundError(f"{roster_dir}: no roster versions (run wfm roster --out {roster_dir} first)")
    shifts = shifts_from_config(config.roster, config.floor)
    assignments = read_roster_csv(versions.path(current.version), shifts)
    month = f"{min(a.day for a in assignments):%Y-%m}"
    agents_csv = versions.input_path("agents")
    demand_csv = versions.input_path("demand")
    previous_csv = versions.input_path("previous")
    unavailable = {a.agent_id: a.unavailable for a in read_agents(agents_csv, [s.name for s in shifts])} if agents_csv else {}
    refusals = r7_refusals(request, assignments, config, unavailable, _prior_swaps(versions, month))
    if refusals:
        return SwapOutcome(applied=False, refusals=tuple(refusals), version=None)
    new_lines = swapped(assignments, request)
    with tempfile.TemporaryDirectory(prefix="wfm-swap-") as tmp:
        candidate = write_roster_csv(new_lines, Path(tmp) / "roster.csv")
        before = check_files(versions.path(current.version), config, agents_csv, demand_csv, previous_csv)
        after = check_files(candidate, config, agents_csv, demand_csv, previous_csv)
        known = {(v.rule, v.agent, v.day) for v in before.violations}
        new = [v for v in after.violations if (v.rule, v.agent, v.day) not in known]
        if new:
            rule_names = {"R4_MIN_REST": "R7_BACK_TO_BACK"}
            return SwapOutcome(applied=False, version=None, refusals=tuple(
                Refusal(rule_names.get(v.rule, v.rule), f"checker: {v.agent or ''} {v.day or ''} {v.detail}".strip()) for v in new))
        swap = {"month": month, "a": request.agent_a, "b": request.agent_b, "days": [d.isoformat() for d in request.days],
                "approved_by": request.approved_by}
        info = versions.record_new(candidate, author=request.approved_by, status="published", based_on=current.version,
                                   note=f"swap {request.agent_a}↔{request.agent_b} on {', '.join(swap['days'])}", swap=swap)
    log.info("swap applied as version %d: %s", info.version, swap)
    return SwapOutcome(applied=True, refusals=(), version=info.version, changes=tuple(versions.diff(info.version)))
