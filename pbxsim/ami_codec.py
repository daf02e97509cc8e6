"""Sans-I/O Asterisk 18 AMI for the simulator's server side.

`ActionReader` turns client bytes into actions (bounded, split-safe, UTF-8
decoded per message). `AmiEventFormatter` turns model happenings into the
manager events Asterisk 18's app_queue raises (field names as in the
Asterisk 18 AMI event documentation), and builds the QueueStatus snapshot.
No sockets here; ami_server.py is the transport.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pbxsim.model import (
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
    PAUSED_STATES,
)
from wfm.events import AgentState

BANNER = b"Asterisk Call Manager/7.0.3\r\n"
MAX_ACTION_BYTES = 64 * 1024
AGENT_PRIVILEGE = "agent,all"

# Asterisk device states (include/asterisk/devicestate.h) as QueueMember Status
DEVICE_NOT_INUSE, DEVICE_INUSE, DEVICE_RINGING = 1, 2, 6

Headers = Sequence[tuple[str, str]]

_BLANK = re.compile(rb"\r?\n\r?\n")


def format_message(headers: Iterable[tuple[str, object]]) -> bytes:
    """One AMI message: `Key: Value\\r\\n` lines and a blank line (values must not contain CR/LF)."""
    parts = []
    for key, value in headers:
        text = str(value)
        if "\r" in text or "\n" in text:
            text = text.replace("\r", " ").replace("\n", " ")
        parts.append(f"{key}: {text}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


def epoch_stamp(when: datetime) -> str:
    """AMI `Timestamp:` (timestampevents=yes): epoch seconds with microseconds."""
    return f"{when.timestamp():.6f}"


# ---------------------------------------------------------------- actions in


@dataclass(frozen=True, slots=True)
class Action:
    """One client action: headers in order; `get` is case-insensitive (AMI keys are)."""

    headers: tuple[tuple[str, str], ...]
    fields: dict[str, str] = field(hash=False, compare=False)

    @property
    def name(self) -> str:
        return self.fields.get("action", "")

    @property
    def action_id(self) -> str | None:
        return self.fields.get("actionid")

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key.lower(), default)


@dataclass(frozen=True, slots=True)
class ActionError:
    """A client message that could not be read (oversized, not UTF-8)."""

    reason: str


class ActionReader:
    """Bytes from a manager client → Action / ActionError items. Never raises."""

    def __init__(self, max_bytes: int = MAX_ACTION_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_bytes
        self._discarding = False

    def feed(self, data: bytes) -> list[Action | ActionError]:
        self._buffer += data
        out: list[Action | ActionError] = []
        while True:
            match = _BLANK.search(self._buffer)
            if match is None:
                if len(self._buffer) > self._max:
                    if not self._discarding:
                        out.append(ActionError(f"action longer than {self._max} bytes discarded"))
                    self._discarding = True
                    del self._buffer[:-3]  # keep a possible partial blank line
                return out
            block = bytes(self._buffer[: match.start()])
            del self._buffer[: match.end()]
            if self._discarding:
                self._discarding = False
                continue
            item = self._parse(block)
            if item is not None:
                out.append(item)

    @staticmethod
    def _parse(block: bytes) -> Action | ActionError | None:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:
            return ActionError(f"action is not UTF-8 ({exc.reason})")
        headers = []
        for line in re.split(r"\r?\n", text):
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep:
                continue  # Asterisk ignores a line without a colon
            headers.append((key.strip(), value.strip()))
        if not headers:
            return None
        fields: dict[str, str] = {}
        for key, value in headers:
            fields.setdefault(key.lower(), value)
        return Action(tuple(headers), fields)


def response(action: Action | None, status: str, *extra: tuple[str, object]) -> bytes:
    """`Response: Success|Error|Goodbye` with the action's ActionID echoed right after it."""
    headers: list[tuple[str, object]] = [("Response", status)]
    if action is not None and action.action_id is not None:
        headers.append(("ActionID", action.action_id))
    headers.extend(extra)
    return format_message(headers)


# ---------------------------------------------------------------- events out


def interface_of(agent: str) -> str:
    return f"PJSIP/{agent}"


class AmiEventFormatter:
    """Model happenings → Asterisk 18 manager events (bytes), one formatter per simulated floor."""

    def __init__(self, context: str = "from-queue") -> None:
        self._channel_seq = itertools.count(1)
        self._caller_channels: dict[str, tuple[str, str]] = {}  # call_id -> (channel, uniqueid)
        self._agent_channels: dict[str, tuple[str, str]] = {}  # call_id -> agent leg (channel, uniqueid)
        self.context = context

    # -- helpers
    def _event(self, name: str, when: datetime, body: Iterable[tuple[str, object]]) -> bytes:
        return format_message([("Event", name), ("Privilege", AGENT_PRIVILEGE), ("Timestamp", epoch_stamp(when)), *body])

    def _caller_channel(self, call_id: str, when: datetime) -> tuple[str, str]:
        if call_id not in self._caller_channels:
            self._caller_channels[call_id] = (f"PJSIP/trunk-{next(self._channel_seq):08x}", call_id)
        return self._caller_channels[call_id]

    def _agent_channel(self, call_id: str, agent: str, when: datetime) -> tuple[str, str]:
        key = f"{call_id}/{agent}"
        if key not in self._agent_channels:
            seq = next(self._channel_seq)
            self._agent_channels[key] = (f"PJSIP/{agent}-{seq:08x}", f"{int(when.timestamp())}.{seq + 100000}")
        return self._agent_channels[key]

    def _channel_fields(self, prefix: str, channel: str, uniqueid: str, linkedid: str, number: str,
                        name: str, connected: str, queue: str, state: int, state_desc: str) -> list[tuple[str, object]]:
        return [
            (f"{prefix}Channel", channel),
            (f"{prefix}ChannelState", state),
            (f"{prefix}ChannelStateDesc", state_desc),
            (f"{prefix}CallerIDNum", number),
            (f"{prefix}CallerIDName", name),
            (f"{prefix}ConnectedLineNum", connected or "<unknown>"),
            (f"{prefix}ConnectedLineName", "<unknown>"),
            (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", ""),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", queue),
            (f"{prefix}Priority", 1),
            (f"{prefix}Uniqueid", uniqueid),
            (f"{prefix}Linkedid", linkedid),
        ]

    def _caller_fields(self, call_id: str, caller: str, queue: str, when: datetime, connected: str = "") -> list[tuple[str, object]]:
        channel, uniqueid = self._caller_channel(call_id, when)
        return self._channel_fields("", channel, uniqueid, uniqueid, caller, "<unknown>", connected, queue, 6, "Up")

    def _dest_fields(self, call_id: str, agent: str, caller: str, queue: str, when: datetime, state: int, desc: str) -> list[tuple[str, object]]:
        channel, uniqueid = self._agent_channel(call_id, agent, when)
        fields = self._channel_fields("Dest", channel, uniqueid, call_id, agent, agent, caller, queue, state, desc)
        return fields

    @staticmethod
    def member_fields(model: FloorModel, agent: str, queue: str, state: AgentState, reason: str | None,
                      *, name_key: str = "MemberName", interface_key: str = "Interface") -> list[tuple[str, object]]:
        """The member block of QueueMember*/QueueMemberStatus/QueueMember (list item) events."""
        info = model.member_info(agent)
        flag = info.get("pause_flag")
        paused = state in PAUSED_STATES or flag is not None
        if flag is not None and state not in PAUSED_STATES:
            reason = flag
        if state is AgentState.RINGING:
            status = DEVICE_RINGING
        elif state is AgentState.ON_CALL or info.get("other_line"):
            status = DEVICE_INUSE
        else:
            status = DEVICE_NOT_INUSE
        fields: list[tuple[str, object]] = [("Queue", queue)]
        if name_key == "Name":  # QueueStatus list items: Name/Location (Asterisk 18 still mixes spellings)
            fields += [("Name", agent), ("Location", interface_of(agent))]
        else:
            fields += [("MemberName", agent), ("Interface", interface_of(agent))]
        fields += [
            ("StateInterface", interface_of(agent)),
            ("Membership", "dynamic"),
            ("Penalty", 0),
            ("CallsTaken", info["calls_taken"]),
            ("LastCall", int(info["last_call"])),
            ("LastPause", int(info["last_pause"])),
            ("LoginTime", int(info["login_time"])),
            ("InCall", 1 if state is AgentState.ON_CALL else 0),
            ("Status", status),
            ("Paused", 1 if paused else 0),
            ("PausedReason", (reason or "") if paused else ""),
        ]
        if name_key != "Name":
            fields.append(("Ringinuse", 0))
        fields.append(("Wrapuptime", int(model.sim.wrapuptime_s)))
        return fields

    # -- happenings
    def format(self, model: FloorModel, happening: Happening) -> list[bytes]:
        """The manager events one happening raises, in Asterisk's order."""
        h = happening
        ts = h.ts
        if isinstance(h, MemberChanged):
            return self._member_changed(model, h)
        if isinstance(h, MemberFlagged):
            state = AgentState.READY if h.state is AgentState.WRAP_UP else h.state
            if h.pause:
                return [self._pause_event(model, h, q) for q in h.queues]
            return [self._event("QueueMemberStatus", ts, self.member_fields(model, h.agent, q, state, None))
                    for q in h.queues]
        if isinstance(h, CallerJoined):
            return [self._event("QueueCallerJoin", ts, [*self._caller_fields(h.call_id, h.caller, h.queue, ts),
                                                        ("Queue", h.queue), ("Position", h.position), ("Count", h.count)])]
        if isinstance(h, CallerLeft):
            return [self._event("QueueCallerLeave", ts, [*self._caller_fields(h.call_id, h.caller, h.queue, ts),
                                                         ("Queue", h.queue), ("Count", h.count), ("Position", h.position)])]
        if isinstance(h, CallerAbandoned):
            fields = self._caller_fields(h.call_id, h.caller, h.queue, ts)
            out = [
                self._event("QueueCallerAbandon", ts, [*fields, ("Queue", h.queue), ("Position", h.position),
                                                       ("OriginalPosition", h.original_position), ("HoldTime", int(h.hold_s))]),
                # app_queue always leaves the queue after an abandon; Leave carries the new Count
                self._event("QueueCallerLeave", ts, [*fields, ("Queue", h.queue), ("Count", h.count), ("Position", h.position)]),
            ]
            self._forget(h.call_id)
            return out
        if isinstance(h, AgentCalled):
            return [self._event("AgentCalled", ts, [
                *self._caller_fields(h.call_id, h.caller, h.queue, ts),
                *self._dest_fields(h.call_id, h.agent, h.caller, h.queue, ts, 5, "Ringing"),
                ("Queue", h.queue), ("MemberName", h.agent), ("Interface", interface_of(h.agent))])]
        if isinstance(h, AgentRingNoAnswer):
            out = [self._event("AgentRingNoAnswer", ts, [
                *self._caller_fields(h.call_id, h.caller, h.queue, ts),
                *self._dest_fields(h.call_id, h.agent, h.caller, h.queue, ts, 5, "Ringing"),
                ("Queue", h.queue), ("MemberName", h.agent), ("Interface", interface_of(h.agent)),
                ("RingTime", int(round(h.ring_s * 1000)))])]  # app_queue reports RingTime here in milliseconds
            self._agent_channels.pop(f"{h.call_id}/{h.agent}", None)
            return out
        if isinstance(h, AgentConnected):
            return [self._event("AgentConnect", ts, [
                *self._caller_fields(h.call_id, h.caller, h.queue, ts, connected=h.agent),
                *self._dest_fields(h.call_id, h.agent, h.caller, h.queue, ts, 6, "Up"),
                ("Queue", h.queue), ("MemberName", h.agent), ("Interface", interface_of(h.agent)),
                ("HoldTime", int(h.hold_s)), ("RingTime", int(h.ring_s))])]
        if isinstance(h, AgentCompleted):
            out = [self._event("AgentComplete", ts, [
                *self._caller_fields(h.call_id, h.caller, h.queue, ts, connected=h.agent),
                *self._dest_fields(h.call_id, h.agent, h.caller, h.queue, ts, 6, "Up"),
                ("Queue", h.queue), ("MemberName", h.agent), ("Interface", interface_of(h.agent)),
                ("HoldTime", int(h.hold_s)), ("TalkTime", int(h.talk_s)), ("Reason", h.reason)])]
            self._forget(h.call_id)
            return out
        raise TypeError(f"unknown happening {type(h).__name__}")

    def _forget(self, call_id: str) -> None:
        self._caller_channels.pop(call_id, None)
        for key in [k for k in self._agent_channels if k.startswith(call_id + "/")]:
            del self._agent_channels[key]

    def _member_changed(self, model: FloorModel, h: MemberChanged) -> list[bytes]:
        ts, state, previous = h.ts, h.state, h.previous
        if previous is AgentState.LOGGED_OUT and state is not AgentState.LOGGED_OUT:
            out = [self._event("QueueMemberAdded", ts, self.member_fields(model, h.agent, q, AgentState.READY, None)) for q in h.queues]
            if state in PAUSED_STATES:
                out += [self._pause_event(model, h, q) for q in h.queues]
            return out
        if state is AgentState.LOGGED_OUT:
            return [self._event("QueueMemberRemoved", ts, self.member_fields(model, h.agent, q, previous, None)) for q in h.queues]
        if state in PAUSED_STATES or previous in PAUSED_STATES:
            return [self._pause_event(model, h, q) for q in h.queues]
        if previous is AgentState.WRAP_UP and state is AgentState.READY:
            return []  # the device was already idle; only wrapuptime ended (no AMI event)
        if previous is AgentState.ON_CALL and state is AgentState.WRAP_UP:
            state = AgentState.READY  # device NOT_INUSE after hangup; wrap-up is not a device state
        return [self._event("QueueMemberStatus", ts, self.member_fields(model, h.agent, q, state, h.reason)) for q in h.queues]

    def _pause_event(self, model: FloorModel, h: MemberChanged | MemberFlagged, queue: str) -> bytes:
        state = AgentState.READY if h.state is AgentState.WRAP_UP else h.state
        reason = getattr(h, "reason", None)
        fields = self.member_fields(model, h.agent, queue, state, reason)
        paused = dict(fields)["Paused"] == 1
        fields.append(("Reason", dict(fields)["PausedReason"] if paused else ""))  # pre-16 spelling, still sent
        return self._event("QueueMemberPause", h.ts, fields)

    # -- QueueStatus snapshot
    def queue_status(self, model: FloorModel, action: Action, queue_filter: str | None, member_filter: str | None) -> list[bytes]:
        """QueueParams, QueueMember and QueueEntry list items and QueueStatusComplete."""
        action_id = [("ActionID", action.action_id)] if action.action_id is not None else []
        items: list[bytes] = []
        now = model.now
        members = model.members()
        for queue in model.queues:
            if queue_filter and queue != queue_filter:
                continue
            stats = model.stats[queue]
            answered = stats["answered"]
            completed = stats["completed"]
            offered_done = answered + stats["abandoned"]
            service_perf = 100.0 * stats["answered_in_target"] / offered_done if offered_done else 0.0
            waiting = model.waiting(queue)
            items.append(format_message([
                ("Event", "QueueParams"), ("Queue", queue), ("Max", 0), ("Strategy", "leastrecent"),
                ("Calls", len(waiting)), ("Holdtime", int(stats["hold_total"] / answered) if answered else 0),
                ("TalkTime", int(stats["talk_total"] / completed) if completed else 0),
                ("Completed", completed), ("Abandoned", stats["abandoned"]),
                ("ServiceLevel", int(model.config.service.service_level_answer_s)),
                ("ServicelevelPerf", f"{service_perf:.1f}"), ("ServicelevelPerf2", f"{service_perf:.1f}"),
                ("Weight", 0), *action_id]))
            for row in members:
                if queue not in row["queues"]:
                    continue
                if member_filter and member_filter not in (row["agent"], interface_of(row["agent"])):
                    continue
                fields = self.member_fields(model, row["agent"], queue, row["state"], row["reason"], name_key="Name")
                items.append(format_message([("Event", "QueueMember"), *fields, *action_id]))
            for entry in waiting:
                channel, uniqueid = self._caller_channel(entry["call_id"], now)
                items.append(format_message([
                    ("Event", "QueueEntry"), ("Queue", queue), ("Position", entry["position"]), ("Channel", channel),
                    ("Uniqueid", uniqueid), ("CallerIDNum", entry["caller"]), ("CallerIDName", "<unknown>"),
                    ("ConnectedLineNum", "<unknown>"), ("ConnectedLineName", "<unknown>"),
                    ("Wait", int(entry["wait_s"])), ("Priority", 0), *action_id]))
        complete = format_message([("Event", "QueueStatusComplete"), *action_id, ("EventList", "Complete"), ("ListItems", len(items))])
        return [*items, complete]
