"""The scheduler's roster routes: demand and what-if, solver runs, versions (open, diff, download,
edit a cell, publish with a reason), swaps, and the agents' rest-day and leave requests.

Handlers translate HTTP to optimizer.desk.desk.RosterDesk (run in a worker
thread: reading rosters and the checker take a moment, the floor's loop must not
wait) and back. Access levels live in the route table (wfm/api/routes.py): roster
work is for schedulers and admins; an agent may read and submit only their own
requests. Uploads travel base64 in the JSON body (data URLs accepted), within
the app's body cap (`api.max_body_kib`, wfm/api/app.py body_cap).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from aiohttp import web

from wfm.api.bodies import json_response, read_body
from wfm.api.security import REQUEST_ACCOUNT, Access, ApiError, requires

if TYPE_CHECKING:  # imported where the desk is built: pandas and the solver load only then
    from optimizer.desk.desk import RosterDesk

logger = logging.getLogger(__name__)

ROSTER_DESK: web.AppKey[RosterDesk] = web.AppKey("wfm_roster_desk")  # set by create_app
AuditFn = Callable[[dict], Awaitable[None]]
ROSTER_AUDIT: web.AppKey[AuditFn] = web.AppKey("wfm_roster_audit")  # Runtime.audit, set by create_app

Month = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}$")]
Text = Annotated[str, msgspec.Meta(max_length=500)]


class Inputs(msgspec.Struct, frozen=True, kw_only=True):
    month: Month
    source: str = "sample"  # sample | sample-forecast | upload
    agents_csv: str | None = None  # base64 or a data: URL
    demand_csv: str | None = None
    history_csv: str | None = None
    floor_share: Annotated[float, msgspec.Meta(gt=0, le=1000)] | None = None
    target_peak: Annotated[int, msgspec.Meta(ge=1, le=100000)] | None = None
    aht_s: Annotated[float, msgspec.Meta(gt=0, le=7200)] | None = None
    shrinkage: Annotated[float, msgspec.Meta(ge=0, lt=1)] | None = None
    service_level: Annotated[float, msgspec.Meta(gt=0, lt=1)] | None = None
    answer_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] | None = None


class DemandBody(Inputs, frozen=True, kw_only=True):
    headcount: Annotated[int, msgspec.Meta(ge=1, le=100000)] | None = None


class VariantBody(msgspec.Struct, frozen=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    aht_s: Annotated[float, msgspec.Meta(gt=0, le=7200)] | None = None
    shrinkage: Annotated[float, msgspec.Meta(ge=0, lt=1)] | None = None
    headcount: Annotated[int, msgspec.Meta(ge=1, le=100000)] | None = None


class WhatIfBody(Inputs, frozen=True, kw_only=True):
    variants: Annotated[list[VariantBody], msgspec.Meta(min_length=1, max_length=3)]


class SolveBody(Inputs, frozen=True, kw_only=True):
    time_limit_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    seed: Annotated[int, msgspec.Meta(ge=0)] = 0
    accept_unmet: bool = False  # solve although peak demand exceeds what the floor can cover


class RecordBody(msgspec.Struct, frozen=True, kw_only=True):
    job_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    note: Text = ""


class PublishBody(msgspec.Struct, frozen=True, kw_only=True):
    reason: Text = ""
    confirm: bool = False


class CellBody(msgspec.Struct, frozen=True, kw_only=True):
    agent: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    date: Annotated[str, msgspec.Meta(max_length=20)]
    shift: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    meal_start: Annotated[str, msgspec.Meta(max_length=10)] | None = None


class SwapBody(msgspec.Struct, frozen=True, kw_only=True):
    agent_a: Annotated[str, msgspec.Meta(max_length=64)]
    agent_b: Annotated[str, msgspec.Meta(max_length=64)]
    day: Annotated[str, msgspec.Meta(max_length=20)]
    day2: Annotated[str, msgspec.Meta(max_length=20)] | None = None


class RequestBody(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # rest | leave
    date: Annotated[str, msgspec.Meta(max_length=20)]
    note: Text = ""


SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"


def roster_desk(config) -> RosterDesk:
    """The server's RosterDesk over dashboard.roster_jobs_dir and dashboard.roster_dir (sample_data when present)."""
    from optimizer.desk.desk import RosterDesk

    return RosterDesk(config, config.dashboard.roster_jobs_dir, config.dashboard.roster_dir,
                      SAMPLE_DIR if SAMPLE_DIR.is_dir() else None)




def _user(request: web.Request) -> str:
    account = request.get(REQUEST_ACCOUNT)
    return account.username if account is not None else "-"


async def _call(request: web.Request, method: str, *args, **kwargs) -> Any:
    from optimizer.desk.desk import DeskError

    desk = request.app.get(ROSTER_DESK)
    if desk is None:
        raise ApiError(503, "rosters unavailable", "this server was started without a roster folder")
    try:
        return await asyncio.to_thread(getattr(desk, method), *args, **kwargs)
    except DeskError as exc:
        raise ApiError(exc.status, "refused" if exc.status < 500 else "failed", str(exc)) from None


def _params(body: Inputs, desk: RosterDesk) -> Any:
    from optimizer.demand import DemandParams

    share = body.floor_share
    if share is None and body.source == "sample-forecast":
        share = desk.sample_share()
    try:
        return DemandParams.from_config(desk.config, floor_share=share, target_peak=body.target_peak, aht_s=body.aht_s,
                                        shrinkage=body.shrinkage, service_level=body.service_level,
                                        answer_s=body.answer_s)
    except ValueError as exc:
        raise ApiError(400, "invalid body", str(exc)) from None


async def _inputs(request: web.Request, body: Inputs):
    inputs = await _call(request, "inputs", body.source, body.agents_csv, body.demand_csv, body.history_csv)
    return inputs, _params(body, request.app[ROSTER_DESK])  # _call answered 503 if there is no desk


async def _audit(request: web.Request, body: dict) -> None:
    """Who did what to a roster, in the tamper-evident log (never fatal: Runtime.audit logs its own failure)."""
    audit = request.app.get(ROSTER_AUDIT)
    if audit is not None:
        await audit({"type": "roster", "user": _user(request), **body})


def _month(request: web.Request) -> str:
    return request.match_info["month"]


def _version(request: web.Request) -> int:
    text = request.match_info["version"]
    if not text.isdigit():
        raise ApiError(404, "not found", f"no version {text!r}")
    return int(text)


# ── handlers ─────────────────────────────────────────────────────────────────

@requires(Access.SCHEDULERS)
async def sources(request: web.Request) -> web.Response:
    """Which sample inputs this server has, and the default floor shares."""
    return json_response(await _call(request, "sources"))


@requires(Access.SCHEDULERS)
async def demand(request: web.Request) -> web.Response:
    """The month's demand in the floor's terms and how it compares with the headcount (before solving)."""
    body = await read_body(request, DemandBody)
    inputs, params = await _inputs(request, body)
    data = await _call(request, "demand", body.month, inputs, params, body.headcount)
    data.pop("demand_csv", None)
    data.pop("forecast_csv", None)
    return json_response(data)


@requires(Access.SCHEDULERS)
async def what_if(request: web.Request) -> web.Response:
    """Two or three variants (AHT, shrinkage, headcount) side by side: required agents and expected SL per interval."""
    from optimizer.demand import Variant

    body = await read_body(request, WhatIfBody)
    inputs, params = await _inputs(request, body)
    variants = [Variant(name=v.name, aht_s=v.aht_s, shrinkage=v.shrinkage, headcount=v.headcount) for v in body.variants]
    return json_response(await _call(request, "what_if", body.month, inputs, params, variants))


@requires(Access.SCHEDULERS)
async def start_job(request: web.Request) -> web.Response:
    """Start a solve; 409 with the numbers when peak demand exceeds the floor (unless accept_unmet)."""
    body = await read_body(request, SolveBody)
    inputs, params = await _inputs(request, body)
    data = await _call(request, "start", body.month, inputs, params, body.time_limit_s, body.seed,
                       body.accept_unmet, _user(request))
    logger.info("roster run %s started by %s", data["job_id"], _user(request))
    return json_response(data, status=202)


@requires(Access.SCHEDULERS)
async def job(request: web.Request) -> web.Response:
    """A run's state, progress (elapsed, objective, bound, gap) and result."""
    return json_response(await _call(request, "job", request.match_info["job"]))


@requires(Access.SCHEDULERS)
async def versions(request: web.Request) -> web.Response:
    """The month's versions, newest first, times in the floor's zone."""
    return json_response({"versions": await _call(request, "list_versions", _month(request))})


@requires(Access.SCHEDULERS)
async def record(request: web.Request) -> web.Response:
    """Save a finished run's roster as the month's next version (a draft)."""
    body = await read_body(request, RecordBody)
    return json_response(await _call(request, "record", _month(request), body.job_id, _user(request), body.note), status=201)


@requires(Access.SCHEDULERS)
async def version(request: web.Request) -> web.Response:
    """One version for the grid: cells, legend, per-agent and per-day totals, per-interval cover and SL."""
    return json_response(await _call(request, "view", _month(request), _version(request)))


@requires(Access.SCHEDULERS)
async def gate(request: web.Request) -> web.Response:
    """What publishing this version means: unmet demand, rule warnings, fairness spreads."""
    return json_response(await _call(request, "gate", _month(request), _version(request)))


@requires(Access.SCHEDULERS)
async def diff(request: web.Request) -> web.Response:
    """The cells this version changed against the one it replaced."""
    return json_response(await _call(request, "diff", _month(request), _version(request)))


_TYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          "ics": "application/zip", "html": "text/html"}


@requires(Access.SCHEDULERS)
async def version_file(request: web.Request) -> web.Response:
    """A download of the version: csv, xlsx, ics (a zip, one calendar per agent) or html."""
    fmt = request.match_info["fmt"]
    data, name = await _call(request, "file", _month(request), _version(request), fmt)
    return web.Response(body=data, content_type=_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@requires(Access.SCHEDULERS)
async def publish(request: web.Request) -> web.Response:
    """Publish a version (R6); with unmet demand or rule warnings only with confirm and a reason (409 otherwise)."""
    body = await read_body(request, PublishBody)
    data = await _call(request, "publish", _month(request), _version(request), _user(request), body.reason, body.confirm)
    gate = data["gate"]
    await _audit(request, {"action": "publish", "month": _month(request), "version": data["version"]["version"],
                           "from_version": _version(request), "reason": body.reason, "confirmed": body.confirm,
                           "unmet_agent_intervals": gate["unmet_agent_intervals"],
                           "hard_violations": gate["hard_violations"]})
    return json_response(data)


@requires(Access.SCHEDULERS)
async def edit_cell(request: web.Request) -> web.Response:
    """Change one cell (shift or meal); the checker's answer, saved as a new draft version."""
    from optimizer.roster.edit import CellEdit

    body = await read_body(request, CellBody)
    edit = CellEdit(agent_id=body.agent, day=body.date, shift=body.shift, meal_start=body.meal_start or None)
    data = await _call(request, "edit", _month(request), _version(request), edit, _user(request))
    await _audit(request, {"action": "edit", "month": _month(request), "version": data["version"]["version"],
                           "change": data["change"]})
    return json_response(data, status=201)


@requires(Access.SCHEDULERS)
async def swap(request: web.Request) -> web.Response:
    """Apply an agreed swap (R7) to the month's current roster, if the rules and the checker allow it."""
    body = await read_body(request, SwapBody)
    return json_response(await _call(request, "swap", _month(request), body.agent_a, body.agent_b, body.day, body.day2,
                             _user(request)))


@requires(Access.SCHEDULERS)
async def month_requests(request: web.Request) -> web.Response:
    """Every agent's rest-day and leave requests for the month, with whether the latest roster honours them."""
    return json_response({"requests": await _call(request, "list_requests", _month(request))})


@requires(Access.SELF_OR_SCHEDULERS)
async def agent_requests(request: web.Request) -> web.Response:
    """An agent's own requests for the month and their outcome."""
    return json_response({"requests": await _call(request, "list_requests", _month(request), request.match_info["agent"])})


@requires(Access.SELF_OR_SCHEDULERS)
async def submit_request(request: web.Request) -> web.Response:
    """Ask for a rest day or leave (limits: docs/floor-rules.md R3, R7); 422 says which limit."""
    body = await read_body(request, RequestBody)
    data = await _call(request, "submit_request", _month(request), request.match_info["agent"], body.kind, body.date,
                       body.note, _user(request))
    return json_response(data, status=201)


@requires(Access.SELF_OR_SCHEDULERS)
async def withdraw_request(request: web.Request) -> web.Response:
    """Withdraw one of the agent's requests."""
    return json_response(await _call(request, "withdraw_request", _month(request), request.match_info["agent"],
                             request.match_info["request_id"]))


M = "/api/roster/{month}"
V = M + "/versions/{version}"
R = "/api/agents/{agent}/roster-requests/{month}"

# (method, path, handler, request body, tag) — wfm/api/routes.py turns them into RouteSpecs
ROUTES: tuple[tuple[str, str, Any, type | None, str], ...] = (
    ("GET", "/api/roster/sources", sources, None, "roster"),
    ("POST", "/api/roster/demand", demand, DemandBody, "roster"),
    ("POST", "/api/roster/whatif", what_if, WhatIfBody, "roster"),
    ("POST", "/api/roster/jobs", start_job, SolveBody, "roster"),
    ("GET", "/api/roster/jobs/{job}", job, None, "roster"),
    ("GET", M + "/versions", versions, None, "roster"),
    ("POST", M + "/versions", record, RecordBody, "roster"),
    ("GET", V, version, None, "roster"),
    ("GET", V + "/gate", gate, None, "roster"),
    ("GET", V + "/diff", diff, None, "roster"),
    ("GET", V + "/files/{fmt}", version_file, None, "roster"),
    ("POST", V + "/publish", publish, PublishBody, "roster"),
    ("POST", V + "/cells", edit_cell, CellBody, "roster"),
    ("POST", M + "/swaps", swap, SwapBody, "roster"),
    ("GET", M + "/requests", month_requests, None, "roster"),
    ("GET", R, agent_requests, None, "agents"),
    ("POST", R, submit_request, RequestBody, "agents"),
    ("DELETE", R + "/{request_id}", withdraw_request, None, "agents"),
)
