"""A quick first roster, hard-feasible by construction: rest days spread evenly,
templates chosen by demand share. CP-SAT starts from it (solution hint) and
improves it; if the search finds nothing better in time, it is the answer.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from optimizer.roster.constraints import worked_before
from optimizer.roster.problem import DAY_MIN, RosterProblem, Shift


def _heads_needed(problem: RosterProblem) -> dict[tuple[int, str], int]:
    """Rough heads per day and template: its peak interval, plus the share of agents away at a meal."""
    width = problem.rules.interval_min
    peak: dict[tuple[int, str], int] = {}
    for slot in problem.demand:
        begin = problem.day_index(slot.day) * DAY_MIN + slot.start_min
        for shift in problem.shifts:
            for back in range(shift.length_min // DAY_MIN + 2):
                day = begin // DAY_MIN - back
                start = day * DAY_MIN + shift.start_min
                if 0 <= day < len(problem.days) and start <= begin and begin + width <= start + shift.length_min:
                    peak[(day, shift.name)] = max(peak.get((day, shift.name), 0), slot.required)
    heads = {}
    for (day, name), need in peak.items():
        options = max(1, len(problem.shift(name).meal_offsets))
        heads[(day, name)] = need + -(-need // options) if need else 0
    return heads


def greedy_roster(problem: RosterProblem, heads: dict[tuple[int, str], int] | None = None) -> dict[tuple[str, int], str]:
    """(agent_id, day_index) -> template name for every worked day (absent = OFF).

    `heads` (day index, template) -> agents wanted, e.g. the aggregate model's counts; by default a rough count
    from each template's peak interval."""
    days = problem.days
    n = len(days)
    rules = problem.rules
    usable = [s for s in problem.shifts if s.meal_offsets]
    heads = _heads_needed(problem) if heads is None else heads
    need_day = [sum(heads.get((d, s.name), 0) for s in usable) for d in range(n)]
    available = [sum(1 for a in problem.agents if when not in a.unavailable) for when in days]
    # workers wanted each day: the day's need; spare agents rest (extra rest days cost nothing, overstaffing does)
    wanted = [min(available[d], need_day[d]) for d in range(n)]
    before = worked_before(problem)
    first = problem.first_day
    consec: dict[str, int] = {}
    last_end: dict[str, datetime] = {}
    for agent in problem.agents:
        run = 0
        days_worked = before.get(agent.agent_id, set())
        while -(run + 1) in days_worked:
            run += 1
        consec[agent.agent_id] = run
    for past in problem.previous:
        end = problem.abs_datetime((past.day - first).days * DAY_MIN + past.start_min + past.length_min)
        if past.agent_id not in last_end or end > last_end[past.agent_id]:
            last_end[past.agent_id] = end
    rests = {a.agent_id: 0 for a in problem.agents}
    worked = {a.agent_id: 0 for a in problem.agents}
    weekend_worked = {a.agent_id: 0 for a in problem.agents}
    used: dict[tuple[str, str], int] = defaultdict(int)
    all_heads = sum(heads.values()) or 1
    ratio = {s.name: sum(v for (d, name), v in heads.items() if name == s.name) / all_heads for s in usable}
    by_id = {a.agent_id: a for a in problem.agents}
    roster: dict[tuple[str, int], str] = {}
    target_rest = min(rules.rest_days_per_month, n)
    for day, when in enumerate(days):
        left = n - day
        forced, optional = [], []
        for agent in problem.agents:
            a = agent.agent_id
            future_unavailable = sum(1 for d in days[day:] if d in agent.unavailable)
            extra = target_rest - rests[a] - future_unavailable
            free_left = left - future_unavailable
            if when in agent.unavailable or consec[a] >= rules.max_consecutive_days or (extra > 0 and extra >= free_left):
                forced.append(a)
            else:
                weekend_load = -weekend_worked[a] if problem.is_weekend(when) else 0
                optional.append((when not in agent.rest_requests, extra <= 0, weekend_load, -extra / max(free_left, 1), -consec[a], a))
        quota = max(0, round(available[day] - wanted[day]) - sum(1 for a in forced if when not in by_id[a].unavailable))
        optional.sort()
        resting = set(forced) | {entry[-1] for entry in optional[:quota]}
        workers = [a for a in problem.agents if a.agent_id not in resting]
        weights = {s.name: float(heads.get((day, s.name), 0)) for s in usable}
        total = sum(weights.values()) or 1.0
        target = {name: weight / total * len(workers) for name, weight in weights.items()}
        taken = {s.name: 0 for s in usable}

        def allowed(a: str, shift: Shift, day: int = day) -> bool:
            end = last_end.get(a)
            if end is None:
                return True
            start = problem.abs_datetime(day * DAY_MIN + shift.start_min)
            return start.timestamp() - end.timestamp() >= rules.min_rest_between_shifts_min * 60

        options = {w.agent_id: [s for s in usable if allowed(w.agent_id, s)] for w in workers}
        picks: dict[str, Shift] = {}
        flexible: list = []
        for worker in workers:
            choices = options[worker.agent_id]
            if not choices:
                resting.add(worker.agent_id)
            elif len(choices) == 1:
                picks[worker.agent_id] = choices[0]
                taken[choices[0].name] += 1
            else:
                flexible.append(worker)
        # fill first the template with the least slack (agents who may still take it, R4 after yesterday's late
        # shifts, minus the heads it wants), each with the agents furthest below their fair share of it (R5)
        remaining = list(usable)
        while len(remaining) > 1 and flexible:
            slack = {s.name: sum(1 for w in flexible if s in options[w.agent_id]) - (target[s.name] - taken[s.name])
                     for s in remaining}
            shift = min(remaining, key=lambda s: slack[s.name])
            remaining.remove(shift)
            room = max(0, round(target[shift.name] - taken[shift.name]))
            candidates = [w for w in flexible if shift in options[w.agent_id]]
            candidates.sort(key=lambda w: -(ratio[shift.name] * worked[w.agent_id] - used[(w.agent_id, shift.name)]
                                            + (0.5 if w.preferred_shift == shift.name else 0)
                                            + (0.3 if roster.get((w.agent_id, day - 1)) == shift.name else 0)
                                            - sum(1 for s in remaining if s in options[w.agent_id])))
            for worker in candidates[:room]:
                picks[worker.agent_id] = shift
                taken[shift.name] += 1
            flexible = [w for w in flexible if w.agent_id not in picks]
        for worker in flexible:
            fallback = remaining[0] if remaining and remaining[0] in options[worker.agent_id] else options[worker.agent_id][0]
            picks[worker.agent_id] = fallback
        _no_lone_agent(picks, options)
        for a, pick in picks.items():
            roster[(a, day)] = pick.name
            worked[a] += 1
            weekend_worked[a] += problem.is_weekend(when)
            used[(a, pick.name)] += 1
            last_end[a] = problem.abs_datetime(day * DAY_MIN + pick.end_min)
        for agent in problem.agents:
            a = agent.agent_id
            if (a, day) in roster:
                consec[a] += 1
            else:
                consec[a] = 0
                rests[a] += 1
    balance_evenings(problem, roster)
    return roster


def _no_lone_agent(picks: dict[str, Shift], options: dict[str, list[Shift]]) -> None:
    """F8: an agent alone on her template would have nobody on post at her meal: move her to a template others work,
    else bring a partner from a template with three or more, else let her rest."""
    counts: dict[str, int] = defaultdict(int)
    for pick in picks.values():
        counts[pick.name] += 1
    for a, pick in list(picks.items()):
        if counts[pick.name] != 1:
            continue
        other = next((s for s in options[a] if s.name != pick.name and counts[s.name] >= 1), None)
        partner = next((b for b, theirs in picks.items() if counts[theirs.name] >= 3 and pick in options[b]), None)
        if other is not None:
            picks[a] = other
            counts[pick.name] -= 1
            counts[other.name] += 1
        elif partner is not None:  # someone from a well-staffed template joins her
            counts[picks[partner].name] -= 1
            picks[partner] = pick
            counts[pick.name] += 1
        else:  # she rests (a rest day never breaks a hard rule)
            del picks[a]
            counts[pick.name] -= 1


def previous_shift_ends(problem: RosterProblem) -> dict[str, list]:
    """agent_id -> when each of last month's shifts in `problem.previous` ended (epoch seconds), for _rest_ok."""
    first = problem.first_day
    ends: dict[str, list] = {}
    for past in problem.previous:
        end = problem.abs_datetime((past.day - first).days * DAY_MIN + past.start_min + past.length_min).timestamp()
        ends.setdefault(past.agent_id, []).append(end)
    return ends


def _rest_ok(problem: RosterProblem, roster: dict[tuple[str, int], str], agent_id: str, day: int, shift: Shift,
             previous_ends: dict[str, list]) -> bool:
    """Would `shift` on `day` keep R4's minimum rest to the agent's neighbouring shifts (and last month's)?"""
    rest = problem.rules.min_rest_between_shifts_min * 60
    longest = max(s.length_min for s in problem.shifts)
    reach = (longest + problem.rules.min_rest_between_shifts_min) // DAY_MIN + 1
    start = problem.abs_datetime(day * DAY_MIN + shift.start_min).timestamp()
    end = problem.abs_datetime(day * DAY_MIN + shift.end_min).timestamp()
    for delta in range(1, reach + 1):
        before = roster.get((agent_id, day - delta))
        if before is not None:
            other = problem.shift(before)
            if start - problem.abs_datetime((day - delta) * DAY_MIN + other.end_min).timestamp() < rest:
                return False
        after = roster.get((agent_id, day + delta))
        if after is not None:
            other = problem.shift(after)
            if problem.abs_datetime((day + delta) * DAY_MIN + other.start_min).timestamp() - end < rest:
                return False
    return all(start - past_end >= rest for past_end in previous_ends.get(agent_id, ()))


def balance_evenings(problem: RosterProblem, roster: dict[tuple[str, int], str]) -> int:
    """Local repair of the greedy roster (R5): trade an evening for a day shift between the agents with the most and
    the fewest evenings on a day both work, while R4 rest allows. Coverage and meals per template stay the same.
    Returns the number of trades made."""
    evening = {s.name for s in problem.shifts if s.evening}
    if not evening or len(evening) == len(problem.shifts):
        return 0
    members = list(problem.fairness_agents())
    previous_ends = previous_shift_ends(problem)
    count = {a: 0 for a in members}
    for (agent_id, _), name in roster.items():
        if agent_id in count and name in evening:
            count[agent_id] += 1
    days = range(len(problem.days))
    trades = 0
    stuck: set[str] = set()
    while True:
        ranked = sorted((a for a in members if a not in stuck), key=lambda a: count[a])
        if len(ranked) < 2 or count[ranked[-1]] - count[ranked[0]] <= 1:
            return trades
        high = ranked[-1]
        traded = False
        for low in ranked:
            if count[high] - count[low] <= 1:
                break
            for day in days:
                mine, theirs = roster.get((high, day)), roster.get((low, day))
                if mine not in evening or theirs is None or theirs in evening:
                    continue
                roster[(high, day)], roster[(low, day)] = theirs, mine
                if (_rest_ok(problem, roster, high, day, problem.shift(theirs), previous_ends)
                        and _rest_ok(problem, roster, low, day, problem.shift(mine), previous_ends)):
                    count[high] -= 1
                    count[low] += 1
                    trades += 1
                    traded = True
                    break
                roster[(high, day)], roster[(low, day)] = mine, theirs
            if traded:
                break
        if not traded:
            stuck.add(high)
