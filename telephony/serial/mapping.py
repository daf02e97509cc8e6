"""Serial CTI records → §1 events (pure), per docs/pbx-mapping.md.

ACD feed: READY → ready, RING q → ringing, ACDIN q → on_call, ACW → wrap_up,
AUX n → `pbx.aux_codes` (default AUX 1 short_break, AUX 2 meal, others
not_ready; reason `AUX n`), LOGOUT → logged_out, LOGIN → not_ready (signed in,
not yet ready); QUEUE q WAITING n → queue_status.
SMDR inbound record: Connected Time > 0 → call completed (wait_s = Ring Time,
talk_s = Connected Time, agent = Party1Device without `E`, queue = Called
Number, call_id = Call ID), stamped at the segment's end; Connected Time 0 →
abandoned, stamped at Call Start + Ring Time. Outbound records carry no queue
call and map to nothing. Local times get the floor zone from config.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from telephony.serial.protocol import AcdAgentRecord, AcdQueueRecord, SerialRecord, SmdrRecord
from telephony.serial.settings import SerialSettings
from wfm.events import AgentState, AgentStateEvent, CallEvent, CallEventKind, Event, QueueStatusEvent
from wfm.timeutil import localize

_VERB_STATE = {
    "READY": AgentState.READY,
    "RING": AgentState.RINGING,
    "ACDIN": AgentState.ON_CALL,
    "ACW": AgentState.WRAP_UP,
    "LOGOUT": AgentState.LOGGED_OUT,
    "LOGIN": AgentState.NOT_READY,
}


class SerialMapper:
    def __init__(self, settings: SerialSettings, source: str = "serial") -> None:
        self.settings = settings
        self.tz = settings.tz
        self.source = source
        self._queues: dict[str, list[str]] = {}

    def agent_id(self, raw: str) -> str:
        aliases = self.settings.agent_aliases
        return aliases.get(raw, raw)

    def local(self, naive: datetime) -> datetime:
        return localize(naive, self.tz)

    def map(self, record: SerialRecord) -> list[Event]:
        if isinstance(record, AcdQueueRecord):
            return [QueueStatusEvent(ts=self.local(record.at), queue=record.queue, waiting=record.waiting, source=self.source)]
        if isinstance(record, AcdAgentRecord):
            return [self._agent(record)]
        if isinstance(record, SmdrRecord):
            return self._smdr(record)
        raise TypeError(f"unknown serial record {type(record).__name__}")

    def _agent(self, record: AcdAgentRecord) -> AgentStateEvent:
        agent = self.agent_id(record.agent)
        queues = self._queues.setdefault(agent, [])
        reason = None
        if record.verb == "AUX":
            state = AgentState(self.settings.aux_codes.get(record.argument or "", "not_ready"))
            reason = f"AUX {record.argument}"
        else:
            state = _VERB_STATE[record.verb]
            if record.verb in ("RING", "ACDIN") and record.argument and record.argument not in queues:
                queues.append(record.argument)
        return AgentStateEvent(ts=self.local(record.at), agent=agent, state=state, queues=list(queues) or None,
                               reason=reason, source=self.source)

    def _smdr(self, record: SmdrRecord) -> list[Event]:
        if record.direction != "I":
            return []
        start = self.local(record.call_start)
        queue = record.called_number or "smdr"
        if record.connected_s > 0:
            device = record.party1_device
            agent = device[1:] if device[:1] in ("E", "e") and device[1:] else (device or None)
            agent = self.agent_id(agent) if agent else None
            end = start + timedelta(seconds=record.ring_s + record.connected_s + record.hold_s + record.park_s)
            return [CallEvent(ts=end, queue=queue, call_id=record.call_id, event=CallEventKind.COMPLETED, agent=agent,
                              wait_s=float(record.ring_s), talk_s=float(record.connected_s), source=self.source)]
        return [CallEvent(ts=start + timedelta(seconds=record.ring_s), queue=queue, call_id=record.call_id,
                          event=CallEventKind.ABANDONED, wait_s=float(record.ring_s), source=self.source)]
