"""Roster versions on disk (R6): every change is a new version with a diff; old ones are kept, marked withdrawn.

Layout under the roster folder:

    roster.csv                  the current (latest) roster
    versions/index.json         every version: number, status, author, times, note, swap
    versions/v0001/roster.csv   each version's full roster, never rewritten
    versions/v0002/diff.json    what changed against the version it replaced
    versions/inputs/            agents.csv, demand.csv, previous.csv the latest roster was built from
    versions/v0002/agents.csv   ... and a copy of the inputs each version was built from (for its downloads)

Status: draft → approved → published. A new draft withdraws the unpublished versions at once;
the published roster stays in force until a newer version is published, which withdraws it.
Publishing records who and why (`reason`); a roster with unmet demand or rule warnings is
published only with `confirm=True` and a reason (the gate itself is optimizer/publish/gate.py).
An old version is re-published as a new version with the same lines (`republish`).
Times are ISO 8601 in the floor's zone (`tz`, default Asia/Shanghai).
"""
from __future__ import annotations

import builtins
import csv
import fcntl
import json
import os
import shutil
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
import logging
from datetime import date, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

STATUSES = ("draft", "approved", "published", "withdrawn")


class VersionError(ValueError):
    """A version operation was refused (unknown version, wrong status)."""


@dataclass(frozen=True, slots=True)
class Change:
    agent_id: str
    date: str
    before: str
    after: str


@dataclass(slots=True)
class VersionInfo:
    version: int
    status: str
    created: str
    author: str
    note: str = ""
    replaces: int | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    published_at: str | None = None
    withdrawn_at: str | None = None
    changes: int = 0
    swap: dict | None = None
    extra: dict = field(default_factory=dict)


DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


def _now(tz: tzinfo = DEFAULT_TZ) -> str:
    return datetime.now(tz).isoformat(timespec="seconds")


def _cells(path: Path) -> dict[tuple[str, str], str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return {(r["agent_id"], r["date"]): "|".join((r["shift"], r["start"], r["end"], r["meal_start"])) for r in csv.DictReader(fh)}


def diff_rosters(old: Path, new: Path) -> list[Change]:
    """Lines (agent, date) whose shift, times or meal differ between two roster.csv files."""
    before, after = _cells(old), _cells(new)
    changes = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes.append(Change(agent_id=key[0], date=key[1], before=before.get(key, ""), after=after.get(key, "")))
    return changes


class RosterVersions:
    """The versions of one roster folder; safe against concurrent writers (file lock)."""

    def __init__(self, roster_dir: str | Path, tz: tzinfo = DEFAULT_TZ) -> None:
        self.root = Path(roster_dir)
        self.dir = self.root / "versions"
        self.tz = tz

    def _stamp(self) -> str:
        return _now(self.tz)

    @contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> list[VersionInfo]:
        path = self.dir / "index.json"
        if not path.exists():
            return []
        data = json.loads(path.read_text(encoding="utf-8"))
        return [VersionInfo(**item) for item in data["versions"]]

    def _save(self, versions: list[VersionInfo]) -> None:
        tmp = self.dir / "index.json.tmp"
        tmp.write_text(json.dumps({"versions": [asdict(v) for v in versions]}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.dir / "index.json")

    def list(self) -> list[VersionInfo]:
        return self._load()

    def current(self) -> VersionInfo | None:
        live = [v for v in self._load() if v.status != "withdrawn"]
        return live[-1] if live else None

    def path(self, version: int) -> Path:
        return self.dir / f"v{version:04d}" / "roster.csv"

    def folder(self, version: int) -> Path:
        """The folder of one version (its roster.csv, diff.json, inputs and rendered files)."""
        self.get(version)
        return self.dir / f"v{version:04d}"

    def get(self, version: int) -> VersionInfo:
        return self._find(self._load(), version)

    def input_path(self, name: str, version: int | None = None) -> Path | None:
        """An input (agents, demand, previous) of `version`, else the latest one recorded."""
        if version is not None:
            own = self.dir / f"v{version:04d}" / f"{name}.csv"
            if own.exists():
                return own
        path = self.dir / "inputs" / f"{name}.csv"
        return path if path.exists() else None

    def diff(self, version: int) -> builtins.list[dict]:
        path = self.dir / f"v{version:04d}" / "diff.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []

    def record_new(self, roster_csv: str | Path, author: str, note: str = "", inputs: Mapping[str, str | None] | None = None,
                   swap: dict | None = None, status: str = "draft", based_on: int | None = None) -> VersionInfo:
        """Store roster_csv as the next version (with its diff); the version it replaces is marked withdrawn.

        `based_on`: the version the change was made from; if another version was recorded meanwhile,
        VersionError is raised and nothing is stored (no edit is silently lost).
        """
        if status not in STATUSES:
            raise VersionError(f"unknown status {status!r}")
        with self._locked():
            versions = self._load()
            live = next((v for v in reversed(versions) if v.status != "withdrawn"), None)
            if based_on is not None and (live is None or live.version != based_on):
                raise VersionError(f"the roster changed meanwhile (now version {live.version if live else '-'}, "
                                   f"this change was made on version {based_on}); try again")
            number = (versions[-1].version + 1) if versions else 1
            folder = self.dir / f"v{number:04d}"
            folder.mkdir(parents=True, exist_ok=False)
            shutil.copyfile(roster_csv, folder / "roster.csv")
            previous = next((v for v in reversed(versions) if v.status != "withdrawn"), None)
            changes: list[Change] = []
            if previous is not None:
                changes = diff_rosters(self.path(previous.version), folder / "roster.csv")
            # a new draft replaces unpublished versions at once; the published roster stays in force until its successor is published
            for older in versions:
                if older.status != "withdrawn" and (status == "published" or older.status != "published"):
                    older.status, older.withdrawn_at = "withdrawn", self._stamp()
            (folder / "diff.json").write_text(json.dumps([asdict(c) for c in changes], ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            for name, source in (inputs or {}).items():
                if source:
                    (self.dir / "inputs").mkdir(exist_ok=True)
                    shutil.copyfile(source, self.dir / "inputs" / f"{name}.csv")
            for name in ("agents", "demand", "previous"):  # each version keeps the inputs it was built from
                kept = (inputs or {}).get(name) or (self.input_path(name, previous.version) if previous else None)
                if kept and Path(kept).exists():
                    shutil.copyfile(kept, folder / f"{name}.csv")
            info = VersionInfo(version=number, status=status, created=self._stamp(), author=author, note=note,
                               replaces=previous.version if previous else None, changes=len(changes), swap=swap)
            if status in ("approved", "published"):
                info.approved_by, info.approved_at = author, info.created
            if status == "published":
                info.published_at = info.created
            versions.append(info)
            self._save(versions)
            if roster_csv != self.root / "roster.csv":
                shutil.copyfile(folder / "roster.csv", self.root / "roster.csv")
            return info

    def approve(self, version: int, by: str) -> VersionInfo:
        with self._locked():
            versions = self._load()
            info = self._find(versions, version)
            if info.status != "draft":
                raise VersionError(f"version {version} is {info.status}, only a draft can be approved")
            info.status, info.approved_by, info.approved_at = "approved", by, self._stamp()
            self._save(versions)
            return info

    def publish(self, version: int, by: str, holidays: tuple[date, ...] = (), days_ahead: int = 0,
                today: date | None = None, reason: str = "", gate: dict | None = None,
                confirm: bool = False) -> VersionInfo:
        """Publish an approved version to everyone (R6): it becomes roster.csv.

        `gate` is the publish check (optimizer/publish/gate.py): when it has
        findings (unmet demand, rule warnings) the version is published only with
        `confirm=True` and a non-empty `reason`, both recorded with who published.
        A roster covering a holiday published fewer than `days_ahead` days before it is still
        published (withholding it helps nobody) but marked `late_for_holiday` and logged.
        """
        reason = (reason or "").strip()
        if gate and gate.get("needs_confirmation") and not (confirm and reason):
            raise VersionError(f"version {version} has {gate.get('headline', 'findings')}: confirm and give a reason "
                               "to publish it anyway")
        with self._locked():
            versions = self._load()
            info = self._find(versions, version)
            if info.status != "approved":
                raise VersionError(f"version {version} is {info.status}; approve it before publishing")
            info.status, info.published_at = "published", self._stamp()
            info.extra["published_by"] = by
            if reason:
                info.extra["reason"] = reason
            if gate:
                info.extra["gate"] = {k: gate[k] for k in ("headline", "unmet_agent_intervals", "hard_violations",
                                                           "spreads", "needs_confirmation") if k in gate}
            for older in versions:
                if older is not info and older.status != "withdrawn":
                    older.status, older.withdrawn_at = "withdrawn", info.published_at
            dates = {date.fromisoformat(d.split("|")[1]) for d in ("|".join(k) for k in _cells(self.path(version)))}
            today = today or datetime.now(self.tz).date()
            late = sorted(h for h in holidays if h in dates and (h - today).days < days_ahead)
            if late:
                info.extra["late_for_holiday"] = f"holiday {late[0]} published {(late[0] - today).days} day(s) ahead (R6: {days_ahead})"
                log.warning("roster version %d: %s", version, info.extra["late_for_holiday"])
            self._save(versions)
            shutil.copyfile(self.path(version), self.root / "roster.csv")
            return info

    def republish(self, version: int, by: str, reason: str = "", gate: dict | None = None, confirm: bool = False,
                  holidays: tuple[date, ...] = (), days_ahead: int = 0) -> VersionInfo:
        """Publish an old version again: its lines become a new version (approved, then published)."""
        old = self.get(version)
        if gate and gate.get("needs_confirmation") and not (confirm and (reason or "").strip()):
            raise VersionError(f"version {version} has {gate.get('headline', 'findings')}: confirm and give a reason "
                               "to publish it anyway")
        inputs = {name: str(p) for name in ("agents", "demand", "previous") if (p := self.input_path(name, version))}
        info = self.record_new(self.path(version), author=by, note=f"re-publish of version {version}: {reason}".strip(),
                               inputs=inputs, status="approved")
        info = self.publish(info.version, by=by, reason=reason or f"re-publish of version {old.version}", gate=gate,
                            confirm=confirm, holidays=holidays, days_ahead=days_ahead)
        return info

    @staticmethod
    def _find(versions: builtins.list[VersionInfo], version: int) -> VersionInfo:
        for info in versions:
            if info.version == version:
                return info
        raise VersionError(f"no version {version}")
