"""Roster solver runs: each run is a folder on disk, solved in a background thread of the API server.

A run's inputs (agents.csv with the agents' requests merged in, demand.csv,
and forecast.csv when the demand came from a forecast), its live progress
(progress.jsonl, one line per improvement: elapsed, objective, bound, gap) and
its results (roster.csv, coverage.csv, fairness.csv, and publish/ with the
checker-verified report.json, XLSX, ICS and HTML from optimizer.publish) live in
`dashboard.roster_jobs_dir/<job id>/`. The API (wfm/api/roster_routes.py)
starts runs and reads `job_status`; the page polls that route. Only one solve
runs at a time (a `running` marker file): the CPU is shared with the floor.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

JOB_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$")


class JobError(ValueError):
    """A run could not start or be found; the message says why in one line."""


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    state: str  # running | done | failed
    month: str
    progress: list[dict] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    files: tuple[str, ...] = ()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def job_dir(jobs_dir: Path, job_id: str) -> Path:
    """The folder of a run; JobError for an id that is not one of ours (no path tricks)."""
    if not JOB_ID_RE.match(job_id or ""):
        raise JobError(f"unknown roster run {job_id!r}")
    path = Path(jobs_dir) / job_id
    if not path.is_dir():
        raise JobError(f"unknown roster run {job_id!r}")
    return path


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)


def _running(jobs_dir: Path) -> str | None:
    marker = Path(jobs_dir) / "running"
    if not marker.exists():
        return None
    job_id = marker.read_text(encoding="utf-8").strip()
    try:
        meta = json.loads((Path(jobs_dir) / job_id / "job.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker.unlink(missing_ok=True)
        return None
    if meta.get("state") != "running" or time.time() - meta.get("started_epoch", 0) > meta.get("time_limit", 60) + 600:
        marker.unlink(missing_ok=True)  # a run from a process that died
        return None
    return job_id


def start_job(config, jobs_dir: str | Path, *, month: str, agents_csv: bytes, demand_csv: bytes | None,
              history_csv: bytes | None, time_limit: float, seed: int, forecast_csv: bytes | None = None,
              extra: dict | None = None) -> str:
    """Save the inputs and start solving in a background thread; returns the run id."""
    jobs_dir = Path(jobs_dir)
    jobs_dir.mkdir(parents=True, exist_ok=True)
    busy = _running(jobs_dir)
    if busy:
        raise JobError(f"roster run {busy} is still solving; wait for it to finish")
    if not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", month or ""):
        raise JobError(f"month {month!r}: expected YYYY-MM")
    if demand_csv is None and history_csv is None:
        raise JobError("give demand.csv or a call history for the forecast")
    job_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    path = jobs_dir / job_id
    path.mkdir()
    (path / "agents.csv").write_bytes(agents_csv)
    if demand_csv is not None:
        (path / "demand.csv").write_bytes(demand_csv)
    if history_csv is not None:
        (path / "history.csv").write_bytes(history_csv)
    if forecast_csv is not None:
        (path / "forecast.csv").write_bytes(forecast_csv)
    _write_json(path / "job.json", {"job_id": job_id, "month": month, "state": "running", "started": _now(),
                                    "started_epoch": time.time(), "time_limit": time_limit, "seed": seed,
                                    **(extra or {})})
    (jobs_dir / "running").write_text(job_id, encoding="utf-8")
    worker = threading.Thread(target=_run, args=(config, jobs_dir, path, month, time_limit, seed),
                              name=f"roster-{job_id}", daemon=True)
    worker.start()
    return job_id


def _run(config, jobs_dir: Path, path: Path, month: str, time_limit: float, seed: int) -> None:
    meta = json.loads((path / "job.json").read_text(encoding="utf-8"))
    try:
        result = _solve(config, path, month, time_limit, seed)
        meta.update(state="done", finished=_now(), result=result)
    except Exception as exc:  # reported on the page in one line; the run folder keeps the inputs
        log.warning("roster run %s failed: %s", path.name, exc)
        meta.update(state="failed", finished=_now(), error=str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__)
    _write_json(path / "job.json", meta)
    marker = jobs_dir / "running"
    if marker.exists() and marker.read_text(encoding="utf-8").strip() == path.name:
        marker.unlink(missing_ok=True)


def _solve(config, path: Path, month: str, time_limit: float, seed: int) -> dict[str, Any]:
    from optimizer.roster import load_problem, solve
    from optimizer.roster.evaluate import on_post_counts
    from optimizer.roster.problem import min_to_hhmm
    from optimizer.roster.io import write_roster_csv

    demand_path = path / "demand.csv"
    if not demand_path.exists():
        from optimizer.demand import demand_from_history, write_demand_csv

        write_demand_csv(demand_path, demand_from_history(path / "history.csv", month, config))
    problem = load_problem(config, month, path / "agents.csv", demand_path)
    progress_file = path / "progress.jsonl"

    def on_progress(point) -> None:
        with progress_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"elapsed_s": point.elapsed_s, "objective": point.objective,
                                     "bound": point.bound, "gap": point.gap, "phase": point.phase}) + "\n")

    result = solve(problem, config, time_limit=time_limit, seed=seed, progress=on_progress, show_progress=False)
    if not result.assignments:
        why = "; ".join(result.explanation[:2]) if result.explanation else ""
        words = "no roster can keep every hard rule with these inputs" if result.status == "INFEASIBLE" else \
            f"no roster found within {_budget_words(config, time_limit)}; give the solver more time"
        raise ValueError(f"{words}{': ' + why if why else ''}")
    write_roster_csv(result.assignments, path / "roster.csv")
    counts = on_post_counts(problem, result.assignments)
    with (path / "coverage.csv").open("w", encoding="utf-8") as handle:
        handle.write("date,interval_start,required,on_post\n")
        for slot in problem.demand:
            on_post = counts.get((problem.day_index(slot.day), slot.start_min), 0)
            handle.write(f"{slot.day.isoformat()},{min_to_hhmm(slot.start_min)},{slot.required},{on_post}\n")
    evening = {s.name for s in problem.shifts if s.evening}
    tally: dict[str, list[int]] = {a.agent_id: [0, 0] for a in problem.agents}
    for item in result.assignments:
        if item.works:
            tally[item.agent_id][0] += item.shift in evening
            tally[item.agent_id][1] += problem.is_weekend(item.day)
    with (path / "fairness.csv").open("w", encoding="utf-8") as handle:
        handle.write("agent_id,evenings,weekends\n")
        for agent, (evenings, weekends) in tally.items():
            handle.write(f"{agent},{evenings},{weekends}\n")
    published = _publish_files(result, problem, config, path)
    summary = {
        "status": result.status, "objective": result.objective, "bound": result.bound, "gap": result.gap,
        "seconds": result.seconds, "unmet_agent_intervals": result.unmet_agent_intervals,
        "required_agent_intervals": sum(slot.required for slot in problem.demand),
        "agents": len(problem.agents),
        "fairness": result.fairness, "explanation": list(result.explanation), "files": published,
    }
    summary["summary"] = plain_summary(summary)
    return summary


def _budget_words(config, time_limit: float) -> str:
    """The search budget a run had, as its message names it: wall seconds, or deterministic ones when configured."""
    deterministic = config.roster.deterministic_time_s if config is not None else 0.0
    return f"{deterministic:g} deterministic s" if deterministic > 0 else f"{time_limit:g} s"


_STATUS_WORDS = {
    "OPTIMAL": "the best roster there is for these rules and this demand",
    "FEASIBLE": "a good roster, maybe not the best possible (the time limit ended the search)",
    "INFEASIBLE": "no roster can keep every hard rule with these inputs",
    "UNKNOWN": "no roster found within the time limit",
    "MODEL_INVALID": "the model was rejected (a bug: please report it)",
}


def plain_summary(result: dict) -> str:
    """The run's result in the scheduler's words (no objective values or bounds)."""
    status = result.get("status") or "UNKNOWN"
    words = _STATUS_WORDS.get(status, status.lower())
    unmet = result.get("unmet_agent_intervals")
    required = result.get("required_agent_intervals")
    parts = [f"{words[0].upper()}{words[1:]}."]
    if unmet is not None and required:
        if unmet == 0:
            parts.append("Every half hour of demand is covered.")
        else:
            parts.append(f"{unmet} of {required} agent-half-hours of demand ({unmet / required:.1%}) are not covered.")
    gap = result.get("gap")
    if gap is not None and status == "FEASIBLE" and gap < 0.5:  # a larger gap says more about the bound than the roster
        parts.append(f"It is within {gap:.0%} of the best possible.")
    seconds = result.get("seconds")
    if seconds is not None:
        parts.append(f"Solved in {seconds:.0f} s.")
    return " ".join(parts)


def _publish_files(result, problem, config, path: Path) -> list[str]:
    """roster.csv, report.json (with the independent checker's verdict), XLSX, ICS and HTML (optimizer.publish)."""
    from optimizer.checker import check_files
    from optimizer.publish import publish

    check = check_files(path / "roster.csv", config, path / "agents.csv", path / "demand.csv")
    out = path / "publish"
    publish(problem, result.assignments, out, config, result=result, check=check)
    return sorted(p.relative_to(path).as_posix() for p in out.rglob("*") if p.is_file())


def job_status(jobs_dir: str | Path, job_id: str) -> JobStatus:
    path = job_dir(Path(jobs_dir), job_id)
    meta = json.loads((path / "job.json").read_text(encoding="utf-8"))
    progress = []
    progress_file = path / "progress.jsonl"
    if progress_file.exists():
        for line in progress_file.read_text(encoding="utf-8").splitlines():
            try:
                progress.append(json.loads(line))
            except ValueError:
                continue  # a line being written right now
    files = tuple(sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()
                         and p.suffix in (".csv", ".xlsx", ".ics", ".json", ".html", ".zip")))
    return JobStatus(job_id=job_id, state=meta.get("state", "failed"), month=meta.get("month", ""), progress=progress,
                     result=meta.get("result") or {}, error=meta.get("error", ""), files=files)


def job_file(jobs_dir: str | Path, job_id: str, name: str) -> Path:
    """A result file of a run, refusing anything outside the run's folder."""
    path = job_dir(Path(jobs_dir), job_id)
    target = (path / name).resolve()
    if path.resolve() not in target.parents or not target.is_file():
        raise JobError(f"no file {name!r} in roster run {job_id}")
    return target


def bundle(jobs_dir: str | Path, job_id: str, suffix: str) -> bytes:
    """All files of one kind (e.g. every .ics) of a run as a zip."""
    import io
    import zipfile

    path = job_dir(Path(jobs_dir), job_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in sorted(path.rglob(f"*{suffix}")):
            archive.write(item, item.relative_to(path).as_posix())
    return buffer.getvalue()


def remove_job(jobs_dir: str | Path, job_id: str) -> None:
    shutil.rmtree(job_dir(Path(jobs_dir), job_id))
