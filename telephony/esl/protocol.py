"""Sans-I/O FreeSWITCH event socket (ESL, inbound mode): bytes in, messages out.

Framing (FreeSWITCH mod_event_socket): a message is a block of `Key: Value`
lines ended by a blank line; when the block has `Content-Length: N`, exactly
N body bytes follow. `Content-Type` says what the body is:

    auth/request           the server asks for `auth <password>`
    command/reply          `Reply-Text: +OK ...` / `-ERR ...` (no body)
    api/response           the body is the API command's output
    text/event-plain       the body is an event: URL-encoded `Key: Value` lines,
                           a blank line, and its own Content-Length body if any
    text/disconnect-notice the server is closing the socket
    text/rude-rejection    the server refused the connection (ACL)

Messages are split on bytes and decoded (UTF-8, then URL-decoding of event
header values) only once whole, so a 小休 cut across reads survives. Buffers
are bounded; `feed` never raises: a bad message becomes an `EslError` with
the line it started on, and the parser resynchronises at the next blank line.

Parser states (one table, `_TRANSITIONS`):

    HEADERS ──Content-Length>0──► BODY ──N bytes──► HEADERS
    HEADERS ──oversized block───► DISCARDING ──blank line──► HEADERS
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_SPLIT = re.compile(r"\r?\n")


class ParserState(str, enum.Enum):
    HEADERS = "headers"
    BODY = "body"
    DISCARDING = "discarding"


_TRANSITIONS: dict[ParserState, frozenset[ParserState]] = {
    ParserState.HEADERS: frozenset({ParserState.HEADERS, ParserState.BODY, ParserState.DISCARDING}),
    ParserState.BODY: frozenset({ParserState.HEADERS}),
    ParserState.DISCARDING: frozenset({ParserState.HEADERS, ParserState.DISCARDING}),
}


@dataclass(frozen=True, slots=True)
class EslMessage:
    """One framed message: outer headers (case-insensitive `get`), body bytes, first line number."""

    headers: tuple[tuple[str, str], ...]
    body: bytes
    line: int
    fields: dict[str, str] = field(compare=False, repr=False)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key.lower(), default)

    @property
    def content_type(self) -> str:
        return self.fields.get("content-type", "")

    @property
    def reply_text(self) -> str | None:
        return self.fields.get("reply-text")

    def body_text(self) -> str:
        return self.body.decode("utf-8")


@dataclass(frozen=True, slots=True)
class EslEvent:
    """A `text/event-plain` event: URL-decoded headers (exact-case `get`), its own body, line."""

    headers: dict[str, str]
    body: str
    line: int

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.headers.get(key, default)

    @property
    def name(self) -> str:
        return self.headers.get("Event-Name", "")

    @property
    def subclass(self) -> str:
        return self.headers.get("Event-Subclass", "")


@dataclass(frozen=True, slots=True)
class EslError:
    """A message that could not be read, where it started, and why."""

    line: int
    reason: str


EslItem = EslMessage | EslEvent | EslError


def _excerpt(data: bytes, limit: int = 60) -> str:
    text = data[:limit].decode("utf-8", "replace").replace("\r", "\\r").replace("\n", "\\n")
    return text + ("…" if len(data) > limit else "")


def _header_lines(text: str) -> list[tuple[str, str]] | str:
    """`Key: Value` lines → pairs, or the reason they are not headers."""
    pairs = []
    for raw in (text.split("\n") if "\r" not in text else _LINE_SPLIT.split(text)):
        if not raw:
            continue
        key, sep, value = raw.partition(":")
        if not sep or not key or " " in key or "\t" in key:
            return f"not a header line: {raw[:60]!r}"
        pairs.append((key, value[1:] if value[:1] == " " else value))
    return pairs


def parse_event_body(body: bytes, line: int) -> EslEvent | EslError:
    """The body of a text/event-plain message → an event with URL-decoded header values."""
    match = _BLANK_LINE.search(body)
    head, rest = (body[: match.start()], body[match.end():]) if match else (body, b"")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return EslError(line, f"event headers are not UTF-8 ({exc.reason} at byte {exc.start})")
    pairs = _header_lines(text)
    if isinstance(pairs, str):
        return EslError(line, f"event: {pairs}")
    headers: dict[str, str] = {}
    try:
        for key, value in pairs:
            if key not in headers:
                headers[key] = unquote(value, errors="strict") if "%" in value else value
    except UnicodeDecodeError:
        return EslError(line, "event header value is not URL-encoded UTF-8")
    if "Event-Name" not in headers:
        return EslError(line, "event without Event-Name")
    inner = rest
    length_text = headers.get("Content-Length")
    if length_text is not None:
        if not length_text.isdigit():
            return EslError(line, f"event Content-Length is not a number: {length_text!r}")
        if len(rest) < int(length_text):
            return EslError(line, f"event body truncated ({len(rest)} of {length_text} bytes)")
        inner = rest[: int(length_text)]
    try:
        text_body = inner.decode("utf-8")
    except UnicodeDecodeError as exc:
        return EslError(line, f"event body is not UTF-8 ({exc.reason})")
    return EslEvent(headers, text_body, line)


class EslParser:
    """Incremental ESL framing; `feed(bytes)` → messages, events and errors in stream order."""

    def __init__(self, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self._buffer = bytearray()
        self._state = ParserState.HEADERS
        self._line = 1  # line number of the first byte in the buffer
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._pending: tuple[tuple[tuple[str, str], ...], dict[str, str], int, int] | None = None

    @property
    def state(self) -> ParserState:
        return self._state

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _move(self, new: ParserState) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise AssertionError(f"ESL parser: illegal transition {self._state} -> {new}")
        self._state = new

    def _consume(self, count: int) -> bytes:
        taken = bytes(self._buffer[:count])
        del self._buffer[:count]
        self._line += taken.count(b"\n")
        return taken

    def feed(self, data: bytes) -> list[EslItem]:
        self._buffer += data
        out: list[EslItem] = []
        while True:
            if self._state is ParserState.BODY:
                assert self._pending is not None
                headers, fields, line, length = self._pending
                if len(self._buffer) < length:
                    return out
                body = self._consume(length)
                self._pending = None
                self._move(ParserState.HEADERS)
                out.append(self._finish(headers, fields, body, line))
                continue
            # skip blank lines between messages (FreeSWITCH never sends them, captures may)
            while self._state is ParserState.HEADERS and (self._buffer.startswith(b"\n") or self._buffer.startswith(b"\r\n")):
                self._consume(1 if self._buffer.startswith(b"\n") else 2)
            match = _BLANK_LINE.search(self._buffer)
            if match is None:
                if len(self._buffer) > self._max_header:
                    if self._state is not ParserState.DISCARDING:
                        out.append(EslError(self._line, f"header block longer than {self._max_header} bytes: {_excerpt(bytes(self._buffer))}"))
                        self._move(ParserState.DISCARDING)
                    keep = 3  # a blank line may straddle the cut
                    self._consume(len(self._buffer) - keep)
                return out
            line = self._line
            block = self._consume(match.end())[: match.start()]
            if self._state is ParserState.DISCARDING:
                self._move(ParserState.HEADERS)
                continue
            item = self._headers(block, line)
            if isinstance(item, EslError):
                out.append(item)
                continue
            headers, fields = item
            length_text = fields.get("content-length")
            if length_text is None:
                out.append(self._finish(headers, fields, b"", line))
                continue
            if not length_text.isdigit():
                out.append(EslError(line, f"Content-Length is not a number: {length_text!r}"))
                continue
            length = int(length_text)
            if length > self._max_body:
                out.append(EslError(line, f"Content-Length {length} over the {self._max_body}-byte limit"))
                self._move(ParserState.DISCARDING)
                continue
            if length == 0:
                out.append(self._finish(headers, fields, b"", line))
                continue
            self._pending = (headers, fields, line, length)
            self._move(ParserState.BODY)

    @staticmethod
    def _headers(block: bytes, line: int) -> tuple[tuple[tuple[str, str], ...], dict[str, str]] | EslError:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:
            return EslError(line, f"headers are not UTF-8 ({exc.reason} at byte {exc.start})")
        pairs = _header_lines(text)
        if isinstance(pairs, str):
            return EslError(line, pairs)
        fields: dict[str, str] = {}
        for key, value in pairs:
            fields.setdefault(key.lower(), value)
        return tuple(pairs), fields

    @staticmethod
    def _finish(headers, fields, body: bytes, line: int) -> EslItem:
        if fields.get("content-type") == "text/event-plain":
            return parse_event_body(body, line)
        return EslMessage(headers, body, line, fields)

    def close(self) -> list[EslError]:
        """End of stream: a message cut off mid-way is reported once."""
        out: list[EslError] = []
        if self._state is ParserState.BODY and self._pending is not None:
            _, _, line, length = self._pending
            out.append(EslError(line, f"message body cut off ({len(self._buffer)} of {length} bytes)"))
        elif self._buffer.strip():
            out.append(EslError(self._line, f"message cut off: {_excerpt(bytes(self._buffer))}"))
        self.reset()
        return out

    def reset(self) -> None:
        self._buffer.clear()
        self._pending = None
        self._state = ParserState.HEADERS


def encode_command(command: str) -> bytes:
    """A client command (`auth …`, `api …`, `event plain …`): one line and a blank line."""
    if "\n" in command or "\r" in command:
        raise ValueError("an ESL command is a single line")
    return command.encode("utf-8") + b"\n\n"
