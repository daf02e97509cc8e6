"""Whole-pipeline load (issue 9 item 3): a 5,000-agent, 200-queue centre at 10x real time.

    nice .venv/bin/python benchmarks/load.py [--minutes 10] [--agents 5000] [--queues 200] [--speed 10]

Three processes, every hop real:

    generator process: an Asterisk 18 AMI server on a localhost port, driven by a
        call-centre model (Poisson arrivals, skills, longest-idle routing, abandons,
        小休 / 用餐 pauses per queue with PausedReason); answers Challenge/Login,
        QueueStatus (full snapshot), QueuePause, Ping
      ─TCP─► product process: the real AmiAdapter → Runtime (FloorEngine, the day's
        shifts submitted first) → SQLite event log (durable, group commit) → aiohttp
        API and WebSocket hub
      ─WS──► this process: a few WebSocket clients (2 supervisors, 1 agent, 1 wall).

Measured: events/s held through the log (mean and the slowest 10-s window),
decision latency from the moment the generator wrote the PBX message that
caused a decision to the moment a WebSocket client got that decision (p50/p99,
clocks are the same host's CLOCK_REALTIME), product RSS at start and end,
events lost (every §1 event the generator's messages stand for — counted per
type, and every call id per call event — against what the log holds; the log
must hold all of them), `verify` of the log's chain. Writes
benchmarks/results/load.json; one summary line on stdout; live status on stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import heapq
import json
import logging
import math
import os
import platform
import random
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, OrderedDict, deque
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pbxsim.ami_codec import BANNER, ActionReader, ActionError, format_message, response  # noqa: E402
from wfm.commands.feeds import ami_settings  # noqa: E402

logger = logging.getLogger("benchmarks.load")

FIRST_AGENT = 1001
SHORT_REASON = "小休"
MEAL_REASON = "用餐"
SECRET_ENV = "WFM_LOAD_AMI_SECRET"
PROFILE_ENV = "WFM_LOAD_PROFILE"  # set to a file name: the product process runs under cProfile
TRACEMALLOC_ENV = "WFM_LOAD_TRACEMALLOC"  # set to a file name: where the product's memory growth is allocated
PUMP_S = 0.02  # the generator steps its model and writes every 20 ms of wall time
STATUS_S = 1.0  # the product reports its counters this often
TARGET_P99_MS = 100.0


# ───────────────────────────────────────────────────────────── the plan shared by all three processes


@dataclass(frozen=True)
class LoadPlan:
    agents: int
    queues: int
    speed: float
    sim_start: str  # ISO, floor zone
    wall_t0: float  # time.time() at which the simulated clock reads sim_start
    seed: int
    mean_talk_s: float = 170.0
    occupancy: float = 0.80  # offered load as a share of the agents on post
    mean_patience_s: float = 120.0
    ring_s: float = 3.0
    ws_floor_interval_ms: int | None = None  # None: the shipped api.ws_floor_interval_ms

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.sim_start)

    def sim_epoch(self, wall: float | None = None) -> float:
        return self.start.timestamp() + ((time.time() if wall is None else wall) - self.wall_t0) * self.speed

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadPlan:
        return cls(**json.loads(text))


class PlanClock:
    """wfm.clock.Clock for the product: the plan's simulated time (speed × wall), tz-aware."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.speed = plan.speed  # handed to the Runtime for its tick interval
        self._tz = plan.start.tzinfo

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.plan.sim_epoch(), tz=timezone.utc).astimezone(self._tz)


def agent_ids(n: int) -> list[str]:
    return [str(FIRST_AGENT + i) for i in range(n)]


def queue_ids(n: int) -> list[str]:
    return [f"q{i + 1:03d}" for i in range(n)]


def skills(plan: LoadPlan) -> dict[str, tuple[str, ...]]:
    """Each agent's queues: a primary one, a second for one agent in three, a third for one in five."""
    queues = queue_ids(plan.queues)
    out = {}
    for i, agent in enumerate(agent_ids(plan.agents)):
        own = [queues[i % plan.queues]]
        if i % 3 == 0 and plan.queues > 1:
            own.append(queues[(i * 7 + 1) % plan.queues])
        if i % 5 == 0 and plan.queues > 2:
            own.append(queues[(i * 13 + 2) % plan.queues])
        out[agent] = tuple(dict.fromkeys(own))
    return out


def roster(plan: LoadPlan) -> list[tuple[str, datetime, datetime, datetime]]:
    """(agent, shift start, shift end, meal slot start): one 7.5-hour day shift starting 5-10 min after
    the simulated start (everyone signs in before it), meal slots on the half-hour grid from one hour
    in, spread round-robin (R8)."""
    start = plan.start
    shift_start = start.replace(second=0, microsecond=0) + timedelta(minutes=5 + (5 - start.minute % 5) % 5)
    shift_end = shift_start + timedelta(hours=7, minutes=30)
    first_slot = shift_start + timedelta(minutes=60)
    first_slot += timedelta(minutes=(30 - first_slot.minute % 30) % 30)
    slots = []
    slot = first_slot
    while slot + timedelta(minutes=90) <= shift_end:
        slots.append(slot)
        slot += timedelta(minutes=30)
    return [(agent, shift_start, shift_end, slots[i % len(slots)]) for i, agent in enumerate(agent_ids(plan.agents))]


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
    def snapshot(self, action_id: str | None) -> tuple[list[bytes], Counter]:
        """QueueStatus list items and what the mapper makes of them (one agent_state per agent, one
        queue_status per queue)."""
        tail = [("ActionID", action_id)] if action_id is not None else []
        items: list[bytes] = []
        members: dict[str, list[_Agent]] = {q: [] for q in self.queue_names}
        for agent in self.agents.values():
            for queue in agent.queues:
                members[queue].append(agent)
        for queue in self.queue_names:
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


# ───────────────────────────────────────────────────────────── generator process (AMI server)


class Generator:
    def __init__(self, plan: LoadPlan, secret: str, keys_path: Path) -> None:
        self.plan = plan
        self.secret = secret
        self.floor: LoadFloor | None = None
        self.writer: asyncio.StreamWriter | None = None  # the one live, synced session
        self.expected: Counter[str] = Counter()
        self.messages = 0
        self.bytes = 0
        self.sessions = 0
        self.max_buffer = 0
        self.latency_sent: dict[str, float] = {}
        self.keys = keys_path.open("w", encoding="utf-8")
        self.generating = True

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        actions = ActionReader()
        challenge = None
        authed = False
        writer.write(BANNER)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for action in actions.feed(data):
                    if isinstance(action, ActionError):
                        writer.write(format_message([("Response", "Error"), ("Message", action.reason)]))
                        continue
                    name = action.name.lower()
                    if name == "challenge":
                        challenge = str(secrets.randbelow(900_000_000) + 100_000_000)
                        writer.write(response(action, "Success", ("Challenge", challenge)))
                    elif name == "login":
                        key = (action.get("key") or "").lower()
                        ok = (challenge is not None and key == hashlib.md5((challenge + self.secret).encode()).hexdigest()) \
                            or secrets.compare_digest((action.get("secret") or "").encode(), self.secret.encode())
                        writer.write(response(action, "Success" if ok else "Error",
                                              ("Message", "Authentication accepted" if ok else "Authentication failed")))
                        if not ok:
                            return
                        authed = True
                    elif not authed:
                        writer.write(response(action, "Error", ("Message", "Permission denied")))
                    elif name == "queuestatus":
                        self._snapshot(action, writer)
                    elif name == "queuepause":
                        ok, frames = (False, []) if self.floor is None else self.floor.set_paused(
                            action.get("interface") or "", (action.get("paused") or "").lower() in ("1", "true", "yes"))
                        writer.write(response(action, "Success" if ok else "Error",
                                              ("Message", "Interface paused successfully" if ok else "Interface not found")))
                        self._send(frames)
                    elif name == "ping":
                        writer.write(response(action, "Success", ("Ping", "Pong"), ("Timestamp", f"{self.plan.sim_epoch():.6f}")))
                    elif name == "logoff":
                        writer.write(response(action, "Goodbye", ("Message", "Thanks for all the fish.")))
                        return
                    else:
                        writer.write(response(action, "Error", ("Message", "Invalid/unknown command")))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            if self.writer is writer:
                self.writer = None
                logger.warning("the product's AMI session ended")
            writer.close()

    def _snapshot(self, action, writer: asyncio.StreamWriter) -> None:
        if self.floor is None:
            self.floor = LoadFloor(self.plan, round(self.plan.sim_epoch(), 3))
            asyncio.get_running_loop().create_task(self._pump(), name="load-pump").add_done_callback(_report_crash)
        writer.write(response(action, "Success", ("EventList", "start"), ("Message", "Queue status will follow")))
        items, expect = self.floor.snapshot(action.action_id)
        writer.write(b"".join(items))
        self.expected.update(expect)
        self.writer = writer  # live events go to the session that has the snapshot

    def _send(self, frames: list[Frame]) -> None:
        writer = self.writer
        if writer is None or not frames:
            return  # no synced session: what happens now reaches the product through the next snapshot
        writer.write(b"".join(f.data for f in frames))
        sent = time.time()
        for frame in frames:
            self.expected.update(frame.expect)
            if frame.call_key is not None:
                self.keys.write(frame.call_key + "\n")
            if frame.latency_key is not None:
                self.latency_sent[frame.latency_key] = sent
            self.bytes += len(frame.data)
        self.messages += len(frames)
        self.max_buffer = max(self.max_buffer, writer.transport.get_write_buffer_size())

    async def _pump(self) -> None:
        assert self.floor is not None
        while self.generating:
            self._send(self.floor.advance(self.plan.sim_epoch()))
            await asyncio.sleep(PUMP_S)

    def report(self) -> dict:
        self.keys.flush()
        floor = self.floor
        return {"messages": self.messages, "bytes": self.bytes, "sessions": self.sessions,
                "max_write_buffer": self.max_buffer, "expected": dict(self.expected),
                "model": dict(floor.stats) if floor else {}, "latency_sent": self.latency_sent}


def _report_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("generator pump failed", exc_info=task.exception())


async def run_generator(plan: LoadPlan, keys_path: Path) -> None:
    generator = Generator(plan, os.environ[SECRET_ENV], keys_path)
    server = await asyncio.start_server(generator.serve, "127.0.0.1", 0)
    _emit({"port": server.sockets[0].getsockname()[1], "pid": os.getpid()})
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.readline)  # the driver says: stop generating
    generator.generating = False
    if generator.writer is not None:
        await generator.writer.drain()
    _emit(generator.report())
    await loop.run_in_executor(None, sys.stdin.buffer.read)  # keep the session open until the product has stopped
    server.close()


# ───────────────────────────────────────────────────────────── product process (adapter → runtime → log → API)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kb(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def run_product(plan: LoadPlan, ami_port: int, log_path: Path) -> None:
    from telephony.ami.client import AmiAdapter
    from wfm.api.app import ApiServer, create_app
    from wfm.config import default_data, from_data, merge
    from wfm.engine import FloorEngine
    from wfm.eventlog import open_log_from_config
    from wfm.events import ShiftEvent
    from wfm.runtime import Runtime

    api = {"port": 0, "login_attempts_per_minute": 1000}
    if plan.ws_floor_interval_ms is not None:
        api["ws_floor_interval_ms"] = plan.ws_floor_interval_ms
    config = from_data(merge(default_data(), {"storage": {"url": f"sqlite:///{log_path}"}, "api": api}),
                       "load benchmark")
    clock = PlanClock(plan)
    log = open_log_from_config(config)
    adapter = AmiAdapter(ami_settings(config), host="127.0.0.1", port=ami_port, username="wfm", secret=os.environ[SECRET_ENV],
                         source="ami:load", clock=clock)
    runtime = Runtime(config, FloorEngine(config), log, [adapter], clock, speed=clock.speed)

    def shifts(_report):
        now = clock.now()
        return [ShiftEvent(ts=now, agent=a, start=s, end=e, meal_start=m) for a, s, e, m in roster(plan)]

    await runtime.start(prelude=shifts)
    server = ApiServer(create_app(runtime, config, dashboard=False), "127.0.0.1", 0)
    await server.start()
    _emit({"ready": True, "api": server.base_url, "pid": os.getpid(), "shifts": plan.agents})

    def status() -> dict:
        inbox = getattr(runtime, "_inbox", None)
        feed_queue = getattr(adapter, "_queue", None)
        health = adapter.health(clock.now())
        return {"t": time.time(), "processed": runtime.events_processed, "failed": runtime.events_failed,
                "inbox": inbox.qsize() if inbox is not None else 0,
                "feed_queue": feed_queue.qsize() if feed_queue is not None else 0,
                "skipped": adapter.skipped, "reconnects": health.reconnects, "connected": health.connected,
                "rss_kb": rss_kb(), "cpu_s": cpu_seconds()}

    async def report_status() -> None:
        while True:
            _emit(status())
            await asyncio.sleep(STATUS_S)

    reporter = asyncio.create_task(report_status(), name="load-status")
    trace_to = os.environ.get(TRACEMALLOC_ENV)
    tracer = asyncio.create_task(trace_growth(Path(trace_to)), name="load-tracemalloc") if trace_to else None
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)  # EOF: stop
    reporter.cancel()
    if tracer is not None:
        tracer.cancel()
    final = status()
    await server.stop()
    await runtime.stop()  # closes the log
    _emit({"final": final})


async def trace_growth(out: Path, warm_up_s: float = 60.0, every_s: float = 60.0) -> None:
    """Write the allocation sites that grew since the warm-up snapshot, every minute (tracemalloc)."""
    import gc
    import tracemalloc

    tracemalloc.start(8)
    await asyncio.sleep(warm_up_s)
    gc.collect()
    base = tracemalloc.take_snapshot()
    while True:
        await asyncio.sleep(every_s)
        gc.collect()
        snap = tracemalloc.take_snapshot()
        stats = snap.compare_to(base, "traceback")[:25]
        lines = [f"traced now {tracemalloc.get_traced_memory()[0] / 1e6:.1f} MB; top growth since warm-up:"]
        for stat in stats:
            lines.append(f"{stat.size_diff / 1e6:+.2f} MB {stat.count_diff:+d} blocks")
            lines.extend("    " + line for line in stat.traceback.format()[-12:])
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# ───────────────────────────────────────────────────────────── driver


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Child:
    """A child process speaking JSON lines on stdout."""

    def __init__(self, argv: list[str], env: dict) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.lines: asyncio.Queue[dict] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start_reading(self) -> None:
        loop = asyncio.get_running_loop()

        def reader() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                loop.call_soon_threadsafe(self.lines.put_nowait, json.loads(raw))
            loop.call_soon_threadsafe(self.lines.put_nowait, {"eof": True})

        self._task = loop.run_in_executor(None, reader)

    async def next(self, timeout: float) -> dict:
        line = await asyncio.wait_for(self.lines.get(), timeout)
        if line.get("eof"):
            raise RuntimeError(f"child {self.proc.args[2:4]} exited with {self.proc.wait()}")
        return line

    def say(self, data: bytes = b"go\n", close: bool = False) -> None:
        assert self.proc.stdin is not None
        if data:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        if close:
            self.proc.stdin.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class WsClients:
    """A few WebSocket clients: they record every decision/violation/alert with its arrival time."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.received: list[tuple[str, dict, float]] = []  # (client, output, time)
        self.floor_pushes: Counter[str] = Counter()
        self.tasks: list[asyncio.Task] = []
        self.session = None

    async def start(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession()
        for name, user in (("supervisor-1", "supervisor"), ("supervisor-2", "admin"), ("agent-1001", "1001"),
                           ("wall", None)):
            if user is None:
                ws = await self.session.ws_connect(self.base + "/ws/wall", max_msg_size=0)
            else:
                async with self.session.post(self.base + "/api/login", json={"username": user, "password": user}) as r:
                    if r.status != 200:
                        raise RuntimeError(f"login {user}: HTTP {r.status}")
                    token = (await r.json())["token"]
                ws = await self.session.ws_connect(self.base + f"/ws?token={token}", max_msg_size=0)
            self.tasks.append(asyncio.create_task(self._listen(name, ws), name=f"ws-{name}"))

    async def _listen(self, name: str, ws) -> None:
        import aiohttp

        async for message in ws:
            now = time.time()
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            text = message.data
            if text.startswith('{"type":"floor"'):
                self.floor_pushes[name] += 1  # not decoded: the client's own CPU stays out of the product's way
                continue
            body = json.loads(text)
            if body.get("type") in ("break_decision", "violation", "alert"):
                self.received.append((name, body, now))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()


def analyse_log(log_path: Path, keys_path: Path) -> dict:
    """Count the log's §1 events per type, match every sent call id, verify the chain."""
    from wfm.eventlog import open_log

    log = open_log(f"sqlite:///{log_path}", readonly=True)
    try:
        counts: Counter[str] = Counter()
        logged_calls: set[str] = set()
        decisions = 0
        for record in log.read():
            body = record.body
            if record.kind == "event":
                kind = body.get("type")
                if kind == "call":
                    counts[f"call:{body.get('event')}"] += 1
                    logged_calls.add(f"{body.get('call_id')} {body.get('event')}")
                else:
                    counts[kind] += 1
            elif record.kind == "decision":
                decisions += 1
        started = time.perf_counter()
        verdict = log.verify()
        verify_s = time.perf_counter() - started
    finally:
        log.close()
    with keys_path.open(encoding="utf-8") as keys:
        sent_calls = {line.strip() for line in keys if line.strip()}
    return {"counts": dict(counts), "decisions": decisions, "verify_ok": verdict.ok, "verify": verdict.message(),
            "records": verdict.records, "verify_s": round(verify_s, 2),
            "call_events_missing": len(sent_calls - logged_calls), "call_events_sent": len(sent_calls)}


async def drive(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from wfm.config import load_config

    tz = load_config(None).floor.tz
    today = datetime.now(tz).date()
    sim_start = datetime.combine(today, datetime.min.time(), tzinfo=tz).replace(hour=9, minute=25)
    plan = LoadPlan(agents=args.agents, queues=args.queues, speed=args.speed, sim_start=sim_start.isoformat(),
                    wall_t0=time.time(), seed=args.seed, ws_floor_interval_ms=args.ws_floor_interval_ms)
    workdir = Path(tempfile.mkdtemp(prefix="wfm-load-"))
    log_path, keys_path = workdir / "load.sqlite", workdir / "calls.txt"
    env = {**os.environ, SECRET_ENV: secrets.token_urlsafe(16), "PYTHONPATH": str(ROOT)}
    me = [sys.executable, str(Path(__file__).resolve())]
    generator = Child([*me, "--role", "generator", "--plan", plan.to_json(), "--keys", str(keys_path)], env)
    generator.start_reading()
    product: Child | None = None
    clients: WsClients | None = None
    try:
        port = (await generator.next(30))["port"]
        product = Child([*me, "--role", "product", "--plan", plan.to_json(), "--ami-port", str(port),
                         "--log", str(log_path)], env)
        product.start_reading()
        ready = await product.next(120)
        clients = WsClients(ready["api"])
        await clients.start()
        statuses: list[dict] = []
        seconds = args.minutes * 60
        bar = tqdm(total=round(seconds), unit="s", desc="load", file=sys.stderr, dynamic_ncols=True)
        started = time.time()
        while time.time() - started < seconds:
            status = await product.next(30)
            statuses.append(status)
            if len(statuses) >= 2:
                window = statuses[-11:] if len(statuses) > 10 else statuses
                rate = (window[-1]["processed"] - window[0]["processed"]) / max(1e-9, window[-1]["t"] - window[0]["t"])
                bar.set_postfix_str(f"{rate:,.0f} ev/s inbox {status['inbox']} feed {status['feed_queue']} "
                                    f"rss {status['rss_kb'] / 1024:.0f} MB decisions {len(clients.received)}")
            bar.update(min(round(time.time() - started), round(seconds)) - bar.n)
        bar.close()
        generator.say()  # stop generating
        gen = await generator.next(60)
        while "messages" not in gen:
            gen = await generator.next(60)
        # drain: the product has read and logged everything once its queues are empty and nothing moves
        quiet = 0
        previous = None
        drain_started = time.time()
        while quiet < 3 and time.time() - drain_started < 120:
            status = await product.next(30)
            statuses.append(status)
            idle = status["inbox"] == 0 and status["feed_queue"] == 0
            quiet = quiet + 1 if idle and previous is not None and status["processed"] == previous else 0
            previous = status["processed"]
        await asyncio.sleep(1.0)  # the last decisions reach the sockets
        received, floor_pushes = clients.received, clients.floor_pushes
        await clients.close()
        clients = None
        product.say(b"", close=True)
        final = await product.next(30)
        while "final" not in final:
            final = await product.next(30)
        product.proc.wait(30)
        generator.say(b"", close=True)
        generator.proc.wait(30)
    finally:
        if clients is not None:
            await clients.close()
        for child in (product, generator):
            if child is not None:
                child.kill()
    sys.stderr.write("load: counting and verifying the log ...\n")
    checked = analyse_log(log_path, keys_path)
    result = summarise(args, plan, gen, statuses, final["final"], checked, received, floor_pushes)
    if not args.keep:
        for path in (log_path, keys_path, Path(str(log_path) + "-wal"), Path(str(log_path) + "-shm")):
            path.unlink(missing_ok=True)
        try:
            workdir.rmdir()
        except OSError:
            pass
    else:
        result["workdir"] = str(workdir)
    return result


def summarise(args, plan: LoadPlan, gen: dict, statuses: list[dict], final: dict, checked: dict,
              received: list[tuple[str, dict, float]], floor_pushes: Counter) -> dict:
    # decision latency: PBX message written -> decision on a WebSocket
    sent = gen["latency_sent"]
    latencies: dict[str, list[float]] = {}
    unmatched = 0
    for client, output, at in received:
        agent = output.get("agent")
        try:
            epoch = datetime.fromisoformat(output["ts"]).timestamp()
        except (KeyError, TypeError, ValueError):
            unmatched += 1
            continue
        when = sent.get(latency_key(agent, epoch)) if agent else None
        if when is None:
            unmatched += 1  # a tick's finding (stamped with the tick, not a PBX message) or an alert
            continue
        latencies.setdefault(client, []).append((at - when) * 1000)
    every = [ms for values in latencies.values() for ms in values]
    by_minute: dict[int, list[float]] = {}
    first_status = statuses[0]["t"] if statuses else 0.0
    for _client, output, at in received:
        when = sent.get(latency_key(output.get("agent"), datetime.fromisoformat(output["ts"]).timestamp())) \
            if output.get("agent") and output.get("ts") else None
        if when is not None:
            by_minute.setdefault(int((at - first_status) // 60), []).append((at - when) * 1000)
    # events/s held, from the product's counters (10-s windows while the generator ran)
    running = [s for s in statuses if "processed" in s]
    load_phase = running[: max(1, round(args.minutes * 60 / STATUS_S))]  # while the generator ran
    steady = load_phase[len(load_phase) // 10:]  # skip the first tenth (snapshot, start-up)
    rates = [(b["processed"] - a["processed"]) / (b["t"] - a["t"]) for a, b in zip(steady, steady[10:])]
    timeline = []  # 10-s windows over the whole load phase: where a stall or a backlog happened
    for a, b in zip(load_phase[::10], load_phase[10::10]):
        window = load_phase[load_phase.index(a):load_phase.index(b) + 1]
        timeline.append({"t_s": round(a["t"] - load_phase[0]["t"]), "events_per_s": round((b["processed"] - a["processed"]) / (b["t"] - a["t"])),
                         "inbox_max": max(s["inbox"] for s in window), "feed_queue_max": max(s["feed_queue"] for s in window),
                         "rss_mb": round(b["rss_kb"] / 1024), "cpu": round((b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"]), 2)})
    rss_start = steady[0]["rss_kb"] if steady else None
    rss_end = load_phase[-1]["rss_kb"] if load_phase else None
    expected = Counter(gen["expected"])
    expected["shift"] += plan.agents
    logged = Counter(checked["counts"])
    lost = {kind: expected[kind] - logged.get(kind, 0) for kind in expected if expected[kind] > logged.get(kind, 0)}
    extra = {kind: logged[kind] - expected.get(kind, 0) for kind in logged
             if kind != "resync" and logged[kind] > expected.get(kind, 0)}
    duration = (running[-1]["t"] - running[0]["t"]) if len(running) > 1 else 0.0
    cpu_share = ((load_phase[-1]["cpu_s"] - load_phase[0]["cpu_s"]) / (load_phase[-1]["t"] - load_phase[0]["t"])
                 if len(load_phase) > 1 else None)
    p99 = pct(every, 0.99)
    return {
        "benchmark": "load",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "floor": {"agents": plan.agents, "queues": plan.queues, "speed": plan.speed, "minutes": args.minutes,
                  "sim_start": plan.sim_start, "model": gen["model"],
                  "ws_floor_interval_ms": plan.ws_floor_interval_ms or "shipped default"},
        "pbx": {"messages": gen["messages"], "mb": round(gen["bytes"] / 1e6, 1),
                "messages_per_s": round(gen["messages"] / max(1.0, args.minutes * 60), 1),
                "sessions": gen["sessions"], "max_write_buffer_bytes": gen["max_write_buffer"],
                "skipped_by_adapter": final["skipped"], "reconnects": final["reconnects"]},
        "events_per_s": {"mean": round(final["processed"] / max(1e-9, duration), 1) if duration else None,
                         "min_10s": round(min(rates), 1) if rates else None,
                         "max_10s": round(max(rates), 1) if rates else None},
        "decision_latency_ms": {"n": len(every), "p50": _r(pct(every, 0.50)), "p90": _r(pct(every, 0.90)),
                                "p99": _r(p99), "max": _r(max(every) if every else None),
                                "per_client_p99": {c: _r(pct(v, 0.99)) for c, v in sorted(latencies.items())},
                                "outputs_received": len(received), "outputs_not_from_a_pbx_message": unmatched,
                                "target_p99_ms": TARGET_P99_MS},
        "decision_latency_by_minute": [{"minute": m, "n": len(v), "p50_ms": _r(pct(v, 0.5)), "p99_ms": _r(pct(v, 0.99))}
                                       for m, v in sorted(by_minute.items())],
        "timeline_10s": timeline,
        "websocket_floor_pushes": dict(floor_pushes),
        "product_cpu": {"cores_busy": _r(cpu_share), "note": "CPU seconds per wall second of the product process "
                        "(one event loop: 1.0 means it is saturated)"},
        "memory": {"rss_start_mb": _r(rss_start / 1024 if rss_start else None),
                   "rss_end_mb": _r(rss_end / 1024 if rss_end else None),
                   "growth_mb": _r((rss_end - rss_start) / 1024 if rss_start and rss_end else None),
                   "note": "product process RSS, from 10 % into the run to its end"},
        "log": {"records": checked["records"], "events_expected": sum(expected.values()),
                "events_logged": sum(v for k, v in logged.items() if k != "resync"),
                "resync_markers": logged.get("resync", 0), "decisions": checked["decisions"],
                "verify_ok": checked["verify_ok"], "verify": checked["verify"], "verify_s": checked["verify_s"],
                "engine_failures": final["failed"]},
        "lost": {"events": sum(lost.values()), "by_type": lost, "unexpected_by_type": extra,
                 "call_events_sent": checked["call_events_sent"],
                 "call_events_missing": checked["call_events_missing"]},
        "meets_target": bool(p99 is not None and p99 < TARGET_P99_MS and not lost
                             and checked["call_events_missing"] == 0 and checked["verify_ok"]),
    }


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="whole-pipeline load: AMI generator -> adapter -> runtime -> log -> API/WS")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock minutes of load (default 10)")
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--speed", type=float, default=10.0, help="simulated seconds per wall second (default 10)")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--ws-floor-interval-ms", type=int, default=None,
                        help="product's api.ws_floor_interval_ms (default: the shipped value)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    parser.add_argument("--keep", action="store_true", help="keep the run's event log (path in the JSON)")
    parser.add_argument("--role", choices=("driver", "generator", "product"), default="driver", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--keys", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ami-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s {args.role} %(levelname)s %(name)s: %(message)s")
    if args.role == "generator":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver stops its children through stdin
        asyncio.run(run_generator(LoadPlan.from_json(args.plan), args.keys))
        return 0
    if args.role == "product":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        profile_to = os.environ.get(PROFILE_ENV)
        if profile_to:  # where the product's time goes: python -m pstats FILE
            import cProfile

            cProfile.runctx("asyncio.run(run_product(plan, port, log))", globals(),
                            {"plan": LoadPlan.from_json(args.plan), "port": args.ami_port, "log": args.log},
                            filename=profile_to)
        else:
            asyncio.run(run_product(LoadPlan.from_json(args.plan), args.ami_port, args.log))
        return 0
    if args.minutes <= 0 or args.agents < 1 or args.queues < 1 or args.speed <= 0:
        parser.error("--minutes, --agents, --queues and --speed must be positive")
    result = asyncio.run(drive(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lat = result["decision_latency_ms"]
    print(f"load: {result['floor']['agents']} agents, {result['floor']['queues']} queues at {result['floor']['speed']:g}x "
          f"for {result['floor']['minutes']:g} min: {result['events_per_s']['mean']} events/s held "
          f"(slowest 10 s: {result['events_per_s']['min_10s']}), decision latency p50 {lat['p50']} ms "
          f"p99 {lat['p99']} ms (n={lat['n']}), RSS {result['memory']['rss_start_mb']} -> "
          f"{result['memory']['rss_end_mb']} MB, lost {result['lost']['events']} events / "
          f"{result['lost']['call_events_missing']} call events, log verify "
          f"{'ok' if result['log']['verify_ok'] else 'FAILED'} -> {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
