"""HTTP handlers of the API and the table that registers them with their access level.

Handlers only translate HTTP to the Runtime and back: they validate the body
(msgspec), check the agent exists, submit a §1 event through the runtime's
single consumer and answer with the §2 records it caused.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime, timedelta
from typing import Annotated, Any
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from wfm.api import adherence, agent_roster, breakgate, reports, wallmeta, walltrend
from wfm.api.logwindow import LogWindow
from wfm.api import roster_routes  # the scheduler's routes, registered below
from wfm.api.bodies import json_response, read_body
from wfm.api.navigation import pages_for
from wfm.api.openapi import build_openapi
from wfm.api.ratelimit import SlidingWindowLimiter
from wfm.api.security import (
    COOKIE_NAME,
    REQUEST_ACCOUNT,
    REQUEST_SESSION,
    Access,
    ApiError,
    requires,
    same_origin,
)
from wfm.api.sessions import Session, SessionStore
from wfm.api.snapshot import FloorSnapshots
from wfm.api.ws import Hub
from wfm.auth import Account, Accounts
from wfm.config import Config
from wfm.decisions import BreakDecision
from wfm.enactment import ActionRecord, Outcome
from wfm.events import (
    BreakCancelEvent,
    BreakKind,
    BreakRequestEvent,
    OverrideAction,
    OverrideEvent,
)
from wfm.runtime import Runtime, RuntimeStopped
from wfm.timeutil import utcnow
from wfm.views import WallView

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RUNTIME = web.AppKey("wfm_runtime", Runtime)
CONFIG = web.AppKey("wfm_config", Config)
ACCOUNTS = web.AppKey("wfm_accounts", Accounts)
SESSIONS = web.AppKey("wfm_sessions", SessionStore)
LOGIN_LIMITER = web.AppKey("wfm_login_limiter", SlidingWindowLimiter)
ADDRESS_LIMITER = web.AppKey("wfm_address_limiter", SlidingWindowLimiter)
ADDRESS_LIMIT_FACTOR = 10  # one address may try this many times the per-user limit across user names
BREAK_LIMITER = web.AppKey("wfm_break_limiter", SlidingWindowLimiter)
HUB = web.AppKey("wfm_hub", Hub)
SNAPSHOTS = web.AppKey("wfm_floor_snapshots", FloorSnapshots)  # the one floor snapshot (wfm/api/snapshot.py)
# the day's log records the adherence and trend routes fold in as they are logged (wfm/api/logwindow.py)
ADHERENCE_WINDOW = web.AppKey("wfm_adherence_window", LogWindow)
TREND_WINDOW = web.AppKey("wfm_trend_window", LogWindow)


# ── request bodies ─────────────────────────────────────────────────────────

class LoginBody(msgspec.Struct, frozen=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class BreakBody(msgspec.Struct, frozen=True):
    kind: BreakKind
    minutes: Annotated[float, msgspec.Meta(gt=0, le=24 * 60)] | None = None
    queue: bool = False


class OverrideBody(msgspec.Struct, frozen=True):
    agent: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    action: OverrideAction
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""
    kind: BreakKind | None = None  # allow_break: 小休 (short) or 用餐 (meal)


# ── response shapes (for OpenAPI; handlers build the same keys) ────────────

class ErrorBody(msgspec.Struct):
    error: str
    detail: str


class LoginResult(msgspec.Struct):
    username: str
    role: str
    agent: str | None
    token: str
    csrf_token: str
    expires: str


class PageLink(msgspec.Struct):
    path: str
    title: str


class MeResult(msgspec.Struct):
    username: str
    role: str
    agent: str | None
    csrf_token: str
    expires: str
    pages: list[PageLink]  # the pages this role may open, in navigation order (wfm/api/navigation.py)


class BreakResult(msgspec.Struct):
    decision: BreakDecision
    queue_position: int | None
    outputs: list[dict]


class StepOutputs(msgspec.Struct):
    outputs: list[dict]




def _account(request: web.Request) -> Account:
    account = request.get(REQUEST_ACCOUNT)
    if account is None:  # the middleware guarantees it for non-public routes
        raise ApiError(401, "not logged in", "")
    return account


def _session(request: web.Request) -> Session:
    session = request.get(REQUEST_SESSION)
    if session is None:  # the middleware guarantees it for routes that need a session
        raise ApiError(401, "not logged in", "")
    return session


def _runtime(request: web.Request) -> Runtime:
    runtime = request.app[RUNTIME]
    if not runtime.running:
        raise ApiError(503, "floor not running", "the runtime is starting or shutting down")
    return runtime


def _known_agent(runtime: Runtime, agent: str) -> None:
    if not runtime.known_agent(agent):
        raise ApiError(404, "unknown agent", f"no agent {agent!r} on this floor (no feed or shift has named it)")


async def _submit_enacted(runtime: Runtime, event) -> tuple[Any, list[ActionRecord]]:
    """Submit, then wait for the final outcome of every PBX action the event caused (pause at a grant,
    unpause at an end): the answer says what the PBX did, never only what was asked."""
    from wfm.eventlog import EventLogError

    try:
        result, pending = await runtime.submit_enacted(event)
    except RuntimeStopped as exc:
        raise ApiError(503, "floor not running", str(exc)) from None
    except EventLogError as exc:
        logger.error("request for agent %s not logged: %s", getattr(event, "agent", "?"), exc)
        raise ApiError(503, "event log unavailable", "the request was not recorded and not acted on; retry") from None
    if not pending:
        return result, []
    pbx = runtime.config.pbx
    budget = pbx.confirm_s + pbx.action_retries * pbx.action_retry_max_s + 2.0
    done, _ = await asyncio.wait(pending, timeout=budget)
    records = [f.result() for f in pending if f in done and not f.cancelled() and f.exception() is None]
    return result, records


def _pbx_answer(body: dict, records: list[ActionRecord]) -> web.Response:
    """The answer with the PBX's outcomes: 502 naming the PBX's failure when one failed (never a
    bare success); otherwise 200, with the bilingual instruction where the agent must act on the phone."""
    body["pbx"] = [msgspec.to_builtins(r) for r in records]
    failed = next((r for r in records if r.failed), None)
    if failed is not None:
        return json_response({"error": "PBX action failed", "detail": failed.message(), **body}, status=502)
    manual = next((r for r in records if r.outcome is Outcome.MANUAL), None)
    if manual is not None:
        body["instruction"] = manual.message()
    return json_response(body)


def _outputs(result: Any) -> list[dict]:
    return [msgspec.to_builtins(o) for o in (getattr(result, "outputs", None) or ())]


# ── session ────────────────────────────────────────────────────────────────

@requires(Access.PUBLIC)
async def health(request: web.Request) -> web.Response:
    """Liveness: is the floor running, how many feeds are connected."""
    runtime = request.app[RUNTIME]
    feeds = runtime.feed_views(runtime.now()) if runtime.running else []
    return json_response({
        "status": "ok" if runtime.running else "stopped",
        "feeds": len(feeds),
        "feeds_connected": sum(1 for f in feeds if f.connected),
        "feeds_stale": sum(1 for f in feeds if f.stale),
        # PBX actions by outcome since start (sent, retry, failed, confirmed, not_enacted, manual)
        "pbx_actions": runtime.action_health(),
        "pbx_drift": sum(f.drift for f in feeds),  # agents a reconciliation with the PBX corrected
    }, status=200 if runtime.running else 503)


@requires(Access.PUBLIC)
async def login(request: web.Request) -> web.Response:
    """Log in with {username, password}: a session cookie plus a bearer token."""
    body = await read_body(request, LoginBody)
    limiter = request.app[LOGIN_LIMITER]
    key = (body.username.casefold(), request.remote or "")
    now = time.monotonic()
    # per user and address (the rule), and per address across user names (credential stuffing)
    retry = limiter.hit(key, now) or request.app[ADDRESS_LIMITER].hit(request.remote or "", now)
    runtime = request.app[RUNTIME]
    if retry:
        logger.warning("login rate limit hit for user %r from %s", body.username, request.remote)
        raise ApiError(429, "too many login attempts", f"try again in {retry:.0f} s",
                       headers={"Retry-After": str(max(1, round(retry)))})
    account = await request.app[ACCOUNTS].verify(body.username, body.password)
    if account is None:
        logger.info("login failed for user %r from %s", body.username, request.remote)
        if runtime.running:
            await runtime.audit({"type": "login_failed", "user": body.username[:64], "address": request.remote})
        raise ApiError(401, "wrong user name or password", "")
    limiter.reset(key)
    sessions = request.app[SESSIONS]
    sessions.purge(utcnow())
    issued = sessions.create(account, utcnow())
    session = issued.session
    logger.info("login: %s (%s) from %s", account.username, account.role.value, request.remote)
    if runtime.running:
        await runtime.audit({"type": "login", "user": account.username, "role": account.role.value,
                             "address": request.remote, "session": session.session_id})
    response = json_response({
        "username": account.username,
        "role": account.role.value,
        "agent": account.agent,
        "token": issued.bearer_token,
        "csrf_token": session.csrf_token,
        "expires": session.expires.isoformat(),
    })
    config = request.app[CONFIG]
    response.set_cookie(
        COOKIE_NAME, issued.cookie_token, httponly=True, samesite="Strict", path="/",
        max_age=int(config.api.session_hours * 3600), secure=config.api.cookie_secure,
    )
    return response


@requires(Access.SESSION)
async def logout(request: web.Request) -> web.Response:
    """End the session (cookie and bearer token alike)."""
    session = _session(request)
    request.app[SESSIONS].revoke(session.session_id)
    runtime = request.app[RUNTIME]
    if runtime.running:
        await runtime.audit({"type": "logout", "user": session.account.username, "session": session.session_id})
    response = json_response({"logged_out": True})
    response.del_cookie(COOKIE_NAME, path="/")
    return response


@requires(Access.SESSION)
async def me(request: web.Request) -> web.Response:
    """Who is logged in (and the CSRF token for cookie-authenticated pages)."""
    session = _session(request)
    account = session.account
    return json_response({
        "username": account.username,
        "role": account.role.value,
        "agent": account.agent,
        "csrf_token": session.csrf_token,
        "expires": session.expires.isoformat(),
        "pages": [{"path": p.path, "title": p.title} for p in pages_for(account)],
    })


# ── floor ──────────────────────────────────────────────────────────────────

@requires(Access.READERS)
async def floor(request: web.Request) -> web.Response:
    """The whole floor view (FloorView)."""
    _runtime(request)
    body = request.app[SNAPSHOTS].current("full").body("full")
    return web.Response(body=body, content_type="application/json")


@requires(Access.KIOSK)
async def wall(request: web.Request) -> web.Response:
    """The wall display's floor: numbers and agent ids/states only (WallView)."""
    _runtime(request)
    max_age_s = request.app[CONFIG].api.wall_cache_ms / 1000.0  # many boards polling share one build
    body = request.app[SNAPSHOTS].current("wall", max_age_s).body("wall")
    return web.Response(body=body, content_type="application/json")


@requires(Access.KIOSK)
async def wall_settings(request: web.Request) -> web.Response:
    """What the wall board needs besides the live floor: agent names, colour thresholds, timings."""
    config = request.app[CONFIG]
    names = wallmeta.read_names(wallmeta.names_file(config))
    return json_response(wallmeta.wall_settings(config, names))


@requires(Access.KIOSK)
async def wall_trend(request: web.Request) -> web.Response:
    """The wall's queues page: today's service level per interval against the target (with sample sizes),
    and required vs staffed now (the published roster's demand, and the staffing model on the last
    interval's calls)."""
    runtime = _runtime(request)
    config = request.app[CONFIG]
    now = runtime.now()
    local = now.astimezone(config.floor.tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    interval = config.roster.interval_min
    floor_view = runtime.floor_view()

    def compute() -> dict:
        records = request.app[TREND_WINDOW].records(runtime.log, day_start, now + timedelta(seconds=1))
        offered, aht = walltrend.recent_load(records, now, timedelta(minutes=interval))
        aht_s = aht or config.simulator.mean_handle_s
        demand = walltrend.published_demand(config.dashboard.roster_dir, local.strftime("%Y-%m"), config.floor.tz)
        return {
            "target": config.service.service_level_target,
            "interval_min": interval,
            "intervals": walltrend.interval_service_level(records, day_start, local, interval,
                                                          config.service.service_level_answer_s),
            "required_roster": walltrend.required_now(demand, local, interval),
            "required_model": walltrend.staffing_required(offered, interval, aht_s, config),
            "offered_last_interval": offered, "aht_s": round(aht_s, 1),
            "staffed_now": floor_view.agents_on_post,
        }

    return json_response(await asyncio.get_running_loop().run_in_executor(None, compute))


@requires(Access.SELF_OR_READERS)
async def agent_budget(request: web.Request) -> web.Response:
    """An agent's break budget (AgentBudgetView)."""
    runtime = _runtime(request)
    agent = request.match_info["agent"]
    _known_agent(runtime, agent)
    return json_response(msgspec.to_builtins(breakgate.with_gate(runtime.agent_budget(agent))))


@requires(Access.SELF_OR_READERS)
async def agent_month_roster(request: web.Request) -> web.Response:
    """The agent's own days of the month's published roster (404 while none is published)."""
    config = request.app[CONFIG]
    agent, month = request.match_info["agent"], request.match_info["month"]

    def read() -> dict:
        return agent_roster.agent_month(config.dashboard.roster_dir, month, agent, config.floor.tz)

    try:
        data = await asyncio.get_running_loop().run_in_executor(None, read)
    except ValueError as exc:
        raise ApiError(400, "invalid month", str(exc)) from None
    except agent_roster.NoRoster as exc:
        raise ApiError(404, "no published roster", str(exc)) from None
    return json_response(data)


@requires(Access.SELF_OR_READERS)
async def agent_month_calendar(request: web.Request) -> web.Response:
    """The agent's published month as an iCalendar file (subscribe or import on a phone)."""
    config = request.app[CONFIG]
    agent, month = request.match_info["agent"], request.match_info["month"]
    name = wallmeta.read_names(wallmeta.names_file(config)).get(agent, "")

    def build() -> bytes:
        return agent_roster.agent_calendar_ics(config.dashboard.roster_dir, month, agent, name, config)

    try:
        body = await asyncio.get_running_loop().run_in_executor(None, build)
    except ValueError as exc:
        raise ApiError(400, "invalid month", str(exc)) from None
    except agent_roster.NoRoster as exc:
        raise ApiError(404, "no published roster", str(exc)) from None
    return web.Response(body=body, content_type="text/calendar", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="roster-{agent}-{month}.ics"'})


@requires(Access.SELF_OR_ACTORS)
async def request_break(request: web.Request) -> web.Response:
    """Ask for a short break (小休) or meal (用餐): the break_decision and queue position."""
    runtime = _runtime(request)
    agent = request.match_info["agent"]
    body = await read_body(request, BreakBody)
    _known_agent(runtime, agent)
    retry = request.app[BREAK_LIMITER].hit(agent, time.monotonic())
    if retry:
        raise ApiError(429, "too many break requests",
                       f"agent {agent} may ask {request.app[CONFIG].api.break_requests_per_minute} times a minute; "
                       f"try again in {retry:.0f} s", headers={"Retry-After": str(max(1, round(retry)))})
    budget = runtime.agent_budget(agent)
    gate = breakgate.blocked(budget)  # the preview asks the same (breakgate.with_gate)
    if gate is not None:
        raise ApiError(409, gate.error, gate.detail, detail_zh=gate.detail_zh)
    preview = budget.short_break if body.kind is BreakKind.SHORT else budget.meal
    account = _account(request)
    event = BreakRequestEvent(ts=runtime.now(), agent=agent, kind=body.kind, minutes=body.minutes,
                              queue=body.queue, source=f"api:{account.username}")
    result, records = await _submit_enacted(runtime, event)
    decision = next((o for o in (getattr(result, "outputs", None) or ())
                     if isinstance(o, BreakDecision) and o.agent == agent), None)
    if decision is None:
        raise ApiError(409, "duplicate request",
                       f"an identical request for agent {agent} is already being decided")
    position = runtime.agent_budget(agent).queue_position
    # the Chinese reason of the same judgement (the decision record carries English only): the
    # engine's own, with the counts that decision used (docs/break-holds.md); else the preview's
    outputs = list(getattr(result, "outputs", None) or ())
    zh_of = dict(zip(map(id, outputs), getattr(result, "details_zh", None) or ()))
    detail_zh = zh_of.get(id(decision))
    if detail_zh is None and preview.allowed == decision.allowed and preview.rule == decision.rule:
        detail_zh = preview.detail_zh
    return _pbx_answer({"decision": msgspec.to_builtins(decision), "queue_position": position,
                        "detail_zh": detail_zh, "outputs": _outputs(result)}, records)


@requires(Access.SELF_OR_ACTORS)
async def cancel_break(request: web.Request) -> web.Response:
    """Withdraw the agent's pending or queued break request."""
    runtime = _runtime(request)
    agent = request.match_info["agent"]
    _known_agent(runtime, agent)
    before = runtime.agent_budget(agent).queue_position
    account = _account(request)
    result, records = await _submit_enacted(
        runtime, BreakCancelEvent(ts=runtime.now(), agent=agent, source=f"api:{account.username}"))
    return _pbx_answer({"was_queued": before is not None, "outputs": _outputs(result)}, records)


@requires(Access.SELF_OR_ACTORS)
async def end_break(request: web.Request) -> web.Response:
    """End the agent's running break now (the agent's own "end break", or a supervisor's); logged as an
    end_break override naming who ended it."""
    runtime = _runtime(request)
    agent = request.match_info["agent"]
    _known_agent(runtime, agent)
    if runtime.agent_budget(agent).on_break is None:
        raise ApiError(409, "not on a break", f"agent {agent} is not on a break")
    account = _account(request)
    who = "the agent" if account.agent == agent else f"supervisor {account.username}"
    event = OverrideEvent(ts=runtime.now(), supervisor=account.username, agent=agent,
                          action=OverrideAction.END_BREAK, note=f"ended by {who}")
    result, records = await _submit_enacted(runtime, event)
    return _pbx_answer({"outputs": _outputs(result)}, records)


@requires(Access.ACTORS)
async def override(request: web.Request) -> web.Response:
    """A supervisor allows a break or ends one; who and why are logged with the event."""
    runtime = _runtime(request)
    body = await read_body(request, OverrideBody)
    _known_agent(runtime, body.agent)
    account = _account(request)
    event = OverrideEvent(ts=runtime.now(), supervisor=account.username, agent=body.agent,
                          action=body.action, note=body.note or None,
                          kind=body.kind if body.action is OverrideAction.ALLOW_BREAK else None)
    result, records = await _submit_enacted(runtime, event)
    logger.info("override %s for agent %s by %s", body.action.value, body.agent, account.username)
    return _pbx_answer({"outputs": _outputs(result)}, records)


ADHERENCE_LOOKBACK = timedelta(hours=12)  # states reported before midnight: the one in force at midnight counts


@requires(Access.READERS)
async def adherence_today(request: web.Request) -> web.Response:
    """Scheduled vs actual today per agent and team (adherence, conformance) and who is out of adherence
    now, since when — computed from the event log, so a reload or a restart shows the same figures."""
    runtime = _runtime(request)
    config = request.app[CONFIG]
    now = runtime.now()
    at = request.query.get("at")
    if at:  # as of an earlier instant of the floor's clock (the same figures, whenever asked)
        try:
            asked = datetime.fromisoformat(at)
        except ValueError:
            raise ApiError(400, "invalid at", f"at={at!r}: expected an ISO 8601 time with its UTC offset") from None
        if asked.tzinfo is None:
            raise ApiError(400, "invalid at", f"at={at!r}: give the UTC offset (e.g. +08:00)")
        now = min(now, asked)
    local = now.astimezone(config.floor.tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)

    def compute() -> dict:
        records = request.app[ADHERENCE_WINDOW].records(runtime.log, day_start - ADHERENCE_LOOKBACK,
                                                        now + timedelta(seconds=1))
        return adherence.adherence_day(records, day_start=day_start, now=now,
                                       meal_slot=timedelta(minutes=config.floor.meal_slot_min),
                                       team_of=config.team_of)

    return json_response(await asyncio.get_running_loop().run_in_executor(None, compute))


async def _report(request: web.Request) -> tuple[reports.KpiReport, str, str]:
    """The period's report, computed from the event log off the event loop with the rules' own findings."""
    runtime = _runtime(request)
    settings = reports.ReportSettings.from_config(request.app[CONFIG])
    kind, period = request.match_info["kind"], request.match_info["period"]
    try:
        start, end = reports.period_bounds(kind, period, settings.tz)
    except reports.PeriodError as exc:
        raise ApiError(400, "invalid period", str(exc)) from None

    def compute() -> reports.KpiReport:
        records = runtime.log.read(since=start - timedelta(days=1), until=end)
        return reports.period_report(records, settings, kind, period)

    return await asyncio.get_running_loop().run_in_executor(None, compute), kind, period.strip()


@requires(Access.READERS)
async def report(request: web.Request) -> web.Response:
    """Daily (YYYY-MM-DD) or monthly (YYYY-MM) KPIs, floor and per agent, with bilingual headers; lateness,
    overruns and violations are the rules' findings as the engine logged them."""
    result, kind, period = await _report(request)
    return json_response(reports.report_document(result, kind, period))


@requires(Access.READERS)
async def report_export(request: web.Request) -> web.Response:
    """The report as a file: ?format=csv&table=floor|agents (UTF-8 with BOM) or ?format=xlsx (both sheets)."""
    result, kind, period = await _report(request)
    fmt, table = request.query.get("format", "csv"), request.query.get("table", "floor")
    if fmt == "xlsx":
        body = reports.to_xlsx(result, f"WFM KPIs {period}")
        name, ctype = f"wfm-kpi-{period}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    elif fmt == "csv" and table in ("floor", "agents"):
        body = reports.to_csv(result.floor if table == "floor" else result.agents)
        name, ctype = f"wfm-kpi-{table}-{period}.csv", "text/csv"
    else:
        raise ApiError(400, "invalid export", "format=csv with table=floor|agents, or format=xlsx")
    return web.Response(body=body, content_type=ctype,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@requires(Access.ACTORS)
async def log_verify(request: web.Request) -> web.Response:
    """Verify the tamper-evident event log's hash chain."""
    runtime = request.app[RUNTIME]
    result = await runtime.verify_log()
    data = result if isinstance(result, dict) else _plain(result)
    if hasattr(result, "message"):
        data["message"] = result.message()
    return json_response(data)


def _plain(value: Any) -> Any:
    if isinstance(value, msgspec.Struct):
        return msgspec.to_builtins(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return msgspec.to_builtins(dataclasses.asdict(value))
    if isinstance(value, (bool, int, float, str)) or value is None:
        return {"ok": bool(value)}
    return msgspec.to_builtins(vars(value)) if hasattr(value, "__dict__") else {"result": str(value)}


@requires(Access.SESSION)
async def websocket(request: web.Request) -> web.StreamResponse:
    """Live updates for a logged-in user (cookie or ?token=)."""
    _check_origin(request)
    return await request.app[HUB].handle(request, _account(request))


@requires(Access.KIOSK)
async def websocket_wall(request: web.Request) -> web.StreamResponse:
    """Live updates for the wall display (kiosk rule)."""
    _check_origin(request)
    return await request.app[HUB].handle(request, None)


def _check_origin(request: web.Request) -> None:
    # Cross-site WebSocket hijacking: a browser always sends Origin; it must be this server.
    if not same_origin(request):
        raise ApiError(403, "cross-origin WebSocket refused",
                       f"origin {request.headers.get('Origin')} is not this server")


@requires(Access.PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    """This API's OpenAPI 3.1 description."""
    return json_response(build_openapi(request.app, API_ROUTES, ErrorBody))


class RouteSpec(msgspec.Struct, frozen=True):
    method: str
    path: str
    handler: Handler
    request: type | None = None
    response: type | None = None
    tag: str = "floor"


API_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/api/health", health, tag="system"),
    RouteSpec("POST", "/api/login", login, LoginBody, LoginResult, tag="session"),
    RouteSpec("POST", "/api/logout", logout, tag="session"),
    RouteSpec("GET", "/api/me", me, None, MeResult, tag="session"),
    RouteSpec("GET", "/api/floor", floor),
    RouteSpec("GET", "/api/wall", wall, response=WallView),
    RouteSpec("GET", "/api/wall/settings", wall_settings),
    RouteSpec("GET", "/api/wall/trend", wall_trend),
    RouteSpec("GET", "/api/agents/{agent}/budget", agent_budget, tag="agents"),
    RouteSpec("POST", "/api/agents/{agent}/breaks", request_break, BreakBody, BreakResult, tag="agents"),
    RouteSpec("DELETE", "/api/agents/{agent}/breaks", cancel_break, tag="agents"),
    RouteSpec("POST", "/api/agents/{agent}/breaks/end", end_break, tag="agents"),
    RouteSpec("GET", "/api/agents/{agent}/roster/{month}", agent_month_roster, tag="agents"),
    RouteSpec("GET", "/api/agents/{agent}/roster/{month}/ics", agent_month_calendar, tag="agents"),
    RouteSpec("POST", "/api/overrides", override, OverrideBody, StepOutputs, tag="supervisor"),
    RouteSpec("GET", "/api/log/verify", log_verify, tag="supervisor"),
    RouteSpec("GET", "/api/adherence", adherence_today, tag="supervisor"),
    RouteSpec("GET", "/api/reports/{kind}/{period}", report, tag="reports"),
    RouteSpec("GET", "/api/reports/{kind}/{period}/export", report_export, tag="reports"),
    RouteSpec("GET", "/api/openapi.json", openapi, tag="system"),
    RouteSpec("GET", "/ws", websocket, tag="live"),
    RouteSpec("GET", "/ws/wall", websocket_wall, tag="live"),
    *(RouteSpec(method, path, handler, body, tag=tag) for method, path, handler, body, tag in roster_routes.ROUTES),
)

