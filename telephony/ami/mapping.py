"""Pure mapping of AMI messages onto the normalized floor events (docs/pbx-mapping.md).

`AmiMapper` holds the minimal per-feed state the mapping needs and nothing
else: each member's queues with their pause flag and reason, the last device
status, whether a computed wrap-up is running, what was last emitted (so a
state is emitted once per change), the name → id pairs seen, and the queue
snapshot being collected. It does no I/O and reads no clock: every call is
given the time, so the same messages with the same times always give the same
events. A wrap-up that ends between messages is emitted by `advance(now)`
(the adapter calls it from a timer; `map` calls it first for the message's ts).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from telephony.ami.protocol import AmiMessage
from telephony.ami.settings import AmiSettings
from wfm.events import AgentState, AgentStateEvent, CallEvent, CallEventKind, Event, QueueStatusEvent

# AST_DEVICE_* codes of the Status header
DEVICE_UNKNOWN, NOT_INUSE, INUSE, BUSY, INVALID, UNAVAILABLE, RINGING, RINGINUSE, ONHOLD = range(9)
_IN_USE = frozenset({INUSE, BUSY, RINGINUSE, ONHOLD})

_TECH_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/([^@/]+)(?:@.*)?$")

MEMBER_EVENTS = frozenset(
    {
        "QueueMemberStatus",
        "QueueMemberPause",
        "QueueMemberPaused",  # Asterisk 11
        "QueueMemberAdded",
        "QueueMemberRinginuse",
        "QueueMemberPenalty",
    }
)
SNAPSHOT_EVENTS = frozenset({"QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete"})


CHECK_SUFFIX = "-check"  # the ActionID ending of a reconciliation QueueStatus (live and in a capture replay)
QUEUE_MARK = "-queue="  # a check of one queue (QueueStatus with Queue:): "<id>-queue=<queue>-check"


def is_check(msg: AmiMessage) -> bool:
    return (msg.action_id or "").endswith(CHECK_SUFFIX)


def check_suffix(queue: str | None) -> str:
    """The ActionID ending of a check of `queue` (None: of the whole member table)."""
    return CHECK_SUFFIX if queue is None else QUEUE_MARK + queue + CHECK_SUFFIX


def check_queue(action_id: str | None) -> str | None:
    """The queue a check's ActionID names (check_suffix), None for a check of the whole table."""
    body = (action_id or "")[: -len(CHECK_SUFFIX)]
    mark = body.find(QUEUE_MARK)
    return body[mark + len(QUEUE_MARK):] if mark >= 0 else None


def _keep_queue_call(old: MemberState, member: MemberState) -> None:
    """A QueueStatus list taken during a queue call says InCall 1 but not which call: keep knowing it is a
    queue call, so the hang-up that Asterisk 22 reports (QueueMemberStatus InCall 0) just before its
    AgentComplete gives wrap-up, never a transient ready (measured in the interop lab)."""
    if old.queue_call and (member.in_call or member.status in _IN_USE):
        member.queue_call = True


class AmiMappingError(ValueError):
    """An AMI event the floor needs lacks a field or carries a bad value (message skipped)."""


@dataclass
class MemberState:
    """What the mapper remembers of one agent."""

    agent: str
    interface: str | None = None
    queues: dict[str, tuple[bool, str]] = field(default_factory=dict)  # queue -> (paused, reason)
    status: int = NOT_INUSE
    in_call: bool = False
    device: int | None = None  # the device status the PBX last reported (Status:), apart from what calls imply
    queue_call: bool = False  # between AgentConnect and AgentComplete (the PBX's InCall may clear earlier)
    wrapuptime: float = 0.0  # the member's own wrap-up the PBX reports (Wrapuptime:, Asterisk 16+)
    wrap_until: datetime | None = None
    emitted: tuple | None = None  # (state, reason, queues) last emitted


@dataclass
class _QueueSnapshot:
    waiting: int
    longest_wait_s: float | None = None


def strip_technology(interface: str) -> str:
    """`PJSIP/1001` → `1001`, `Local/1001@agents/n` → `1001`; anything else unchanged."""
    match = _TECH_PREFIX.match(interface)
    return match.group(1) if match else interface


def _int(msg: AmiMessage, *keys: str) -> int | None:
    for key in keys:
        value = msg.get(key)
        if value is not None and value != "":
            try:
                return int(value.strip())
            except ValueError:
                raise AmiMappingError(f"{key} is not a whole number: {value!r}") from None
    return None


def _seconds(msg: AmiMessage, *keys: str) -> float | None:
    for key in keys:
        value = msg.get(key)
        if value is not None and value != "":
            try:
                seconds = float(value.strip())
            except ValueError:
                raise AmiMappingError(f"{key} is not a number of seconds: {value!r}") from None
            if not math.isfinite(seconds) or seconds < 0:
                raise AmiMappingError(f"{key} is not a finite, non-negative number of seconds: {value!r}")
            return seconds
    return None


def _flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


class AmiMapper:
    """AMI messages → §1 events for one feed connection (a new connection starts a new mapper)."""

    def __init__(self, settings: AmiSettings, source: str = "ami") -> None:
        self.settings = settings
        self.tz = settings.tz
        self.source = source
        self.members: dict[str, MemberState] = {}
        self._name_to_agent: dict[str, str] = {}
        self._agent_ids: dict[tuple[str | None, str | None], str] = {}  # (interface, name) -> id, resolved once
        self._snapshot_queues: dict[str, _QueueSnapshot] = {}
        self._snapshot_members: dict[str, MemberState] = {}
        self._wrap_up = timedelta(seconds=settings.wrap_up_s)
        self._queue_wrap_up = {q: timedelta(seconds=s) for q, s in getattr(settings, "queue_wrap_up_s", {}).items()}
        self._wrapping = self._wrap_up > timedelta(0) or any(self._queue_wrap_up.values())  # any wrap-up at all
        self._checking = False  # a reconciliation QueueStatus is being collected (begin_check/end_check)
        self._check_queue: str | None = None  # the one queue that check lists (None: every queue)
        self._waiting_seen: dict[str, int] = {}  # per queue, the waiting count last emitted
        self.corrected: list[str] = []  # agents the last reconciliation corrected (drift)

    # ---- time -------------------------------------------------------------
    def event_time(self, msg: AmiMessage, received: datetime) -> datetime:
        """The PBX's own `Timestamp:` (epoch seconds) when present, else the receive time; in the floor zone."""
        stamp = msg.fields.get("Timestamp")  # one spelling: the plain dict lookup
        if stamp:
            try:
                return datetime.fromtimestamp(float(stamp), tz=self.tz)
            except (ValueError, OverflowError, OSError):
                raise AmiMappingError(f"Timestamp is not epoch seconds: {stamp!r}") from None
        if received.tzinfo is None:
            raise ValueError("receive time must be timezone-aware")
        return received.astimezone(self.tz)

    def next_due(self) -> datetime | None:
        """When the next computed wrap-up ends (for the adapter's timer), or None."""
        due = [m.wrap_until for m in self.members.values() if m.wrap_until is not None]
        return min(due) if due else None

    def advance(self, now: datetime) -> list[Event]:
        """Emit every wrap-up that has ended by `now`, stamped with its own end time."""
        events: list[Event] = []
        ended = sorted(
            ((m.wrap_until, m) for m in self.members.values() if m.wrap_until is not None and m.wrap_until <= now),
            key=lambda due: (due[0], due[1].agent),
        )
        for when, member in ended:
            member.wrap_until = None
            self._emit(member, when, events)
        return events

    # ---- identity ---------------------------------------------------------
    def agent_of(self, msg: AmiMessage) -> tuple[str, str | None]:
        """The canonical agent id of a member message, and its interface when given."""
        fields = msg.fields  # Interface, Location, Member, Name, AgentName have one spelling each
        interface = fields.get("Interface") or fields.get("Location") or fields.get("Member")
        if not interface and msg.event == "AgentCalled":
            interface = fields.get("AgentCalled")  # Asterisk 11
        name = msg.get("MemberName") or fields.get("Name") or fields.get("AgentName")
        key = (interface, name)
        agent = self._agent_ids.get(key)
        if agent is not None:
            return agent, interface
        aliases = self.settings.agent_aliases
        if interface and interface in aliases:
            agent = aliases[interface]
        elif name and name in aliases:
            agent = aliases[name]
        elif interface:
            stripped = strip_technology(interface)
            agent = aliases.get(stripped, stripped)
        elif name:
            agent = self._name_to_agent.get(name, name)
        else:
            raise AmiMappingError(f"{msg.event} names no member (Interface/Location/MemberName)")
        if not agent:
            raise AmiMappingError(f"{msg.event} has an empty member id")
        if name and interface:
            self._name_to_agent[name] = agent
            self._agent_ids[key] = agent  # only pairs with an interface: a bare name may be learned later
        elif interface:
            self._agent_ids[key] = agent
        return agent, interface

    def interface_of(self, agent: str) -> str | None:
        """The PBX interface last seen for `agent` (for QueuePause), if any."""
        member = self.members.get(agent)
        return member.interface if member else None

    def _member(self, msg: AmiMessage) -> MemberState:
        agent, interface = self.agent_of(msg)
        member = self.members.get(agent)
        if member is None:
            member = self.members[agent] = MemberState(agent)
        if interface:
            member.interface = interface
        return member

    # ---- state ------------------------------------------------------------
    def derive(self, member: MemberState, now: datetime) -> tuple[AgentState, str | None]:
        """The agent's §1 state from what is known: Paused wins over Status, wrap-up is computed."""
        queues = member.queues
        if not queues:
            return AgentState.LOGGED_OUT, None
        for paused, _ in queues.values():
            if not paused:
                break
        else:  # paused in every queue
            reason = next((r for _, r in queues.values() if r), "")
            return self._pause_state(reason), reason or None
        status = member.status
        if status in (INVALID, UNAVAILABLE):
            return AgentState(self.settings.status_unavailable), None
        if status == RINGING:
            return AgentState.RINGING, None
        if member.in_call or status in _IN_USE:
            return AgentState.ON_CALL, None
        if member.queue_call:  # hung up, AgentComplete not yet here: never a transient ready before wrap-up
            return (AgentState.WRAP_UP if self._wrapping else AgentState.ON_CALL), None
        if member.wrap_until is not None and now < member.wrap_until:
            return AgentState.WRAP_UP, None
        return AgentState.READY, None

    def _pause_state(self, reason: str) -> AgentState:
        reasons = self.settings.pause_reasons
        state = reasons.get(reason)
        if state is None:
            state = reasons.get(reason.strip())
        if state is None:
            state = reasons.get(reason.strip().lower(), "not_ready")
        return AgentState(state)

    def _emit(self, member: MemberState, ts: datetime, out: list[Event], force: bool = False) -> None:
        state, reason = self.derive(member, ts)
        key = (state, reason, tuple(member.queues))
        if not force and key == member.emitted:
            return
        member.emitted = key
        out.append(AgentStateEvent(ts=ts, agent=member.agent, state=state, queues=list(key[2]), reason=reason,
                                   source=self.source))

    # ---- messages -----------------------------------------------------------
    @staticmethod
    def handles(msg: AmiMessage) -> bool:
        """True when `map` may turn this message into events (it needs a time)."""
        return msg.event in _HANDLERS or (msg.response is not None and is_check(msg))

    def map(self, msg: AmiMessage, received: datetime) -> list[Event]:
        """The events one AMI message stands for (often none). Raises AmiMappingError for a bad event."""
        name = msg.fields.get("Event")
        if name is None:
            name = msg.event  # another spelling
            if name is None:
                if msg.response == "Success" and is_check(msg):
                    self.begin_check(check_queue(msg.action_id))  # a reconciliation's list follows
                return []  # other responses are the adapter's business
        handler = _HANDLERS.get(name)
        if handler is None:
            return []
        ts = self.event_time(msg, received)
        out = self.advance(ts) if self._wrapping else []  # wrap_until is only ever set when some wrap-up is known
        handler(self, msg, ts, out)
        return out

    def _queue(self, msg: AmiMessage) -> str:
        queue = msg.fields.get("Queue")
        if not queue:
            raise AmiMappingError(f"{msg.event} has no Queue")
        return queue

    def _call_id(self, msg: AmiMessage) -> str:
        call_id = msg.get("Uniqueid")
        if not call_id:
            raise AmiMappingError(f"{msg.event} has no Uniqueid")
        return call_id

    def _on_member(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        queue = self._queue(msg)
        member = self._member(msg)
        self._apply_member_fields(member, queue, msg)
        collected = self._snapshot_members.get(member.agent)
        if collected is not None:  # a live change inside a QueueStatus list is newer than the list
            self._apply_member_fields(collected, queue, msg)
        self._emit(member, ts, out)

    def _apply_member_fields(self, member: MemberState, queue: str, msg: AmiMessage) -> None:
        paused_before, reason_before = member.queues.get(queue, (False, ""))
        fields = msg.fields
        paused = _flag(fields.get("Paused"))
        if paused is None:
            paused = paused_before
        reason = msg.get("PausedReason")
        if not reason:
            reason = fields.get("Reason") if msg.event in ("QueueMemberPause", "QueueMemberPaused") else None
        if reason is None:
            reason = reason_before
        member.queues[queue] = (paused, reason if paused else "")
        status = _int(msg, "Status")
        wrapuptime = _seconds(msg, "Wrapuptime")
        if wrapuptime is not None:
            member.wrapuptime = wrapuptime
            if wrapuptime > 0:
                self._wrapping = True
        if status is not None:
            member.status = status
            member.device = status
            if status in _IN_USE or status == RINGING:
                member.wrap_until = None  # a new call ends the computed wrap-up
        in_call = _flag(msg.get("InCall"))
        if in_call is not None:
            member.in_call = in_call

    def _on_member_removed(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        queue = self._queue(msg)
        member = self._member(msg)
        member.queues.pop(queue, None)
        if not member.queues:
            member.wrap_until = None
            member.in_call = False
        collected = self._snapshot_members.get(member.agent)
        if collected is not None:
            collected.queues.pop(queue, None)
        self._emit(member, ts, out)

    def _on_caller_join(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        queue = self._queue(msg)
        call_id = self._call_id(msg)
        out.append(CallEvent(ts=ts, queue=queue, call_id=call_id, event=CallEventKind.OFFERED, source=self.source))
        self._waiting(msg, queue, ts, out)

    def _on_caller_leave(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        self._waiting(msg, self._queue(msg), ts, out)

    def _on_caller_abandon(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        queue = self._queue(msg)
        call_id = self._call_id(msg)
        wait = _seconds(msg, "HoldTime")
        out.append(CallEvent(ts=ts, queue=queue, call_id=call_id, event=CallEventKind.ABANDONED, wait_s=wait, source=self.source))
        self._waiting(msg, queue, ts, out)

    def _waiting(self, msg: AmiMessage, queue: str, ts: datetime, out: list[Event]) -> None:
        count = _int(msg, "Count")
        if count is not None:
            if count < 0:
                raise AmiMappingError(f"Count is negative: {count}")
            out.append(QueueStatusEvent(ts=ts, queue=queue, waiting=count, source=self.source))
            self._waiting_seen[queue] = count
            collected = self._snapshot_queues.get(queue)
            if collected is not None:  # newer than the QueueParams being collected
                collected.waiting = count

    def _known_member(self, msg: AmiMessage, queue: str) -> MemberState:
        member = self._member(msg)
        if queue not in member.queues:
            member.queues[queue] = (False, "")  # seen working the queue: a member of it
        return member

    def _on_agent_called(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        member = self._known_member(msg, self._queue(msg))
        member.status = RINGING
        member.wrap_until = None
        self._mirror_device(member)
        self._emit(member, ts, out)

    def _on_ring_no_answer(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        member = self._known_member(msg, self._queue(msg))
        if member.status == RINGING:
            member.status = NOT_INUSE
        self._mirror_device(member)
        self._emit(member, ts, out)

    def _on_agent_connect(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        queue = self._queue(msg)
        call_id = self._call_id(msg)
        member = self._known_member(msg, queue)
        wait = _seconds(msg, "HoldTime")
        out.append(CallEvent(ts=ts, queue=queue, call_id=call_id, event=CallEventKind.ANSWERED, agent=member.agent, wait_s=wait, source=self.source))
        member.in_call = True
        member.queue_call = True
        member.status = INUSE
        member.wrap_until = None
        self._mirror_device(member)
        self._emit(member, ts, out)

    def _on_agent_complete(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        queue = self._queue(msg)
        call_id = self._call_id(msg)
        member = self._known_member(msg, queue)
        wait = _seconds(msg, "HoldTime")
        talk = _seconds(msg, "TalkTime")
        out.append(
            CallEvent(ts=ts, queue=queue, call_id=call_id, event=CallEventKind.COMPLETED, agent=member.agent, wait_s=wait, talk_s=talk, source=self.source)
        )
        member.in_call = False
        member.queue_call = False
        # the phone may still be busy on another line: the device as the PBX last reported it, not "idle"
        member.status = member.device if member.device is not None and member.device != RINGING else NOT_INUSE
        wrap = self.wrap_up_for(member, queue)
        member.wrap_until = ts + wrap if wrap > timedelta(0) else None
        self._mirror_device(member)
        self._emit(member, ts, out)

    def wrap_up_for(self, member: MemberState, queue: str) -> timedelta:
        """Wrap-up after a call from `queue`: the member's own Wrapuptime where the PBX reports one,
        else the queue's (pbx.queue_wrap_up_s, queues.conf wrapuptime), else pbx.wrap_up_s."""
        if member.wrapuptime > 0:
            return timedelta(seconds=member.wrapuptime)
        return self._queue_wrap_up.get(queue, self._wrap_up)

    def _mirror_device(self, member: MemberState) -> None:
        """A call event inside a QueueStatus list is newer than the list: keep the collected record in step."""
        collected = self._snapshot_members.get(member.agent)
        if collected is not None:
            collected.status, collected.in_call = member.status, member.in_call

    # ---- QueueStatus snapshot ------------------------------------------------
    def _on_queue_params(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        queue = self._queue(msg)
        calls = _int(msg, "Calls")
        if calls is None or calls < 0:
            raise AmiMappingError("QueueParams has no valid Calls")
        self._snapshot_queues[queue] = _QueueSnapshot(calls)

    def _on_queue_entry(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        queue = self._queue(msg)
        wait = _seconds(msg, "Wait")
        entry = self._snapshot_queues.setdefault(queue, _QueueSnapshot(0))
        if wait is not None and (entry.longest_wait_s is None or wait > entry.longest_wait_s):
            entry.longest_wait_s = wait

    def _on_queue_member(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        queue = self._queue(msg)
        agent, interface = self.agent_of(msg)
        member = self._snapshot_members.get(agent)
        if member is None:
            member = self._snapshot_members[agent] = MemberState(agent)
        if interface:
            member.interface = interface
        self._apply_member_fields(member, queue, msg)

    def _on_status_complete(self, msg: AmiMessage, ts: datetime, out: list[Event]) -> None:
        if is_check(msg):
            if self._checking:
                out.extend(self.end_check(ts))
        else:
            out.extend(self.finish_snapshot(ts))

    def begin_check(self, queue: str | None = None) -> None:
        """A reconciliation starts: the QueueStatus list items that follow (of `queue` only, or of every
        queue) are collected, not emitted."""
        self._checking = True
        self._check_queue = queue
        self._snapshot_members = {}
        self._snapshot_queues = {}

    def known_queues(self) -> list[str]:
        """Every queue the feed has named (members' queues, waiting counts), sorted: what checks go through."""
        queues = set(self._waiting_seen)
        for member in self.members.values():
            queues.update(member.queues)
        return sorted(queues)

    def end_check(self, ts: datetime) -> list[Event]:
        """Close a reconciliation: only the agents and queues whose PBX state differs from what was
        emitted get an event (an agent gone from every queue becomes logged_out); `corrected`
        names those agents."""
        self._checking = False
        if self._check_queue is not None:
            found = self._end_queue_check(self._check_queue, ts)
            self._snapshot_members = {}
            self._snapshot_queues = {}
            self.corrected = sorted({e.agent for e in found if isinstance(e, AgentStateEvent)})
            return found
        out: list[Event] = []
        previous = self.members
        self.members = {}
        for agent in sorted(self._snapshot_members):
            member = self._snapshot_members[agent]
            old = previous.get(agent)
            if old is not None:
                member.emitted = old.emitted
                if old.wrap_until is not None and member.status in (NOT_INUSE, DEVICE_UNKNOWN) and not member.in_call:
                    member.wrap_until = old.wrap_until
                _keep_queue_call(old, member)
            self.members[agent] = member
            self._emit_if_drifted(member, ts, out)
        for agent in sorted(set(previous) - set(self._snapshot_members)):
            gone = previous[agent]
            if gone.emitted is not None and gone.emitted[0] is AgentState.LOGGED_OUT:
                continue
            gone.queues.clear()
            gone.wrap_until = None
            self._emit(gone, ts, out, force=True)
        self._drifted_waiting(ts, out)
        self._snapshot_members = {}
        self._snapshot_queues = {}
        self.corrected = sorted({e.agent for e in out if isinstance(e, AgentStateEvent)})
        return out

    def _end_queue_check(self, queue: str, ts: datetime) -> list[Event]:
        """A check of one queue: its members as listed (their pause in that queue, their device), the
        floor's members of it the list lacks leave it; the rest of the table is left as it is. Only
        what differs from what was emitted gets an event, as in a check of every queue."""
        out: list[Event] = []
        listed = self._snapshot_members
        for agent in sorted(listed):
            member = listed[agent]
            old = self.members.get(agent)
            if old is not None:
                in_queue = member.queues.get(queue)  # absent: removed live while the list came
                member = replace(member, queues=dict(old.queues), interface=member.interface or old.interface,
                                 emitted=old.emitted)
                if in_queue is None:
                    member.queues.pop(queue, None)
                else:
                    member.queues[queue] = in_queue
                if old.wrap_until is not None and member.status in (NOT_INUSE, DEVICE_UNKNOWN) and not member.in_call:
                    member.wrap_until = old.wrap_until
                _keep_queue_call(old, member)
            self.members[agent] = member
            self._emit_if_drifted(member, ts, out)
        members = self.members
        left = sorted(agent for agent, old in members.items() if queue in old.queues and agent not in listed)
        for agent in left:  # (one look at each member, no sort of the whole table: a check runs 50 times a second)
            old = members[agent]
            member = replace(old, queues={q: v for q, v in old.queues.items() if q != queue})
            if not member.queues:
                member.wrap_until = None
                member.in_call = False
            self.members[agent] = member
            self._emit_if_drifted(member, ts, out)
        self._drifted_waiting(ts, out)
        return out

    def _emit_if_drifted(self, member: MemberState, ts: datetime, out: list[Event]) -> None:
        state, reason = self.derive(member, ts)
        seen = member.emitted
        if seen is None or (seen[0], seen[1], frozenset(seen[2])) != (state, reason, frozenset(member.queues)):
            self._emit(member, ts, out, force=True)

    def _drifted_waiting(self, ts: datetime, out: list[Event]) -> None:
        for queue in sorted(self._snapshot_queues):
            entry = self._snapshot_queues[queue]
            if self._waiting_seen.get(queue) != entry.waiting:
                self._waiting_seen[queue] = entry.waiting
                out.append(QueueStatusEvent(ts=ts, queue=queue, waiting=entry.waiting,
                                            longest_wait_s=entry.longest_wait_s, source=self.source))

    def finish_snapshot(self, ts: datetime) -> list[Event]:
        """Close a QueueStatus snapshot: one agent_state per agent, one queue_status per queue.

        The snapshot replaces what was known: an agent known before but absent
        from it is emitted as logged_out.
        """
        out: list[Event] = []
        if not self._snapshot_members and not self._snapshot_queues:
            return out
        previous = self.members
        self.members = {}
        for agent in sorted(self._snapshot_members):
            member = self._snapshot_members[agent]
            old = previous.get(agent)
            if old is not None and old.wrap_until is not None and member.status in (NOT_INUSE, DEVICE_UNKNOWN) and not member.in_call:
                member.wrap_until = old.wrap_until  # a computed wrap-up the PBX cannot report
            if old is not None:
                _keep_queue_call(old, member)
            self.members[agent] = member
            self._emit(member, ts, out, force=True)
        for agent in sorted(set(previous) - set(self._snapshot_members)):
            gone = previous[agent]
            if gone.emitted is not None and gone.emitted[0] is AgentState.LOGGED_OUT:
                continue  # already reported signed out
            gone.queues.clear()
            gone.wrap_until = None
            self._emit(gone, ts, out, force=True)  # signed out while we were not looking; then forgotten
        for queue in sorted(self._snapshot_queues):
            entry = self._snapshot_queues[queue]
            self._waiting_seen[queue] = entry.waiting
            out.append(QueueStatusEvent(ts=ts, queue=queue, waiting=entry.waiting, longest_wait_s=entry.longest_wait_s, source=self.source))
        self._snapshot_members = {}
        self._snapshot_queues = {}
        return out


_HANDLERS = {
    **{name: AmiMapper._on_member for name in MEMBER_EVENTS},
    "QueueMemberRemoved": AmiMapper._on_member_removed,
    "QueueCallerJoin": AmiMapper._on_caller_join,
    "Join": AmiMapper._on_caller_join,  # Asterisk 11
    "QueueCallerLeave": AmiMapper._on_caller_leave,
    "Leave": AmiMapper._on_caller_leave,  # Asterisk 11
    "QueueCallerAbandon": AmiMapper._on_caller_abandon,
    "AgentCalled": AmiMapper._on_agent_called,
    "AgentRingNoAnswer": AmiMapper._on_ring_no_answer,
    "AgentConnect": AmiMapper._on_agent_connect,
    "AgentComplete": AmiMapper._on_agent_complete,
    "QueueParams": AmiMapper._on_queue_params,
    "QueueEntry": AmiMapper._on_queue_entry,
    "QueueMember": AmiMapper._on_queue_member,
    "QueueStatusComplete": AmiMapper._on_status_complete,
}
