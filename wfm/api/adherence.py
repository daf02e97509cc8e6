"""Schedule adherence from the event log: scheduled vs actual per agent and team, and who is out now.

Pure: logged records in (the floor's `shift` events are the published roster
as the floor received it, `agent_state` events are what the PBX reported),
one JSON-ready document out. Because it is computed from the log, the
supervisor page shows the same figures after a reload or a server restart.

Definitions (the usual workforce-management ones):
- scheduled activity at an instant: `meal` inside the shift's meal slot
  (floor.meal_slot_min from meal_start), `work` elsewhere inside the shift,
  nothing outside shifts; a shift the floor received after its start counts
  from when it was received (as LATE_SIGN_IN judges it);
- in adherence: scheduled `work` and on post or on a short break (小休 is
  part of the working time; its own rules judge it), or scheduled `meal` and
  at meal (用餐);
- adherence = seconds in adherence / scheduled seconds so far today;
- conformance = seconds on post (ready, ringing, on call, wrap-up) /
  scheduled work seconds so far today (how much of the working time was
  worked, whenever it was);
- an exception: an agent scheduled now whose current state does not adhere,
  since the later of the state's and the scheduled activity's start.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

ON_POST = frozenset({"ready", "ringing", "on_call", "wrap_up"})
ADHERES = {"work": ON_POST | {"short_break"}, "meal": frozenset({"meal"})}


@dataclass(frozen=True)
class Span:
    what: str  # a scheduled activity (work, meal) or an actual state
    start: datetime
    end: datetime


def _ts(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("timestamp without UTC offset")
    return moment


def _overlap(a: Span, b: Span) -> float:
    return max(0.0, (min(a.end, b.end) - max(a.start, b.start)).total_seconds())


def scheduled_spans(shifts: Iterable[dict], meal_slot: timedelta, start: datetime, now: datetime) -> list[Span]:
    """The work and meal spans of an agent's shifts, clipped to [start, now]; the last shift event for a
    given shift start wins (a republished roster replaces the day's shift)."""
    latest: dict[datetime, dict] = {}
    for shift in shifts:
        latest[_ts(shift["start"])] = shift
    spans: list[Span] = []
    for begin, shift in sorted(latest.items()):
        end = _ts(shift["end"])
        # a shift the floor received after its start is scheduled from then (as LATE_SIGN_IN judges it):
        # what happened before the floor knew of it is not on record
        if shift.get("ts"):
            begin = max(begin, _ts(shift["ts"]))
        meal = _ts(shift["meal_start"]) if shift.get("meal_start") else None
        pieces = [Span("work", begin, end)]
        if meal is not None:
            meal_end = min(end, meal + meal_slot)
            pieces = [Span("work", begin, meal), Span("meal", meal, meal_end), Span("work", meal_end, end)]
        for piece in pieces:
            clipped = Span(piece.what, max(piece.start, start, begin), min(piece.end, now))
            if clipped.end > clipped.start:
                spans.append(clipped)
    return spans


def actual_spans(states: list[tuple[datetime, str]], start: datetime, now: datetime) -> list[Span]:
    """Each reported state until the next report (the last until now), clipped to [start, now]."""
    spans: list[Span] = []
    ordered = sorted(states, key=lambda item: item[0])
    for index, (at, state) in enumerate(ordered):
        until = ordered[index + 1][0] if index + 1 < len(ordered) else now
        piece = Span(state, max(at, start), min(until, now))
        if piece.end > piece.start:
            if spans and spans[-1].what == state and spans[-1].end == piece.start:
                spans[-1] = Span(state, spans[-1].start, piece.end)
            else:
                spans.append(piece)
    return spans


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def agent_adherence(scheduled: list[Span], actual: list[Span], now: datetime) -> dict[str, Any]:
    scheduled_s = sum((s.end - s.start).total_seconds() for s in scheduled)
    work_s = sum((s.end - s.start).total_seconds() for s in scheduled if s.what == "work")
    adherent_s = sum(_overlap(s, a) for s in scheduled for a in actual if a.what in ADHERES[s.what])
    worked_s = sum(_overlap(s, a) for s in scheduled if s.what == "work" for a in actual if a.what in ON_POST)
    current_schedule = next((s for s in scheduled if s.start <= now <= s.end and s.end >= now), None)
    current_state = actual[-1] if actual and actual[-1].end >= now else None
    out_since = None
    if current_schedule is not None and current_schedule.end >= now:
        state = current_state.what if current_state else "logged_out"
        if state not in ADHERES[current_schedule.what]:
            began = current_state.start if current_state else current_schedule.start
            out_since = max(began, current_schedule.start)
    return {
        "scheduled_s": round(scheduled_s, 1), "adherent_s": round(adherent_s, 1),
        "adherence": _ratio(adherent_s, scheduled_s),
        "scheduled_work_s": round(work_s, 1), "worked_s": round(worked_s, 1),
        "conformance": _ratio(worked_s, work_s),
        "scheduled_now": current_schedule.what if current_schedule is not None else None,
        "actual_now": current_state.what if current_state else "logged_out",
        "out_since": out_since.isoformat() if out_since else None,
    }


_STATE_FIELDS = ("type", "ts", "agent", "state")


def keep(body: dict[str, Any]) -> dict[str, Any] | None:
    """What adherence_day reads of a logged event (wfm/api/logwindow.py keeps only that): shifts whole,
    agent states slimmed to their time, agent and state; None for every other event."""
    kind = body.get("type")
    if kind == "shift":
        return body
    if kind == "agent_state":
        return {key: body[key] for key in _STATE_FIELDS if key in body}
    return None


def adherence_day(records: Iterable[Any], *, day_start: datetime, now: datetime, meal_slot: timedelta,
                  team_of: Callable[[str], str]) -> dict[str, Any]:
    """Adherence of every agent with a shift today, per team and the exceptions now (see the module doc).

    `records`: event-log records (`.kind`, `.body`) of kind "event" from before `day_start` (the state an
    agent was in at midnight counts) up to `now`.
    """
    shifts: dict[str, list[dict]] = defaultdict(list)
    states: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    skipped = 0
    for record in records:
        body = record.body if isinstance(record.body, dict) else {}
        kind = body.get("type")
        try:
            if kind == "shift":
                if _ts(body["end"]) > day_start and _ts(body["start"]) < now:
                    shifts[str(body["agent"])].append(body)
            elif kind == "agent_state":
                at = _ts(body["ts"])
                if at <= now:
                    states[str(body["agent"])].append((at, str(body["state"])))
        except (KeyError, TypeError, ValueError):
            skipped += 1
    agents = []
    segments: dict[str, dict[str, list]] = {}
    for agent in sorted(shifts, key=lambda a: (len(a), a)):
        scheduled = scheduled_spans(shifts[agent], meal_slot, day_start, now)
        if not scheduled:
            continue
        actual = actual_spans(states.get(agent, []), day_start, now)
        row = {"agent": agent, "team": team_of(agent), **agent_adherence(scheduled, actual, now)}
        agents.append(row)
        segments[agent] = {
            "scheduled": [[s.what, s.start.isoformat(), s.end.isoformat()] for s in scheduled],
            "actual": [[a.what, a.start.isoformat(), a.end.isoformat()] for a in actual],
        }
    teams = []
    for team in sorted({row["team"] for row in agents}):
        rows = [row for row in agents if row["team"] == team]
        sums = {key: sum(row[key] for row in rows) for key in ("scheduled_s", "adherent_s", "scheduled_work_s", "worked_s")}
        teams.append({"team": team, "agents": len(rows), **{k: round(v, 1) for k, v in sums.items()},
                      "adherence": _ratio(sums["adherent_s"], sums["scheduled_s"]),
                      "conformance": _ratio(sums["worked_s"], sums["scheduled_work_s"]),
                      "out_now": sum(1 for row in rows if row["out_since"])})
    exceptions = sorted(
        ({"agent": row["agent"], "team": row["team"], "scheduled": row["scheduled_now"], "actual": row["actual_now"],
          "since": row["out_since"]} for row in agents if row["out_since"]),
        key=lambda e: e["since"])
    return {"ts": now.isoformat(), "day_start": day_start.isoformat(), "agents": agents, "teams": teams,
            "exceptions": exceptions, "segments": segments, "skipped": skipped}
