"""Sans-I/O AMI parser: framing, splitting at every byte, banner, bounds, garbage."""
from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.ami.protocol import AmiBanner, AmiError, AmiMessage, AmiParser, AmiProtocolError, ParserState

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data" / "captures" / "ami"
CAPTURES = sorted(SAMPLES.glob("*.ami"))


def parse_all(chunks, parser=None):
    parser = parser or AmiParser()
    items = []
    for chunk in chunks:
        items.extend(parser.feed(chunk))
        parser.check_state()
    items.extend(parser.close())
    return items


def test_samples_exist():
    assert {p.name for p in CAPTURES} >= {"asterisk18_floor.ami", "asterisk11_floor.ami", "asterisk18_damaged.ami"}


def message_boundaries(data: bytes) -> list[int]:
    """Byte offsets where a message (or the banner) starts: 0, after the banner line, after each blank line."""
    starts = {0, len(data)}
    if data.startswith(b"Asterisk Call Manager/"):
        starts.add(data.index(b"\n") + 1)
    starts.update(m.end() for m in re.finditer(rb"\n\r?\n", data))
    return sorted(starts)


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_every_two_way_split_gives_the_same_items(capture):
    """Every byte boundary of every sample: the message it falls in (with the next one) parses the same split as whole."""
    data = capture.read_bytes()
    whole = parse_all([data])
    assert any(isinstance(i, AmiMessage) for i in whole)
    bounds = message_boundaries(data)
    rebuilt = []
    for index in range(len(bounds) - 1):
        start, end = bounds[index], bounds[min(index + 2, len(bounds) - 1)]
        line = data.count(b"\n", 0, start) + 1
        window = parse_all([data[start:end]], AmiParser(first_line=line))
        rebuilt += parse_all([data[start : bounds[index + 1]]], AmiParser(first_line=line))
        for cut in range(start + 1, bounds[index + 1] + 1):
            assert parse_all([data[start:cut], data[cut:end]], AmiParser(first_line=line)) == window, f"split at byte {cut}"
    assert rebuilt == whole  # the windows cover the whole stream


def test_every_two_way_split_of_the_whole_stream_for_a_small_sample():
    data = (SAMPLES / "asterisk18_damaged.ami").read_bytes()
    whole = parse_all([data])
    for cut in range(1, len(data)):
        assert parse_all([data[:cut], data[cut:]]) == whole, f"split at byte {cut}"


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_byte_by_byte_and_random_chunks_give_the_same_items(capture):
    data = capture.read_bytes()
    whole = parse_all([data])
    assert parse_all([data[i : i + 1] for i in range(len(data))]) == whole
    rng = random.Random(5)
    for _ in range(20):
        chunks, pos = [], 0
        while pos < len(data):
            step = rng.randint(1, 7)
            chunks.append(data[pos : pos + step])
            pos += step
        assert parse_all(chunks) == whole


def test_banner_then_message_and_line_numbers():
    items = parse_all([b"Asterisk Call Manager/5.0.1\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n"])
    assert items[0] == AmiBanner("Asterisk Call Manager/5.0.1", 1)
    assert items[0].version == "5.0.1"
    assert isinstance(items[1], AmiMessage) and items[1].line == 2
    assert items[1].response == "Success" and items[1].get("Message") == "Authentication accepted" and items[1].get("MESSAGE") is None


def test_banner_alone_is_delivered_before_any_blank_line():
    parser = AmiParser()
    assert parser.feed(b"Asterisk Call Ma") == []
    assert parser.feed(b"nager/1.3\r\n") == [AmiBanner("Asterisk Call Manager/1.3", 1)]
    assert parser.state is ParserState.STREAM


def test_a_message_starting_with_A_is_not_mistaken_for_a_banner():
    items = parse_all([b"ActionID: 7\r\nResponse: Success\r\n\r\n"])
    assert len(items) == 1 and items[0].action_id == "7"


def test_bare_newlines_and_mixed_endings_are_tolerated():
    items = parse_all([b"Event: A\nQueue: q\n\nEvent: B\r\nQueue: r\n\r\nEvent: C\r\nQueue: s\r\n\nEvent: D\nQueue: t\r\n\r\n"])
    assert [m.event for m in items] == ["A", "B", "C", "D"]
    assert [m.get("Queue") for m in items] == ["q", "r", "s", "t"]


def test_utf8_character_split_across_reads_survives():
    data = "Event: QueueMemberPause\r\nPausedReason: 小休\r\n\r\n".encode()
    cut = data.index("小".encode()) + 1
    parser = AmiParser()
    assert parser.feed(data[:cut]) == []
    (message,) = parser.feed(data[cut:])
    assert message.get("PausedReason") == "小休"


def test_older_spellings_are_found_under_the_asterisk_18_name():
    (message,) = parse_all([b"Event: AgentConnect\r\nHoldtime: 6\r\nRingtime: 5\r\nActionId: x\r\n\r\n"])
    assert (message.get("HoldTime"), message.get("RingTime"), message.action_id) == ("6", "5", "x")


def test_repeated_keys_are_all_kept_in_order():
    (message,) = parse_all([b"Event: VarSet\r\nChanVariable: a=1\r\nChanVariable: b=2\r\nchanvariable: c=3\r\n\r\n"])
    assert message.get_all("ChanVariable") == ["a=1", "b=2", "c=3"]
    assert message.get("ChanVariable") == "a=1"


def test_empty_value_and_value_with_colons():
    (message,) = parse_all([b"Event: X\r\nPausedReason:\r\nReason: \r\nData: a: b: c\r\n\r\n"])
    assert message.get("PausedReason") == "" and message.get("Reason") == ""
    assert message.get("Data") == "a: b: c"


def test_legacy_command_output_is_kept():
    (message,) = parse_all([b"Response: Follows\r\nPrivilege: Command\r\nName    Queue\r\n--END COMMAND--\r\n\r\n"])
    assert message.get_all("Output") == ["Name    Queue", "--END COMMAND--"]


def test_garbage_line_is_an_error_and_neighbours_survive():
    items = parse_all([b"Event: A\r\n\r\nnot a header\r\n\r\nEvent: B\r\n\r\n"])
    assert [type(i) for i in items] == [AmiMessage, AmiError, AmiMessage]
    assert items[1].line == 3 and "Key: value" in items[1].reason


def test_undecodable_message_is_an_error_and_neighbours_survive():
    items = parse_all([b"Event: A\r\n\r\nEvent: B\r\nName: \xff\xfe\r\n\r\nEvent: C\r\n\r\n"])
    assert [type(i) for i in items] == [AmiMessage, AmiError, AmiMessage]
    assert "UTF-8" in items[1].reason


def test_oversized_message_is_reported_once_discarded_and_parsing_resumes():
    parser = AmiParser(max_message_bytes=1024)
    items = parser.feed(b"Event: A\r\n\r\n")
    items += parser.feed(b"Event: Huge\r\nData: ")
    for _ in range(50):
        items += parser.feed(b"x" * 100)
        parser.check_state()
        assert parser.buffered <= 1024 + 4
    items += parser.feed(b"\r\n\r\nEvent: B\r\n\r\n")
    assert [type(i) for i in items] == [AmiMessage, AmiError, AmiMessage]
    assert "longer than 1024" in items[1].reason
    assert items[2].event == "B"


def test_oversized_message_arriving_in_one_read_is_reported():
    parser = AmiParser(max_message_bytes=100)
    items = parser.feed(b"Event: Big\r\nData: " + b"y" * 500 + b"\r\n\r\nEvent: Small\r\n\r\n")
    assert [type(i) for i in items] == [AmiError, AmiMessage]


def test_close_reports_a_message_cut_off_and_reset_accepts_a_new_banner():
    parser = AmiParser()
    parser.feed(b"Asterisk Call Manager/5.0.1\r\nEvent: A\r\nQueue: q")
    (error,) = parser.close()
    assert isinstance(error, AmiError) and "cut off" in error.reason
    (banner,) = parser.feed(b"Asterisk Call Manager/5.0.1\r\n")
    assert isinstance(banner, AmiBanner)


def test_stray_blank_lines_between_messages_are_ignored():
    items = parse_all([b"\r\n\r\nEvent: A\r\n\r\n\r\n\r\nEvent: B\r\n\r\n"])
    assert [i.event for i in items] == ["A", "B"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_bytes_never_raise_and_never_hold_more_than_the_bound(chunks):
    parser = AmiParser(max_message_bytes=256)
    for chunk in chunks:
        items = parser.feed(chunk)
        assert all(isinstance(i, (AmiMessage, AmiError, AmiBanner)) for i in items)
        parser.check_state()
    parser.close()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b": ", b"Event", b"Asterisk Call Manager/", b"\xe5\xb0", b"\x8f", b"A", b":", b"x" * 40]), max_size=60))
def test_protocol_shaped_noise_never_raises(pieces):
    parser = AmiParser(max_message_bytes=128)
    try:
        for piece in pieces:
            parser.feed(piece)
            parser.check_state()
        parser.close()
    except AmiProtocolError:  # the parser's own error type is the only one allowed
        pytest.fail("parser invariant broken")


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_random_chunking_of_a_valid_stream_is_invisible(data):
    stream = (SAMPLES / "asterisk18_floor.ami").read_bytes()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=40)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    assert parse_all(chunks) == parse_all([stream])


class _CarefulOnly(AmiParser):
    """The message-by-message loop alone: the reference the bulk CRLF path must agree with."""

    def _feed_complete_crlf(self, buffer, appended_at, items):
        return None


_PIECES = [b"Event: QueueMemberStatus\r\n", b"Queue: general\r\n", b"PausedReason: \xe5\xb0\x8f\xe4\xbc\x91\r\n", b"Value: a: b\r\n",
           b"\r\n", b"\n", b"no separator\r\n", b"Asterisk Call Manager/5.0.1\r\n", b"Asterisk Call Manager\r\n", b"Key:\r\n",
           b": v\r\n", b"Response: Follows\r\n", b"--END COMMAND--\r\n", b"\xff\r\n", b"Data: " + b"z" * 90 + b"\r\n", b"X: y\r"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.lists(st.integers(1, 50), max_size=12))
def test_bulk_crlf_path_agrees_with_the_careful_loop(pieces, cuts):
    stream = b"".join(pieces)
    chunks, pos = [], 0
    for step in cuts:
        chunks.append(stream[pos : pos + step])
        pos += step
    chunks.append(stream[pos:])
    assert parse_all(chunks, AmiParser(max_message_bytes=256)) == parse_all(chunks, _CarefulOnly(max_message_bytes=256))
    assert parse_all([stream], AmiParser(max_message_bytes=256)) == parse_all([stream], _CarefulOnly(max_message_bytes=256))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["Event: A", "Key:x: y", "K : v", "V: a: b", "E:", "Sp:  two", ": v", "no sep", "K: v\r", "小休: 用餐",
                                 "\tT: v", "Response: Follows", "X:y"]), min_size=1, max_size=8))
def test_header_fast_path_reads_lines_exactly_as_the_line_by_line_parser(lines):
    from telephony.ami.protocol import _parse_lines, parse_text

    text = "\r\n".join(lines)
    assert parse_text(text, 7) == _parse_lines(text, 7)
