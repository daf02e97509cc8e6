"""The generator's call-centre model (pure): arrivals, skills, routing, abandons, pauses, as AMI frames."""
from __future__ import annotations

import heapq
import logging
import math
import random
from collections import Counter, OrderedDict, deque

from pbxsim.ami_codec import format_message
from benchmarks.loadlib.plan import LoadPlan, MEAL_REASON, SHORT_REASON, queue_ids, roster, skills

logger = logging.getLogger("benchmarks.load")

# ───────────────────────────────────────────────────────────── the generator's floor model (pure)

READY, RINGING, ON_CALL, PAUSED = "ready", "ringing", "on_call", "paused"
_ARRIVE, _CONNECT, _HANGUP, _ABANDON, _BREAK_DUE, _BREAK_END = range(6)
# the §1 events each message stands for (AmiMapper: one agent_state per state change)
EXPECT_JOIN = ("call:offered", "queue_status")
EXPECT_CALLED = ("agent_state",)
EXPECT_CONNECT = ("call:answered", "agent_state")
EXPECT_LEAVE = ("queue_status",)
EXPECT_COMPLETE = ("call:completed", "agent_state")
EXPECT_ABANDON = ("call:abandoned",)
EXPECT_STATE = ("agent_state",)


class Frame:
    """One AMI message written to the product and what it stands for."""

    __slots__ = ("data", "expect", "call_key", "latency_key")

    def __init__(self, data: bytes, expect: tuple = (), call_key: str | None = None,
                 latency_key: str | None = None) -> None:
        self.data = data
        self.expect = expect
        self.call_key = call_key
        self.latency_key = latency_key


def latency_key(agent: str, epoch: float) -> str:
    return f"{agent}@{round(epoch * 1000)}"


class _Agent:
    __slots__ = ("id", "queues", "state", "call", "reason", "want", "shorts", "meal_done", "calls_taken")

    def __init__(self, agent: str, queues: tuple[str, ...]) -> None:
        self.id = agent
        self.queues = queues
        self.state = READY
        self.call: str | None = None
        self.reason = ""
        self.want: tuple[str, float] | None = None  # (reason, minutes) of a break due while busy
        self.shorts = 0
        self.meal_done = False
        self.calls_taken = 0


class _Call:
    __slots__ = ("id", "queue", "joined", "agent", "done")

    def __init__(self, call_id: str, queue: str, joined: float) -> None:
        self.id = call_id
        self.queue = queue
        self.joined = joined
        self.agent: str | None = None
        self.done = False


class LoadFloor:
    """A call centre as Asterisk 18 app_queue would report it over AMI. No I/O: `advance(epoch)` returns
    the frames due by then, in time order, each stamped with its own `Timestamp:`."""

    def __init__(self, plan: LoadPlan, start_epoch: float) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.now = start_epoch
        self.agents = {a: _Agent(a, q) for a, q in skills(plan).items()}
        self.queue_names = queue_ids(plan.queues)
        self._members: dict[str, list[_Agent]] | None = None
        self.idle: dict[str, OrderedDict[str, None]] = {q: OrderedDict() for q in self.queue_names}
        self.waiting: dict[str, deque[_Call]] = {q: deque() for q in self.queue_names}
        self.in_queue: Counter[str] = Counter()  # callers in the queue (waiting or ringing), AMI `Count`
        self.calls: dict[str, _Call] = {}
        self._heap: list[tuple[float, int, int, object]] = []
        self._seq = 0
        self._call_seq = 0
        self.stats: Counter[str] = Counter()
        self._agent_list = list(self.agents)
        for agent in self.agents.values():
            self._make_idle(agent)
        self.rate = plan.occupancy * plan.agents / plan.mean_talk_s  # calls per simulated second
        sigma2 = math.log(1 + 0.6 ** 2)
        self._talk_mu, self._talk_sigma = math.log(plan.mean_talk_s) - sigma2 / 2, math.sqrt(sigma2)
        self._push(start_epoch + self.rng.expovariate(self.rate), _ARRIVE, None)
        for agent, shift_start, _end, meal in roster(plan):
            first = max(start_epoch, shift_start.timestamp()) + self.rng.uniform(1, 120) * 60
            self._push(first, _BREAK_DUE, (agent, SHORT_REASON))
            self._push(meal.timestamp() + self.rng.uniform(0, 3) * 60, _BREAK_DUE, (agent, MEAL_REASON))

    # -- scheduling
    def _push(self, at: float, kind: int, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, payload))

    def advance(self, epoch: float) -> list[Frame]:
        out: list[Frame] = []
        heap = self._heap
        while heap and heap[0][0] <= epoch:
            at, _, kind, payload = heapq.heappop(heap)
            self.now = round(at, 3)  # whole milliseconds: the Timestamp text and the latency key agree
            self._handle(kind, payload, out)
        self.now = max(self.now, epoch)
        return out

    def _handle(self, kind: int, payload, out: list[Frame]) -> None:
        if kind == _ARRIVE:
            agent = self.agents[self.rng.choice(self._agent_list)]
            self._arrive(agent.queues[0], out)
            self._push(self.now + self.rng.expovariate(self.rate), _ARRIVE, None)
        elif kind == _CONNECT:
            self._connect(self.agents[payload[0]], self.calls[payload[1]], out)
        elif kind == _HANGUP:
            self._hangup(self.agents[payload], out)
        elif kind == _ABANDON:
            call = self.calls.get(payload)
            if call is not None and call.agent is None and not call.done:
                self._abandon(call, out)
        elif kind == _BREAK_DUE:
            agent_id, reason = payload
            agent = self.agents[agent_id]
            minutes = self._break_minutes(reason)
            if agent.state == READY:
                self._pause(agent, reason, minutes, out)
            elif agent.want is None:
                agent.want = (reason, minutes)
            else:  # a meal due while a short break waits: the meal goes first, the short break after
                self._push(self.now + 60, _BREAK_DUE, payload)
        elif kind == _BREAK_END:
            agent = self.agents[payload]
            if agent.state == PAUSED:
                self._unpause(agent, out)

    def _break_minutes(self, reason: str) -> float:
        if reason == MEAL_REASON:
            return self.rng.uniform(31, 34) if self.rng.random() < 0.05 else self.rng.uniform(24, 29.5)
        return self.rng.uniform(10.5, 13) if self.rng.random() < 0.08 else self.rng.uniform(3, 9.5)

    # -- AMI messages
    def _event(self, name: str, fields: list[tuple[str, object]]) -> bytes:
        return format_message([("Event", name), ("Privilege", "agent,all"), ("Timestamp", f"{self.now:.6f}"), *fields])

    def member_fields(self, agent: _Agent, queue: str, name_key: str = "MemberName") -> list[tuple[str, object]]:
        paused = agent.state == PAUSED
        status = {READY: 1, RINGING: 6, ON_CALL: 2, PAUSED: 1}[agent.state]
        interface = f"PJSIP/{agent.id}"
        return [("Queue", queue), (name_key, agent.id), ("Interface" if name_key == "MemberName" else "Location", interface),
                ("StateInterface", interface), ("Membership", "dynamic"), ("Penalty", 0),
                ("CallsTaken", agent.calls_taken), ("LastCall", 0), ("LastPause", 0), ("LoginTime", 0),
                ("InCall", 1 if agent.state == ON_CALL else 0), ("Status", status), ("Paused", 1 if paused else 0),
                ("PausedReason", agent.reason if paused else ""), ("Ringinuse", 0), ("Wrapuptime", 0)]

    def _caller(self, call: _Call) -> list[tuple[str, object]]:
        return [("Channel", f"PJSIP/trunk-{call.id}"), ("CallerIDNum", call.id[-8:]), ("CallerIDName", "<unknown>"),
                ("Uniqueid", call.id), ("Linkedid", call.id), ("Queue", call.queue)]

    # -- calls
    def _arrive(self, queue: str, out: list[Frame]) -> None:
        self._call_seq += 1
        call = _Call(f"{int(self.now)}.{self._call_seq}", queue, self.now)
        self.calls[call.id] = call
        self.in_queue[queue] += 1
        self.stats["offered"] += 1
        out.append(Frame(self._event("QueueCallerJoin", [*self._caller(call), ("Position", self.in_queue[queue]),
                                                          ("Count", self.in_queue[queue])]),
                         EXPECT_JOIN, f"{call.id} offered"))
        idle = self.idle[queue]
        if idle:
            agent_id = next(iter(idle))
            self._ring(self.agents[agent_id], call, out)
        else:
            self.waiting[queue].append(call)
            self._push(self.now + self.rng.expovariate(1.0 / self.plan.mean_patience_s), _ABANDON, call.id)

    def _ring(self, agent: _Agent, call: _Call, out: list[Frame]) -> None:
        self._make_busy(agent)
        agent.state = RINGING
        agent.call = call.id
        call.agent = agent.id
        out.append(Frame(self._event("AgentCalled", [*self._caller(call), ("Interface", f"PJSIP/{agent.id}"),
                                                      ("MemberName", agent.id)]), EXPECT_CALLED))
        self._push(self.now + self.rng.uniform(0.5, 2) * self.plan.ring_s, _CONNECT, (agent.id, call.id))

    def _connect(self, agent: _Agent, call: _Call, out: list[Frame]) -> None:
        agent.state = ON_CALL
        hold = self.now - call.joined
        out.append(Frame(self._event("AgentConnect", [*self._caller(call), ("Interface", f"PJSIP/{agent.id}"),
                                                       ("MemberName", agent.id), ("HoldTime", int(hold)),
                                                       ("RingTime", 2)]),
                         EXPECT_CONNECT, f"{call.id} answered"))
        self.in_queue[call.queue] -= 1
        out.append(Frame(self._event("QueueCallerLeave", [*self._caller(call), ("Position", 1),
                                                           ("Count", self.in_queue[call.queue])]), EXPECT_LEAVE))
        self.stats["answered"] += 1
        talk = self.rng.lognormvariate(self._talk_mu, self._talk_sigma)
        self._push(self.now + talk, _HANGUP, agent.id)

    def _hangup(self, agent: _Agent, out: list[Frame]) -> None:
        call = self.calls.pop(agent.call)
        call.done = True
        agent.calls_taken += 1
        agent.state = READY
        agent.call = None
        # Asterisk reports the hang-up as a device-state change (QueueMemberStatus InCall 0, one per
        # queue of the member) just before AgentComplete (docs/interop-lab.md); it stands for no §1
        # event (the call still is a queue call), but it tells the mapper the phone is free again:
        # without it, a reconciliation list taken mid-call (Status 2) kept the agent on_call after
        # AgentComplete until the next check corrected it as drift
        for queue in agent.queues:
            out.append(Frame(self._event("QueueMemberStatus", self.member_fields(agent, queue))))
        out.append(Frame(self._event("AgentComplete", [*self._caller(call), ("Interface", f"PJSIP/{agent.id}"),
                                                        ("MemberName", agent.id), ("HoldTime", 0),
                                                        ("TalkTime", int(self.now - call.joined)),
                                                        ("Reason", "caller")]),
                         EXPECT_COMPLETE, f"{call.id} completed"))
        self.stats["completed"] += 1
        self._available(agent, out)

    def _abandon(self, call: _Call, out: list[Frame]) -> None:
        call.done = True
        self.calls.pop(call.id, None)
        try:
            self.waiting[call.queue].remove(call)
        except ValueError:
            pass
        out.append(Frame(self._event("QueueCallerAbandon", [*self._caller(call), ("Position", 1), ("OriginalPosition", 1),
                                                             ("HoldTime", int(self.now - call.joined))]),
                         EXPECT_ABANDON, f"{call.id} abandoned"))
        self.in_queue[call.queue] -= 1
        out.append(Frame(self._event("QueueCallerLeave", [*self._caller(call), ("Position", 1),
                                                           ("Count", self.in_queue[call.queue])]), EXPECT_LEAVE))
        self.stats["abandoned"] += 1

    # -- agents
    def _make_idle(self, agent: _Agent) -> None:
        for queue in agent.queues:
            self.idle[queue][agent.id] = None

    def _make_busy(self, agent: _Agent) -> None:
        for queue in agent.queues:
            self.idle[queue].pop(agent.id, None)

    def _available(self, agent: _Agent, out: list[Frame]) -> None:
        """The agent is free: a break that fell due first, else the oldest caller of their queues."""
        if agent.want is not None:
            reason, minutes = agent.want
            agent.want = None
            self._pause(agent, reason, minutes, out)
            return
        oldest: _Call | None = None
        for queue in agent.queues:
            waiting = self.waiting[queue]
            if waiting and (oldest is None or waiting[0].joined < oldest.joined):
                oldest = waiting[0]
        if oldest is not None:
            self.waiting[oldest.queue].popleft()
            self._ring(agent, oldest, out)
        else:
            self._make_idle(agent)

    def _pause(self, agent: _Agent, reason: str, minutes: float, out: list[Frame]) -> None:
        """QueueMemberPause for each of the agent's queues; the last one makes the §1 state change."""
        self._make_busy(agent)
        agent.state = PAUSED
        agent.reason = reason
        self.stats["meals" if reason == MEAL_REASON else "short_breaks"] += 1
        if reason == MEAL_REASON:
            agent.meal_done = True
        else:
            agent.shorts += 1
        last = len(agent.queues) - 1
        for index, queue in enumerate(agent.queues):
            out.append(Frame(self._event("QueueMemberPause", self.member_fields(agent, queue)),
                             EXPECT_STATE if index == last else (),
                             latency_key=latency_key(agent.id, self.now) if index == last else None))
        self._push(self.now + minutes * 60, _BREAK_END, agent.id)

    def _unpause(self, agent: _Agent, out: list[Frame]) -> None:
        reason = agent.reason
        agent.state = READY
        agent.reason = ""
        for index, queue in enumerate(agent.queues):
            out.append(Frame(self._event("QueueMemberPause", self.member_fields(agent, queue)),
                             EXPECT_STATE if index == 0 else (),
                             latency_key=latency_key(agent.id, self.now) if index == 0 else None))
        if reason == SHORT_REASON and agent.shorts < 3:
            self._push(self.now + self.rng.uniform(60, 150) * 60, _BREAK_DUE, (agent.id, SHORT_REASON))
        self._available(agent, out)

    def set_paused(self, interface: str, paused: bool) -> tuple[bool, list[Frame]]:
        """A QueuePause from the product (enforcement): only unpausing is acted on."""
        agent = self.agents.get(interface.rsplit("/", 1)[-1])
        if agent is None:
            return False, []
        out: list[Frame] = []
        if not paused and agent.state == PAUSED:
            self._unpause(agent, out)
        return True, out

    # -- snapshot
    def _members_by_queue(self) -> dict[str, list[_Agent]]:
        """Each queue's agents (memberships never change in this model: worked out once)."""
        if self._members is None:
            self._members = {q: [] for q in self.queue_names}
            for agent in self.agents.values():
                for queue in agent.queues:
                    self._members[queue].append(agent)
        return self._members

    def snapshot(self, action_id: str | None, only: str | None = None) -> tuple[list[bytes], Counter]:
        """QueueStatus list items (of the queue `only` when the action names one, as Asterisk's Queue: filter
        does) and what the mapper makes of a full one (one agent_state per agent, one queue_status per queue)."""
        tail = [("ActionID", action_id)] if action_id is not None else []
        items: list[bytes] = []
        members = self._members_by_queue()
        for queue in self.queue_names if only is None else [q for q in self.queue_names if q == only]:
            items.append(format_message([("Event", "QueueParams"), ("Queue", queue), ("Max", 0),
                                         ("Strategy", "leastrecent"), ("Calls", self.in_queue[queue]),
                                         ("Holdtime", 0), ("TalkTime", 0), ("Completed", 0), ("Abandoned", 0),
                                         ("ServiceLevel", 20), ("ServicelevelPerf", "0.0"), ("Weight", 0), *tail]))
            for agent in members[queue]:
                items.append(format_message([("Event", "QueueMember"), *self.member_fields(agent, queue, "Name"), *tail]))
            for call in self.waiting[queue]:
                items.append(format_message([("Event", "QueueEntry"), ("Queue", queue), ("Position", 1),
                                             ("Channel", f"PJSIP/trunk-{call.id}"), ("Uniqueid", call.id),
                                             ("Wait", int(self.now - call.joined)), *tail]))
        items.append(format_message([("Event", "QueueStatusComplete"), *tail, ("EventList", "Complete"),
                                     ("ListItems", len(items))]))
        return items, Counter({"agent_state": len(self.agents), "queue_status": len(self.queue_names)})
