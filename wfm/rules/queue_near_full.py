"""QUEUE_NEAR_FULL (F3): no short break (小休) at will when the queue is full or near full.

The decision is the gate policy's (wfm/gate.py: fixed, scaled, service_level),
judged with the floor as it is at the request (the requester counts among the
idle agents when ready; agents holding the place of an allowed break not yet
started count as away, docs/break-holds.md). Queueable. A floor-level alert is raised once each
time calls are waiting and idle agents (话务空闲数) fall to the threshold or below
(floor.near_full_alert = false switches the alert off; the handbooks do not ask for it).
"""
from __future__ import annotations

from datetime import datetime

from wfm.decisions import Alert
from wfm.events import ON_POST_STATES, BreakKind
from wfm.floor.model import AgentRecord, BreakRequest
from wfm.floor.state import FloorState
from wfm.gate import Gate, GateInput, make_gate
from wfm.rules.base import Note, Refusal, Rule


class QueueNearFull(Rule):
    code = "QUEUE_NEAR_FULL"
    kinds = frozenset({BreakKind.SHORT})
    floor_wide = True

    def __init__(self) -> None:
        self.gate: Gate | None = None
        self._blocked = False
        self._clear_since: float | None = None  # when the floor last stopped being near full
        self._alerted = False

    def gate_for(self, floor: FloorState) -> Gate:
        if self.gate is None:
            self.gate = make_gate(floor.config)
        return self.gate

    def gate_input(self, floor: FloorState, rec: AgentRecord, t: float) -> GateInput:
        """The floor as this request sees it: the requester among the idle when ready, other
        agents' held places (allowed, not yet on break, short or meal) as away."""
        holds = floor.holds
        arrivals = aht = 0.0
        gate = self.gate_for(floor)
        if gate.name == "service_level":
            arrivals, aht = floor_traffic(floor, t, gate.horizon_s)
        return GateInput(floor.idle, floor.on_post, rec.state in ON_POST_STATES, arrivals, aht,
                         held=holds.ready_others(rec), held_on_post=holds.on_post_others(rec))

    def threshold(self, floor: FloorState) -> int:
        """The threshold in force for the floor as it stands (held places not on post)."""
        return self.gate_for(floor).threshold(floor.on_post - floor.holds.on_post)

    def judge(self, floor: FloorState, rec: AgentRecord, req: BreakRequest) -> Refusal | Note | None:
        verdict = self.gate_for(floor).judge(self.gate_input(floor, rec, req.t))
        if verdict.allowed:
            return Note(verdict.detail, verdict.detail_zh)
        return Refusal(self.code, f"short break (小休) refused: {verdict.detail}", verdict.detail_zh,
                       queueable=True)

    def after_event(self, floor: FloorState, ts: datetime) -> Alert | None:
        threshold = self.threshold(floor)
        blocked = floor.total_waiting > 0 and floor.idle_for_rules <= threshold
        if blocked == self._blocked:
            return None
        self._blocked = blocked
        if not blocked:
            self._clear_since = floor.now
            return None
        # a floor hovering at the threshold would alert every minute: a new alert only after
        # the floor has been clear for floor.near_full_alert_rearm_min
        rearm_s = floor.config.floor.near_full_alert_rearm_min * 60.0
        if not floor.config.floor.near_full_alert:
            return None  # the site switched the floor-level alert off (the gate still refuses)
        if self._alerted and self._clear_since is not None and floor.now_s - self._clear_since < rearm_s:
            return None
        self._alerted = True
        return Alert(
            ts=ts, rule=self.code,
            detail=(f"queue near full: {floor.total_waiting} call(s) waiting and {floor.idle} idle "
                    f"agents (话务空闲数) <= {threshold}; short breaks (小休) at will are blocked"),
        )


def floor_traffic(floor: FloorState, t: float, horizon_s: float) -> tuple[float, float]:
    """Arrival rate (calls/s) over the last horizon_s and the mean handle time of calls completed then."""
    return floor.traffic.rate_and_aht(t, floor.config.service.default_aht_s)
