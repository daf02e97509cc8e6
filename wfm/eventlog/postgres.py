"""PostgreSQL backend of the event log (psycopg 3): one chain shared by many writer processes.

Same records, same hash chain and same `verify()` as the SQLite backend
(wfm/eventlog/chain.py). Selected by a `postgresql://user@host:port/db` URL.

- One chain across processes: every append transaction first locks the
  chain-head row (`SELECT ... FROM wfm_eventlog_head ... FOR UPDATE`), links
  its records after the head it read, inserts them with COPY and moves the
  head, all in one transaction. Writers from any number of processes queue
  on that row lock, so seqs stay dense and every prev_hash links.
- Durability: acknowledged only after COMMIT returned, with the server's own
  `synchronous_commit` (on by default: the WAL is flushed before COMMIT
  returns).
- Tamper evidence: triggers refuse UPDATE, DELETE and TRUNCATE on the log
  and moving the head backwards; whoever drops them is caught by `verify()`.
- Followers: each commit sends `NOTIFY wfm_eventlog, '<last seq>'`; wall
  boards in other processes iterate `follow()`, which LISTENs and reads the
  new records (and polls now and then, so a missed notification only delays).
- Database unavailable: async appends are buffered by the group-commit writer
  and retried with capped backoff until the server is back (refused with
  LogUnavailableError once `max_pending` records wait); synchronous appends
  are refused at once with LogUnavailableError. When the connection breaks
  during COMMIT itself the outcome is unknown; the writer then checks, after
  reconnecting, whether its batch's last hash is stored before writing it
  again, so a batch is never stored twice.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Unpack

import psycopg
from psycopg.rows import TupleRow

from wfm.eventlog.base import (
    ChainHead,
    EventLog,
    EventLogError,
    LogOptions,
    LogRecord,
    LogUnavailableError,
    LogWriteError,
    _Pending,
)
from wfm.eventlog.chain import GENESIS_HASH, CheckedRow, canonical_ts, link, row_to_record

log = logging.getLogger(__name__)

CHANNEL = "wfm_eventlog"
_CONNECT_TIMEOUT_S = 5
_SCHEMA_LOCK = 0x5746_4D4C  # advisory lock key ("WFML"): one process creates the schema

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS wfm_eventlog (
    seq bigint PRIMARY KEY,
    ts timestamptz NOT NULL,
    kind text NOT NULL,
    body text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS wfm_eventlog_ts ON wfm_eventlog (ts);
CREATE TABLE IF NOT EXISTS wfm_eventlog_head (
    id integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO wfm_eventlog_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}') ON CONFLICT (id) DO NOTHING;
CREATE OR REPLACE FUNCTION wfm_eventlog_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event log is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END $$;
CREATE OR REPLACE FUNCTION wfm_eventlog_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq < OLD.seq THEN
        RAISE EXCEPTION 'event log head only moves forward';
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER wfm_eventlog_no_change BEFORE UPDATE OR DELETE ON wfm_eventlog
    FOR EACH ROW EXECUTE FUNCTION wfm_eventlog_refuse();
CREATE OR REPLACE TRIGGER wfm_eventlog_no_truncate BEFORE TRUNCATE ON wfm_eventlog
    FOR EACH STATEMENT EXECUTE FUNCTION wfm_eventlog_refuse();
CREATE OR REPLACE TRIGGER wfm_eventlog_head_forward BEFORE UPDATE ON wfm_eventlog_head
    FOR EACH ROW EXECUTE FUNCTION wfm_eventlog_head_forward();
CREATE OR REPLACE TRIGGER wfm_eventlog_head_no_delete BEFORE DELETE ON wfm_eventlog_head
    FOR EACH ROW EXECUTE FUNCTION wfm_eventlog_refuse();
CREATE OR REPLACE TRIGGER wfm_eventlog_head_no_truncate BEFORE TRUNCATE ON wfm_eventlog_head
    FOR EACH STATEMENT EXECUTE FUNCTION wfm_eventlog_refuse();
"""

_COLUMNS = "seq, ts, kind, body, prev_hash, hash"
_LOCK_HEAD = "SELECT seq, hash FROM wfm_eventlog_head WHERE id = 1 FOR UPDATE"
_COPY = f"COPY wfm_eventlog ({_COLUMNS}) FROM STDIN"
# Move the head and announce it in one round trip; the NOTIFY is delivered at COMMIT.
_SET_HEAD_AND_NOTIFY = (
    "WITH head AS (UPDATE wfm_eventlog_head SET seq = %s, hash = %s WHERE id = 1 RETURNING seq) "
    "SELECT pg_notify(%s, seq::text) FROM head"
)
_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError)


def mask_url(url: str) -> str:
    """The URL with its password (user:PASSWORD@ or ?password=) masked."""
    from wfm.config import redact_url

    return redact_url(url)


class PostgresEventLog(EventLog):
    """The event log in a PostgreSQL database (tables wfm_eventlog and wfm_eventlog_head)."""

    def __init__(self, url: str, **options: Unpack[LogOptions]) -> None:
        super().__init__(url, **options)
        self._masked = mask_url(url)
        self._conn: psycopg.Connection | None = None
        self._in_doubt: tuple[list[_Pending], int, str, list[LogRecord]] | None = None
        try:
            with self._connect() as conn:
                found = conn.execute("SELECT to_regclass('wfm_eventlog') IS NOT NULL").fetchone()
                if found is None or not found[0]:
                    if self.readonly:
                        raise EventLogError(f"no event log in {self._masked} (table wfm_eventlog is missing)")
                    with conn.transaction():
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                        conn.execute(_SCHEMA)
        except psycopg.Error as exc:
            raise EventLogError(f"event log {self._masked}: cannot open: {_one_line(exc)}") from None
        log.debug("event log %s opened at seq %d", self._masked, self._last_seq())

    def url_for_humans(self) -> str:
        return self._masked

    def _connect(self, autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=autocommit, connect_timeout=_CONNECT_TIMEOUT_S)

    # ---- writing -------------------------------------------------------------------------

    def _writer_conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            try:
                self._conn = self._connect(autocommit=False)
            except psycopg.Error as exc:
                self._conn = None
                raise LogUnavailableError(f"event log {self._masked} unreachable: {_one_line(exc)}") from None
        return self._conn

    def _drop_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None

    def _write_batch(self, batch: list[_Pending]) -> list[LogRecord]:
        conn = self._writer_conn()
        if self._in_doubt is not None:
            doubt_batch, last_seq, last_hash, records = self._in_doubt
            if doubt_batch is batch:
                try:
                    row = conn.execute("SELECT hash FROM wfm_eventlog WHERE seq = %s", (last_seq,)).fetchone()
                    conn.rollback()
                except _TRANSIENT as exc:
                    self._drop_conn()
                    raise LogUnavailableError(f"event log {self._masked} unreachable: {_one_line(exc)}") from None
                self._in_doubt = None
                if row is not None and row[0] == last_hash:
                    log.warning("event log %s: batch ending at seq %d had committed before the connection broke",
                                self._masked, last_seq)
                    return records
            else:
                self._in_doubt = None
        committing = False
        try:
            head = conn.execute(_LOCK_HEAD).fetchone()
            if head is None:
                raise LogWriteError(f"event log {self._masked}: chain-head row is missing; run `wfm log verify`")
            rows, records = link(batch, head[0], head[1])
            with conn.cursor() as cur:
                with cur.copy(_COPY) as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute(_SET_HEAD_AND_NOTIFY, (rows[-1][0], rows[-1][5], CHANNEL))
            committing = True
            conn.commit()
        except _TRANSIENT as exc:
            if committing:
                self._in_doubt = (batch, rows[-1][0], rows[-1][5], records)
            self._drop_conn()
            raise LogUnavailableError(f"event log {self._masked}: write interrupted, retrying: {_one_line(exc)}") from None
        except psycopg.Error as exc:
            try:
                conn.rollback()
            except psycopg.Error:
                self._drop_conn()
            raise LogWriteError(f"event log {self._masked}: write failed, nothing of this batch stored: {_one_line(exc)}") from None
        except LogWriteError:
            conn.rollback()
            raise
        return records

    # ---- reading -------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[object] = (), name: str | None = None) -> Iterator[tuple[Any, ...]]:
        try:
            conn = self._connect(autocommit=name is None)
        except psycopg.Error as exc:
            raise LogUnavailableError(f"event log {self._masked} unreachable: {_one_line(exc)}") from None
        try:
            with conn:
                # A named (server-side) cursor streams big exports instead of loading them whole.
                cursor = conn.cursor(name=name) if name else conn.cursor()
                cursor.execute(sql, params)
                while True:
                    rows = cursor.fetchmany(2000)
                    if not rows:
                        return
                    yield from rows
        except psycopg.Error as exc:
            raise EventLogError(f"event log {self._masked}: read failed: {_one_line(exc)}") from None

    @contextmanager
    def _snapshot(self) -> Iterator[tuple[ChainHead, Iterator[CheckedRow]]]:
        # REPEATABLE READ: head and rows from one snapshot while other processes keep appending.
        try:
            conn = self._connect(autocommit=False)
        except psycopg.Error as exc:
            raise LogUnavailableError(f"event log {self._masked} unreachable: {_one_line(exc)}") from None
        try:
            with conn:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                found = conn.execute("SELECT to_regclass('wfm_eventlog_head') IS NOT NULL").fetchone()
                exists = found is not None and found[0]
                row = conn.execute("SELECT seq, hash FROM wfm_eventlog_head WHERE id = 1").fetchone() if exists else None
                head: ChainHead = (row[0], row[1]) if row else (-1, None)
                cursor = conn.cursor(name="wfm_eventlog_verify")
                cursor.execute(f"SELECT {_COLUMNS} FROM wfm_eventlog ORDER BY seq")
                yield head, self._iter_rows(cursor)
        except psycopg.Error as exc:
            raise EventLogError(f"event log {self._masked}: read failed: {_one_line(exc)}") from None

    def _iter_rows(self, cursor: psycopg.ServerCursor[TupleRow]) -> Iterator[CheckedRow]:
        try:
            while True:
                rows = cursor.fetchmany(2000)
                if not rows:
                    return
                for seq, ts, kind, body, prev_hash, digest in rows:
                    yield seq, canonical_ts(ts), kind, body, prev_hash, digest
        except psycopg.Error as exc:
            raise EventLogError(f"event log {self._masked}: read failed: {_one_line(exc)}") from None

    @staticmethod
    def _where(since: str | None, until: str | None, kinds: list[str] | None,
               after_seq: int | None = None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if since is not None:
            clauses.append("ts >= %s::timestamptz")
            params.append(since)
        if until is not None:
            clauses.append("ts < %s::timestamptz")
            params.append(until)
        if kinds is not None:
            clauses.append("kind = ANY(%s)")
            params.append(list(kinds))
        if after_seq is not None:
            clauses.append("seq > %s")
            params.append(after_seq)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _read(self, since: str | None, until: str | None, kinds: list[str] | None,
              after_seq: int | None, limit: int | None) -> Iterator[LogRecord]:
        where, params = self._where(since, until, kinds, after_seq)
        where += " ORDER BY seq"
        if limit is not None:
            where += " LIMIT %s"
            params.append(int(limit))
        for seq, ts, kind, body, prev_hash, digest in self._query(
                f"SELECT {_COLUMNS} FROM wfm_eventlog{where}", params, name="wfm_eventlog_read"):
            yield row_to_record(seq, canonical_ts(ts), kind, body, prev_hash, digest)

    def _count(self, since: str | None, until: str | None, kinds: list[str] | None) -> int:
        where, params = self._where(since, until, kinds)
        count: int = next(self._query(f"SELECT count(*) FROM wfm_eventlog{where}", params))[0]
        return count

    def _last_seq(self) -> int:
        row = next(self._query("SELECT max(seq) FROM wfm_eventlog"), None)
        seq: int = row[0] if row and row[0] is not None else 0
        return seq

    async def follow(self, after_seq: int | None = None, poll_s: float = 5.0) -> AsyncIterator[LogRecord]:
        """Yield records committed by any process after `after_seq` (default: from now on).

        LISTENs on the `wfm_eventlog` channel; a notification (or `poll_s`
        without one) triggers a read of everything after the last record
        yielded, so nothing is skipped even if a notification was missed. A
        lost connection is retried with backoff and resumes where it stopped.
        """
        last = await asyncio.to_thread(self.last_seq) if after_seq is None else after_seq
        delay = self.retry_initial_s
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
            except psycopg.OperationalError as exc:
                log.warning("event log %s: follow cannot connect, retrying in %.1f s: %s", self._masked, delay, _one_line(exc))
                await asyncio.sleep(delay)
                delay = min(self.retry_max_s, delay * 2)
                continue
            delay = self.retry_initial_s
            try:
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    while True:
                        cursor = await conn.execute(
                            f"SELECT {_COLUMNS} FROM wfm_eventlog WHERE seq > %s ORDER BY seq LIMIT 5000", (last,))
                        rows = await cursor.fetchall()
                        for seq, ts, kind, body, prev_hash, digest in rows:
                            last = seq
                            yield row_to_record(seq, canonical_ts(ts), kind, body, prev_hash, digest)
                        if len(rows) == 5000:
                            continue
                        async for _ in conn.notifies(timeout=poll_s, stop_after=1):
                            pass
            except psycopg.OperationalError as exc:
                log.warning("event log %s: follow lost its connection, reconnecting: %s", self._masked, _one_line(exc))
                await asyncio.sleep(delay)

    def _close_storage(self) -> None:
        with self._write_lock:
            self._drop_conn()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
