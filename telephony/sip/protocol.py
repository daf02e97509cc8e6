"""Sans-I/O SIP messages (RFC 3261): parse requests/responses from datagrams or a stream, build requests.

`SipParser` frames a byte stream by Content-Length (TCP: several messages may
arrive in one read, one message may span reads) and `parse_datagram` parses one
UDP datagram. Header names are matched case-insensitively and compact forms
(`i`, `f`, `t`, `v`, `m`, `l`, `c`, `o`, `u`, `k`) are expanded. A message whose body
is shorter than its Content-Length is reported as `SipError` ("cut off"),
never delivered half. Nothing here raises on any bytes.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length",
           "c": "content-type", "o": "event", "u": "allow-events", "k": "supported", "s": "subject", "e": "content-encoding"}
CANONICAL = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate", "proxy-authenticate": "Proxy-Authenticate",
             "www-authorization": "WWW-Authorization", "proxy-authorization": "Proxy-Authorization"}
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024
_STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3})(?: (.*))?$")
_REQUEST_LINE = re.compile(r"^([A-Za-z]+) (\S+) SIP/2\.0$")
_URI_USER = re.compile(r"sips?:([^@;>?\s]+)@")
_TAG = re.compile(r";\s*tag=([^;>\s,]+)", re.I)


def canonical_name(name: str) -> str:
    lowered = name.strip().lower()
    lowered = COMPACT.get(lowered, lowered)
    return CANONICAL.get(lowered) or "-".join(part.capitalize() for part in lowered.split("-"))


@dataclass(frozen=True)
class SipMessage:
    """A request (method set) or response (status set): start line, headers in order, body bytes."""

    start_line: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    line: int = 1  # first line of the message in its stream or capture
    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str = ""
    _index: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, value in self.headers:
            self._index.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._index.get(canonical_name(name).lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._index.get(canonical_name(name).lower(), ()))

    @property
    def is_request(self) -> bool:
        return self.method is not None

    @property
    def call_id(self) -> str | None:
        return self.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str] | None:
        value = self.get("CSeq")
        if not value:
            return None
        number, _, method = value.strip().partition(" ")
        return (int(number), method.strip()) if number.isdigit() else None


@dataclass(frozen=True)
class SipError:
    """Bytes that are not a SIP message (or one cut off): where and why.

    `partial` holds the message without its body when only the body was cut
    off (a truncated UDP NOTIFY), so the UA can still answer it.
    """

    line: int
    reason: str
    partial: SipMessage | None = None


def uri_user(value: str | None) -> str | None:
    """The user part of the first SIP URI in a header value or URI (`<sip:1001@pbx>;tag=x` → `1001`)."""
    if not value:
        return None
    match = _URI_USER.search(value)
    return match.group(1) if match else None


def tag_of(value: str | None) -> str | None:
    if not value:
        return None
    match = _TAG.search(value)
    return match.group(1) if match else None


def _parse_head(head: bytes, line: int) -> tuple[str, list[tuple[str, str]]] | SipError:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return SipError(line, f"header not UTF-8 (byte {exc.start})")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    headers: list[tuple[str, str]] = []
    for offset, raw in enumerate(lines[1:], start=1):
        if not raw:
            continue
        if raw[0] in " \t" and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, value + " " + raw.strip())
            continue
        name, sep, value = raw.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            return SipError(line + offset, f"header line {offset + 1} is not 'Name: value'")
        headers.append((canonical_name(name), value.strip()))
    return start, headers


def build_message(start: str, headers: list[tuple[str, str]], body: bytes, line: int) -> SipMessage | SipError:
    status_match = _STATUS_LINE.match(start)
    if status_match:
        return SipMessage(start, tuple(headers), body, line, status=int(status_match.group(1)), reason=status_match.group(2) or "")
    request_match = _REQUEST_LINE.match(start)
    if request_match:
        return SipMessage(start, tuple(headers), body, line, method=request_match.group(1).upper(), uri=request_match.group(2))
    return SipError(line, f"not a SIP start line: {start[:60]!r}")


def _content_length(headers: list[tuple[str, str]]) -> int | None | SipError:
    for name, value in headers:
        if name == "Content-Length":
            try:
                length = int(value)
            except ValueError:
                return SipError(0, f"Content-Length is not a number: {value!r}")
            return length if length >= 0 else SipError(0, "negative Content-Length")
    return None


def parse_datagram(data: bytes, line: int = 1) -> SipMessage | SipError:
    """One UDP datagram → one message; a body shorter than Content-Length is an error (cut off)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    if not head.strip():
        return SipError(line, "empty datagram")
    parsed = _parse_head(head, line)
    if isinstance(parsed, SipError):
        return parsed
    start, headers = parsed
    length = _content_length(headers)
    if isinstance(length, SipError):
        return SipError(line, length.reason)
    if length is not None:
        if len(body) < length:
            partial = build_message(start, headers, b"", line)
            return SipError(line, f"message cut off mid-body ({len(body)} of {length} bytes)",
                            partial if isinstance(partial, SipMessage) else None)
        body = body[:length]
    return build_message(start, headers, body, line)


class SipParser:
    """Stream framing by Content-Length (TCP, or a capture file). `feed` never raises."""

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, *, first_line: int = 1) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._line = first_line

    def feed(self, data: bytes) -> list[SipMessage | SipError]:
        items: list[SipMessage | SipError] = []
        buffer = self._buffer
        buffer += data
        while True:
            # keep-alive CRLFs (RFC 5626) between messages
            stripped = 0
            while stripped < len(buffer) and buffer[stripped] in (0x0D, 0x0A):
                stripped += 1
            if stripped:
                self._line += buffer.count(b"\n", 0, stripped)
                del buffer[:stripped]
            end = buffer.find(b"\r\n\r\n")
            sep_len = 4
            bare = buffer.find(b"\n\n", 0, end if end >= 0 else len(buffer))
            if bare >= 0 and (end < 0 or bare < end):
                end, sep_len = bare, 2
            if end < 0:
                if len(buffer) > self.max_message_bytes:
                    items.append(SipError(self._line, f"header longer than {self.max_message_bytes} bytes, discarded"))
                    self._line += buffer.count(b"\n")
                    buffer.clear()
                return items
            head = bytes(buffer[:end])
            parsed = _parse_head(head, self._line)
            if isinstance(parsed, SipError):
                length = 0
                item: SipMessage | SipError = parsed
            else:
                start, headers = parsed
                length_or_error = _content_length(headers)
                if isinstance(length_or_error, SipError):
                    item, length = SipError(self._line, length_or_error.reason), 0
                else:
                    length = length_or_error or 0  # stream transports must send Content-Length; none means no body
                    if length > self.max_message_bytes:
                        item, length = SipError(self._line, f"Content-Length {length} over the limit"), 0
                    elif len(buffer) < end + sep_len + length:
                        return items  # body still arriving
                    else:
                        body = bytes(buffer[end + sep_len : end + sep_len + length])
                        item = build_message(start, headers, body, self._line)
            consumed = end + sep_len + length
            self._line += buffer.count(b"\n", 0, consumed)
            del buffer[:consumed]
            items.append(item)

    def close(self) -> list[SipError]:
        """End of stream: a message still incomplete is reported as cut off."""
        leftover = bytes(self._buffer).strip(b"\r\n")
        self._buffer.clear()
        return [SipError(self._line, "message cut off at end of stream")] if leftover else []


# ---- building -------------------------------------------------------------------------

def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


def encode_request(method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"{method} {uri} SIP/2.0"]
    lines += [f"{name}: {value}" for name, value in headers if name != "Content-Length"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def encode_response(request: SipMessage, status: int, reason: str, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    """A response copying Via (all), From, To, Call-ID and CSeq from the request (RFC 3261 §8.2.6)."""
    lines = [f"SIP/2.0 {status} {reason}"]
    for via in request.get_all("Via"):
        lines.append(f"Via: {via}")
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.get(name)
        if value is not None:
            lines.append(f"{name}: {value}")
    lines += [f"{name}: {value}" for name, value in extra]
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
