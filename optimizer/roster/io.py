"""Roster files: agents.csv, demand.csv and last month's roster.csv in, roster.csv out (docs/interfaces.md §4).

Every bad value raises RosterInputError naming the file, the line and the
field; nothing is guessed. `load_problem` turns the files and the config into
a RosterProblem.
"""
from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from optimizer.roster.problem import (
    Assignment,
    DAY_MIN,
    OFF,
    Agent,
    DemandSlot,
    FairnessLedger,
    PastShift,
    RosterProblem,
    Rules,
    Shift,
    Weights,
    hhmm_to_min,
    min_to_hhmm,
)

log = logging.getLogger(__name__)


_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _one_line(text: str) -> str:
    """Escape control and line-separator characters echoed from the input, so an error stays one line."""
    return _LINE_BREAKING.sub(lambda m: repr(m.group())[1:-1], text)


class RosterInputError(ValueError):
    """Bad roster input; the message names file, line and field in one line."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(_one_line(f"{where}: {message}"))
        self.source = source
        self.line = line


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    values: dict[str, str]


def _read_rows(path: str | Path, required: tuple[str, ...], *, prefix: bool = False) -> tuple[str, list[_Row]]:
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RosterInputError(source, None, f"cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterInputError(source, None, f"not UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise RosterInputError(source, 1, "empty file, expected header " + ",".join(required)) from None
    header = [h.strip() for h in header]
    if prefix:
        if tuple(header[: len(required)]) != required:
            raise RosterInputError(source, 1, f"header must start with {','.join(required)}, got {','.join(header)}")
    else:
        missing = [name for name in required if name not in header]
        if missing:
            raise RosterInputError(source, 1, f"header lacks column(s) {','.join(missing)}")
    if len(set(header)) != len(header):
        raise RosterInputError(source, 1, "duplicate column name in header")
    rows: list[_Row] = []
    for record in reader:
        line = reader.line_num
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) > len(header):
            raise RosterInputError(source, line, f"{len(record)} fields, header has {len(header)}")
        values = {name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header)}
        rows.append(_Row(line, values))
    return source, rows


def _parse_date(source: str, line: int, column: str, text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise RosterInputError(source, line, f"field '{column}': {text!r} is not a YYYY-MM-DD date") from None


def _parse_hhmm(source: str, line: int, column: str, text: str) -> int:
    try:
        if len(text) != 5 or text[2] != ":":
            raise ValueError
        return hhmm_to_min(text)
    except ValueError:
        raise RosterInputError(source, line, f"field '{column}': {text!r} is not an HH:MM time") from None


def _date_list(source: str, line: int, column: str, text: str) -> frozenset[date]:
    return frozenset(_parse_date(source, line, column, part.strip()) for part in text.split(";") if part.strip())


def read_agents(path: str | Path, shift_names: Iterable[str]) -> tuple[Agent, ...]:
    """agents.csv: header starts `agent_id,name`; optional unavailable, rest_requests, preferred_shift."""
    source, rows = _read_rows(path, ("agent_id", "name"), prefix=True)
    names = set(shift_names)
    seen: dict[str, int] = {}
    agents: list[Agent] = []
    for row in rows:
        agent_id = row.values["agent_id"]
        if not agent_id:
            raise RosterInputError(source, row.line, "field 'agent_id' is empty")
        if agent_id in seen:
            raise RosterInputError(source, row.line, f"field 'agent_id': duplicate agent id {agent_id!r} (first on line {seen[agent_id]})")
        seen[agent_id] = row.line
        preferred = row.values.get("preferred_shift", "") or None
        if preferred is not None and preferred not in names:
            raise RosterInputError(
                source, row.line, f"field 'preferred_shift': unknown shift template {preferred!r} (known: {', '.join(sorted(names))})"
            )
        agents.append(
            Agent(
                agent_id=agent_id,
                name=row.values["name"],
                unavailable=_date_list(source, row.line, "unavailable", row.values.get("unavailable", "")),
                rest_requests=_date_list(source, row.line, "rest_requests", row.values.get("rest_requests", "")),
                preferred_shift=preferred,
                line=row.line,
            )
        )
    if not agents:
        raise RosterInputError(source, None, "no agents")
    return tuple(agents)


def covered_starts(shifts: Iterable[Shift], interval_min: int) -> set[int]:
    """Interval starts (minutes after midnight) that some template can cover whole, on its own day or the next."""
    starts: set[int] = set()
    for shift in shifts:
        first = -(-shift.start_min // interval_min) * interval_min
        for begin in range(first, shift.end_min - interval_min + 1, interval_min):
            starts.add(begin % DAY_MIN)
    return starts


def read_demand(path: str | Path, year: int, month: int, shifts: Iterable[Shift], interval_min: int) -> tuple[DemandSlot, ...]:
    """demand.csv `date,interval_start,required` for the month.

    Demand that no shift template can cover (outside opening hours) is kept: no
    roster can meet it, so it counts as unmet (docs/interfaces.md §4: exit 1), exactly
    as `wfm check-roster` counts it; a warning names how much there is.
    """
    source, rows = _read_rows(path, ("date", "interval_start", "required"))
    open_starts = covered_starts(shifts, interval_min)
    seen: dict[tuple[date, int], int] = {}
    slots: list[DemandSlot] = []
    uncoverable: list[str] = []
    for row in rows:
        day = _parse_date(source, row.line, "date", row.values["date"])
        if (day.year, day.month) != (year, month):
            raise RosterInputError(source, row.line, f"field 'date': {day} is outside the month {year:04d}-{month:02d}")
        start = _parse_hhmm(source, row.line, "interval_start", row.values["interval_start"])
        if start % interval_min:
            raise RosterInputError(
                source, row.line, f"field 'interval_start': {row.values['interval_start']} is not on the {interval_min}-min interval grid"
            )
        text = row.values["required"]
        try:
            number = float(text)
            if number != int(number):
                raise ValueError
            required = int(number)  # "12" or "12.0" (spreadsheets) — but never a fraction of an agent
        except (ValueError, OverflowError):
            raise RosterInputError(source, row.line, f"field 'required': {text!r} is not a whole number") from None
        if required < 0:
            raise RosterInputError(source, row.line, f"field 'required': {required} is negative")
        if (day, start) in seen:
            raise RosterInputError(source, row.line, f"duplicate interval {day} {row.values['interval_start']} (first on line {seen[(day, start)]})")
        seen[(day, start)] = row.line
        if required > 0 and start not in open_starts:
            uncoverable.append(f"{source}:{row.line}")
        slots.append(DemandSlot(day=day, start_min=start, required=required, line=row.line))
    if uncoverable:
        log.warning("%d demand row(s) outside opening hours (no shift template covers them; counted as unmet), "
                    "first at %s", len(uncoverable), uncoverable[0])
    return tuple(slots)


ROSTER_HEADER = ("agent_id", "date", "shift", "start", "end", "meal_start")


def read_previous(path: str | Path, shifts: Iterable[Shift]) -> tuple[PastShift, ...]:
    """Last month's roster.csv (same format as ours) as worked shifts; OFF rows are dropped."""
    source, rows = _read_rows(path, ROSTER_HEADER)
    known = {s.name for s in shifts}
    past: list[PastShift] = []
    for row in rows:
        values = row.values
        agent_id = values["agent_id"]
        if not agent_id:
            raise RosterInputError(source, row.line, "field 'agent_id' is empty")
        day = _parse_date(source, row.line, "date", values["date"])
        name = values["shift"]
        if name == OFF:
            continue
        if not name:
            raise RosterInputError(source, row.line, "field 'shift' is empty (use OFF for a rest day)")
        if name not in known:
            log.info("%s:%d: shift %r is not a current template; its times are used as written", source, row.line, name)
        start = _parse_hhmm(source, row.line, "start", values["start"])
        end = _parse_hhmm(source, row.line, "end", values["end"])
        length = end - start if end > start else end - start + DAY_MIN
        meal = None
        if values["meal_start"]:
            meal = _parse_hhmm(source, row.line, "meal_start", values["meal_start"])
            if meal < start:
                meal += DAY_MIN
        past.append(PastShift(agent_id=agent_id, day=day, shift=name, start_min=start, length_min=length, meal_start_min=meal))
    return tuple(past)


def shifts_from_config(roster_config, floor_config) -> tuple[Shift, ...]:
    """Shift templates (R1) with their allowed meal starts (R8) on the meal grid."""
    evening_from = hhmm_to_min(roster_config.evening_from)
    meal_len = floor_config.meal_slot_min
    margin = roster_config.meal_margin_min
    grid = roster_config.meal_grid_min
    shifts = []
    for template in roster_config.shifts:
        start = hhmm_to_min(template.start)
        length = template.length_min
        first = -(-(start + margin) // grid) * grid
        last = start + length - margin - meal_len
        offsets = tuple(m - start for m in range(first, last + 1, grid))
        shifts.append(Shift(name=template.name, start_min=start, length_min=length, evening=start >= evening_from, meal_offsets=offsets))
    return tuple(shifts)


def rules_from_config(config) -> Rules:
    r = config.roster
    w = r.weights
    return Rules(
        max_consecutive_days=r.max_consecutive_days,
        rest_days_per_month=r.rest_days_per_month,
        min_rest_between_shifts_min=round(r.min_rest_between_shifts_h * 60),
        meal_len_min=config.floor.meal_slot_min,
        meal_margin_min=r.meal_margin_min,
        meal_grid_min=r.meal_grid_min,
        interval_min=r.interval_min,
        lunch_cover_min_agents=config.floor.lunch_cover_min_agents,
        holidays=frozenset(date.fromisoformat(h) for h in r.holidays),
        weights=Weights(
            under_cover=w.under_cover, over_cover=w.over_cover, rest_request=w.rest_request,
            preferred_shift=w.preferred_shift, fair_evenings=w.fair_evenings, fair_weekends=w.fair_weekends,
            fair_holidays=w.fair_holidays, fair_workdays=w.fair_workdays, stability=w.stability,
        ),
    )


def parse_month(text: str) -> tuple[int, int]:
    try:
        if len(text) != 7 or text[4] != "-":
            raise ValueError
        year, month = int(text[:4]), int(text[5:])
        date(year, month, 1)
    except ValueError:
        raise RosterInputError("--month", None, f"{text!r} is not YYYY-MM") from None
    return year, month


def ledger_from_previous(previous: tuple[PastShift, ...], shifts: tuple[Shift, ...], holidays: frozenset[date], evening_from_min: int) -> FairnessLedger:
    """Fairness carried from last month: evenings, weekend days and holidays each agent worked."""
    evenings: dict[str, int] = {}
    weekends: dict[str, int] = {}
    hols: dict[str, int] = {}
    for past in previous:
        if past.start_min >= evening_from_min:
            evenings[past.agent_id] = evenings.get(past.agent_id, 0) + 1
        if past.day.weekday() >= 5:
            weekends[past.agent_id] = weekends.get(past.agent_id, 0) + 1
        if past.day in holidays:
            hols[past.agent_id] = hols.get(past.agent_id, 0) + 1
    return FairnessLedger(evenings=evenings, weekends=weekends, holidays=hols)


def load_problem(config, month: str, agents_csv: str | Path, demand_csv: str | Path | None = None,
                 previous_csv: str | Path | None = None, demand_slots: tuple[DemandSlot, ...] | None = None,
                 ledger_json: str | Path | None = None) -> RosterProblem:
    """Read and validate all inputs into a RosterProblem (raises RosterInputError).

    Fairness carry-over comes from `ledger_json` when given, else from the previous roster.
    """
    year, mon = parse_month(month)
    shifts = shifts_from_config(config.roster, config.floor)
    rules = rules_from_config(config)
    agents = read_agents(agents_csv, [s.name for s in shifts])
    if demand_slots is None:
        if demand_csv is None:
            raise RosterInputError("demand", None, "no demand given (--demand or --forecast)")
        demand_slots = read_demand(demand_csv, year, mon, shifts, rules.interval_min)
    previous: tuple[PastShift, ...] = ()
    ledger = FairnessLedger()
    if previous_csv is not None:
        previous = read_previous(previous_csv, shifts)
        first = date(year, mon, 1)
        known = {a.agent_id for a in agents}
        previous = tuple(p for p in previous if p.day < first and p.agent_id in known)
        ledger = ledger_from_previous(previous, shifts, rules.holidays, hhmm_to_min(config.roster.evening_from))
    if ledger_json is not None:
        ledger = read_ledger(ledger_json)
    return RosterProblem(
        year=year, month=mon, tz=config.floor.tz, agents=agents, shifts=shifts, demand=demand_slots,
        rules=rules, previous=previous, ledger=ledger,
    )


def read_roster_csv(path: str | Path, shifts: Iterable[Shift]) -> tuple[Assignment, ...]:
    """A roster.csv of ours (all lines, OFF included) back into assignments, e.g. to swap or republish."""
    source, rows = _read_rows(path, ROSTER_HEADER)
    known = {s.name for s in shifts}
    out: list[Assignment] = []
    for row in rows:
        values = row.values
        day = _parse_date(source, row.line, "date", values["date"])
        name = values["shift"]
        if name == OFF:
            out.append(Assignment(agent_id=values["agent_id"], day=day, shift=OFF))
            continue
        if name not in known:
            raise RosterInputError(source, row.line, f"field 'shift': unknown shift template {name!r}")
        start = _parse_hhmm(source, row.line, "start", values["start"])
        end = _parse_hhmm(source, row.line, "end", values["end"])
        if end <= start:
            end += DAY_MIN
        meal = None
        if values["meal_start"]:
            meal = _parse_hhmm(source, row.line, "meal_start", values["meal_start"])
            if meal < start:
                meal += DAY_MIN
        out.append(Assignment(agent_id=values["agent_id"], day=day, shift=name, start_min=start, end_min=end, meal_start_min=meal))
    return tuple(out)


def roster_rows(assignments: Iterable[Assignment]) -> list[tuple[str, ...]]:
    """roster.csv's rows (all lines, OFF included), by agent then day."""
    rows: list[tuple[str, ...]] = []
    for a in sorted(assignments, key=lambda a: (a.agent_id, a.day)):
        if a.works:
            start, end = a.span
            rows.append((a.agent_id, a.day.isoformat(), a.shift, min_to_hhmm(start), min_to_hhmm(end),
                         min_to_hhmm(a.meal_start_min) if a.meal_start_min is not None else ""))
        else:
            rows.append((a.agent_id, a.day.isoformat(), a.shift, "", "", ""))
    return rows


def write_roster_csv(assignments: Iterable[Assignment], path: str | Path) -> Path:
    """roster.csv exactly as docs/interfaces.md §4: `agent_id,date,shift,start,end,meal_start`."""
    path = Path(path)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(ROSTER_HEADER)
        writer.writerows(roster_rows(assignments))
    tmp.replace(path)  # readers never see a half-written roster
    return path


def read_ledger(path: str | Path) -> FairnessLedger:
    """ledger.json written by a previous publish: cumulative evenings/weekends/holidays per agent (R5 carry-over)."""
    import json

    source = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RosterInputError(source, None, f"cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise RosterInputError(source, exc.lineno, f"not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise RosterInputError(source, None, "expected an object with evenings, weekends, holidays")
    parts = {}
    for key in ("evenings", "weekends", "holidays"):
        table = data.get(key, {})
        if not isinstance(table, dict) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in table.values()):
            raise RosterInputError(source, None, f"key '{key}': expected {{agent_id: whole number >= 0}}")
        parts[key] = {str(k): int(v) for k, v in table.items()}
    return FairnessLedger(**parts)
