"""The simulated floor day as docs/interfaces.md §1 events (JSON lines).

Pure mapping from model happenings to normalized events, plus a writer.
Shift events come first (stamped at the start of the simulated day), then
every agent_state / queue_status / call event in time order, in the floor's
timezone. The same model seed gives byte-identical output.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import BinaryIO

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
)
from wfm.events import (
    AgentState,
    AgentStateEvent,
    CallEvent,
    CallEventKind,
    Event,
    QueueStatusEvent,
    encode_event,
)

def events_of(happening: Happening) -> list[Event]:
    """The §1 events one model happening stands for (possibly none)."""
    if isinstance(happening, MemberChanged):
        # queues only at sign-in: "an agent_state without queues keeps the agent's queues" (§1)
        signing_in = happening.previous is AgentState.LOGGED_OUT
        return [AgentStateEvent(ts=happening.ts, agent=happening.agent, state=happening.state,
                                queues=list(happening.queues) if signing_in else None, reason=happening.reason)]
    if isinstance(happening, CallerJoined):
        return [
            CallEvent(ts=happening.ts, queue=happening.queue, call_id=happening.call_id, event=CallEventKind.OFFERED),
            QueueStatusEvent(ts=happening.ts, queue=happening.queue, waiting=happening.count),
        ]
    if isinstance(happening, CallerLeft):
        return [QueueStatusEvent(ts=happening.ts, queue=happening.queue, waiting=happening.count,
                                 longest_wait_s=happening.longest_wait_s)]
    if isinstance(happening, AgentConnected):
        return [CallEvent(ts=happening.ts, queue=happening.queue, call_id=happening.call_id,
                          event=CallEventKind.ANSWERED, agent=happening.agent, wait_s=happening.hold_s)]
    if isinstance(happening, AgentCompleted):
        return [CallEvent(ts=happening.ts, queue=happening.queue, call_id=happening.call_id,
                          event=CallEventKind.COMPLETED, agent=happening.agent,
                          wait_s=happening.hold_s, talk_s=happening.talk_s)]
    if isinstance(happening, CallerAbandoned):
        return [
            CallEvent(ts=happening.ts, queue=happening.queue, call_id=happening.call_id,
                      event=CallEventKind.ABANDONED, wait_s=happening.hold_s),
            QueueStatusEvent(ts=happening.ts, queue=happening.queue, waiting=happening.count,
                             longest_wait_s=happening.longest_wait_s),
        ]
    if isinstance(happening, (AgentCalled, AgentRingNoAnswer, MemberFlagged)):
        return []  # the ringing itself is carried by the agent's state change
    raise TypeError(f"unknown happening {type(happening).__name__}")


def day_events(
    model: FloorModel,
    *,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    progress: Callable[[float], None] | None = None,
) -> Iterator[Event]:
    """Shift events, then the day's events with window_start <= ts < window_end.

    `progress(fraction)` is called as the simulated clock moves (for a bar).
    """
    yield from model.shifts
    span = (model.end_epoch - model.start_epoch) or 1.0
    for happening in model.run():
        if progress is not None:
            progress((model.now_epoch - model.start_epoch) / span)
        if window_start is not None and happening.ts < window_start:
            continue
        if window_end is not None and happening.ts >= window_end:
            continue
        yield from events_of(happening)


def write_events(events: Iterable[Event], out: BinaryIO) -> int:
    """Write events as JSON lines; returns how many were written."""
    count = 0
    buffer: list[bytes] = []
    for event in events:
        buffer.append(encode_event(event))
        count += 1
        if len(buffer) >= 4096:
            out.write(b"\n".join(buffer) + b"\n")
            buffer.clear()
    if buffer:
        out.write(b"\n".join(buffer) + b"\n")
    return count
