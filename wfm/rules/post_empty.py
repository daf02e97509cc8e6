"""POST_EMPTY (F7, F9 handover): a shift is in progress and no agent of the post is signed in.

The floor is one post unless config teams list queues (then each such team is
a post). Checked when a post's last agent signs out and when a shift starts;
reported as a floor-level violation (agent null) at the first event after the
post fell empty (strict: an agent signing out and another in at the same
instant leaves no gap), once per empty spell and shift period. F9 is enforced
this way: a day shift leaving before the evening shift is online empties the post.
"""
from __future__ import annotations

from datetime import datetime

from wfm.decisions import Violation
from wfm.events import AgentState
from wfm.floor.model import AgentRecord, ShiftRecord
from wfm.floor.state import FloorState
from wfm.floor.timers import Deadline
from wfm.rules.base import Rule


class PostEmpty(Rule):
    code = "POST_EMPTY"

    def __init__(self) -> None:
        self._fired: dict[str, tuple[int, float]] = {}  # post -> (post_gen, end of the shifts then in progress)
        self._empty_since: dict[str, float] = {}
        # (post, instant) already scheduled and not yet due: a second look at the same instant finds
        # the same shifts, so 5,000 shifts starting 08:30 make one check of the post, not 5,000
        self._scheduled: set[tuple[str, float]] = set()

    def _look_at(self, floor: FloorState, post: str, at: float) -> None:
        if (post, at) not in self._scheduled:
            self._scheduled.add((post, at))
            self.schedule(floor, at, strict=True, key=post)

    def on_shift(self, floor: FloorState, rec: AgentRecord, shift: ShiftRecord, t: float) -> None:
        self._look_at(floor, rec.post, shift.start)

    def on_state(self, floor: FloorState, rec: AgentRecord, old: AgentState, t: float) -> None:
        if rec.state is AgentState.LOGGED_OUT and old is not AgentState.LOGGED_OUT \
                and floor.post_signed_in[rec.post] == 0:
            self._empty_since[rec.post] = t
            self._look_at(floor, rec.post, t)

    def on_due(self, floor: FloorState, deadline: Deadline, ts: datetime) -> Violation | None:
        post = deadline.key
        self._scheduled.discard((post, deadline.due))
        if floor.post_signed_in[post] > 0:
            return None
        at = deadline.due
        in_progress = [
            (shift, agent) for agent in floor.post_agents.get(post, ())
            for shift in floor.agents[agent].shifts if shift.start <= at < shift.end
        ]
        if not in_progress:
            return None
        gen = floor.post_gen[post]
        cover_end = max(shift.end for shift, _ in in_progress)
        fired = self._fired.get(post)
        if fired is not None and fired[0] == gen and min(s.start for s, _ in in_progress) <= fired[1]:
            # same empty spell, shifts in progress without a gap since it was reported: one occurrence
            self._fired[post] = (gen, max(fired[1], cover_end))
            return None
        self._fired[post] = (gen, cover_end)
        since = max(self._empty_since.get(post, at), min(shift.start for shift, _ in in_progress))
        rostered = sorted({agent for _, agent in in_progress})
        names = ", ".join(rostered[:5]) + (" …" if len(rostered) > 5 else "")
        where = "the floor" if post == "floor" else f"post {post}"
        return Violation(
            ts=ts, agent=None, rule=self.code,
            detail=(f"{where} is empty: no agent signed in since {floor.clock(since)} while "
                    f"{len(rostered)} rostered agent(s) are on shift ({names})"),
        )
