"""The event log's storage interface: records, results, errors, and group commit.

`EventLog` is what callers (the floor runtime, the rules engine, the API, the
`wfm log` command) code against; a backend (SQLite, PostgreSQL) implements
the few `_storage` hooks at the bottom and inherits the rest:

- `append` / `append_many`: synchronous; durable when they return.
- `append_async`: group commit. A dedicated writer thread takes pending
  records in arrival order, up to `batch_max_records` of them or whatever
  arrived within `batch_max_delay_ms` of the first, and writes them in one
  transaction (a caller that hands over a whole group marks its last record
  `flush=True`: nothing more is coming, so the writer commits at once instead
  of waiting out the delay); each awaiting coroutine resumes only after its batch has
  committed (acknowledged = durable). Results are handed back to each
  caller's event loop in one call per batch, so the loop is never blocked.
- When storage is unreachable the writer keeps the pending records and
  retries with capped backoff (buffered, never acknowledged early); past
  `max_pending` waiting records new async appends are refused with
  LogUnavailableError, and synchronous appends are refused at once.
- A permanent write failure (disk full, read-only file) fails that batch's
  awaiting callers with LogWriteError; the transaction is rolled back, so the
  chain stays whole and nothing acknowledged is lost.
"""
from __future__ import annotations

import abc
import asyncio
import logging
import threading
import time
from collections import deque
from contextlib import AbstractContextManager
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from wfm.eventlog.chain import BodyEncodeError, ChainChecker, CheckedRow, canonical_ts, check_kind, encode_body
from wfm.eventlog.records import KINDS, LogRecord, VerifyResult

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from wfm.eventlog.signing import Signer

__all__ = ["KINDS", "EventLog", "LogRecord", "VerifyResult"]

log = logging.getLogger(__name__)

_FOLLOW_CHUNK = 5000  # records read per step while following


class EventLogError(Exception):
    """Base of every event-log failure."""


class LogURLError(EventLogError, ValueError):
    """The storage URL names no backend this build has."""


class LogClosedError(EventLogError):
    """The log was closed; nothing more can be appended."""


class LogWriteError(EventLogError):
    """A write failed and was rolled back (disk full, read-only storage, bad record)."""


class LogUnavailableError(LogWriteError):
    """The storage cannot be reached right now (server down, file locked); retrying may succeed."""


class LogOptions(TypedDict, total=False):
    """The keyword options every backend takes (see EventLog.__init__)."""

    batch_max_records: int
    batch_max_delay_ms: float
    max_pending: int | None
    readonly: bool


#: The chain-head marker a backend keeps beside the records: (seq, hash), (-1, None) when it is missing.
ChainHead = tuple[int | None, str | None]
#: What a waiting append_async is told: its record, or why it was not stored.
Outcome = LogRecord | Exception


class _Pending:
    """One record waiting for the writer: the encoded columns and who to tell."""

    __slots__ = ("kind", "body", "ts", "ts_text", "body_json", "future", "loop")

    def __init__(self, kind: str, body: dict[str, Any], ts: datetime, ts_text: str, body_json: bytes,
                 future: asyncio.Future[LogRecord] | None, loop: asyncio.AbstractEventLoop | None) -> None:
        self.kind = kind
        self.body = body
        self.ts = ts
        self.ts_text = ts_text
        self.body_json = body_json
        self.future = future
        self.loop = loop


def _resolve(pairs: list[tuple[asyncio.Future[LogRecord], Outcome]]) -> None:
    # Runs on the caller's loop: one call per batch and loop.
    for future, value in pairs:
        if future.done():  # the awaiting coroutine was cancelled
            continue
        if isinstance(value, Exception):
            future.set_exception(value)
        else:
            future.set_result(value)


class EventLog(abc.ABC):
    """A tamper-evident, append-only log of floor events, decisions, actions and audits."""

    #: backoff while storage is unavailable (engineering knobs, not rulebook numbers)
    retry_initial_s = 0.05
    retry_max_s = 2.0

    def __init__(self, url: str, *, batch_max_records: int = 500, batch_max_delay_ms: float = 5.0,
                 max_pending: int | None = None, readonly: bool = False) -> None:
        if batch_max_records < 1:
            raise ValueError("batch_max_records must be at least 1")
        self.url = url
        self.readonly = readonly
        self.batch_max_records = batch_max_records
        self.batch_max_delay_s = max(0.0, batch_max_delay_ms) / 1000.0
        self.max_pending = max_pending if max_pending is not None else max(10_000, 100 * batch_max_records)
        self._write_lock = threading.Lock()  # one transaction at a time on this handle
        self._cond = threading.Condition()
        self._pending: deque[_Pending] = deque()
        self._in_flight = 0  # records taken by the writer and not yet delivered
        self._appended = 0  # records the writer has taken so far (the position of _pending[0])
        self._flush_upto = 0  # a flush-marked record ends here (absolute position): commit without the delay
        self._writer: threading.Thread | None = None
        self._closing = False
        self._closed = False
        self._listeners: set[Callable[[int], None]] = set()
        # signed checkpoints (wfm/eventlog/signing.py): off until sign_checkpoints()
        self._signer: Signer | None = None
        self._checkpoint_every_records = 0
        self._checkpoint_every_s = 0.0
        self._unsigned = 0  # records committed through this handle since its last checkpoint
        self._unsigned_since = 0.0  # monotonic time the first of them committed
        self._head: LogRecord | None = None  # the last record committed through this handle

    # ---- public API ---------------------------------------------------------------------

    def append(self, kind: str, body: dict[str, Any], ts: datetime) -> LogRecord:
        """Append one record; it is durable when this returns."""
        return self.append_many([(kind, body, ts)])[0]

    def append_many(self, items: list[tuple[str, dict[str, Any], datetime]]) -> list[LogRecord]:
        """Append records in one transaction (all or none); durable when this returns."""
        self._check_open()
        pending = [self._prepare(kind, body, ts, None, None) for kind, body, ts in items]
        if not pending:
            return []
        with self._write_lock:
            records = self._write_batch(pending)
        self._announce(records[-1].seq)
        self._after_commit(records)
        return records

    def sign_checkpoints(self, signer: Signer, *, every_records: int, every_s: float) -> None:
        """Append a signed checkpoint after `every_records` records or `every_s` seconds (whichever first),
        and at close, covering the last record this handle committed."""
        if every_records < 1 or every_s <= 0:
            raise ValueError("checkpoints need every_records >= 1 and every_s > 0")
        self._signer = signer
        self._checkpoint_every_records = every_records
        self._checkpoint_every_s = every_s

    def checkpoint(self) -> LogRecord | None:
        """Append a signed checkpoint over this handle's last committed record now (None when nothing is unsigned)."""
        signer, head = self._signer, self._head
        if signer is None or head is None or self._unsigned == 0:
            return None
        item = self._prepare("audit", signer.checkpoint(head.seq, head.hash), head.ts, None, None)
        with self._write_lock:
            record = self._write_batch([item])[0]
        self._unsigned = 0
        self._announce(record.seq)
        return record

    def verify_signed(self, public_keys: Mapping[str, Ed25519PublicKey], *, anchors: Mapping[int, str] | None = None,
                      max_unsigned: int | None = None,
                      progress: Callable[[int], None] | None = None) -> VerifyResult:
        """`verify`, plus every signed checkpoint checked with `public_keys` (key id -> Ed25519 public key).

        Each checkpoint's signature must verify and the hash it signed must still be the
        stored one (a chain rewritten with recomputed hashes fails here); with `max_unsigned`,
        no more records than that may run without a checkpoint (checkpoints deleted).
        """
        from wfm.eventlog.signing import is_checkpoint, signature_problem

        signed: dict[int, tuple[str, int]] = {}
        checkpoints = [r for r in self.read(kinds=["audit"]) if is_checkpoint(r.kind, r.body)]
        for record in checkpoints:
            problem = signature_problem(record.body, public_keys)
            if problem is not None:
                return VerifyResult(ok=False, records=0, first_bad_seq=record.seq,
                                    reason=f"checkpoint: {problem}")
            signed[record.body["covers_seq"]] = (record.body["covers_hash"], record.seq)
        if not checkpoints:
            return VerifyResult(ok=False, records=0, first_bad_seq=None,
                                reason="no signed checkpoint in the log (were they removed, or is signing off?)")
        result = self.verify(progress=progress, anchors=anchors, signed=signed)
        if not result.ok or max_unsigned is None:
            return result
        seqs = [0] + [r.seq for r in checkpoints] + [result.records]
        for before, after in zip(seqs, seqs[1:]):
            if after - before > max_unsigned:
                return VerifyResult(ok=False, records=result.records, first_bad_seq=before + 1,
                                    reason=f"{after - before} records between signed checkpoints (seq {before + 1}.."
                                           f"{after}); at most {max_unsigned} are expected: checkpoints were removed",
                                    last_hash=result.last_hash)
        return result

    async def append_async(self, kind: str, body: dict[str, Any], ts: datetime, *, flush: bool = False) -> LogRecord:
        """Append through the group-commit writer; resolves once the record's batch committed.

        Records are logged in the order their append_async calls were made. `flush`: this is
        the last record of the caller's group (e.g. the runtime's batch of events), so the
        writer commits what is pending now rather than waiting `batch_max_delay_ms` for more.
        Cancelling the awaiting coroutine does not withdraw a record already
        handed to the writer: it may still be stored, just not acknowledged.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[LogRecord] = loop.create_future()
        item = self._prepare(kind, body, ts, future, loop)
        with self._cond:
            waiting = len(self._pending) + self._in_flight
            if waiting >= self.max_pending:
                raise LogUnavailableError(
                    f"event log {self.url_for_humans()}: {waiting} records already waiting for storage; refusing more"
                )
            self._pending.append(item)
            if flush:
                self._flush_upto = self._appended + len(self._pending)
            if self._writer is None:
                self._start_writer()
            self._cond.notify()
        return await future

    def verify(self, progress: Callable[[int], None] | None = None,
               anchors: Mapping[int, str] | None = None,
               signed: Mapping[int, tuple[str, int]] | None = None) -> VerifyResult:
        """Walk the whole chain; name the first record that was edited, deleted, inserted or moved.

        `anchors` maps seq -> hash noted earlier outside the database (a
        printed report, another system): they also catch an attacker who
        rewrote the chain and recomputed every hash after the edit.
        """
        checker = ChainChecker(anchors, signed)
        count = 0
        # Head and rows come from one read snapshot, so appends made meanwhile are not mistaken for tampering.
        with self._snapshot() as (head, rows):
            head_seq, head_hash = head
            for row in rows:
                finding = checker.check(*row)
                if finding is not None:
                    return finding
                count += 1
                if progress is not None and count % 10_000 == 0:
                    progress(10_000)
        if progress is not None:
            progress(count % 10_000)
        return checker.finish(head_seq, head_hash)

    def read(self, since: datetime | None = None, until: datetime | None = None,
             kinds: Iterable[str] | None = None, *, after_seq: int | None = None,
             limit: int | None = None) -> Iterator[LogRecord]:
        """Records in seq order with since <= ts < until, of the given kinds, after seq `after_seq`
        (at most `limit` of them)."""
        kind_list = sorted({check_kind(k) for k in kinds}) if kinds is not None else None
        return self._read(
            canonical_ts(since) if since is not None else None,
            canonical_ts(until) if until is not None else None,
            kind_list,
            after_seq,
            limit,
        )

    def count(self, since: datetime | None = None, until: datetime | None = None,
              kinds: Iterable[str] | None = None) -> int:
        """How many records `read` with the same filters would return."""
        kind_list = sorted({check_kind(k) for k in kinds}) if kinds is not None else None
        return self._count(
            canonical_ts(since) if since is not None else None,
            canonical_ts(until) if until is not None else None,
            kind_list,
        )

    def last_seq(self) -> int:
        """The seq of the newest stored record (0 for an empty log)."""
        return self._last_seq()

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        """Call `callback(last_seq)` after each commit made through this handle; returns unsubscribe."""
        self._listeners.add(callback)
        return lambda: self._listeners.discard(callback)

    async def follow(self, after_seq: int | None = None, poll_s: float = 0.5) -> AsyncIterator[LogRecord]:
        """Yield records as they are committed (by any process), starting after `after_seq`.

        Default: from the current end. Backends with push notification
        override `_wait_for_news`; this one wakes on local commits and polls.
        """
        last = self.last_seq() if after_seq is None else after_seq
        loop = asyncio.get_running_loop()
        news = asyncio.Event()

        def wake(_seq: int) -> None:
            loop.call_soon_threadsafe(news.set)

        unsubscribe = self.subscribe(wake)
        try:
            while True:
                batch = await asyncio.to_thread(self._chunk_after, last)
                for record in batch:
                    last = record.seq
                    yield record
                if len(batch) == _FOLLOW_CHUNK:
                    continue  # a backlog: keep reading before waiting
                news.clear()
                await self._wait_for_news(news, poll_s)
        finally:
            unsubscribe()

    def _chunk_after(self, after_seq: int) -> list[LogRecord]:
        return list(self.read(after_seq=after_seq, limit=_FOLLOW_CHUNK))

    def close(self, timeout: float | None = None) -> None:
        """Flush pending async appends, stop the writer and release storage."""
        if self._closed:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            writer = self._writer
        if writer is not None:
            writer.join(timeout)
            if writer.is_alive():
                log.error("event log %s: writer still busy after %.1f s; pending records stay unacknowledged",
                          self.url_for_humans(), timeout or 0.0)
        self._fail_pending(LogClosedError(f"event log {self.url_for_humans()} closed before these records were written"))
        if not self.readonly:
            self._checkpoint_safely()  # a clean stop leaves no unsigned tail
        self._closed = True
        self._close_storage()

    async def aclose(self) -> None:
        """Async close: waits (off the event loop) for pending batches to commit."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> EventLog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def url_for_humans(self) -> str:
        """The URL with any password masked, for messages and logs."""
        return self.url

    # ---- group commit --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing or self._closed:
            raise LogClosedError(f"event log {self.url_for_humans()} is closed")
        if self.readonly:
            raise LogWriteError(f"event log {self.url_for_humans()} was opened read-only")

    def _prepare(self, kind: str, body: dict[str, Any], ts: datetime, future: asyncio.Future[LogRecord] | None,
                 loop: asyncio.AbstractEventLoop | None) -> _Pending:
        try:
            check_kind(kind)
            return _Pending(kind, body, ts, canonical_ts(ts), encode_body(body), future, loop)
        except (BodyEncodeError, ValueError, TypeError) as exc:
            raise LogWriteError(f"record refused: {exc}") from None

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=self._writer_loop, name=f"eventlog-writer {self.url_for_humans()}", daemon=True)
        self._writer.start()

    def _checkpoint_wait(self) -> float | None:
        """Seconds until a time-based checkpoint is due (None: none pending)."""
        if self._signer is None or self._unsigned == 0:
            return None
        return max(0.0, self._unsigned_since + self._checkpoint_every_s - time.monotonic())

    def _take_batch(self) -> list[_Pending] | None:
        """The next batch; [] when only a time-based checkpoint is due; None when closing."""
        with self._cond:
            while not self._pending:
                if self._closing:
                    return None
                wait = self._checkpoint_wait()
                if wait is not None and wait <= 0:
                    return []
                self._cond.wait(wait)
            if self.batch_max_delay_s > 0 and len(self._pending) < self.batch_max_records and not self._closing:
                deadline = time.monotonic() + self.batch_max_delay_s
                while len(self._pending) < self.batch_max_records and not self._closing \
                        and self._flush_upto <= self._appended:  # a caller's whole group is in: no wait
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            count = min(len(self._pending), self.batch_max_records)
            self._in_flight = count
            self._appended += count
            return [self._pending.popleft() for _ in range(count)]

    def _writer_loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            if not batch:
                self._checkpoint_safely()
                continue
            delay = self.retry_initial_s
            attempts = 0
            while True:
                try:
                    with self._write_lock:
                        records = self._write_batch(batch)
                except LogUnavailableError as exc:
                    attempts += 1
                    if attempts == 1:
                        log.warning("event log %s unavailable, %d records buffered, retrying: %s",
                                    self.url_for_humans(), len(batch) + len(self._pending), exc)
                    else:
                        log.debug("event log still unavailable (attempt %d): %s", attempts, exc)
                    with self._cond:
                        if self._closing and attempts >= 3:
                            # Closing with storage down: give up loudly rather than hang forever.
                            self._deliver(batch, [exc] * len(batch))
                            break
                        self._cond.wait(delay)
                    delay = min(self.retry_max_s, delay * 2)
                    continue
                except LogWriteError as exc:
                    log.error("event log %s: batch of %d records not written: %s", self.url_for_humans(), len(batch), exc)
                    self._deliver(batch, [exc] * len(batch))
                    break
                except Exception as exc:  # a backend bug must not strand awaiting callers
                    log.exception("event log %s: unexpected writer failure", self.url_for_humans())
                    error = LogWriteError(f"event log writer failed: {exc!r}")
                    self._deliver(batch, [error] * len(batch))
                    break
                else:
                    if attempts:
                        log.warning("event log %s available again after %d attempts", self.url_for_humans(), attempts)
                    self._deliver(batch, records)
                    self._announce(records[-1].seq)
                    self._after_commit(records)
                    break

    def _after_commit(self, records: list[LogRecord]) -> None:
        if self._signer is None or not records:
            return
        if self._unsigned == 0:
            self._unsigned_since = time.monotonic()
        self._unsigned += len(records)
        self._head = records[-1]
        if self._unsigned >= self._checkpoint_every_records or self._checkpoint_wait() == 0:
            self._checkpoint_safely()

    def _checkpoint_safely(self) -> None:
        try:
            self.checkpoint()
        except EventLogError as exc:  # the next commit or tick tries again
            log.warning("event log %s: checkpoint not written: %s", self.url_for_humans(), exc)

    def _deliver(self, batch: list[_Pending], values: Sequence[Outcome]) -> None:
        with self._cond:
            self._in_flight = 0
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[LogRecord], Outcome]]] = {}
        for item, value in zip(batch, values):
            if item.future is not None and item.loop is not None:  # set together by append_async
                by_loop.setdefault(item.loop, []).append((item.future, value))
        for loop, pairs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, pairs)
            except RuntimeError:  # that loop is closed; nobody is waiting any more
                pass

    def _fail_pending(self, error: Exception) -> None:
        with self._cond:
            leftover = list(self._pending)
            self._pending.clear()
        if leftover:
            self._deliver(leftover, [error] * len(leftover))

    def _announce(self, seq: int) -> None:
        for callback in list(self._listeners):
            try:
                callback(seq)
            except Exception:
                log.exception("event log subscriber failed")

    async def _wait_for_news(self, news: asyncio.Event, poll_s: float) -> None:
        try:
            await asyncio.wait_for(news.wait(), poll_s)
        except TimeoutError:
            pass

    # ---- backend hooks -------------------------------------------------------------------

    @abc.abstractmethod
    def _write_batch(self, batch: list[_Pending]) -> list[LogRecord]:
        """Link `batch` after the stored chain head and commit it in one transaction.

        Called with the write lock held. Raise LogUnavailableError for a
        transient failure (the batch is retried as is) and LogWriteError for a
        permanent one; in both cases nothing of the batch may remain stored.
        """

    @abc.abstractmethod
    def _snapshot(self) -> AbstractContextManager[tuple[ChainHead, Iterator[CheckedRow]]]:
        """One consistent read snapshot: ((head seq, head hash), rows).

        The head is the chain-head marker kept beside the records ((-1, None)
        when it is missing); rows are every stored row as (seq, ts text, kind,
        body json, prev_hash, hash) in seq order.
        """

    @abc.abstractmethod
    def _read(self, since: str | None, until: str | None, kinds: list[str] | None,
              after_seq: int | None, limit: int | None) -> Iterator[LogRecord]:
        ...

    @abc.abstractmethod
    def _count(self, since: str | None, until: str | None, kinds: list[str] | None) -> int:
        ...

    @abc.abstractmethod
    def _last_seq(self) -> int:
        ...

    @abc.abstractmethod
    def _close_storage(self) -> None:
        ...
