"""Simulated-annealing local search over a feasible Curtois roster, used to warm-start CP-SAT.

Starts from a roster that satisfies every hard rule and never leaves the
feasible set: each move is checked by re-validating the changed employee rows
(rotation, max shifts per type, min/max minutes, min/max consecutive shifts,
min consecutive days off, max weekends, fixed days off; runs touching the
horizon edge are exempt as in the benchmark). Moves:
- change: one employee, one day, a new shift or a day off (fixes cover);
- shuffle: one employee, two days, the shifts exchanged or replaced (keeps the
  working-day count so the minutes limits stay met);
- swap: two employees exchange their assignments over 1-4 consecutive days
  (cover unchanged; trades requests and repairs rows).
Costs are kept incrementally: cover as staffed counts per (day, shift),
requests as a per-(employee, day, shift) table. Pure Python: the point is to
turn a poor first solution into a good hint in a few seconds, not to compete
with CP-SAT's LNS.
"""
from __future__ import annotations

import math
import random
import time

from optimizer.nrp.parser import Instance

__all__ = ["anneal"]

OFF = -1


class _Rows:
    """Per-employee hard-rule check over integer rows (shift index or OFF)."""

    def __init__(self, instance: Instance) -> None:
        self.horizon = instance.horizon
        self.shift_ids = [s.id for s in instance.shifts]
        index = {s: i for i, s in enumerate(self.shift_ids)}
        self.minutes = [s.minutes for s in instance.shifts]
        n = len(self.shift_ids)
        self.banned = [[False] * n for _ in range(n)]
        for s in instance.shifts:
            for t in s.cannot_follow:
                self.banned[index[s.id]][index[t]] = True
        self.staff = instance.staff
        self.max_shifts = [[p.max_shifts.get(s, instance.horizon) for s in self.shift_ids] for p in instance.staff]
        self.off = [instance.days_off.get(p.id, frozenset()) for p in instance.staff]
        self.saturdays = list(range(5, instance.horizon, 7))

    def ok(self, e: int, row: list[int]) -> bool:
        p = self.staff[e]
        h = self.horizon
        counts = [0] * len(self.minutes)
        minutes = 0
        prev = OFF
        run = 0          # current run length
        run_start = 0
        for d in range(h):
            s = row[d]
            working = s != OFF
            if working:
                if d in self.off[e]:
                    return False
                counts[s] += 1
                minutes += self.minutes[s]
                if prev != OFF and self.banned[prev][s]:
                    return False
            if d == 0 or working != (prev != OFF):
                # close the previous run (interior if it started after day 0)
                if d > 0 and run_start > 0:
                    if prev != OFF:
                        if run < p.min_consecutive:
                            return False
                    elif run < p.min_days_off:
                        return False
                run, run_start = 1, d
            else:
                run += 1
            if working and run > p.max_consecutive:
                return False
            prev = s
        if minutes < p.min_minutes or minutes > p.max_minutes:
            return False
        limits = self.max_shifts[e]
        for i, c in enumerate(counts):
            if c > limits[i]:
                return False
        weekends = 0
        for sat in self.saturdays:
            if row[sat] != OFF or (sat + 1 < h and row[sat + 1] != OFF):
                weekends += 1
        return weekends <= p.max_weekends


def anneal(instance: Instance, roster: dict[str, list[str]], seconds: float, seed: int = 0,
           moves: int | None = None) -> dict[str, list[str]]:
    """Improve a feasible `roster` for about `seconds`; returns the best roster seen (feasible).

    With `moves`, the search makes exactly that many moves (the cooling follows the moves, and the same seed gives
    the same roster on any machine); `seconds` then only guards.
    """
    rows_check = _Rows(instance)
    shift_ids = rows_check.shift_ids
    index = {s: i for i, s in enumerate(shift_ids)}
    staff = [p.id for p in instance.staff]
    h, n_shifts, n_staff = instance.horizon, len(shift_ids), len(staff)
    rows = [[index[s] if s else OFF for s in roster[p]] for p in staff]
    if not all(rows_check.ok(e, rows[e]) for e in range(n_staff)) or n_staff == 0:
        return roster
    staff_index = {p: i for i, p in enumerate(staff)}
    # request cost table: req[e][d][s + 1] (slot 0 = day off)
    req = [[[0] * (n_shifts + 1) for _ in range(h)] for _ in range(n_staff)]
    for r in instance.on_requests:
        cells = req[staff_index[r.staff]][r.day]
        for k in range(n_shifts + 1):
            if k != index[r.shift] + 1:
                cells[k] += r.weight
    for r in instance.off_requests:
        req[staff_index[r.staff]][r.day][index[r.shift] + 1] += r.weight
    need = [[0] * n_shifts for _ in range(h)]
    under_w = [[0] * n_shifts for _ in range(h)]
    over_w = [[0] * n_shifts for _ in range(h)]
    for c in instance.cover:
        need[c.day][index[c.shift]] = c.requirement
        under_w[c.day][index[c.shift]] = c.under_weight
        over_w[c.day][index[c.shift]] = c.over_weight
    staffed = [[0] * n_shifts for _ in range(h)]
    for row in rows:
        for d, s in enumerate(row):
            if s != OFF:
                staffed[d][s] += 1

    def cover_cost(d: int, s: int, count: int) -> int:
        gap = need[d][s] - count
        return under_w[d][s] * gap if gap > 0 else over_w[d][s] * -gap

    def cover_delta(d: int, old: int, new: int) -> int:
        """Cost change when one employee's day-d shift goes old -> new."""
        delta = 0
        if old != OFF:
            c = staffed[d][old]
            delta += cover_cost(d, old, c - 1) - cover_cost(d, old, c)
        if new != OFF:
            c = staffed[d][new]
            delta += cover_cost(d, new, c + 1) - cover_cost(d, new, c)
        return delta

    def apply(d: int, old: int, new: int) -> None:
        if old != OFF:
            staffed[d][old] -= 1
        if new != OFF:
            staffed[d][new] += 1

    cost = sum(req[e][d][rows[e][d] + 1] for e in range(n_staff) for d in range(h))
    cost += sum(cover_cost(d, s, staffed[d][s]) for d in range(h) for s in range(n_shifts))
    best_cost, best_rows = cost, [r[:] for r in rows]
    rng = random.Random(seed)
    choices = list(range(-1, n_shifts))
    t_hot, t_cold = 30.0, 0.5
    start = time.perf_counter()
    deadline = start + max(0.0, seconds)
    temperature = t_hot
    it = 0
    while moves is None or it < moves:
        if it % 256 == 0:
            now = time.perf_counter()
            if now >= deadline:
                break
            frac = (now - start) / max(seconds, 1e-9) if moves is None else it / max(moves, 1)
            temperature = t_hot * (t_cold / t_hot) ** frac
        it += 1
        kind = rng.random()
        if kind < 0.35:  # change one day
            e, d = rng.randrange(n_staff), rng.randrange(h)
            row = rows[e]
            old, new = row[d], rng.choice(choices)
            if new == old:
                continue
            delta = req[e][d][new + 1] - req[e][d][old + 1] + cover_delta(d, old, new)
            if delta > 0 and rng.random() >= math.exp(-delta / temperature):
                continue
            row[d] = new
            if not rows_check.ok(e, row):
                row[d] = old
                continue
            apply(d, old, new)
        elif kind < 0.6:  # two days of one employee
            e = rng.randrange(n_staff)
            d1, d2 = rng.randrange(h), rng.randrange(h)
            row = rows[e]
            o1, o2 = row[d1], row[d2]
            if d1 == d2 or o1 == o2:
                continue
            n1, n2 = (o2, o1) if rng.random() < 0.5 else (o2, rng.choice(choices))
            if n2 == o2 and n1 == o1:
                continue
            delta = req[e][d1][n1 + 1] - req[e][d1][o1 + 1] + req[e][d2][n2 + 1] - req[e][d2][o2 + 1]
            delta += cover_delta(d1, o1, n1)
            apply(d1, o1, n1)
            delta += cover_delta(d2, o2, n2)
            apply(d1, n1, o1)
            if delta > 0 and rng.random() >= math.exp(-delta / temperature):
                continue
            row[d1], row[d2] = n1, n2
            if not rows_check.ok(e, row):
                row[d1], row[d2] = o1, o2
                continue
            apply(d1, o1, n1)
            apply(d2, o2, n2)
        else:  # two employees swap a block of days (cover unchanged)
            a, b = rng.randrange(n_staff), rng.randrange(n_staff)
            if a == b:
                continue
            length = rng.randint(1, 4)
            d0 = rng.randrange(h - length + 1) if h >= length else 0
            ra, rb = rows[a], rows[b]
            span = range(d0, min(h, d0 + length))
            if all(ra[d] == rb[d] for d in span):
                continue
            delta = sum(req[a][d][rb[d] + 1] - req[a][d][ra[d] + 1] + req[b][d][ra[d] + 1] - req[b][d][rb[d] + 1] for d in span)
            if delta > 0 and rng.random() >= math.exp(-delta / temperature):
                continue
            for d in span:
                ra[d], rb[d] = rb[d], ra[d]
            if not (rows_check.ok(a, ra) and rows_check.ok(b, rb)):
                for d in span:
                    ra[d], rb[d] = rb[d], ra[d]
                continue
        cost += delta
        if cost < best_cost:
            best_cost, best_rows = cost, [r[:] for r in rows]
    return {p: [shift_ids[s] if s != OFF else "" for s in best_rows[e]] for e, p in enumerate(staff)}
