"""Call history CSV: `timestamp,calls[,aht_s]` at 5, 15 or 30-min resolution -> 30-min intervals.

Timestamps are ISO 8601. With a UTC offset they are converted to the floor's
zone; without one they are taken as the floor's local wall-clock time (the
way most ACD exports write them). The result is indexed by local wall-clock
interval start, because demand, rosters and shifts all live on the floor's
clock. Every row is validated; the first bad one raises HistoryError naming
file, line and field: unparsable timestamp or number, negative volume, AHT
<= 0, duplicate timestamp, timestamp off the grid, out of order, or a gap
inside a day (a missing interval between two rows of one date; days with no
rows at all are closed days, not gaps).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["HistoryError", "History", "read_history", "RESOLUTIONS_MIN"]

RESOLUTIONS_MIN = (5, 15, 30)
INTERVAL_MIN = 30


class HistoryError(ValueError):
    """Bad history input; the message names the file, line and field."""


@dataclass(frozen=True)
class History:
    """30-min call history on the floor's clock.

    `frame`: index = naive local interval start (DatetimeIndex), columns
    `calls` (float) and `aht_s` (call-weighted mean, NaN where the file had
    none). `resolution_min` is the resolution the file was written in.
    """

    frame: pd.DataFrame
    resolution_min: int
    source: str

    @property
    def has_aht(self) -> bool:
        return bool(self.frame["aht_s"].notna().any())

    @property
    def days(self) -> list[date]:
        return sorted(set(self.frame.index.date))

    @property
    def intervals(self) -> list[str]:
        """Interval starts (HH:MM) seen in the history, in clock order."""
        return sorted(set(self.frame.index.strftime("%H:%M")))


def _parse_ts(text: str, where: str, tz: tzinfo) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise HistoryError(f"{where}: field 'timestamp': not an ISO 8601 timestamp: {text!r}") from None
    if value.tzinfo is not None:
        value = value.astimezone(tz).replace(tzinfo=None)
    return value


def _number(text: str, field: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise HistoryError(f"{where}: field '{field}': not a number: {text!r}") from None
    if not math.isfinite(value):
        raise HistoryError(f"{where}: field '{field}': not a finite number: {text!r}")
    return value


def read_history(path: str | Path, tz: tzinfo) -> History:
    """Read, validate and aggregate a history CSV to 30-min intervals (see module doc)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise HistoryError(f"{path}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise HistoryError(f"{path}:1: empty file, expected header timestamp,calls[,aht_s]")
    header = [h.strip().lower() for h in header]
    for column in ("timestamp", "calls"):
        if column not in header:
            raise HistoryError(f"{path}:1: missing column '{column}'; header must be timestamp,calls[,aht_s]")
    i_ts, i_calls = header.index("timestamp"), header.index("calls")
    i_aht = header.index("aht_s") if "aht_s" in header else None

    stamps: list[datetime] = []
    calls: list[float] = []
    ahts: list[float] = []
    lines: list[int] = []
    for line_no, record in enumerate(reader, start=2):
        if not record or all(not c.strip() for c in record):
            continue
        where = f"{path}:{line_no}"
        if len(record) < len(header):
            raise HistoryError(f"{where}: expected {len(header)} fields, got {len(record)}")
        ts = _parse_ts(record[i_ts].strip(), where, tz)
        volume = _number(record[i_calls].strip(), "calls", where)
        if volume < 0:
            raise HistoryError(f"{where}: field 'calls': negative volume {record[i_calls].strip()}")
        aht = math.nan
        if i_aht is not None and record[i_aht].strip():
            aht = _number(record[i_aht].strip(), "aht_s", where)
            if aht <= 0:
                raise HistoryError(f"{where}: field 'aht_s': AHT must be > 0 s, got {record[i_aht].strip()}")
        stamps.append(ts)
        calls.append(volume)
        ahts.append(aht)
        lines.append(line_no)
    if not stamps:
        raise HistoryError(f"{path}: no data rows")

    resolution = _check_grid(path, stamps, lines)
    frame = pd.DataFrame({"calls": calls, "aht_s": ahts}, index=pd.DatetimeIndex(stamps))
    bucket = frame.index.floor(f"{INTERVAL_MIN}min")
    weighted = (frame["aht_s"] * frame["calls"]).where(frame["aht_s"].notna())
    grouped = pd.DataFrame(
        {"calls": frame["calls"].groupby(bucket).sum(),
         "_aht_calls": weighted.groupby(bucket).sum(min_count=1),
         "_aht_weight": frame["calls"].where(frame["aht_s"].notna()).groupby(bucket).sum(min_count=1)}
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        grouped["aht_s"] = grouped["_aht_calls"] / grouped["_aht_weight"]
    out = grouped[["calls", "aht_s"]]
    out.index.name = "interval_start"
    return History(frame=out, resolution_min=resolution, source=str(path))


def _check_grid(path: Path, stamps: list[datetime], lines: list[int]) -> int:
    """The file's resolution; raises on duplicates, disorder, off-grid stamps and in-day gaps."""
    steps = [
        (b - a) for a, b in zip(stamps, stamps[1:]) if a.date() == b.date() and b > a
    ]
    resolution = int(min(steps).total_seconds() // 60) if steps else INTERVAL_MIN
    if resolution not in RESOLUTIONS_MIN:
        raise HistoryError(f"{path}: resolution {resolution} min is not one of {RESOLUTIONS_MIN} (5, 15 or 30-min rows)")
    step = timedelta(minutes=resolution)
    first_line: dict[datetime, int] = {}
    previous: datetime | None = None
    for ts, line in zip(stamps, lines):
        where = f"{path}:{line}"
        if ts.second or ts.microsecond or (ts.hour * 60 + ts.minute) % resolution:
            raise HistoryError(f"{where}: field 'timestamp': {ts:%Y-%m-%d %H:%M:%S} is not on the {resolution}-min grid")
        if ts in first_line:
            raise HistoryError(f"{where}: field 'timestamp': duplicate timestamp {ts:%Y-%m-%d %H:%M} (first on line {first_line[ts]})")
        if previous is not None:
            if ts < previous:
                raise HistoryError(f"{where}: field 'timestamp': out of order: {ts:%Y-%m-%d %H:%M} after {previous:%Y-%m-%d %H:%M}")
            if ts.date() == previous.date() and ts - previous != step:
                raise HistoryError(
                    f"{where}: field 'timestamp': gap: {ts:%H:%M} follows {previous:%H:%M} on {ts:%Y-%m-%d} (expected {(previous + step):%H:%M})"
                )
        first_line[ts] = line
        previous = ts
    return resolution
