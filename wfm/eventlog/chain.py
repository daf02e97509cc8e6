"""The hash chain of the event log: pure functions shared by every backend.

A record's hash is SHA-256 (lower-case hex) over its canonical JSON
`{"body", "kind", "prev_hash", "seq", "ts"}`: keys sorted at every level,
compact separators, UTF-8 with non-ASCII characters written as themselves
(no `\\u` escapes for non-ASCII), `ts` as the UTC instant with microseconds
(`2027-01-04T00:27:00.000000+00:00`). The encoding is msgspec's
(`order="sorted"`); it equals `json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)` except that floats in exponent form are written `1e16`,
not `1e+16`. The first record links to GENESIS_HASH.

Nothing here does I/O: a backend hands rows in, gets records or findings out.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

import msgspec

from wfm.eventlog.records import KINDS, LogRecord, VerifyResult
from wfm.timeutil import NaiveDatetimeError

GENESIS_HASH = "0" * 64

_encoder = msgspec.json.Encoder(order="sorted")
_body_decoder = msgspec.json.Decoder(dict)

#: A stored row: (seq, ts text, kind, body json, prev_hash, hash).
StoredRow = tuple[int, str, str, str, str, str]
#: A row handed to the checker; the body may still be bytes (straight from a driver or a file).
CheckedRow = tuple[int, str, str, str | bytes, str, str]


class Prepared(Protocol):
    """A record ready to be linked: its columns already encoded (wfm.eventlog.base._Pending)."""

    @property
    def kind(self) -> str: ...
    @property
    def body(self) -> dict[str, Any]: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def ts_text(self) -> str: ...
    @property
    def body_json(self) -> bytes: ...


class BodyEncodeError(ValueError):
    """A record body that cannot be stored as canonical JSON."""


def canonical_ts(ts: datetime) -> str:
    """The stored, hashed form of a timestamp: UTC, microseconds, fixed width (sorts as text)."""
    if not isinstance(ts, datetime):
        raise TypeError(f"log record timestamp must be a datetime, not {type(ts).__name__}")
    tz = ts.tzinfo
    if tz is not timezone.utc:
        if tz is None or ts.utcoffset() is None:
            raise NaiveDatetimeError(f"log record timestamp {ts!r} has no UTC offset")
        ts = ts.astimezone(timezone.utc)
    return ts.isoformat(timespec="microseconds")


def parse_canonical_ts(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise NaiveDatetimeError(f"stored timestamp {text!r} has no UTC offset")
    return value


def _check_finite(value: Any, path: str) -> None:
    # NaN/Infinity have no JSON form; msgspec would silently write null and the body would change.
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BodyEncodeError(f"body{path}: non-finite number {value!r} cannot be logged")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_finite(item, f"{path}[{index}]")


def encode_body(body: dict[str, Any]) -> bytes:
    """The canonical JSON of a record body (a JSON object)."""
    if not isinstance(body, dict):
        raise BodyEncodeError(f"record body must be a JSON object, not {type(body).__name__}")
    try:
        data = _encoder.encode(body)
    except (TypeError, msgspec.EncodeError) as exc:
        raise BodyEncodeError(f"record body is not JSON-serialisable: {exc}") from None
    if b"null" in data:  # cheap pre-filter: a non-finite float is encoded as null
        _check_finite(body, "")
    return data


def decode_body(data: bytes | str) -> dict[str, Any]:
    return _body_decoder.decode(data)


_KIND_JSON = {kind: _encoder.encode(kind) for kind in KINDS}


def record_hash(seq: int, ts_text: str, kind: str, body_json: bytes, prev_hash: str) -> str:
    """SHA-256 of the canonical record; `body_json` must already be canonical."""
    # Keys in sorted order: body, kind, prev_hash, seq, ts. The kind, the hex hash and the ISO
    # timestamp need no JSON escaping, so they are spliced in directly (hot path of every append).
    kind_json = _KIND_JSON.get(kind) or _encoder.encode(kind)
    digest = hashlib.sha256(b'{"body":')
    digest.update(body_json)
    digest.update(b',"kind":%b,"prev_hash":"%b","seq":%d,"ts":"%b"}' % (
        kind_json, prev_hash.encode("ascii", "backslashreplace"), seq, ts_text.encode("ascii", "backslashreplace")))
    return digest.hexdigest()


def canonical_record(record: LogRecord) -> bytes:
    """The exact bytes hashed for a record (for auditors re-implementing the check)."""
    return _encoder.encode(
        {
            "seq": record.seq,
            "ts": canonical_ts(record.ts),
            "kind": record.kind,
            "body": record.body,
            "prev_hash": record.prev_hash,
        }
    )


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"record kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


def link(items: Iterable[Prepared], last_seq: int, last_hash: str) -> tuple[list[StoredRow], list[LogRecord]]:
    """Chain prepared items (with .kind, .body, .ts, .ts_text, .body_json) after (last_seq, last_hash).

    Returns the rows to store, (seq, ts text, kind, body json text, prev_hash, hash),
    and the matching records.
    """
    rows: list[StoredRow] = []
    records: list[LogRecord] = []
    seq, prev = last_seq, last_hash
    for item in items:
        seq += 1
        digest = record_hash(seq, item.ts_text, item.kind, item.body_json, prev)
        rows.append((seq, item.ts_text, item.kind, item.body_json.decode("utf-8"), prev, digest))
        records.append(LogRecord(seq=seq, ts=item.ts, kind=item.kind, body=item.body, prev_hash=prev, hash=digest))
        prev = digest
    return rows, records


def row_to_record(seq: int, ts_text: str, kind: str, body_json: str, prev_hash: str, digest: str) -> LogRecord:
    return LogRecord(
        seq=seq, ts=parse_canonical_ts(ts_text), kind=kind, body=decode_body(body_json),
        prev_hash=prev_hash, hash=digest,
    )


class ChainChecker:
    """Walks stored rows in seq order and reports the first record that breaks the chain.

    Feed rows with `check(...)`; it returns None while the chain holds, or the
    VerifyResult naming the first bad record. `finish(head)` checks the tail
    against the chain-head marker the backend keeps (catches a truncated log).
    """

    def __init__(self, anchors: Mapping[int, str] | None = None,
                 signed: Mapping[int, tuple[str, int]] | None = None) -> None:
        self.records = 0
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.anchors = {int(seq): digest.lower() for seq, digest in (anchors or {}).items()}
        # covered seq -> (hash, seq of the checkpoint that signed it); signatures checked by the caller
        self.signed = dict(signed or {})

    def _bad(self, seq: int, reason: str) -> VerifyResult:
        return VerifyResult(ok=False, records=self.records, first_bad_seq=seq, reason=reason,
                            last_hash=self.prev_hash if self.records else None)

    def check(self, seq: int, ts_text: str, kind: str, body_json: str | bytes, prev_hash: str, digest: str) -> VerifyResult | None:
        if seq != self.expected_seq:
            if seq > self.expected_seq:
                missing = self.expected_seq if seq == self.expected_seq + 1 else f"{self.expected_seq}..{seq - 1}"
                return self._bad(self.expected_seq, f"record missing (seq {missing} absent; next stored record is seq {seq})")
            return self._bad(seq, f"out of order: seq {seq} stored after seq {self.expected_seq - 1}")
        if kind not in KINDS:
            return self._bad(seq, f"unknown kind {kind!r}")
        try:
            parse_canonical_ts(ts_text)
        except (ValueError, TypeError) as exc:
            return self._bad(seq, f"bad timestamp {ts_text!r}: {exc}")
        try:
            canonical_body = _encoder.encode(decode_body(body_json))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return self._bad(seq, f"body is not a JSON object: {exc}")
        if prev_hash != self.prev_hash:
            return self._bad(
                seq,
                f"prev_hash does not match the hash of seq {seq - 1}" if seq > 1 else "first record does not start from the genesis hash",
            )
        if record_hash(seq, ts_text, kind, canonical_body, prev_hash) != digest:
            return self._bad(seq, "hash mismatch: the record's content was altered")
        anchored = self.anchors.get(seq)
        if anchored is not None and anchored != digest:
            return self._bad(seq, "hash differs from its external anchor: the chain was rewritten from here or earlier")
        signed = self.signed.get(seq)
        if signed is not None and signed[0] != digest:
            return self._bad(seq, f"hash differs from the one signed by the checkpoint at seq {signed[1]}: "
                                  "the chain was rewritten (hashes recomputed) from here or earlier")
        self.records += 1
        self.expected_seq = seq + 1
        self.prev_hash = digest
        return None

    def finish(self, head_seq: int | None, head_hash: str | None) -> VerifyResult:
        last_seq = self.expected_seq - 1
        beyond = [seq for seq in self.anchors if seq > last_seq]
        if beyond:
            return self._bad(last_seq + 1, f"record missing: anchored seq {min(beyond)} is no longer in the log "
                                           f"(it ends at seq {last_seq}): the tail was cut")
        beyond = [seq for seq in self.signed if seq > last_seq]
        if beyond:
            return self._bad(last_seq + 1, f"record missing: seq {min(beyond)} was signed by a checkpoint "
                                           f"but the log ends at seq {last_seq}: the tail was cut")
        if head_seq == -1:
            return self._bad(last_seq, "chain-head marker missing: the head row or table was removed, a truncated tail cannot be ruled out")
        if head_seq is not None and head_seq != last_seq:
            if head_seq > last_seq:
                return self._bad(last_seq + 1, f"record missing: the log was truncated (chain head is seq {head_seq}, last stored record is seq {last_seq})")
            return self._bad(head_seq + 1, f"record added behind the chain head (head is seq {head_seq})")
        if head_hash is not None and head_seq and head_hash != self.prev_hash:
            return self._bad(last_seq, "hash does not match the chain head marker")
        return VerifyResult(ok=True, records=self.records, first_bad_seq=None, reason="ok",
                            last_hash=self.prev_hash if self.records else None)


def verify_rows(rows: Iterable[CheckedRow], head_seq: int | None = None, head_hash: str | None = None,
                anchors: Mapping[int, str] | None = None) -> VerifyResult:
    """Verify (seq, ts, kind, body, prev_hash, hash) rows given in seq order."""
    checker = ChainChecker(anchors)
    for row in rows:
        finding = checker.check(*row)
        if finding is not None:
            return finding
    return checker.finish(head_seq, head_hash)
