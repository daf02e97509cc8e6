"""The decision, violation and alert records of docs/interfaces.md §2."""
from __future__ import annotations

from datetime import datetime

import msgspec

from wfm.events import AwareDatetime, BreakKind
from wfm.timeutil import format_ts


class _Output(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every §2 record; each subclass declares `ts` first so it encodes first."""


class BreakDecision(_Output, frozen=True, tag="break_decision"):
    ts: AwareDatetime
    agent: str
    kind: BreakKind
    allowed: bool
    rule: str | None
    detail: str
    next_window: datetime | None


class Violation(_Output, frozen=True, tag="violation"):
    ts: AwareDatetime
    agent: str | None
    rule: str
    detail: str


class Alert(_Output, frozen=True, tag="alert"):
    ts: AwareDatetime
    rule: str
    detail: str


Output = BreakDecision | Violation | Alert


class HoldReleased(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="hold_released"):
    """An allowed break's place freed before the break started (docs/break-holds.md).

    Not a §2 record: a log record (replay never prints it) that the agent's page and the
    supervisors' WebSocket show. `reason`: "lapsed" (floor.allowed_break_hold_s spent ready
    without going) or "not_enacted" (the PBX never confirmed the pause a grant asked for).
    """

    ts: AwareDatetime  # when the place was freed
    agent: str
    kind: BreakKind
    reason: str
    allowed_at: AwareDatetime  # the allowed decision that held the place
    detail: str
    detail_zh: str

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Output)


def encode_output(output: Output) -> bytes:
    """Compact JSON with the §2 keys in the §2 order; nulls are kept.

    Times keep the offset they were given, spelled out (`+00:00`, never `Z`),
    so a decision's `ts` reads like the event line that caused it.
    """
    fields = {"type": type(output).__struct_config__.tag}
    for name in output.__struct_fields__:
        value = getattr(output, name)
        fields[name] = format_ts(value) if isinstance(value, datetime) else value
    return _encoder.encode(fields)


def decode_output(data: bytes | str) -> Output:
    return _decoder.decode(data)
