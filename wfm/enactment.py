"""Enacting the floor's decisions in the PBX: send, retry, confirm, record (docs/interfaces.md §2, §7).

An allowed break is only a decision until the PBX pauses the agent; it starts
when the feed reports the new state, never when it was asked for. For each
`PbxAction` the `Enactor`

    logs "sent" ─► adapter.set_paused ─► refused: logs "failed" (the PBX's own message)
                        │ no link / no answer: logs "retry", waits (capped backoff), sends again
                        ▼ accepted
    waits for the feed's agent_state to agree (pbx.confirm_s) ─► logs "confirmed"
                        └─ no agreement in time ─► logs "not_enacted" (an allowed break's place is released)

Feeds that cannot be commanded (SIP presence, serial CTI) or where the site
switched enactment off get one "manual" record: the agent pauses (or
unpauses) on the phone and the break starts when the phone's state changes.
Every record is a log record of kind "action", never a §2 decision, so
`wfm replay` output is unchanged. Failures and not-enacted pauses become
wall/supervisor alerts and are counted for /api/health.
"""
from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from wfm.events import AgentState

log = logging.getLogger(__name__)

PAUSED_STATES = frozenset({AgentState.SHORT_BREAK, AgentState.MEAL, AgentState.NOT_READY})
ACTION_RECORD = "pbx_action"

# what the agent is told where the PBX cannot be commanded (bilingual, as the floor expects)
PAUSE_ON_PHONE = "pause on your phone now (请现在在话机上置忙)"
UNPAUSE_ON_PHONE = "unpause on your phone now (请现在在话机上示闲)"


class Outcome(str, enum.Enum):
    SENT = "sent"  # handed to the PBX (one record per attempt)
    RETRY = "retry"  # a transient failure (no link, no answer): sent again after a backoff
    FAILED = "failed"  # the PBX refused (its message in `detail`), or retries ran out
    CONFIRMED = "confirmed"  # the feed reports the state the action asked for
    NOT_ENACTED = "not_enacted"  # accepted but never confirmed within pbx.confirm_s
    MANUAL = "manual"  # this feed cannot be commanded (or the site switched it off): the agent acts on the phone


FINAL = frozenset({Outcome.FAILED, Outcome.CONFIRMED, Outcome.NOT_ENACTED, Outcome.MANUAL})


class ActionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One outcome of one PBX action: the body of a log record of kind "action"."""

    type: str = ACTION_RECORD
    outcome: Outcome
    agent: str
    paused: bool
    reason: str | None = None
    kind: str | None = None  # the break kind a pause enacts or an unpause ends
    purpose: str = ""
    cause: str = ""
    feed: str | None = None
    action: str = ""  # the PBX action, e.g. "QueuePause"
    attempt: int = 0
    ok: bool = False  # the action reached its goal (confirmed), or this step went through (sent, manual)
    detail: str = ""  # the PBX's own message, or why not
    action_id: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in (Outcome.FAILED, Outcome.NOT_ENACTED)

    def message(self) -> str:
        """One line for an alert or an API answer."""
        verb = "pause" if self.paused else "unpause"
        if self.outcome is Outcome.FAILED:
            return f"PBX refused to {verb} agent {self.agent}: {self.action or 'action'} failed: {self.detail}"
        if self.outcome is Outcome.NOT_ENACTED:
            return f"PBX did not {verb} agent {self.agent} (not enacted): {self.detail}"
        if self.outcome is Outcome.MANUAL:
            return PAUSE_ON_PHONE if self.paused else UNPAUSE_ON_PHONE
        return f"agent {self.agent} {verb}d in the PBX"


class ConfirmationWatch:
    """Expectations of agent states, matched against the feed's agent_state events (pure, no I/O)."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[tuple[bool, asyncio.Future]]] = {}
        self.last_state: dict[str, AgentState] = {}  # per agent, the last state a PBX feed reported

    def expect(self, agent: str, paused: bool) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(agent, []).append((paused, future))
        return future

    def forget(self, agent: str, future: asyncio.Future) -> None:
        waiting = self._waiting.get(agent)
        if waiting:
            waiting[:] = [(p, f) for p, f in waiting if f is not future]
            if not waiting:
                del self._waiting[agent]

    @staticmethod
    def agrees(paused: bool, state: AgentState) -> bool:
        if paused:
            return state in PAUSED_STATES
        return state not in PAUSED_STATES and state is not AgentState.LOGGED_OUT

    def observe(self, agent: str, state: AgentState) -> None:
        """A PBX feed reported `state` for `agent`: resolve the expectations it meets."""
        self.last_state[agent] = state
        waiting = self._waiting.get(agent)
        if not waiting:
            return
        keep = []
        for paused, future in waiting:
            if future.done():
                continue
            if self.agrees(paused, state):
                future.set_result(state)
            else:
                keep.append((paused, future))
        if keep:
            self._waiting[agent] = keep
        else:
            del self._waiting[agent]


class Enactor:
    """Runs one PBX action to its final outcome; the runtime owns it and its tasks.

    The callbacks keep this module free of the runtime: `record` makes an
    ActionRecord durable and publishes it, `alert` puts a line on the wall and
    supervisor page, `release` frees the place of an allowed break that was
    never enacted, `resync` asks the feed for a fresh snapshot.
    """

    def __init__(
        self,
        *,
        confirm_s: float,
        retries: int,
        retry_initial_s: float,
        retry_max_s: float,
        record: Callable[[ActionRecord], Awaitable[None]],
        alert: Callable[[ActionRecord], None],
        release: Callable[[str, Any], Awaitable[None]],
        resync: Callable[[Any], None],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.confirm_s = confirm_s
        self.retries = retries
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.watch = ConfirmationWatch()
        self.counts: Counter[str] = Counter()
        self._record = record
        self._alert = alert
        self._release = release
        self._resync = resync
        self._sleep = sleep

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1, 2, …): doubling, capped."""
        return min(self.retry_max_s, self.retry_initial_s * (2 ** (attempt - 1)))

    async def enact(self, action: Any, adapter: Any) -> ActionRecord:
        """Send `action` through `adapter` and follow it to a final outcome (every step logged)."""
        paused = bool(action.paused)
        kind = getattr(action, "kind", None)
        purpose = getattr(action, "purpose", None)
        base = dict(
            agent=action.agent, paused=paused, reason=action.reason,
            kind=getattr(kind, "value", kind), purpose=getattr(purpose, "value", purpose) or "",
            cause=str(getattr(action, "cause", "") or ""),
            feed=getattr(adapter, "source", None),
        )
        if adapter is None:  # no feed of ours carries this agent: nothing to command, the agent acts on the phone
            return await self._final(ActionRecord(outcome=Outcome.MANUAL, ok=True, detail="no PBX feed knows this agent", **base),
                                     adapter, action)
        if not getattr(adapter, "can_pause", True) or not getattr(adapter, "enact_breaks", True):
            why = "this feed cannot pause a queue member" if not getattr(adapter, "can_pause", True) \
                else "enactment is switched off for this feed"
            record = ActionRecord(outcome=Outcome.MANUAL, ok=True, detail=why, **base)
            return await self._final(record, adapter, action)
        expected = self.watch.expect(action.agent, paused)
        try:
            return await self._send(action, adapter, base, expected)
        finally:
            self.watch.forget(action.agent, expected)

    async def _send(self, action: Any, adapter: Any, base: dict, expected: asyncio.Future) -> ActionRecord:
        attempt = 0
        while True:
            attempt += 1
            await self._step(ActionRecord(outcome=Outcome.SENT, ok=True, attempt=attempt, **base))
            try:
                result = await adapter.set_paused(action.agent, bool(action.paused), action.reason)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an adapter bug is a failure of this action, not of the floor
                result = None
                error = f"{type(exc).__name__}: {exc}"
            if result is not None and result.ok:
                break
            detail = result.detail if result is not None else error
            name = result.action if result is not None else ""
            transient = bool(getattr(result, "transient", False))
            if transient and attempt <= self.retries:
                delay = self.backoff(attempt)
                await self._step(ActionRecord(outcome=Outcome.RETRY, attempt=attempt, action=name,
                                              detail=f"{detail}; retrying in {delay:.1f} s", **base))
                await self._sleep(delay)
                continue
            record = ActionRecord(outcome=Outcome.FAILED, attempt=attempt, action=name, detail=detail,
                                  action_id=getattr(result, "action_id", None), **base)
            return await self._final(record, adapter, action)
        accepted = dict(attempt=attempt, action=result.action, action_id=result.action_id, **base)
        try:
            state = await asyncio.wait_for(asyncio.shield(expected), self.confirm_s)
        except TimeoutError:
            last = self.watch.last_state.get(action.agent)
            if last is not None and ConfirmationWatch.agrees(bool(action.paused), last):
                record = ActionRecord(outcome=Outcome.CONFIRMED, ok=True,
                                      detail=f"already {last.value} in the PBX", **accepted)
            else:
                shown = last.value if last is not None else "no state"
                record = ActionRecord(outcome=Outcome.NOT_ENACTED, detail=(
                    f"the PBX accepted {result.action} but reported no change within {self.confirm_s:g} s "
                    f"(it shows {shown})"), **accepted)
            return await self._final(record, adapter, action)
        record = ActionRecord(outcome=Outcome.CONFIRMED, ok=True, detail=f"PBX reports {state.value}", **accepted)
        return await self._final(record, adapter, action)

    async def _step(self, record: ActionRecord) -> None:
        self.counts[record.outcome.value] += 1
        await self._record(record)

    async def _final(self, record: ActionRecord, adapter: Any, action: Any) -> ActionRecord:
        await self._step(record)
        if record.failed:
            log.warning("%s", record.message())
            self._alert(record)
            if record.paused and record.purpose == "enact":  # refused or never confirmed: its place is free again
                await self._release(record.agent, getattr(action, "decided_at", None))
            if adapter is not None:
                self._resync(adapter)  # the floor may have drifted from the PBX: ask it again
        return record

    def health(self) -> dict[str, int]:
        """Counts per outcome since start (for /api/health)."""
        return {outcome.value: self.counts.get(outcome.value, 0) for outcome in Outcome}
