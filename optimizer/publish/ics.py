"""One iCalendar file per agent (RFC 5545, written by hand): her shifts and meal slots, TZID of the floor."""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path

from optimizer.roster.problem import Assignment


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """RFC 5545 §3.1: lines longer than 75 octets are folded with CRLF + space (never inside a UTF-8 sequence)."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    current, size = "", 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > (75 if not parts else 74):
            parts.append(current)
            current, size = "", 0
        current += ch
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def _local(day: date, minute: int) -> str:
    when = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
    return when.strftime("%Y%m%dT%H%M%S")


def _utc_offset(moment: datetime) -> timedelta:
    delta = moment.utcoffset()
    if delta is None:  # only a naive datetime has none
        raise ValueError(f"{moment} has no time zone")
    return delta


def _vtimezone(tz_name: str, tz: tzinfo, year: int) -> list[str]:
    """A VTIMEZONE for zones without DST (offset taken from the zone); zones with DST get STANDARD and DAYLIGHT."""
    jan = _utc_offset(datetime(year, 1, 15, tzinfo=tz))
    jul = _utc_offset(datetime(year, 7, 15, tzinfo=tz))

    def offset(delta: timedelta) -> str:
        minutes = int(delta.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        minutes = abs(minutes)
        return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"

    lines = ["BEGIN:VTIMEZONE", f"TZID:{tz_name}"]
    if jan == jul:
        lines += ["BEGIN:STANDARD", "DTSTART:19700101T000000", f"TZOFFSETFROM:{offset(jan)}", f"TZOFFSETTO:{offset(jan)}",
                  f"TZNAME:{datetime(year, 1, 15, tzinfo=tz).tzname()}", "END:STANDARD"]
    else:
        # find this year's transitions hour by hour; precise enough for a calendar's VTIMEZONE
        marks = []
        t = datetime(year, 1, 1, tzinfo=timezone.utc)
        prev = _utc_offset(t.astimezone(tz))
        while t.year == year:
            t += timedelta(hours=1)
            cur = _utc_offset(t.astimezone(tz))
            if cur != prev:
                marks.append((t + prev, prev, cur))  # RFC 5545: local time of the change in the offset it leaves
                prev = cur
        for when, before, after in marks:
            kind = "DAYLIGHT" if after > before else "STANDARD"
            lines += [f"BEGIN:{kind}", f"DTSTART:{when:%Y%m%dT%H%M%S}", f"TZOFFSETFROM:{offset(before)}",
                      f"TZOFFSETTO:{offset(after)}", f"END:{kind}"]
    lines.append("END:VTIMEZONE")
    return lines


def agent_calendar(agent_id: str, name: str, items: Iterable[Assignment], tz_name: str, tz: tzinfo, stamp: datetime, version: str = "1",
                   meal_min: int = 30) -> str:
    """One VCALENDAR: a VEVENT per shift and per meal slot, local times with the floor's TZID."""
    worked = sorted((i for i in items if i.works), key=lambda i: i.day)
    year = worked[0].day.year if worked else stamp.year
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//wfm-floor//roster//EN", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{_escape(f'Roster 排班 {name or agent_id}')}", f"X-WR-TIMEZONE:{tz_name}"]
    lines += _vtimezone(tz_name, tz, year)
    dtstamp = stamp.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for item in worked:
        start, end = item.span
        uid = hashlib.sha1(f"{agent_id}|{item.day}|shift".encode()).hexdigest()[:20]
        lines += ["BEGIN:VEVENT", f"UID:{uid}@wfm-floor", f"DTSTAMP:{dtstamp}", f"SEQUENCE:{version}",
                  f"DTSTART;TZID={tz_name}:{_local(item.day, start)}",
                  f"DTEND;TZID={tz_name}:{_local(item.day, end)}",
                  f"SUMMARY:{_escape(f'Shift 班次 {item.shift}')}",
                  f"DESCRIPTION:{_escape(f'Agent {agent_id}; meal 用餐 ' + ((_local(item.day, item.meal_start_min)[9:13]) if item.meal_start_min is not None else '-'))}",
                  "TRANSP:OPAQUE", "END:VEVENT"]
        if item.meal_start_min is not None:
            uid = hashlib.sha1(f"{agent_id}|{item.day}|meal".encode()).hexdigest()[:20]
            lines += ["BEGIN:VEVENT", f"UID:{uid}@wfm-floor", f"DTSTAMP:{dtstamp}", f"SEQUENCE:{version}",
                      f"DTSTART;TZID={tz_name}:{_local(item.day, item.meal_start_min)}",
                      f"DTEND;TZID={tz_name}:{_local(item.day, item.meal_start_min + meal_min)}",
                      f"SUMMARY:{_escape('Meal 用餐')}", "TRANSP:TRANSPARENT", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


def safe_name(agent_id: str) -> str:
    """A file name for an agent id (ids come from agents.csv and may hold any character)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", agent_id).lstrip(".")
    return cleaned or hashlib.sha1(agent_id.encode()).hexdigest()[:12]


def write_calendars(assignments: Iterable[Assignment], names: dict[str, str], tz_name: str, tz: tzinfo, out_dir: str | Path,
                    stamp: datetime, version: str = "1", meal_min: int = 30) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_agent: dict[str, list[Assignment]] = defaultdict(list)
    for item in assignments:
        per_agent[item.agent_id].append(item)
    paths = []
    for agent_id, items in sorted(per_agent.items()):
        path = out / f"{safe_name(agent_id)}.ics"
        path.write_bytes(agent_calendar(agent_id, names.get(agent_id, ""), items, tz_name, tz, stamp, version, meal_min).encode("utf-8"))
        paths.append(path)
    return paths

