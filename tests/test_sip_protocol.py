"""Sans-I/O SIP messages, the dialog-info/PIDF mapping and the SIP capture ingest."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.sip.mapping import SipMapper, SipMappingError, parse_dialog_info, parse_pidf
from telephony.sip.offline import parse_capture
from telephony.sip.protocol import SipError, SipMessage, SipParser, encode_response, parse_datagram, tag_of, uri_user
from telephony.sip.ua import digest_authorization
from wfm.cli import main
from wfm.config import load_config
from wfm.events import AgentState, BadLine, encode_event
from wfm.commands.feeds import sip_settings

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data" / "captures" / "sip"
T0 = datetime(2027, 1, 4, 0, 25, tzinfo=timezone.utc)
NOTIFY = (b"NOTIFY sip:wfm@10.0.0.5:5070 SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n"
          b"f: <sip:1001@pbx>;tag=p1\r\nt: <sip:wfm@pbx>;tag=w1\r\ni: abc@10.0.0.5\r\nCSeq: 7 NOTIFY\r\no: dialog\r\n"
          b"Subscription-State: active;expires=600\r\nc: application/dialog-info+xml\r\nl: 5\r\n\r\nhello")


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_datagram_with_compact_headers():
    msg = parse_datagram(NOTIFY)
    assert isinstance(msg, SipMessage) and msg.method == "NOTIFY" and msg.body == b"hello"
    assert msg.call_id == "abc@10.0.0.5" and msg.cseq == (7, "NOTIFY") and msg.get("event") == "dialog"
    assert len(msg.get_all("Via")) == 2 and uri_user(msg.get("From")) == "1001" and tag_of(msg.get("To")) == "w1"


def test_response_copies_via_from_to_call_id_cseq():
    msg = parse_datagram(NOTIFY)
    reply = parse_datagram(encode_response(msg, 200, "OK"))
    assert reply.status == 200 and reply.get_all("Via") == msg.get_all("Via")
    for name in ("From", "To", "Call-ID", "CSeq"):
        assert reply.get(name) == msg.get(name)
    assert reply.get("Content-Length") == "0"


def test_truncated_datagram_is_an_error_that_still_allows_an_answer():
    error = parse_datagram(NOTIFY[:-2])
    assert isinstance(error, SipError) and "cut off mid-body" in error.reason
    assert error.partial is not None and error.partial.method == "NOTIFY" and error.partial.call_id == "abc@10.0.0.5"


def test_stream_framing_several_messages_in_one_read_and_one_across_reads():
    parser = SipParser()
    items = parser.feed(NOTIFY + b"\r\n" + NOTIFY[:40])
    assert len(items) == 1
    items = parser.feed(NOTIFY[40:])
    assert len(items) == 1 and items[0].body == b"hello"
    assert parser.close() == []


@pytest.mark.parametrize("capture", sorted(SAMPLES.glob("*.sip")), ids=lambda p: p.name)
def test_every_split_of_a_capture_gives_identical_messages_and_events(capture, config):
    import random

    data = capture.read_bytes()

    def frame(chunks):
        parser = SipParser()
        items = [item for chunk in chunks for item in parser.feed(chunk)]
        return items + parser.close()

    whole = frame([data])
    for cut in range(1, len(data)):
        assert frame([data[:cut], data[cut:]]) == whole, cut

    def run(chunks):
        return [encode_event(e) if not isinstance(e, BadLine) else e for e in parse_capture(chunks, sip_settings(config), "cap")]

    events = run([data])
    rng = random.Random(4)
    for _ in range(100):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 20)))
        assert run([data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]) == events


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_random_bytes_never_raise(chunks):
    parser = SipParser(max_message_bytes=512)
    for chunk in chunks:
        assert all(isinstance(i, (SipMessage, SipError)) for i in parser.feed(chunk))
        parse_datagram(chunk)
    parser.close()


def test_capture_ingest_matches_expected(capfdbinary):
    path = SAMPLES / "dialog_tcp.sip"
    code = main(["ingest", "--protocol", "sip", "--json", str(path)])
    out, _ = capfdbinary.readouterr()
    got = [json.loads(line) for line in out.decode().splitlines()]
    for obj in got:
        obj.pop("source", None) if obj["type"] == "skipped" else None
    expected = [json.loads(line) for line in (SAMPLES / "dialog_tcp.expected.jsonl").read_text().splitlines()]
    assert code == 1 and got == expected


# ---- dialog-info ------------------------------------------------------------------------

def info(version, state, *dialogs, entity="sip:1001@pbx"):
    inner = "".join(f'<dialog id="{i}"{f" direction={chr(34)}{d}{chr(34)}" if d else ""}><state>{s}</state></dialog>' for i, s, d in dialogs)
    return f'<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" state="{state}" entity="{entity}">{inner}</dialog-info>'.encode()


@pytest.fixture
def mapper(config):
    return SipMapper(sip_settings(config))


def states(events):
    return [(e.agent, e.state) for e in events]


def test_empty_full_notify_means_ready(mapper):
    assert states(mapper.dialog_notify("1001", "s", info(0, "full"), T0)) == [("1001", AgentState.READY)]


@pytest.mark.parametrize(
    "dialogs,expected",
    [
        ([("a", "confirmed", "initiator")], "on_call"),
        ([("a", "early", "recipient")], "ringing"),
        ([("a", "early", "initiator")], "not_ready"),
        ([("a", "trying", None)], "not_ready"),
        ([("a", "early", "recipient"), ("b", "confirmed", "initiator")], "on_call"),
        ([("a", "early", "initiator"), ("b", "early", "recipient")], "ringing"),
        ([("a", "terminated", "recipient")], "ready"),
    ],
)
def test_dialog_set_to_state(mapper, dialogs, expected):
    (event,) = mapper.dialog_notify("1001", "s", info(1, "full", *dialogs), T0)
    assert event.state == AgentState(expected)


def test_partial_merges_and_terminated_removes(mapper):
    mapper.dialog_notify("1001", "s", info(1, "full", ("a", "confirmed", "recipient")), T0)
    assert mapper.dialog_notify("1001", "s", info(2, "partial", ("b", "early", "recipient")), T0) == []  # still on_call
    assert states(mapper.dialog_notify("1001", "s", info(3, "partial", ("a", "terminated", None)), T0)) == [("1001", AgentState.RINGING)]
    assert states(mapper.dialog_notify("1001", "s", info(4, "full"), T0)) == [("1001", AgentState.READY)]


def test_stale_and_repeated_versions_are_ignored(mapper):
    mapper.dialog_notify("1001", "s", info(5, "full", ("a", "confirmed", None)), T0)
    assert mapper.dialog_notify("1001", "s", info(4, "full"), T0) == []
    assert mapper.dialog_notify("1001", "s", info(5, "full"), T0) == []
    assert states(mapper.dialog_notify("1001", "s", info(6, "full"), T0)) == [("1001", AgentState.READY)]


def test_a_new_subscription_restarts_versions_and_is_always_reported(mapper):
    mapper.dialog_notify("1001", "old", info(9, "full"), T0)
    assert states(mapper.dialog_notify("1001", "new", info(0, "full"), T0)) == [("1001", AgentState.READY)]


@pytest.mark.parametrize("body,reason", [(b"<dialog-info", "not well-formed"), (b"<presence/>", "expected <dialog-info>"),
                                         (info(1, "full", ("a", "ringing", None)), "unknown state"),
                                         (b'<!DOCTYPE x [<!ENTITY a "b">]><dialog-info/>', "DTD")])
def test_bad_dialog_info_is_a_mapping_error(mapper, body, reason):
    with pytest.raises(SipMappingError, match=reason):
        mapper.dialog_notify("1001", "s", body, T0)


def pidf(*activities):
    acts = "".join(f"<rpid:{a}/>" for a in activities)
    return (f'<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
            f'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="pres:1001@pbx"><tuple id="t"><status><basic>open</basic></status></tuple>'
            f'<dm:person id="p"><rpid:activities>{acts}</rpid:activities></dm:person></presence>').encode()


@pytest.mark.parametrize("activity,expected", [("meal", "meal"), ("away", "not_ready"), ("busy", "not_ready")])
def test_presence_activities(mapper, activity, expected):
    assert parse_pidf(pidf(activity)).activities == (activity,)
    (event,) = mapper.presence_notify("1001", "p", pidf(activity), T0)
    assert event.state == AgentState(expected) and event.reason == activity


def test_presence_activity_wins_over_dialogs_and_clears(mapper):
    mapper.dialog_notify("1001", "d", info(1, "full", ("a", "confirmed", None)), T0)
    (meal,) = mapper.presence_notify("1001", "p", pidf("meal"), T0)
    assert meal.state is AgentState.MEAL
    (back,) = mapper.presence_notify("1001", "p", pidf(), T0)
    assert back.state is AgentState.ON_CALL


def test_an_empty_notify_body_means_no_dialogs(mapper):
    # an agent who never had a call: Kamailio's first NOTIFY has no body at all
    assert states(mapper.dialog_notify("1001", "s", b"", T0)) == [("1001", AgentState.READY)]
    assert states(mapper.dialog_notify("1001", "s", info(2, "full", ("a", "confirmed", None)), T0)) == [("1001", AgentState.ON_CALL)]
    # the call's publication expired: an empty body again ends the call
    assert states(mapper.dialog_notify("1001", "s", b"\r\n", T0)) == [("1001", AgentState.READY)]
    # versions still count: after the empty body, a document older than the last one is stale
    assert mapper.dialog_notify("1001", "s", info(1, "full", ("b", "confirmed", None)), T0) == []
    assert states(mapper.dialog_notify("1001", "s", info(3, "full", ("b", "confirmed", None)), T0)) == [("1001", AgentState.ON_CALL)]


def test_a_non_empty_body_that_is_not_dialog_info_is_still_an_error(mapper):
    with pytest.raises(SipMappingError):
        mapper.dialog_notify("1001", "s", b"  garbage  ", T0)


def pidf_basic(basic, *activities):
    return pidf(*activities).replace(b"<basic>open</basic>", f"<basic>{basic}</basic>".encode())


@pytest.mark.parametrize("closed_state", ["logged_out", "not_ready"])
def test_pidf_closed_maps_to_the_configured_state_never_ready(config, closed_state):
    mapper = SipMapper(dataclasses.replace(sip_settings(config), presence_closed=closed_state))
    assert states(mapper.dialog_notify("1001", "d", b"", T0)) == [("1001", AgentState.READY)]
    assert states(mapper.presence_notify("1001", "p", pidf_basic("closed"), T0)) == [("1001", AgentState(closed_state))]
    # a live call beats closed presence; when it ends, closed decides again
    assert states(mapper.dialog_notify("1001", "d", info(1, "full", ("a", "confirmed", None)), T0)) == [("1001", AgentState.ON_CALL)]
    assert states(mapper.dialog_notify("1001", "d", info(2, "full"), T0)) == [("1001", AgentState(closed_state))]
    # an activity says more than closed
    (meal,) = mapper.presence_notify("1001", "p", pidf_basic("closed", "meal"), T0)
    assert meal.state is AgentState.MEAL
    assert states(mapper.presence_notify("1001", "p", pidf_basic("open"), T0)) == [("1001", AgentState.READY)]


def test_pidf_open_is_not_closed_and_an_empty_presence_body_clears_presence(mapper):
    mapper.dialog_notify("1001", "d", b"", T0)
    (away,) = mapper.presence_notify("1001", "p", pidf_basic("open", "away"), T0)
    assert away.state is AgentState.NOT_READY and away.reason == "away"
    assert states(mapper.presence_notify("1001", "p", b"", T0)) == [("1001", AgentState.READY)]


def test_the_presence_subscriptions_first_notify_repeats_no_unchanged_state(mapper):
    assert states(mapper.dialog_notify("1001", "d", b"", T0)) == [("1001", AgentState.READY)]
    assert mapper.presence_notify("1001", "p", b"", T0) == []  # still ready: said once
    fresh = SipMapper(mapper.settings)
    assert states(fresh.presence_notify("1002", "p", b"", T0)) == [("1002", AgentState.READY)]  # the first word on 1002


def test_dialog_info_entity_and_version():
    parsed = parse_dialog_info(info(3, "partial", ("x", "early", "recipient")))
    assert parsed.version == 3 and not parsed.full and uri_user(parsed.entity) == "1001"


def test_digest_authorization_rfc2617_example():
    # RFC 2617 §3.5 example values
    challenge = 'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    header = digest_authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in header and "qop=auth" in header


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode),
                 st.sampled_from([b'<?xml version="1.0" encoding="bogus"?><dialog-info/>', b"<dialog-info version='x'/>",
                                  b"<dialog-info state='weird'/>", b"<presence><tuple><status><basic>open"])))
def test_any_notify_body_gives_states_or_a_mapping_error(body):
    mapper = SipMapper(sip_settings(load_config()))
    for notify in (mapper.dialog_notify, mapper.presence_notify):
        try:
            for event in notify("1001", "s", body, T0):
                assert event.agent == "1001"
        except SipMappingError:
            pass


def test_unknown_xml_encoding_is_a_mapping_error(mapper):
    with pytest.raises(SipMappingError, match="cannot be decoded"):
        mapper.dialog_notify("1001", "s", b'<?xml version="1.0" encoding="bogus"?><dialog-info/>', T0)


def test_configured_wrap_up_follows_a_sip_call_and_ends_on_time():
    from datetime import timedelta

    from wfm.config import default_data, from_data, merge

    config = from_data(merge(default_data(), {"pbx": {"wrap_up_s": 20}}))
    mapper = SipMapper(sip_settings(config))
    mapper.dialog_notify("1001", "s", info(0, "full"), T0)
    mapper.dialog_notify("1001", "s", info(1, "full", ("a", "confirmed", "recipient")), T0 + timedelta(seconds=5))
    (wrap,) = mapper.dialog_notify("1001", "s", info(2, "full"), T0 + timedelta(seconds=65))
    assert wrap.state is AgentState.WRAP_UP
    assert mapper.advance(T0 + timedelta(seconds=84)) == []
    (ready,) = mapper.advance(T0 + timedelta(seconds=90))
    assert ready.state is AgentState.READY and ready.ts == T0 + timedelta(seconds=85)
    # without wrap-up configured the same call ends in ready at once
    plain = SipMapper(sip_settings(load_config()))
    plain.dialog_notify("1001", "s", info(0, "full"), T0)
    plain.dialog_notify("1001", "s", info(1, "full", ("a", "confirmed", "recipient")), T0)
    (after,) = plain.dialog_notify("1001", "s", info(2, "full"), T0)
    assert after.state is AgentState.READY


def test_a_new_call_ends_a_sip_wrap_up():
    from datetime import timedelta

    from wfm.config import default_data, from_data, merge

    mapper = SipMapper(sip_settings(from_data(merge(default_data(), {"pbx": {"wrap_up_s": 20}}))))
    mapper.dialog_notify("1001", "s", info(0, "full", ("a", "confirmed", None)), T0)
    mapper.dialog_notify("1001", "s", info(1, "full"), T0 + timedelta(seconds=1))
    (ringing,) = mapper.dialog_notify("1001", "s", info(2, "full", ("b", "early", "recipient")), T0 + timedelta(seconds=3))
    assert ringing.state is AgentState.RINGING and mapper.next_due() is None
