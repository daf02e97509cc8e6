"""LATE_SIGN_IN (F2): not signed in and on post by shift start.

Sign-in is due within floor.sign_in_window_min before the start, in the
ready state. Checked once per shift at the first event (or tick) after the
start: the state then is the state the agent was in at the start instant.
An agent already taking calls (ringing, on call, wrap-up) counts as signed in.

A shift handed to the floor only after its start (serve/demo started mid-shift,
a roster published late) is judged at the moment the floor received it: the
floor cannot know the state at the start, so an agent on post then (the
runtime hands the shifts over after each feed's first snapshot) is not
reported; one not on post then is.
"""
from __future__ import annotations

from datetime import datetime

from wfm.decisions import Violation
from wfm.floor.model import AgentRecord, ShiftRecord
from wfm.floor.state import FloorState
from wfm.floor.timers import Deadline
from wfm.rules.base import Rule


class LateSignIn(Rule):
    code = "LATE_SIGN_IN"

    def on_shift(self, floor: FloorState, rec: AgentRecord, shift: ShiftRecord, t: float) -> None:
        self.schedule(floor, shift.start, strict=True, key=rec.id, token=(shift, max(shift.start, t)))

    def on_due(self, floor: FloorState, deadline: Deadline, ts: datetime) -> Violation | None:
        rec = floor.agents[deadline.key]
        token: tuple[ShiftRecord, float] = deadline.token
        shift, judged_at = token  # judged at the start, or when the floor got a shift already begun
        if not any(s is shift for s in rec.shifts) or self.code in shift.reported:
            return None
        if shift.first_on_post is not None and shift.first_on_post <= judged_at:
            return None
        if rec.on_post_since is not None and rec.on_post_since <= judged_at:
            return None  # on post since before the start (ready, or already taking a call)
        window = floor.config.floor.sign_in_window_min
        shift.reported.add(self.code)
        state = "no sign-in seen" if rec.gen == 0 else f"state {rec.state.value} since {floor.clock(rec.since)}"
        return Violation(
            ts=ts, agent=rec.id, rule=self.code,
            detail=(f"not signed in and ready at shift start {floor.clock(shift.start)} ({state}); "
                    f"sign-in is due within the {window} min before the start"),
        )
