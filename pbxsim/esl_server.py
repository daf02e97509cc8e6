"""The simulated floor as a FreeSWITCH mod_callcenter event socket (ESL inbound, like TCP 8021).

    server = EslServer(simulation, password="ClueCon")
    await server.start()          # 127.0.0.1:server.port

Speaks what mod_event_socket sends an inbound client: `auth/request`, then
`command/reply` to `auth` and `event plain …`, `api/response` bodies for
`callcenter_config agent list` / `tier list` / `queue list` /
`queue list members <queue>` / `agent set status <agent> '<status>'`, and
`text/event-plain` CUSTOM `callcenter::info` events (agent-status-change,
agent-state-change, agent-offering, bridge-agent-start/end/fail,
member-queue-start/end, members-count) with URL-encoded values and
`Event-Date-Timestamp` in microseconds of simulated time. A status change to
`On Break`/`Available` is obeyed by the model. Same FloorSimulation as the
AMI server, so both feeds can serve one floor at once.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from pbxsim.ami_server import FloorSimulation
from pbxsim.model import (
    PAUSED_STATES,
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    AgentRingNoAnswer,
    CallerAbandoned,
    CallerJoined,
    CallerLeft,
    FloorModel,
    Happening,
    MemberChanged,
    MemberFlagged,
)
from wfm.events import AgentState

log = logging.getLogger(__name__)

DOMAIN = "default"
CORE_UUID = "5e1f0c2a-simulated-floor-0000-000000000001"
MAX_COMMAND_BYTES = 16 * 1024
MAX_CLIENT_BUFFER = 4 * 1024 * 1024


def cc_name(identifier: str) -> str:
    return f"{identifier}@{DOMAIN}"


def frame(headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\n" for k, v in headers)
    if body:
        head += f"Content-Length: {len(body)}\n"
    return head.encode("utf-8") + b"\n" + body


def reply(text: str) -> bytes:
    return frame([("Content-Type", "command/reply"), ("Reply-Text", text)])


def api_response(body: str) -> bytes:
    return frame([("Content-Type", "api/response")], body.encode("utf-8"))


class CallcenterEventFormatter:
    """Model happenings → mod_callcenter `text/event-plain` frames."""

    def __init__(self) -> None:
        self._sequence = 0

    def _event(self, when: datetime, fields: list[tuple[str, str]]) -> bytes:
        self._sequence += 1
        headers = [
            ("Event-Name", "CUSTOM"), ("Core-UUID", CORE_UUID), ("FreeSWITCH-Hostname", "sim.floor"),
            ("FreeSWITCH-Switchname", "sim"), ("Event-Date-Local", when.strftime("%Y-%m-%d %H:%M:%S")),
            ("Event-Date-Timestamp", str(int(round(when.timestamp() * 1_000_000)))),
            ("Event-Calling-File", "mod_callcenter.c"), ("Event-Sequence", str(self._sequence)),
            ("Event-Subclass", "callcenter::info"), *fields,
        ]
        body = "".join(f"{k}: {quote(v, safe='')}\n" for k, v in headers) + "\n"
        return frame([("Content-Type", "text/event-plain")], body.encode("utf-8"))

    def _status(self, h: MemberChanged | MemberFlagged, status: str) -> bytes:
        return self._event(h.ts, [("CC-Agent", cc_name(h.agent)), ("CC-Action", "agent-status-change"), ("CC-Agent-Status", status)])

    def _state(self, h: MemberChanged, state: str) -> bytes:
        return self._event(h.ts, [("CC-Agent", cc_name(h.agent)), ("CC-Action", "agent-state-change"), ("CC-Agent-State", state)])

    def _count(self, when: datetime, queue: str, count: int) -> bytes:
        return self._event(when, [("CC-Queue", cc_name(queue)), ("CC-Action", "members-count"), ("CC-Count", str(count)),
                                  ("CC-Selection", "Single-Queue")])

    def format(self, model: FloorModel, h: Happening) -> list[bytes]:
        if isinstance(h, MemberChanged):
            return self._member(h)
        if isinstance(h, MemberFlagged):  # mod_callcenter changes the status at once, on a call too
            if not h.pause:
                return []  # no device state in mod_callcenter events
            flagged = model.member_info(h.agent).get("pause_flag") is not None
            return [self._status(h, "On Break" if flagged else "Available")]
        epoch = lambda value: str(int(value))  # noqa: E731 - mod_callcenter times are whole epoch seconds
        if isinstance(h, CallerJoined):
            return [self._event(h.ts, [("CC-Queue", cc_name(h.queue)), ("CC-Action", "member-queue-start"),
                                       ("CC-Member-UUID", h.call_id), ("CC-Member-Session-UUID", h.call_id),
                                       ("CC-Member-CID-Name", "caller"), ("CC-Member-CID-Number", h.caller)]),
                    self._count(h.ts, h.queue, h.count)]
        if isinstance(h, CallerLeft):
            return [self._count(h.ts, h.queue, h.count)]
        if isinstance(h, AgentCalled):
            return [self._event(h.ts, [("CC-Queue", cc_name(h.queue)), ("CC-Action", "agent-offering"),
                                       ("CC-Agent", cc_name(h.agent)), ("CC-Member-UUID", h.call_id),
                                       ("CC-Member-CID-Number", h.caller)])]
        if isinstance(h, AgentRingNoAnswer):
            return [self._event(h.ts, [("CC-Queue", cc_name(h.queue)), ("CC-Action", "bridge-agent-fail"),
                                       ("CC-Agent", cc_name(h.agent)), ("CC-Member-UUID", h.call_id),
                                       ("CC-Hangup-Cause", "NO_ANSWER")])]
        if isinstance(h, AgentConnected):
            now = h.ts.timestamp()
            return [self._event(h.ts, [("CC-Queue", cc_name(h.queue)), ("CC-Action", "bridge-agent-start"),
                                       ("CC-Agent", cc_name(h.agent)), ("CC-Agent-System", "single_box"),
                                       ("CC-Member-UUID", h.call_id), ("CC-Agent-UUID", f"{h.call_id}-{h.agent}"),
                                       ("CC-Agent-Called-Time", epoch(now - h.ring_s)),
                                       ("CC-Agent-Answered-Time", epoch(now)),
                                       ("CC-Member-Joined-Time", epoch(now - h.hold_s))])]
        if isinstance(h, AgentCompleted):
            end = h.ts.timestamp()
            answered = end - h.talk_s
            return [
                self._event(h.ts, [("CC-Queue", cc_name(h.queue)), ("CC-Action", "member-queue-end"),
                                   ("CC-Member-UUID", h.call_id), ("CC-Cause", "Terminated"),
                                   ("CC-Agent", cc_name(h.agent)), ("CC-Hangup-Cause", "NORMAL_CLEARING"),
                                   ("CC-Member-Joined-Time", epoch(answered - h.hold_s)),
                                   ("CC-Agent-Answered-Time", epoch(answered)), ("CC-Member-Leaving-Time", epoch(end))]),
                self._event(h.ts, [("CC-Agent", cc_name(h.agent)), ("CC-Action", "bridge-agent-end"),
                                   ("CC-Member-UUID", h.call_id), ("CC-Bridge-Terminated-Time", epoch(end))]),
            ]
        if isinstance(h, CallerAbandoned):
            end = h.ts.timestamp()
            return [self._event(h.ts, [("CC-Queue", cc_name(h.queue)), ("CC-Action", "member-queue-end"),
                                       ("CC-Member-UUID", h.call_id), ("CC-Cause", "Cancel"),
                                       ("CC-Cancel-Reason", "BREAK_OUT"),
                                       ("CC-Member-Joined-Time", epoch(end - h.hold_s)),
                                       ("CC-Member-Leaving-Time", epoch(end))]),
                    self._count(h.ts, h.queue, h.count)]
        raise TypeError(f"unknown happening {type(h).__name__}")

    def _member(self, h: MemberChanged) -> list[bytes]:
        state, previous = h.state, h.previous
        if state is AgentState.LOGGED_OUT:
            return [self._status(h, "Logged Out")]
        if previous is AgentState.LOGGED_OUT:
            out = [self._status(h, "Available"), self._state(h, "Waiting")]
            return out + ([self._status(h, "On Break")] if state in PAUSED_STATES else [])
        if state in PAUSED_STATES:
            return [] if previous in PAUSED_STATES else [self._status(h, "On Break")]
        if previous in PAUSED_STATES:
            return [self._status(h, "Available")]
        if state is AgentState.RINGING:
            return [self._state(h, "Receiving")]
        if state is AgentState.ON_CALL:
            return [self._state(h, "In a queue call")]
        if state is AgentState.WRAP_UP or (state is AgentState.READY and previous is not AgentState.WRAP_UP):
            return [self._state(h, "Waiting")]  # after a call: Waiting, calls held off until wrap_up_time ends
        return []  # wrap-up over: mod_callcenter raises no event when ready_time passes


def agent_list(simulation: FloorSimulation) -> str:
    model = simulation.model
    sim = model.config.simulator
    wrap = int(round(sim.wrapuptime_s or sim.wrap_up_s))
    columns = ("name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|reject_delay_time|"
               "busy_delay_time|no_answer_delay_time|last_bridge_start|last_bridge_end|last_offered_call|"
               "last_status_change|no_answer_count|calls_answered|talk_time|ready_time|external_calls_count")
    rows = [columns]
    for agent in model.agent_ids:
        state = model.state_of(agent)
        info = model.member_info(agent)
        on_break = state in PAUSED_STATES or info.get("pause_flag") is not None
        status = ("Logged Out" if state is AgentState.LOGGED_OUT else "On Break" if on_break else "Available")
        cc_state = {AgentState.RINGING: "Receiving", AgentState.ON_CALL: "In a queue call"}.get(state, "Waiting")
        ready_time = int(info["last_call"]) + wrap if state is AgentState.WRAP_UP else 0
        rows.append(f"{cc_name(agent)}|single_box||callback|[leg_timeout=15]user/{cc_name(agent)}|{status}|{cc_state}|3|"
                    f"{wrap}|10|60|0|{int(info['last_call'])}|{int(info['last_call'])}|{int(info['last_call'])}|"
                    f"{int(info['last_pause'] or info['login_time'])}|0|{info['calls_taken']}|0|{ready_time}|0")
    return "\n".join(rows) + "\n+OK\n"


def tier_list(simulation: FloorSimulation) -> str:
    rows = ["queue|agent|state|level|position"]
    for agent in simulation.model.agent_ids:
        for position, queue in enumerate(simulation.model.agent_queues(agent), start=1):
            rows.append(f"{cc_name(queue)}|{cc_name(agent)}|Ready|1|{position}")
    return "\n".join(rows) + "\n+OK\n"


def queue_list(simulation: FloorSimulation) -> str:
    rows = ["name|strategy|moh_sound|time_base_score|tier_rules_apply|tier_rule_wait_second|"
            "tier_rule_wait_multiply_level|tier_rule_no_agent_no_wait|discard_abandoned_after|abandoned_resume_allowed|"
            "max_wait_time|max_wait_time_with_no_agent|max_wait_time_with_no_agent_time_reached|record_template|"
            "calls_answered|calls_abandoned|ring_progressively_delay"]
    for queue in simulation.model.queues:
        stats = simulation.model.stats[queue]
        rows.append(f"{cc_name(queue)}|longest-idle-agent|local_stream://moh|system|false|300|true|true|60|false|0|0|5||"
                    f"{stats['answered']}|{stats['abandoned']}|10")
    return "\n".join(rows) + "\n+OK\n"


def member_list(simulation: FloorSimulation, queue: str) -> str:
    rows = ["queue|instance_id|uuid|session_uuid|cid_number|cid_name|system_epoch|joined_epoch|rejoined_epoch|"
            "bridge_epoch|abandoned_epoch|base_score|skill_score|serving_agent|serving_system|state|score"]
    model = simulation.model
    now = model.now.timestamp()
    for entry in model.waiting(queue):
        joined = int(now - entry["wait_s"])
        rows.append(f"{cc_name(queue)}|single_box|{entry['call_id']}|{entry['call_id']}|{entry['caller']}|caller|"
                    f"{joined}|{joined}|0|0|0|0|0|||Waiting|{int(entry['wait_s'])}")
    return "\n".join(rows) + "\n+OK\n"


class _EslSession:
    def __init__(self, server: EslServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server, self.reader, self.writer = server, reader, writer
        self.authenticated = False
        self.events_on = False
        self.closing = False
        self.peer = writer.get_extra_info("peername")

    def send(self, data: bytes) -> None:
        if self.closing or self.writer.is_closing():
            return
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > MAX_CLIENT_BUFFER:
            log.warning("ESL client %s too slow; disconnecting", self.peer)
            self.close()

    def close(self) -> None:
        self.closing = True
        if not self.writer.is_closing():
            self.writer.close()

    async def serve(self) -> None:
        self.send(frame([("Content-Type", "auth/request")]))
        buffer = b""
        try:
            while not self.closing:
                data = await self.reader.read(65536)
                if not data:
                    break
                buffer += data
                while not self.closing:
                    end = buffer.find(b"\n\n")
                    if end < 0:
                        if len(buffer) > MAX_COMMAND_BYTES:
                            self.send(reply("-ERR command too long"))
                            self.close()
                        break
                    line, buffer = buffer[:end], buffer[end + 2:]
                    self.handle(line.decode("utf-8", "replace").strip().split("\n", 1)[0].strip())
                if not self.closing:
                    await self.writer.drain()
        except ConnectionError:
            pass
        finally:
            self.close()

    def handle(self, command: str) -> None:
        if not command:
            return
        if not self.authenticated:
            if command.startswith("auth "):
                if secrets.compare_digest(command[5:].encode(), self.server.password.encode()):
                    self.authenticated = True
                    self.send(reply("+OK accepted"))
                else:
                    log.warning("ESL auth failed from %s", self.peer)
                    self.send(reply("-ERR invalid"))
                    self.send(frame([("Content-Type", "text/disconnect-notice")], b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"))
                    self.close()
            else:
                self.send(reply("-ERR command not found"))
            return
        if command.startswith("event "):
            words = command.split()
            if len(words) < 3 or words[1] != "plain":
                self.send(reply("-ERR unsupported event format (only plain)"))
                return
            self.events_on = "CUSTOM" in words or "ALL" in words
            self.send(reply("+OK event listener enabled plain"))
        elif command in ("noevents", "nixevent all"):
            self.events_on = False
            self.send(reply("+OK no longer listening for events"))
        elif command.startswith("api "):
            self.send(api_response(self.server.api(command[4:].strip())))
            self.server.simulation.pump()  # events caused by a status change follow the reply
        elif command == "exit":
            self.send(reply("+OK bye"))
            self.send(frame([("Content-Type", "text/disconnect-notice")], b"Disconnected, goodbye.\n"))
            self.close()
        else:
            self.send(reply("-ERR command not found"))


class EslServer:
    """FreeSWITCH event socket (inbound) on a localhost port, serving a FloorSimulation."""

    def __init__(self, simulation: FloorSimulation, *, password: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if not password:
            raise ValueError("the ESL server needs a password")
        self.simulation = simulation
        self.password = password
        self.host, self.requested_port = host, port
        self.formatter = CallcenterEventFormatter()
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[_EslSession] = set()
        self._tasks: set[asyncio.Task] = set()
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ESL server not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.requested_port)
        self._unsubscribe = self.simulation.subscribe(self._on_happening)
        self.simulation.start()
        log.info("ESL simulator listening on %s:%d", self.host, self.port)

    def _on_happening(self, model: FloorModel, happening: Happening, _ami_frames: list[bytes]) -> None:
        """Format once, send to every authenticated session listening for events."""
        listening = [s for s in self._sessions if s.authenticated and s.events_on and not s.closing]
        if not listening:
            return
        frames = self.formatter.format(model, happening)
        for session in listening:
            for data in frames:
                session.send(data)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _EslSession(self, reader, writer)
        self._sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.serve()
        finally:
            self._sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)

    def api(self, command: str) -> str:
        """The body FreeSWITCH would answer `api <command>` with."""
        words = command.split(None, 4)
        if words[:1] == ["uptime"]:
            return f"{max(0, int((self.simulation.clock.now() - self.simulation.clock.sim_start).total_seconds()))}\n"
        if words[:1] != ["callcenter_config"] or len(words) < 3:
            return f"-ERR {words[0] if words else ''} Command not found!\n"
        area, verb = words[1], words[2]
        sim = self.simulation
        if area == "agent" and verb == "list":
            return agent_list(sim)
        if area == "tier" and verb == "list":
            return tier_list(sim)
        if area == "queue" and verb == "list" and len(words) == 3:
            return queue_list(sim)
        if area == "queue" and verb == "list" and len(words) >= 5 and words[3] == "members":
            queue = words[4].strip().split("@", 1)[0]
            if queue not in sim.model.queues:
                return "-ERR Queue not found!\n"
            return member_list(sim, queue)
        if area == "agent" and verb == "set" and len(words) >= 5 and words[3] == "status":
            name, _, status = words[4].partition(" ")
            status = status.strip().strip("'\"")
            agent = name.split("@", 1)[0]
            if agent not in sim.model.agent_ids:
                return "-ERR Invalid Agent!\n"
            if status not in ("On Break", "Available", "Available (On Demand)", "Logged Out"):
                return "-ERR Invalid Status!\n"
            if status == "Logged Out":
                return "-ERR Logged Out is not simulated (agents sign out at their shift end)\n"
            reason = {"short_break": "小休", "meal": "用餐"}.get(sim.config.pbx.esl_on_break)
            result = sim.set_paused(agent, status == "On Break", reason)
            return "+OK\n" if result.ok else f"-ERR {result.message}\n"
        return "-ERR Unknown command!\n"

    async def close(self) -> None:
        await self.simulation.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
