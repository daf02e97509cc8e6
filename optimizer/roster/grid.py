"""What the roster grid shows for one version: labelled cells, a legend, per-agent and per-day totals,
and per interval the agents scheduled against those required with the projected service level.

`version_view(roster_csv, config, agents_csv, demand_csv, forecast_csv, requests)` → JSON-able dict.
On-post counts come from the independent checker (optimizer.checker); the projected
service level is Erlang C (optimizer.erlang) with the scheduled agents for the
forecast's calls and AHT (only when the demand came from a forecast: demand.csv
alone carries no call volumes).
"""
from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

OFF = "OFF"


def shift_codes(names: list[str]) -> dict[str, str]:
    """A short code per shift template: its first letter, more letters where two would clash."""
    codes: dict[str, str] = {}
    for name in names:
        length = 1
        while name[:length].upper() in codes.values() and length < len(name):
            length += 1
        codes[name] = name[:length].upper()
    codes[OFF] = "休"
    return codes


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def version_view(roster_csv: str | Path, config, agents_csv: str | Path | None, demand_csv: str | Path | None,
                 forecast_csv: str | Path | None, requests: list) -> dict:
    from optimizer.checker import check_files

    with open(roster_csv, encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    names: dict[str, str] = {}
    if agents_csv:
        with open(agents_csv, encoding="utf-8-sig", newline="") as handle:
            names = {row["agent_id"]: row.get("name", "") for row in csv.DictReader(handle)}
    templates = [t.name for t in config.roster.shifts]
    codes = shift_codes(templates)
    evening_from = _minutes(config.roster.evening_from)
    agents = sorted({row["agent_id"] for row in lines}, key=lambda a: (len(a), a))
    days = sorted({row["date"] for row in lines})
    cells: dict[str, dict[str, dict]] = defaultdict(dict)
    totals = {a: {"hours": 0.0, "days": 0, "evenings": 0, "weekends": 0} for a in agents}
    per_day: dict[str, Counter] = {d: Counter() for d in days}
    for row in lines:
        agent, day, shift = row["agent_id"], row["date"], row["shift"]
        cells[agent][day] = {"shift": shift, "code": codes.get(shift, shift[:2]), "start": row["start"],
                             "end": row["end"], "meal": row["meal_start"]}
        if shift == OFF:
            continue
        length = (_minutes(row["end"]) - _minutes(row["start"])) % (24 * 60) or 24 * 60
        item = totals[agent]
        item["hours"] += length / 60
        item["days"] += 1
        item["evenings"] += _minutes(row["start"]) >= evening_from
        item["weekends"] += date.fromisoformat(day).weekday() >= 5
        per_day[day][shift] += 1
    asked: dict[str, list] = defaultdict(list)
    for r in requests:
        asked[r.agent].append(r)
    for agent in agents:
        mine = asked.get(agent, [])
        granted = sum(1 for r in mine if cells[agent].get(r.day, {}).get("shift") == OFF)
        totals[agent]["requests"] = len(mine)
        totals[agent]["requests_honoured"] = granted
        totals[agent]["hours"] = round(totals[agent]["hours"], 1)
    intervals = _intervals(roster_csv, config, agents_csv, demand_csv, forecast_csv, check_files)
    return {
        "agents": [{"agent_id": a, "name": names.get(a, ""), "label": f"{a} {names.get(a, '')}".strip()} for a in agents],
        "days": days,
        "legend": [{"code": codes[t.name], "shift": t.name, "start": t.start, "end": t.end} for t in config.roster.shifts]
        + [{"code": codes[OFF], "shift": OFF, "start": "", "end": ""}],
        "cells": cells,
        "totals": totals,
        "per_day": [{"date": d, "working": sum(per_day[d].values()), **{t: per_day[d][t] for t in templates}} for d in days],
        "intervals": intervals,
    }


def _intervals(roster_csv, config, agents_csv, demand_csv, forecast_csv, check_files) -> list[dict]:
    if demand_csv is None:
        return []
    check = check_files(roster_csv, config, agents_csv, demand_csv)
    volumes: dict[tuple[str, str], tuple[float, float]] = {}
    if forecast_csv is not None:
        with open(forecast_csv, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                volumes[(row["date"], row["interval_start"])] = (float(row["calls"]), float(row["aht_s"]))
    rows = [dict(r) for r in check.coverage]
    if volumes:
        import numpy as np

        from optimizer import erlang

        keys = [(r["date"], r["interval_start"]) for r in rows]
        calls = np.array([volumes.get(k, (0.0, 0.0))[0] for k in keys])
        aht = np.array([volumes.get(k, (0.0, 1.0))[1] or 1.0 for k in keys])
        staffed = np.array([r["on_post"] for r in rows], dtype=float)
        perf = erlang.erlang_c_performance(staffed, calls, config.roster.interval_min * 60.0, aht,
                                           config.service.service_level_answer_s)
        for row, sl, volume, key in zip(rows, perf.service_level, calls, keys, strict=True):
            row["projected_sl"] = round(float(sl), 3) if key in volumes else None
            row["calls"] = round(float(volume), 1)
    return rows
