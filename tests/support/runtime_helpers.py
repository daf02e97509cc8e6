"""Shared helpers for the runtime/API tests (no tests here).

`QueueAdapter` is a PBX feed double at the one edge we cannot run in-process
(the PBX itself): the test pushes §1 events into it and reads the pause
actions the runtime sent. Everything behind it — runtime, engine, SQLite
event log, HTTP server, WebSocket — is real.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from telephony.adapter import ActionResult, Adapter, ConnectionState, FeedHealth
from wfm.events import AgentState, AgentStateEvent
from wfm.config import Config, from_data, default_data, merge

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=timezone(timedelta(hours=8)))


class QueueAdapter(Adapter):
    can_pause = True  # stands for a PBX that can be commanded (AMI, ESL)

    def __init__(self, source: str = "test-pbx") -> None:
        self.source = source
        self.queue: asyncio.Queue = asyncio.Queue()
        self.actions: list[tuple[str, bool, str | None]] = []
        self.closed = False
        self.fail_actions = False
        self.confirm = True  # answer a pause with the member's new state (False: a PBX that never confirms)
        self.last_event: datetime | None = None

    def push(self, event) -> None:
        self.queue.put_nowait(event)

    async def stream(self):
        while not self.closed:
            event = await self.queue.get()
            if event is None:
                return
            self.last_event = event.ts
            yield event

    async def snapshot(self) -> None:
        return None

    async def set_paused(self, agent: str, paused: bool, reason: str | None = None) -> ActionResult:
        self.actions.append((agent, paused, reason))
        if self.fail_actions:
            return ActionResult(action="QueuePause", agent=agent, ok=False, detail="PBX said no")
        if self.confirm:  # the PBX reports the member's new state, as Asterisk's QueueMemberPause does
            state = {"小休": AgentState.SHORT_BREAK, "用餐": AgentState.MEAL}.get(reason or "", AgentState.NOT_READY) \
                if paused else AgentState.READY
            self.push(AgentStateEvent(ts=self.last_event or T0, agent=agent, state=state, reason=reason if paused else None,
                                      source=self.source))
        return ActionResult(action="QueuePause", agent=agent, ok=True, detail="paused" if paused else "unpaused")

    def health(self, now: datetime) -> FeedHealth:
        age = (now - self.last_event).total_seconds() if self.last_event else None
        return FeedHealth(source=self.source, state=ConnectionState.CONNECTED, connected=True,
                          stale=False, last_event_age_s=age, reconnects=0, skipped=0)

    async def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(None)


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


def make_config(tmp_path, **api) -> Config:
    data = merge(default_data(), {
        "storage": {"url": f"sqlite:///{tmp_path / 'wfm.sqlite'}", "batch_max_delay_ms": 1},
        "api": {"port": 0, **api},
    })
    return from_data(data, "test")
