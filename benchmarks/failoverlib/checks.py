"""What the shared log shows after a failover run (issue 19's acceptance, from the log alone):

- every break request that was answered (acknowledged) is in the log, with the decision it was
  answered with;
- no event and no decision is logged twice, and the logged decisions are exactly what ONE engine
  applying the log in order makes (nothing lost at a takeover, nothing judged twice);
- the team's cap on concurrent 小休 (scenario.CAP) is never exceeded by an allowed break.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.failoverlib.scenario import CAP


def stored(url: str) -> tuple[Any, list[Any]]:
    """The log's verification result and all its records."""
    from wfm.eventlog import open_log

    with open_log(url, readonly=True) as log:
        return log.verify(), list(log.read())


def duplicates(records: list[Any], kind: str) -> list[tuple[Any, str]]:
    """(ts, body) of the records of `kind` that stand in the log more than once."""
    bodies = Counter((r.ts, json.dumps(r.body, sort_keys=True)) for r in records if r.kind == kind)
    return [body for body, n in bodies.items() if n > 1]


def replay_decisions(config_path: Path, records: list[Any]) -> tuple[list[bytes], list[str]]:
    """What one engine makes from the log in order (events and tick markers), and every allowed
    short break that would have put more than CAP of a team on 小休 or holding a place."""
    import msgspec

    from wfm.config import load_config
    from wfm.decisions import BreakDecision
    from wfm.engine import FloorEngine
    from wfm.events import event_from_builtins

    config = load_config(config_path)
    engine = FloorEngine(config)
    floor = engine.floor
    encoder = msgspec.json.Encoder(order="sorted")
    made, over_cap = [], []
    for record in records:
        if record.kind == "event":
            result = engine.handle(event_from_builtins(record.body))
        elif record.kind == "audit" and record.body.get("type") == "tick":
            result = engine.tick(record.ts.astimezone(config.floor.tz))
        else:
            continue
        for output in getattr(result, "outputs", None) or ():
            made.append(encoder.encode(msgspec.to_builtins(output)))
            if isinstance(output, BreakDecision) and output.allowed and output.kind.value == "short":
                team = config.team_of(output.agent)
                held = floor.team_short[team] + floor.holds.team_short[team]  # short-break holds only
                if held > CAP:
                    over_cap.append(f"{output.ts} {output.agent}: {held} of team {team!r} on or holding 小休")
    return made, over_cap


@dataclass
class LogChecks:
    verified: bool
    verify_message: str
    records: int
    answered: int  # acknowledged break requests
    allowed: int  # of them allowed
    logged_decisions: int
    replayed_decisions: int  # what one engine makes from the log in order
    not_in_log: list[bytes]  # answered decisions the log lacks
    unlogged_requests: list[str]  # agents with more answered requests than logged break_request events
    duplicate_events: list[tuple[Any, str]]
    duplicate_decisions: list[tuple[Any, str]]
    first_difference: int | None  # index of the first logged decision one engine does not make alike
    over_cap: list[str]

    @property
    def cap_contested(self) -> bool:
        """Some requests allowed and some refused: the cap was actually at stake."""
        return 0 < self.allowed < self.answered

    def verdicts(self) -> dict[str, bool]:
        return {
            "log_verifies": self.verified,
            "every_answered_request_in_log": not self.not_in_log and not self.unlogged_requests,
            "no_event_logged_twice": not self.duplicate_events,
            "no_decision_logged_twice": not self.duplicate_decisions,
            "decisions_are_one_engines": self.first_difference is None,
            "team_short_break_cap_never_exceeded": not self.over_cap,
            "cap_contested": self.cap_contested,
        }

    def holds(self) -> bool:
        return all(self.verdicts().values())

    def figures(self) -> dict[str, int]:
        return {"records": self.records, "answered": self.answered, "allowed": self.allowed,
                "logged_decisions": self.logged_decisions, "replayed_decisions": self.replayed_decisions,
                "answered_not_in_log": len(self.not_in_log), "duplicate_events": len(self.duplicate_events),
                "duplicate_decisions": len(self.duplicate_decisions), "over_cap": len(self.over_cap)}


def check_log(url: str, config_path: Path, acknowledged: list[dict]) -> LogChecks:
    """Read the shared log at `url` and check it against the answered decisions."""
    import msgspec

    result, records = stored(url)
    encoder = msgspec.json.Encoder(order="sorted")
    logged = [encoder.encode(r.body) for r in records if r.kind == "decision"]
    answered = Counter(encoder.encode(d) for d in acknowledged)
    in_log = Counter(logged)
    requests = Counter(r.body["agent"] for r in records if r.kind == "event" and r.body.get("type") == "break_request")
    asked = Counter(d["agent"] for d in acknowledged)
    made, over_cap = replay_decisions(config_path, records)
    first_difference = next((i for i, (a, b) in enumerate(zip(made, logged)) if a != b),
                            None if len(made) == len(logged) else min(len(made), len(logged)))
    return LogChecks(
        verified=bool(result.ok), verify_message=result.message(), records=len(records),
        answered=len(acknowledged), allowed=sum(1 for d in acknowledged if d.get("allowed")),
        logged_decisions=len(logged), replayed_decisions=len(made),
        not_in_log=[d for d, n in answered.items() if in_log[d] < n],
        unlogged_requests=sorted(a for a, n in asked.items() if requests[a] < n),
        duplicate_events=duplicates(records, "event"), duplicate_decisions=duplicates(records, "decision"),
        first_difference=first_difference, over_cap=over_cap)
