"""§1 events: strict decoding, round trips, line-numbered errors that keep the good lines."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wfm.decisions import BreakDecision, Violation, decode_output, encode_output
from wfm.events import (
    AgentState,
    AgentStateEvent,
    BadLine,
    BreakCancelEvent,
    BreakKind,
    BreakRequestEvent,
    CallEvent,
    CallEventKind,
    EventDecodeError,
    OverrideAction,
    OverrideEvent,
    QueueStatusEvent,
    ResyncEvent,
    ShiftEvent,
    decode_event,
    encode_event,
    read_events,
)

TZ8 = timezone(timedelta(hours=8))

offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.builds(
    lambda dt, tz: dt.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    offsets,
)
ids = st.text(min_size=1, max_size=12)
opt_text = st.none() | st.text(max_size=12)
non_neg = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@st.composite
def shifts(draw):
    start = draw(aware)
    length = draw(st.integers(min_value=1, max_value=24 * 60))
    end = start + timedelta(minutes=length)
    meal = draw(st.none() | st.integers(min_value=0, max_value=length - 1))
    return ShiftEvent(
        ts=draw(aware), agent=draw(ids), start=start, end=end,
        meal_start=None if meal is None else start + timedelta(minutes=meal),
    )


events = st.one_of(
    st.builds(AgentStateEvent, ts=aware, agent=ids, state=st.sampled_from(AgentState),
              queues=st.none() | st.lists(ids, max_size=3), reason=opt_text, source=opt_text),
    st.builds(QueueStatusEvent, ts=aware, queue=ids, waiting=st.integers(0, 10_000),
              longest_wait_s=st.none() | non_neg, source=opt_text),
    st.builds(CallEvent, ts=aware, queue=ids, call_id=ids, event=st.sampled_from(CallEventKind),
              agent=opt_text, wait_s=st.none() | non_neg, talk_s=st.none() | non_neg),
    st.builds(BreakRequestEvent, ts=aware, agent=ids, kind=st.sampled_from(BreakKind),
              minutes=st.none() | st.floats(min_value=0.5, max_value=600), queue=st.booleans()),
    st.builds(BreakCancelEvent, ts=aware, agent=ids),
    st.builds(OverrideEvent, ts=aware, supervisor=ids, agent=ids,
              action=st.sampled_from(OverrideAction), note=opt_text),
    shifts(),
    st.builds(ResyncEvent, ts=aware, source=ids, phase=st.sampled_from(["begin", "end"])),
)


@settings(max_examples=400)
@given(events)
def test_every_event_type_round_trips(event):
    line = encode_event(event)
    decoded = decode_event(line)
    assert decoded == event
    assert encode_event(decoded) == line
    assert decoded.ts.utcoffset() == event.ts.utcoffset()


def test_spec_example_decodes_with_unknown_keys_ignored():
    event = decode_event(
        '{"ts":"2027-01-04T08:27:00+08:00","type":"agent_state","agent":"1001",'
        '"state":"short_break","reason":"小休","vendor_extra":{"x":1}}'
    )
    assert event == AgentStateEvent(
        ts=datetime(2027, 1, 4, 8, 27, tzinfo=TZ8), agent="1001",
        state=AgentState.SHORT_BREAK, reason="小休",
    )
    assert encode_event(event).startswith(b'{"type":"agent_state","ts":"2027-01-04T08:27:00+08:00"')


@pytest.mark.parametrize(
    "line, fragment",
    [
        ('{"ts":"2027-01-04T08:27:00","type":"agent_state","agent":"1","state":"ready"}', "timezone"),
        ('{"ts":"2027-01-04T08:27:00Z","type":"agent_state","agent":"1","state":"dancing"}', "$.state"),
        ('{"ts":"2027-01-04T08:27:00Z","type":"queue_status","queue":"q"}', "`waiting`"),
        ('{"ts":"2027-01-04T08:27:00Z","type":"queue_status","queue":"q","waiting":-1}', "$.waiting"),
        ('{"ts":"2027-01-04T08:27:00Z","type":"teleport","agent":"1"}', "$.type"),
        ('{"type":"break_cancel","agent":"1"}', "`ts`"),
        ('{"ts":"2027-01-04T08:27:00Z","type":"break_request","agent":"1","kind":"nap"}', "$.kind"),
        ('{"ts":"2027-01-04T09:00:00Z","type":"shift","agent":"a","start":"2027-01-04T09:00:00Z",'
         '"end":"2027-01-04T08:00:00Z"}', "end must be after start"),
        ("not json", "JSON"),
        ('["a list"]', "Expected `object`"),
    ],
)
def test_invalid_lines_are_rejected_with_the_field_named(line, fragment):
    with pytest.raises(EventDecodeError) as info:
        decode_event(line)
    assert fragment.lower() in str(info.value).lower()


def test_bad_lines_keep_their_line_number_and_the_good_lines_around_them():
    good = '{"ts":"2027-01-04T08:27:00+08:00","type":"break_cancel","agent":"%d"}'
    lines = [
        good % 1,
        "{broken",
        "",
        good % 2,
        '{"ts":"2027-01-04T08:27:00+08:00","type":"break_cancel"}',
        b"\xff\xfe not utf-8",
        good % 3,
    ]
    items = list(read_events(lines, "day.jsonl"))
    assert [i.agent for i in items if isinstance(i, BreakCancelEvent)] == ["1", "2", "3"]
    bad = [i for i in items if isinstance(i, BadLine)]
    assert [b.line for b in bad] == [2, 5, 6]
    assert bad[0].message().startswith("day.jsonl:2: skipped: ")
    assert "`agent`" in bad[1].reason
    assert "UTF-8" in bad[2].reason
    assert bad[1].to_json()["type"] == "skipped" and bad[1].to_json()["line"] == 5


def test_a_utf8_character_split_by_the_caller_is_not_this_layers_concern_but_whole_lines_decode():
    raw = '{"ts":"2027-01-04T08:27:00+08:00","type":"agent_state","agent":"7","state":"meal","reason":"用餐"}'.encode()
    (event,) = list(read_events([raw]))
    assert event.reason == "用餐"


def test_events_are_immutable():
    event = BreakCancelEvent(ts=datetime(2027, 1, 4, tzinfo=TZ8), agent="1")
    with pytest.raises(AttributeError):
        event.agent = "2"  # type: ignore[misc]


def test_decision_records_keep_spec_key_order_and_nulls():
    ts = datetime(2027, 1, 4, 10, 0, tzinfo=TZ8)
    decision = BreakDecision(ts=ts, agent="1001", kind=BreakKind.SHORT, allowed=False,
                             rule="QUEUE_NEAR_FULL", detail="idle agents 3 <= 3", next_window=None)
    data = encode_output(decision)
    assert list(msgspec.json.decode(data)) == [
        "type", "ts", "agent", "kind", "allowed", "rule", "detail", "next_window"]
    assert decode_output(data) == decision
    violation = Violation(ts=ts, agent=None, rule="POST_EMPTY", detail="nobody signed in")
    assert msgspec.json.decode(encode_output(violation)) == {
        "type": "violation", "ts": "2027-01-04T10:00:00+08:00", "agent": None,
        "rule": "POST_EMPTY", "detail": "nobody signed in"}


def test_on_post_states_follow_the_spec():
    on_post = {s for s in AgentState if s.on_post}
    assert on_post == {AgentState.READY, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP}
    assert not AgentState.LOGGED_OUT.signed_in and AgentState.NOT_READY.signed_in


def test_decision_times_keep_a_utc_offset_spelled_out():
    utc = datetime(2027, 1, 4, 0, 27, tzinfo=timezone.utc)
    decision = BreakDecision(ts=utc, agent="1", kind=BreakKind.MEAL, allowed=True, rule=None,
                             detail="ok", next_window=utc + timedelta(minutes=5))
    data = msgspec.json.decode(encode_output(decision))
    assert data["ts"] == "2027-01-04T00:27:00+00:00"
    assert data["next_window"] == "2027-01-04T00:32:00+00:00"
    assert decode_output(encode_output(decision)) == decision
