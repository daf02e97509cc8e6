"""Gate policies (wfm/gate.py) and their effect through the engine: fixed, scaled, service_level."""
from __future__ import annotations

import math

import pytest
from support.rules_kit import Floor, only_decision

from wfm.gate import Gate, GateInput, ScaledGate, ServiceLevelGate, erlang_c, make_gate, service_level


def reference_erlang_c(n: int, a: float) -> float:
    """Textbook closed form, independent of the recurrence under test."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("n", "a"), [(1, 0.5), (10, 8.0), (25, 20.0), (60, 51.3), (3, 2.99)])
def test_erlang_c_matches_the_closed_form(n, a):
    assert erlang_c(n, a) == pytest.approx(reference_erlang_c(n, a), rel=1e-9)


def test_erlang_c_edges():
    assert erlang_c(5, 0.0) == 0.0 and erlang_c(5, 5.0) == 1.0 and erlang_c(5, 7.0) == 1.0
    assert service_level(5, 0.0, 180, 20) == 1.0 and service_level(3, 1.0, 180, 20) == 0.0


def test_service_level_textbook_value():
    # 10 agents, 8 Erlangs, AHT 180 s, 20 s target: 1 - C * exp(-(N-A) * T / AHT)
    expected = 1 - reference_erlang_c(10, 8.0) * math.exp(-2 * 20 / 180)
    assert service_level(10, 8.0 / 180, 180, 20) == pytest.approx(expected)


def config(**gate):
    from support.rules_kit import make_config

    return make_config({"gate": gate} if gate else None)


def test_fixed_gate_refuses_at_threshold_and_allows_above():
    gate = make_gate(config())
    assert type(gate) is Gate
    assert not gate.judge(GateInput(idle=3, on_post=40, requester_on_post=True)).allowed
    verdict = gate.judge(GateInput(idle=4, on_post=40, requester_on_post=True))
    assert verdict.allowed and verdict.threshold == 3


def test_scaled_gate_scales_with_agents_on_post():
    gate = make_gate(config(policy="scaled", scaled_fraction=0.1, horizon_min=15))
    assert isinstance(gate, ScaledGate)
    assert gate.threshold(20) == 3 and gate.threshold(40) == 4 and gate.threshold(41) == 5
    assert not gate.judge(GateInput(idle=5, on_post=50, requester_on_post=True)).allowed
    assert gate.judge(GateInput(idle=6, on_post=50, requester_on_post=True)).allowed


def test_service_level_gate_refuses_when_prediction_falls_below_target():
    gate = make_gate(config(policy="service_level", scaled_fraction=0.1, horizon_min=15))
    assert isinstance(gate, ServiceLevelGate)
    busy = GateInput(idle=1, on_post=12, requester_on_post=True, arrivals_per_s=9.5 / 180, aht_s=180)
    quiet = GateInput(idle=1, on_post=12, requester_on_post=True, arrivals_per_s=4.0 / 180, aht_s=180)
    refused, allowed = gate.judge(busy), gate.judge(quiet)
    assert not refused.allowed and refused.predicted_sl < 0.8 and "predicted service level" in refused.detail
    assert allowed.allowed and allowed.predicted_sl >= 0.8  # even with 1 idle: the policy looks at traffic


def test_service_level_policy_through_the_engine():
    f = Floor({"gate": {"policy": "service_level", "scaled_fraction": 0.1, "horizon_min": 15}})
    agents = [f"a{i}" for i in range(6)]
    f.ready("09:00", *agents)
    # 2 calls a minute for 15 min with 180 s handle time = 6 Erlangs on 6 agents: overloaded after a break
    for minute in range(15):
        for k in range(2):
            cid = f"c{minute}-{k}"
            f.call(f"09:{minute:02d}:{k * 20:02d}", "general", cid, "offered")
            f.call(f"09:{minute:02d}:{k * 20 + 5:02d}", "general", cid, "completed", talk_s=180)
    d = only_decision(f.request("09:15", "a0"))
    assert (d.allowed, d.rule) == (False, "QUEUE_NEAR_FULL") and "predicted service level 0.0%" in d.detail
    g = Floor({"gate": {"policy": "service_level", "scaled_fraction": 0.1, "horizon_min": 15}})
    g.ready("09:00", *agents)
    g.call("09:00", "general", "c", "offered")
    assert only_decision(g.request("09:15", "a0")).allowed  # nearly no traffic: allowed with 6 idle


@pytest.mark.parametrize(("n", "calls", "aht"), [(10, 160, 180), (30, 500, 240), (5, 20, 300)])
def test_gate_erlang_agrees_with_the_staffing_engine(n, calls, aht):
    """The gate keeps a pure-Python Erlang C (no numpy on the replay path); it must agree with optimizer.erlang."""
    erlang = pytest.importorskip("optimizer.erlang")
    interval_s = 3600.0
    ours = service_level(n, calls / interval_s, aht, 20)
    theirs = erlang.erlang_c_performance(n, calls, interval_s, aht, 20)
    assert ours == pytest.approx(float(theirs.service_level), abs=1e-9)
    assert erlang_c(n, calls * aht / interval_s) == pytest.approx(float(erlang.erlang_c(n, calls * aht / interval_s)), rel=1e-9)


@pytest.mark.parametrize(("horizon", "allowed"), [(15, True), (30, False)])
def test_service_level_gate_uses_the_configured_horizon(horizon, allowed):
    f = Floor({"gate": {"policy": "service_level", "scaled_fraction": 0.1, "horizon_min": horizon}})
    f.ready("09:00", *[f"a{i}" for i in range(4)])
    for k in range(60):  # a burst 09:00–09:09:50, then quiet: seen only by a 30-min horizon
        minute, second = divmod(k * 10, 60)
        f.call(f"09:{minute:02d}:{second:02d}", "general", f"c{k}", "offered")
    assert only_decision(f.request("09:25", "a0")).allowed is allowed
