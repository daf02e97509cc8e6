"""Reports = rules: a replayed day's report counts exactly the engine's findings.

sample_data/floor_day.jsonl (60 agents, one day) goes through the real rules engine; events and
outputs are written to a real SQLite event log the way the runtime writes them; the report the
API serves (wfm/api/reports.py, read back from that log) must count, per rule and per agent, what
the engine decided — lateness, break overruns, every violation."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import msgspec

from conftest import REPO
from wfm.api import reports
from wfm.config import load_config
from wfm.decisions import Violation
from wfm.engine import FloorEngine
from wfm.eventlog import open_log
from wfm.events import BadLine, event_to_builtins, read_events

DAY_FILE = REPO / "sample_data" / "floor_day.jsonl"


def replay_into_log(url: str, config) -> list[Violation]:
    engine = FloorEngine(config)
    found: list[Violation] = []
    log = open_log(url)
    try:
        batch = []
        with DAY_FILE.open("rb") as lines:
            for item in read_events(lines, str(DAY_FILE)):
                assert not isinstance(item, BadLine), item
                batch.append(("event", event_to_builtins(item), item.ts))
                for output in engine.handle(item).outputs:
                    batch.append(("decision", msgspec.to_builtins(output), output.ts))
                    if isinstance(output, Violation):
                        found.append(output)
        log.append_many(batch)
    finally:
        log.close()
    return found


def test_a_replayed_days_report_counts_the_engines_decisions(tmp_path):
    config = load_config()
    url = f"sqlite:///{tmp_path / 'day.sqlite'}"
    found = replay_into_log(url, config)
    assert found, "the sample day has findings to count"
    settings = reports.ReportSettings.from_config(config)
    day = found[0].ts.astimezone(settings.tz).date().isoformat()
    start, end = reports.period_bounds("daily", day, settings.tz)
    log = open_log(url, readonly=True)
    try:
        report = reports.period_report(list(log.read(since=start - timedelta(days=1), until=end)), settings, "daily", day)
    finally:
        log.close()
    on_day = [v for v in found if v.ts.astimezone(settings.tz).date().isoformat() == day]
    by_rule = Counter(v.rule for v in on_day)
    floor = report.floor.iloc[0]
    assert floor["violations"] == len(on_day)
    assert floor["late_sign_ins"] == by_rule["LATE_SIGN_IN"]
    assert floor["serious_late"] == by_rule["SERIOUS_LATE"]
    assert floor["short_break_overruns"] == by_rule["SHORT_BREAK_TOO_LONG"]
    assert floor["meal_overruns"] == by_rule["MEAL_TOO_LONG"]
    agents = report.agents.set_index("agent")
    per_agent = Counter(v.agent for v in on_day if v.agent)
    for agent, count in per_agent.items():
        assert agents.loc[agent, "violations"] == count, agent
    late = Counter(v.agent for v in on_day if v.rule == "LATE_SIGN_IN")
    assert {a: int(n) for a, n in agents["late_sign_ins"].items() if n} == dict(late)
    graded = {a for a, g in agents["lateness_grade"].items() if g}
    assert graded <= set(late)  # a lateness grade only where the engine found the agent late
