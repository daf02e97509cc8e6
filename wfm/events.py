"""The normalized floor events of docs/interfaces.md §1, as immutable typed objects.

Every adapter (AMI, ESL, SIP, serial, simulator) produces these; replay, the
rules engine and the event log consume them. JSON-lines encoding/decoding is
msgspec: strict validation, unknown keys ignored, missing keys rejected.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from wfm.wire import to_builtins

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]


class AgentState(str, enum.Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    SHORT_BREAK = "short_break"  # 小休
    MEAL = "meal"  # 用餐
    NOT_READY = "not_ready"

    @property
    def on_post(self) -> bool:
        """On post = signed in and handling or waiting for calls (docs/interfaces.md §2)."""
        return self in ON_POST_STATES

    @property
    def signed_in(self) -> bool:
        return self is not AgentState.LOGGED_OUT

    @property
    def on_break(self) -> bool:
        return self in (AgentState.SHORT_BREAK, AgentState.MEAL)


ON_POST_STATES = frozenset(
    {AgentState.READY, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP}
)


class BreakKind(str, enum.Enum):
    SHORT = "short"
    MEAL = "meal"


class CallEventKind(str, enum.Enum):
    OFFERED = "offered"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    COMPLETED = "completed"


class OverrideAction(str, enum.Enum):
    ALLOW_BREAK = "allow_break"
    END_BREAK = "end_break"


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    """Base of every event; each subclass declares `ts` first so it encodes first."""


class AgentStateEvent(_Event, frozen=True, tag="agent_state"):
    ts: AwareDatetime
    agent: NonEmpty
    state: AgentState
    queues: list[str] | None = None
    reason: str | None = None
    source: str | None = None


class QueueStatusEvent(_Event, frozen=True, tag="queue_status"):
    ts: AwareDatetime
    queue: NonEmpty
    waiting: NonNegInt
    longest_wait_s: NonNegFloat | None = None
    source: str | None = None


class CallEvent(_Event, frozen=True, tag="call"):
    ts: AwareDatetime
    queue: NonEmpty
    call_id: NonEmpty
    event: CallEventKind
    agent: str | None = None
    wait_s: NonNegFloat | None = None
    talk_s: NonNegFloat | None = None
    source: str | None = None


class BreakRequestEvent(_Event, frozen=True, tag="break_request"):
    ts: AwareDatetime
    agent: NonEmpty
    kind: BreakKind
    minutes: Annotated[float, msgspec.Meta(gt=0)] | None = None
    queue: bool = False
    source: str | None = None


class BreakCancelEvent(_Event, frozen=True, tag="break_cancel"):
    ts: AwareDatetime
    agent: NonEmpty
    source: str | None = None


class OverrideEvent(_Event, frozen=True, tag="override"):
    ts: AwareDatetime
    supervisor: NonEmpty
    agent: NonEmpty
    action: OverrideAction
    note: str | None = None
    kind: BreakKind | None = None  # allow_break: the break allowed (小休 or 用餐); None: the one asked or queued, else 小休


class ShiftEvent(_Event, frozen=True, tag="shift"):
    ts: AwareDatetime
    agent: NonEmpty
    start: AwareDatetime
    end: AwareDatetime
    meal_start: AwareDatetime | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("shift end must be after start")
        if self.meal_start is not None and not (self.start <= self.meal_start < self.end):
            raise ValueError("meal_start must lie inside the shift")


class ResyncEvent(_Event, frozen=True, tag="resync"):
    """Extension: an adapter's snapshot boundary after (re)connect.

    `phase="begin"` tells the floor that the following agent_state/queue_status
    events from `source` are a full snapshot; `phase="end"` closes it. The floor
    rebuilds from the snapshot rather than merging blindly.
    """

    ts: AwareDatetime
    source: NonEmpty
    phase: Literal["begin", "end"]


Event = (
    AgentStateEvent
    | QueueStatusEvent
    | CallEvent
    | BreakRequestEvent
    | BreakCancelEvent
    | OverrideEvent
    | ShiftEvent
    | ResyncEvent
)
EVENT_TYPES: tuple[type, ...] = Event.__args__

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


class EventDecodeError(ValueError):
    """One JSON line could not be turned into an event."""


def encode_event(event: Event) -> bytes:
    """One event as compact JSON (no trailing newline)."""
    return _encoder.encode(event)


_ID_KEYS = ("agent", "queue", "call_id", "supervisor")


def _numeric_ids_as_text(line: bytes | str) -> dict[str, Any] | None:
    """The object with numeric ids (`"agent": 1001`) as strings, or None when it has none.

    §1: replay accepts any agent or queue id; a PBX export often writes extensions as numbers.
    """
    try:
        obj = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    changed = False
    for key in _ID_KEYS:
        value = obj.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            obj[key] = str(value)
            changed = True
    queues = obj.get("queues")
    if isinstance(queues, list) and any(isinstance(q, int) and not isinstance(q, bool) for q in queues):
        obj["queues"] = [str(q) if isinstance(q, int) and not isinstance(q, bool) else q for q in queues]
        changed = True
    return obj if changed else None


def decode_event(line: bytes | str) -> Event:
    """One JSON object to an event; raises EventDecodeError with the reason."""
    try:
        event: Event = _decoder.decode(line)
        return event
    except msgspec.ValidationError as exc:  # (a subclass of DecodeError: caught first)
        fixed = _numeric_ids_as_text(line)  # only on the error path: valid lines pay nothing
        if fixed is None:
            raise EventDecodeError(str(exc)) from None
        try:
            converted: Event = msgspec.convert(fixed, Event)
            return converted
        except msgspec.ValidationError:
            raise EventDecodeError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise EventDecodeError(str(exc)) from None


event_to_builtins = to_builtins  # a §1 event as its JSON-lines object


def event_from_builtins(obj: dict[str, Any]) -> Event:
    try:
        event: Event = msgspec.convert(obj, Event)
        return event
    except msgspec.ValidationError as exc:
        raise EventDecodeError(str(exc)) from None


class BadLine(msgspec.Struct, frozen=True):
    """A skipped input line: where it was and why (reported, never fatal)."""

    source: str
    line: int
    reason: str

    def message(self) -> str:
        return f"{self.source}:{self.line}: skipped: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"type": "skipped", "source": self.source, "line": self.line, "reason": self.reason}


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped: a decoder's message can echo
    a bad value whose JSON escapes (`\\n`) it has already decoded, and a skipped line is reported
    on one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def read_events(lines: Iterable[bytes | str], source: str = "<stdin>") -> Iterator[Event | BadLine]:
    """Decode JSON lines, yielding events and BadLine records (1-based line numbers).

    Blank lines are passed over silently; every other line yields exactly one item.
    """
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BadLine(source, number, f"not UTF-8 ({exc.reason} at byte {exc.start})")
                continue
        else:
            text = raw
        if not text.strip():
            continue
        try:
            yield decode_event(text)
        except EventDecodeError as exc:
            yield BadLine(source, number, one_line(str(exc)))
