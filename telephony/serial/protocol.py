"""Sans-I/O serial CTI line protocols: bytes in, records out (docs/pbx-mapping.md "Serial formats").

Two line formats may share one port:

A. the generic ACD text feed, one event per line::

       YYYY-MM-DD HH:MM:SS AGENT <agent> LOGIN | LOGOUT | READY | AUX <code> | RING <queue> | ACDIN <queue> | ACW
       YYYY-MM-DD HH:MM:SS QUEUE <queue> WAITING <n>

B. Avaya IP Office-style SMDR: one CSV record of 30 fields per finished call
   segment (Call Start `YYYY/MM/DD HH:MM:SS`, Connected Time `HH:MM:SS`,
   Ring Time, Caller, Direction, Called Number, Dialled Number, Account,
   Is Internal, Call ID, Continuation, Party1Device, Party1Name,
   Party2Device, Party2Name, Hold Time, Park Time, 13 more).

`LineSplitter` cuts bytes into lines (LF or CRLF; a lone CR ends a line too,
as some PBX printers send it), bounded in length; each line is decoded on its
own (UTF-8). `parse_line(text, number, profile)` returns a record or a
`LineError`; profile `auto` picks the format per line from its first bytes.
Times stay naive local wall-clock here; the mapper applies the floor zone.
"""
from __future__ import annotations

import csv
import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Profile = Literal["auto", "acd", "smdr"]
DEFAULT_MAX_LINE_BYTES = 2048
SMDR_FIELDS = 30

_ACD = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) +"
    r"(?:AGENT +(?P<agent>\S+) +(?P<verb>LOGIN|LOGOUT|READY|ACW|AUX +(?P<aux>\S+)|RING +(?P<ring>\S+)|ACDIN +(?P<acdin>\S+))"
    r"|QUEUE +(?P<queue>\S+) +WAITING +(?P<waiting>\d+))\s*$"
)
_ACD_START = re.compile(r"^\d{4}-\d{2}-\d{2} ")
_SMDR_START = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2},")
_HMS = re.compile(r"^(\d{1,3}):([0-5]\d):([0-5]\d)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class SplitterState(str, enum.Enum):
    LINE = "line"
    DISCARDING = "discarding"  # an over-long line: dropped up to its end


_TRANSITIONS = {
    SplitterState.LINE: frozenset({SplitterState.LINE, SplitterState.DISCARDING}),
    SplitterState.DISCARDING: frozenset({SplitterState.LINE, SplitterState.DISCARDING}),
}


@dataclass(frozen=True, slots=True)
class RawLine:
    number: int
    data: bytes


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that was skipped: its number and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class AcdAgentRecord:
    line: int
    at: datetime  # naive local time
    agent: str
    verb: str  # LOGIN LOGOUT READY AUX RING ACDIN ACW
    argument: str | None  # AUX code or queue


@dataclass(frozen=True, slots=True)
class AcdQueueRecord:
    line: int
    at: datetime
    queue: str
    waiting: int


@dataclass(frozen=True, slots=True)
class SmdrRecord:
    line: int
    call_start: datetime  # naive local time
    connected_s: int
    ring_s: int
    caller: str
    direction: str  # I or O
    called_number: str
    call_id: str
    continuation: bool
    party1_device: str
    party1_name: str
    party2_device: str
    hold_s: int
    park_s: int


SerialRecord = AcdAgentRecord | AcdQueueRecord | SmdrRecord


class LineSplitter:
    """Bytes → numbered raw lines; over-long lines are reported once and dropped. Never raises."""

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_line_bytes
        self._number = 0
        self._state = SplitterState.LINE
        self._after_cr = False  # the previous chunk ended in CR: a following LF belongs to it

    @property
    def state(self) -> SplitterState:
        return self._state

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _move(self, new: SplitterState) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise AssertionError(f"serial splitter: illegal transition {self._state} -> {new}")
        self._state = new

    def feed(self, data: bytes) -> list[RawLine | LineError]:
        out: list[RawLine | LineError] = []
        start = 0
        length = len(data)
        if self._after_cr and length and data[0:1] == b"\n":
            start = 1
        self._after_cr = False
        while start < length:
            cr = data.find(b"\r", start)
            lf = data.find(b"\n", start)
            ends = [p for p in (cr, lf) if p >= 0]
            if not ends:
                self._append(data[start:], out)
                break
            end = min(ends)
            self._append(data[start:end], out)
            self._end_line(out)
            if data[end:end + 1] == b"\r":
                if end + 1 < length:
                    start = end + 2 if data[end + 1:end + 2] == b"\n" else end + 1
                else:
                    self._after_cr = True
                    start = end + 1
            else:
                start = end + 1
        return out

    def _append(self, piece: bytes, out: list) -> None:
        if self._state is SplitterState.DISCARDING:
            return
        self._buffer += piece
        if len(self._buffer) > self._max:
            self._number += 1
            out.append(LineError(self._number, f"line longer than {self._max} bytes (noise or a missing line end)"))
            self._buffer.clear()
            self._move(SplitterState.DISCARDING)

    def _end_line(self, out: list) -> None:
        if self._state is SplitterState.DISCARDING:
            self._move(SplitterState.LINE)
            return
        self._number += 1
        out.append(RawLine(self._number, bytes(self._buffer)))
        self._buffer.clear()

    def close(self) -> list[RawLine | LineError]:
        """End of input: a last line without its line end is still a line (files often lack one)."""
        out: list[RawLine | LineError] = []
        if self._buffer and self._state is SplitterState.LINE:
            self._number += 1
            out.append(RawLine(self._number, bytes(self._buffer)))
        self._buffer.clear()
        self._state = SplitterState.LINE
        return out


def _seconds_hms(text: str, name: str) -> int:
    match = _HMS.match(text.strip())
    if not match:
        raise ValueError(f"{name} is not HH:MM:SS: {text!r}")
    h, m, s = (int(g) for g in match.groups())
    return h * 3600 + m * 60 + s


def _int_field(text: str, name: str) -> int:
    text = text.strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"{name} is not a whole number: {text!r}")
    return int(text)


def parse_acd(text: str, number: int) -> AcdAgentRecord | AcdQueueRecord | LineError:
    match = _ACD.match(text)
    if not match:
        return LineError(number, f"not an ACD feed line: {text[:80]!r}")
    try:
        at = datetime.fromisoformat(f"{match['date']}T{match['time']}")
    except ValueError:
        return LineError(number, f"bad date/time {match['date']} {match['time']}")
    if match["queue"] is not None:
        return AcdQueueRecord(number, at, match["queue"], int(match["waiting"]))
    verb = match["verb"].split()[0]
    argument = match["aux"] or match["ring"] or match["acdin"]
    return AcdAgentRecord(number, at, match["agent"], verb, argument)


def parse_smdr(text: str, number: int) -> SmdrRecord | LineError:
    try:
        (fields,) = list(csv.reader([text], strict=True))
    except (csv.Error, ValueError) as exc:
        return LineError(number, f"SMDR record is not CSV: {exc}")
    if len(fields) != SMDR_FIELDS:
        return LineError(number, f"SMDR record has {len(fields)} fields, expected {SMDR_FIELDS} (truncated?)")
    try:
        call_start = datetime.strptime(fields[0].strip(), "%Y/%m/%d %H:%M:%S")
        connected = _seconds_hms(fields[1], "Connected Time")
        ring = _int_field(fields[2], "Ring Time")
        direction = fields[4].strip().upper()
        if direction not in ("I", "O"):
            raise ValueError(f"Direction is not I or O: {fields[4]!r}")
        call_id = fields[9].strip()
        if not call_id:
            raise ValueError("Call ID is empty")
        continuation = _int_field(fields[10], "Continuation") == 1
        hold = _int_field(fields[15], "Hold Time")
        park = _int_field(fields[16], "Park Time")
    except ValueError as exc:
        return LineError(number, f"SMDR record: {exc}")
    return SmdrRecord(
        line=number, call_start=call_start, connected_s=connected, ring_s=ring, caller=fields[3].strip(),
        direction=direction, called_number=fields[5].strip(), call_id=call_id, continuation=continuation,
        party1_device=fields[11].strip(), party1_name=fields[12].strip(), party2_device=fields[13].strip(),
        hold_s=hold, park_s=park,
    )


def parse_line(raw: RawLine, profile: Profile = "auto") -> SerialRecord | LineError | None:
    """One raw line → a record, a LineError, or None for a blank line."""
    try:
        text = raw.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LineError(raw.number, f"line noise: not UTF-8 ({exc.reason} at byte {exc.start})")
    if not text.strip():
        return None
    if _CONTROL.search(text):
        return LineError(raw.number, f"line noise: control characters in {text[:60]!r}")
    text = text.strip()
    if profile == "acd":
        return parse_acd(text, raw.number)
    if profile == "smdr":
        return parse_smdr(text, raw.number)
    if _SMDR_START.match(text):
        return parse_smdr(text, raw.number)
    if _ACD_START.match(text):
        return parse_acd(text, raw.number)
    return LineError(raw.number, f"unrecognised line (neither ACD nor SMDR): {text[:60]!r}")
