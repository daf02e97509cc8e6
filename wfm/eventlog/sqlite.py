"""SQLite backend of the event log: one file, WAL journal, append-only table.

Durability promise: a record is acknowledged (append/append_many return,
append_async resolves) only after the transaction holding it committed. With
the default `synchronous=FULL` the WAL is fsynced at every commit, so an
abrupt kill of the process, an OS crash or a power cut loses nothing that was
acknowledged; records still waiting for their batch (at most
storage.batch_max_records, at most storage.batch_max_delay_ms old) were never
acknowledged and may be lost. `?synchronous=NORMAL` in the URL keeps the
promise for a killed process (the WAL is in the OS cache) but not for a power
cut; benchmarks/events.py measures both.

Tamper evidence: UPDATE and DELETE on `log` are refused by triggers; anyone
who drops the triggers to edit, delete, insert or reorder rows is caught by
`verify()` through the hash chain, and truncating the tail is caught by the
chain-head row in `log_head`, written in the same transaction as the records.

Several processes may append to one file: each transaction starts with
BEGIN IMMEDIATE (the file's write lock) and links after the stored last row,
never after a cached one, so the chain stays single.
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Unpack
from urllib.parse import parse_qs, unquote, urlsplit

from wfm.eventlog.base import (
    ChainHead,
    EventLog,
    EventLogError,
    LogOptions,
    LogRecord,
    LogUnavailableError,
    LogURLError,
    LogWriteError,
    _Pending,
)
from wfm.eventlog.chain import GENESIS_HASH, CheckedRow, link, row_to_record

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SYNC_MODES = ("FULL", "NORMAL", "EXTRA")
_BUSY_TIMEOUT_MS = 10_000

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_ts ON log (ts);
CREATE TABLE IF NOT EXISTS log_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT OR IGNORE INTO log_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}');
CREATE TRIGGER IF NOT EXISTS log_no_update BEFORE UPDATE ON log
BEGIN SELECT RAISE(ABORT, 'event log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS log_no_delete BEFORE DELETE ON log
BEGIN SELECT RAISE(ABORT, 'event log is append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS log_head_forward BEFORE UPDATE ON log_head WHEN NEW.seq < OLD.seq
BEGIN SELECT RAISE(ABORT, 'event log head only moves forward'); END;
CREATE TRIGGER IF NOT EXISTS log_head_no_delete BEFORE DELETE ON log_head
BEGIN SELECT RAISE(ABORT, 'event log head cannot be deleted'); END;
PRAGMA user_version = {SCHEMA_VERSION};
"""

_INSERT = "INSERT INTO log (seq, ts, kind, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)"
_LAST = "SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1"
_SET_HEAD = "UPDATE log_head SET seq = ?, hash = ? WHERE id = 1"
_COLUMNS = "seq, ts, kind, body, prev_hash, hash"
_TRANSIENT = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY"}


def parse_sqlite_url(url: str) -> tuple[Path, str]:
    """`sqlite:///relative/file.sqlite` (relative to cwd) or `sqlite:////abs/file.sqlite`,
    optional `?synchronous=FULL|NORMAL|EXTRA`; returns (path, synchronous)."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc:
        raise LogURLError(f"not a SQLite URL (want sqlite:///path/to/file.sqlite): {url!r}")
    raw = unquote(parts.path)
    if not raw.startswith("/") or raw in ("/", "") or raw == "/:memory:":
        raise LogURLError(f"SQLite event log needs a file path: {url!r}")
    path = Path(raw[1:])  # "/rel/x" -> rel/x (cwd-relative); "//abs/x" -> /abs/x
    query = parse_qs(parts.query)
    unknown = set(query) - {"synchronous"}
    if unknown:
        raise LogURLError(f"unknown SQLite URL option(s) {', '.join(sorted(unknown))} in {url!r}")
    synchronous = query.get("synchronous", ["FULL"])[-1].upper()
    if synchronous not in _SYNC_MODES:
        raise LogURLError(f"synchronous must be one of {', '.join(_SYNC_MODES)}, not {synchronous!r}")
    return path, synchronous


def _describe(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or type(exc).__name__
    return f"{exc} ({name})"


class SQLiteEventLog(EventLog):
    """The event log in one SQLite file (WAL)."""

    def __init__(self, url: str, **options: Unpack[LogOptions]) -> None:
        super().__init__(url, **options)
        self.path, self.synchronous = parse_sqlite_url(url)
        if self.readonly:
            if not self.path.is_file():
                raise EventLogError(f"no event log at {self.path}")
            self._conn = self._connect()
            try:
                tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            except sqlite3.DatabaseError as exc:
                self._conn.close()
                raise EventLogError(f"event log {self.path}: cannot open: {_describe(exc)}") from None
            if "log" not in tables:
                self._conn.close()
                raise EventLogError(f"{self.path} is not an event log (it has no 'log' table)")
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LogWriteError(f"event log {self.path}: cannot create folder {self.path.parent}: {exc.strerror}") from None
        self._conn = self._connect(write=True)
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                self._conn.close()
                raise EventLogError(f"event log {self.path} has schema version {version}; this build knows {SCHEMA_VERSION}: upgrade wfm")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise EventLogError(f"event log {self.path}: cannot open: {_describe(exc)}") from None
        head_seq = self._conn.execute("SELECT seq FROM log_head WHERE id = 1").fetchone()[0]
        last = self._last_seq()
        if head_seq != last:
            log.warning("event log %s: chain head says seq %d but last record is seq %d; run `wfm log verify`",
                        self.path, head_seq, last)
        log.debug("event log %s opened at seq %d (synchronous=%s)", self.path, last, self.synchronous)

    def url_for_humans(self) -> str:
        return str(self.path)

    def _connect(self, write: bool = False) -> sqlite3.Connection:
        try:
            if self.readonly:
                # mode=ro: a verify or export never creates, repairs or re-arms anything.
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000)
            else:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=_BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if write:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    log.warning("event log %s: journal mode is %s, not WAL", self.path, mode)
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            return conn
        except sqlite3.Error as exc:
            raise EventLogError(f"event log {self.path}: cannot open: {_describe(exc)}") from None

    # ---- writing -------------------------------------------------------------------------

    def _write_batch(self, batch: list[_Pending]) -> list[LogRecord]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._classify(exc) from None
        try:
            last = conn.execute(_LAST).fetchone()
            last_seq, last_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
            rows, records = link(batch, last_seq, last_hash)
            conn.executemany(_INSERT, rows)
            conn.execute(_SET_HEAD, (rows[-1][0], rows[-1][5]))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (e.g. SQLITE_FULL aborts the transaction)
            raise self._classify(exc) from None
        return records

    def _classify(self, exc: sqlite3.Error) -> LogWriteError:
        name = getattr(exc, "sqlite_errorname", "")
        message = f"event log {self.path}: write failed, nothing of this batch stored: {_describe(exc)}"
        if name in _TRANSIENT:
            return LogUnavailableError(message)
        return LogWriteError(message)

    # ---- reading -------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[object] = ()) -> Iterator[tuple[Any, ...]]:
        # A fresh connection per read: readers never wait for the writer under WAL.
        conn = self._connect()
        try:
            cursor = conn.execute(sql, params)
            while True:
                rows = cursor.fetchmany(2000)
                if not rows:
                    return
                yield from rows
        except sqlite3.Error as exc:
            raise EventLogError(f"event log {self.path}: read failed: {_describe(exc)}") from None
        finally:
            conn.close()

    @contextmanager
    def _snapshot(self) -> Iterator[tuple[ChainHead, Iterator[CheckedRow]]]:
        # One read transaction: under WAL it sees one committed state, however many writers append meanwhile.
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            row = conn.execute("SELECT seq, hash FROM log_head WHERE id = 1").fetchone() if "log_head" in tables else None
            head: ChainHead = (row[0], row[1]) if row else (-1, None)
            yield head, self._iter_rows(conn.execute(f"SELECT {_COLUMNS} FROM log ORDER BY seq"))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise EventLogError(f"event log {self.path}: read failed: {_describe(exc)}") from None
        finally:
            conn.close()

    def _iter_rows(self, cursor: sqlite3.Cursor) -> Iterator[CheckedRow]:
        try:
            while True:
                rows = cursor.fetchmany(2000)
                if not rows:
                    return
                yield from rows
        except sqlite3.Error as exc:
            raise EventLogError(f"event log {self.path}: read failed: {_describe(exc)}") from None

    @staticmethod
    def _where(since: str | None, until: str | None, kinds: list[str] | None,
               after_seq: int | None = None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if since is not None:
            clauses.append("ts >= ?")
            params.append(since)
        if until is not None:
            clauses.append("ts < ?")
            params.append(until)
        if kinds is not None:
            clauses.append(f"kind IN ({', '.join('?' for _ in kinds)})" if kinds else "0")
            params.extend(kinds)
        if after_seq is not None:
            clauses.append("seq > ?")
            params.append(after_seq)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _read(self, since: str | None, until: str | None, kinds: list[str] | None,
              after_seq: int | None, limit: int | None) -> Iterator[LogRecord]:
        where, params = self._where(since, until, kinds, after_seq)
        if limit is not None:
            where += " ORDER BY seq LIMIT ?"
            params.append(int(limit))
        else:
            where += " ORDER BY seq"
        for row in self._query(f"SELECT {_COLUMNS} FROM log{where}", params):
            yield row_to_record(*row)

    def _count(self, since: str | None, until: str | None, kinds: list[str] | None) -> int:
        where, params = self._where(since, until, kinds)
        count: int = next(self._query(f"SELECT count(*) FROM log{where}", params))[0]
        return count

    def _last_seq(self) -> int:
        row = next(self._query(_LAST), None)
        seq: int = row[0] if row else 0
        return seq

    def _close_storage(self) -> None:
        with self._write_lock:
            try:
                self._conn.close()
            except sqlite3.Error as exc:
                log.warning("event log %s: close failed: %s", self.path, exc)

