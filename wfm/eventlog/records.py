"""The log's record types: what a record is and what a chain check says (no I/O, no hashing)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

KINDS: tuple[str, ...] = ("event", "decision", "action", "audit")


class LogRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One record of the chain. `hash` covers seq, ts, kind, body and prev_hash."""

    seq: int
    ts: datetime  # timezone-aware
    kind: str  # "event" | "decision" | "action" | "audit"
    body: dict[str, Any]
    prev_hash: str
    hash: str


class VerifyResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of a chain check: ok, how many records held, and the first bad one."""

    ok: bool
    records: int
    first_bad_seq: int | None
    reason: str
    last_hash: str | None = None  # hash of the last record that checked out: write it down elsewhere as an anchor

    def message(self) -> str:
        if self.ok:
            head = f", head hash {self.last_hash}" if self.records else ""
            return f"ok: {self.records} records, chain intact{head}"
        return f"first bad record: seq {self.first_bad_seq}: {self.reason}"
