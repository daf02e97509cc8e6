"""Agents' rest-day and leave requests for a month, kept on disk, fed to the solver, and reported on.

An agent asks from /me; the scheduler sees every request; a solve of the month
takes them (rest → agents.csv `rest_requests`, a soft wish the solver weighs
against cover; leave → `unavailable`, a hard rule), and `outcomes` says for
each request whether the roster honours it and, if not, why.

Limits (docs/floor-rules.md): rest days are set centrally and a month has
`roster.rest_days_per_month` of them (R3), so an agent may ask for at most
that many rest days a month; no leave on a day the agent swapped a shift (R7);
only dates of the month and not in the past; one request per agent and day.

Layout: `<roster_dir>/<YYYY-MM>/requests.json` (a list; written atomically under a lock).
"""
from __future__ import annotations

import builtins
import csv
import fcntl
import io
import json
import os
import secrets
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path

KINDS = ("rest", "leave")


class RequestError(ValueError):
    """A request refused; the message says which limit, in plain words."""


@dataclass(frozen=True, slots=True)
class RosterRequest:
    request_id: str
    agent: str
    kind: str  # rest | leave
    day: str  # YYYY-MM-DD
    note: str
    submitted_at: str  # floor zone
    submitted_by: str


class RequestBook:
    """The requests of one month's roster folder."""

    def __init__(self, month_dir: str | Path, month: str, tz: tzinfo) -> None:
        self.dir = Path(month_dir)
        self.month = month
        self.tz = tz
        self.path = self.dir / "requests.json"

    @contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".requests.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def list(self, agent: str | None = None) -> list[RosterRequest]:
        if not self.path.exists():
            return []
        items = [RosterRequest(**item) for item in json.loads(self.path.read_text(encoding="utf-8"))]
        return [r for r in items if agent is None or r.agent == agent]

    def _save(self, items: builtins.list[RosterRequest]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(r) for r in items], ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def submit(self, agent: str, kind: str, day: str, by: str, config, note: str = "",
               swapped_days: frozenset[str] = frozenset(), today: date | None = None) -> RosterRequest:
        """Record a request after checking the rulebook's limits (RequestError says which one)."""
        if kind not in KINDS:
            raise RequestError(f"a request is for a rest day or leave, not {kind!r}")
        try:
            when = date.fromisoformat(day.strip())
        except (AttributeError, ValueError):
            raise RequestError(f"the date {day!r} is not a date; write it as YYYY-MM-DD") from None
        if f"{when:%Y-%m}" != self.month:
            raise RequestError(f"{when} is not in {self.month}")
        today = today or datetime.now(self.tz).date()
        if when < today:
            raise RequestError(f"{when} has passed")
        if kind == "leave" and when.isoformat() in swapped_days:
            raise RequestError(f"no leave on a swapped shift (R7): you swapped your shift on {when}")
        with self._locked():
            items = self.list()
            mine = [r for r in items if r.agent == agent]
            if any(r.day == when.isoformat() for r in mine):
                raise RequestError(f"you already asked for {when}; withdraw that request first")
            limit = config.roster.rest_days_per_month
            if kind == "rest" and sum(r.kind == "rest" for r in mine) >= limit:
                raise RequestError(f"a month has {limit} rest days (R3) and you have asked for {limit} already")
            request = RosterRequest(request_id=secrets.token_hex(4), agent=agent, kind=kind, day=when.isoformat(),
                                    note=(note or "").strip()[:200], submitted_at=by_time(self.tz),
                                    submitted_by=by)
            items.append(request)
            self._save(items)
            return request

    def withdraw(self, agent: str, request_id: str) -> RosterRequest:
        with self._locked():
            items = self.list()
            found = next((r for r in items if r.request_id == request_id and r.agent == agent), None)
            if found is None:
                raise RequestError(f"agent {agent} has no request {request_id!r}")
            self._save([r for r in items if r is not found])
            return found


def by_time(tz: tzinfo) -> str:
    return datetime.now(tz).isoformat(timespec="seconds")


def merge_into_agents(agents_csv: bytes, requests: list[RosterRequest]) -> bytes:
    """agents.csv with the requests added: rest → `rest_requests`, leave → `unavailable` (columns added if missing)."""
    text = agents_csv.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or [])
    rows = list(reader)
    for column in ("unavailable", "rest_requests"):
        if column not in header:
            header.append(column)
    by_agent: dict[str, dict[str, list[str]]] = {}
    for r in requests:
        by_agent.setdefault(r.agent, {"rest": [], "leave": []})[r.kind].append(r.day)
    for row in rows:
        asked = by_agent.get((row.get("agent_id") or "").strip())
        if not asked:
            continue
        for column, kind in (("unavailable", "leave"), ("rest_requests", "rest")):
            have = [d for d in (row.get(column) or "").split(";") if d.strip()]
            row[column] = ";".join(sorted(set(have) | set(asked[kind])))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) or "" for k in header})
    return out.getvalue().encode("utf-8")


def outcomes(requests: list[RosterRequest], roster_csv: str | Path) -> list[dict]:
    """Per request: honoured (the agent is off that day) or why not, from the roster's lines."""
    with open(roster_csv, encoding="utf-8", newline="") as handle:
        cells = {(r["agent_id"], r["date"]): r["shift"] for r in csv.DictReader(handle)}
    agents = {a for a, _ in cells}
    asked = Counter(r.day for r in requests if r.kind == "rest")
    granted = Counter(r.day for r in requests if r.kind == "rest" and cells.get((r.agent, r.day)) == "OFF")
    off = Counter(d for (_, d), shift in cells.items() if shift == "OFF")
    result = []
    for r in sorted(requests, key=lambda r: (r.day, r.agent)):
        shift = cells.get((r.agent, r.day))
        honoured = shift == "OFF"
        if honoured:
            why = "off that day as asked"
        elif r.agent not in agents:
            why = f"agent {r.agent} is not on this roster"
        elif shift is None:
            why = f"{r.day} is not in this roster"
        elif r.kind == "leave":
            why = "the roster was built before this leave was asked for; solve the month again"
        else:
            why = (f"working ({shift}): {asked[r.day]} asked to rest on {r.day} and {granted[r.day]} could be granted; "
                   f"{off[r.day]} agents are off that day and the cover needed the rest (rest requests are wishes, R3)")
        result.append({**asdict(r), "honoured": honoured, "why": why})
    return result
