"""The load benchmark's floor model (benchmarks/loadlib) against the product's real AMI mapper.

benchmarks/load.py counts, per §1 event type, what every AMI message it writes stands for and
compares that with the log, so the product is judged on losing events only if the model's count is
right. Here the model's frames and its reconciliation lists (what pbx.reconcile_s asks for every
few seconds) go through a real AmiMapper, pure and in stream order as AmiConnection maps them:
the events mapped per type must equal what the frames say, and no check may find drift.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from benchmarks.loadlib.floor import LoadFloor
from benchmarks.loadlib.plan import LoadPlan
from pbxsim.ami_codec import format_message
from telephony.ami.mapping import CHECK_SUFFIX, AmiMapper
from telephony.ami.protocol import AmiMessage, AmiParser
from wfm.commands.feeds import ami_settings
from wfm.config import load_config
from wfm.events import AgentStateEvent, CallEvent, QueueStatusEvent


def _kind(event) -> str:
    if isinstance(event, CallEvent):
        return f"call:{event.event.value}"
    if isinstance(event, AgentStateEvent):
        return "agent_state"
    assert isinstance(event, QueueStatusEvent), event
    return "queue_status"


class _Feed:
    """Bytes written by the model → AmiParser → AmiMapper, counting the §1 events per type."""

    def __init__(self, floor: LoadFloor) -> None:
        config = load_config(None)
        self.floor = floor
        self.tz = config.floor.tz
        self.mapper = AmiMapper(ami_settings(config), "ami:test")
        self.parser = AmiParser()
        self.mapped: Counter[str] = Counter()
        self.drift: list[str] = []

    def feed(self, data: bytes) -> None:
        received = datetime.fromtimestamp(self.floor.now, self.tz)
        for item in self.parser.feed(data):
            assert isinstance(item, AmiMessage), item
            self.mapped.update(_kind(e) for e in self.mapper.map(item, received))

    def snapshot(self, action_id: str) -> Counter:
        items, expect = self.floor.snapshot(action_id)
        self.feed(format_message([("Response", "Success"), ("ActionID", action_id), ("EventList", "start")]))
        self.feed(b"".join(items))
        return expect

    def check(self, n: int) -> None:
        self.snapshot(f"wfm-{n}{CHECK_SUFFIX}")
        self.drift.extend(self.mapper.corrected)


@pytest.fixture
def model() -> tuple[LoadFloor, _Feed]:
    tz = load_config(None).floor.tz
    start = datetime(2026, 3, 2, 9, 25, tzinfo=tz)
    plan = LoadPlan(agents=60, queues=4, speed=10.0, sim_start=start.isoformat(), wall_t0=0.0, seed=5)
    floor = LoadFloor(plan, start.timestamp())
    return floor, _Feed(floor)


def test_every_frame_maps_to_what_the_model_expects_and_checks_mid_call_find_no_drift(model):
    floor, feed = model
    expected = Counter(feed.snapshot("wfm-1"))
    t = floor.now
    for step in range(1, 90 * 12 + 1):  # 90 simulated minutes in 5-s steps, a check every 20 s
        for frame in floor.advance(t + step * 5):
            feed.feed(frame.data)
            expected.update(frame.expect)
        if step % 4 == 0:
            feed.check(step)
    assert floor.stats["completed"] > 500 and floor.stats["short_breaks"] > 20  # the floor was busy
    assert feed.drift == []
    assert feed.mapped == expected


def test_a_check_taken_mid_call_is_counted_as_no_event(model):
    floor, feed = model
    feed.snapshot("wfm-1")
    t = floor.now
    while not any(a.state == "on_call" for a in floor.agents.values()):
        t += 1
        for frame in floor.advance(t):
            feed.feed(frame.data)
    before = Counter(feed.mapped)
    feed.check(1)
    assert feed.mapped == before and feed.drift == []
    # the hang-up after that check still ends the call on the floor (agent_state with AgentComplete)
    agent = next(a for a in floor.agents.values() if a.state == "on_call")
    completed = Counter()
    while agent.state == "on_call":
        t += 1
        for frame in floor.advance(t):
            feed.feed(frame.data)
            completed.update(frame.expect)
    assert feed.mapped - before == completed
    assert feed.mapper.members[agent.id].emitted[0].value != "on_call"


def test_without_the_hang_up_status_a_mid_call_check_leaves_the_agent_on_call():
    """Why the model writes QueueMemberStatus before AgentComplete: the mapper keeps the device status
    the PBX last reported (a second line), so a list that said Status 2 during the call holds the
    agent on_call after AgentComplete until the next check corrects it."""
    tz = load_config(None).floor.tz
    mapper = AmiMapper(ami_settings(load_config(None)), "ami:test")
    now = datetime(2026, 3, 2, 10, 0, tzinfo=tz)

    def msg(*headers: tuple[str, object]) -> AmiMessage:
        (item,) = AmiParser().feed(format_message(headers))
        assert isinstance(item, AmiMessage)
        return item

    member = [("Queue", "q1"), ("MemberName", "1001"), ("Interface", "PJSIP/1001"), ("Paused", 0)]
    caller = [("Queue", "q1"), ("Uniqueid", "c1"), ("Interface", "PJSIP/1001"), ("MemberName", "1001")]
    mapper.map(msg(("Event", "QueueMemberStatus"), *member, ("Status", 1), ("InCall", 0)), now)
    mapper.map(msg(("Event", "AgentConnect"), *caller, ("HoldTime", 1)), now)
    check = "x" + CHECK_SUFFIX
    mapper.map(msg(("Response", "Success"), ("ActionID", check)), now)
    mapper.map(msg(("Event", "QueueMember"), ("Queue", "q1"), ("Name", "1001"), ("Location", "PJSIP/1001"),
                   ("Status", 2), ("InCall", 1), ("Paused", 0), ("ActionID", check)), now)
    mapper.map(msg(("Event", "QueueStatusComplete"), ("ActionID", check)), now)
    complete = msg(("Event", "AgentComplete"), *caller, ("TalkTime", 30))
    states = [e.state.value for e in mapper.map(complete, now + timedelta(seconds=30))
              if isinstance(e, AgentStateEvent)]
    assert states == []  # still on_call: nothing said the phone is free
    states = [e.state.value for e in mapper.map(
        msg(("Event", "QueueMemberStatus"), *member, ("Status", 1), ("InCall", 0)), now + timedelta(seconds=31))
        if isinstance(e, AgentStateEvent)]
    assert states == ["ready"]
