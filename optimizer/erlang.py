"""Erlang B, C and A (M/M/N+M, Palm) queue formulas, vectorised and numerically stable.

Every function takes numpy-broadcastable arrays (intervals x queues, ...) and
works in log space: no factorial ever overflows and no `exp(-A)` underflows,
so results stay finite and correct at thousands of agents and Erlangs.

Notation: `agents` = N servers, `load` = A = arrival rate x mean handle time
(Erlangs). For Erlang A, `theta` = 1 / mean patience; x = N mu / theta and
y = lambda / theta.

Key identities used (B = Erlang B blocking):
  1/B - 1 = e^A Q(N, A) N! / A^N                  (Q = regularised upper gamma)
  Erlang C:  P(wait) = 1 / (1 + (1 - A/N) (1/B - 1))      for A < N
  Erlang A:  S = sum_k prod_{i<=k} y / (x + i) = Gamma(x+1) e^y y^-x P(x, y)
             P(wait) = S / (S + 1/B - 1)
             P(V > t) = P(wait) P(x, y e^{-theta t}) / P(x, y)     (virtual wait V)
             P(abandon) = P(wait) (1 - (N/A)(1 - 1/S))
The Erlang A virtual-wait law follows from exp(-theta V) ~ Beta(x, k+1) given
k callers ahead (product of Beta(x+j, 1) variables); see Mandelbaum & Zeltyn,
"The Palm/Erlang-A queue, with applications to call centers" (2007).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "Performance",
    "erlang_b",
    "erlang_c",
    "erlang_c_performance",
    "erlang_a_performance",
    "lines_for_blocking",
    "log_inverse_b_minus_one",
]

_TINY = 1e-280  # below this a regularised gamma is recomputed by its series in log space
_SERIES_MAX_TERMS = 200_000


@dataclass(frozen=True)
class Performance:
    """Steady-state measures of one queue per array cell (all numpy arrays).

    `service_level` is the share of ALL arriving calls answered within the
    answer time; under Erlang A a caller who abandons is not answered in time.
    `asa_s` is the mean wait of answered calls. `p_abandon` is None for Erlang C.
    """

    p_wait: np.ndarray
    service_level: np.ndarray
    asa_s: np.ndarray
    occupancy: np.ndarray
    p_abandon: np.ndarray | None


def _as_float(*values):
    return [np.asarray(v, dtype=float) for v in values]


def _log_lower_gamma_series(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """log P(a, s) by its power series, for s < a (where gammainc may underflow).

    P(a, s) = s^a e^-s / Gamma(a+1) * sum_k s^k / ((a+1)...(a+k)); the term
    ratio s/(a+k) < 1 makes the sum converge geometrically.
    """
    total = np.ones_like(a)
    term = np.ones_like(a)
    active = np.ones(a.shape, dtype=bool)
    k = 0
    while active.any() and k < _SERIES_MAX_TERMS:
        k += 1
        term = np.where(active, term * s / (a + k), term)
        total = np.where(active, total + term, total)
        active &= term > 1e-17 * total
    with np.errstate(divide="ignore"):
        return a * np.log(s) - s - special.gammaln(a + 1) + np.log(total)


def _log_reg_lower_gamma(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """log of the regularised lower incomplete gamma P(a, s), finite wherever P > 0."""
    a, s = np.broadcast_arrays(*_as_float(a, s))
    p = special.gammainc(a, s)
    with np.errstate(divide="ignore"):
        out = np.log(p)
    small = (p < _TINY) & (s > 0)
    if small.any():
        out = out.copy()
        out[small] = _log_lower_gamma_series(a[small], s[small])
    return out


def log_inverse_b_minus_one(agents, load) -> np.ndarray:
    """log(1/B(N, A) - 1) for N >= 1, A > 0: the log-odds of not being blocked.

    Uses the regularised upper gamma where it is representable and, where it
    underflows (N far below A), the finite series
    1/B - 1 = sum_{i=1..N} N!/(N-i)! / A^i, whose terms shrink like (N-i)/A.
    """
    n, a = np.broadcast_arrays(*_as_float(agents, load))
    q = special.gammaincc(n, a)
    with np.errstate(divide="ignore"):
        out = a + np.log(q) + special.gammaln(n + 1) - n * np.log(a)
    small = q < _TINY
    if small.any():
        out = out.copy()
        ns, as_ = n[small], a[small]
        total = np.zeros_like(ns)
        term = np.ones_like(ns)
        active = np.ones(ns.shape, dtype=bool)
        i = 0
        while active.any() and i < _SERIES_MAX_TERMS:
            term = np.where(active, term * (ns - i) / as_, term)
            total = np.where(active, total + term, total)
            i += 1
            active &= (term > 1e-17 * total) & (ns - i > 0)
        out[small] = np.log(total)
    return out


def erlang_b(agents, load) -> np.ndarray:
    """Erlang B blocking probability B(N, A) (M/M/N/N), stable for any size."""
    n, a = np.broadcast_arrays(*_as_float(agents, load))
    result = np.ones_like(n)
    result = np.where(a <= 0, 0.0, result)
    ok = (n >= 1) & (a > 0)
    if ok.any():
        result = result.copy()
        result[ok] = special.expit(-log_inverse_b_minus_one(n[ok], a[ok]))
    return result


def erlang_c(agents, load) -> np.ndarray:
    """Erlang C probability of waiting C(N, A); 1 when A >= N (unstable queue)."""
    n, a = np.broadcast_arrays(*_as_float(agents, load))
    result = np.where(a <= 0, 0.0, 1.0)
    ok = (a > 0) & (n > a)
    if ok.any():
        result = result.copy()
        d = log_inverse_b_minus_one(n[ok], a[ok])
        result[ok] = special.expit(-(np.log1p(-a[ok] / n[ok]) + d))
    return result


def lines_for_blocking(load, max_blocking: float) -> np.ndarray:
    """Fewest lines N with Erlang B blocking <= max_blocking, per cell."""
    a = np.asarray(load, dtype=float)
    lo = np.zeros_like(a)  # blocking at 0 lines is 1 > target
    hi = np.maximum(1.0, np.ceil(a + 10 * np.sqrt(a) + 10))
    while True:
        bad = erlang_b(hi, a) > max_blocking
        if not bad.any():
            break
        lo = np.where(bad, hi, lo)
        hi = np.where(bad, hi * 2, hi)
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        ok = erlang_b(mid, a) <= max_blocking
        hi = np.where(ok & (hi - lo > 1), mid, hi)
        lo = np.where(~ok & (hi - lo > 1), mid, lo)
    return np.where(a <= 0, 0, hi).astype(int)


def erlang_c_performance(agents, calls, interval_s, aht_s, answer_s) -> Performance:
    """Erlang C (M/M/N, infinite patience) measures for `calls` arriving in `interval_s`."""
    n, calls, interval_s, aht_s, answer_s = np.broadcast_arrays(*_as_float(agents, calls, interval_s, aht_s, answer_s))
    load = calls * aht_s / interval_s
    p_wait = erlang_c(n, load)
    stable = n > load
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(stable, n - load, 1.0)
        service_level = np.where(stable, 1.0 - p_wait * np.exp(-excess * answer_s / aht_s), 0.0)
        asa = np.where(stable, p_wait * aht_s / excess, np.inf)
        occupancy = np.where(n > 0, np.minimum(load / np.where(n > 0, n, 1.0), 1.0), np.where(load > 0, 1.0, 0.0))
    idle = load <= 0
    service_level = np.where(idle, 1.0, service_level)
    asa = np.where(idle, 0.0, asa)
    return Performance(p_wait=p_wait, service_level=service_level, asa_s=asa, occupancy=occupancy, p_abandon=None)


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)


def _gauss_legendre(func, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integral of func over [lo, hi] per cell (func maps (cells, nodes) -> values)."""
    half = (hi - lo)[:, None] / 2
    mid = (hi + lo)[:, None] / 2
    points = mid + half * _GL_NODES[None, :]
    return (func(points) * _GL_WEIGHTS[None, :] * half).sum(axis=1)


def erlang_a_performance(agents, calls, interval_s, aht_s, answer_s, patience_s) -> Performance:
    """Erlang A (M/M/N+M: exponential patience with mean `patience_s`) measures.

    Service level counts abandoners as not answered in time:
    SL = P(V <= min(T, patience)) = 1 - P(wait) + E[e^{-theta V}; 0 < V <= T].
    """
    n, calls, interval_s, aht_s, answer_s, patience_s = np.broadcast_arrays(
        *_as_float(agents, calls, interval_s, aht_s, answer_s, patience_s)
    )
    shape = n.shape
    n, calls, interval_s, aht_s, answer_s, patience_s = (v.ravel() for v in (n, calls, interval_s, aht_s, answer_s, patience_s))
    load = calls * aht_s / interval_s
    p_wait = np.where(load > 0, 1.0, 0.0)
    p_abandon = np.where(load > 0, 1.0, 0.0)
    service_level = np.where(load > 0, 0.0, 1.0)
    asa = np.zeros_like(load)
    occupancy = np.zeros_like(load)

    ok = (load > 0) & (n >= 1)
    if ok.any():
        N, A, T, aht, pat = n[ok], load[ok], answer_s[ok], aht_s[ok], patience_s[ok]
        theta = 1.0 / pat
        x = N * pat / aht  # N mu / theta
        y = A * pat / aht  # lambda / theta
        log_p_xy = _log_reg_lower_gamma(x, y)
        log_s = special.gammaln(x + 1) + y - x * np.log(y) + log_p_xy
        d = log_inverse_b_minus_one(N, A)
        pw = special.expit(log_s - d)
        inv_s = np.exp(-log_s)
        pab = np.clip(pw * (1.0 - (N / A) * (1.0 - inv_s)), 0.0, 1.0)
        z_t = y * np.exp(-theta * T)
        # P(answered within T | wait) part: (x/y) [P(x+1, y) - P(x+1, y e^{-theta T})] / P(x, y)
        head = np.exp(_log_reg_lower_gamma(x + 1, y) - log_p_xy)
        tail = np.exp(_log_reg_lower_gamma(x + 1, z_t) - log_p_xy)
        sl = 1.0 - pw + pw * (x / y) * np.clip(head - tail, 0.0, None)
        # ASA = E[V e^{-theta V}] / P(answered); E[V e^{-theta V}] = P(wait) (x/y) / theta *
        #   integral_0^inf P(x+1, y e^{-w}) / P(x, y) dw, done by Gauss-Legendre in two pieces
        # (flat part up to the knee ln(y/(x+1)), then the drop of width ~ 1/max(x+1-y, sqrt(x))).
        x1 = x + 1
        knee = np.maximum(0.0, np.log(y / x1))
        split = np.maximum(0.0, knee - 12.0 / np.sqrt(x1))
        end = knee + 40.0 / np.maximum(x1 - y, np.sqrt(x1))  # decay rate ~ x+1-y below the knee

        def integrand(w, x1=x1, y=y, log_p_xy=log_p_xy):
            return np.exp(_log_reg_lower_gamma(x1[:, None], y[:, None] * np.exp(-w)) - log_p_xy[:, None])

        integral = _gauss_legendre(integrand, np.zeros_like(split), split) + _gauss_legendre(integrand, split, end)
        answered = 1.0 - pab
        with np.errstate(divide="ignore", invalid="ignore"):
            asa_ok = np.where(answered > 0, pw * (x / y) * integral / theta / answered, np.inf)
        p_wait[ok], p_abandon[ok], service_level[ok] = pw, pab, np.clip(sl, 0.0, 1.0)
        asa[ok] = asa_ok
        occupancy[ok] = np.minimum(A * answered / N, 1.0)
    zero_agents = (load > 0) & (n < 1)
    asa[zero_agents] = np.inf
    return Performance(
        p_wait=p_wait.reshape(shape),
        service_level=service_level.reshape(shape),
        asa_s=asa.reshape(shape),
        occupancy=occupancy.reshape(shape),
        p_abandon=p_abandon.reshape(shape),
    )
