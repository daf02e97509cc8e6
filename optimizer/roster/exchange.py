"""Same-day exchanges: a local search that evens out fairness and grants rest requests without touching coverage.

A move hands one agent's whole days (template and meal slot, or OFF) over a
stretch of 1-7 consecutive days, or the month's head or tail, to another
agent and takes hers in return. Who is on post at every minute stays
the same, so unmet demand, meal counts and lunch cover (F8) cannot change;
the hard rules that can (unavailable dates, R4 rest between shifts across the
month edge, R2 consecutive days with last month's tail, R3 rest days) are
checked for both agents before a move is taken. The score is what the
roster's objective weighs among agents: fairness spreads with carry-over
(R5) and the sum of squared counts as their tie-break (it moves on a plateau
where the spread does not), rest requests refused, preferred templates
missed. A move is kept when the score does not rise.
"""
from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from optimizer.roster.constraints import _gap_min, too_soon_after_previous, worked_before
from optimizer.roster.problem import DAY_MIN, OFF, Assignment, RosterProblem

CATEGORIES = ("evenings", "weekends", "holidays", "workdays")
SQUARES = 0.1  # weight of the sum of squared deviations beside the spread (tuning months, issue 18)
SPAN_LENGTHS = (1, 1, 2, 3, 4, 7, 0, 0)  # days exchanged at once: a day, a stretch, or (0) a head or tail of the month


@dataclass(frozen=True, slots=True)
class ExchangeReport:
    moves_tried: int
    moves_taken: int
    score_before: float
    score_after: float


class _Month:
    """The roster as a grid (agent × day) with per-agent counts, kept current move by move."""

    def __init__(self, problem: RosterProblem, assignments: Sequence[Assignment]) -> None:
        self.problem = problem
        self.agents = [a.agent_id for a in problem.agents]
        self.index = {a: i for i, a in enumerate(self.agents)}
        self.n_days = len(problem.days)
        self.grid: list[list[Assignment]] = [[Assignment(a, d, OFF) for d in problem.days] for a in self.agents]
        for item in assignments:
            self.grid[self.index[item.agent_id]][problem.day_index(item.day)] = item
        self.shift = {s.name: s for s in problem.shifts}
        self.evening = {s.name for s in problem.shifts if s.evening}
        self.weekend = [problem.is_weekend(d) for d in problem.days]
        self.holiday = [d in problem.rules.holidays for d in problem.days]
        self.unavailable = [a.unavailable for a in problem.agents]
        self.requests = [a.rest_requests - a.unavailable for a in problem.agents]
        self.preferred = [a.preferred_shift for a in problem.agents]
        members = set(problem.fairness_agents())
        self.member = [a in members for a in self.agents]
        ledger = problem.ledger
        carried = {"evenings": ledger.evenings, "weekends": ledger.weekends, "holidays": ledger.holidays, "workdays": {}}
        self.counts = {cat: [carried[cat].get(a, 0) for a in self.agents] for cat in CATEGORIES}
        for i, row in enumerate(self.grid):
            for d, item in enumerate(row):
                for cat, value in self._day_counts(item.shift, d).items():
                    self.counts[cat][i] += value
        self.before = {self.index[a]: days for a, days in worked_before(problem).items() if a in self.index}
        rules = problem.rules
        longest = max(s.length_min for s in problem.shifts)
        self.reach = (longest + rules.min_rest_between_shifts_min) // DAY_MIN + 1
        self._gap_ok: dict[tuple[int, str, int, str], bool] = {}
        self.past_blocked: set[tuple[int, int, str]] = set()  # (agent, day, template) too close to last month's shift
        for agent_id, d, name in too_soon_after_previous(problem):
            agent = self.index.get(agent_id)
            if agent is not None:
                self.past_blocked.add((agent, d, name))

    def _day_counts(self, shift: str, d: int) -> dict[str, int]:
        if shift == OFF:
            return {}
        return {"evenings": int(shift in self.evening), "weekends": int(self.weekend[d]), "holidays": int(self.holiday[d]),
                "workdays": 1}

    def _works(self, i: int, d: int) -> bool:
        if d < 0:
            return d in self.before.get(i, ())
        return d < self.n_days and self.grid[i][d].shift != OFF

    def agent_cost(self, i: int, d: int, shift: str) -> float:
        """Request and preference cost of agent i working `shift` on day d."""
        if shift == OFF:
            return 0.0
        weights = self.problem.rules.weights
        cost = 0.0
        if self.problem.days[d] in self.requests[i]:
            cost += weights.rest_request
        if self.preferred[i] is not None and shift != self.preferred[i]:
            cost += weights.preferred_shift
        return cost

    def fairness_score(self) -> float:
        weights = self.problem.rules.weights
        per_cat = {"evenings": weights.fair_evenings, "weekends": weights.fair_weekends, "holidays": weights.fair_holidays,
                   "workdays": weights.fair_workdays}
        score = 0.0
        for cat, weight in per_cat.items():
            values = [v for v, m in zip(self.counts[cat], self.member) if m]
            if values and weight > 0:
                mean = sum(values) / len(values)
                score += weight * (max(values) - min(values)) + SQUARES * weight * sum((v - mean) ** 2 for v in values)
        return score

    def score(self) -> float:
        return self.fairness_score() + sum(self.agent_cost(i, d, self.grid[i][d].shift)
                                           for i in range(len(self.agents)) for d in range(self.n_days))

    def swap(self, i: int, j: int, d: int) -> None:
        a, b = self.grid[i][d], self.grid[j][d]
        for cat, value in self._day_counts(a.shift, d).items():
            self.counts[cat][i] -= value
            self.counts[cat][j] += value
        for cat, value in self._day_counts(b.shift, d).items():
            self.counts[cat][j] -= value
            self.counts[cat][i] += value
        self.grid[i][d] = Assignment(self.agents[i], a.day, b.shift, b.start_min, b.end_min, b.meal_start_min)
        self.grid[j][d] = Assignment(self.agents[j], b.day, a.shift, a.start_min, a.end_min, a.meal_start_min)

    def row_ok(self, i: int, days: range) -> bool:
        """Agent i's row keeps the hard rules that a change on `days` can break (R2, R3, R4, unavailable dates)."""
        rules = self.problem.rules
        row = self.grid[i]
        if self.counts["workdays"][i] > self.n_days - min(rules.rest_days_per_month, self.n_days):
            return False
        for d in days:
            shift = row[d].shift
            if shift == OFF:
                continue
            if self.problem.days[d] in self.unavailable[i] or (i, d, shift) in self.past_blocked:
                return False
        # R4 across the edges of the changed days (inside them each pair is checked from its first day)
        for d in range(max(0, days.start - self.reach), min(self.n_days, days.stop)):
            if row[d].shift != OFF and not self._rest_ok_forward(i, d, row[d].shift):
                return False
        # R2: the run through each changed day, last month's tail included
        limit = rules.max_consecutive_days
        d = days.start
        while d < days.stop:
            if not self._works(i, d):
                d += 1
                continue
            first = d
            while self._works(i, first - 1):
                first -= 1
            last = d
            while self._works(i, last + 1):
                last += 1
            if last - first + 1 > limit:
                return False
            d = last + 1
        return True

    def _rest_ok_forward(self, i: int, d: int, shift: str) -> bool:
        rest = self.problem.rules.min_rest_between_shifts_min
        for delta in range(1, self.reach + 1):
            if d + delta >= self.n_days:
                break
            other = self.grid[i][d + delta].shift
            if other == OFF:
                continue
            key = (d, shift, delta, other)
            if key not in self._gap_ok:
                self._gap_ok[key] = _gap_min(self.problem, d, self.shift[shift], d + delta, self.shift[other]) >= rest
            if not self._gap_ok[key]:
                return False
        return True

    def swap_days(self, i: int, j: int, days: range) -> None:
        for d in days:
            self.swap(i, j, d)

    def days_cost(self, i: int, j: int, days: range) -> float:
        return sum(self.agent_cost(i, d, self.grid[i][d].shift) + self.agent_cost(j, d, self.grid[j][d].shift) for d in days)

    def assignments(self) -> tuple[Assignment, ...]:
        return tuple(item for row in self.grid for item in row)


def exchange(problem: RosterProblem, assignments: Sequence[Assignment], seconds: float, seed: int = 0,
             max_moves: int | None = None) -> tuple[tuple[Assignment, ...], ExchangeReport]:
    """Same-day exchanges for `seconds` (or `max_moves` tries); the roster returned keeps every hard rule and the coverage."""
    month = _Month(problem, assignments)
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    start_score = current = month.score()
    tried = taken = 0
    n_agents = len(month.agents)
    if n_agents < 2 or month.n_days == 0:
        return month.assignments(), ExchangeReport(0, 0, start_score, start_score)
    while (max_moves is None or tried < max_moves) and (tried % 64 or time.monotonic() < deadline):
        length = rng.choice(SPAN_LENGTHS)
        if length == 0:  # the month's tail (or head) from a random day: one edge only to keep R2/R4 at
            cut = rng.randrange(1, month.n_days)
            days = range(cut, month.n_days) if rng.random() < 0.5 else range(0, cut)
        else:
            first = rng.randrange(max(1, month.n_days - length + 1))
            days = range(first, min(month.n_days, first + length))
        i, j = rng.sample(range(n_agents), 2)
        tried += 1
        if all(month.grid[i][d].shift == month.grid[j][d].shift for d in days):
            continue
        before = month.fairness_score() + month.days_cost(i, j, days)
        month.swap_days(i, j, days)
        if month.row_ok(i, days) and month.row_ok(j, days):
            delta = month.fairness_score() + month.days_cost(i, j, days) - before
            if delta <= 0:
                current += delta
                taken += 1
                continue
        month.swap_days(i, j, days)  # undo
    return month.assignments(), ExchangeReport(tried, taken, start_score, current)
