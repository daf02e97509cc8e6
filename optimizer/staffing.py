"""Agents needed per interval: the fewest on post meeting service level, ASA and occupancy.

Vectorised over any array of intervals (x queues): a bisection on the agent
count runs for all cells at once, each step one call into `optimizer.erlang`.
Service level and ASA improve and occupancy falls as agents are added, so
the smallest feasible count is well defined. Shrinkage turns agents on post
into heads scheduled: ceil(agents / (1 - shrinkage)).

Also reads and writes the interval CSV of `wfm staffing --from/--out` row by
row (`read_interval_csv`, the reference validator); `solve_columns` staffs
whole columns and, for Erlang C, walks the Erlang B recursion with numpy alone
(`optimizer.erlang_scan`): the same counts, no scipy import on that path.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from collections.abc import Iterable

import numpy as np

Model = Literal["erlang-c", "erlang-a"]

__all__ = [
    "StaffingInputError",
    "StaffingTarget",
    "StaffingResult",
    "IntervalLoad",
    "solve_agents",
    "staff_interval",
    "read_interval_csv",
    "write_results_csv",
    "RESULT_FIELDS",
    "solve_columns",
    "SCAN_MAX_LOAD",
]

SCAN_MAX_LOAD = 1000.0  # Erlangs: above this the Erlang B walk is long and the bisection (scipy) is quicker
RESULT_FIELDS = ("agents", "scheduled", "service_level", "occupancy", "p_wait", "asa_s", "p_abandon")


class StaffingInputError(ValueError):
    """Bad staffing input; the message names the file, line and field when known."""


@dataclass(frozen=True)
class StaffingTarget:
    """What an interval must achieve, and how to turn agents on post into heads."""

    service_level: float
    answer_s: float
    max_occupancy: float = 1.0
    shrinkage: float = 0.0
    model: Model = "erlang-c"
    patience_s: float | None = None
    max_asa_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.service_level < 1:
            raise StaffingInputError(f"target service level must be in (0, 1), got {self.service_level}")
        if self.answer_s < 0:
            raise StaffingInputError(f"answer time must be >= 0 s, got {self.answer_s}")
        if not 0 < self.max_occupancy <= 1:
            raise StaffingInputError(f"max occupancy must be in (0, 1], got {self.max_occupancy}")
        if not 0 <= self.shrinkage < 1:
            raise StaffingInputError(f"shrinkage must be in [0, 1), got {self.shrinkage}")
        if self.model not in ("erlang-c", "erlang-a"):
            raise StaffingInputError(f"unknown model {self.model!r} (erlang-c or erlang-a)")
        if self.model == "erlang-a" and (self.patience_s is None or self.patience_s <= 0):
            raise StaffingInputError("erlang-a needs a mean patience > 0 s")
        if self.max_asa_s is not None and self.max_asa_s <= 0:
            raise StaffingInputError(f"ASA target must be > 0 s, got {self.max_asa_s}")

    @classmethod
    def from_config(cls, config, **overrides) -> StaffingTarget:
        """Targets from the config's [service] table; keyword overrides win when not None."""
        service = config.service
        values = dict(
            service_level=service.service_level_target,
            answer_s=service.service_level_answer_s,
            max_occupancy=service.occupancy_cap,
            shrinkage=service.shrinkage,
            model="erlang-c",
            patience_s=service.patience_s,
            max_asa_s=None,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class StaffingResult:
    """One interval's staffing (docs/interfaces.md section 6 keys)."""

    agents: int
    scheduled: int
    service_level: float
    occupancy: float
    p_wait: float
    asa_s: float
    p_abandon: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IntervalLoad:
    """One row of an interval CSV: calls offered in the interval starting at `start`."""

    day: date
    interval_start: time
    calls: float
    aht_s: float
    line: int
    queue: str | None = None


def _performance(agents, calls, interval_s, aht_s, target: StaffingTarget):
    from optimizer import erlang  # scipy: imported only when a bisection or a measure needs it

    if target.model == "erlang-a":
        return erlang.erlang_a_performance(agents, calls, interval_s, aht_s, target.answer_s, target.patience_s)
    return erlang.erlang_c_performance(agents, calls, interval_s, aht_s, target.answer_s)


def _meets(agents, calls, interval_s, aht_s, target: StaffingTarget) -> np.ndarray:
    perf = _performance(agents, calls, interval_s, aht_s, target)
    ok = (perf.service_level >= target.service_level - 1e-12) & (perf.occupancy <= target.max_occupancy + 1e-12)
    if target.max_asa_s is not None:
        ok &= perf.asa_s <= target.max_asa_s + 1e-12
    return ok


def solve_agents(calls, interval_s, aht_s, target: StaffingTarget) -> np.ndarray:
    """Fewest agents on post per cell meeting every target (0 where no calls arrive)."""
    calls, interval_s, aht_s = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (calls, interval_s, aht_s)))
    if np.any(calls < 0) or np.any(interval_s <= 0) or np.any(aht_s <= 0):
        raise StaffingInputError("calls must be >= 0, interval and AHT > 0")
    load = calls * aht_s / interval_s
    busy = load > 0
    lo = np.zeros(load.shape)  # always fails where busy (no one to answer)
    if target.model == "erlang-c":
        # known-failing start: N <= A is unstable; N < A / cap breaks the cap (1e-9: 96.9 / 0.85 is 114.00000000000001)
        lo = np.where(busy, np.maximum(np.floor(load), np.ceil(load / target.max_occupancy - 1e-9) - 1), 0.0)
    hi = np.where(busy, np.maximum(lo + 1, np.ceil(load + 3 * np.sqrt(load) + 3)), 0.0)
    while True:
        bad = busy & ~_meets(hi, calls, interval_s, aht_s, target)
        if not bad.any():
            break
        lo = np.where(bad, hi, lo)
        hi = np.where(bad, hi * 2, hi)
    open_ = busy & (hi - lo > 1)
    while open_.any():
        mid = np.floor((lo + hi) / 2)
        ok = _meets(np.where(open_, mid, hi), calls, interval_s, aht_s, target)
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid, lo)
        open_ = busy & (hi - lo > 1)
    return hi.astype(np.int64)


def scheduled_heads(agents, shrinkage: float) -> np.ndarray:
    """Heads to schedule so that `agents` remain on post after shrinkage (rounded up)."""
    raw = np.asarray(agents, dtype=float) / (1.0 - shrinkage)
    return np.ceil(np.round(raw, 9)).astype(np.int64)  # round first: 14 / 0.7 is 20, not 20.000000000000004


@dataclass(frozen=True)
class StaffingColumns:
    """Staffing per row as columns (docs/interfaces.md section 6 keys); p_abandon None under Erlang C."""

    agents: np.ndarray
    scheduled: np.ndarray
    service_level: np.ndarray
    occupancy: np.ndarray
    p_wait: np.ndarray
    asa_s: np.ndarray
    p_abandon: np.ndarray | None


def solve_columns(calls, interval_s: float, aht_s, target: StaffingTarget):
    """Staffing of every cell of 1-D `calls` / `aht_s` as columns (optimizer.staffing_table.StaffingColumns).

    Erlang C cells up to SCAN_MAX_LOAD Erlangs: the numpy Erlang B walk
    (optimizer.erlang_scan), which gives the bisection's counts; the others
    (and Erlang A): `solve_agents` and `optimizer.erlang`.
    """
    from optimizer.erlang_scan import scan_erlang_c

    calls = np.asarray(calls, dtype=float)
    aht_s = np.broadcast_to(np.asarray(aht_s, dtype=float), calls.shape)
    if np.any(calls < 0) or interval_s <= 0 or np.any(aht_s <= 0):
        raise StaffingInputError("calls must be >= 0, interval and AHT > 0")
    load = calls * aht_s / interval_s
    scan = (load <= SCAN_MAX_LOAD) if target.model == "erlang-c" else np.zeros(calls.shape, dtype=bool)
    agents = np.zeros(calls.shape, dtype=np.int64)
    measures = {name: np.zeros(calls.shape) for name in ("p_wait", "service_level", "asa_s", "occupancy")}
    p_abandon = None
    if scan.any():
        walked = scan_erlang_c(load[scan], aht_s[scan], target.answer_s, target.service_level, target.max_occupancy, target.max_asa_s)
        agents[scan] = walked.agents
        for name, column in measures.items():
            column[scan] = getattr(walked, name)
    rest = ~scan
    if rest.any():
        agents[rest] = solve_agents(calls[rest], interval_s, aht_s[rest], target)
        perf = _performance(agents[rest], calls[rest], interval_s, aht_s[rest], target)
        for name, column in measures.items():
            column[rest] = getattr(perf, name)
        if perf.p_abandon is not None:
            p_abandon = np.zeros(calls.shape)
            p_abandon[rest] = perf.p_abandon
    return StaffingColumns(agents=agents, scheduled=scheduled_heads(agents, target.shrinkage), p_abandon=p_abandon, **measures)


def staff_intervals(calls, interval_s, aht_s, target: StaffingTarget) -> list[StaffingResult]:
    """StaffingResult per cell (flattened in C order)."""
    agents = solve_agents(calls, interval_s, aht_s, target)
    calls_b, interval_b, aht_b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (calls, interval_s, aht_s)))
    perf = _performance(agents, calls_b, interval_b, aht_b, target)
    heads = scheduled_heads(agents, target.shrinkage)
    results = []
    flat = lambda a: np.asarray(a).ravel()  # noqa: E731
    abandon = flat(perf.p_abandon) if perf.p_abandon is not None else None
    for i, (n, h, sl, occ, pw, asa) in enumerate(
        zip(flat(agents), flat(heads), flat(perf.service_level), flat(perf.occupancy), flat(perf.p_wait), flat(perf.asa_s))
    ):
        results.append(
            StaffingResult(
                agents=int(n),
                scheduled=int(h),
                service_level=round(float(sl), 6),
                occupancy=round(float(occ), 6),
                p_wait=round(float(pw), 6),
                asa_s=round(float(asa), 3),
                p_abandon=None if abandon is None else round(float(abandon[i]), 6),
            )
        )
    return results


def staff_interval(calls: float, interval_min: float, aht_s: float, target: StaffingTarget) -> StaffingResult:
    """Staffing for one interval of `interval_min` minutes."""
    if calls < 0:
        raise StaffingInputError(f"calls must be >= 0, got {calls}")
    if interval_min <= 0:
        raise StaffingInputError(f"interval must be > 0 min, got {interval_min}")
    if aht_s <= 0:
        raise StaffingInputError(f"AHT must be > 0 s, got {aht_s}")
    return staff_intervals(np.array([calls]), interval_min * 60.0, aht_s, target)[0]


def _number(text: str, field: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise StaffingInputError(f"{where}: field '{field}': not a number: {text!r}") from None
    if not math.isfinite(value):
        raise StaffingInputError(f"{where}: field '{field}': not a finite number: {text!r}")
    return value


def read_interval_csv(path: Path, interval_min: int) -> list[IntervalLoad]:
    """Rows of `[queue,]date,interval_start,calls,aht_s`, validated with file:line errors.

    Rejects negative volumes, AHT <= 0, unparsable dates/times, duplicate
    ([queue,] date, interval_start) and gaps: within one date (of one queue),
    rows must be consecutive `interval_min`-minute intervals in order.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise StaffingInputError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise StaffingInputError(f"{path}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    required = ["date", "interval_start", "calls", "aht_s"]
    if header is None:
        raise StaffingInputError(f"{path}:1: empty file, expected header {','.join(required)}")
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise StaffingInputError(f"{path}:1: missing column(s) {', '.join(missing)}; header must have {','.join(required)}")
    index = {name: header.index(name) for name in required}
    i_queue = header.index("queue") if "queue" in header else None
    rows: list[IntervalLoad] = []
    seen: dict[tuple[str | None, date, time], int] = {}
    step = timedelta(minutes=interval_min)
    for line_no, record in enumerate(reader, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue
        where = f"{path}:{line_no}"
        if len(record) < len(header):
            raise StaffingInputError(f"{where}: expected {len(header)} fields, got {len(record)}")
        cell = {name: record[i].strip() for name, i in index.items()}
        try:
            day = date.fromisoformat(cell["date"])
        except ValueError:
            raise StaffingInputError(f"{where}: field 'date': not a YYYY-MM-DD date: {cell['date']!r}") from None
        try:
            start = time.fromisoformat(cell["interval_start"])
        except ValueError:
            raise StaffingInputError(f"{where}: field 'interval_start': not an HH:MM time: {cell['interval_start']!r}") from None
        if (start.hour * 60 + start.minute) % interval_min or start.second:
            raise StaffingInputError(f"{where}: field 'interval_start': {cell['interval_start']} is not on the {interval_min}-min grid")
        calls = _number(cell["calls"], "calls", where)
        if calls < 0:
            raise StaffingInputError(f"{where}: field 'calls': negative volume {cell['calls']}")
        aht = _number(cell["aht_s"], "aht_s", where)
        if aht <= 0:
            raise StaffingInputError(f"{where}: field 'aht_s': AHT must be > 0 s, got {cell['aht_s']}")
        queue = None if i_queue is None else record[i_queue].strip()
        key = (queue, day, start)
        if key in seen:
            label = "" if queue is None else f"queue {queue} "
            raise StaffingInputError(f"{where}: duplicate interval {label}{day} {start:%H:%M} (first on line {seen[key]})")
        same_queue = bool(rows) and rows[-1].queue == queue
        if same_queue and rows[-1].day == day:
            expected = (datetime.combine(day, rows[-1].interval_start) + step).time()
            if start != expected:
                kind = "gap" if start > expected else "out of order"
                raise StaffingInputError(
                    f"{where}: field 'interval_start': {kind}: {start:%H:%M} follows {rows[-1].interval_start:%H:%M} (expected {expected:%H:%M})"
                )
        elif same_queue and day < rows[-1].day:
            raise StaffingInputError(f"{where}: field 'date': {day} is before the previous row's {rows[-1].day}")
        seen[key] = line_no
        rows.append(IntervalLoad(day=day, interval_start=start, calls=calls, aht_s=aht, line=line_no, queue=queue))
    return rows


def write_results_csv(path: Path, rows: Iterable[IntervalLoad], results: Iterable[StaffingResult]) -> None:
    """`date,interval_start,calls,aht_s` + the section-6 keys, one line per interval."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "interval_start", "calls", "aht_s", *RESULT_FIELDS])
        for row, result in zip(rows, results):
            values = result.to_dict()
            writer.writerow(
                [row.day.isoformat(), row.interval_start.strftime("%H:%M"), f"{row.calls:g}", f"{row.aht_s:g}"]
                + ["" if values[k] is None else values[k] for k in RESULT_FIELDS]
            )
