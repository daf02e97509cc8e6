"""wfm/enactment.py on its own: the steps of one PBX action and their records (the adapter is a
double standing for the PBX at the edge; the records are what the runtime logs)."""
from __future__ import annotations

import asyncio

from wfm.engine import ActionPurpose, PbxAction
from wfm.enactment import Enactor, Outcome
from wfm.events import AgentState, BreakKind
from wfm.ports import ActionResult


class FlakyPbx:
    """Fails `transient` times with no link, then answers `final`; confirms through `watch` when told."""

    source = "pbx:test"
    can_pause = True
    enact_breaks = True

    def __init__(self, transient: int = 0, final: ActionResult | None = None) -> None:
        self.transient = transient
        self.final = final
        self.calls = 0
        self.confirm = None

    async def set_paused(self, agent, paused, reason=None):
        self.calls += 1
        if self.calls <= self.transient:
            return ActionResult(action="QueuePause", agent=agent, ok=False, detail="AMI feed not connected",
                                transient=True)
        if self.confirm is not None:
            asyncio.get_running_loop().call_soon(self.confirm, agent, AgentState.SHORT_BREAK if paused else AgentState.READY)
        return self.final or ActionResult(action="QueuePause", agent=agent, ok=True, detail="Interface paused successfully")


def enactor(**kw):
    records, alerts, released, resyncs, sleeps = [], [], [], [], []

    async def record(r):
        records.append(r)

    async def release(agent, allowed_at):
        released.append((agent, allowed_at))

    async def sleep(seconds):
        sleeps.append(seconds)

    e = Enactor(confirm_s=kw.get("confirm_s", 0.3), retries=kw.get("retries", 3), retry_initial_s=0.5, retry_max_s=1.5,
                record=record, alert=alerts.append, release=release, resync=resyncs.append, sleep=sleep)
    return e, records, alerts, released, resyncs, sleeps


PAUSE = PbxAction("1001", True, "小休", "short break request allowed", BreakKind.SHORT, ActionPurpose.ENACT)


async def test_transient_failures_are_retried_with_capped_doubling_backoff_then_confirmed():
    e, records, alerts, released, resyncs, sleeps = enactor()
    pbx = FlakyPbx(transient=3)
    pbx.confirm = e.watch.observe
    final = await e.enact(PAUSE, pbx)
    assert [r.outcome for r in records] == [Outcome.SENT, Outcome.RETRY, Outcome.SENT, Outcome.RETRY, Outcome.SENT,
                                            Outcome.RETRY, Outcome.SENT, Outcome.CONFIRMED]
    assert sleeps == [0.5, 1.0, 1.5]  # doubling, capped at retry_max_s
    assert final.outcome is Outcome.CONFIRMED and final.attempt == 4 and alerts == [] and released == []


async def test_retries_run_out_into_a_failure_that_is_alerted_released_and_resynced():
    e, records, alerts, released, resyncs, sleeps = enactor(retries=2)
    final = await e.enact(PAUSE, FlakyPbx(transient=10))
    assert final.outcome is Outcome.FAILED and final.detail == "AMI feed not connected"
    assert len(sleeps) == 2 and len(alerts) == 1 and released == [("1001", None)] and len(resyncs) == 1
    assert e.health()["failed"] == 1 and e.health()["retry"] == 2


async def test_a_refusal_by_the_pbx_is_not_retried_and_keeps_its_message():
    e, records, alerts, released, resyncs, sleeps = enactor()
    refusal = ActionResult(action="QueuePause", agent="1001", ok=False, detail="Permission denied")
    final = await e.enact(PbxAction("1001", False, None, "ended", BreakKind.SHORT, ActionPurpose.END),
                          FlakyPbx(final=refusal))
    assert [r.outcome for r in records] == [Outcome.SENT, Outcome.FAILED]
    assert sleeps == [] and final.message() == "PBX refused to unpause agent 1001: QueuePause failed: Permission denied"
    assert released == []  # an unpause holds no place


async def test_accepted_but_never_confirmed_is_not_enacted_unless_the_pbx_already_agrees():
    e, records, alerts, released, resyncs, sleeps = enactor(confirm_s=0.05)
    final = await e.enact(PAUSE, FlakyPbx())
    assert final.outcome is Outcome.NOT_ENACTED and "no change within 0.05 s" in final.detail
    assert released == [("1001", None)]
    e.watch.observe("1002", AgentState.SHORT_BREAK)  # paused on the phone already: nothing will change
    already = await e.enact(PbxAction("1002", True, "小休", "allowed", BreakKind.SHORT, ActionPurpose.ENACT), FlakyPbx())
    assert already.outcome is Outcome.CONFIRMED and "already short_break" in already.detail


async def test_feeds_that_cannot_be_commanded_or_are_switched_off_are_manual():
    e, records, *_ = enactor()
    sip = FlakyPbx()
    sip.can_pause = False
    assert (await e.enact(PAUSE, sip)).outcome is Outcome.MANUAL and sip.calls == 0
    off = FlakyPbx()
    off.enact_breaks = False
    record = await e.enact(PAUSE, off)
    assert record.outcome is Outcome.MANUAL and "switched off" in record.detail and off.calls == 0
