"""Bring a roster to the aggregate model's head counts by single moves that keep every agent rule (issue 18).

The greedy roster (optimizer/roster/greedy.py) given the counts of
optimizer/roster/aggregate.py misses some of them: rest days it was forced to
give, R4 after yesterday's late shifts. Each miss costs coverage, since the
counts are what leaves the least unmet demand. This pass mends them in the
order a planner would, each move checked against R2 (consecutive days, with
last month's tail), R3 (days worked in the month), R4 (rest between shifts,
across the month edge), leave and R8's template fit:

1. a (day, template) with a head too many gives her to a template of the same
   day that is short;
2. a (day, template) still short takes an agent who rests that day and has a
   day left in her month, preferring one who did not ask for that day off and
   who is furthest below her share of evenings and weekends (R5, with the
   carried ledger);
3. failing that, an agent who rests that day moves her shift there from a
   day that has a head too many;
4. failing that, an agent who rests that day moves her shift there from a
   nearby day (her rest day moves, as R2 or R3 wants), and an agent resting on
   that day with a day left takes it over;
5. heads still too many rest.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from optimizer.roster.constraints import worked_before
from optimizer.roster.greedy import _rest_ok, previous_shift_ends
from optimizer.roster.problem import RosterProblem

Roster = dict[tuple[str, int], str]


class _Rules:
    """The agent rules of one month, asked move by move."""

    def __init__(self, problem: RosterProblem, roster: Roster) -> None:
        self.problem = problem
        self.roster = roster
        self.n = len(problem.days)
        self.limit = problem.rules.max_consecutive_days
        self.most = self.n - min(problem.rules.rest_days_per_month, self.n)
        self.before = worked_before(problem)
        self.previous_ends = previous_shift_ends(problem)
        self.worked = Counter(a for (a, _d) in roster)
        self.by_id = {a.agent_id: a for a in problem.agents}

    def works(self, agent_id: str, day: int) -> bool:
        if day < 0:
            return day in self.before.get(agent_id, ())
        return (agent_id, day) in self.roster

    def run_ok(self, agent_id: str, day: int) -> bool:
        """R2: working `day` too keeps every run within the limit."""
        left = day - 1
        while left >= -self.limit - 1 and self.works(agent_id, left):
            left -= 1
        right = day + 1
        while right < self.n and self.works(agent_id, right):
            right += 1
        return right - left - 1 <= self.limit

    def may_work(self, agent_id: str, day: int, shift_name: str) -> bool:
        agent = self.by_id[agent_id]
        shift = self.problem.shift(shift_name)
        return (shift.meal_offsets != () and self.problem.days[day] not in agent.unavailable
                and (agent_id, day) not in self.roster and self.run_ok(agent_id, day)
                and _rest_ok(self.problem, self.roster, agent_id, day, shift, self.previous_ends))

    def may_switch(self, agent_id: str, day: int, shift_name: str) -> bool:
        """R4 (and R8) for another template on a day she already works."""
        current = self.roster.pop((agent_id, day))
        try:
            shift = self.problem.shift(shift_name)
            return shift.meal_offsets != () and _rest_ok(self.problem, self.roster, agent_id, day, shift, self.previous_ends)
        finally:
            self.roster[(agent_id, day)] = current


def repair_to_counts(problem: RosterProblem, roster: Mapping[tuple[str, int], str],
                     heads: Mapping[tuple[int, str], int]) -> tuple[Roster, int]:
    """A copy of `roster` moved towards `heads` (day index, template) -> agents; with the heads still off (short plus
    over) afterwards. Never breaks an agent rule the roster kept."""
    out: Roster = dict(roster)
    rules = _Rules(problem, out)
    n = rules.n
    names = [s.name for s in problem.shifts]
    got: Counter = Counter((d, name) for (_a, d), name in out.items())
    evening = {s.name for s in problem.shifts if s.evening}
    members = set(problem.fairness_agents())
    evenings = Counter(a for (a, _d), name in out.items() if name in evening)
    weekends = Counter(a for (a, d) in out if problem.is_weekend(problem.days[d]))
    ledger_e, ledger_w = problem.ledger.evenings, problem.ledger.weekends

    def gap(day: int, name: str) -> int:
        return heads.get((day, name), 0) - got[(day, name)]

    def place(agent_id: str, day: int, name: str) -> None:
        out[(agent_id, day)] = name
        got[(day, name)] += 1
        rules.worked[agent_id] += 1
        evenings[agent_id] += name in evening
        weekends[agent_id] += problem.is_weekend(problem.days[day])

    def lift(agent_id: str, day: int) -> None:
        name = out.pop((agent_id, day))
        got[(day, name)] -= 1
        rules.worked[agent_id] -= 1
        evenings[agent_id] -= name in evening
        weekends[agent_id] -= problem.is_weekend(problem.days[day])

    def preference(agent_id: str, day: int, name: str) -> tuple:
        agent = rules.by_id[agent_id]
        fair = 0
        if agent_id in members:
            if name in evening:
                fair += evenings[agent_id] + ledger_e.get(agent_id, 0)
            if problem.is_weekend(problem.days[day]):
                fair += weekends[agent_id] + ledger_w.get(agent_id, 0)
        return (problem.days[day] in agent.rest_requests, fair, agent.preferred_shift not in (None, name),
                rules.worked[agent_id], agent_id)

    def on(day: int, name: str) -> list[str]:
        return [a for (a, d), s in out.items() if d == day and s == name]

    def ranked(agent_ids: list[str], day: int, name: str) -> list[str]:
        """Agents best suited to work `name` on `day` first."""
        return sorted(agent_ids, key=lambda a: preference(a, day, name))

    for day in range(n):
        # 1. a head too many moves to a short template of the same day
        for name in names:
            for other in names:
                while other != name and gap(day, name) < 0 and gap(day, other) > 0:
                    agent_id = next((a for a in ranked(on(day, name), day, other) if rules.may_switch(a, day, other)), None)
                    if agent_id is None:
                        break
                    lift(agent_id, day)
                    place(agent_id, day, other)
    for day in range(n):
        for name in names:
            while gap(day, name) > 0:
                # 2. an agent resting that day with a day left in her month
                free = [a.agent_id for a in problem.agents if rules.worked[a.agent_id] < rules.most
                        and rules.may_work(a.agent_id, day, name)]
                if free:
                    place(ranked(free, day, name)[0], day, name)
                    continue
                # 3. an agent resting that day moves her shift here from a day with a head too many
                moved = False
                for (other_day, other_name) in [key for key in got if gap(*key) < 0]:
                    for agent_id in ranked(on(other_day, other_name), day, name):
                        if (agent_id, day) in out:
                            continue
                        lift(agent_id, other_day)
                        if rules.may_work(agent_id, day, name):
                            place(agent_id, day, name)
                            moved = True
                            break
                        place(agent_id, other_day, other_name)
                    if moved:
                        break
                if not moved:
                    moved = _chain(problem, rules, out, day, name, place, lift, ranked)
                if not moved:
                    break
    # 4. heads still too many rest (a rest day never breaks an agent rule)
    for day in range(n):
        for name in names:
            while gap(day, name) < 0:
                lift(ranked(on(day, name), day, name)[-1], day)
    missed = sum(abs(gap(d, name)) for d in range(n) for name in names)
    return out, missed


def _chain(problem: RosterProblem, rules: _Rules, out: Roster, day: int, name: str, place, lift, ranked) -> bool:
    """Step 4: X rests on `day`; her shift on a day within R2's reach moves to `day`, and Y, resting on that day with
    a day left in her month, works it instead. True if such a pair was found (and moved)."""
    reach = rules.limit
    resting = [a.agent_id for a in problem.agents if (a.agent_id, day) not in out
               and problem.days[day] not in a.unavailable]
    for x in ranked(resting, day, name):
        for other_day in range(max(0, day - reach), min(rules.n, day + reach + 1)):
            other_name = out.get((x, other_day))
            if other_name is None:
                continue
            lift(x, other_day)
            if rules.may_work(x, day, name):
                place(x, day, name)
                takers = [a.agent_id for a in problem.agents if a.agent_id != x and rules.worked[a.agent_id] < rules.most
                          and rules.may_work(a.agent_id, other_day, other_name)]
                if takers:
                    place(ranked(takers, other_day, other_name)[0], other_day, other_name)
                    return True
                lift(x, day)
            place(x, other_day, other_name)
    return False
