"""An agent's own month of the published roster, and its calendar (ICS), for the agent page.

Reads the month's roster folder (dashboard.roster_dir/<YYYY-MM>, kept by
optimizer.roster.versions): the newest *published* version only — a draft or
an approved-but-unpublished roster is not the agent's schedule. Blocking file
reads: the routes run these in a worker thread.
"""
from __future__ import annotations

import csv
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class NoRoster(LookupError):
    """No published roster for the month (or no such month folder)."""


def _published(roster_dir: Path, month: str, tz):
    from optimizer.roster.versions import RosterVersions

    if not MONTH_RE.match(month):
        raise ValueError(f"month {month!r}: expected YYYY-MM")
    folder = roster_dir / month
    if not folder.is_dir():
        raise NoRoster(f"no roster for {month}")
    versions = RosterVersions(folder, tz=tz)
    published = [v for v in versions.list() if v.status == "published"]
    if not published:
        raise NoRoster(f"no published roster for {month}")
    return versions, published[-1]


def agent_month(roster_dir: str | Path, month: str, agent: str, tz) -> dict[str, Any]:
    """{"month", "version", "published_at", "days": [{date, shift, start, end, meal_start}]} for `agent`."""
    versions, info = _published(Path(roster_dir), month, tz)
    with versions.path(info.version).open(encoding="utf-8-sig", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("agent_id") == agent]
    days = [{"date": row.get("date", ""), "shift": row.get("shift", ""), "start": row.get("start", ""),
             "end": row.get("end", ""), "meal_start": row.get("meal_start", "")} for row in rows]
    days.sort(key=lambda d: d["date"])
    return {"month": month, "version": info.version, "published_at": info.published_at, "days": days}


def agent_calendar_ics(roster_dir: str | Path, month: str, agent: str, name: str, config) -> bytes:
    """The agent's published month as an iCalendar file (the same calendar the roster publishes)."""
    from optimizer.publish.ics import agent_calendar
    from optimizer.roster.io import read_roster_csv, shifts_from_config

    tz = config.floor.tz
    versions, info = _published(Path(roster_dir), month, tz)
    items = [a for a in read_roster_csv(versions.path(info.version), shifts_from_config(config.roster, config.floor)) if a.agent_id == agent]
    stamp = datetime.now(timezone.utc)
    text = agent_calendar(agent, name, items, str(tz), tz, stamp, str(info.version), config.floor.meal_slot_min)
    return text.encode("utf-8")
