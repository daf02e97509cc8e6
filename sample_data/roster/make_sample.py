"""Regenerate the sample roster inputs for January 2027 (60 agents, two seed shifts).

Deterministic (fixed seed): `python sample_data/roster/make_sample.py`.
"""
from __future__ import annotations

import calendar
import csv
import random
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
YEAR, MONTH = 2027, 1
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["芳", "伟", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平"]

# Agents needed on post per 30-min interval on a weekday, 08:30–23:00 (day shift 08:30–16:00, evening 16:00–23:30).
WEEKDAY = {
    "08:30": 16, "09:00": 22, "09:30": 24, "10:00": 25, "10:30": 25, "11:00": 24, "11:30": 21, "12:00": 19,
    "12:30": 19, "13:00": 21, "13:30": 23, "14:00": 24, "14:30": 23, "15:00": 22, "15:30": 20,
    "16:00": 17, "16:30": 17, "17:00": 16, "17:30": 15, "18:00": 15, "18:30": 16, "19:00": 17, "19:30": 17,
    "20:00": 16, "20:30": 15, "21:00": 13, "21:30": 11, "22:00": 9, "22:30": 7, "23:00": 5,
}


def main() -> None:
    rng = random.Random(20270101)
    days = [date(YEAR, MONTH, d) for d in range(1, calendar.monthrange(YEAR, MONTH)[1] + 1)]
    with open(HERE / "agents.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["agent_id", "name", "unavailable", "rest_requests", "preferred_shift", "team"])
        for i in range(60):
            agent_id = str(1001 + i)
            name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)]
            unavailable = sorted(rng.sample(days, rng.choice([1, 2, 3]))) if i % 4 == 0 else []
            rest = sorted(rng.sample(days, rng.choice([1, 2]))) if i % 3 == 0 else []
            rest = [d for d in rest if d not in unavailable]
            preferred = ["day", "evening", ""][i % 3] if i % 5 else ""
            out.writerow([agent_id, name, ";".join(map(str, unavailable)), ";".join(map(str, rest)), preferred, "A" if i < 30 else "B"])
    with open(HERE / "demand.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["date", "interval_start", "required"])
        for day in days:
            factor = 0.65 if day.weekday() >= 5 else (1.08 if day.weekday() == 0 else 1.0)
            if day == date(YEAR, 1, 1):
                factor = 0.5  # New Year's Day (元旦)
            for start, need in WEEKDAY.items():
                out.writerow([day.isoformat(), start, max(1, round(need * factor))])


if __name__ == "__main__":
    main()
