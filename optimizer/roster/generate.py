"""Seeded generator of roster months for benchmarks and tests (docs/interfaces.md §4 file formats).

A month is written as `site.toml` (three shift templates, the third crossing
midnight; the month's public holiday), `agents.csv`, `demand.csv` and
`previous.csv` (the last week of the month before: carry-over for rest and
consecutive days) and `ledger.json` (fairness carried from earlier months,
spread 1 in each category, as `wfm roster --ledger` reads it). Demand follows one of several shapes
(one peak, two peaks, evening-heavy), dips at weekends, and has spike days no
roster can cover. Demand is drawn from a hidden staffing plan that fits the
agents available, so apart from the spike days a roster can come close to it.

Seeds are split once for all tuning: TUNING_SEEDS may be used to choose
settings; HELD_OUT_SEEDS are only for reporting.
"""
from __future__ import annotations

import calendar
import csv
import json
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

TUNING_SEEDS: tuple[int, ...] = (0, 1, 2)
HELD_OUT_SEEDS: tuple[int, ...] = (100, 101, 102)
SHAPES: tuple[str, ...] = ("one_peak", "two_peaks", "evening_heavy")

# (name, start, end, share of the hidden plan per shape one_peak / two_peaks / evening_heavy)
TEMPLATES: tuple[tuple[str, str, str], ...] = (("day", "08:30", "16:00"), ("evening", "16:00", "23:30"), ("late", "17:30", "01:00"))
_SPLIT = {"one_peak": (0.62, 0.23, 0.15), "two_peaks": (0.5, 0.3, 0.2), "evening_heavy": (0.36, 0.34, 0.30)}
_PEAKS = {"one_peak": (11.0,), "two_peaks": (10.5, 20.0), "evening_heavy": (20.5,)}
INTERVAL_MIN = 30


@dataclass(frozen=True, slots=True)
class MonthSpec:
    """What a generated month is made of (recorded beside its benchmark figures)."""

    seed: int
    agents: int
    month: str  # YYYY-MM
    shape: str
    load: float  # share of the hidden plan's on-post capacity asked for
    spike_days: tuple[str, ...]  # days with demand beyond any roster
    holiday: str
    rest_requests: int
    unavailable_days: int


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _template_spans() -> list[tuple[str, int, int]]:
    spans = []
    for name, start, end in TEMPLATES:
        begin, finish = _minutes(start), _minutes(end)
        spans.append((name, begin, finish if finish > begin else finish + 24 * 60))
    return spans


def _shape_factor(shape: str, minute: int) -> float:
    """0.55-1.0: how busy the interval starting `minute` (may pass 24:00) is relative to the plan."""
    hour = minute / 60
    peak = max(math.exp(-((hour - p) / 2.2) ** 2) for p in _PEAKS[shape])
    return 0.55 + 0.45 * peak


def _month_days(month: str) -> list[date]:
    year, mon = int(month[:4]), int(month[5:])
    return [date(year, mon, d) for d in range(1, calendar.monthrange(year, mon)[1] + 1)]


def generate_month(folder: str | Path, agents: int, seed: int, month: str | None = None) -> MonthSpec:
    """Write one seeded month into `folder` (created) and return what it is made of."""
    rng = random.Random(seed * 1009 + agents)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    month = month or f"2027-{rng.randint(1, 12):02d}"
    days = _month_days(month)
    shape = SHAPES[(seed + agents) % len(SHAPES)]
    load = round(rng.uniform(0.80, 0.90), 3)
    holiday = rng.choice([d for d in days if d.weekday() < 5])
    spikes = sorted(rng.sample([d for d in days if d.weekday() < 5 and d != holiday], 2 if agents >= 150 else 1))

    # agents: leave, rest requests, preferred templates
    unavailable: dict[int, list[date]] = {}
    requests: dict[int, list[date]] = {}
    for i in range(agents):
        roll = rng.random()
        if roll < 0.12:  # a leave block of 3-5 days
            start = rng.randrange(len(days) - 5)
            unavailable[i] = days[start:start + rng.randint(3, 5)]
        elif roll < 0.30:
            unavailable[i] = sorted(rng.sample(days, rng.randint(1, 2)))
        if rng.random() < 0.28:
            free = [d for d in days if d not in unavailable.get(i, [])]
            requests[i] = sorted(rng.sample(free, rng.randint(1, 2)))
    with open(folder / "agents.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["agent_id", "name", "unavailable", "rest_requests", "preferred_shift"])
        for i in range(agents):
            preferred = rng.choice(["day", "evening", "late"]) if rng.random() < 0.2 else ""
            out.writerow([f"G{i:04d}", f"Agent {i}", ";".join(map(str, unavailable.get(i, []))),
                          ";".join(map(str, requests.get(i, []))), preferred])

    # demand from a hidden plan: heads per template and day, on post minus the meal share
    spans = _template_spans()
    split = _SPLIT[shape]
    working_share = (len(days) - 4) / len(days)
    rows = []
    for day in days:
        available = sum(1 for i in range(agents) if day not in unavailable.get(i, []))
        heads = [available * working_share * share for share in split]
        weekend = 0.65 if day.weekday() >= 5 else 1.0
        spike = 1.7 if day in spikes else 1.0
        day_noise = rng.uniform(0.95, 1.05)
        for begin in range(_minutes("08:30"), 25 * 60, INTERVAL_MIN):
            capacity = sum(h for h, (_, s, e) in zip(heads, spans) if s <= begin and begin + INTERVAL_MIN <= e)
            on_post = capacity * (1 - 1 / 15)  # a 30-min meal in a 7.5 h shift
            required = on_post * load * _shape_factor(shape, begin) * weekend * spike * day_noise * rng.uniform(0.93, 1.07)
            when = day + timedelta(days=begin // (24 * 60))
            if when.month != day.month:
                continue  # after-midnight intervals of the last day belong to the next month
            rows.append((when, begin % (24 * 60), max(0, round(required))))
    merged: dict[tuple[date, int], int] = {}
    for when, start, required in rows:
        merged[(when, start)] = merged.get((when, start), 0) + required
    with open(folder / "demand.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["date", "interval_start", "required"])
        for (when, start), required in sorted(merged.items()):
            out.writerow([when.isoformat(), f"{start // 60:02d}:{start % 60:02d}", required])

    _write_previous(folder / "previous.csv", agents, days[0], rng)
    # fairness carried from a fair history (spread 1 per category), as `wfm roster --ledger` reads it
    months_before = rng.randint(2, 6)
    ledger = {key: {f"G{i:04d}": per_month * months_before + rng.randint(0, 1) for i in range(agents)}
              for key, per_month in (("evenings", 9), ("weekends", 6), ("holidays", 0))}
    (folder / "ledger.json").write_text(json.dumps(ledger, indent=0) + "\n", encoding="utf-8")
    with open(folder / "site.toml", "w", encoding="utf-8") as fh:
        fh.write(f"# generated roster month: seed {seed}, {agents} agents, {month}, demand shape {shape}\n[roster]\n")
        fh.write(f'holidays = ["{holiday.isoformat()}"]\n')
        for name, begins, ends in TEMPLATES:
            fh.write(f'\n[[roster.shifts]]\nname = "{name}"\nstart = "{begins}"\nend = "{ends}"\n')
    return MonthSpec(seed=seed, agents=agents, month=month, shape=shape, load=load,
                     spike_days=tuple(d.isoformat() for d in spikes), holiday=holiday.isoformat(),
                     rest_requests=sum(len(v) for v in requests.values()),
                     unavailable_days=sum(len(v) for v in unavailable.values()))


def _write_previous(path: Path, agents: int, first: date, rng: random.Random) -> None:
    """The last 7 days of the month before: runs of work ending on its last day (up to 6), late shifts included."""
    spans = {name: (start, end) for name, start, end in TEMPLATES}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["agent_id", "date", "shift", "start", "end", "meal_start"])
        for i in range(agents):
            run = rng.randint(0, 6)  # consecutive days worked up to the month's end
            name = rng.choice(["day", "evening", "late"])
            for back in range(7, 0, -1):
                when = first - timedelta(days=back)
                if back <= run:
                    start, end = spans[name]
                    meal = _minutes(start) + 180
                    out.writerow([f"G{i:04d}", when.isoformat(), name, start, end, f"{meal // 60 % 24:02d}:{meal % 60:02d}"])
                else:
                    out.writerow([f"G{i:04d}", when.isoformat(), "OFF", "", "", ""])
