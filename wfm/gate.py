"""Short-break gate policies (F3): may one more agent leave the phones for a 小休 now?

- "fixed" (default, the handbook rule): refuse when idle agents (话务空闲数) <= floor.near_full_idle_threshold,
  the idle agents holding the place of a break already allowed not counted (docs/break-holds.md).
- "scaled": the same test with the threshold scaled to the agents on post (held places not counted):
  max(near_full_idle_threshold, ceil(gate.scaled_fraction x agents on post)).
- "service_level": refuse when granting would push the predicted service level of the
  next gate.horizon_min below service.service_level_target. The prediction is Erlang C
  (M/M/N) with the arrival rate of the last gate.horizon_min, the mean handle time of the
  calls completed then (service.default_aht_s when none) and the agents on post minus the
  requester and minus those holding the place of a break already allowed. Erlang C is
  computed here in pure Python: optimizer/erlang.py is numpy-based and the replay path
  must stay light (tests/test_engine_gate.py checks both agree to 1e-9).

Each policy is pure: floor numbers in, verdict out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from wfm.config import Config


@dataclass(frozen=True, slots=True)
class GateInput:
    """The floor as a request sees it. `held` / `held_on_post`: agents other than the requester
    holding the place of an allowed break not yet started (wfm/floor/holds.py), already away."""

    idle: int  # agents in ready, the requester included when ready
    on_post: int  # agents on post (ready, ringing, on call, wrap-up)
    requester_on_post: bool
    arrivals_per_s: float = 0.0
    aht_s: float = 180.0
    held: int = 0  # of `idle`, those holding a place
    held_on_post: int = 0  # of `on_post`, those holding a place

    @property
    def available(self) -> int:
        """Idle agents the rule counts: ready minus the held places."""
        return self.idle - self.held

    @property
    def staffed(self) -> int:
        """Agents on post the rule counts: on post minus the held places."""
        return self.on_post - self.held_on_post


@dataclass(frozen=True, slots=True)
class GateVerdict:
    allowed: bool
    threshold: int | None  # the idle threshold in force (fixed/scaled)
    predicted_sl: float | None  # service_level policy: SL with the requester gone
    detail: str
    detail_zh: str


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller waits (Erlang C) with `agents` servers and `traffic` Erlangs."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    inv_b = 1.0  # 1 / Erlang B, by the stable recurrence
    for k in range(1, agents + 1):
        inv_b = 1.0 + inv_b * k / traffic
    b = 1.0 / inv_b
    return b / (1.0 - (traffic / agents) * (1.0 - b))


def service_level(agents: int, arrivals_per_s: float, aht_s: float, answer_s: float) -> float:
    """Erlang C share of calls answered within answer_s (1.0 with no traffic, 0.0 when overloaded)."""
    traffic = arrivals_per_s * aht_s
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    p_wait = erlang_c(agents, traffic)
    return max(0.0, 1.0 - p_wait * math.exp(-(agents - traffic) * answer_s / aht_s))


class Gate:
    name = "fixed"

    def __init__(self, config: Config) -> None:
        self.base = config.floor.near_full_idle_threshold
        self.fraction = config.floor.gate.scaled_fraction
        self.target = config.service.service_level_target
        self.answer_s = config.service.service_level_answer_s
        self.horizon_s = config.floor.gate.horizon_min * 60.0

    def threshold(self, on_post: int) -> int:
        return self.base

    def judge(self, inp: GateInput) -> GateVerdict:
        threshold = self.threshold(inp.staffed)
        idle = inp.available
        if inp.held:  # the count the rule used, spelled out: "5 idle, 2 already allowed → 3 <= 3"
            count = f"{inp.idle} idle agents (话务空闲数), {inp.held} already allowed → {idle}"
            count_zh = f"话务空闲数为{inp.idle}，其中{inp.held}人已获准休息尚未离开，实为{idle}"
        else:
            count, count_zh = f"{idle} idle agents (话务空闲数)", f"话务空闲数为{idle}"
        if idle <= threshold:
            return GateVerdict(
                False, threshold, None,
                f"{count} <= threshold {threshold}: queue near full",
                f"{count_zh}，不大于{threshold}，排队接近满载，暂不能小休",
            )
        return GateVerdict(
            True, threshold, None,
            f"{count} > threshold {threshold}",
            f"{count_zh}，大于{threshold}",
        )


class ScaledGate(Gate):
    name = "scaled"

    def threshold(self, on_post: int) -> int:
        return max(self.base, math.ceil(self.fraction * on_post - 1e-9))


class ServiceLevelGate(Gate):
    name = "service_level"

    def judge(self, inp: GateInput) -> GateVerdict:
        agents = inp.staffed - (1 if inp.requester_on_post else 0)
        predicted = service_level(agents, inp.arrivals_per_s, inp.aht_s, self.answer_s)
        calls_h = inp.arrivals_per_s * 3600.0
        held = f", {inp.held_on_post} more already allowed a break" if inp.held_on_post else ""
        numbers = (f"predicted service level {predicted:.1%} with {agents} agents on post{held} "
                   f"({calls_h:.0f} calls/h, AHT {inp.aht_s:.0f} s), target {self.target:.0%}")
        if predicted < self.target:
            return GateVerdict(False, None, predicted, f"{numbers}: queue near full",
                               f"预计服务水平{predicted:.0%}低于目标{self.target:.0%}，暂不能小休")
        return GateVerdict(True, None, predicted, numbers,
                           f"预计服务水平{predicted:.0%}，不低于目标{self.target:.0%}")


POLICIES: dict[str, type[Gate]] = {"fixed": Gate, "scaled": ScaledGate, "service_level": ServiceLevelGate}


def make_gate(config: Config) -> Gate:
    """The gate policy named by floor.gate.policy."""
    return POLICIES[config.floor.gate.policy](config)
