"""AMI → §1 events (docs/pbx-mapping.md): identity, states, pauses, calls, queues, wrap-up, snapshot."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from telephony.ami.mapping import AmiMapper, AmiMappingError, check_queue, check_suffix, strip_technology
from telephony.ami.protocol import AmiMessage
from wfm.commands.feeds import ami_settings
from wfm.config import default_data, from_data, load_config, merge
from wfm.events import AgentState, AgentStateEvent, CallEvent, QueueStatusEvent

T0 = datetime(2027, 1, 4, 0, 25, tzinfo=timezone.utc)


def msg(*pairs: tuple[str, object], line: int = 1) -> AmiMessage:
    return AmiMessage(tuple((k, str(v)) for k, v in pairs), line)


def member(event="QueueMemberStatus", queue="general", iface="PJSIP/1001", name="Alice", status=1, paused=0, reason="", incall=0, **extra):
    pairs = [("Event", event), ("Queue", queue), ("MemberName", name), ("Interface", iface), ("InCall", incall), ("Status", status), ("Paused", paused), ("PausedReason", reason)]
    pairs += list(extra.items())
    return msg(*pairs)


def config_with(**pbx):
    return from_data(merge(default_data(), {"pbx": pbx}))


@pytest.fixture
def mapper():
    config = load_config()
    return AmiMapper(ami_settings(config))


def states(events):
    return [(e.agent, e.state, e.reason) for e in events if isinstance(e, AgentStateEvent)]


def test_ts_is_the_pbx_timestamp_in_the_floor_zone(mapper):
    (event,) = mapper.map(member(Timestamp="1799022300.250000"), T0 + timedelta(hours=1))
    assert event.ts == datetime(2027, 1, 4, 8, 25, 0, 250000, tzinfo=mapper.tz)
    assert event.ts.utcoffset() == timedelta(hours=8)


def test_ts_falls_back_to_the_receive_time(mapper):
    (event,) = mapper.map(member(), T0)
    assert event.ts == T0 and event.ts.utcoffset() == timedelta(hours=8)


def test_bad_timestamp_is_a_mapping_error(mapper):
    with pytest.raises(AmiMappingError, match="Timestamp"):
        mapper.map(member(Timestamp="yesterday"), T0)


@pytest.mark.parametrize(
    "interface,expected",
    [("PJSIP/1001", "1001"), ("SIP/2001", "2001"), ("Local/1001@agents/n", "1001"), ("Agent/7", "7"), ("1001", "1001")],
)
def test_technology_prefix_is_stripped(interface, expected):
    assert strip_technology(interface) == expected


def test_one_agent_under_interface_location_member_and_name_gets_one_id(mapper):
    events = []
    events += mapper.map(member(iface="PJSIP/1001", name="Alice Wang"), T0)
    events += mapper.map(msg(("Event", "QueueMemberPaused"), ("Queue", "general"), ("Location", "PJSIP/1001"), ("MemberName", "Alice Wang"), ("Paused", 1), ("Reason", "小休")), T0)
    events += mapper.map(msg(("Event", "AgentConnect"), ("Queue", "general"), ("Uniqueid", "1.1"), ("Member", "PJSIP/1001"), ("MemberName", "Alice Wang"), ("Holdtime", 3)), T0)
    events += mapper.map(msg(("Event", "QueueMemberPause"), ("Queue", "general"), ("MemberName", "Alice Wang"), ("Paused", 0)), T0)
    agents = {e.agent for e in events if hasattr(e, "agent") and e.agent}
    assert agents == {"1001"}


def test_aliases_from_config_win():
    config = config_with(agent_aliases={"PJSIP/1001": "alice", "Bob Li": "bob"})
    mapper = AmiMapper(ami_settings(config))
    (a,) = mapper.map(member(iface="PJSIP/1001", name="Alice"), T0)
    (b,) = mapper.map(member(iface="PJSIP/1002", name="Bob Li"), T0)
    assert (a.agent, b.agent) == ("alice", "bob")


def test_member_without_any_id_is_a_mapping_error(mapper):
    with pytest.raises(AmiMappingError, match="names no member"):
        mapper.map(msg(("Event", "QueueMemberStatus"), ("Queue", "general"), ("Status", 1)), T0)


@pytest.mark.parametrize(
    "status,incall,expected",
    [(1, 0, "ready"), (0, 0, "ready"), (6, 0, "ringing"), (2, 0, "on_call"), (1, 1, "on_call"), (3, 0, "on_call"), (8, 0, "on_call"), (7, 0, "on_call"), (5, 0, "logged_out"), (4, 0, "logged_out")],
)
def test_status_codes(mapper, status, incall, expected):
    (event,) = mapper.map(member(status=status, incall=incall), T0)
    assert event.state == AgentState(expected)


def test_status_unavailable_can_map_to_not_ready():
    config = config_with(status_unavailable="not_ready")
    (event,) = AmiMapper(ami_settings(config)).map(member(status=5), T0)
    assert event.state is AgentState.NOT_READY


@pytest.mark.parametrize("reason,expected", [("小休", "short_break"), ("用餐", "meal"), ("培训", "not_ready"), ("", "not_ready")])
def test_paused_wins_over_status_and_reason_is_mapped(mapper, reason, expected):
    (event,) = mapper.map(member(status=2, incall=1, paused=1, reason=reason), T0)
    assert event.state == AgentState(expected)
    assert event.reason == (reason or None)


def test_pause_reasons_come_from_config():
    config = config_with(pause_reasons={"Lunch": "meal"})
    mapper = AmiMapper(ami_settings(config))
    (event,) = mapper.map(member(paused=1, reason="Lunch"), T0)
    assert event.state is AgentState.MEAL


def test_unpause_returns_to_the_device_state(mapper):
    mapper.map(member(status=1, paused=1, reason="小休"), T0)
    (event,) = mapper.map(member(event="QueueMemberPause", status=1, paused=0), T0)
    assert event.state is AgentState.READY and event.reason is None


def test_asterisk11_pause_uses_reason_header(mapper):
    (event,) = mapper.map(msg(("Event", "QueueMemberPaused"), ("Queue", "sales"), ("Location", "SIP/2001"), ("MemberName", "2001"), ("Paused", 1), ("Reason", "用餐")), T0)
    assert (event.agent, event.state, event.reason) == ("2001", AgentState.MEAL, "用餐")


def test_paused_in_one_queue_but_available_in_another_is_not_paused(mapper):
    mapper.map(member(queue="general"), T0)
    mapper.map(member(queue="billing"), T0)
    assert mapper.map(member(event="QueueMemberPause", queue="billing", paused=1, reason="小休"), T0) == []  # still ready
    (event,) = mapper.map(member(event="QueueMemberPause", queue="general", paused=1, reason="小休"), T0)
    assert event.state is AgentState.SHORT_BREAK


def test_same_state_twice_is_emitted_once(mapper):
    assert len(mapper.map(member(), T0)) == 1
    assert mapper.map(member(), T0 + timedelta(seconds=1)) == []


def test_member_added_and_removed(mapper):
    (added,) = mapper.map(member(event="QueueMemberAdded", queue="general"), T0)
    mapper.map(member(event="QueueMemberAdded", queue="billing"), T0)
    assert added.state is AgentState.READY
    (partial,) = mapper.map(member(event="QueueMemberRemoved", queue="billing"), T0)
    assert partial.state is AgentState.READY and partial.queues == ["general"]
    (gone,) = mapper.map(member(event="QueueMemberRemoved", queue="general"), T0)
    assert gone.state is AgentState.LOGGED_OUT and gone.queues == []


def caller(event, uid="1.1", queue="general", **extra):
    return msg(("Event", event), ("Queue", queue), ("Uniqueid", uid), *extra.items())


def test_caller_join_offers_a_call_and_sets_waiting(mapper):
    call, status = mapper.map(caller("QueueCallerJoin", Count=3, Position=3), T0)
    assert isinstance(call, CallEvent) and call.event.value == "offered" and call.call_id == "1.1"
    assert isinstance(status, QueueStatusEvent) and status.waiting == 3


def test_asterisk11_join_and_leave(mapper):
    _, joined = mapper.map(caller("Join", Count=1), T0)
    (left,) = mapper.map(caller("Leave", Count=0), T0)
    assert (joined.waiting, left.waiting) == (1, 0)


def test_abandon_with_holdtime(mapper):
    (call,) = mapper.map(caller("QueueCallerAbandon", HoldTime=48, Position=1, OriginalPosition=2), T0)
    assert call.event.value == "abandoned" and call.wait_s == 48.0


def test_bad_count_is_a_mapping_error(mapper):
    with pytest.raises(AmiMappingError, match="Count"):
        mapper.map(caller("QueueCallerLeave", Count="many"), T0)


def test_missing_uniqueid_is_a_mapping_error(mapper):
    with pytest.raises(AmiMappingError, match="Uniqueid"):
        mapper.map(msg(("Event", "QueueCallerJoin"), ("Queue", "general"), ("Count", 1)), T0)


def agent(event, uid="1.1", iface="PJSIP/1001", **extra):
    return msg(("Event", event), ("Queue", "general"), ("Uniqueid", uid), ("Interface", iface), ("MemberName", "Alice"), *extra.items())


def test_called_connect_complete_cycle(mapper):
    mapper.map(member(), T0)
    assert states(mapper.map(agent("AgentCalled"), T0)) == [("1001", AgentState.RINGING, None)]
    answered, on_call = mapper.map(agent("AgentConnect", HoldTime=26, RingTime=4), T0)
    assert answered.event.value == "answered" and answered.agent == "1001" and answered.wait_s == 26.0
    assert on_call.state is AgentState.ON_CALL
    completed, ready = mapper.map(agent("AgentComplete", HoldTime=26, TalkTime=182, Reason="caller"), T0)
    assert completed.event.value == "completed" and completed.talk_s == 182.0 and completed.wait_s == 26.0
    assert ready.state is AgentState.READY  # wrap_up_s = 0: ready at once, as in Asterisk


def test_ring_no_answer_returns_to_ready_or_pause(mapper):
    mapper.map(member(), T0)
    mapper.map(agent("AgentCalled"), T0)
    assert states(mapper.map(agent("AgentRingNoAnswer", RingTime=15), T0)) == [("1001", AgentState.READY, None)]
    mapper.map(agent("AgentCalled"), T0)
    mapper.map(member(event="QueueMemberPause", status=6, paused=1, reason="Auto-Pause"), T0)
    assert mapper.map(agent("AgentRingNoAnswer", RingTime=15), T0) == []  # already not_ready (auto-pause)


def wrap_mapper(seconds=20):
    config = config_with(wrap_up_s=seconds)
    return AmiMapper(ami_settings(config))


def test_wrap_up_after_complete_then_ready_when_time_passes():
    mapper = wrap_mapper(20)
    mapper.map(member(status=2, incall=1), T0)
    # the device is still in use when AgentComplete comes (PBX truth: it may be busy on another line);
    # the call is over, the wrap-up counts from here, the state follows the device
    (completed,) = mapper.map(agent("AgentComplete", HoldTime=1, TalkTime=60), T0)
    assert isinstance(completed, CallEvent)
    assert mapper.next_due() == T0 + timedelta(seconds=20)
    (wrap,) = mapper.map(member(status=1, incall=0), T0 + timedelta(seconds=1))  # the device is free: wrap-up
    assert wrap.state is AgentState.WRAP_UP
    assert mapper.advance(T0 + timedelta(seconds=19)) == []
    (ready,) = mapper.advance(T0 + timedelta(seconds=25))
    assert ready.state is AgentState.READY and ready.ts == T0 + timedelta(seconds=20)  # stamped when it ended
    assert mapper.next_due() is None


def test_wrap_up_end_is_emitted_before_a_later_message():
    mapper = wrap_mapper(20)
    mapper.map(member(), T0)
    mapper.map(agent("AgentComplete", HoldTime=1, TalkTime=60), T0)
    events = mapper.map(caller("QueueCallerJoin", uid="2.2", Count=1), T0 + timedelta(seconds=30))
    assert isinstance(events[0], AgentStateEvent) and events[0].state is AgentState.READY
    assert events[0].ts == T0 + timedelta(seconds=20)


def test_pause_during_wrap_up_wins_and_no_ready_follows():
    mapper = wrap_mapper(20)
    mapper.map(member(), T0)
    mapper.map(agent("AgentComplete", HoldTime=1, TalkTime=60), T0)
    (paused,) = mapper.map(member(event="QueueMemberPause", paused=1, reason="小休"), T0 + timedelta(seconds=5))
    assert paused.state is AgentState.SHORT_BREAK
    assert mapper.advance(T0 + timedelta(seconds=60)) == []


def test_new_call_ends_wrap_up():
    mapper = wrap_mapper(20)
    mapper.map(member(), T0)
    mapper.map(agent("AgentComplete", HoldTime=1, TalkTime=60), T0)
    assert states(mapper.map(agent("AgentCalled", uid="3.3"), T0 + timedelta(seconds=2))) == [("1001", AgentState.RINGING, None)]
    assert mapper.next_due() is None


def snapshot_messages():
    return [
        msg(("Event", "QueueParams"), ("Queue", "general"), ("Calls", 2), ("ActionID", "a")),
        msg(("Event", "QueueMember"), ("Queue", "general"), ("Name", "Alice"), ("Location", "PJSIP/1001"), ("Status", 1), ("Paused", 0), ("InCall", 0)),
        msg(("Event", "QueueMember"), ("Queue", "general"), ("Name", "Bo"), ("Location", "PJSIP/1002"), ("Status", 1), ("Paused", 1), ("PausedReason", "用餐")),
        msg(("Event", "QueueEntry"), ("Queue", "general"), ("Position", 1), ("Uniqueid", "9.1"), ("Wait", 40)),
        msg(("Event", "QueueEntry"), ("Queue", "general"), ("Position", 2), ("Uniqueid", "9.2"), ("Wait", 12)),
        msg(("Event", "QueueParams"), ("Queue", "billing"), ("Calls", 0)),
        msg(("Event", "QueueMember"), ("Queue", "billing"), ("Name", "Alice"), ("Location", "PJSIP/1001"), ("Status", 1), ("Paused", 0)),
        msg(("Event", "QueueStatusComplete"), ("EventList", "Complete"), ("ListItems", 7)),
    ]


def test_snapshot_yields_one_state_per_agent_and_one_status_per_queue(mapper):
    events = []
    for m in snapshot_messages()[:-1]:
        assert mapper.map(m, T0) == []  # collected until QueueStatusComplete
    events = mapper.map(snapshot_messages()[-1], T0)
    assert states(events) == [("1001", AgentState.READY, None), ("1002", AgentState.MEAL, "用餐")]
    assert events[0].queues == ["general", "billing"]
    queues = {e.queue: (e.waiting, e.longest_wait_s) for e in events if isinstance(e, QueueStatusEvent)}
    assert queues == {"general": (2, 40.0), "billing": (0, None)}


def test_snapshot_replaces_what_was_known(mapper):
    mapper.map(member(iface="PJSIP/1009", name="Gone"), T0)
    events = []
    for m in snapshot_messages():
        events += mapper.map(m, T0)
    assert ("1009", AgentState.LOGGED_OUT, None) in states(events)
    # and the snapshot state is forced out even if it equals what was emitted before
    events = []
    for m in snapshot_messages():
        events += mapper.map(m, T0)
    assert [a for a, _, _ in states(events)] == ["1001", "1002"]


def test_unrelated_events_and_responses_map_to_nothing(mapper):
    assert mapper.map(msg(("Event", "Newexten"), ("Channel", "PJSIP/1001-1")), T0) == []
    assert mapper.map(msg(("Response", "Success"), ("Ping", "Pong")), T0) == []


def test_interface_is_remembered_for_queue_pause(mapper):
    mapper.map(member(iface="PJSIP/1001"), T0)
    assert mapper.interface_of("1001") == "PJSIP/1001"
    assert mapper.interface_of("9999") is None


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from telephony.ami.mapping import _HANDLERS  # noqa: E402

_KEYS = ["Queue", "Interface", "Location", "Member", "MemberName", "Name", "AgentCalled", "Uniqueid", "Status", "Paused",
         "PausedReason", "Reason", "InCall", "Count", "Calls", "Wait", "HoldTime", "Holdtime", "TalkTime", "Timestamp", "EventList"]
_VALUES = st.one_of(st.sampled_from(["", "0", "1", "2", "5", "6", "-1", "1e309", "nan", "inf", "小休", "PJSIP/1001", "x", " 3 ", "1799022300.5"]),
                    st.text(max_size=12))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(_HANDLERS)), st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=10)), max_size=12))
def test_any_field_values_give_events_or_a_mapping_error_never_a_crash(sequence):
    config = load_config()
    mapper = AmiMapper(ami_settings(config))
    for event, fields in sequence:
        message = msg(("Event", event), *fields.items())
        try:
            events = mapper.map(message, T0)
        except AmiMappingError:
            continue
        for produced in events:
            assert produced.ts.utcoffset() is not None
            from wfm.events import decode_event, encode_event

            assert decode_event(encode_event(produced)) == produced  # valid §1 output


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e309", "soon"])
def test_non_finite_or_negative_seconds_are_mapping_errors(mapper, value):
    with pytest.raises(AmiMappingError, match="HoldTime"):
        mapper.map(caller("QueueCallerAbandon", HoldTime=value), T0)


def test_a_live_change_inside_a_queuestatus_list_is_not_undone_by_it(mapper):
    items = snapshot_messages()
    events = []
    for m in items[:3]:
        events += mapper.map(m, T0)
    # live events interleaved in the list (a proxy may do this): newer than the list
    events += mapper.map(member(event="QueueMemberPause", iface="PJSIP/1002", name="Bo", paused=0), T0)  # back from 用餐
    events += mapper.map(caller("QueueCallerJoin", uid="7.7", Count=3), T0)
    for m in items[3:]:
        events += mapper.map(m, T0)
    final = {e.agent: e.state for e in events if isinstance(e, AgentStateEvent)}
    waiting = [e.waiting for e in events if isinstance(e, QueueStatusEvent) and e.queue == "general"]
    assert final["1002"] is AgentState.READY  # not put back on meal by the older list item
    assert waiting[-1] == 3


def test_without_interleaving_the_snapshot_stands(mapper):
    events = []
    for m in snapshot_messages():
        events += mapper.map(m, T0)
    assert {e.agent: e.state for e in events if isinstance(e, AgentStateEvent)}["1002"] is AgentState.MEAL


# ── PBX truth after a queue call (issue 15: busy on another line, PBX wrap-up, no transient ready) ──

def _queue_call(mapper, t):
    """A queue call answered at t and the device in use for it (QueueMemberStatus Status 2)."""
    mapper.map(member(status=1), t)
    mapper.map(agent("AgentConnect", HoldTime=1), t)
    mapper.map(member(status=2, incall=1), t)


def test_a_device_busy_on_another_line_after_a_queue_call_is_not_ready(mapper):
    _queue_call(mapper, T0)
    # the queue call ends; the phone stays in use on a second line: the PBX sends no device change
    events = mapper.map(agent("AgentComplete", HoldTime=1, TalkTime=60), T0 + timedelta(seconds=60))
    assert states(events) == []  # still on_call, never ready
    assert mapper.derive(mapper.members["1001"], T0 + timedelta(seconds=61))[0] is AgentState.ON_CALL
    # the second call ends: the device is free
    (ready,) = mapper.map(member(status=1, incall=0), T0 + timedelta(seconds=90))
    assert ready.state is AgentState.READY


def test_the_busy_device_is_a_firing_and_a_free_one_a_non_firing_case(mapper):
    _queue_call(mapper, T0)
    mapper.map(member(status=1, incall=0), T0 + timedelta(seconds=60))  # hung up, device free first
    events = mapper.map(agent("AgentComplete", HoldTime=1, TalkTime=60), T0 + timedelta(seconds=60, milliseconds=1))
    assert states(events) == [("1001", AgentState.READY, None)]  # wrap-up 0: ready at the call's end


def test_member_wrapuptime_from_the_pbx_and_never_a_transient_ready():
    mapper = AmiMapper(ami_settings(load_config()))  # pbx.wrap_up_s = 0: only the PBX says there is a wrap-up
    mapper.map(member(status=1, Wrapuptime=10), T0)
    mapper.map(agent("AgentConnect", HoldTime=1), T0)
    mapper.map(member(status=2, incall=1, Wrapuptime=10), T0)
    end = T0 + timedelta(seconds=60)
    # Asterisk reports the free device 1 ms before AgentComplete: wrap-up, not ready
    first = mapper.map(member(status=1, incall=0, Wrapuptime=10), end)
    assert states(first) == [("1001", AgentState.WRAP_UP, None)]
    second = mapper.map(agent("AgentComplete", HoldTime=1, TalkTime=60), end + timedelta(milliseconds=1))
    assert states(second) == []
    assert mapper.advance(end + timedelta(seconds=9)) == []  # still wrapping up
    (ready,) = mapper.advance(end + timedelta(seconds=11))
    assert ready.state is AgentState.READY and ready.ts == end + timedelta(seconds=10, milliseconds=1)


@pytest.mark.parametrize("reconcile", [False, True], ids=["no_check", "check_during_the_call"])
def test_a_reconciliation_during_a_queue_call_keeps_the_wrap_up_and_no_transient_ready(reconcile):
    # measured against Asterisk 22.10.1 (tests/data/captures/asterisk22/wrapuptime.ami): a periodic
    # QueueStatus check lands mid-call (InCall 1), then the hang-up comes 0.4 ms before AgentComplete
    mapper = AmiMapper(ami_settings(config_with(queue_wrap_up_s={"general": 10})))
    _queue_call(mapper, T0)
    if reconcile:
        assert mapper.map(msg(("Response", "Success"), ("ActionID", "wfm-1-check"), ("EventList", "start")), T0) == []
        mapper.map(member(event="QueueMember", status=2, incall=1, ActionID="wfm-1-check"), T0 + timedelta(seconds=5))
        done = msg(("Event", "QueueStatusComplete"), ("ActionID", "wfm-1-check"), ("EventList", "Complete"))
        assert states(mapper.map(done, T0 + timedelta(seconds=5))) == []  # nothing drifted
    end = T0 + timedelta(seconds=60)
    assert states(mapper.map(member(status=1, incall=0), end)) == [("1001", AgentState.WRAP_UP, None)]
    assert states(mapper.map(agent("AgentComplete", HoldTime=1, TalkTime=60), end + timedelta(microseconds=400))) == []
    (ready,) = mapper.advance(end + timedelta(seconds=30))
    assert ready.state is AgentState.READY


def test_queue_wrap_up_from_the_config_when_the_pbx_does_not_report_it():
    mapper = AmiMapper(ami_settings(config_with(queue_wrap_up_s={"general": 10})))
    _queue_call(mapper, T0)
    end = T0 + timedelta(seconds=60)
    assert states(mapper.map(member(status=1, incall=0), end)) == [("1001", AgentState.WRAP_UP, None)]
    mapper.map(agent("AgentComplete", HoldTime=1, TalkTime=60), end)
    (ready,) = mapper.advance(end + timedelta(seconds=30))
    assert ready.ts == end + timedelta(seconds=10)
    other = AmiMapper(ami_settings(config_with(queue_wrap_up_s={"billing": 10})))  # another queue's wrap-up
    _queue_call(other, T0)
    other.map(member(status=1, incall=0), end)
    assert states(other.map(agent("AgentComplete", HoldTime=1, TalkTime=60), end)) == [("1001", AgentState.READY, None)]


# ── a check of one queue (pbx.reconcile_scope = "queue") ─────────────────────────────────────────

def _check_of(mapper, queue, items, at=T0):
    """Feed a QueueStatus check of `queue` (its ActionID names it, as the adapter sends it); the events it gave."""
    action_id = "wfm-7" + check_suffix(queue)
    assert check_queue(action_id) == queue
    out = mapper.map(msg(("Response", "Success"), ("ActionID", action_id), ("EventList", "start")), at)
    for item in items:
        out += mapper.map(msg(*item.headers, ("ActionID", action_id)), at)
    out += mapper.map(msg(("Event", "QueueStatusComplete"), ("ActionID", action_id), ("EventList", "Complete")), at)
    return out


def _two_queue_floor(mapper):
    """1001 in general and sales, 1002 in general, 1003 in sales; all ready; no caller waiting."""
    mapper.map(member(queue="general", iface="PJSIP/1001", name="A"), T0)
    mapper.map(member(queue="sales", iface="PJSIP/1001", name="A"), T0)
    mapper.map(member(queue="general", iface="PJSIP/1002", name="B"), T0)
    mapper.map(member(queue="sales", iface="PJSIP/1003", name="C"), T0)
    for queue in ("general", "sales"):
        mapper.map(msg(("Event", "QueueCallerLeave"), ("Queue", queue), ("Count", 0), ("Uniqueid", "1.1")), T0)


def _listed(queue, iface, name, **kw):
    return member(event="QueueMember", queue=queue, iface=iface, name=name, **kw)


def test_a_queue_check_that_agrees_with_the_floor_gives_nothing(mapper):
    _two_queue_floor(mapper)
    assert mapper.known_queues() == ["general", "sales"]
    params = msg(("Event", "QueueParams"), ("Queue", "general"), ("Calls", 0))
    out = _check_of(mapper, "general", [params, _listed("general", "PJSIP/1001", "A"), _listed("general", "PJSIP/1002", "B")])
    assert out == [] and mapper.corrected == []


def test_a_queue_check_finds_a_member_gone_from_that_queue_only(mapper):
    _two_queue_floor(mapper)
    params = msg(("Event", "QueueParams"), ("Queue", "general"), ("Calls", 0))
    out = _check_of(mapper, "general", [params, _listed("general", "PJSIP/1001", "A")])  # 1002 silently removed
    (gone,) = [e for e in out if isinstance(e, AgentStateEvent)]
    assert (gone.agent, gone.state, gone.queues) == ("1002", AgentState.LOGGED_OUT, [])
    assert mapper.corrected == ["1002"]
    # 1003 (sales only) and 1001's sales membership are not this check's business
    assert mapper.members["1001"].queues.keys() == {"general", "sales"} and "1003" in mapper.members


def test_a_queue_check_keeps_the_other_queues_of_a_member_it_drops(mapper):
    _two_queue_floor(mapper)
    params = msg(("Event", "QueueParams"), ("Queue", "sales"), ("Calls", 0))
    out = _check_of(mapper, "sales", [params, _listed("sales", "PJSIP/1003", "C")])  # 1001 left sales
    (event,) = [e for e in out if isinstance(e, AgentStateEvent)]
    assert (event.agent, event.state, event.queues) == ("1001", AgentState.READY, ["general"])


def test_a_queue_check_finds_a_pause_and_a_device_the_floor_missed(mapper):
    _two_queue_floor(mapper)
    params = msg(("Event", "QueueParams"), ("Queue", "general"), ("Calls", 2))
    out = _check_of(mapper, "general", [params, _listed("general", "PJSIP/1001", "A", status=2, incall=1),
                                        _listed("general", "PJSIP/1002", "B", paused=1, reason="用餐")])
    # 1002 is in general only, so a pause there is a pause everywhere
    assert sorted(states(out)) == [("1001", AgentState.ON_CALL, None), ("1002", AgentState.MEAL, "用餐")]
    assert [(e.queue, e.waiting) for e in out if isinstance(e, QueueStatusEvent)] == [("general", 2)]


def test_a_queue_check_pause_in_one_of_two_queues_changes_no_state(mapper):
    _two_queue_floor(mapper)
    params = msg(("Event", "QueueParams"), ("Queue", "sales"), ("Calls", 0))
    out = _check_of(mapper, "sales", [params, _listed("sales", "PJSIP/1001", "A", paused=1, reason="小休"),
                                      _listed("sales", "PJSIP/1003", "C")])
    assert out == []  # 1001 still works general: ready, as the floor was told
    assert mapper.members["1001"].queues["sales"] == (True, "小休")


def test_a_whole_table_check_id_names_no_queue():
    assert check_queue("wfm-3" + check_suffix(None)) is None
    assert check_queue("wfm-3" + check_suffix("a-queue=b")) == "a-queue=b"  # a queue name holding the mark
