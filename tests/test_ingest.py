"""`wfm ingest`: the protocol registry, the capture tee/reader, and conformance with
docs/pbx-mapping.md — hand-written raw captures run through `wfm ingest --protocol P FILE --json` as a
subprocess, checking the events, the skipped-line reports and the exit code."""
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
import subprocess
import sys
from urllib.parse import quote
from wfm.commands.feeds import serial_settings

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


# ── conformance with docs/pbx-mapping.md: hand-written raw captures through the CLI ───────────────

WFM = [sys.executable, "-m", "wfm.cli"]
T0_CLI = 1799022000.0  # 2027-01-04 08:20:00 +08:00


def ami(*messages: dict, banner: str = "Asterisk Call Manager/5.0.1") -> bytes:
    out = banner + "\r\n"
    for msg in messages:
        out += "".join(f"{k}: {v}\r\n" for k, v in msg.items()) + "\r\n"
    return out.encode("utf-8")


def at(offset: float) -> str:
    return f"{T0_CLI + offset:.6f}"


def ingest_cli(tmp_path, protocol: str, data: bytes, name="capture.raw", *extra):
    path = tmp_path / name
    path.write_bytes(data)
    proc = subprocess.run([*WFM, "ingest", "--protocol", protocol, str(path), "--json", *extra],
                          capture_output=True, timeout=60)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    objs = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    return proc, objs, path


def events_of_cli(objs, type_=None):
    return [o for o in objs if o["type"] != "skipped" and (type_ is None or o["type"] == type_)]


def ts_local(offset: float) -> datetime:
    return datetime.fromisoformat("2027-01-04T08:20:00+08:00").fromtimestamp(T0_CLI + offset).astimezone()


def same_instant(ts: str, offset: float) -> bool:
    return datetime.fromisoformat(ts).timestamp() == pytest.approx(T0_CLI + offset)


# ---------------------------------------------------------------- AMI


def test_ami_asterisk18_states_calls_and_waiting(tmp_path):
    data = ami(
        {"Response": "Success", "ActionID": "s1", "Message": "Queue status will follow"},
        {"Event": "QueueParams", "Queue": "sales", "Calls": "2", "ActionID": "s1", "Timestamp": at(0)},
        {"Event": "QueueMember", "Queue": "sales", "Name": "Alice", "Location": "PJSIP/1001", "Status": "1",
         "Paused": "0", "ActionID": "s1", "Timestamp": at(0)},
        {"Event": "QueueMember", "Queue": "sales", "Name": "PJSIP/1002", "Location": "PJSIP/1002", "Status": "2",
         "Paused": "1", "PausedReason": "小休", "ActionID": "s1", "Timestamp": at(0)},
        {"Event": "QueueStatusComplete", "ActionID": "s1", "Timestamp": at(0)},
        {"Event": "QueueCallerJoin", "Queue": "sales", "Position": "3", "Count": "3", "Uniqueid": "111.1",
         "Timestamp": at(10)},
        {"Event": "QueueMemberStatus", "Queue": "sales", "MemberName": "Alice", "Interface": "PJSIP/1001",
         "Status": "6", "Paused": "0", "InCall": "0", "Timestamp": at(11)},
        {"Event": "AgentConnect", "Queue": "sales", "Uniqueid": "111.1", "MemberName": "Alice",
         "Interface": "PJSIP/1001", "HoldTime": "7", "RingTime": "2", "Timestamp": at(12)},
        {"Event": "QueueCallerLeave", "Queue": "sales", "Position": "1", "Count": "2", "Uniqueid": "111.1",
         "Timestamp": at(12)},
        {"Event": "QueueMemberStatus", "Queue": "sales", "MemberName": "Alice", "Interface": "PJSIP/1001",
         "Status": "2", "InCall": "1", "Paused": "0", "Timestamp": at(12)},
        {"Event": "QueueMemberPause", "Queue": "sales", "MemberName": "Alice", "Interface": "PJSIP/1001",
         "Paused": "1", "PausedReason": "用餐", "Status": "2", "Timestamp": at(13)},
        {"Event": "AgentComplete", "Queue": "sales", "Uniqueid": "111.1", "MemberName": "Alice",
         "Interface": "PJSIP/1001", "HoldTime": "7", "TalkTime": "95", "Reason": "agent", "Timestamp": at(107)},
        {"Event": "QueueCallerAbandon", "Queue": "sales", "Uniqueid": "111.2", "Position": "1",
         "OriginalPosition": "2", "HoldTime": "40", "Timestamp": at(120)},
        {"Event": "QueueCallerLeave", "Queue": "sales", "Position": "1", "Count": "1", "Uniqueid": "111.2",
         "Timestamp": at(120)},
        {"Event": "QueueMemberPause", "Queue": "sales", "MemberName": "PJSIP/1002", "Interface": "PJSIP/1002",
         "Paused": "1", "PausedReason": "odd reason", "Status": "1", "Timestamp": at(130)},
        {"Event": "QueueMemberStatus", "Queue": "sales", "MemberName": "PJSIP/1002", "Interface": "PJSIP/1002",
         "Status": "1", "Paused": "0", "Timestamp": at(135)},
        {"Event": "QueueMemberRemoved", "Queue": "sales", "MemberName": "Alice", "Interface": "PJSIP/1001",
         "Timestamp": at(150)},
    )
    proc, objs, _ = ingest_cli(tmp_path, "ami", data)
    assert proc.returncode == 0, proc.stderr
    evs = events_of_cli(objs)
    agents = {e["agent"] for e in evs if "agent" in e}
    assert agents == {"1001", "1002"}  # one canonical id per agent (Name/MemberName/Location/Interface)
    states = [(e["agent"], e["state"]) for e in evs if e["type"] == "agent_state"]
    assert states == [("1001", "ready"), ("1002", "short_break"),            # Paused wins over Status 2
                      ("1001", "ringing"), ("1001", "on_call"), ("1001", "meal"),
                      ("1002", "not_ready"),                                  # unknown reason
                      ("1002", "ready"), ("1001", "logged_out")]
    waiting = [e["waiting"] for e in evs if e["type"] == "queue_status"]
    assert waiting == [2, 3, 2, 1]  # QueueParams Calls, then the Count of Join/Leave
    calls = [(e["call_id"], e["event"], e.get("agent"), e.get("wait_s"), e.get("talk_s"))
             for e in evs if e["type"] == "call"]
    assert calls[0][:2] == ("111.1", "offered")
    assert calls[1][:4] == ("111.1", "answered", "1001", 7)
    assert calls[2][0:2] == ("111.1", "completed") and calls[2][4] == 95
    assert calls[3][:2] == ("111.2", "abandoned") and calls[3][3] == 40
    assert all(e["queue"] == "sales" for e in evs if e["type"] in ("call", "queue_status"))
    # ts is the PBX's Timestamp, an RFC 3339 time with an offset
    join = next(e for e in evs if e["type"] == "call")
    assert same_instant(join["ts"], 10) and datetime.fromisoformat(join["ts"]).utcoffset() is not None


def test_ami_asterisk11_names(tmp_path):
    data = ami(
        {"Event": "QueueMemberAdded", "Queue": "q1", "Location": "SIP/3001", "MemberName": "Bob",
         "Membership": "dynamic", "Status": "1", "Paused": "0", "Timestamp": at(0)},
        {"Event": "Join", "Channel": "SIP/trunk-01", "Queue": "q1", "Position": "1", "Count": "1",
         "Uniqueid": "9.1", "Timestamp": at(1)},
        {"Event": "QueueMemberPaused", "Queue": "q1", "Location": "SIP/3001", "MemberName": "Bob", "Paused": "1",
         "Reason": "小休", "Timestamp": at(2)},
        {"Event": "Leave", "Channel": "SIP/trunk-01", "Queue": "q1", "Position": "1", "Count": "0",
         "Uniqueid": "9.1", "Timestamp": at(3)},
        {"Event": "QueueMemberPaused", "Queue": "q1", "Location": "SIP/3001", "MemberName": "Bob", "Paused": "0",
         "Timestamp": at(4)},
        banner="Asterisk Call Manager/1.3",
    )
    proc, objs, _ = ingest_cli(tmp_path, "ami", data)
    assert proc.returncode == 0, proc.stderr
    evs = events_of_cli(objs)
    assert [(e["type"], e.get("state") or e.get("event") or e.get("waiting")) for e in evs] == [
        ("agent_state", "ready"), ("call", "offered"), ("queue_status", 1), ("agent_state", "short_break"),
        ("queue_status", 0), ("agent_state", "ready")]
    assert {e["agent"] for e in evs if "agent" in e} == {"3001"}


def test_ami_status_unavailable_and_config_alias(tmp_path):
    data = ami(
        {"Event": "QueueMemberStatus", "Queue": "q", "MemberName": "Carol", "Interface": "PJSIP/77",
         "Status": "1", "Paused": "0", "Timestamp": at(0)},
        {"Event": "QueueMemberStatus", "Queue": "q", "MemberName": "Carol", "Interface": "PJSIP/77",
         "Status": "5", "Paused": "0", "Timestamp": at(5)},
    )
    proc, objs, _ = ingest_cli(tmp_path, "ami", data)
    assert [(e["agent"], e["state"]) for e in events_of_cli(objs)] == [("77", "ready"), ("77", "logged_out")]
    cfg = tmp_path / "site.toml"
    cfg.write_text('[pbx]\nstatus_unavailable = "not_ready"\n[pbx.agent_aliases]\n"PJSIP/77" = "carol"\n')
    proc, objs, _ = ingest_cli(tmp_path, "ami", data, "c2.raw", "--config", str(cfg))
    assert [(e["agent"], e["state"]) for e in events_of_cli(objs)] == [("carol", "ready"), ("carol", "not_ready")]


def test_ami_garbage_message_is_reported_with_line_and_skipped(tmp_path):
    good = ami({"Event": "QueueCallerJoin", "Queue": "q", "Position": "1", "Count": "1", "Uniqueid": "1.1",
                "Timestamp": at(0)})
    tail = ami({"Event": "QueueCallerLeave", "Queue": "q", "Position": "1", "Count": "0", "Uniqueid": "1.1",
                "Timestamp": at(9)}, banner="").lstrip(b"\r\n")
    data = good + b"\xff\xfe\x00 not a header line\r\n\r\n" + tail
    proc, objs, path = ingest_cli(tmp_path, "ami", data)
    assert proc.returncode == 1
    skipped = [o for o in objs if o["type"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["line"] == 9
    assert [e.get("waiting") for e in events_of_cli(objs, "queue_status")] == [1, 0]  # nothing valid lost


def test_ami_utf8_split_nowhere_matters(tmp_path):
    """Decode per message: the capture is read as bytes whatever the block size."""
    pause = {"Event": "QueueMemberPause", "Queue": "q", "MemberName": "D", "Interface": "PJSIP/9", "Paused": "1",
             "PausedReason": "用餐", "Status": "1", "Timestamp": at(1)}
    filler = [{"Event": "QueueMemberStatus", "Queue": "q", "MemberName": "D", "Interface": "PJSIP/9",
               "Status": "1", "Paused": "0", "Timestamp": at(0)}]
    data = ami(*filler * 300, pause)  # the 用餐 lands far past any small read size
    proc, objs, _ = ingest_cli(tmp_path, "ami", data)
    assert proc.returncode == 0
    assert events_of_cli(objs)[-1]["state"] == "meal"


def test_ami_live_event_interleaved_in_a_queuestatus_response_is_not_undone(tmp_path):
    data = ami(
        {"Response": "Success", "ActionID": "s1", "Message": "Queue status will follow"},
        {"Event": "QueueParams", "Queue": "q1", "Calls": "0", "ActionID": "s1", "Timestamp": at(0)},
        {"Event": "QueueMember", "Queue": "q1", "Name": "Bob", "Location": "SIP/3001", "Status": "1",
         "Paused": "0", "ActionID": "s1", "Timestamp": at(0)},
        {"Event": "QueueMemberPause", "Queue": "q1", "Interface": "SIP/3001", "MemberName": "Bob", "Paused": "1",
         "PausedReason": "小休", "Timestamp": at(1)},
        {"Event": "QueueStatusComplete", "ActionID": "s1", "Timestamp": at(2)},
    )
    proc, objs, _ = ingest_cli(tmp_path, "ami", data)
    states = [e["state"] for e in events_of_cli(objs, "agent_state")]
    assert states[-1] == "short_break"


# ---------------------------------------------------------------- serial (ACD text + SMDR in one file)

SMDR_DONE = ("2027/01/04 08:30:00,00:03:05,6,13800138000,I,8001,8001,,0,1000012,0,E5001,李娜,T9001,Line 1.1,"
             "0,0,n,,,0.00,,0.00,0,0,0.00,100,,,")
SMDR_ABANDON = ("2027/01/04 08:50:00,00:00:00,25,13900139000,I,8001,8001,,0,1000013,0,E5002,,T9002,Line 1.2,"
                "0,0,n,,,0.00,,0.00,0,0,0.00,100,,,")


def test_serial_both_formats_in_one_file(tmp_path):
    text = "\n".join([
        "2027-01-04 08:26:40 AGENT 5001 LOGIN",
        "2027-01-04 08:27:05 AGENT 5001 READY",
        "2027-01-04 08:30:00 QUEUE 8001 WAITING 2",
        SMDR_DONE,
        "2027-01-04 08:40:00 AGENT 5001 AUX 1",
        "2027-01-04 08:41:00 AGENT 5001 AUX 2",
        "2027-01-04 08:42:00 AGENT 5001 AUX 9",
        SMDR_ABANDON,
        "2027-01-04 08:51:00 AGENT 5001 RING 8001",
        "2027-01-04 08:51:02 AGENT 5001 ACDIN 8001",
        "2027-01-04 08:55:00 AGENT 5001 ACW",
        "2027-01-04 08:56:00 AGENT 5001 LOGOUT",
    ]) + "\n"
    proc, objs, _ = ingest_cli(tmp_path, "serial", text.encode("utf-8"))
    assert proc.returncode == 0, proc.stderr
    evs = events_of_cli(objs)
    states = [e["state"] for e in evs if e["type"] == "agent_state"]
    assert states[1:] == ["ready", "short_break", "meal", "not_ready", "ringing", "on_call", "wrap_up", "logged_out"]
    assert states[0] in ("not_ready", "logged_out")  # LOGIN alone is signed in but not ready
    [q] = events_of_cli(objs, "queue_status")
    assert (q["queue"], q["waiting"]) == ("8001", 2)
    done, abandoned = events_of_cli(objs, "call")
    assert (done["event"], done["agent"], done["queue"], done["call_id"], done["wait_s"], done["talk_s"]) == (
        "completed", "5001", "8001", "1000012", 6, 185)
    assert (abandoned["event"], abandoned["call_id"], abandoned["queue"]) == ("abandoned", "1000013", "8001")
    # local time without offset: the floor zone from config (Asia/Shanghai)
    first = datetime.fromisoformat(evs[0]["ts"])
    assert first.utcoffset().total_seconds() == 8 * 3600 and first.hour == 8 and first.minute == 26


def test_serial_floor_timezone_from_config(tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text('[floor]\ntimezone = "Europe/London"\n')
    proc, objs, _ = ingest_cli(tmp_path, "serial", b"2027-01-04 08:27:05 AGENT 5001 READY\n", "s.txt",
                           "--config", str(cfg))
    ts = datetime.fromisoformat(events_of_cli(objs)[0]["ts"])
    assert ts.utcoffset().total_seconds() == 0 and ts.hour == 8


def test_serial_bad_lines_reported_with_position_exit_1(tmp_path):
    text = ("2027-01-04 08:27:05 AGENT 5001 READY\n"
            "complete garbage\n"
            "2027/01/04 08:30:00,00:03:05,6,truncated\n"
            "2027-01-04 08:28:00 AGENT 5001 AUX 1\n")
    proc, objs, path = ingest_cli(tmp_path, "serial", text.encode())
    assert proc.returncode == 1
    assert [o["line"] for o in objs if o["type"] == "skipped"] == [2, 3]
    assert [e["state"] for e in events_of_cli(objs)] == ["ready", "short_break"]
    # human mode: FILE:LINE: skipped: why on stderr
    proc = subprocess.run([*WFM, "ingest", "--protocol", "serial", str(path)], capture_output=True, timeout=60)
    err = proc.stderr.decode().splitlines()
    assert proc.returncode == 1
    assert [line.split(": skipped: ")[0] for line in err if ": skipped: " in line] == [f"{path}:2", f"{path}:3"]


def test_serial_utf8_bytes_not_decodable_line_skipped(tmp_path):
    data = b"2027-01-04 08:27:05 AGENT 5001 READY\n\xff\xfe\xfd\n" + SMDR_DONE.encode("utf-8") + b"\n"
    proc, objs, _ = ingest_cli(tmp_path, "serial", data)
    assert proc.returncode == 1
    assert [o["line"] for o in objs if o["type"] == "skipped"] == [2]
    assert [e["type"] for e in events_of_cli(objs)] == ["agent_state", "call"]


# ---------------------------------------------------------------- ESL mod_callcenter


def esl_event(headers: dict) -> bytes:
    body = "".join(f"{k}: {quote(str(v), safe='')}\n" for k, v in headers.items()) + "\n"
    raw = body.encode("utf-8")
    return f"Content-Type: text/event-plain\nContent-Length: {len(raw)}\n\n".encode() + raw


def cc(action: str, when: float, **extra) -> bytes:
    headers = {"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info",
               "Event-Date-Timestamp": str(int((T0_CLI + when) * 1_000_000)), "CC-Action": action}
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return esl_event(headers)


def test_esl_callcenter_mapping(tmp_path):
    member = "aaaa-member-uuid"
    data = b"Content-Type: auth/request\n\n" + b"".join([
        cc("agent-status-change", 0, CC_Agent="1001@default", CC_Agent_Status="Available"),
        cc("agent-state-change", 0, CC_Agent="1001@default", CC_Agent_State="Waiting"),
        cc("member-queue-start", 10, CC_Queue="support@default", CC_Member_UUID=member,
           CC_Member_Session_UUID="sess-1", Unique_ID="sess-1"),
        cc("members-count", 10, CC_Queue="support@default", CC_Count="1"),
        cc("agent-state-change", 11, CC_Agent="1001@default", CC_Agent_State="Receiving"),
        cc("bridge-agent-start", 15, CC_Queue="support@default", CC_Agent="1001@default", CC_Member_UUID=member,
           CC_Member_Session_UUID="sess-1", Unique_ID="agent-leg-uuid", CC_Agent_UUID="agent-leg-uuid",
           CC_Member_Joined_Time=str(int(T0_CLI + 10)), CC_Agent_Answered_Time=str(int(T0_CLI + 15))),
        cc("members-count", 15, CC_Queue="support@default", CC_Count="0"),
        cc("agent-state-change", 15, CC_Agent="1001@default", CC_Agent_State="In a queue call"),
        cc("member-queue-end", 100, CC_Queue="support@default", CC_Agent="1001@default", CC_Member_UUID=member,
           CC_Cause="Terminated", Unique_ID="agent-leg-uuid"),
        cc("member-queue-start", 110, CC_Queue="support@default", CC_Member_UUID="bbbb", Unique_ID="sess-2"),
        cc("member-queue-end", 130, CC_Queue="support@default", CC_Member_UUID="bbbb", CC_Cause="Cancel",
           Unique_ID="sess-2"),
        cc("agent-status-change", 140, CC_Agent="1001@default", CC_Agent_Status="On Break"),
        cc("agent-status-change", 150, CC_Agent="1001@default", CC_Agent_Status="Logged Out"),
    ])
    proc, objs, _ = ingest_cli(tmp_path, "esl", data)
    assert proc.returncode == 0, proc.stderr.decode()
    evs = events_of_cli(objs)
    calls = [(e["call_id"], e["event"]) for e in evs if e["type"] == "call"]
    assert calls == [(member, "offered"), (member, "answered"), (member, "completed"), ("bbbb", "offered"),
                     ("bbbb", "abandoned")]
    assert [e["waiting"] for e in evs if e["type"] == "queue_status"] == [1, 0]
    states = [e["state"] for e in evs if e["type"] == "agent_state"]
    assert states[0] == "ready" and "ringing" in states and "on_call" in states
    assert states[-2:] == ["short_break", "logged_out"]
    assert {e["agent"] for e in evs if e.get("agent")} == {"1001"}
    offered = next(e for e in evs if e["type"] == "call")
    assert same_instant(offered["ts"], 10)


# ---------------------------------------------------------------- bad usage


def test_ingest_missing_protocol_argument_or_unknown_protocol_is_exit_2(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("")
    proc = subprocess.run([*WFM, "ingest", "--protocol", "telex", str(path)], capture_output=True, timeout=60)
    assert proc.returncode == 2


# ---------------------------------------------------------------- SIP dialog-info (offline capture)


def sip_notify(n: int, version: int, state: str, dialogs, agent="2001") -> bytes:
    body = (f'<?xml version="1.0"?>\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" '
            f'state="{state}" entity="sip:{agent}@pbx.example">')
    for did, st, direction in dialogs:
        body += f'<dialog id="{did}" call-id="{did}-cid" direction="{direction}"><state>{st}</state></dialog>'
    raw = (body + "</dialog-info>").encode()
    head = (f"NOTIFY sip:wfm@10.0.0.5:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{n}\r\n"
            f"From: <sip:{agent}@pbx.example>;tag=pbx{agent}\r\nTo: <sip:wfm@pbx.example>;tag=wfm{agent}\r\n"
            f"Call-ID: sub-{agent}@10.0.0.5\r\nCSeq: {n} NOTIFY\r\nDate: Mon, 04 Jan 2027 00:25:{10 + n:02d} GMT\r\n"
            f"Event: dialog\r\nSubscription-State: active;expires=3600\r\n"
            f"Content-Type: application/dialog-info+xml\r\nContent-Length: {len(raw)}\r\n\r\n")
    return head.encode() + raw


def test_sip_dialog_info_partial_merge_priorities_and_stale_versions(tmp_path):
    data = b"".join([
        sip_notify(1, 0, "full", []),                                        # ready
        sip_notify(2, 1, "partial", [("d1", "early", "recipient")]),         # ringing
        sip_notify(3, 2, "partial", [("d2", "trying", "initiator")]),        # still ringing (merge)
        sip_notify(4, 3, "partial", [("d1", "terminated", "recipient")]),    # only the outgoing: not_ready
        sip_notify(5, 3, "partial", [("d2", "confirmed", "initiator")]),     # stale version: ignored
        sip_notify(6, 4, "partial", [("d2", "confirmed", "initiator")]),     # on_call
        sip_notify(7, 5, "full", []),                                        # full replaces all: ready
    ])
    proc, objs, _ = ingest_cli(tmp_path, "sip", data)
    assert proc.returncode == 0, proc.stderr.decode()
    evs = events_of_cli(objs, "agent_state")
    assert [(e["agent"], e["state"]) for e in evs] == [
        ("2001", "ready"), ("2001", "ringing"), ("2001", "not_ready"), ("2001", "on_call"), ("2001", "ready")]
    assert datetime.fromisoformat(evs[2]["ts"]).timestamp() == datetime.fromisoformat(
        "2027-01-04T00:25:14+00:00").timestamp()


def test_sip_cut_off_notify_is_reported_and_skipped(tmp_path):
    full = sip_notify(1, 0, "full", [])
    cut = sip_notify(2, 1, "partial", [("d1", "confirmed", "recipient")])[:-40]
    proc, objs, _ = ingest_cli(tmp_path, "sip", full + cut)
    assert proc.returncode == 1
    assert [e["state"] for e in events_of_cli(objs)] == ["ready"]
    assert len([o for o in objs if o["type"] == "skipped"]) == 1


# ---------------------------------------------------------------- live AMI: --connect, credentials, --max-events


def _ami_server(live: list[dict]):
    """A one-connection localhost AMI stand-in: answers Challenge/Login/QueueStatus, then sends `live`."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    seen: list[dict] = []
    sent = bytearray()

    def serve():
        raw_conn, _ = srv.accept()

        class Tap:  # records every byte the PBX sends
            def sendall(self, data: bytes) -> None:
                sent.extend(data)
                raw_conn.sendall(data)

            def __getattr__(self, name):
                return getattr(raw_conn, name)

        conn = Tap()
        conn.sendall(b"Asterisk Call Manager/5.0.1\r\n")
        buf = b""
        conn.settimeout(20)
        try:
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while b"\r\n\r\n" in buf:
                    raw, buf = buf.split(b"\r\n\r\n", 1)
                    action = dict(line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line)
                    seen.append(action)
                    aid = action.get("ActionID", "")
                    name = action.get("Action", "").lower()
                    if name == "challenge":
                        conn.sendall(ami({"Response": "Error", "ActionID": aid, "Message": "no"}, banner="")[2:])
                    elif name == "login":
                        ok = action.get("Secret") == "s3cret" and action.get("Username") == "wfmuser"
                        conn.sendall(ami({"Response": "Success" if ok else "Error", "ActionID": aid,
                                          "Message": "Authentication accepted" if ok else "Authentication failed"},
                                         banner="")[2:])
                    elif name == "queuestatus":
                        conn.sendall(ami(
                            {"Response": "Success", "ActionID": aid, "EventList": "start",
                             "Message": "Queue status will follow"},
                            {"Event": "QueueParams", "Queue": "q", "Calls": "1", "ActionID": aid, "Timestamp": at(0)},
                            {"Event": "QueueMember", "Queue": "q", "Name": "E", "Location": "PJSIP/4001",
                             "Status": "1", "Paused": "0", "ActionID": aid, "Timestamp": at(0)},
                            {"Event": "QueueStatusComplete", "ActionID": aid, "EventList": "Complete",
                             "Timestamp": at(0)}, *live, banner="")[2:])
                    else:
                        conn.sendall(ami({"Response": "Success", "ActionID": aid}, banner="")[2:])
        except OSError:
            return
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return srv, seen, sent


def test_ami_live_connect_with_credentials_and_max_events(tmp_path):
    live = [{"Event": "QueueMemberPause", "Queue": "q", "MemberName": "E", "Interface": "PJSIP/4001",
             "Paused": "1", "PausedReason": "小休", "Status": "1", "Timestamp": at(5)}] * 1 + [
        {"Event": "QueueCallerJoin", "Queue": "q", "Position": "2", "Count": "2", "Uniqueid": f"7.{i}",
         "Timestamp": at(6 + i)} for i in range(20)]
    srv, seen, sent = _ami_server(live)
    capture = tmp_path / "tee.ami"
    port = srv.getsockname()[1]
    try:
        proc = subprocess.run([*WFM, "ingest", "--protocol", "ami", "--connect", f"127.0.0.1:{port}",
                               "--username", "wfmuser", "--secret", "s3cret", "--max-events", "4", "--json", "--capture", str(capture)],
                              capture_output=True, timeout=60)
    finally:
        srv.close()
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 4  # --max-events counts every JSON object printed
    objs = [json.loads(line) for line in lines]
    assert objs[0]["type"] == "agent_state" and objs[0]["agent"] == "4001"
    assert any(o["type"] == "queue_status" and o["waiting"] == 1 for o in objs)
    assert b"s3cret" not in proc.stderr and b"s3cret" not in proc.stdout  # never printed
    assert any(a.get("Action", "").lower() == "login" and a.get("Username") == "wfmuser" for a in seen)
    # the tee holds the bytes exactly as the PBX sent them (a prefix: the client stopped reading), nothing added
    teed = capture.read_bytes()
    assert teed and bytes(sent).startswith(teed)
    # ... and ingesting the tee offline tells the same story
    offline = subprocess.run([*WFM, "ingest", "--protocol", "ami", str(capture), "--json"], capture_output=True,
                             timeout=60)
    again = [json.loads(line) for line in offline.stdout.decode().splitlines()]
    assert [o for o in again if o["type"] != "skipped"][:4] == objs


def test_ami_computed_wrap_up_from_config_and_default_zero(tmp_path):
    data = ami(
        {"Event": "QueueMemberStatus", "Queue": "q", "MemberName": "F", "Interface": "PJSIP/5", "Status": "2",
         "InCall": "1", "Paused": "0", "Timestamp": at(0)},
        {"Event": "AgentComplete", "Queue": "q", "Uniqueid": "1.1", "MemberName": "F", "Interface": "PJSIP/5",
         "HoldTime": "3", "TalkTime": "60", "Reason": "caller", "Timestamp": at(60)},
        {"Event": "QueueMemberStatus", "Queue": "q", "MemberName": "F", "Interface": "PJSIP/5", "Status": "1",
         "InCall": "0", "Paused": "0", "Timestamp": at(60.5)},
        {"Event": "QueueCallerJoin", "Queue": "q", "Position": "1", "Count": "1", "Uniqueid": "1.2",
         "Timestamp": at(200)},
    )
    _, objs, _ = ingest_cli(tmp_path, "ami", data)
    states = [(e["state"], e["ts"]) for e in events_of_cli(objs, "agent_state")]
    assert [s for s, _ in states] == ["on_call", "ready"] and same_instant(states[1][1], 60)
    cfg = tmp_path / "wrap.toml"
    cfg.write_text("[pbx]\nwrap_up_s = 30\n")
    _, objs, _ = ingest_cli(tmp_path, "ami", data, "w.raw", "--config", str(cfg))
    states = [(e["state"], e["ts"]) for e in events_of_cli(objs, "agent_state")]
    assert [s for s, _ in states] == ["on_call", "wrap_up", "ready"]
    assert same_instant(states[1][1], 60) and same_instant(states[2][1], 90)  # stamped with its own end time


def _sip_notify_raw(n: int, agent: str, event: str, ctype: str, body: str) -> bytes:
    raw = body.encode()
    return (f"NOTIFY sip:wfm@10.0.0.5:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{n}\r\n"
            f"From: <sip:{agent}@pbx.example>;tag=pbx{agent}{event}\r\nTo: <sip:wfm@pbx.example>;tag=wfm{agent}\r\n"
            f"Call-ID: sub-{event}-{agent}@10.0.0.5\r\nCSeq: {n} NOTIFY\r\n"
            f"Date: Mon, 04 Jan 2027 00:25:{10 + n:02d} GMT\r\nEvent: {event}\r\n"
            f"Subscription-State: active;expires=3600\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw


def test_sip_presence_activities_rfc4480(tmp_path):
    def pidf(activity: str) -> str:
        return ('<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
                'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
                f'entity="sip:4001@pbx.example"><dm:person id="p1"><rpid:activities>{activity}</rpid:activities>'
                '</dm:person><tuple id="t1"><status><basic>open</basic></status></tuple></presence>')
    empty = ('<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" '
             'state="full" entity="sip:4001@pbx.example"></dialog-info>')
    data = (_sip_notify_raw(1, "4001", "dialog", "application/dialog-info+xml", empty)
            + _sip_notify_raw(2, "4001", "presence", "application/pidf+xml", pidf("<rpid:meal/>"))
            + _sip_notify_raw(3, "4001", "presence", "application/pidf+xml", pidf("<rpid:busy/>"))
            + _sip_notify_raw(4, "4001", "presence", "application/pidf+xml", pidf("")))
    proc, objs, _ = ingest_cli(tmp_path, "sip", data)
    assert proc.returncode == 0
    assert [e["state"] for e in events_of_cli(objs)] == ["ready", "meal", "not_ready", "ready"]


def test_serial_capture_saved_with_a_bom_and_crlf(tmp_path):
    data = ("\ufeff2027-01-04 08:27:05 AGENT 5001 READY\r\n" + SMDR_DONE + "\r\n").encode("utf-8")
    proc, objs, _ = ingest_cli(tmp_path, "serial", data)
    assert proc.returncode == 0, objs
    assert [e["type"] for e in events_of_cli(objs)] == ["agent_state", "call"]
    from telephony.serial.offline import parse_capture
    from wfm.config import load_config

    split = [data[:1], data[1:2], data[2:5], data[5:]]  # the mark split across reads
    items = list(parse_capture(split, serial_settings(load_config(None)), "x"))
    assert [type(i).__name__ for i in items] == ["AgentStateEvent", "CallEvent"]


def test_ingest_into_a_closed_pipe_does_not_blame_the_input(tmp_path):
    msgs = [{"Event": "QueueCallerJoin", "Queue": "q", "Position": "1", "Count": str(i), "Uniqueid": f"1.{i}",
             "Timestamp": at(i)} for i in range(5000)]
    path = tmp_path / "big.ami"
    path.write_bytes(ami(*msgs))
    proc = subprocess.Popen([*WFM, "ingest", "--protocol", "ami", str(path), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "cannot read" not in err and proc.returncode == 0
    assert "Traceback" not in err and "Exception ignored" not in err
