"""FreeSWITCH mod_callcenter events and `callcenter_config` listings → §1 events (pure).

Per docs/pbx-mapping.md:
  * agent status `Available` / `Available (On Demand)` with state `Waiting` →
    ready; state `Receiving` → ringing; `In a queue call` → on_call; status
    `On Break` → `pbx.esl_on_break` (no reason is given); `Logged Out` →
    logged_out. After a queue call a wrap-up is synthesized: it lasts at most
    the agent's `wrap_up_time` (from `agent list`, else `pbx.wrap_up_s`) and
    ends early when the agent's state moves on.
  * `members-count` → queue_status (`CC-Count` = callers waiting now);
    `member-queue-start` → call offered; `bridge-agent-start` → answered;
    `member-queue-end` with `CC-Cause: Terminated` → completed, `Cancel` →
    abandoned. Call id = `CC-Member-UUID`.
  * `ts` = `Event-Date-Timestamp` (µs since the epoch) in the floor zone.
Agent ids: `pbx.agent_aliases` first, else the CC-Agent name without its
`@domain` (`1001@default` → `1001`); the raw name is kept for commands.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from telephony.esl.protocol import EslEvent
from telephony.esl.settings import EslSettings
from wfm.events import AgentState, AgentStateEvent, CallEvent, CallEventKind, Event, QueueStatusEvent

CALLCENTER_SUBCLASS = "callcenter::info"
AVAILABLE = frozenset({"Available", "Available (On Demand)"})
AGENT_LIST_HEADER = "name|instance_id|uuid|type|contact|status|state"
MEMBER_LIST_HEADER = "queue|instance_id|uuid|session_uuid"
TIER_LIST_HEADER = "queue|agent|state|level|position"
QUEUE_LIST_HEADER = "name|strategy|moh_sound"
WAITING_MEMBER_STATES = frozenset({"Waiting", "Trying"})


class EslMappingError(ValueError):
    """An event or listing that cannot be mapped (missing or bad field); the reason names it."""


@dataclass
class _Agent:
    agent: str
    raw: str
    status: str = "Logged Out"
    state: str = "Waiting"
    queues: list[str] = field(default_factory=list)
    wrap_up_s: float | None = None
    wrap_until: datetime | None = None
    emitted: tuple | None = None


def _epoch(value: str | None, name: str) -> float | None:
    if value in (None, "", "0"):
        return None
    try:
        return float(value)
    except ValueError:
        raise EslMappingError(f"{name} is not epoch seconds: {value!r}") from None


class EslMapper:
    """One mapper per connection (a reconnect starts a new one, then the snapshot rebuilds it)."""

    def __init__(self, settings: EslSettings, source: str = "esl") -> None:
        self.settings = settings
        self.tz = settings.tz
        self.source = source
        self.agents: dict[str, _Agent] = {}
        self.waiting: dict[str, int] = {}

    # ---- identity and time ---------------------------------------------------
    def agent_id(self, raw: str) -> str:
        aliases = self.settings.agent_aliases
        if raw in aliases:
            return aliases[raw]
        bare = raw.split("@", 1)[0]
        return aliases.get(bare, bare)

    def raw_name(self, agent: str) -> str | None:
        """The name mod_callcenter knows `agent` by (for `callcenter_config agent set status`)."""
        known = self.agents.get(agent)
        if known is not None:
            return known.raw
        for raw, canonical in self.settings.agent_aliases.items():
            if canonical == agent:
                return raw
        return None

    def event_time(self, event: EslEvent, received: datetime | None) -> datetime:
        stamp = event.get("Event-Date-Timestamp")
        if stamp:
            if not stamp.isdigit():
                raise EslMappingError(f"Event-Date-Timestamp is not microseconds: {stamp!r}")
            return datetime.fromtimestamp(int(stamp) / 1_000_000, tz=timezone.utc).astimezone(self.tz)
        if received is None:
            raise EslMappingError("event has no Event-Date-Timestamp and no receive time")
        return received.astimezone(self.tz)

    def _member(self, raw: str) -> _Agent:
        agent = self.agent_id(raw)
        if not agent:
            raise EslMappingError(f"empty agent name {raw!r}")
        member = self.agents.get(agent)
        if member is None:
            member = self.agents[agent] = _Agent(agent, raw)
        return member

    # ---- state -------------------------------------------------------------------
    def derive(self, member: _Agent, now: datetime) -> AgentState:
        if member.status == "Logged Out":
            return AgentState.LOGGED_OUT
        if member.status == "On Break":
            return AgentState(self.settings.esl_on_break)
        if member.state == "Receiving" or member.state == "Reserved":
            return AgentState.RINGING
        if member.state == "In a queue call":
            return AgentState.ON_CALL
        if member.wrap_until is not None and now < member.wrap_until:
            return AgentState.WRAP_UP
        if member.state == "Idle":
            return AgentState.NOT_READY
        if member.status in AVAILABLE:
            return AgentState.READY
        return AgentState.NOT_READY

    def _emit(self, member: _Agent, ts: datetime, out: list[Event], force: bool = False) -> None:
        state = self.derive(member, ts)
        key = (state, tuple(member.queues))
        if not force and key == member.emitted:
            return
        member.emitted = key
        out.append(AgentStateEvent(ts=ts, agent=member.agent, state=state, queues=list(member.queues) or None,
                                   source=self.source))

    def next_due(self) -> datetime | None:
        due = [m.wrap_until for m in self.agents.values() if m.wrap_until is not None]
        return min(due) if due else None

    def advance(self, now: datetime) -> list[Event]:
        """The `ready` that ends each synthesized wrap-up due by `now`, stamped at its end."""
        out: list[Event] = []
        for when, member in sorted(((m.wrap_until, m) for m in self.agents.values()
                                    if m.wrap_until is not None and m.wrap_until <= now),
                                   key=lambda due: (due[0], due[1].agent)):
            member.wrap_until = None
            self._emit(member, when, out)
        return out

    def _wrap_seconds(self, member: _Agent) -> float:
        return member.wrap_up_s if member.wrap_up_s is not None else self.settings.wrap_up_s

    # ---- events ------------------------------------------------------------------
    def handles(self, event: EslEvent) -> bool:
        return event.name == "CUSTOM" and event.subclass == CALLCENTER_SUBCLASS

    def map_event(self, event: EslEvent, received: datetime | None = None) -> list[Event]:
        """The §1 events one ESL event stands for (often none). Raises EslMappingError."""
        if not self.handles(event):
            return []
        action = event.get("CC-Action")
        if not action:
            raise EslMappingError("callcenter::info event without CC-Action")
        ts = self.event_time(event, received)
        out = self.advance(ts)
        handler = _HANDLERS.get(action)
        if handler is not None:
            handler(self, event, ts, out)
        return out

    def _require(self, event: EslEvent, key: str) -> str:
        value = event.get(key)
        if not value:
            raise EslMappingError(f"{event.get('CC-Action')} without {key}")
        return value

    def _on_status(self, event: EslEvent, ts: datetime, out: list[Event]) -> None:
        member = self._member(self._require(event, "CC-Agent"))
        member.status = self._require(event, "CC-Agent-Status")
        if member.status in ("Logged Out", "On Break"):
            member.wrap_until = None
        self._emit(member, ts, out)

    def _on_state(self, event: EslEvent, ts: datetime, out: list[Event]) -> None:
        member = self._member(self._require(event, "CC-Agent"))
        new_state = self._require(event, "CC-Agent-State")
        if member.state == "In a queue call" and new_state != "In a queue call":
            wrap = self._wrap_seconds(member)
            member.wrap_until = ts + timedelta(seconds=wrap) if wrap > 0 else None
        elif new_state in ("Receiving", "In a queue call", "Idle"):
            member.wrap_until = None  # the agent moved on: the wrap-up ends early
        member.state = new_state
        self._emit(member, ts, out)

    def _on_count(self, event: EslEvent, ts: datetime, out: list[Event]) -> None:
        queue = self._require(event, "CC-Queue")
        count_text = self._require(event, "CC-Count")
        if not count_text.isdigit():
            raise EslMappingError(f"CC-Count is not a count: {count_text!r}")
        self.waiting[queue] = int(count_text)
        out.append(QueueStatusEvent(ts=ts, queue=queue, waiting=int(count_text), source=self.source))

    def _on_member_start(self, event: EslEvent, ts: datetime, out: list[Event]) -> None:
        out.append(CallEvent(ts=ts, queue=self._require(event, "CC-Queue"), call_id=self._require(event, "CC-Member-UUID"),
                             event=CallEventKind.OFFERED, source=self.source))

    def _on_bridge_start(self, event: EslEvent, ts: datetime, out: list[Event]) -> None:
        queue = self._require(event, "CC-Queue")
        member = self._member(self._require(event, "CC-Agent"))
        if queue not in member.queues:
            member.queues.append(queue)
        joined = _epoch(event.get("CC-Member-Joined-Time"), "CC-Member-Joined-Time")
        answered = _epoch(event.get("CC-Agent-Answered-Time"), "CC-Agent-Answered-Time")
        wait = max(0.0, answered - joined) if joined is not None and answered is not None else None
        out.append(CallEvent(ts=ts, queue=queue, call_id=self._require(event, "CC-Member-UUID"),
                             event=CallEventKind.ANSWERED, agent=member.agent, wait_s=wait, source=self.source))

    def _on_member_end(self, event: EslEvent, ts: datetime, out: list[Event]) -> None:
        queue = self._require(event, "CC-Queue")
        call_id = self._require(event, "CC-Member-UUID")
        cause = self._require(event, "CC-Cause")
        joined = _epoch(event.get("CC-Member-Joined-Time"), "CC-Member-Joined-Time")
        leaving = _epoch(event.get("CC-Member-Leaving-Time"), "CC-Member-Leaving-Time")
        answered = _epoch(event.get("CC-Agent-Answered-Time"), "CC-Agent-Answered-Time")
        if cause == "Terminated":
            raw_agent = event.get("CC-Agent")
            agent = self.agent_id(raw_agent) if raw_agent else None
            wait = max(0.0, answered - joined) if answered is not None and joined is not None else None
            talk = max(0.0, leaving - answered) if leaving is not None and answered is not None else None
            out.append(CallEvent(ts=ts, queue=queue, call_id=call_id, event=CallEventKind.COMPLETED, agent=agent,
                                 wait_s=wait, talk_s=talk, source=self.source))
        elif cause == "Cancel":
            wait = max(0.0, leaving - joined) if leaving is not None and joined is not None else None
            out.append(CallEvent(ts=ts, queue=queue, call_id=call_id, event=CallEventKind.ABANDONED, wait_s=wait,
                                 source=self.source))
        else:
            raise EslMappingError(f"member-queue-end with unknown CC-Cause {cause!r}")

    # ---- listings (snapshot) ---------------------------------------------------------
    @staticmethod
    def listing_kind(body: str) -> str | None:
        """Which `callcenter_config` listing a body is: 'agents', 'members', 'tiers', 'queues' or None."""
        first = body.lstrip().split("\n", 1)[0].strip()
        if first.startswith(AGENT_LIST_HEADER):
            return "agents"
        if first.startswith(MEMBER_LIST_HEADER):
            return "members"
        if first.startswith(TIER_LIST_HEADER):
            return "tiers"
        if first.startswith(QUEUE_LIST_HEADER):
            return "queues"
        return None

    @staticmethod
    def _table(body: str) -> list[dict[str, str]]:
        lines = [ln.rstrip("\r") for ln in body.strip().split("\n")]
        if lines and lines[-1].startswith(("+OK", "-ERR")):
            lines = lines[:-1]
        if not lines:
            raise EslMappingError("empty listing")
        columns = lines[0].split("|")
        rows = []
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            cells = line.split("|")
            if len(cells) != len(columns):
                raise EslMappingError(f"listing row {number} has {len(cells)} cells, header has {len(columns)}")
            rows.append(dict(zip(columns, cells)))
        return rows

    def queue_names(self, body: str) -> list[str]:
        """`callcenter_config queue list` → the queue names."""
        return [row["name"] for row in self._table(body) if row.get("name")]

    def map_tier_list(self, body: str) -> None:
        """`callcenter_config tier list`: which queues each agent serves (no event of its own)."""
        for row in self._table(body):
            member = self._member(row["agent"])
            if row["queue"] not in member.queues:
                member.queues.append(row["queue"])

    def map_agent_list(self, body: str, ts: datetime) -> list[Event]:
        """`callcenter_config agent list` → one agent_state per agent (a full snapshot: always emitted)."""
        out: list[Event] = []
        for row in self._table(body):
            member = self._member(row["name"])
            member.status = row["status"]
            member.state = row["state"]
            wrap = row.get("wrap_up_time", "")
            member.wrap_up_s = float(wrap) if wrap.replace(".", "", 1).isdigit() else None
            ready_at = _epoch(row.get("ready_time"), "ready_time")
            member.wrap_until = None
            if ready_at is not None and member.state == "Waiting" and member.status in AVAILABLE:
                until = datetime.fromtimestamp(ready_at, tz=timezone.utc).astimezone(self.tz)
                if until > ts:  # still inside wrap_up_time after its last call
                    member.wrap_until = until
            self._emit(member, ts, out, force=True)
        return out

    def map_member_list(self, body: str, ts: datetime, queue: str | None = None) -> list[Event]:
        """`callcenter_config queue list members <queue>` → that queue's waiting count."""
        rows = self._table(body)
        counts: dict[str, int] = {queue: 0} if queue else {}
        for row in rows:
            name = row["queue"]
            counts.setdefault(name, 0)
            if row.get("state") in WAITING_MEMBER_STATES:
                counts[name] += 1
        out: list[Event] = []
        for name, count in counts.items():
            self.waiting[name] = count
            out.append(QueueStatusEvent(ts=ts, queue=name, waiting=count, source=self.source))
        return out


_HANDLERS = {
    "agent-status-change": EslMapper._on_status,
    "agent-state-change": EslMapper._on_state,
    "members-count": EslMapper._on_count,
    "member-queue-start": EslMapper._on_member_start,
    "bridge-agent-start": EslMapper._on_bridge_start,
    "member-queue-end": EslMapper._on_member_end,
}
