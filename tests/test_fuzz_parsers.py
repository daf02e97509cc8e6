"""Bad input, property-based (issue 9 item 5): every parser, fed damaged and random input, answers
with its own error type — never another exception, never a hang.

Inputs are the shipped samples (captures, scenarios, roster/demand/history
CSVs, a Curtois instance, the config) cut at random places, with bytes
inserted, deleted and replaced, fed in random chunk sizes; plus plain random
bytes. Stream parsers must return only their item and error types; mappers
and file readers may raise only their named error, whose message is one line
that names the file (for files) — what `wfm` prints as the one-line reason.
"""
from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wfm.commands.feeds import ami_settings, esl_settings, serial_settings
from wfm.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_data"
CONFIG = load_config(None)
TZ = CONFIG.floor.tz
RECEIVED = datetime(2027, 1, 4, 9, 0, tzinfo=timezone(timedelta(hours=8)))

FUZZ = settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _sample(*parts: str) -> bytes:
    return (SAMPLES.joinpath(*parts)).read_bytes()


@st.composite
def damaged(draw, sample: bytes, max_window: int = 6000) -> bytes:
    """A window of `sample` with random edits (insert / delete / replace / truncate)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2000))  # now and then: nothing like the format at all
    start = draw(st.integers(0, max(0, len(sample) - 1)))
    data = bytearray(sample[start:start + draw(st.integers(0, max_window))])
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(("insert", "delete", "replace", "truncate", "noise")))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(st.sampled_from([b"\r\n", b"\n", b":", b": ", b"\x00", b"\xff\xfe", "小休".encode(),
                                                b",", b'"', b"\r\n\r\n", b"Content-Length: 99999\r\n", b"{", b"}"]))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(max_size=30))
    return bytes(data)


@st.composite
def chunked(draw, data: bytes) -> list[bytes]:
    """`data` cut into random pieces (split UTF-8 characters and separators included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    pieces, last = [], 0
    for cut in cuts + [len(data)]:
        pieces.append(data[last:cut])
        last = cut
    return pieces


def _write(data: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(prefix="fuzz-", suffix=suffix, delete=False)
    with handle:
        handle.write(data)
    return Path(handle.name)


def _one_line_naming(exc: Exception, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text.strip(), text
    assert str(path) in text, text


# ───────────────────────────────────────────────────────────── PBX protocols


AMI_SAMPLE = _sample("captures", "ami", "asterisk18_floor.ami") + _sample("captures", "ami", "asterisk11_floor.ami")


@FUZZ
@given(st.data())
def test_ami_parser_and_mapper_only_report_their_own_errors(data):
    from telephony.ami.mapping import AmiMapper, AmiMappingError
    from telephony.ami.protocol import AmiBanner, AmiError, AmiMessage, AmiParser
    from wfm.events import encode_event

    raw = data.draw(damaged(AMI_SAMPLE))
    parser = AmiParser(max_message_bytes=4096)
    mapper = AmiMapper(ami_settings(CONFIG), "fuzz")
    items = []
    for piece in data.draw(chunked(raw)):
        items.extend(parser.feed(piece))
        parser.check_state()  # the buffer stays bounded
    items.extend(parser.close())
    for item in items:
        assert isinstance(item, (AmiMessage, AmiError, AmiBanner)), item
        if isinstance(item, AmiMessage):
            try:
                events = mapper.map(item, RECEIVED)
            except AmiMappingError as exc:
                assert str(exc)
                continue
            for event in events:
                encode_event(event)  # whatever came out is a valid §1 event


ESL_SAMPLE = _sample("captures", "esl", "callcenter.esl") + _sample("captures", "esl", "callcenter_bad.esl")


@FUZZ
@given(st.data())
def test_esl_parser_and_mapper_only_report_their_own_errors(data):
    from telephony.esl.mapping import EslMapper, EslMappingError
    from telephony.esl.protocol import EslError, EslEvent, EslMessage, EslParser
    from wfm.events import encode_event

    raw = data.draw(damaged(ESL_SAMPLE))
    parser = EslParser(max_header_bytes=4096, max_body_bytes=64 * 1024)
    mapper = EslMapper(esl_settings(CONFIG), "fuzz")
    items = []
    for piece in data.draw(chunked(raw)):
        items.extend(parser.feed(piece))
        assert parser.buffered <= 4096 + 64 * 1024 + 4
    items.extend(parser.close())
    for item in items:
        assert isinstance(item, (EslMessage, EslEvent, EslError)), item
        if isinstance(item, EslEvent):
            try:
                events = mapper.map_event(item, RECEIVED)
            except EslMappingError as exc:
                assert str(exc)
                continue
            for event in events:
                encode_event(event)


SERIAL_SAMPLE = _sample("captures", "serial", "mixed_feed.txt") + _sample("captures", "serial", "noisy_feed.txt")


@FUZZ
@given(st.data())
def test_serial_splitter_records_and_mapper_only_report_their_own_errors(data):
    from telephony.serial.mapping import SerialMapper
    from telephony.serial.protocol import LineError, LineSplitter, RawLine, parse_line
    from wfm.events import encode_event

    raw = data.draw(damaged(SERIAL_SAMPLE))
    profile = data.draw(st.sampled_from(("auto", "acd", "smdr")))
    splitter = LineSplitter(max_line_bytes=512)
    mapper = SerialMapper(serial_settings(CONFIG), "fuzz")
    lines = []
    for piece in data.draw(chunked(raw)):
        lines.extend(splitter.feed(piece))
        assert splitter.buffered <= 512 + 2
    lines.extend(splitter.close())
    for line in lines:
        assert isinstance(line, (RawLine, LineError)), line
        if isinstance(line, RawLine):
            record = parse_line(line, profile)
            if record is None or isinstance(record, LineError):
                continue
            for event in mapper.map(record):  # a parsed record always maps
                encode_event(event)


SIP_SAMPLE = _sample("captures", "sip", "dialog_tcp.sip")


@FUZZ
@given(st.data())
def test_sip_framing_and_bodies_only_report_their_own_errors(data):
    from telephony.sip.mapping import SipMappingError, parse_dialog_info, parse_pidf
    from telephony.sip.protocol import SipError, SipMessage, SipParser, parse_datagram

    raw = data.draw(damaged(SIP_SAMPLE))
    parser = SipParser(max_message_bytes=8192)
    items = []
    for piece in data.draw(chunked(raw)):
        items.extend(parser.feed(piece))
    items.extend(parser.close())
    items.append(parse_datagram(raw[:8192]))
    for item in items:
        assert isinstance(item, (SipMessage, SipError)), item
        if isinstance(item, SipMessage) and item.body:
            for parse in (parse_dialog_info, parse_pidf):
                try:
                    parse(item.body)
                except SipMappingError as exc:
                    assert str(exc)


@FUZZ
@given(st.binary(max_size=4000))
def test_sip_xml_bodies_refuse_garbage_and_entities_with_their_own_error(body):
    from telephony.sip.mapping import SipMappingError, parse_dialog_info, parse_pidf

    for parse in (parse_dialog_info, parse_pidf):
        try:
            parse(body)
        except SipMappingError:
            pass


def test_sip_billion_laughs_is_refused_not_expanded():
    from telephony.sip.mapping import SipMappingError, parse_dialog_info

    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
            + b"".join(b'<!ENTITY %s "&%s;&%s;&%s;&%s;&%s;&%s;&%s;&%s;&%s;&%s;">' % ((chr(98 + i).encode(),) + (chr(97 + i).encode(),) * 10)
                       for i in range(8))
            + b']><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="sip:1001@x">&i;</dialog-info>')
    with pytest.raises(SipMappingError):
        parse_dialog_info(bomb)


# ───────────────────────────────────────────────────────────── §1 events


EVENTS_SAMPLE = b"".join(p.read_bytes() for p in sorted((SAMPLES / "scenarios").glob("*.jsonl")) if "expected" not in p.name)


@FUZZ
@given(st.data())
def test_event_lines_are_events_or_numbered_bad_lines(data):
    from wfm.events import BadLine, Event, encode_event, read_events

    raw = data.draw(damaged(EVENTS_SAMPLE))
    lines = raw.split(b"\n")
    items = list(read_events(lines, "fuzz.jsonl"))
    assert len(items) <= len(lines)
    for item in items:
        if isinstance(item, BadLine):
            assert 1 <= item.line <= len(lines) and item.message().startswith("fuzz.jsonl:")
            assert "\n" not in item.message()
        else:
            assert isinstance(item, Event.__args__ if hasattr(Event, "__args__") else object)
            encode_event(item)


def test_a_bad_value_with_an_escaped_line_break_is_reported_on_one_line():
    # found by the fuzz test above: msgspec echoes the decoded value of a bad type tag
    from wfm.events import BadLine, read_events

    [item] = read_events(['{"type":"a\\nb\\u0007"}'], "fuzz.jsonl")
    assert isinstance(item, BadLine)
    assert "\n" not in item.message() and "\x07" not in item.message()
    assert "'a\\nb\\x07'" in item.message() and "$.type" in item.message()


# ───────────────────────────────────────────────────────────── files: config, NRP, roster, demand, staffing, history


CONFIG_SAMPLE = (REPO / "wfm" / "defaults.toml").read_bytes() + _sample("roster", "site.toml")


@FUZZ
@given(st.data())
def test_config_toml_loads_or_is_a_config_error_naming_the_file(data):
    path = _write(data.draw(damaged(CONFIG_SAMPLE, 3000)), ".toml")
    try:
        load_config(path)
    except ConfigError as exc:
        _one_line_naming(exc, path)
    finally:
        path.unlink()


NRP_SAMPLE = REPO / "benchmarks" / "instances" / "nrp" / "Instance1.txt"


@FUZZ
@given(st.data())
def test_nrp_instance_parses_or_is_an_instance_error_naming_the_file(data):
    from optimizer.nrp.parser import InstanceError, read_instance

    path = _write(data.draw(damaged(NRP_SAMPLE.read_bytes())), ".txt")
    try:
        read_instance(path)
    except InstanceError as exc:
        _one_line_naming(exc, path)
    finally:
        path.unlink()


AGENTS_SAMPLE = _sample("roster", "agents.csv")
DEMAND_SAMPLE = _sample("roster", "demand.csv")
HISTORY_SAMPLE = _sample("history", "bank_calls.csv")[:20000]


def _roster_sample() -> bytes:
    rows = ["agent_id,date,shift,start,end,meal_start"]
    for day in range(1, 29):
        rows.append(f"1001,2027-02-{day:02d},day,08:30,16:00,11:30")
        rows.append(f"1002,2027-02-{day:02d},{'OFF,,,' if day % 7 == 0 else 'evening,16:00,23:30,19:00'}")
    return ("\n".join(rows) + "\n").encode()


ROSTER_SAMPLE = _roster_sample()


@FUZZ
@given(st.data())
def test_roster_inputs_read_or_are_one_line_errors_naming_the_file(data):
    from optimizer.roster.io import RosterInputError, read_agents, read_demand, read_previous, read_roster_csv, \
        shifts_from_config

    shifts = shifts_from_config(CONFIG.roster, CONFIG.floor)
    names = [s.name for s in shifts]
    cases = [
        (AGENTS_SAMPLE, lambda p: read_agents(p, names)),
        (DEMAND_SAMPLE, lambda p: read_demand(p, 2027, 1, shifts, CONFIG.roster.interval_min)),
        (ROSTER_SAMPLE, lambda p: read_roster_csv(p, shifts)),
        (ROSTER_SAMPLE, lambda p: read_previous(p, shifts)),
    ]
    sample, reader = cases[data.draw(st.integers(0, len(cases) - 1))]
    path = _write(data.draw(damaged(sample, 4000)), ".csv")
    try:
        reader(path)
    except RosterInputError as exc:
        _one_line_naming(exc, path)
    finally:
        path.unlink()


@FUZZ
@given(st.data())
def test_checker_inputs_read_or_are_one_line_errors_naming_the_file(data):
    from optimizer.checker.reader import CheckInputError, read_agents, read_demand, read_roster

    cases = [
        (AGENTS_SAMPLE, read_agents),
        (DEMAND_SAMPLE, lambda p: read_demand(p, TZ)),
        (ROSTER_SAMPLE, lambda p: read_roster(p, TZ, {"day", "evening"})),
    ]
    sample, reader = cases[data.draw(st.integers(0, len(cases) - 1))]
    path = _write(data.draw(damaged(sample, 4000)), ".csv")
    try:
        reader(path)
    except CheckInputError as exc:
        _one_line_naming(exc, path)
    finally:
        path.unlink()


def _interval_sample() -> bytes:
    rows = ["date,interval_start,calls,aht_s"]
    for day in (3, 4):
        for slot in range(16, 40):
            rows.append(f"2027-01-{day:02d},{slot // 2:02d}:{30 * (slot % 2):02d},{20 + slot * 3},{170 + slot}")
    return ("\n".join(rows) + "\n").encode()


INTERVAL_SAMPLE = _interval_sample()


@FUZZ
@given(st.data())
def test_staffing_csv_reads_or_is_a_one_line_error_naming_the_file(data):
    from optimizer.staffing import StaffingInputError, read_interval_csv

    path = _write(data.draw(damaged(INTERVAL_SAMPLE, 3000)), ".csv")
    try:
        read_interval_csv(path, 30)
    except StaffingInputError as exc:
        _one_line_naming(exc, path)
    finally:
        path.unlink()


@FUZZ
@given(st.data())
def test_history_csv_reads_or_is_a_one_line_error_naming_the_file(data):
    from optimizer.forecast.history import HistoryError, read_history

    path = _write(data.draw(damaged(HISTORY_SAMPLE, 8000)), ".csv")
    try:
        read_history(path, TZ)
    except HistoryError as exc:
        _one_line_naming(exc, path)
    finally:
        path.unlink()
