"""The checker's own CSV reading (shares no code with optimizer/roster on purpose)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

HEADER = ["agent_id", "date", "shift", "start", "end", "meal_start"]
REST = "OFF"


class CheckInputError(ValueError):
    """Unreadable checker input; the message names file, line and field."""


@dataclass(frozen=True, slots=True)
class RosterLine:
    line: int
    agent: str
    day: date
    shift: str
    start: datetime | None
    end: datetime | None
    meal: datetime | None
    start_text: str
    end_text: str

    @property
    def span(self) -> tuple[datetime, datetime]:
        """(start, end) of a worked line; an OFF line has neither."""
        if self.start is None or self.end is None:
            raise ValueError(f"line {self.line}: {self.agent} {self.day} {self.shift} has no start and end")
        return self.start, self.end


@dataclass(frozen=True, slots=True)
class AgentLine:
    line: int
    agent: str
    unavailable: frozenset[date]
    rest_requests: frozenset[date]


@dataclass(frozen=True, slots=True)
class DemandLine:
    line: int
    day: date
    start: datetime
    required: int


def _open(path: str | Path) -> tuple[str, list[list[str]]]:
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CheckInputError(f"{name}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CheckInputError(f"{name}: not UTF-8 text") from None
    return name, list(csv.reader(text.splitlines()))


def _day(name: str, line: int, field: str, text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise CheckInputError(f"{name}:{line}: field '{field}': {text!r} is not YYYY-MM-DD") from None


def _clock(name: str, line: int, field: str, text: str) -> time:
    try:
        return datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise CheckInputError(f"{name}:{line}: field '{field}': {text!r} is not HH:MM") from None


def read_roster(path: str | Path, tz: tzinfo, known_shifts: set[str]) -> list[RosterLine]:
    """roster.csv (docs/interfaces.md §4); times become tz-aware datetimes, an earlier end means the next day."""
    name, rows = _open(path)
    if not rows or [c.strip() for c in rows[0]] != HEADER:
        raise CheckInputError(f"{name}:1: header must be exactly {','.join(HEADER)}")
    out: list[RosterLine] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(HEADER):
            raise CheckInputError(f"{name}:{number}: {len(row)} fields, expected {len(HEADER)}")
        agent, day_text, shift, start_text, end_text, meal_text = (c.strip() for c in row)
        if not agent:
            raise CheckInputError(f"{name}:{number}: field 'agent_id' is empty")
        day = _day(name, number, "date", day_text)
        if shift == REST:
            if start_text or end_text or meal_text:
                raise CheckInputError(f"{name}:{number}: an OFF day has no start, end or meal_start")
            out.append(RosterLine(number, agent, day, shift, None, None, None, "", ""))
            continue
        if shift not in known_shifts:
            raise CheckInputError(f"{name}:{number}: field 'shift': unknown shift template {shift!r}")
        begin = datetime.combine(day, _clock(name, number, "start", start_text), tzinfo=tz)
        finish_clock = _clock(name, number, "end", end_text)
        finish = datetime.combine(day if finish_clock > begin.time() else day + timedelta(days=1), finish_clock, tzinfo=tz)
        meal = None
        if meal_text:
            meal_clock = _clock(name, number, "meal_start", meal_text)
            meal = datetime.combine(day if meal_clock >= begin.time() else day + timedelta(days=1), meal_clock, tzinfo=tz)
        out.append(RosterLine(number, agent, day, shift, begin, finish, meal, start_text, end_text))
    return out


def read_agents(path: str | Path) -> list[AgentLine]:
    name, rows = _open(path)
    if not rows or [c.strip() for c in rows[0][:2]] != ["agent_id", "name"]:
        raise CheckInputError(f"{name}:1: header must start with agent_id,name")
    header = [c.strip() for c in rows[0]]
    out: list[AgentLine] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cells = dict(zip(header, (c.strip() for c in row)))
        agent = cells.get("agent_id", "")
        if not agent or agent in seen:
            raise CheckInputError(f"{name}:{number}: field 'agent_id': empty or duplicate {agent!r}")
        seen.add(agent)

        def dates(field: str, number: int = number, cells: dict = cells) -> frozenset[date]:
            return frozenset(_day(name, number, field, p.strip()) for p in cells.get(field, "").split(";") if p.strip())

        out.append(AgentLine(number, agent, dates("unavailable"), dates("rest_requests")))
    return out


def read_demand(path: str | Path, tz: tzinfo) -> list[DemandLine]:
    name, rows = _open(path)
    if not rows:
        raise CheckInputError(f"{name}:1: empty file")
    header = [c.strip() for c in rows[0]]
    try:
        i_day, i_start, i_req = header.index("date"), header.index("interval_start"), header.index("required")
    except ValueError:
        raise CheckInputError(f"{name}:1: header must hold date,interval_start,required") from None
    out: list[DemandLine] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            day_text, start_text, req_text = row[i_day].strip(), row[i_start].strip(), row[i_req].strip()
        except IndexError:
            raise CheckInputError(f"{name}:{number}: too few fields") from None
        day = _day(name, number, "date", day_text)
        start = datetime.combine(day, _clock(name, number, "interval_start", start_text), tzinfo=tz)
        try:
            value = float(req_text)
            if not value.is_integer():
                raise ValueError
            required = int(value)
        except (ValueError, OverflowError):
            raise CheckInputError(f"{name}:{number}: field 'required': {req_text!r} is not a whole number") from None
        out.append(DemandLine(number, day, start, required))
    return out
