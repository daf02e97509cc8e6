"""A stand-in JSON API for developing and testing the Dash pages without the whole floor.

It speaks the API's contract (wfm/api/routes.py): cookie `wfm_session`, /api/me
with csrf_token, X-CSRF-Token on state changes, 401/403 as the real API, the
wall projection from wfm.api.projections. The floor it serves is built from
the real read models (wfm/views.py) and can be changed by a test. The final
browser tests drive the real `wfm demo` instead (tests/test_browser_demo.py).
"""
from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import flask
import msgspec
import pytest
from werkzeug.serving import make_server

from wfm.events import AgentState, BreakKind
from wfm.views import AgentBudgetView, AgentView, AlertView, BreakPreview, FeedView, FloorView, QueueView

T0 = datetime(2027, 1, 4, 9, 30, tzinfo=timezone(timedelta(hours=8)))
ROLES = {"1001": ("agent", "1001"), "1002": ("agent", "1002"), "supervisor": ("supervisor", None),
         "admin": ("admin", None), "scheduler": ("scheduler", None)}


def agent_view(agent: str, state: AgentState, seconds: float, now: datetime, **extra) -> AgentView:
    kind = {AgentState.SHORT_BREAK: BreakKind.SHORT, AgentState.MEAL: BreakKind.MEAL}.get(state)
    limit = {BreakKind.SHORT: 600.0, BreakKind.MEAL: 1800.0}.get(kind) if kind else None
    values = dict(
        agent=agent, team="A", state=state, since=now - timedelta(seconds=seconds), seconds_in_state=seconds,
        queues=["general"], break_kind=kind, break_limit_s=limit, overrun=bool(limit and seconds > limit),
        shift_start=now.replace(hour=8, minute=30), shift_end=now.replace(hour=16, minute=0),
        meal_slot_start=now.replace(hour=11, minute=30), short_break_used_s=300.0, short_break_left_s=1500.0,
        short_breaks_taken=1, meal_taken=False,
    )
    values.update(extra)
    return AgentView(**values)


@dataclass
class Floor:
    """The harness floor: agent states a test may change; views built on demand."""

    now: datetime = T0
    states: dict[str, tuple[AgentState, float]] = field(default_factory=dict)
    waiting: int = 2
    stale: bool = False
    kiosk_token: str = ""  # as api.kiosk_token: when set, /api/wall needs ?token= or a session
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[dict] = field(default_factory=list)
    overrides: list[dict] = field(default_factory=list)

    @classmethod
    def sample(cls, agents: int = 24) -> Floor:
        cycle = [AgentState.READY, AgentState.ON_CALL, AgentState.ON_CALL, AgentState.WRAP_UP,
                 AgentState.RINGING, AgentState.NOT_READY]
        states = {str(1001 + i): (cycle[i % len(cycle)], 30.0 + 17 * i) for i in range(agents)}
        states["1003"] = (AgentState.SHORT_BREAK, 660.0)  # overrun
        states["1005"] = (AgentState.MEAL, 420.0)
        return cls(states=states)

    def set_state(self, agent: str, state: AgentState, seconds: float = 1.0) -> None:
        with self.lock:
            self.states[agent] = (state, seconds)

    def view(self) -> FloorView:
        with self.lock:
            now = self.now
            agents = [agent_view(a, s, sec, now) for a, (s, sec) in sorted(self.states.items())]
            waiting, stale = self.waiting, self.stale
        idle = sum(1 for a in agents if a.state is AgentState.READY)
        on_post = sum(1 for a in agents if a.state.on_post)
        busy = sum(1 for a in agents if a.state in (AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.RINGING))
        return FloorView(
            ts=now, idle_agents=idle, idle_threshold=3, short_break_blocked=idle <= 3,
            agents_signed_in=sum(1 for a in agents if a.state.signed_in), agents_on_post=on_post,
            agents_on_short_break=sum(1 for a in agents if a.state is AgentState.SHORT_BREAK),
            agents_at_meal=sum(1 for a in agents if a.state is AgentState.MEAL),
            calls_waiting=waiting, longest_wait_s=25.0 if waiting else None,
            occupancy=busy / on_post if on_post else None, service_level_today=0.83, service_level_15m=0.71,
            service_level_target=0.8, asa_s=12.0, abandon_rate=0.04,
            queues=[QueueView(queue="general", waiting=waiting, longest_wait_s=25.0, offered=400, answered=380,
                              answered_in_target=330, abandoned=16, service_level=0.83, asa_s=12.0)],
            agents=agents,
            alerts=[AlertView(ts=now - timedelta(minutes=1), rule="SHORT_BREAK_TOO_LONG", agent="1003",
                              detail="short break 11:00 > 10:00")],
            break_queue=[],
            feeds=[FeedView(source="ami:127.0.0.1:5038", state="connected", connected=True, stale=stale,
                            last_event_age_s=40.0 if stale else 0.4, skipped=0)],
        )

    def budget(self, agent: str) -> AgentBudgetView:
        view = self.view()
        me = next(a for a in view.agents if a.agent == agent)
        blocked = view.short_break_blocked
        preview = BreakPreview(kind=BreakKind.SHORT, allowed=not blocked, rule="QUEUE_NEAR_FULL" if blocked else None,
                               detail=f"idle agents {view.idle_agents}", detail_zh="话务空闲数不足" if blocked else "",
                               next_window=None)
        return AgentBudgetView(
            ts=view.ts, agent=agent, state=me.state, since=me.since, shift_start=me.shift_start,
            shift_end=me.shift_end, short_break_used_s=300.0, short_break_left_s=1500.0,
            short_break_budget_s=1800.0, short_break_max_s=600.0, short_breaks_taken=1,
            meal_slot_start=me.meal_slot_start, meal_slot_end=me.meal_slot_start + timedelta(minutes=30),
            meal_taken=False, on_break=me.break_kind, break_ends_at=None, queue_position=None,
            short_break=preview,
            meal=BreakPreview(kind=BreakKind.MEAL, allowed=False, rule="MEAL_NOT_IN_SLOT",
                              detail="meal slot 11:30-12:00", detail_zh="未到用餐时段",
                              next_window=me.meal_slot_start),
        )


def build_api(server: flask.Flask, floor: Floor, config=None) -> None:
    """Register the stand-in API routes on `server` (reports read the log at `config`'s storage URL,
    with the API's own report module)."""
    sessions: dict[str, tuple[str, str, str | None, str]] = {}

    def error(status: int, text: str, detail: str = ""):
        return flask.Response(json.dumps({"error": text, "detail": detail}), status=status, mimetype="application/json")

    def session():
        token = flask.request.cookies.get("wfm_session")
        return sessions.get(token or "")

    def as_json(struct) -> flask.Response:
        return flask.Response(msgspec.json.encode(struct), mimetype="application/json")

    def check_csrf(sess) -> flask.Response | None:
        if flask.request.headers.get("X-CSRF-Token") != sess[3]:
            return error(403, "csrf token missing or wrong", "send X-CSRF-Token")
        return None

    @server.post("/api/login")
    def login():
        body = flask.request.get_json(force=True)
        user = body.get("username")
        if user not in ROLES or body.get("password") != user:
            return error(401, "wrong user name or password")
        role, agent = ROLES[user]
        token, csrf = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        sessions[token] = (user, role, agent, csrf)
        response = flask.Response(json.dumps({"username": user, "role": role, "agent": agent, "token": token,
                                              "csrf_token": csrf, "expires": ""}), mimetype="application/json")
        response.set_cookie("wfm_session", token, httponly=True, samesite="Strict")
        return response

    @server.get("/api/me")
    def me():
        sess = session()
        if sess is None:
            return error(401, "not logged in")
        return flask.jsonify(username=sess[0], role=sess[1], agent=sess[2], csrf_token=sess[3], expires="")

    @server.get("/api/wall")
    def wall():
        from wfm.api.projections import wall_floor

        if floor.kiosk_token and session() is None and flask.request.args.get("token") != floor.kiosk_token:
            return error(401, "kiosk token required", "this wall display needs ?token= (api.kiosk_token)")

        return flask.Response(msgspec.json.encode(wall_floor(floor.view())), mimetype="application/json")

    @server.get("/api/floor")
    def full_floor():
        sess = session()
        if sess is None:
            return error(401, "not logged in")
        if sess[1] == "agent":
            return error(403, "forbidden", "supervisors only")
        return as_json(floor.view())

    @server.get("/api/agents/<agent>/budget")
    def budget(agent):
        sess = session()
        if sess is None:
            return error(401, "not logged in")
        if sess[1] == "agent" and sess[2] != agent:
            return error(403, "forbidden", f"agent {sess[2]} may not see agent {agent}")
        return as_json(floor.budget(agent))

    @server.route("/api/agents/<agent>/breaks", methods=["POST", "DELETE"])
    def breaks(agent):
        sess = session()
        if sess is None:
            return error(401, "not logged in")
        if sess[1] == "agent" and sess[2] != agent:
            return error(403, "forbidden")
        refused = check_csrf(sess)
        if refused is not None:
            return refused
        if flask.request.method == "DELETE":
            return flask.jsonify(was_queued=False, outputs=[])
        body = flask.request.get_json(force=True)
        floor.requests.append({"agent": agent, **body})
        view = floor.view()
        allowed = not view.short_break_blocked or body["kind"] == "meal"
        decision = {"type": "break_decision", "ts": view.ts.isoformat(), "agent": agent, "kind": body["kind"],
                    "allowed": allowed, "rule": None if allowed else "QUEUE_NEAR_FULL",
                    "detail": f"idle agents {view.idle_agents} <= 3" if not allowed else "short break allowed",
                    "next_window": None}
        return flask.jsonify(decision=decision, queue_position=1 if (not allowed and body.get("queue")) else None,
                             outputs=[decision])

    @server.post("/api/overrides")
    def overrides():
        sess = session()
        if sess is None:
            return error(401, "not logged in")
        if sess[1] not in ("supervisor", "admin"):
            return error(403, "forbidden")
        refused = check_csrf(sess)
        if refused is not None:
            return refused
        floor.overrides.append(flask.request.get_json(force=True))
        return flask.jsonify(outputs=[])

    @server.get("/api/log/verify")
    def verify():
        sess = session()
        if sess is None or sess[1] not in ("supervisor", "admin"):
            return error(403 if sess else 401, "forbidden")
        return flask.jsonify(ok=True, records=1234, first_bad_seq=None, reason="")

    @server.get("/api/reports/<kind>/<period>")
    def report(kind, period):
        from datetime import timedelta as _td

        from wfm.api import reports
        from wfm.config import load_config
        from wfm.eventlog import open_log

        sess = session()
        if sess is None:
            return error(401, "not logged in")
        if sess[1] not in ("supervisor", "scheduler", "admin"):
            return error(403, "forbidden")
        settings = reports.ReportSettings.from_config(config or load_config())
        try:
            start, end = reports.period_bounds(kind, period, settings.tz)
        except reports.PeriodError as exc:
            return error(400, "invalid period", str(exc))
        log = open_log((config or load_config()).storage.url, readonly=True)
        try:
            result = reports.period_report(list(log.read(since=start - _td(days=1), until=end)), settings, kind, period)
        finally:
            log.close()
        return flask.Response(msgspec.json.encode(reports.report_document(result, kind, period)),
                              mimetype="application/json")

    @server.get("/login")
    def login_page():
        return "<html><body><h1>login</h1></body></html>"


@dataclass
class Harness:
    url: str
    floor: Floor
    app: object


def start_harness(floor: Floor | None = None, config=None) -> tuple[Harness, callable]:
    """Serve the Dash app and the stand-in API on one free localhost port; returns (harness, stop)."""
    from dashboard.app import create_dash

    floor = floor or Floor.sample()
    placeholder = {"url": ""}
    app_holder: dict = {}

    def wsgi(environ, start_response):
        return app_holder["server"](environ, start_response)

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    url = f"http://127.0.0.1:{http.server_port}"
    placeholder["url"] = url
    app = create_dash(url, config=config)
    build_api(app.server, floor, config)
    app_holder["server"] = app.server
    thread = threading.Thread(target=http.serve_forever, name="dash-harness", daemon=True)
    thread.start()

    def stop() -> None:
        http.shutdown()
        thread.join(timeout=5)

    return Harness(url, floor, app), stop


@pytest.fixture(scope="module")
def harness():
    h, stop = start_harness()
    yield h
    stop()


def test_harness_serves_the_wall_projection(harness):
    import requests

    data = requests.get(harness.url + "/api/wall", timeout=5).json()
    assert data["idle_agents"] == harness.floor.view().idle_agents
    assert set(data["agents"][0]) == {"agent", "team", "state", "since", "seconds_in_state", "break_kind", "break_limit_s", "overrun"}
