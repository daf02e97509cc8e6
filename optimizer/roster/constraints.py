"""One helper per roster rule: each adds its constraint to a CP-SAT model and
returns its penalty terms (hard rules return none).

The helpers work on `RosterVars` — the model, the problem and the decision
variables `x[(agent, day_index, shift)]` (1 = the agent works that template
that day). The NRP model (optimizer/nrp/model.py) shares only PenaltyTerm.
Rule names follow docs/floor-rules.md (R1–R8, F8).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from optimizer.roster.problem import DAY_MIN, RosterProblem, Shift

# What a sum of decision variables is: an expression, or the plain 0 of an empty sum. (Linear also
# admits numpy integers, which the stubs cannot add to a variable.)
Linear = cp_model.LinearExpr | int

@dataclass(frozen=True, slots=True)
class PenaltyTerm:
    """A weighted soft-rule term of the objective: weight × expression."""

    rule: str
    weight: int
    expr: Linear


@dataclass(slots=True)
class RosterVars:
    model: cp_model.CpModel
    problem: RosterProblem
    x: dict[tuple[str, int, str], cp_model.IntVar] = field(default_factory=dict)
    meals: dict[tuple[int, str, int], cp_model.IntVar] = field(default_factory=dict)  # (day, shift, offset) -> agents
    under: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (day, start) -> agents short
    over: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    fairness: dict[str, tuple[cp_model.IntVar, cp_model.IntVar]] = field(default_factory=dict)  # category -> (max, min)
    fair_totals: dict[str, int] = field(default_factory=dict)  # expected month total per category (fair share × agents)
    heads: dict[tuple[int, str], cp_model.IntVar] = field(default_factory=dict)  # (day, shift) -> agents working it

    @property
    def n_days(self) -> int:
        return len(self.problem.days)

    def work(self, agent_id: str, day: int) -> Linear:
        return sum(self.x[(agent_id, day, s.name)] for s in self.problem.shifts)

    def staffed(self, day: int, shift: str) -> Linear:
        """Agents working `shift` on `day` (one integer variable, so coverage rows stay short)."""
        if (day, shift) not in self.heads:
            var = self.model.new_int_var(0, len(self.problem.agents), f"heads[{day},{shift}]")
            self.model.add(var == sum(self.x[(a.agent_id, day, shift)] for a in self.problem.agents))
            self.heads[(day, shift)] = var
        return self.heads[(day, shift)]


def add_shift_variables(rv: RosterVars) -> None:
    """R1: one boolean per agent, day and shift template."""
    for agent in rv.problem.agents:
        for day in range(rv.n_days):
            for shift in rv.problem.shifts:
                rv.x[(agent.agent_id, day, shift.name)] = rv.model.new_bool_var(f"x[{agent.agent_id},{day},{shift.name}]")


def add_one_shift_per_day(rv: RosterVars) -> list[PenaltyTerm]:
    """R4: at most one shift a day (the rest of R4 is `add_min_rest`)."""
    for agent in rv.problem.agents:
        for day in range(rv.n_days):
            rv.model.add_at_most_one(rv.x[(agent.agent_id, day, s.name)] for s in rv.problem.shifts)
    return []


def add_unavailable(rv: RosterVars) -> list[PenaltyTerm]:
    """Unavailable dates (leave): no shift at all on them."""
    days = rv.problem.days
    for agent in rv.problem.agents:
        for day, when in enumerate(days):
            if when in agent.unavailable:
                for shift in rv.problem.shifts:
                    rv.model.add(rv.x[(agent.agent_id, day, shift.name)] == 0)
    return []


def add_meal_fit(rv: RosterVars) -> list[PenaltyTerm]:
    """R8: a template with no room for a meal slot between its margins cannot be worked."""
    for shift in rv.problem.shifts:
        if not shift.meal_offsets:
            for key, var in rv.x.items():
                if key[2] == shift.name:
                    rv.model.add(var == 0)
    return []


def _gap_min(problem: RosterProblem, day1: int, shift1: Shift, day2: int, shift2: Shift) -> int:
    """Minutes from the end of shift1 on day1 to the start of shift2 on day2, in real (tz-aware) time."""
    end = problem.abs_datetime(day1 * DAY_MIN + shift1.end_min)
    start = problem.abs_datetime(day2 * DAY_MIN + shift2.start_min)
    return int((start.timestamp() - end.timestamp()) // 60)  # elapsed time, right across DST changes


def add_min_rest(rv: RosterVars) -> list[PenaltyTerm]:
    """R4: no back-to-back shifts — at least min_rest between any two shifts, across days and the month edge."""
    problem = rv.problem
    rest = problem.rules.min_rest_between_shifts_min
    longest = max(s.length_min for s in problem.shifts)
    reach = (longest + rest) // DAY_MIN + 1
    shifts = problem.shifts
    for delta in range(1, reach + 1):
        bad_pairs = [(s1, s2) for s1 in shifts for s2 in shifts if _gap_min(problem, 0, s1, delta, s2) < rest]
        for agent in problem.agents:
            for day in range(rv.n_days - delta):
                for s1, s2 in bad_pairs:
                    rv.model.add_bool_or([rv.x[(agent.agent_id, day, s1.name)].Not(), rv.x[(agent.agent_id, day + delta, s2.name)].Not()])
    for agent_id, day, name in too_soon_after_previous(problem):
        rv.model.add(rv.x[(agent_id, day, name)] == 0)
    return []


def too_soon_after_previous(problem: RosterProblem) -> list[tuple[str, int, str]]:
    """R4 across the month edge: the (agent_id, day index, template) that would start less than the minimum rest
    after one of her shifts of last month (`problem.previous`), in the order of those shifts."""
    rest = problem.rules.min_rest_between_shifts_min
    longest = max(s.length_min for s in problem.shifts)
    reach = (longest + rest) // DAY_MIN + 1
    first = problem.first_day
    blocked: list[tuple[str, int, str]] = []
    for past in problem.previous:
        end = problem.abs_datetime((past.day - first).days * DAY_MIN + past.start_min + past.length_min)
        for day in range(min(reach + 1, len(problem.days))):
            for shift in problem.shifts:
                start = problem.abs_datetime(day * DAY_MIN + shift.start_min)
                if (start.timestamp() - end.timestamp()) / 60 < rest:
                    blocked.append((past.agent_id, day, shift.name))
    return blocked


def worked_before(problem: RosterProblem) -> dict[str, set[int]]:
    """Day indices (negative) each agent worked in the previous month."""
    first = problem.first_day
    known = {a.agent_id for a in problem.agents}
    worked: dict[str, set[int]] = {}
    for past in problem.previous:
        if past.agent_id in known:
            worked.setdefault(past.agent_id, set()).add((past.day - first).days)
    return worked


def add_max_consecutive_days(rv: RosterVars) -> list[PenaltyTerm]:
    """R2 (做六休一): every window of max+1 days holds a rest day, counting last month's tail."""
    problem = rv.problem
    limit = problem.rules.max_consecutive_days
    before = worked_before(problem)
    for agent in problem.agents:
        past = before.get(agent.agent_id, set())
        for first in range(-limit, rv.n_days - limit):
            window = range(first, first + limit + 1)
            carried = sum(1 for d in window if d < 0 and d in past)
            terms = [rv.work(agent.agent_id, d) for d in window if d >= 0]
            if terms:
                rv.model.add(sum(terms) <= limit - carried)
    return []


def add_min_rest_days(rv: RosterVars) -> list[PenaltyTerm]:
    """R3: at least rest_days_per_month days off; unavailable days count as rest days."""
    rest = min(rv.problem.rules.rest_days_per_month, rv.n_days)
    for agent in rv.problem.agents:
        rv.model.add(sum(rv.work(agent.agent_id, d) for d in range(rv.n_days)) <= rv.n_days - rest)
    return []


def add_meal_slots(rv: RosterVars) -> list[PenaltyTerm]:
    """R8: every worked shift gets one meal slot; the model chooses how many agents eat at each slot."""
    agents = len(rv.problem.agents)
    for day in range(rv.n_days):
        for shift in rv.problem.shifts:
            if not shift.meal_offsets:
                continue
            counts = []
            for offset in shift.meal_offsets:
                var = rv.model.new_int_var(0, agents, f"meal[{day},{shift.name},{offset}]")
                rv.meals[(day, shift.name, offset)] = var
                counts.append(var)
            rv.model.add(sum(counts) == rv.staffed(day, shift.name))
    return []


def _covers(shift_start_abs: int, length: int, begin: int, width: int) -> bool:
    return shift_start_abs <= begin and begin + width <= shift_start_abs + length


def _overlaps(meal_abs: int, meal_len: int, begin: int, width: int) -> bool:
    return meal_abs < begin + width and begin < meal_abs + meal_len


def on_post(rv: RosterVars, begin: int, width: int) -> Linear:
    """Agents on post over [begin, begin+width): the shift covers it whole and the meal does not overlap it."""
    problem = rv.problem
    meal_len = problem.rules.meal_len_min
    terms: list = []
    constant = 0
    for shift in problem.shifts:
        back = shift.length_min // DAY_MIN + 1
        for day in range(max(0, begin // DAY_MIN - back), min(rv.n_days, begin // DAY_MIN + 1)):
            start = day * DAY_MIN + shift.start_min
            if not _covers(start, shift.length_min, begin, width):
                continue
            terms.append(rv.staffed(day, shift.name))
            for offset in shift.meal_offsets:
                if _overlaps(start + offset, meal_len, begin, width):
                    terms.append(-rv.meals[(day, shift.name, offset)])
    first = problem.first_day
    for past in problem.previous:
        if (past.day - first).days * DAY_MIN + past.start_min + past.length_min <= begin:
            continue
        start = (past.day - first).days * DAY_MIN + past.start_min
        if _covers(start, past.length_min, begin, width):
            meal = None if past.meal_start_min is None else (past.day - first).days * DAY_MIN + past.meal_start_min
            if meal is None or not _overlaps(meal, meal_len, begin, width):
                constant += 1
    return sum(terms) + constant


def meals_overlapping(rv: RosterVars, begin: int, width: int) -> Linear:
    problem = rv.problem
    meal_len = problem.rules.meal_len_min
    terms = []
    for (day, name, offset), var in rv.meals.items():
        if _overlaps(day * DAY_MIN + problem.shift(name).start_min + offset, meal_len, begin, width):
            terms.append(var)
    return sum(terms)


def add_coverage(rv: RosterVars) -> list[PenaltyTerm]:
    """Soft: agents on post per demand interval — short heavily penalised, over lightly."""
    problem = rv.problem
    width = problem.rules.interval_min
    agents = len(problem.agents)
    weights = problem.rules.weights
    under_terms, over_terms = [], []
    for slot in problem.demand:
        day = problem.day_index(slot.day)
        begin = day * DAY_MIN + slot.start_min
        post = on_post(rv, begin, width)
        under = rv.model.new_int_var(0, max(slot.required, 0), f"under[{day},{slot.start_min}]")
        over = rv.model.new_int_var(0, agents, f"over[{day},{slot.start_min}]")
        rv.model.add(post + under - over == slot.required)
        rv.under[(day, slot.start_min)] = under
        rv.over[(day, slot.start_min)] = over
        under_terms.append(under)
        over_terms.append(over)
    return [
        PenaltyTerm("under_cover", weights.under_cover, sum(under_terms)),
        PenaltyTerm("over_cover", weights.over_cover, sum(over_terms)),
    ]


def lunch_windows(rv: RosterVars) -> list[int]:
    """Interval-grid windows some meal slot could overlap (where F8 lunch cover must hold)."""
    problem = rv.problem
    width = problem.rules.interval_min
    meal_len = problem.rules.meal_len_min
    windows: set[int] = set()
    for (day, name, offset) in rv.meals:
        meal = day * DAY_MIN + problem.shift(name).start_min + offset
        first = (meal // width) * width
        for begin in range(first, meal + meal_len, width):
            if _overlaps(meal, meal_len, begin, width):
                windows.add(begin)
    return sorted(windows)


def add_lunch_cover(rv: RosterVars) -> list[PenaltyTerm]:
    """F8/R8: while anyone is at a meal, at least lunch_cover_min_agents stay on post (staggered meals)."""
    problem = rv.problem
    need = problem.rules.lunch_cover_min_agents
    if need <= 0:
        return []
    width = problem.rules.interval_min
    agents = len(problem.agents)
    for begin in lunch_windows(rv):
        eating = rv.model.new_bool_var(f"eating[{begin}]")
        rv.model.add(meals_overlapping(rv, begin, width) <= agents * eating)
        rv.model.add(on_post(rv, begin, width) >= need).only_enforce_if(eating)
    return []


def add_rest_requests(rv: RosterVars) -> list[PenaltyTerm]:
    """Soft: a requested day off that is worked."""
    terms = []
    for agent in rv.problem.agents:
        for day, when in enumerate(rv.problem.days):
            if when in agent.rest_requests and when not in agent.unavailable:
                terms.append(rv.work(agent.agent_id, day))
    return [PenaltyTerm("rest_request", rv.problem.rules.weights.rest_request, sum(terms))]


def add_preferred_shift(rv: RosterVars) -> list[PenaltyTerm]:
    """Soft: a worked shift that is not the agent's preferred template."""
    terms = []
    for agent in rv.problem.agents:
        if agent.preferred_shift is None:
            continue
        for day in range(rv.n_days):
            for shift in rv.problem.shifts:
                if shift.name != agent.preferred_shift:
                    terms.append(rv.x[(agent.agent_id, day, shift.name)])
    return [PenaltyTerm("preferred_shift", rv.problem.rules.weights.preferred_shift, sum(terms))]


def add_fair_spread(rv: RosterVars, category: str, weight: int, counts: dict[str, Linear],
                    carried: dict[str, int]) -> list[PenaltyTerm]:
    """R5: spread (max − min) of a per-agent count plus what each agent carries from earlier months."""
    if not counts or weight <= 0:
        return []
    base = min(carried.get(a, 0) for a in counts)
    upper = max(carried.get(a, 0) for a in counts) - base + rv.n_days
    high = rv.model.new_int_var(0, upper, f"fair_max[{category}]")
    low = rv.model.new_int_var(0, upper, f"fair_min[{category}]")
    for agent_id, expr in counts.items():
        total = expr + (carried.get(agent_id, 0) - base)
        rv.model.add(high >= total)
        rv.model.add(low <= total)
    rv.fairness[category] = (high, low)
    terms = [PenaltyTerm(f"fair_{category}", weight, high - low)]
    expected = rv.fair_totals.get(category)
    if expected is not None:
        # each agent's distance from her fair share (cumulative over carried months), in whole units
        cum_share = (expected + sum(carried.get(a, 0) for a in counts)) / len(counts)
        deviations = []
        for agent_id, expr in counts.items():
            target = cum_share - carried.get(agent_id, 0)
            low_t, high_t = math.floor(target), math.ceil(target)
            dev = rv.model.new_int_var(0, rv.n_days + abs(high_t), f"fair_dev[{category},{agent_id}]")
            rv.model.add(dev >= expr - high_t)
            rv.model.add(dev >= low_t - expr)
            deviations.append(dev)
        terms.append(PenaltyTerm(f"fair_{category}_share", weight, sum(deviations)))
    return terms


def add_fairness(rv: RosterVars) -> list[PenaltyTerm]:
    """R5 (公平性): evenings, weekend days and holidays spread evenly, carried across months."""
    problem = rv.problem
    weights = problem.rules.weights
    members = problem.fairness_agents()
    evening_shifts = [s.name for s in problem.shifts if s.evening]
    weekend_days = [d for d, when in enumerate(problem.days) if problem.is_weekend(when)]
    holiday_days = [d for d, when in enumerate(problem.days) if when in problem.rules.holidays]
    terms: list[PenaltyTerm] = []
    counts: dict[str, Linear]
    if evening_shifts:
        counts = {a: sum(rv.x[(a, d, s)] for d in range(rv.n_days) for s in evening_shifts) for a in members}
        terms += add_fair_spread(rv, "evenings", weights.fair_evenings, counts, problem.ledger.evenings)
    if weekend_days:
        counts = {a: sum(rv.work(a, d) for d in weekend_days) for a in members}
        terms += add_fair_spread(rv, "weekends", weights.fair_weekends, counts, problem.ledger.weekends)
    if holiday_days:
        counts = {a: sum(rv.work(a, d) for d in holiday_days) for a in members}
        terms += add_fair_spread(rv, "holidays", weights.fair_holidays, counts, problem.ledger.holidays)
    # workload: days worked in the month (no carry-over: each month's load stands alone)
    counts = {a: sum(rv.work(a, d) for d in range(rv.n_days)) for a in members}
    terms += add_fair_spread(rv, "workdays", weights.fair_workdays, counts, {})
    return terms


def add_stability(rv: RosterVars) -> list[PenaltyTerm]:
    """R5 (稳定性): a change of template between consecutive working days costs a little, and so does
    each extra weekday an agent rests on (the same rest weekday every week is the most stable)."""
    problem = rv.problem
    weight = problem.rules.weights.stability
    if weight <= 0:
        return []
    changes = []
    if len(problem.shifts) > 1:
        for agent in problem.agents:
            a = agent.agent_id
            for day in range(rv.n_days - 1):
                change = rv.model.new_bool_var(f"change[{a},{day}]")
                for shift in problem.shifts:
                    # working `shift` today and a different template tomorrow is a change
                    rv.model.add(change >= rv.x[(a, day, shift.name)] + rv.work(a, day + 1) - rv.x[(a, day + 1, shift.name)] - 1)
                changes.append(change)
    rest_weekdays = []
    for agent in problem.agents:
        a = agent.agent_id
        for weekday in range(7):
            days = [d for d, when in enumerate(problem.days) if when.weekday() == weekday and when not in agent.unavailable]
            if not days:
                continue
            rests_on = rv.model.new_bool_var(f"rest_weekday[{a},{weekday}]")
            for day in days:
                rv.model.add(rests_on >= 1 - rv.work(a, day))
            rest_weekdays.append(rests_on)
    return [PenaltyTerm("stability", weight, sum(changes)), PenaltyTerm("rest_weekdays", weight, sum(rest_weekdays))]


HARD_RULES = (
    add_one_shift_per_day,
    add_unavailable,
    add_meal_fit,
    add_min_rest,
    add_max_consecutive_days,
    add_min_rest_days,
    add_meal_slots,
    add_lunch_cover,
)
SOFT_RULES = (
    add_coverage,
    add_rest_requests,
    add_preferred_shift,
    add_fairness,
    add_stability,
)

