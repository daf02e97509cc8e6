"""The tamper-evident event log (floor rule L1, 话务日志不得篡改).

Every floor event, decision, PBX action and audit entry is appended to a hash
chain; `verify()` names the first record that was edited, deleted, inserted
or moved. Open one with `open_log(url)`:

- `sqlite:///data/wfm.sqlite` (relative to the working directory) or
  `sqlite:////var/lib/wfm/wfm.sqlite` (absolute); parent folders are created;
- `postgresql://user@host:5432/dbname` for several writer processes.

    log = open_log(config.storage.url, batch_max_records=config.storage.batch_max_records,
                   batch_max_delay_ms=config.storage.batch_max_delay_ms)
    await log.append_async("event", event_body(event), event.ts)
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from wfm.wire import to_builtins

from wfm.eventlog.base import (
    KINDS,
    EventLog,
    EventLogError,
    LogClosedError,
    LogOptions,
    LogRecord,
    LogUnavailableError,
    LogURLError,
    LogWriteError,
    VerifyResult,
)

if TYPE_CHECKING:
    from wfm.config import Config
    from wfm.decisions import Output
    from wfm.events import Event

__all__ = [
    "KINDS", "EventLog", "EventLogError", "LogClosedError", "LogRecord", "LogURLError",
    "LogUnavailableError", "LogWriteError", "VerifyResult",
    "open_log", "open_log_from_config", "event_body", "decision_body",
    "log_event", "log_decision", "log_event_async", "log_decision_async",
]


def open_log(url: str, *, batch_max_records: int = 500, batch_max_delay_ms: float = 5.0,
             max_pending: int | None = None, readonly: bool = False) -> EventLog:
    """Open (creating if needed) the event log at `url` and resume its chain.

    `readonly=True` opens an existing log without creating or changing
    anything (for `wfm log verify`, exports and wall boards); a missing log
    then raises EventLogError.
    """
    options: LogOptions = {"batch_max_records": batch_max_records, "batch_max_delay_ms": batch_max_delay_ms,
                           "max_pending": max_pending, "readonly": readonly}
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from wfm.eventlog.sqlite import SQLiteEventLog

        return SQLiteEventLog(url, **options)
    if scheme in ("postgresql", "postgres"):
        from wfm.eventlog.postgres import PostgresEventLog

        return PostgresEventLog(url, **options)
    raise LogURLError(f"unsupported event log URL {url!r}: use sqlite:///path.sqlite or postgresql://...")


def open_log_from_config(config: Config, url: str | None = None, *, readonly: bool = False) -> EventLog:
    """Open the log named by `storage.url` (or `url`) with the config's batching settings.

    A writable log signs checkpoints when a signing key is configured
    (storage.signing_key_env / storage.signing_key_file); a key that cannot be
    read raises EventLogError naming it.
    """
    from wfm.eventlog.signing import SigningKeyError, load_signer

    storage = config.storage
    signer = None
    if not readonly:
        try:
            signer = load_signer(storage.signing_key_file, storage.signing_key_env)
        except SigningKeyError as exc:
            raise EventLogError(f"storage.signing_key: {exc}") from None
    log = open_log(url or storage.url, batch_max_records=storage.batch_max_records,
                   batch_max_delay_ms=storage.batch_max_delay_ms, readonly=readonly)
    if signer is not None:
        log.sign_checkpoints(signer, every_records=storage.checkpoint_every_records,
                             every_s=storage.checkpoint_every_s)
    return log


event_body = to_builtins  # a §1 event as a record body, exactly its JSON-lines object
decision_body = to_builtins  # a §2 decision, violation or alert as a record body


def log_event(log: EventLog, event: Event) -> LogRecord:
    """Append a §1 event synchronously, stamped with the event's own ts."""
    return log.append("event", event_body(event), event.ts)


def log_decision(log: EventLog, output: Output) -> LogRecord:
    """Append a §2 output synchronously, stamped with its ts."""
    return log.append("decision", decision_body(output), output.ts)


async def log_event_async(log: EventLog, event: Event) -> LogRecord:
    return await log.append_async("event", event_body(event), event.ts)


async def log_decision_async(log: EventLog, output: Output) -> LogRecord:
    return await log.append_async("decision", decision_body(output), output.ts)


