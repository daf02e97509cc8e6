"""Reader for the instances1_24 text format (schedulingbenchmarks.org, Curtois & Qu).

Sections: SECTION_HORIZON, SECTION_SHIFTS, SECTION_STAFF, SECTION_DAYS_OFF,
SECTION_SHIFT_ON_REQUESTS, SECTION_SHIFT_OFF_REQUESTS, SECTION_COVER. Lines
starting with '#' and blank lines are ignored. Every error raises
InstanceError naming the file, line and what is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["InstanceError", "Shift", "Staff", "Request", "Cover", "Instance", "parse_instance", "read_instance"]


class InstanceError(ValueError):
    """A malformed instance; the message is `file:line: reason`."""


@dataclass(frozen=True)
class Shift:
    id: str
    minutes: int
    cannot_follow: frozenset[str]  # shifts that may not be worked the day after this one


@dataclass(frozen=True)
class Staff:
    id: str
    max_shifts: dict[str, int]  # per shift type
    max_minutes: int
    min_minutes: int
    max_consecutive: int
    min_consecutive: int
    min_days_off: int
    max_weekends: int


@dataclass(frozen=True)
class Request:
    staff: str
    day: int
    shift: str
    weight: int


@dataclass(frozen=True)
class Cover:
    day: int
    shift: str
    requirement: int
    under_weight: int
    over_weight: int


@dataclass(frozen=True)
class Instance:
    name: str
    horizon: int
    shifts: tuple[Shift, ...]
    staff: tuple[Staff, ...]
    days_off: dict[str, frozenset[int]]
    on_requests: tuple[Request, ...]
    off_requests: tuple[Request, ...]
    cover: tuple[Cover, ...]

    @property
    def shift_ids(self) -> list[str]:
        return [s.id for s in self.shifts]

    def shift(self, shift_id: str) -> Shift:
        return next(s for s in self.shifts if s.id == shift_id)


_SECTIONS = (
    "SECTION_HORIZON", "SECTION_SHIFTS", "SECTION_STAFF", "SECTION_DAYS_OFF",
    "SECTION_SHIFT_ON_REQUESTS", "SECTION_SHIFT_OFF_REQUESTS", "SECTION_COVER",
)


@dataclass
class _Builder:
    source: str
    horizon: int | None = None
    shifts: list[Shift] = field(default_factory=list)
    staff: list[Staff] = field(default_factory=list)
    days_off: dict[str, set[int]] = field(default_factory=dict)
    on: list[Request] = field(default_factory=list)
    off: list[Request] = field(default_factory=list)
    cover: list[Cover] = field(default_factory=list)
    pending_follow: list[tuple[int, str, str]] = field(default_factory=list)


def _int(text: str, what: str, where: str, minimum: int = 0) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise InstanceError(f"{where}: {what} must be an integer, got {text.strip()!r}") from None
    if value < minimum:
        raise InstanceError(f"{where}: {what} must be >= {minimum}, got {value}")
    return value


def _fields(line: str, count: int | None, where: str, section: str) -> list[str]:
    parts = [p.strip() for p in line.split(",")]
    if count is not None and len(parts) != count:
        raise InstanceError(f"{where}: {section} expects {count} comma-separated fields, got {len(parts)}")
    return parts


def parse_instance(text: str, source: str = "<instance>", name: str | None = None) -> Instance:
    """Parse instance text; `source` names the file in errors."""
    b = _Builder(source=source)
    section: str | None = None
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{source}:{number}"
        if not line or line.startswith("#"):
            continue
        if line.startswith("SECTION_"):
            if line not in _SECTIONS:
                raise InstanceError(f"{where}: unknown section {line!r}")
            if line in seen:
                raise InstanceError(f"{where}: section {line} appears twice")
            section = line
            seen.add(line)
            continue
        if section is None:
            raise InstanceError(f"{where}: data before the first SECTION_ header")
        _line(b, section, line, where)
    for required in ("SECTION_HORIZON", "SECTION_SHIFTS", "SECTION_STAFF", "SECTION_COVER"):
        if required not in seen:
            raise InstanceError(f"{source}: missing {required}")
    if b.horizon is None:  # the header came, its number did not
        raise InstanceError(f"{source}: SECTION_HORIZON gives no horizon (one line: the number of days)")
    ids = {s.id for s in b.shifts}
    for number, shift_id, follower in b.pending_follow:
        if follower not in ids:
            raise InstanceError(f"{source}:{number}: shift {shift_id} lists unknown follower {follower!r}")
    for staff_id in b.days_off:
        if staff_id not in {s.id for s in b.staff}:
            raise InstanceError(f"{source}: SECTION_DAYS_OFF names unknown employee {staff_id!r}")
    return Instance(
        name=name or Path(source).stem,
        horizon=b.horizon,
        shifts=tuple(b.shifts),
        staff=tuple(b.staff),
        days_off={k: frozenset(v) for k, v in b.days_off.items()},
        on_requests=tuple(b.on),
        off_requests=tuple(b.off),
        cover=tuple(b.cover),
    )


def _day(horizon: int, text: str, where: str) -> int:
    day = _int(text, "day index", where)
    if day >= horizon:
        raise InstanceError(f"{where}: day index {day} is outside the horizon of {horizon} days")
    return day


def _known_staff(b: _Builder, staff_id: str, where: str) -> None:
    if staff_id not in {s.id for s in b.staff}:
        raise InstanceError(f"{where}: unknown employee {staff_id!r}")


def _known_shift(b: _Builder, shift_id: str, where: str) -> None:
    if shift_id not in {s.id for s in b.shifts}:
        raise InstanceError(f"{where}: unknown shift {shift_id!r}")


def _line(b: _Builder, section: str, line: str, where: str) -> None:
    if section == "SECTION_HORIZON":
        if b.horizon is not None:
            raise InstanceError(f"{where}: the horizon is given twice")
        b.horizon = _int(line, "horizon", where, minimum=1)
        return
    if b.horizon is None:
        raise InstanceError(f"{where}: {section} before SECTION_HORIZON")
    if section == "SECTION_SHIFTS":
        shift_id, minutes, follow = _fields(line, 3, where, section)
        if not shift_id:
            raise InstanceError(f"{where}: empty shift ID")
        if shift_id in {s.id for s in b.shifts}:
            raise InstanceError(f"{where}: shift {shift_id} defined twice")
        followers = frozenset(f.strip() for f in follow.split("|") if f.strip())
        for follower in followers:
            b.pending_follow.append((int(where.rsplit(":", 1)[1]), shift_id, follower))
        b.shifts.append(Shift(id=shift_id, minutes=_int(minutes, "shift length", where, minimum=1), cannot_follow=followers))
    elif section == "SECTION_STAFF":
        parts = _fields(line, 8, where, section)
        staff_id = parts[0]
        if not staff_id:
            raise InstanceError(f"{where}: empty employee ID")
        if staff_id in {s.id for s in b.staff}:
            raise InstanceError(f"{where}: employee {staff_id} defined twice")
        max_shifts: dict[str, int] = {}
        for item in parts[1].split("|"):
            if "=" not in item:
                raise InstanceError(f"{where}: MaxShifts item {item!r} is not SHIFT=N")
            shift_id, limit = item.split("=", 1)
            _known_shift(b, shift_id.strip(), where)
            max_shifts[shift_id.strip()] = _int(limit, f"MaxShifts for {shift_id.strip()}", where)
        values = [_int(v, label, where) for v, label in zip(parts[2:], (
            "MaxTotalMinutes", "MinTotalMinutes", "MaxConsecutiveShifts", "MinConsecutiveShifts", "MinConsecutiveDaysOff", "MaxWeekends"))]
        b.staff.append(Staff(staff_id, max_shifts, *values))
    elif section == "SECTION_DAYS_OFF":
        parts = _fields(line, None, where, section)
        _known_staff(b, parts[0], where)
        b.days_off.setdefault(parts[0], set()).update(_day(b.horizon, p, where) for p in parts[1:] if p)
    elif section in ("SECTION_SHIFT_ON_REQUESTS", "SECTION_SHIFT_OFF_REQUESTS"):
        staff_id, day, shift_id, weight = _fields(line, 4, where, section)
        _known_staff(b, staff_id, where)
        _known_shift(b, shift_id, where)
        request = Request(staff_id, _day(b.horizon, day, where), shift_id, _int(weight, "weight", where))
        (b.on if section == "SECTION_SHIFT_ON_REQUESTS" else b.off).append(request)
    elif section == "SECTION_COVER":
        day, shift_id, requirement, under, over = _fields(line, 5, where, section)
        _known_shift(b, shift_id, where)
        b.cover.append(Cover(_day(b.horizon, day, where), shift_id, _int(requirement, "requirement", where),
                             _int(under, "weight for under", where), _int(over, "weight for over", where)))


def read_instance(path: str | Path) -> Instance:
    """Read and parse an instance file; InstanceError on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InstanceError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InstanceError(f"{path}: not UTF-8 text") from None
    return parse_instance(text, source=str(path), name=path.stem)
