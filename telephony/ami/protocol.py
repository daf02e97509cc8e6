"""Sans-I/O AMI framing and parsing: bytes in, messages out; no sockets, no asyncio.

An AMI stream is the one-line banner ``Asterisk Call Manager/x.y`` followed by
messages of ``Key: Value`` lines, each message ended by a blank line
(``\\r\\n\\r\\n``; bare ``\\n`` line endings are tolerated too). Messages are split
on bytes first and decoded as UTF-8 only once whole, so a character such as
小休 split across two TCP reads survives. The buffer is bounded: a message
longer than ``max_message_bytes`` is reported once and discarded up to the next
blank line, never buffered without limit. `AmiParser.feed` never raises: every
problem becomes an `AmiError` item in its result.

States of the parser (one table, `_TRANSITIONS`):

    START ──banner/message──► STREAM ──oversized──► DISCARDING ──blank line──► STREAM
"""
from __future__ import annotations

import enum
import re
from typing import final

import msgspec

BANNER_PREFIX = b"Asterisk Call Manager"
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024

_BANNER_LINE = re.compile(rb"Asterisk Call Manager[^\r\n:]*/[^\r\n]*\r?\n")


_TWO_SEPARATORS = re.compile(r": [^\r\n]*: ")  # a line holding ": " twice (a value with ": " in it)


def _find_blank_line(buffer: bytearray, start: int) -> tuple[int, int] | None:
    """(end of the message, start of the next) for the first blank line from `start`, or None.

    A blank line is "\n\n" or "\n\r\n" (so "\r\n\r\n", "\r\n\n" and bare "\n\n" all
    count). Both searches are bytes.find (C speed) and the second is bounded by the
    first, so a buffer is never rescanned past its first message.
    """
    crlf = buffer.find(b"\n\r\n", start)
    bare = buffer.find(b"\n\n", start, crlf + 1 if crlf >= 0 else len(buffer))
    if bare >= 0:
        return bare, bare + 2
    if crlf >= 0:
        return crlf, crlf + 3
    return None


class ParserState(str, enum.Enum):
    START = "start"  # nothing consumed yet: a banner may come
    STREAM = "stream"  # between messages
    DISCARDING = "discarding"  # dropping an oversized message up to its blank line


_TRANSITIONS: dict[ParserState, frozenset[ParserState]] = {
    ParserState.START: frozenset({ParserState.STREAM, ParserState.DISCARDING}),
    ParserState.STREAM: frozenset({ParserState.STREAM, ParserState.DISCARDING}),
    ParserState.DISCARDING: frozenset({ParserState.STREAM, ParserState.DISCARDING}),
}


@final  # the read loops tell the parser's items apart with `type(item) is`
class AmiBanner(msgspec.Struct, frozen=True, gc=False):
    """The greeting line a manager connection starts with, e.g. `Asterisk Call Manager/5.0.1`."""

    text: str
    line: int

    @property
    def version(self) -> str:
        return self.text.rpartition("/")[2]


_SPELLINGS: dict[str, tuple[str, ...]] = {
    # the spellings Asterisk versions (and AMI proxies) use for the same header
    "HoldTime": ("Holdtime", "holdtime"),
    "RingTime": ("Ringtime", "ringtime"),
    "TalkTime": ("Talktime", "talktime"),
    "ActionID": ("ActionId", "Actionid", "actionid"),
    "Uniqueid": ("UniqueID", "UniqueId", "uniqueid"),
    "MemberName": ("Membername", "membername"),
    "PausedReason": ("Pausedreason", "pausedreason"),
    "InCall": ("Incall", "incall"),
    "EventList": ("Eventlist", "eventlist"),
    "Event": ("event",),
    "Response": ("response",),
}


@final
class AmiMessage:
    """One AMI message: its headers in order (repeated keys kept) and its first line number.

    `get` looks a key up as Asterisk spells it, then the spellings other
    versions use (Asterisk 11 writes `Holdtime`, Asterisk 18 `HoldTime`);
    `get_all` is fully case-insensitive. A repeated key answers its first
    value. Treat instances as immutable.
    """

    __slots__ = ("_headers", "_keys", "_values", "fields", "line")
    _headers: tuple[tuple[str, str], ...] | None  # None until asked for, when built from columns
    _keys: list[str]
    _values: list[str]

    def __init__(self, headers: tuple[tuple[str, str], ...], line: int) -> None:
        self._headers = headers
        self.fields: dict[str, str] = dict(reversed(headers))  # exact key -> first value (earlier ones win)
        self.line = line

    @classmethod
    def from_columns(cls, keys: list[str], values: list[str], line: int) -> AmiMessage:
        """The message of headers zip(keys, values) (same lengths); the pairs are built only if asked for."""
        msg = _new_message(cls)
        msg._headers = None
        msg._keys = keys
        msg._values = values
        fields = dict(zip(keys, values))
        if len(fields) != len(keys):  # a repeated key: its first value wins
            fields = dict(zip(reversed(keys), reversed(values)))
        msg.fields = fields
        msg.line = line
        return msg

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every (key, value) in order, repeated keys kept."""
        headers = self._headers
        if headers is None:
            headers = self._headers = tuple(zip(self._keys, self._values))
        return headers

    def get(self, key: str, default: str | None = None) -> str | None:
        fields = self.fields
        value = fields.get(key)
        if value is not None:
            return value
        for spelling in _SPELLINGS.get(key, ()):
            value = fields.get(spelling)
            if value is not None:
                return value
        return default

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeated key (e.g. ChanVariable), in order."""
        wanted = key.lower()
        return [value for name, value in self.headers if name.lower() == wanted]

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AmiMessage) and self.headers == other.headers and self.line == other.line

    def __hash__(self) -> int:
        return hash((self.headers, self.line))

    def __repr__(self) -> str:
        return f"AmiMessage(line={self.line}, headers={self.headers!r})"


_new_message = object.__new__


@final
class AmiError(msgspec.Struct, frozen=True, gc=False):
    """A message that could not be parsed: where it started, why, and a short excerpt."""

    line: int
    reason: str
    excerpt: str = ""


AmiItem = AmiBanner | AmiMessage | AmiError


class AmiProtocolError(Exception):
    """The parser's own error type; raised only by `AmiParser.check_state`, never by `feed`."""


def _excerpt(block: bytes | bytearray, limit: int = 60) -> str:
    text = block[:limit].decode("utf-8", "replace")
    return text.replace("\r", "\\r").replace("\n", "\\n") + ("…" if len(block) > limit else "")


def parse_block(block: bytes | bytearray, line: int) -> AmiMessage | AmiError:
    """One message's bytes (without the final blank line) to an AmiMessage, or the reason it is not one."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        return AmiError(line, f"not UTF-8 (byte {exc.start} of the message)", _excerpt(block))
    return parse_text(text, line)


def parse_text(text: str, line: int) -> AmiMessage | AmiError:
    """One decoded message (without the final blank line) to an AmiMessage, or the reason it is not one."""
    count = text.count("\r\n") + 1
    if (
        text.count(": ") == count  # as many separators as lines, and no line with two: exactly one a line
        and text.count("\n") == count - 1
        and text.count("\r") == count - 1
        and not text.startswith((": ", "Response: Follows"))
        and "\n: " not in text
        and _TWO_SEPARATORS.search(text) is None
    ):
        # fast path, all in C: turn line breaks into separators and pair up the pieces
        parts = text.replace("\r\n", ": ").split(": ")
        keys = parts[::2]
        if ":" not in "".join(keys):  # "Key:x: y" means Key = "x: y", as Asterisk reads it: the careful path
            return AmiMessage(tuple(zip(keys, parts[1::2])), line)
    return _parse_lines(text, line)


def _plain_chunk(text: str, blocks: list[str], limit: int, no_stray_cr: bool) -> bool:
    """Whether a CRLF chunk (`text`: each block + CRLF CRLF, no bare LF) may take the bulk path:
    no stray CR, no banner, no "Response: Follows" output, no block possibly over the size limit."""
    return (
        no_stray_cr
        and "Asterisk Call Manager" not in text
        and "Response: Follows" not in text
        and max(map(len, blocks)) * 4 + 1 <= limit
    )


def _plain_messages(blocks: list[str], line: int) -> tuple[list[AmiMessage], int] | None:
    """Each block as parse_text's fast path reads it, with the line after the last; None as soon
    as a block is not plain "Key: value" lines (the caller then parses the chunk carefully).

    A block is plain when rebuilding it from its split pieces gives it back (so every line holds
    exactly one ": " — line breaks and separators, both two characters, sit where they were),
    and no key is empty or holds ":".
    """
    messages: list[AmiMessage] = []
    append = messages.append
    from_columns = AmiMessage.from_columns
    for block in blocks:
        parts = block.replace("\r\n", ": ").split(": ")
        keys = parts[::2]
        values = parts[1::2]
        if "\r\n".join(map(": ".join, zip(keys, values))) != block or "" in keys or ":" in "".join(keys):
            return None
        append(from_columns(keys, values, line))
        line += len(keys) + 1
    return messages, line


def _parse_lines(text: str, line: int) -> AmiMessage | AmiError:
    """Line-by-line parse: legacy command output, stray carriage returns, precise errors."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    headers: list[tuple[str, str]] = []
    output: list[str] | None = None  # legacy "Response: Follows" command output lines
    for offset, raw in enumerate(text.split("\n")):
        key, sep, value = raw.partition(":")
        if not sep or not key.strip() or "\r" in key:
            if output is not None and raw:
                output.append(raw)
                continue
            if raw == "" and offset == 0:
                return AmiError(line, "empty message", _excerpt(text.encode("utf-8")))
            return AmiError(line + offset, f"line {offset + 1} of the message is not 'Key: value'", _excerpt(text.encode("utf-8")))
        if value[:1] == " ":
            value = value[1:]
        if value[-1:] == "\r":
            value = value[:-1]
        headers.append((key, value))
        if key.lower() == "response" and value == "Follows":
            output = []
    if output:
        headers.extend(("Output", value) for value in output)
    return AmiMessage(tuple(headers), line)


class AmiParser:
    """Incremental AMI parser. `feed(bytes)` returns the items completed by those bytes.

    Never raises on any input; a malformed, undecodable or oversized message is
    returned as `AmiError` and skipped, the messages around it are kept.
    """

    __slots__ = ("_buffer", "_scan_from", "_line", "_state", "max_message_bytes", "messages", "errors")

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, *, first_line: int = 1) -> None:
        if max_message_bytes < 64:
            raise ValueError("max_message_bytes must be at least 64")
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._scan_from = 0  # bytes of the buffer already searched for a blank line
        self._line = first_line  # line number (1-based) where the buffer starts (resume mid-stream: >1)
        self._state = ParserState.START
        self.messages = 0
        self.errors = 0

    @property
    def state(self) -> ParserState:
        return self._state

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _move(self, new: ParserState) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise AmiProtocolError(f"illegal parser transition {self._state.value} -> {new.value}")
        self._state = new

    def check_state(self) -> None:
        """Raise AmiProtocolError if the parser's invariants do not hold (for tests)."""
        if self._state is ParserState.DISCARDING and len(self._buffer) > 3:
            raise AmiProtocolError("discarding parser kept more than the separator tail")
        if len(self._buffer) > self.max_message_bytes + 4:
            raise AmiProtocolError("buffer grew past its bound")

    def feed(self, data: bytes) -> list[AmiItem]:
        """Add received bytes; return every banner, message and error they complete."""
        items: list[AmiItem] = []
        buffer = self._buffer
        appended_at = len(buffer)
        buffer += data
        if self._state is not ParserState.DISCARDING:
            self._feed_complete_crlf(buffer, appended_at, items)
        size = len(buffer)
        pos = 0
        find_blank = _find_blank_line
        while pos < size:
            if self._state is ParserState.DISCARDING:
                found = find_blank(buffer, max(pos, self._scan_from))
                if found is None:
                    keep = max(pos, size - 2)  # a blank line may be split across reads
                    self._line += buffer.count(b"\n", pos, keep)
                    pos = keep
                    self._scan_from = pos
                    break
                self._line += buffer.count(b"\n", pos, found[1])
                pos = self._scan_from = found[1]
                self._move(ParserState.STREAM)
                continue
            if buffer[pos] == 0x41:  # "A": maybe the banner "Asterisk Call Manager/x.y"
                banner = self._banner_at(buffer, pos, min(256, self.max_message_bytes))
                if banner is None:
                    break  # a banner still arriving
                if banner:
                    items.append(AmiBanner(banner.decode("utf-8", "replace").rstrip("\r\n"), self._line))
                    self._line += 1
                    pos += len(banner)
                    self._scan_from = max(self._scan_from, pos)
                    if self._state is ParserState.START:
                        self._move(ParserState.STREAM)
                    continue
            found = find_blank(buffer, max(pos, self._scan_from))
            if found is None:
                if size - pos > self.max_message_bytes:
                    items.append(AmiError(self._line, f"message longer than {self.max_message_bytes} bytes, discarded", _excerpt(bytes(buffer[pos : pos + 60]))))
                    self.errors += 1
                    self._scan_from = pos
                    self._move(ParserState.DISCARDING)
                    continue
                self._scan_from = max(pos, size - 2)
                break
            end, after = found
            line = self._line
            if end - pos > self.max_message_bytes:
                items.append(AmiError(line, f"message longer than {self.max_message_bytes} bytes, discarded", _excerpt(bytes(buffer[pos : pos + 60]))))
                self.errors += 1
            else:
                block = buffer[pos:end]  # a bytearray copy; decoded once whole
                if block[:1] in (b"\r", b"\n"):  # stray line breaks before the message
                    stripped = block.lstrip(b"\r\n")
                    line += block.count(b"\n", 0, len(block) - len(stripped))
                    block = stripped
                if block[-1:] == b"\r":
                    block = block[:-1]
                if block:
                    item = parse_block(block, line)
                    if type(item) is AmiMessage:
                        self.messages += 1
                    else:
                        self.errors += 1
                    items.append(item)
            if self._state is ParserState.START:
                self._move(ParserState.STREAM)
            self._line += buffer.count(b"\n", pos, after)
            pos = self._scan_from = after
        if pos:
            del buffer[:pos]
            self._scan_from = max(0, self._scan_from - pos)
        return items

    def _feed_complete_crlf(self, buffer: bytearray, appended_at: int, items: list[AmiItem]) -> None:
        """Bulk path for the common case: every complete message in the buffer uses CRLF and the
        lot is valid UTF-8. Decode once, split once, parse each; anything else is left to the
        message-by-message loop (which gives the same items, only slower)."""
        last = buffer.rfind(b"\r\n\r\n", max(0, appended_at - 3))
        if last < 0:
            return
        end = last + 4
        lf = buffer.count(b"\n", 0, end)
        if lf != buffer.count(b"\r\n", 0, end):
            return  # a bare \n somewhere: the careful loop frames it
        no_stray_cr = buffer.count(b"\r", 0, end) == lf  # every CR starts a CRLF
        try:
            text = buffer[:end].decode("utf-8")
        except UnicodeDecodeError:
            return  # the careful loop reports the bad message alone
        limit = self.max_message_bytes
        line = self._line
        blocks = text.split("\r\n\r\n")
        # "" — or CR/LFs of a run of blank lines the split paired differently: leave them in the
        # buffer, where the careful loop would have left them
        end -= len(blocks.pop())
        if blocks and _plain_chunk(text, blocks, limit, no_stray_cr):
            plain = _plain_messages(blocks, line)
            if plain is not None:
                messages, self._line = plain
                items.extend(messages)
                self.messages += len(messages)
                if self._state is ParserState.START:
                    self._move(ParserState.STREAM)
                del buffer[:end]
                self._scan_from = 0
                return
        char_pos = 0
        done = 0
        for block in blocks:
            if block[:1] == "A" and block.startswith("Asterisk Call Manager"):
                end = len(text[:char_pos].encode("utf-8"))  # a banner (new connection): the careful loop takes over
                break
            done += 1
            char_pos += len(block) + 4
            lines_here = block.count("\n") + 2
            message_line = line
            size = len(block) + 1 if len(block) * 4 + 1 <= limit else len(block.encode("utf-8")) + 1
            if size > limit:  # as the careful loop: measured and reported with any stray line breaks in front
                items.append(AmiError(message_line, f"message longer than {limit} bytes, discarded", _excerpt(block.encode("utf-8")[:60])))
                self.errors += 1
                line += lines_here
                continue
            if block[:1] in ("\r", "\n"):  # stray line breaks before the message
                stripped = block.lstrip("\r\n")
                message_line += block.count("\n") - stripped.count("\n")
                block = stripped
            if block:
                item = parse_text(block, message_line)
                if type(item) is AmiMessage:
                    self.messages += 1
                else:
                    self.errors += 1
                items.append(item)
            line += lines_here
        self._line = line
        if self._state is ParserState.START and done:
            self._move(ParserState.STREAM)
        del buffer[:end]
        self._scan_from = 0

    @staticmethod
    def _banner_at(buffer: bytearray, pos: int, limit: int) -> bytes | None:
        """The banner line at `pos` (with its line ending), b"" if there is none, None if undecidable yet."""
        head = bytes(buffer[pos : pos + len(BANNER_PREFIX)])
        if not BANNER_PREFIX.startswith(head):
            return b""
        newline = buffer.find(b"\n", pos, pos + limit)
        if newline < 0:
            return None if len(buffer) - pos < limit else b""  # a banner is one short line
        line = bytes(buffer[pos : newline + 1])
        return line if _BANNER_LINE.fullmatch(line) else b""

    def close(self) -> list[AmiError]:
        """End of stream: report a message cut off without its blank line, then reset for a new stream."""
        items: list[AmiError] = []
        if self._state is not ParserState.DISCARDING and self._buffer.strip(b"\r\n"):
            items.append(AmiError(self._line, "message cut off at end of stream (no blank line)", _excerpt(bytes(self._buffer))))
            self.errors += 1
        self._line += self._buffer.count(b"\n")
        self.reset()
        return items

    def reset(self) -> None:
        """Forget buffered bytes: a new connection starts (a banner may come again)."""
        self._buffer.clear()
        self._scan_from = 0
        self._state = ParserState.START
