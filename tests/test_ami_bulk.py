"""The AMI parser's whole-chunk path (plain "Key: value" messages, checked by rebuilding each block)
gives exactly the items of the message-by-message loop, on streams built to trip it."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.ami.protocol import AmiMessage, AmiParser, _plain_messages


class _CarefulOnly(AmiParser):
    """The message-by-message loop alone: the reference."""

    def _feed_complete_crlf(self, buffer, appended_at, items):
        return None


def parse_all(chunks, parser):
    items = []
    for chunk in chunks:
        items.extend(parser.feed(chunk))
    items.extend(parser.close())
    return [(type(i).__name__, getattr(i, "headers", None), i.line, getattr(i, "reason", None)) for i in items]


# lines that are plain, and lines that look plain to a naive split but are not
_LINES = [b"Event: QueueMemberStatus", b"Queue: general", b"Interface: PJSIP/1001", b"Paused: 1",
          b"PausedReason: \xe5\xb0\x8f\xe4\xbc\x91", b"Queue: billing",  # a repeated key
          b"Value: a: b", b"no separator", b"Key:x: y", b"K:v", b"E:", b"Sp:  two", b": v", b"K : v", b"\tT: v",
          b"X: y\r", b"Response: Follows", b"Asterisk Call Manager/5.0.1", b"Data: " + b"z" * 120, b"Timestamp: 1.5"]


@st.composite
def streams(draw):
    messages = draw(st.lists(st.lists(st.sampled_from(_LINES), min_size=1, max_size=6), max_size=12))
    blank = draw(st.sampled_from([b"\r\n", b"\r\n\r\n"]))  # sometimes a stray blank line between messages
    return b"".join(b"\r\n".join(lines) + b"\r\n" + (blank if i % 3 == 2 else b"\r\n") for i, lines in enumerate(messages))


@settings(max_examples=600, deadline=None)
@given(streams(), st.lists(st.integers(1, 200), max_size=6), st.sampled_from([128, 4096]))
def test_whole_chunk_path_agrees_with_the_careful_loop(stream, cuts, limit):
    chunks, pos = [], 0
    for step in cuts:
        chunks.append(stream[pos : pos + step])
        pos += step
    chunks.append(stream[pos:])
    careful = parse_all([stream], _CarefulOnly(max_message_bytes=limit))
    assert parse_all([stream], AmiParser(max_message_bytes=limit)) == careful
    assert parse_all(chunks, AmiParser(max_message_bytes=limit)) == parse_all(chunks, _CarefulOnly(max_message_bytes=limit))


def test_plain_blocks_are_taken_whole_and_line_numbers_follow():
    messages, line = _plain_messages(["Event: A\r\nQueue: q\r\nQueue: r", "Event: B"], 3)
    assert line == 3 + 4 + 2
    assert [m.line for m in messages] == [3, 7]
    assert messages[0].headers == (("Event", "A"), ("Queue", "q"), ("Queue", "r"))
    assert messages[0].get("Queue") == "q"  # a repeated key answers its first value
    assert messages[0] == AmiMessage((("Event", "A"), ("Queue", "q"), ("Queue", "r")), 3)


def test_a_block_that_only_looks_plain_sends_the_chunk_to_the_careful_loop():
    # as many ": " as lines, but one line holds two and another none: not plain
    assert _plain_messages(["Event: A\r\nValue: a: b\r\nnoseparator"], 1) is None
    assert _plain_messages(["Key:x: y"], 1) is None  # Asterisk reads key "Key", value "x: y"
    assert _plain_messages([": v"], 1) is None  # an empty key
    items = AmiParser().feed(b"Event: A\r\nValue: a: b\r\nnoseparator\r\n\r\nEvent: B\r\n\r\n")
    assert [type(i).__name__ for i in items] == ["AmiError", "AmiMessage"] and items[1].get("Event") == "B"
