"""Erlang C staffing for many cells at once with numpy alone: the fewest agents meeting the targets.

For each cell the Erlang B recursion B(n) = A B(n-1) / (n + A B(n-1)) walks
n = 1, 2, ... for every cell together (a cell leaves the walk once it is
answered); from B(n), P(wait) C = B / (1 - (A/n)(1 - B)), service level
1 - C exp(-(n - A) T / AHT), ASA C AHT / (n - A), occupancy A / n. The first n
meeting every target is the answer: service level rises and ASA and
occupancy fall as agents are added, so it is the same count as the bisection
in `optimizer.staffing.solve_agents` (the same tolerances, 1e-12). No scipy:
`wfm staffing --from` starts in numpy's import time.

A cell's walk starts at n0 = A - 10 sqrt(A) (0 for A <= 100) with B(n0) taken
as 1, an upper bound: each step multiplies the error by about n / A < 1, so it
has shrunk by exp(-50) when n reaches A, where the answer starts; a walk
of about 10 sqrt(A) + (A / cap - A) steps instead of A / cap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ScanResult", "scan_erlang_c", "WARM_START_SIGMAS"]

WARM_START_SIGMAS = 10.0  # the walk starts 10 sqrt(A) below A: an error of 1 in B shrinks by ~exp(-50) before n = A
_TOL = 1e-12


@dataclass(frozen=True)
class ScanResult:
    """Per cell: agents on post and the Erlang C measures at that count (numpy arrays)."""

    agents: np.ndarray
    p_wait: np.ndarray
    service_level: np.ndarray
    asa_s: np.ndarray
    occupancy: np.ndarray


def scan_erlang_c(load, aht_s, answer_s: float, service_level: float, max_occupancy: float,
                  max_asa_s: float | None = None) -> ScanResult:
    """Fewest agents per cell (1-D arrays `load` in Erlangs > 0 or 0, `aht_s` > 0) and their measures."""
    load = np.asarray(load, dtype=float)
    aht_s = np.broadcast_to(np.asarray(aht_s, dtype=float), load.shape)
    size = load.shape[0]
    agents = np.zeros(size, dtype=np.int64)
    p_wait = np.zeros(size)
    sl = np.ones(size)
    asa = np.zeros(size)
    occupancy = np.zeros(size)
    idx = np.flatnonzero(load > 0)
    idx = idx[np.argsort(load[idx], kind="stable")]
    a, h = load[idx], aht_s[idx]
    # both bounds grow with the load, so with cells sorted by load the cells started (n > start) and the
    # cells worth checking (n > first: stable and within the cap) are always prefixes of the arrays
    start = np.maximum(np.floor(a - WARM_START_SIGMAS * np.sqrt(a)), 0.0)
    first = np.maximum(np.floor(a), np.ceil(a / max_occupancy - 1e-9) - 1)
    b = np.ones(idx.size)  # B(start) taken as 1: exact at 0; above 0 an upper bound whose error dies out before n = A
    alive = np.ones(idx.size, dtype=bool)
    work = np.empty(idx.size)
    pending = idx.size
    n = int(start[0]) if idx.size else 0
    while pending:
        n += 1
        s = int(np.searchsorted(start, n, side="left"))  # start[:s] < n
        ab = np.multiply(a[:s], b[:s], out=work[:s])
        np.divide(ab, ab + n, out=b[:s])
        k = int(np.searchsorted(first, n, side="left"))  # first[:k] < n
        if not k:
            continue
        a_n, b_n, h_n = a[:k], b[:k], h[:k]
        c = b_n / (1.0 - (a_n / n) * (1.0 - b_n))
        excess = n - a_n
        level = 1.0 - c * np.exp(-excess * answer_s / h_n)
        occ = a_n / n
        ok = alive[:k] & (level >= service_level - _TOL) & (occ <= max_occupancy + _TOL)
        wait = c * h_n / excess
        if max_asa_s is not None:
            ok &= wait <= max_asa_s + _TOL
        hit = np.flatnonzero(ok)
        if not hit.size:
            continue
        done = idx[hit]
        agents[done] = n
        p_wait[done] = c[hit]
        sl[done] = level[hit]
        asa[done] = wait[hit]
        occupancy[done] = occ[hit]
        alive[hit] = False
        pending -= hit.size
        if pending < 0.7 * alive.size:  # compact now and then: answered cells stop costing
            keep = alive
            idx, a, h, b, start, first, alive = idx[keep], a[keep], h[keep], b[keep], start[keep], first[keep], alive[keep]
    return ScanResult(agents=agents, p_wait=p_wait, service_level=sl, asa_s=asa, occupancy=occupancy)
