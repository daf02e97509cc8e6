"""A window of the event log kept in memory and topped up: each call reads only what was logged since the last.

GET /api/adherence and GET /api/wall/trend answer from a day of `event`
records. Reading and decoding that day from the log on every call grew with
the day (a wall board asks every minute, each supervisor page on every
reload); a `LogWindow` keeps the records it needs (slimmed to the fields its
computation reads) and on each call folds in only the records with a seq after
the last one it saw (`log.read(after_seq=…)`, as `EventLog.follow` tails the
log). The log is a hash chain — every append links to the one before — so seq
order is commit order and nothing can appear behind the last seq read.

What a call gets is exactly what `log.read(since, until, kinds)` would return
(slimmed): the records of the window's kinds with since <= ts < until, in seq
order. A later window start (the next day) drops what fell out of it; an
earlier one (`?at=` on a past day) is read from the log and leaves the window
as it was.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from wfm.ports import LogPort

# body → the slimmed body to keep (only what the computation reads), or None to drop the record
Keep = Callable[[dict[str, Any]], dict[str, Any] | None]


class Kept:
    """A kept record: its seq, time, kind and slimmed body (read like a log record: `.ts`, `.kind`, `.body`)."""

    __slots__ = ("seq", "ts", "kind", "body")

    def __init__(self, seq: int, ts: datetime, kind: str, body: dict[str, Any]) -> None:
        self.seq = seq
        self.ts = ts
        self.kind = kind
        self.body = body

    def __repr__(self) -> str:
        return f"Kept({self.seq}, {self.ts.isoformat()}, {self.kind}, {self.body!r})"


class LogWindow:
    """The log's records of `kinds` from a window start on, those `keep` keeps, topped up per call.

    Thread-safe: the API computes off the event loop, and two requests may ask at once."""

    def __init__(self, keep: Keep, kinds: Iterable[str] = ("event",)) -> None:
        self._keep = keep
        self._kinds = list(kinds)
        self._lock = threading.Lock()
        self._since: datetime | None = None
        self._last_seq: int | None = None
        self._records: list[Kept] = []
        self.records_read = 0  # from the log, over the window's life (a test reads it)

    def records(self, log: LogPort, since: datetime, until: datetime) -> list[Kept]:
        """The kept records with since <= ts < until, in seq order; reads the log only after the last seq seen."""
        with self._lock:
            if self._since is not None and since < self._since:
                return [kept for kept in self._fold(log.read(since=since, until=until, kinds=self._kinds))]
            if self._since is None or since > self._since:
                self._records = [kept for kept in self._records if kept.ts >= since]
                self._since = since
            new = log.read(since=since, kinds=self._kinds, after_seq=self._last_seq)
            for kept in self._fold(new, track=True):
                self._records.append(kept)
            return [kept for kept in self._records if kept.ts < until]

    def _fold(self, records: Iterable[Any], track: bool = False) -> Iterable[Kept]:
        for record in records:
            self.records_read += 1
            if track:
                self._last_seq = record.seq
            body = record.body if isinstance(record.body, dict) else None
            slim = self._keep(body) if body is not None else None
            if slim is not None:
                yield Kept(record.seq, record.ts, record.kind, slim)
