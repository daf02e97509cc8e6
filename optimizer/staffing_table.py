"""The interval CSV of `wfm staffing --from` as columns: read, validated, written back as JSON or CSV.

`read_interval_table` reads `[queue,]date,interval_start,calls,aht_s` into
numpy columns and checks every rule of `optimizer.staffing.read_interval_csv`
(numbers, grid, duplicates, gaps, order) on whole columns at once. When any
check fails, or the file is irregular (quotes, blank lines, ragged rows), the
row-by-row reader runs instead, so the error is the same one line naming file,
line and field. The writers format whole columns: no Python object per row
beyond its output text.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path

import numpy as np

from optimizer.staffing import StaffingColumns, read_interval_csv

__all__ = ["IntervalTable", "StaffingColumns", "read_interval_table", "results_json", "write_table_csv"]

_REQUIRED = ("date", "interval_start", "calls", "aht_s")


@dataclass(frozen=True)
class IntervalTable:
    """The rows of an interval CSV, column by column (in file order)."""

    queue: list[str] | None
    date: list[str]  # "YYYY-MM-DD"
    interval_start: list[str]  # "HH:MM"
    calls: np.ndarray
    aht_s: np.ndarray

    def __len__(self) -> int:
        return int(self.calls.shape[0])


class _Irregular(Exception):
    """The fast path cannot vouch for this file; the row-by-row reader decides."""


def _slow(path: Path, interval_min: int) -> IntervalTable:
    rows = read_interval_csv(path, interval_min)  # raises the one-line error
    queues = [r.queue for r in rows if r.queue is not None]  # one header: every row has a queue, or none has
    return IntervalTable(
        queue=queues or None,
        date=[r.day.isoformat() for r in rows],
        interval_start=[r.interval_start.strftime("%H:%M") for r in rows],
        calls=np.array([r.calls for r in rows], dtype=float),
        aht_s=np.array([r.aht_s for r in rows], dtype=float),
    )


def read_interval_table(path: str | Path, interval_min: int) -> IntervalTable:
    """Columns of an interval CSV; StaffingInputError (file:line: field) on the first bad row."""
    path = Path(path)
    try:
        return _fast(path, interval_min)
    except _Irregular:
        return _slow(path, interval_min)


def _fast(path: Path, interval_min: int) -> IntervalTable:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        raise _Irregular from None
    if '"' in text or "\r" in text:
        raise _Irregular
    head, _, body = text.partition("\n")
    header = [h.strip() for h in head.split(",")]
    if any(c not in header for c in _REQUIRED) or len(set(header)) != len(header):
        raise _Irregular
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or "" in lines:
        raise _Irregular
    width = len(header)
    cells = ",".join(lines).split(",")
    if len(cells) != width * len(lines):
        raise _Irregular
    column = {name: cells[i::width] for i, name in enumerate(header)}
    calls, aht = _numbers(column["calls"]), _numbers(column["aht_s"])
    if not (np.isfinite(calls).all() and np.isfinite(aht).all() and (calls >= 0).all() and (aht > 0).all()):
        raise _Irregular
    days, day_no = _coded(column["date"], lambda s: date.fromisoformat(s.strip()))
    starts, start_time = _coded(column["interval_start"], lambda s: time.fromisoformat(s.strip()))
    minute_of = {}
    for raw, value in start_time.items():
        if value.second or value.microsecond or (value.hour * 60 + value.minute) % interval_min:
            raise _Irregular
        minute_of[raw] = value.hour * 60 + value.minute
    rows = len(lines)
    ordinal_of = {raw: value.toordinal() for raw, value in day_no.items()}
    ordinal = np.fromiter(map(ordinal_of.__getitem__, days), dtype=np.int64, count=rows)
    minute = np.fromiter(map(minute_of.__getitem__, starts), dtype=np.int64, count=rows)
    queue = None
    queue_no = np.zeros(rows, dtype=np.int64)
    if "queue" in column:
        queue = column["queue"]
        distinct = set(queue)
        if any(q != q.strip() for q in distinct):
            queue = [q.strip() for q in queue]
            distinct = set(queue)
        codes = {q: number for number, q in enumerate(distinct)}
        queue_no = np.fromiter(map(codes.__getitem__, queue), dtype=np.int64, count=rows)
    same_queue = queue_no[1:] == queue_no[:-1]
    same_day = same_queue & (ordinal[1:] == ordinal[:-1])
    if (same_day & (minute[1:] - minute[:-1] != interval_min)).any():
        raise _Irregular  # gap, out of order or duplicate inside a day
    if (same_queue & (ordinal[1:] < ordinal[:-1])).any():
        raise _Irregular  # a date before the previous row's
    if int(np.count_nonzero(~same_queue)) != int(queue_no.max()):
        raise _Irregular  # a queue's rows in more than one block: duplicates are possible, let the row reader look
    return IntervalTable(
        queue=queue,
        date=_canonical(days, {raw: value.isoformat() for raw, value in day_no.items()}),
        interval_start=_canonical(starts, {raw: f"{m // 60:02d}:{m % 60:02d}" for raw, m in minute_of.items()}),
        calls=calls,
        aht_s=aht,
    )


def _canonical(values: list[str], canon: dict[str, str]) -> list[str]:
    """`values` written canonically (the list itself when every distinct value already is)."""
    return values if all(raw == text for raw, text in canon.items()) else [canon[v] for v in values]


def _numbers(texts: list[str]) -> np.ndarray:
    """Floats of a column: msgspec's C decoder for plain JSON numbers, numpy's parser for the rest."""
    import msgspec

    try:
        return np.array(msgspec.json.decode("[" + ",".join(texts) + "]", type=list[float]), dtype=float)
    except msgspec.DecodeError:
        pass
    try:
        return np.array(texts, dtype=float)
    except ValueError:
        raise _Irregular from None


def _coded(values: list[str], parse) -> tuple[list[str], dict]:
    """(values, {distinct value: parsed}); _Irregular when one does not parse."""
    parsed = {}
    for raw in set(values):
        try:
            parsed[raw] = parse(raw)
        except ValueError:
            raise _Irregular from None
    return values, parsed


_KEYS = ("agents", "scheduled", "service_level", "occupancy", "p_wait", "asa_s", "p_abandon")


def _round(values: np.ndarray, digits: int) -> np.ndarray:
    """round(v, digits) of every value, as Python's round gives it (np.round differs on near-halves)."""
    values = np.asarray(values, dtype=float)
    out = np.round(values, digits)
    scaled = values * 10.0**digits
    with np.errstate(invalid="ignore"):
        near_half = np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    for i in near_half.tolist():
        out[i] = round(float(values[i]), digits)
    return out


def _texts(values: np.ndarray) -> list[str]:
    """JSON text of every value as Python's repr writes it (msgspec's C encoder, exponents as repr has them)."""
    import msgspec

    texts = msgspec.json.encode(values.tolist()).decode()[1:-1].split(",")
    if values.dtype.kind == "f":
        magnitude = np.abs(values)
        for i in np.flatnonzero(((magnitude < 1e-4) & (magnitude > 0)) | (magnitude >= 1e16)).tolist():
            texts[i] = repr(float(values[i]))
    return texts if values.size else []


def _columns(result: StaffingColumns) -> list[list[str] | None]:
    """The section-6 columns as JSON texts, rounded as before (6 decimals, ASA 3); None for no p_abandon."""
    rounded = [result.agents, result.scheduled, _round(result.service_level, 6), _round(result.occupancy, 6),
               _round(result.p_wait, 6), _round(result.asa_s, 3)]
    if result.p_abandon is not None:
        rounded.append(_round(result.p_abandon, 6))
    columns: list[list[str] | None] = [_texts(np.asarray(c)) for c in rounded]
    return columns + ([None] if result.p_abandon is None else [])


def _interleave(pieces: list, rows: int) -> list[str]:
    """[literal, column, literal, column, ...] -> one flat list, row after row, for one str.join."""
    out: list = [None] * (len(pieces) * rows)
    width = len(pieces)
    for i, piece in enumerate(pieces):
        out[i::width] = [piece] * rows if isinstance(piece, str) else piece
    return out


def results_json(result: StaffingColumns) -> str:
    """The JSON list of section-6 objects, one per row, byte for byte as `json.dumps` of the dicts would write it."""
    rows = int(result.agents.shape[0])
    floats = [result.service_level, result.occupancy, result.p_wait, result.asa_s] + ([] if result.p_abandon is None else [result.p_abandon])
    if not rows:
        return "[]"
    if not all(np.isfinite(f).all() for f in floats):  # Infinity/NaN: json.dumps's own spelling
        columns = [result.agents.tolist(), result.scheduled.tolist()] + [_round(f, 3 if i == 3 else 6).tolist() for i, f in enumerate(floats)]
        if result.p_abandon is None:
            columns.append([None] * rows)
        return json.dumps([dict(zip(_KEYS, r)) for r in zip(*columns)])
    columns = _columns(result)
    pieces: list = []
    for i, (key, column) in enumerate(zip(_KEYS, columns)):
        pieces.append(("{" if i == 0 else ", ") + f'"{key}": ' + ("null" if column is None else ""))
        if column is not None:
            pieces.append(column)
    pieces.append("}, ")
    flat = _interleave(pieces, rows)
    flat[-1] = "}"
    return "[" + "".join(flat) + "]"


def write_table_csv(path: str | Path, table: IntervalTable, result: StaffingColumns) -> None:
    """`[queue,]date,interval_start,calls,aht_s` + the section-6 keys, one line per row (csv.writer's \\r\\n)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = len(table)
    header = ["date", "interval_start", "calls", "aht_s", *_KEYS]
    general = lambda values: (("%g\n" * rows) % tuple(values.tolist())).split("\n")[:rows]  # noqa: E731
    lead = [table.date, table.interval_start, general(table.calls), general(table.aht_s)]
    if table.queue is not None:
        lead.insert(0, table.queue)
        header.insert(0, "queue")
    columns = _columns(result) if rows else []
    pieces: list = []
    for column in lead + columns:
        pieces += ["" if column is None else column, ","]
    pieces[-1] = "\r\n"
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write(",".join(header) + "\r\n")
        if rows:
            handle.write("".join(_interleave(pieces, rows)))
