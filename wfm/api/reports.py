"""Daily and monthly KPI reports from the event log: pure computation plus export (served by the API).

Input is any iterable of event-log records (wfm.eventlog LogRecord: `.ts`,
`.kind`, `.body`), as `open_log(url).read(since, until)` yields them; the API
route (GET /api/reports/...) does the reading off the event loop, this module
only computes and encodes.

Reports = rules: lateness, break overruns and violations are the floor rules'
own findings as the live engine logged them (the `violation` decision records:
LATE_SIGN_IN and SERIOUS_LATE, SHORT_BREAK_TOO_LONG, MEAL_TOO_LONG, every
rule), never a second computation of those rules here. A replayed day's report
therefore counts exactly the engine's decisions.

Definitions of the measures (the same as the floor's read models):

- service level = calls answered within `service.service_level_answer_s`
  / (answered + abandoned) — a caller who hung up counts as not answered in time;
- ASA = mean `wait_s` of answered calls;
- abandon rate = abandoned / (answered + abandoned);
- occupancy = time ringing, on call or in wrap-up / time on post (those plus `ready`);
- breaks and meals: contiguous 小休 / 用餐 spells and their minutes;
- late minutes (L2) = minutes from shift start to the first time on post, for the
  shifts the engine found late (a LATE_SIGN_IN finding), graded by
  records.lateness_grades_min (minor, moderate, serious).

Days are floor-local days (floor.timezone). A state still running at the end of
the records is counted up to `until` (or the last record's time).
"""
from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from collections.abc import Iterable

import pandas as pd

BUSY_STATES = frozenset({"ringing", "on_call", "wrap_up"})
ON_POST_STATES = BUSY_STATES | {"ready"}

DAILY_COLUMNS = [
    "period", "offered", "answered", "answered_in_target", "abandoned", "service_level",
    "asa_s", "abandon_rate", "occupancy", "short_breaks", "short_break_overruns",
    "meals", "meal_overruns", "late_sign_ins", "serious_late", "violations",
]
AGENT_COLUMNS = [
    "period", "agent", "calls_answered", "on_post_min", "busy_min", "occupancy",
    "short_breaks", "short_break_min", "short_break_overruns", "meals", "meal_min",
    "meal_overruns", "late_sign_ins", "late_min", "lateness_grade", "violations",
]

# the floor rules whose findings the report counts (codes as the engine logs them)
LATE_RULE, SERIOUS_RULE = "LATE_SIGN_IN", "SERIOUS_LATE"
OVERRUN_RULES = {"SHORT_BREAK_TOO_LONG": "short_break_overruns", "MEAL_TOO_LONG": "meal_overruns"}

HEADERS: dict[str, str] = {  # bilingual column headers (pages, CSV, XLSX)
    "period": "Period 周期", "agent": "Agent 座席", "offered": "Offered 来电", "answered": "Answered 接听",
    "answered_in_target": "In target 达标接听", "abandoned": "Abandoned 放弃", "service_level": "Service level 服务水平",
    "asa_s": "ASA s 平均应答秒", "abandon_rate": "Abandon rate 放弃率", "occupancy": "Occupancy 占用率",
    "short_breaks": "Short breaks 小休次数", "short_break_overruns": "小休 overruns 小休超时",
    "meals": "Meals 用餐次数", "meal_overruns": "用餐 overruns 用餐超时", "late_sign_ins": "Late sign-ins 签入迟到",
    "serious_late": "Serious late/off post 严重迟到离岗", "violations": "Violations 违规",
    "calls_answered": "Calls answered 接听量", "on_post_min": "On post min 在岗分钟", "busy_min": "Busy min 忙碌分钟",
    "short_break_min": "小休 min 小休分钟", "meal_min": "用餐 min 用餐分钟", "late_min": "Late min 迟到分钟",
    "lateness_grade": "Lateness grade 迟到等级",
}


@dataclass(frozen=True)
class ReportSettings:
    tz: tzinfo
    service_level_answer_s: float
    short_break_max_min: float
    meal_max_min: float
    lateness_grades_min: tuple[int, ...]  # minor, moderate, serious thresholds

    @classmethod
    def from_config(cls, config) -> ReportSettings:
        return cls(
            tz=config.floor.tz,
            service_level_answer_s=config.service.service_level_answer_s,
            short_break_max_min=config.floor.short_break_max_min,
            meal_max_min=config.floor.meal_max_min,
            lateness_grades_min=tuple(config.records.lateness_grades_min),
        )


@dataclass(frozen=True)
class KpiReport:
    """Floor KPIs per period and per agent per period ("period" = YYYY-MM-DD or YYYY-MM)."""

    floor: pd.DataFrame
    agents: pd.DataFrame
    skipped: int = 0  # records that were not understood (counted, not fatal)


@dataclass
class _Segment:
    agent: str
    state: str
    start: datetime
    end: datetime


@dataclass
class _Shift:
    agent: str
    start: datetime
    end: datetime


@dataclass
class _Collected:
    calls: list[dict] = field(default_factory=list)
    segments: list[_Segment] = field(default_factory=list)
    shifts: list[_Shift] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)
    skipped: int = 0


def _parse_ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("timestamp without UTC offset")
    return moment


def _collect(records: Iterable[Any], until: datetime | None) -> _Collected:
    out = _Collected()
    current: dict[str, tuple[str, datetime]] = {}
    last_ts: datetime | None = None
    for record in records:
        body = record.body if isinstance(record.body, dict) else {}
        try:
            ts = _parse_ts(body.get("ts", record.ts))
        except (TypeError, ValueError):
            out.skipped += 1
            continue
        last_ts = ts if last_ts is None or ts > last_ts else last_ts
        kind = body.get("type")
        if record.kind == "decision":
            if kind == "violation":
                out.violations.append({"ts": ts, "agent": body.get("agent"), "rule": body.get("rule")})
            continue
        if record.kind != "event":
            continue
        try:
            if kind == "call":
                out.calls.append(
                    {"ts": ts, "event": body["event"], "agent": body.get("agent"), "wait_s": body.get("wait_s")}
                )
            elif kind == "agent_state":
                agent, state = str(body["agent"]), str(body["state"])
                previous = current.get(agent)
                if previous is not None and previous[0] == state:
                    continue  # a repeated state (snapshot) continues the segment
                if previous is not None and ts > previous[1]:
                    out.segments.append(_Segment(agent, previous[0], previous[1], ts))
                current[agent] = (state, ts)
            elif kind == "shift":
                out.shifts.append(_Shift(str(body["agent"]), _parse_ts(body["start"]), _parse_ts(body["end"])))
        except (KeyError, TypeError, ValueError):
            out.skipped += 1
    end = until or last_ts
    if end is not None:
        for agent, (state, since) in current.items():
            if end > since:
                out.segments.append(_Segment(agent, state, since, end))
    return out


def _split_by_day(segment: _Segment, tz: tzinfo) -> Iterable[tuple[date, float]]:
    """Seconds of a segment falling on each floor-local day."""
    start = segment.start.astimezone(tz)
    end = segment.end.astimezone(tz)
    while start < end:
        next_midnight = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        piece_end = min(end, next_midnight)
        yield start.date(), (piece_end - start).total_seconds()
        start = piece_end


def lateness_grade(late_min: float, grades: tuple[int, ...]) -> str:
    """L2 grading: '' on time, then minor / moderate / serious by the configured thresholds."""
    names = ("minor", "moderate", "serious")
    grade = ""
    for threshold, name in zip(grades, names):
        if late_min >= threshold:
            grade = name
    return grade


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _breaks(segments: list[_Segment], state: str) -> list[_Segment]:
    """Contiguous runs of `state` per agent merged into one break each."""
    runs: list[_Segment] = []
    for seg in sorted((s for s in segments if s.state == state), key=lambda s: (s.agent, s.start)):
        if runs and runs[-1].agent == seg.agent and runs[-1].end == seg.start:
            runs[-1] = _Segment(seg.agent, state, runs[-1].start, seg.end)
        else:
            runs.append(_Segment(seg.agent, state, seg.start, seg.end))
    return runs


def _late_minutes(shift: _Shift, segments_by_agent: dict[str, list[_Segment]]) -> float | None:
    """Minutes from shift start to the first time on post (0 when on post at the start);
    None when the agent never came on post during the shift."""
    for seg in segments_by_agent.get(shift.agent, []):
        if seg.state not in ON_POST_STATES or seg.end <= shift.start:
            continue
        if seg.start >= shift.end:
            return None
        return max(0.0, (seg.start - shift.start).total_seconds() / 60.0)
    return None


def compute_daily(records: Iterable[Any], settings: ReportSettings, until: datetime | None = None) -> KpiReport:
    """KPIs per floor-local day and per agent per day."""
    data = _collect(records, until)
    tz = settings.tz
    floor: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    agents: dict[tuple[date, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    agent_grade: dict[tuple[date, str], str] = {}

    for call in data.calls:
        day = call["ts"].astimezone(tz).date()
        row = floor[day]
        event = call["event"]
        if event == "offered":
            row["offered"] += 1
        elif event == "answered":
            row["answered"] += 1
            wait = call["wait_s"]
            if wait is not None:
                row["wait_sum"] += float(wait)
                row["wait_n"] += 1
                if float(wait) <= settings.service_level_answer_s:
                    row["answered_in_target"] += 1
            if call["agent"]:
                agents[(day, str(call["agent"]))]["calls_answered"] += 1
        elif event == "abandoned":
            row["abandoned"] += 1

    for seg in data.segments:
        for day, seconds in _split_by_day(seg, tz):
            if seg.state in ON_POST_STATES:
                floor[day]["on_post_s"] += seconds
                agents[(day, seg.agent)]["on_post_s"] += seconds
            if seg.state in BUSY_STATES:
                floor[day]["busy_s"] += seconds
                agents[(day, seg.agent)]["busy_s"] += seconds

    for state, prefix in (("short_break", "short_break"), ("meal", "meal")):
        for run in _breaks(data.segments, state):
            day = run.start.astimezone(tz).date()
            minutes = (run.end - run.start).total_seconds() / 60.0
            count_key = "short_breaks" if prefix == "short_break" else "meals"
            cell = agents[(day, run.agent)]
            cell[count_key] += 1
            cell[f"{prefix}_min"] += minutes
            floor[day][count_key] += 1

    # the rules' own findings: counted as the engine logged them
    late_found: set[tuple[date, str]] = set()
    for violation in data.violations:
        day = violation["ts"].astimezone(tz).date()
        rule = violation["rule"]
        agent = str(violation["agent"]) if violation["agent"] else None
        floor[day]["violations"] += 1
        counted = OVERRUN_RULES.get(rule) or {LATE_RULE: "late_sign_ins", SERIOUS_RULE: "serious_late"}.get(rule)
        if counted:
            floor[day][counted] += 1
        if agent:
            agents[(day, agent)]["violations"] += 1
            if counted and counted != "serious_late":
                agents[(day, agent)][counted] += 1
            if rule == LATE_RULE:
                late_found.add((day, agent))

    # how late (L2 grade) only for the shifts the engine found late
    by_agent: dict[str, list[_Segment]] = defaultdict(list)
    for seg in sorted(data.segments, key=lambda s: s.start):
        by_agent[seg.agent].append(seg)
    for shift in data.shifts:
        day = shift.start.astimezone(tz).date()
        if (day, shift.agent) not in late_found:
            continue
        late = _late_minutes(shift, by_agent)
        if late is None:
            continue
        agents[(day, shift.agent)]["late_min"] += late
        agent_grade[(day, shift.agent)] = lateness_grade(late, settings.lateness_grades_min)

    floor_rows = [_floor_row(day.isoformat(), row) for day, row in sorted(floor.items())]
    agent_rows = [
        _agent_row(day.isoformat(), agent, row, agent_grade.get((day, agent), ""))
        for (day, agent), row in sorted(agents.items(), key=lambda kv: (kv[0][0], len(kv[0][1]), kv[0][1]))
    ]
    return KpiReport(
        floor=pd.DataFrame(floor_rows, columns=DAILY_COLUMNS),
        agents=pd.DataFrame(agent_rows, columns=AGENT_COLUMNS),
        skipped=data.skipped,
    )


def _floor_row(period: str, row: dict[str, float]) -> dict[str, Any]:
    outcome = row["answered"] + row["abandoned"]
    asa = _ratio(row["wait_sum"], row["wait_n"])
    return {
        "period": period,
        "offered": int(row["offered"]),
        "answered": int(row["answered"]),
        "answered_in_target": int(row["answered_in_target"]),
        "abandoned": int(row["abandoned"]),
        "service_level": _ratio(row["answered_in_target"], outcome),
        "asa_s": None if asa is None else round(asa, 1),
        "abandon_rate": _ratio(row["abandoned"], outcome),
        "occupancy": _ratio(row["busy_s"], row["on_post_s"]),
        "short_breaks": int(row["short_breaks"]),
        "short_break_overruns": int(row["short_break_overruns"]),
        "meals": int(row["meals"]),
        "meal_overruns": int(row["meal_overruns"]),
        "late_sign_ins": int(row["late_sign_ins"]),
        "serious_late": int(row["serious_late"]),
        "violations": int(row["violations"]),
        # kept for monthly roll-up, dropped by the column list
        "wait_sum": row["wait_sum"],
        "wait_n": row["wait_n"],
        "busy_s": row["busy_s"],
        "on_post_s": row["on_post_s"],
    }


def _agent_row(period: str, agent: str, row: dict[str, float], grade: str) -> dict[str, Any]:
    return {
        "period": period,
        "agent": agent,
        "calls_answered": int(row["calls_answered"]),
        "on_post_min": round(row["on_post_s"] / 60.0, 1),
        "busy_min": round(row["busy_s"] / 60.0, 1),
        "occupancy": _ratio(row["busy_s"], row["on_post_s"]),
        "short_breaks": int(row["short_breaks"]),
        "short_break_min": round(row["short_break_min"], 1),
        "short_break_overruns": int(row["short_break_overruns"]),
        "meals": int(row["meals"]),
        "meal_min": round(row["meal_min"], 1),
        "meal_overruns": int(row["meal_overruns"]),
        "late_sign_ins": int(row["late_sign_ins"]),
        "late_min": round(row["late_min"], 1),
        "lateness_grade": grade,
        "violations": int(row["violations"]),
    }


def compute_monthly(records: Iterable[Any], settings: ReportSettings, until: datetime | None = None) -> KpiReport:
    """The daily report rolled up per calendar month: counts summed, ratios recomputed
    from the sums (never an average of daily ratios)."""
    records = list(records)
    data = _collect(records, until)
    daily = compute_daily(records, settings, until)
    # ratio inputs per month straight from the collected data
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for call in data.calls:
        month = call["ts"].astimezone(settings.tz).strftime("%Y-%m")
        if call["event"] == "answered" and call["wait_s"] is not None:
            sums[month]["wait_sum"] += float(call["wait_s"])
            sums[month]["wait_n"] += 1
    for seg in data.segments:
        for day, seconds in _split_by_day(seg, settings.tz):
            month = day.strftime("%Y-%m")
            if seg.state in ON_POST_STATES:
                sums[month]["on_post_s"] += seconds
            if seg.state in BUSY_STATES:
                sums[month]["busy_s"] += seconds

    floor = daily.floor.assign(month=daily.floor["period"].str[:7])
    counts = ["offered", "answered", "answered_in_target", "abandoned", "short_breaks",
              "short_break_overruns", "meals", "meal_overruns", "late_sign_ins", "serious_late", "violations"]
    monthly_rows = []
    for month, group in floor.groupby("month", sort=True):
        row: dict[str, float] = defaultdict(float, {c: float(group[c].sum()) for c in counts})
        row.update(sums[month])
        monthly_rows.append(_floor_row(str(month), row))
    agents = daily.agents.assign(month=daily.agents["period"].str[:7])
    agent_rows = []
    for (month, agent), group in agents.groupby(["month", "agent"], sort=True):
        on_post = group["on_post_min"].sum()
        busy = group["busy_min"].sum()
        grades = [g for g in group["lateness_grade"] if g]
        agent_rows.append(
            {
                "period": month,
                "agent": agent,
                "calls_answered": int(group["calls_answered"].sum()),
                "on_post_min": round(on_post, 1),
                "busy_min": round(busy, 1),
                "occupancy": _ratio(busy, on_post),
                "short_breaks": int(group["short_breaks"].sum()),
                "short_break_min": round(group["short_break_min"].sum(), 1),
                "short_break_overruns": int(group["short_break_overruns"].sum()),
                "meals": int(group["meals"].sum()),
                "meal_min": round(group["meal_min"].sum(), 1),
                "meal_overruns": int(group["meal_overruns"].sum()),
                "late_sign_ins": int(group["late_sign_ins"].sum()),
                "late_min": round(group["late_min"].sum(), 1),
                "lateness_grade": f"{len(grades)} late" if grades else "",
                "violations": int(group["violations"].sum()),
            }
        )
    agent_rows.sort(key=lambda r: (r["period"], len(r["agent"]), r["agent"]))
    return KpiReport(
        floor=pd.DataFrame(monthly_rows, columns=DAILY_COLUMNS),
        agents=pd.DataFrame(agent_rows, columns=AGENT_COLUMNS),
        skipped=daily.skipped,
    )


def to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a BOM so spreadsheet programs show 小休/用餐 correctly."""
    buffer = io.StringIO()
    frame.rename(columns=HEADERS).to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL, float_format="%.4f")
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: KpiReport, title: str) -> bytes:
    """A workbook with the floor sheet and the per-agent sheet; ratios formatted as percent."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    percent_columns = {"service_level", "abandon_rate", "occupancy"}
    for index, (name, frame) in enumerate((("Floor 现场", report.floor), ("Agents 座席", report.agents))):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        sheet.title = name
        sheet.append([title])
        sheet["A1"].font = Font(bold=True, size=14)
        sheet.append([HEADERS.get(c, c) for c in frame.columns])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for values in frame.itertuples(index=False):
            sheet.append([None if (isinstance(v, float) and pd.isna(v)) else v for v in values])
        for col_index, column in enumerate(frame.columns, start=1):
            letter = sheet.cell(row=2, column=col_index).column_letter
            sheet.column_dimensions[letter].width = max(10, len(HEADERS.get(column, column)) + 4)
            if column in percent_columns:
                for row in range(3, sheet.max_row + 1):
                    sheet.cell(row=row, column=col_index).number_format = "0.0%"
        sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ── the API's report: one period, read from the log by the route ────────────────────────────

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    """The chosen period is not a date (YYYY-MM-DD) or a month (YYYY-MM)."""


def period_bounds(kind: str, period: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """The [start, end) of a floor-local day ("daily") or month ("monthly"); PeriodError names what is wrong."""
    text = (period or "").strip()
    try:
        if kind == "monthly":
            if not MONTH_RE.match(text):
                raise ValueError
            first = date.fromisoformat(text + "-01")
            following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        elif kind == "daily":
            first = date.fromisoformat(text)
            following = first + timedelta(days=1)
        else:
            raise PeriodError(f"report kind {kind!r}: expected daily or monthly")
    except ValueError:
        expected = "YYYY-MM" if kind == "monthly" else "YYYY-MM-DD"
        raise PeriodError(f"period {text!r}: expected {expected}") from None
    return datetime.combine(first, datetime.min.time(), tzinfo=tz), datetime.combine(following, datetime.min.time(), tzinfo=tz)


def period_report(records: Iterable[Any], settings: ReportSettings, kind: str, period: str) -> KpiReport:
    """The report of exactly one period from records covering it (and the day before: states already
    running); states still running are counted up to the records' own latest time (the floor's clock)."""
    records = list(records)
    _, end = period_bounds(kind, period, settings.tz)
    latest = max((r.ts for r in records), default=None)
    clip_until = end if latest is None else min(end, latest)
    compute = compute_monthly if kind == "monthly" else compute_daily
    report = compute(records, settings, until=clip_until)
    key = period.strip()
    return KpiReport(
        floor=report.floor[report.floor["period"] == key].reset_index(drop=True),
        agents=report.agents[report.agents["period"] == key].reset_index(drop=True),
        skipped=report.skipped,
    )


def _plain(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and pd.isna(v) else (v.item() if hasattr(v, "item") else v))
             for k, v in row.items()} for row in frame.to_dict(orient="records")]


def report_document(report: KpiReport, kind: str, period: str) -> dict[str, Any]:
    """The JSON the API serves: rows, column order and the bilingual headers."""
    return {"kind": kind, "period": period.strip(), "skipped": report.skipped, "headers": HEADERS,
            "floor_columns": DAILY_COLUMNS, "agent_columns": AGENT_COLUMNS,
            "floor": _plain(report.floor), "agents": _plain(report.agents)}
