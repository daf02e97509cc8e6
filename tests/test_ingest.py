"""`wfm ingest` on raw captures, the protocol registry and the capture tee/reader."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from telephony import ingest
from telephony.ami.offline import parse_capture
from telephony.capture import CaptureError, CaptureWriter, TimedChunk, read_capture, side_path
from wfm.cli import main
from wfm.config import load_config
from wfm.events import BadLine, encode_event
from wfm.commands.feeds import ami_settings

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data" / "captures" / "ami"
T0 = datetime(2027, 1, 4, 0, 25, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def config():
    return load_config()


def run_cli(capfdbinary, *argv):
    code = main(["ingest", *argv])
    out, err = capfdbinary.readouterr()
    return code, out.decode("utf-8"), err.decode("utf-8")


def expected_lines(name):
    return (SAMPLES / f"{name}.expected.jsonl").read_text(encoding="utf-8").splitlines()


def without_source(line):
    obj = json.loads(line)
    if obj.get("type") == "skipped":
        obj.pop("source", None)
    return obj


@pytest.mark.parametrize("name,code", [("asterisk18_floor", 0), ("asterisk11_floor", 0), ("asterisk18_damaged", 1)])
def test_samples_give_their_expected_events(capfdbinary, name, code):
    rc, out, err = run_cli(capfdbinary, "--protocol", "ami", "--json", str(SAMPLES / f"{name}.ami"))
    assert rc == code
    assert [without_source(line) for line in out.splitlines()] == [json.loads(line) for line in expected_lines(name)]
    assert err == ""


def test_human_mode_reports_skips_on_stderr_with_file_and_line(capfdbinary):
    path = str(SAMPLES / "asterisk18_damaged.ami")
    rc, out, err = run_cli(capfdbinary, "--protocol", "ami", path)
    assert rc == 1
    assert f"{path}:22: skipped: line 1 of the message is not 'Key: value'" in err.splitlines()
    assert f"{path}:25: skipped: not UTF-8 (byte 298 of the message)" in err.splitlines()
    assert all(json.loads(line)["type"] != "skipped" for line in out.splitlines())
    assert len(out.splitlines()) == 2


def test_expected_samples_cover_the_floor():
    text = "\n".join(expected_lines("asterisk18_floor") + expected_lines("asterisk11_floor"))
    for needle in ['"state":"short_break"', '"state":"meal"', '"reason":"小休"', '"reason":"用餐"', '"event":"abandoned"',
                   '"event":"answered"', '"event":"completed"', '"event":"offered"', '"state":"ringing"', '"state":"logged_out"',
                   '"state":"not_ready"', '"longest_wait_s":17.0']:
        assert needle in text, needle


def events_of(chunks, config, **kw):
    return [encode_event(e) if not isinstance(e, BadLine) else e for e in parse_capture(chunks, ami_settings(config), "cap", **kw)]


@pytest.mark.parametrize("name", ["asterisk11_floor", "asterisk18_damaged"])
def test_every_split_gives_identical_events(config, name):
    data = (SAMPLES / f"{name}.ami").read_bytes()
    kw = {"fallback_time": T0}
    whole = events_of([data], config, **kw)
    assert whole
    for cut in range(1, len(data)):
        assert events_of([data[:cut], data[cut:]], config, **kw) == whole, f"split at byte {cut}"


def test_random_splits_of_the_big_sample_give_identical_events(config):
    import random

    data = (SAMPLES / "asterisk18_floor.ami").read_bytes()
    whole = events_of([data], config)
    rng = random.Random(11)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 30)))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        assert events_of(chunks, config) == whole


def test_untimed_capture_without_side_file_uses_the_fallback_or_reports(config):
    data = b"Event: QueueMemberStatus\r\nQueue: q\r\nInterface: SIP/7\r\nStatus: 1\r\nPaused: 0\r\n\r\n"
    (event,) = parse_capture([data], ami_settings(config), "cap", fallback_time=T0)
    assert event.agent == "7" and event.ts == T0
    (bad,) = parse_capture([data], ami_settings(config), "cap")
    assert isinstance(bad, BadLine) and bad.line == 1 and "no Timestamp" in bad.reason


def test_untimed_messages_take_the_first_pbx_time_that_follows(config):
    data = (b"Event: QueueMemberStatus\r\nQueue: q\r\nInterface: SIP/7\r\nStatus: 1\r\nPaused: 0\r\n\r\n"
            b"Event: QueueCallerJoin\r\nQueue: q\r\nUniqueid: 1.1\r\nCount: 1\r\nTimestamp: 1799022300.5\r\n\r\n")
    events = list(parse_capture([data], ami_settings(config), "cap"))
    assert [e.type if hasattr(e, "type") else type(e).__name__ for e in events]
    assert all(e.ts == datetime.fromtimestamp(1799022300.5, timezone.utc) for e in events)
    assert events[0].agent == "7"


def test_missing_file_is_exit_2_naming_it(capfdbinary, tmp_path):
    rc, out, err = run_cli(capfdbinary, "--protocol", "ami", str(tmp_path / "nope.ami"))
    assert rc == 2 and out == ""
    assert f"{tmp_path / 'nope.ami'}: cannot read" in err and len(err.strip().splitlines()) == 1


def test_neither_file_nor_connect_is_exit_2(capfdbinary):
    rc, _, err = run_cli(capfdbinary, "--protocol", "ami")
    assert rc == 2 and "FILE" in err


def test_bad_connect_address_is_exit_2(capfdbinary):
    rc, _, err = run_cli(capfdbinary, "--protocol", "ami", "--connect", "localhost")
    assert rc == 2 and "HOST:PORT" in err


def test_protocol_module_not_present_is_a_clear_exit_2(capfdbinary, monkeypatch, tmp_path):
    monkeypatch.setitem(ingest.PROTOCOLS, "esl", "telephony.esl_not_built.offline")
    capture = tmp_path / "x.esl"
    capture.write_bytes(b"x")
    rc, out, err = run_cli(capfdbinary, "--protocol", "esl", str(capture))
    assert rc == 2 and out == ""
    assert "protocol 'esl' is not available" in err


def test_registry_names_every_protocol():
    assert set(ingest.PROTOCOLS) == {"ami", "esl", "sip", "serial"}
    assert ingest.load_protocol("ami").parse_capture is parse_capture
    with pytest.raises(ingest.ProtocolUnavailable):
        ingest.load_protocol("h323")


# ---- capture tee ------------------------------------------------------------------

def test_capture_keeps_bytes_exactly_and_receive_times(tmp_path):
    path = tmp_path / "feed.ami"
    chunks = [b"Asterisk Call Manager/5.0.1\r\n", "Event: A\r\nReason: 小".encode(), "休\r\n\r\n".encode(), b"Event: B\r\n\r\n"]
    with CaptureWriter(path) as writer:
        for i, chunk in enumerate(chunks[:3]):
            writer.write(chunk, T0 + timedelta(seconds=i))
        writer.connection_started()
        writer.write(chunks[3], T0 + timedelta(seconds=9))
    assert path.read_bytes() == b"".join(chunks)  # nothing added
    read = list(read_capture(path))
    assert [bytes(c) for c in read] == chunks
    assert [c.received for c in read] == [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2), T0 + timedelta(seconds=9)]
    assert [c.new_connection for c in read] == [True, False, False, True]
    assert side_path(path).read_text().splitlines()[0] == f"0 {T0.isoformat()} connect"


def test_capture_without_side_file_reads_in_blocks(tmp_path):
    path = tmp_path / "raw.ami"
    path.write_bytes(b"x" * 100)
    read = list(read_capture(path, block=30))
    assert b"".join(read) == b"x" * 100 and read[0].received is None and read[0].new_connection


def test_bad_side_file_names_file_and_line(tmp_path, capfdbinary):
    path = tmp_path / "feed.ami"
    path.write_bytes(b"Event: A\r\n\r\n")
    side_path(path).write_text(f"0 {T0.isoformat()}\n5 not-a-time\n")
    with pytest.raises(CaptureError, match=r"feed.ami.times:2"):
        list(read_capture(path))
    rc, _, err = run_cli(capfdbinary, "--protocol", "ami", str(path))
    assert rc == 2 and "feed.ami.times:2" in err


def test_receive_times_stamp_untimed_messages_and_reconnects_report_cut_messages(tmp_path, config):
    path = tmp_path / "feed.ami"
    with CaptureWriter(path) as writer:
        writer.write(b"Asterisk Call Manager/5.0.1\r\nEvent: QueueMemberStatus\r\nQueue: q\r\nInterface: SIP/7\r\nStatus: 1\r\nPaused: 0\r\n\r\n", T0)
        writer.write(b"Event: QueueMemberStatus\r\nQueue: q\r\nInterf", T0 + timedelta(seconds=5))  # connection dropped here
        writer.connection_started()
        writer.write(b"Asterisk Call Manager/5.0.1\r\nEvent: QueueMemberStatus\r\nQueue: q\r\nInterface: SIP/7\r\nStatus: 1\r\nPaused: 1\r\nPausedReason: \xe7\x94\xa8\xe9\xa4\x90\r\n\r\n", T0 + timedelta(seconds=60))
    items = list(parse_capture(read_capture(path), ami_settings(config), str(path)))
    assert isinstance(items[0], type(items[2])) and items[0].state.value == "ready" and items[0].ts == T0
    assert isinstance(items[1], BadLine) and "cut off" in items[1].reason and items[1].line == 8
    assert items[2].state.value == "meal" and items[2].ts == T0 + timedelta(seconds=60)


def test_timed_chunk_is_plain_bytes_to_other_parsers():
    chunk = TimedChunk(b"abc", T0, True)
    assert chunk == b"abc" and bytearray(b"x") + chunk == b"xabc" and chunk.received == T0


def test_datagram_marker_round_trips_and_unknown_markers_are_refused(tmp_path):
    path = tmp_path / "udp.sip"
    with CaptureWriter(path) as writer:
        writer.write(b"one", T0, datagram=True)
        writer.write(b"two", T0, datagram=True)
    read = list(read_capture(path))
    assert [bytes(c) for c in read] == [b"one", b"two"] and all(c.datagram for c in read)
    assert read[0].new_connection and not read[1].new_connection
    side_path(path).write_text(f"0 {T0.isoformat()} connect sideways\n")
    with pytest.raises(CaptureError, match=r"udp.sip.times:1: unknown marker 'sideways'"):
        list(read_capture(path))
