"""Erlang B/C/A against hand-derived reference values, mpmath high precision and monotonicity properties."""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from optimizer import erlang

INTERVAL_S, AHT_S, ANSWER_S = 1800.0, 180.0, 20.0


def mp_erlang_b(n: int, a: float) -> mp.mpf:
    inv = mp.mpf(1)
    for k in range(1, n + 1):
        inv = 1 + inv * k / mp.mpf(a)
    return 1 / inv


def mp_erlang_c(n: int, a: float) -> mp.mpf:
    b = mp_erlang_b(n, a)
    return b / (1 - (mp.mpf(a) / n) * (1 - b))


def test_reference_service_levels_for_11_to_14_agents():
    perf = erlang.erlang_c_performance(np.array([11, 12, 13, 14]), 100, INTERVAL_S, AHT_S, ANSWER_S)
    assert np.round(perf.service_level, 3).tolist() == [0.390, 0.640, 0.796, 0.888]
    assert round(float(perf.occupancy[-1]), 3) == 0.714
    assert round(float(perf.p_wait[-1]), 3) == 0.174
    assert perf.p_abandon is None


def test_erlang_c_asa_matches_closed_form():
    perf = erlang.erlang_c_performance(14, 100, INTERVAL_S, AHT_S, ANSWER_S)
    c = float(mp_erlang_c(14, 10.0))
    assert float(perf.asa_s) == pytest.approx(c * AHT_S / 4.0, rel=1e-10)


def test_erlang_a_reference_values():
    perf = erlang.erlang_a_performance(14, 100, INTERVAL_S, AHT_S, ANSWER_S, 300.0)
    assert round(float(perf.p_wait), 4) == 0.1453
    assert round(float(perf.p_abandon), 4) == 0.0140
    assert round(float(perf.service_level), 4) == 0.9168
    assert float(perf.occupancy) == pytest.approx(10 * (1 - float(perf.p_abandon)) / 14)


def _chain_erlang_a(n: int, a: float, aht: float, patience: float, answer: float):
    """Independent check: the birth-death chain for P(wait), P(abandon), then a tagged caller's
    absorbing chain (served / abandoned) for SL (matrix exponential) and ASA (fundamental matrix)."""
    from scipy.linalg import expm

    lam, mu, theta = a / aht, 1 / aht, 1 / patience
    log_w = [0.0]
    for k in range(1, n + 1):
        log_w.append(log_w[-1] + math.log(lam / (k * mu)))
    q = [log_w[-1]]
    while len(q) < 400:
        q.append(q[-1] + math.log(lam / (n * mu + len(q) * theta)))
    top = max(log_w + q)
    weights = np.exp(np.array(log_w[:-1] + q) - top)
    total = weights.sum()
    states = np.exp(np.array(q) - top) / total  # arrival sees N + k busy, k >= 0 (PASTA)
    p_wait = states.sum()
    p_ab = theta * sum(k * s for k, s in enumerate(states)) / lam
    size = len(states)  # transient states: k callers ahead; then served, abandoned
    gen = np.zeros((size + 2, size + 2))
    for k in range(size):
        advance = n * mu + k * theta
        gen[k, k - 1 if k else size] += advance
        gen[k, size + 1] += theta
        gen[k, k] = -(advance + theta)
    start = np.append(states, [0.0, 0.0])
    reach = start @ expm(gen * answer)
    sl = (1 - p_wait) + reach[size]
    transient = gen[:size, :size]
    served_from = np.linalg.solve(-transient, gen[:size, size])
    time_weighted = states @ np.linalg.solve(-transient, served_from)
    return p_wait, p_ab, sl, time_weighted / (1 - p_ab)


def test_erlang_a_agrees_with_birth_death_chain_including_asa():
    n, calls, aht, patience = 6, 50, 180.0, 120.0
    load = calls * aht / INTERVAL_S
    perf = erlang.erlang_a_performance(n, calls, INTERVAL_S, aht, ANSWER_S, patience)
    p_wait, p_ab, sl, asa = _chain_erlang_a(n, load, aht, patience, ANSWER_S)
    assert float(perf.p_wait) == pytest.approx(float(p_wait), rel=1e-9)
    assert float(perf.p_abandon) == pytest.approx(float(p_ab), rel=1e-6)
    assert float(perf.service_level) == pytest.approx(float(sl), rel=1e-6)
    assert float(perf.asa_s) == pytest.approx(float(asa), rel=1e-4)


def test_erlang_a_approaches_erlang_c_for_very_patient_callers():
    c = erlang.erlang_c_performance(14, 100, INTERVAL_S, AHT_S, ANSWER_S)
    a = erlang.erlang_a_performance(14, 100, INTERVAL_S, AHT_S, ANSWER_S, 1e7)
    assert float(a.p_wait) == pytest.approx(float(c.p_wait), rel=1e-4)
    assert float(a.service_level) == pytest.approx(float(c.service_level), rel=1e-4)
    assert float(a.asa_s) == pytest.approx(float(c.asa_s), rel=1e-3)


def test_erlang_b_ten_erlangs_two_percent_needs_17_lines():
    assert int(erlang.lines_for_blocking(10.0, 0.02)) == 17
    assert float(erlang.erlang_b(17, 10.0)) <= 0.02 < float(erlang.erlang_b(16, 10.0))


@pytest.mark.parametrize("n,a", [(5200, 5000.0), (5100, 5000.0), (5000, 5000.0), (4000, 5000.0), (2100, 2000.0), (2, 10.0), (100, 3.0)])
def test_erlang_b_and_c_match_mpmath_at_scale(n, a):
    mp.mp.dps = 60
    b = erlang.erlang_b(n, a)
    assert np.isfinite(b)
    assert float(b) == pytest.approx(float(mp_erlang_b(n, a)), rel=1e-9)
    c = erlang.erlang_c(n, a)
    expected = 1.0 if n <= a else float(mp_erlang_c(n, a))
    assert float(c) == pytest.approx(expected, rel=1e-9)


def test_no_overflow_or_nan_at_5000_erlangs_and_2000_plus_agents():
    agents = np.arange(4900, 5400, 7)
    for perf in (
        erlang.erlang_c_performance(agents, 50_000, INTERVAL_S, AHT_S, ANSWER_S),
        erlang.erlang_a_performance(agents, 50_000, INTERVAL_S, AHT_S, ANSWER_S, 300.0),
    ):
        for values in (perf.p_wait, perf.service_level, perf.occupancy):
            assert np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1))
    tiny = erlang.erlang_b(3000, 10.0)  # 1e-6000: underflows to 0, never NaN
    assert tiny == 0.0


def test_zero_load_is_served_perfectly():
    perf = erlang.erlang_c_performance(0, 0, INTERVAL_S, AHT_S, ANSWER_S)
    assert float(perf.service_level) == 1.0 and float(perf.p_wait) == 0.0


def test_overloaded_erlang_c_has_no_service():
    perf = erlang.erlang_c_performance(9, 100, INTERVAL_S, AHT_S, ANSWER_S)  # A = 10 >= N
    assert float(perf.p_wait) == 1.0 and float(perf.service_level) == 0.0 and math.isinf(float(perf.asa_s))


@settings(max_examples=60, deadline=None)
@given(load=st.floats(0.1, 3000), extra=st.integers(1, 200), patience=st.sampled_from([None, 60.0, 300.0]))
def test_service_level_never_falls_when_agents_rise(load, extra, patience):
    n = np.arange(max(1, math.floor(load)) , max(1, math.floor(load)) + extra + 1)
    calls = load * INTERVAL_S / AHT_S
    if patience is None:
        sl = erlang.erlang_c_performance(n, calls, INTERVAL_S, AHT_S, ANSWER_S).service_level
    else:
        sl = erlang.erlang_a_performance(n, calls, INTERVAL_S, AHT_S, ANSWER_S, patience).service_level
    assert np.all(np.diff(sl) >= -1e-9)


@settings(max_examples=60, deadline=None)
@given(agents=st.integers(1, 3000), loads=st.lists(st.floats(0.01, 3500), min_size=2, max_size=20), patience=st.sampled_from([None, 120.0]))
def test_service_level_never_rises_when_load_rises(agents, loads, patience):
    calls = np.sort(np.array(loads)) * INTERVAL_S / AHT_S
    if patience is None:
        sl = erlang.erlang_c_performance(agents, calls, INTERVAL_S, AHT_S, ANSWER_S).service_level
    else:
        sl = erlang.erlang_a_performance(agents, calls, INTERVAL_S, AHT_S, ANSWER_S, patience).service_level
    assert np.all(np.diff(sl) <= 1e-9)
