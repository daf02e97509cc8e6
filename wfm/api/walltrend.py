"""The wall's queues page: today's service level per interval against the target, and required vs
staffed now. Pure: logged records and a demand table in, JSON-ready data out.

- interval service level = calls answered within service.service_level_answer_s / (answered +
  abandoned) of the calls that ended in each roster.interval_min interval of the floor-local day,
  with its sample size (a ratio of two calls is shown as such, not as a verdict);
- required now = the published roster's demand (agents required) for the interval holding now, the
  demand the roster was solved against; staffed now = agents on post (ready, ringing, on call, wrap-up).
"""
from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


def _ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


_CALL_FIELDS = ("type", "ts", "event", "wait_s", "talk_s")


def keep(body: dict[str, Any]) -> dict[str, Any] | None:
    """What the trend reads of a logged event (wfm/api/logwindow.py keeps only that): call events slimmed
    to their time, event, wait and talk seconds; None for every other event."""
    if body.get("type") != "call":
        return None
    return {key: body[key] for key in _CALL_FIELDS if key in body}


def interval_service_level(records: Iterable[Any], day_start: datetime, now: datetime, interval_min: int,
                           answer_s: float) -> list[dict[str, Any]]:
    """One row per interval from the day's start to now: start (HH:MM), answered, abandoned, in target, SL."""
    step = timedelta(minutes=interval_min)
    count = max(1, int((now - day_start) / step) + 1)
    rows: list[dict[str, Any]] = [
        {"start": (day_start + i * step).strftime("%H:%M"), "answered": 0, "abandoned": 0, "in_target": 0}
        for i in range(count)]
    for record in records:
        body = record.body if isinstance(record.body, dict) else {}
        if body.get("type") != "call" or body.get("event") not in ("answered", "abandoned"):
            continue
        try:
            at = _ts(body["ts"]).astimezone(day_start.tzinfo)
        except (KeyError, TypeError, ValueError):
            continue
        index = int((at - day_start) / step)
        if not 0 <= index < count:
            continue
        row = rows[index]
        if body["event"] == "abandoned":
            row["abandoned"] += 1
        else:
            row["answered"] += 1
            wait = body.get("wait_s")
            row["in_target"] += wait is not None and float(wait) <= answer_s
    for row in rows:
        n = row["answered"] + row["abandoned"]
        row["n"] = n
        row["service_level"] = round(row["in_target"] / n, 4) if n else None
    return rows


def required_now(demand_csv: Path | None, now_local: datetime, interval_min: int) -> int | None:
    """Agents required in the interval holding `now_local`, from a demand table (date,interval_start,required)."""
    if demand_csv is None or not demand_csv.is_file():
        return None
    minute = now_local.hour * 60 + now_local.minute
    start = minute - minute % interval_min
    key = (now_local.date().isoformat(), f"{start // 60:02d}:{start % 60:02d}")
    try:
        with demand_csv.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                if (row.get("date"), row.get("interval_start")) == key:
                    return int(float(row["required"]))
    except (OSError, ValueError, KeyError, csv.Error):
        return None
    return 0  # the published demand has no row for now: nobody is required


def published_demand(roster_dir: str | Path, month: str, tz) -> Path | None:
    """The demand.csv the month's published roster was solved against, if there is one."""
    from optimizer.roster.versions import RosterVersions

    folder = Path(roster_dir) / month
    if not folder.is_dir():
        return None
    versions = RosterVersions(folder, tz=tz)
    published = [v for v in versions.list() if v.status == "published"]
    return versions.input_path("demand", published[-1].version) if published else None


def recent_load(records: Iterable[Any], now: datetime, window: timedelta) -> tuple[int, float | None]:
    """(calls offered in the last `window`, mean talk seconds of today's completed calls or None)."""
    offered, talk, completed = 0, 0.0, 0
    for record in records:
        body = record.body if isinstance(record.body, dict) else {}
        if body.get("type") != "call":
            continue
        try:
            at = _ts(body["ts"])
        except (KeyError, TypeError, ValueError):
            continue
        if body.get("event") == "offered" and now - window <= at <= now:
            offered += 1
        elif body.get("event") == "completed" and body.get("talk_s") is not None:
            talk += float(body["talk_s"])
            completed += 1
    return offered, (talk / completed if completed else None)


def staffing_required(offered: int, interval_min: int, aht_s: float, config) -> int:
    """Agents on post the staffing model (Erlang C, the service target and occupancy cap) asks for
    the last interval's calls."""
    from optimizer.staffing import StaffingTarget, staff_interval

    target = StaffingTarget(service_level=config.service.service_level_target,
                            answer_s=config.service.service_level_answer_s,
                            max_occupancy=config.service.occupancy_cap)
    return int(staff_interval(float(offered), interval_min, aht_s, target).agents)
