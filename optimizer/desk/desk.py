"""The scheduler's desk: every roster operation the API offers, over the folders on disk.

One object per server (`RosterDesk(config, jobs_dir, roster_dir, sample_dir)`):
demand preview and what-if (optimizer.demand), solver runs (optimizer.desk.jobs),
versions with the publish gate, diff, downloads and one-cell edits
(optimizer.roster.versions, optimizer.publish.gate, optimizer.roster.edit),
swaps (R7) and the agents' requests (optimizer.roster.requests). Everything
returned is plain JSON-able data; errors are DeskError (a ValueError whose
message is a plain sentence) with an HTTP-like `status`.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import shutil
import tempfile
import threading
import tomllib
import zipfile
from calendar import monthrange
from collections import OrderedDict
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
SOURCES = ("sample", "sample-forecast", "upload")
FORMATS = ("csv", "xlsx", "ics", "html")


class DeskError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_month(month: str) -> str:
    month = (month or "").strip()
    if not MONTH_RE.match(month):
        raise DeskError(f"the month {month!r} is not a month; write it as YYYY-MM, e.g. 2027-01")
    return month


def _b64(text: str | None) -> bytes | None:
    if not text:
        return None
    _, _, data = text.partition(",") if text.startswith("data:") else ("", "", text)
    try:
        return base64.b64decode(data, validate=False)
    except ValueError:
        raise DeskError("an uploaded file could not be read (not base64)") from None


class RosterDesk:
    def __init__(self, config, jobs_dir: str | Path, roster_dir: str | Path, sample_dir: str | Path | None = None) -> None:
        self.config = config
        self.jobs_dir = Path(jobs_dir)
        self.roster_dir = Path(roster_dir)
        self.sample_dir = Path(sample_dir) if sample_dir else None
        self._forecasts: OrderedDict[tuple[str, str], pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    # ── inputs and demand ─────────────────────────────────────────────────────
    def sample_share(self) -> float | None:
        """The sample floor's share of the bank history (sample_data/history/bank_floor.toml)."""
        if self.sample_dir is None:
            return None
        path = self.sample_dir / "history" / "bank_floor.toml"
        try:
            return float(tomllib.loads(path.read_text(encoding="utf-8"))["forecast"]["volume_scale"])
        except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError):
            return None

    def sources(self) -> dict:
        sample = self.sample_dir
        return {
            "sample": bool(sample and (sample / "roster" / "agents.csv").exists()),
            "sample-forecast": bool(sample and (sample / "history" / "bank_calls.csv").exists()),
            "sample_share": self.sample_share(),
            "floor_share": self.config.forecast.volume_scale,
        }

    def inputs(self, source: str, agents: str | None, demand: str | None, history: str | None) -> dict:
        """{agents, demand, history} bytes for a source; uploads arrive base64 (data URLs accepted)."""
        if source not in SOURCES:
            raise DeskError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
        if source in ("sample", "sample-forecast"):
            if self.sample_dir is None:
                raise DeskError("this server has no sample data", 404)
            out = {"agents": (self.sample_dir / "roster" / "agents.csv").read_bytes(), "demand": None, "history": None}
            if source == "sample":
                out["demand"] = (self.sample_dir / "roster" / "demand.csv").read_bytes()
            else:
                out["history"] = (self.sample_dir / "history" / "bank_calls.csv").read_bytes()
            return out
        out = {"agents": _b64(agents), "demand": _b64(demand), "history": _b64(history)}
        if out["agents"] is None:
            raise DeskError("agents.csv is missing 缺少座席名单")
        if out["demand"] is None and out["history"] is None:
            raise DeskError("give demand.csv or a call history for the forecast")
        return out

    def _forecast(self, history: bytes, month: str) -> pd.DataFrame:
        from optimizer.demand import forecast_for

        key = (hashlib.sha256(history).hexdigest(), month)
        with self._lock:
            if key in self._forecasts:
                self._forecasts.move_to_end(key)
                return self._forecasts[key]
        with tempfile.TemporaryDirectory(prefix="wfm-history-") as tmp:
            path = Path(tmp) / "history.csv"
            path.write_bytes(history)
            try:
                frame = forecast_for(path, month, self.config).frame
            except ValueError as exc:
                raise DeskError(f"call history: {str(exc).replace(str(path), 'history.csv')}") from None
        with self._lock:
            self._forecasts[key] = frame
            while len(self._forecasts) > 4:
                self._forecasts.popitem(last=False)
        return frame

    @staticmethod
    def _headcount(agents: bytes) -> int:
        lines = [ln for ln in agents.decode("utf-8-sig").splitlines()[1:] if ln.strip()]
        return len(lines)

    def demand(self, month: str, inputs: dict, params, headcount: int | None = None) -> dict:
        """The month's demand in the floor's terms and how it compares with the headcount (before solving).

        Returns {share, params, capacity, dropped_calls, dropped_intervals, demand_csv, forecast_csv}
        (the two CSVs as text; forecast_csv only when the demand came from a forecast).
        """
        from optimizer.demand import DEMAND_HEADER, floor_capacity, size_forecast

        month = check_month(month)
        heads = headcount or self._headcount(inputs["agents"])
        days = monthrange(int(month[:4]), int(month[5:]))[1]
        forecast_csv = None
        if inputs.get("demand") is not None:
            try:
                demand = pd.read_csv(io.BytesIO(inputs["demand"]), dtype={"date": str, "interval_start": str})
                demand = demand.loc[:, list(DEMAND_HEADER)]
            except (ValueError, KeyError) as exc:
                raise DeskError(f"demand.csv: {exc}".splitlines()[0]) from None
            share, dropped_calls, dropped_intervals = None, 0.0, 0
        else:
            try:
                sized = size_forecast(self._forecast(inputs["history"], month), params, self.config)
            except ValueError as exc:
                raise DeskError(str(exc)) from None
            demand, share = sized.demand, sized.share
            dropped_calls, dropped_intervals = sized.dropped_calls, sized.dropped_intervals
            forecast_csv = demand.loc[:, ["date", "interval_start", "calls", "aht_s"]].to_csv(index=False)
        capacity = floor_capacity(demand, heads, self.config, days)
        buffer = io.StringIO()
        demand.loc[:, list(DEMAND_HEADER)].to_csv(buffer, index=False, lineterminator="\n")
        by_interval = demand.groupby("interval_start")["required"].agg(["mean", "max"]).reset_index()
        return {
            "month": month, "share": share, "params": params.to_dict(), "capacity": capacity.to_dict(),
            "dropped_calls": round(dropped_calls, 1), "dropped_intervals": dropped_intervals,
            "by_interval": [{"interval_start": r.interval_start, "required_mean": round(float(r["mean"]), 1),
                             "required_peak": int(r["max"])} for _, r in by_interval.iterrows()],
            "demand_csv": buffer.getvalue(), "forecast_csv": forecast_csv,
        }

    def what_if(self, month: str, inputs: dict, params, variants: list) -> dict:
        from optimizer.demand import what_if

        month = check_month(month)
        if inputs.get("history") is None:
            raise DeskError("what-if needs a call history (it re-sizes the forecast); this source has demand.csv only")
        if not 1 <= len(variants) <= 3:
            raise DeskError("give one to three variants")
        days = monthrange(int(month[:4]), int(month[5:]))[1]
        try:
            rows = what_if(self._forecast(inputs["history"], month), params, variants,
                           self._headcount(inputs["agents"]), self.config, days)
        except ValueError as exc:
            raise DeskError(str(exc)) from None
        return {"month": month, "variants": rows}

    # ── solver runs ───────────────────────────────────────────────────────────
    def start(self, month: str, inputs: dict, params, time_limit: float, seed: int, accept_unmet: bool,
              by: str) -> dict:
        """Size the demand, refuse (409) when it exceeds the floor unless accepted, merge requests, start a run."""
        from optimizer.desk import jobs
        from optimizer.roster.requests import merge_into_agents

        sized = self.demand(month, inputs, params)
        capacity = sized["capacity"]
        if capacity["over"] and not accept_unmet:
            raise DeskError(capacity["message"], 409)
        requests = self.requests(month).list()
        agents = merge_into_agents(inputs["agents"], requests) if requests else inputs["agents"]
        try:
            job_id = jobs.start_job(self.config, self.jobs_dir, month=sized["month"], agents_csv=agents,
                                    demand_csv=sized["demand_csv"].encode("utf-8"), history_csv=None,
                                    time_limit=time_limit, seed=seed,
                                    forecast_csv=sized["forecast_csv"].encode("utf-8") if sized["forecast_csv"] else None,
                                    extra={"by": by, "capacity": capacity, "share": sized["share"],
                                           "params": sized["params"], "requests": len(requests)})
        except jobs.JobError as exc:
            raise DeskError(str(exc), 409 if "still solving" in str(exc) else 400) from None
        return {"job_id": job_id, "capacity": capacity, "share": sized["share"], "requests": len(requests)}

    def job(self, job_id: str) -> dict:
        from optimizer.desk import jobs

        try:
            status = jobs.job_status(self.jobs_dir, job_id)
        except jobs.JobError as exc:
            raise DeskError(str(exc), 404) from None
        last = status.progress[-1] if status.progress else {}
        return {"job_id": status.job_id, "state": status.state, "month": status.month, "error": status.error,
                "progress": status.progress, "elapsed_s": last.get("elapsed_s", 0), "gap": last.get("gap"),
                "result": status.result, "files": list(status.files)}

    # ── versions ──────────────────────────────────────────────────────────────
    def versions(self, month: str):
        from optimizer.roster.versions import RosterVersions

        return RosterVersions(self.roster_dir / check_month(month), tz=self.config.floor.tz)

    def list_versions(self, month: str) -> list[dict]:
        return [self._info(v) for v in reversed(self.versions(month).list())]

    @staticmethod
    def _info(info) -> dict:
        data = asdict(info)
        data["published_by"] = info.extra.get("published_by")
        data["reason"] = info.extra.get("reason")
        return data

    def _version(self, month: str, version: int):
        from optimizer.roster.versions import VersionError

        versions = self.versions(month)
        try:
            return versions, versions.get(version)
        except VersionError as exc:
            raise DeskError(f"{month} has no version {version}", 404) from exc

    def record(self, month: str, job_id: str, by: str, note: str) -> dict:
        """A finished run's roster as the month's next version (a draft)."""
        from optimizer.desk import jobs

        job = self.job(job_id)
        if job["state"] != "done":
            raise DeskError(f"run {job_id} is {job['state']}; only a finished run can be saved", 409)
        if job["month"] != month:
            raise DeskError(f"run {job_id} is for {job['month']}, not {month}")
        run = jobs.job_dir(self.jobs_dir, job_id)
        versions = self.versions(month)
        with self._lock:  # a run is saved once, however often the page asks
            meta = json.loads((run / "job.json").read_text(encoding="utf-8"))
            if meta.get("version"):
                return self._info(versions.get(meta["version"]))
            info = versions.record_new(run / "roster.csv", author=by, note=(note or f"run {job_id}").strip(),
                                       inputs={"agents": str(run / "agents.csv"), "demand": str(run / "demand.csv")})
            if (run / "forecast.csv").exists():
                shutil.copyfile(run / "forecast.csv", versions.dir / f"v{info.version:04d}" / "forecast.csv")
            meta["version"] = info.version
            tmp = run / "job.json.tmp"
            tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
            tmp.replace(run / "job.json")
        return self._info(info)

    def gate(self, month: str, version: int) -> dict:
        from optimizer.publish.gate import publish_gate

        versions, _info = self._version(month, version)
        return publish_gate(versions.path(version), self.config, versions.input_path("agents", version),
                            versions.input_path("demand", version), today=datetime.now(self.config.floor.tz).date())

    def publish(self, month: str, version: int, by: str, reason: str, confirm: bool) -> dict:
        """Publish a version (a draft is approved first; an old one is re-published as a new version)."""
        from optimizer.roster.versions import VersionError

        versions, info = self._version(month, version)
        gate = self.gate(month, version)
        rules = self.config.roster
        holidays = tuple(date.fromisoformat(d) for d in rules.holidays)
        if info.status == "published":
            raise DeskError(f"version {version} is already published (since {info.published_at})", 409)
        try:
            if info.status == "withdrawn":
                done = versions.republish(version, by=by, reason=reason, gate=gate, confirm=confirm,
                                          holidays=holidays, days_ahead=rules.holiday_publish_days_ahead)
                source = versions.dir / f"v{version:04d}" / "forecast.csv"
                if source.exists():
                    shutil.copyfile(source, versions.dir / f"v{done.version:04d}" / "forecast.csv")
            else:
                if gate.get("needs_confirmation") and not (confirm and (reason or "").strip()):
                    raise VersionError(f"version {version} has {gate['headline']}: confirm and give a reason "
                                       "to publish it anyway")
                if info.status == "draft":
                    versions.approve(version, by=by)
                done = versions.publish(version, by=by, reason=reason, gate=gate, confirm=confirm,
                                        holidays=holidays, days_ahead=rules.holiday_publish_days_ahead)
        except VersionError as exc:
            raise DeskError(str(exc), 409) from None
        log.info("roster %s version %d published by %s: %s", month, done.version, by, reason or "-")
        return {"version": self._info(done), "gate": gate}

    def diff(self, month: str, version: int) -> dict:
        versions, info = self._version(month, version)
        return {"version": version, "replaces": info.replaces, "changes": versions.diff(version)}

    def view(self, month: str, version: int) -> dict:
        """Everything the grid shows for one version (see optimizer.roster.grid)."""
        from optimizer.roster.grid import version_view

        versions, info = self._version(month, version)
        folder = versions.dir / f"v{version:04d}"
        requests = self.requests(month).list()
        data = version_view(versions.path(version), self.config, versions.input_path("agents", version),
                            versions.input_path("demand", version),
                            folder / "forecast.csv" if (folder / "forecast.csv").exists() else None, requests)
        data["info"] = self._info(info)
        return data

    def file(self, month: str, version: int, fmt: str) -> tuple[bytes, str]:
        """(bytes, file name) of one download of a version: csv, xlsx, ics (zip) or html."""
        if fmt not in FORMATS:
            raise DeskError(f"no download {fmt!r}; one of {', '.join(FORMATS)}", 404)
        versions, _info = self._version(month, version)
        stem = f"roster-{month}-v{version}"
        if fmt == "csv":
            return versions.path(version).read_bytes(), f"{stem}.csv"
        out = self._render(versions, month, version)
        if fmt == "xlsx":
            return (out / f"roster-{month}.xlsx").read_bytes(), f"{stem}.xlsx"
        if fmt == "html":
            return (out / f"roster-{month}.html").read_bytes(), f"{stem}.html"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in sorted((out / "ics").glob("*.ics")):
                archive.write(item, f"{stem}-ics/{item.name}")
        return buffer.getvalue(), f"{stem}-ics.zip"

    def _render(self, versions, month: str, version: int) -> Path:
        """The version's XLSX, ICS and HTML (written once, under versions/vNNNN/publish/)."""
        from optimizer.checker import check_files
        from optimizer.publish import publish
        from optimizer.roster.io import load_problem, read_roster_csv, shifts_from_config
        from optimizer.roster.solve import evaluate

        out = versions.dir / f"v{version:04d}" / "publish"
        if (out / "report.json").exists():
            return out
        agents, demand = versions.input_path("agents", version), versions.input_path("demand", version)
        if agents is None or demand is None:
            raise DeskError(f"version {version} was stored without its agents and demand; only its CSV can be "
                            "downloaded", 404)
        shifts = shifts_from_config(self.config.roster, self.config.floor)
        assignments = read_roster_csv(versions.path(version), shifts)
        problem = load_problem(self.config, month, agents, demand)
        check = check_files(versions.path(version), self.config, agents, demand)
        with tempfile.TemporaryDirectory(prefix="wfm-render-", dir=versions.dir) as tmp:
            publish(problem, assignments, tmp, self.config, result=evaluate(problem, assignments), check=check,
                    version=str(version))
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(tmp, out)
        return out

    def edit(self, month: str, version: int, edit, by: str) -> dict:
        """One cell changed: the checker's answer, and the result saved as a new draft version."""
        from optimizer.checker import check_files
        from optimizer.roster.edit import CellEditError, edit_cell
        from optimizer.roster.versions import VersionError

        versions, info = self._version(month, version)
        current = versions.current()
        if current is not None and current.version != version:
            raise DeskError(f"version {version} is {info.status}; edit the current version {current.version} "
                            f"(or publish version {version} again first)", 409)
        agents, demand = versions.input_path("agents", version), versions.input_path("demand", version)
        with tempfile.TemporaryDirectory(prefix="wfm-edit-") as tmp:
            candidate = Path(tmp) / "roster.csv"
            try:
                change = edit_cell(versions.path(version), candidate, edit, self.config)
            except CellEditError as exc:
                raise DeskError(str(exc)) from None
            before = check_files(versions.path(version), self.config, agents, demand)
            after = check_files(candidate, self.config, agents, demand)
            known = {(v.rule, v.agent, v.day) for v in before.violations}
            new = [asdict(v) for v in after.violations if (v.rule, v.agent, v.day) not in known]
            try:
                info = versions.record_new(candidate, author=by, note=f"edit: {change}", based_on=version,
                                           inputs={k: str(p) for k, p in (("agents", agents), ("demand", demand)) if p})
            except VersionError as exc:
                raise DeskError(str(exc), 409) from None
        source = versions.dir / f"v{version:04d}" / "forecast.csv"
        if source.exists():
            shutil.copyfile(source, versions.dir / f"v{info.version:04d}" / "forecast.csv")
        return {"version": self._info(info), "change": change,
                "checker": {"hard_violations": after.hard_violations, "new_violations": new,
                            "unmet_before": before.unmet_agent_intervals, "unmet_after": after.unmet_agent_intervals,
                            "ok": not new}}

    def swap(self, month: str, agent_a: str, agent_b: str, day: str, day2: str | None, by: str) -> dict:
        from optimizer.roster import SwapRequest, apply_swap
        from optimizer.roster.edit import CellEditError, parse_day

        month = check_month(month)
        if not (agent_a and agent_b and day):
            raise DeskError("agent A, agent B and the day are required 必填")
        try:
            first = parse_day(day, "day")
            second = parse_day(day2, "second day") if (day2 or "").strip() else None
        except CellEditError as exc:
            raise DeskError(str(exc)) from None
        for when in (first, second):
            if when is not None and f"{when:%Y-%m}" != month:
                raise DeskError(f"{when} is not in {month}")
        current = self.versions(month).current()
        if current is not None and current.status != "published":
            # apply_swap publishes its result: on a draft that would publish the draft past the gate
            raise DeskError(f"swaps change the published roster; version {current.version} is a {current.status} — "
                            "publish or replace it first", 409)
        request = SwapRequest(agent_a=agent_a.strip(), agent_b=agent_b.strip(), day=first, approved_by=by, day2=second)
        try:
            outcome = apply_swap(self.roster_dir / month, request, self.config)
        except FileNotFoundError:
            raise DeskError(f"{month} has no roster yet; solve and publish one first", 404) from None
        except ValueError as exc:
            raise DeskError(str(exc)) from None
        return outcome.to_dict()

    # ── agents' requests ──────────────────────────────────────────────────────
    def requests(self, month: str):
        from optimizer.roster.requests import RequestBook

        month = check_month(month)
        return RequestBook(self.roster_dir / month, month, self.config.floor.tz)

    def swapped_days(self, month: str, agent: str) -> frozenset[str]:
        days: set[str] = set()
        for info in self.versions(month).list():
            swap = info.swap or {}
            if agent in (swap.get("a"), swap.get("b")):
                days.update(swap.get("days", ()))
        return frozenset(days)

    def submit_request(self, month: str, agent: str, kind: str, day: str, note: str, by: str) -> dict:
        from optimizer.roster.requests import RequestError

        try:
            request = self.requests(month).submit(agent, kind, day, by, self.config, note=note,
                                                  swapped_days=self.swapped_days(month, agent))
        except RequestError as exc:
            raise DeskError(str(exc), 422) from None
        return asdict(request)

    def withdraw_request(self, month: str, agent: str, request_id: str) -> dict:
        from optimizer.roster.requests import RequestError

        try:
            return asdict(self.requests(month).withdraw(agent, request_id))
        except RequestError as exc:
            raise DeskError(str(exc), 404) from None

    def list_requests(self, month: str, agent: str | None = None) -> list[dict]:
        """Requests, with their outcome against the month's latest version when there is one."""
        from optimizer.roster.requests import outcomes

        items = self.requests(month).list(agent)
        current = self.versions(month).current()
        if current is None:
            return [{**asdict(r), "honoured": None, "why": "no roster yet"} for r in items]
        return outcomes(items, self.versions(month).path(current.version))


def dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)
