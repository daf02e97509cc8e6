"""Every route × every role, generated from the app's own router.

The expectations below are written from the brief, independently of the
access tags in wfm/api/: a route the router serves but this table does not
know fails the test, so a new route cannot ship without an access decision.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest

from support.runtime_helpers import T0, FixedClock, QueueAdapter, make_config
from dashboard.app import create_dash
from wfm.api.app import ApiServer, create_app
from wfm.engine import FloorEngine
from wfm.eventlog import open_log_from_config
from wfm.events import AgentState, AgentStateEvent, ShiftEvent
from wfm.runtime import Runtime

PUBLIC, KIOSK, SESSION, READERS, ACTORS, SELF_OR_READERS, SELF_OR_ACTORS = (
    "public", "kiosk", "session", "readers", "actors", "self_or_readers", "self_or_actors")
SCHEDULERS, SELF_OR_SCHEDULERS = "schedulers", "self_or_schedulers"  # rosters: scheduler and admin

EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/api/health"): PUBLIC,
    ("POST", "/api/login"): PUBLIC,
    ("POST", "/api/logout"): SESSION,
    ("GET", "/api/me"): SESSION,
    ("GET", "/api/floor"): READERS,
    ("GET", "/api/wall"): KIOSK,
    ("GET", "/api/wall/settings"): KIOSK,
    ("GET", "/api/wall/trend"): KIOSK,
    ("GET", "/api/agents/{agent}/budget"): SELF_OR_READERS,
    ("POST", "/api/agents/{agent}/breaks"): SELF_OR_ACTORS,
    ("DELETE", "/api/agents/{agent}/breaks"): SELF_OR_ACTORS,
    ("POST", "/api/agents/{agent}/breaks/end"): SELF_OR_ACTORS,
    ("GET", "/api/agents/{agent}/roster/{month}"): SELF_OR_READERS,
    ("GET", "/api/agents/{agent}/roster/{month}/ics"): SELF_OR_READERS,
    ("POST", "/api/overrides"): ACTORS,
    ("GET", "/api/log/verify"): ACTORS,
    ("GET", "/api/adherence"): READERS,
    ("GET", "/api/reports/{kind}/{period}"): READERS,
    ("GET", "/api/reports/{kind}/{period}/export"): READERS,
    ("GET", "/api/openapi.json"): PUBLIC,
    # rosters (wfm/api/roster_routes.py): schedulers and admins; an agent asks only for their own rest days and leave
    ("GET", "/api/roster/sources"): SCHEDULERS,
    ("POST", "/api/roster/demand"): SCHEDULERS,
    ("POST", "/api/roster/whatif"): SCHEDULERS,
    ("POST", "/api/roster/jobs"): SCHEDULERS,
    ("GET", "/api/roster/jobs/{job}"): SCHEDULERS,
    ("GET", "/api/roster/{month}/versions"): SCHEDULERS,
    ("POST", "/api/roster/{month}/versions"): SCHEDULERS,
    ("GET", "/api/roster/{month}/versions/{version}"): SCHEDULERS,
    ("GET", "/api/roster/{month}/versions/{version}/gate"): SCHEDULERS,
    ("GET", "/api/roster/{month}/versions/{version}/diff"): SCHEDULERS,
    ("GET", "/api/roster/{month}/versions/{version}/files/{fmt}"): SCHEDULERS,
    ("POST", "/api/roster/{month}/versions/{version}/publish"): SCHEDULERS,
    ("POST", "/api/roster/{month}/versions/{version}/cells"): SCHEDULERS,
    ("POST", "/api/roster/{month}/swaps"): SCHEDULERS,
    ("GET", "/api/roster/{month}/requests"): SCHEDULERS,
    ("GET", "/api/agents/{agent}/roster-requests/{month}"): SELF_OR_SCHEDULERS,
    ("POST", "/api/agents/{agent}/roster-requests/{month}"): SELF_OR_SCHEDULERS,
    ("DELETE", "/api/agents/{agent}/roster-requests/{month}/{request_id}"): SELF_OR_SCHEDULERS,
    ("GET", "/ws"): SESSION,
    ("GET", "/ws/wall"): KIOSK,
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/static/{name}"): PUBLIC,
    ("GET", "/wall/basic"): KIOSK,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/wall"): KIOSK,  # the basic wall when the dashboard is absent
    # the Dash pages and Dash's own resources (when the dashboard is installed)
    ("*", "/wall"): KIOSK,
    ("*", "/me"): SESSION,
    ("*", "/supervisor"): ACTORS,  # the page acts (overrides): supervisors and admins, as its navigation link
    ("*", "/roster"): READERS,
    ("*", "/reports"): READERS,
    ("*", "/_dash-{tail}"): PUBLIC,
    ("*", "/assets/{tail}"): PUBLIC,
    ("*", "/_reload-hash"): PUBLIC,
    ("*", "/_favicon.ico"): PUBLIC,
}
ROLES = ("anon", "agent_self", "agent_other", "supervisor", "scheduler", "admin")
USERS = {"agent_self": "1001", "agent_other": "1001", "supervisor": "supervisor",
         "scheduler": "scheduler", "admin": "admin"}
READER_ROLES = {"supervisor", "scheduler", "admin"}
ACTOR_ROLES = {"supervisor", "admin"}
SCHEDULER_ROLES = {"scheduler", "admin"}


def expected(level: str, role: str) -> str:
    """'401', '403' or 'ok' (anything but 401/403, and no server error)."""
    if level == PUBLIC or level == KIOSK:
        return "ok"
    if role == "anon":
        return "401"
    if level == SESSION:
        return "ok"
    if level == READERS:
        return "ok" if role in READER_ROLES else "403"
    if level == ACTORS:
        return "ok" if role in ACTOR_ROLES else "403"
    if level == SELF_OR_READERS:
        return "ok" if role in READER_ROLES or role == "agent_self" else "403"
    if level == SELF_OR_ACTORS:
        return "ok" if role in ACTOR_ROLES or role == "agent_self" else "403"
    if level == SCHEDULERS:
        return "ok" if role in SCHEDULER_ROLES else "403"
    if level == SELF_OR_SCHEDULERS:
        return "ok" if role in SCHEDULER_ROLES or role == "agent_self" else "403"
    raise AssertionError(level)


def concrete(path: str, role: str) -> str:
    agent = "1002" if role == "agent_other" else "1001"
    return (path.replace("{agent}", agent).replace("{name}", "wfm.css").replace("{month}", "2027-02")
            .replace("{version}", "1").replace("{fmt}", "csv").replace("{job}", "20270101T000000-abcdef")
            .replace("{request_id}", "none")
            .replace("{kind}", "daily").replace("{period}", "2027-01-04")
            .replace("/_dash-{tail}", "/_dash-layout").replace("{tail}", "nothing.css"))


BODIES = {
    "/api/login": {"username": "scheduler", "password": "scheduler"},
    "/api/agents/{agent}/breaks": {"kind": "short", "queue": True},
    "/api/overrides": {"agent": "1002", "action": "allow_break", "note": "table test"},
}


@pytest.fixture
async def served(tmp_path):
    config = make_config(tmp_path, break_requests_per_minute=50, login_attempts_per_minute=100)
    log = open_log_from_config(config)
    clock = FixedClock(T0)
    adapter = QueueAdapter()
    runtime = Runtime(config, FloorEngine(config), log, [adapter], clock)
    shifts = [ShiftEvent(ts=T0 - timedelta(hours=2), agent=a, start=T0.replace(hour=8, minute=30),
                         end=T0.replace(hour=16)) for a in ("1001", "1002", "1003")]
    await runtime.start(prelude=lambda _: shifts)
    for agent in ("1001", "1002", "1003"):
        adapter.push(AgentStateEvent(ts=T0, agent=agent, state=AgentState.READY, source=adapter.source))
    server = ApiServer(create_app(runtime, config, dashboard=create_dash), "127.0.0.1", 0)
    await server.start()
    await asyncio.sleep(0.1)
    yield server
    await server.stop()
    await runtime.stop()


async def _token(session, base, role) -> str | None:
    if role == "anon":
        return None
    user = USERS[role]
    async with session.post(base + "/api/login", json={"username": user, "password": user}) as r:
        assert r.status == 200
        return (await r.json())["token"]


def _routes(app):
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info()
        yield route.method, info.get("path") or info.get("formatter")


async def test_every_route_has_an_access_expectation(served):
    unknown = [(m, p) for m, p in _routes(served.app) if (m, p) not in EXPECTED]
    assert unknown == [], f"routes without an access decision in this table: {unknown}"


async def test_every_route_times_every_role(served):
    base = served.base_url
    results: list[tuple] = []
    async with aiohttp.ClientSession() as session:
        tokens = {role: await _token(session, base, role) for role in ROLES}
        for method, path in sorted(_routes(served.app)):
            level = EXPECTED[(method, path)]
            for role in ROLES:
                token = tokens[role]
                if path == "/api/logout" and token is not None:
                    token = await _token(session, base, role)  # logging out must not end the shared session
                url = base + concrete(path, role)
                want = expected(level, role)
                if path.startswith("/ws"):
                    query = f"?token={token}" if token else ""
                    try:
                        ws = await session.ws_connect(url + query)
                        await ws.close()
                        status = 101
                    except aiohttp.WSServerHandshakeError as exc:
                        status = exc.status
                else:
                    headers = {"Accept": "application/json"}
                    if token:
                        headers["Authorization"] = f"Bearer {token}"
                    verb = "GET" if method == "*" else method
                    async with session.request(verb, url, headers=headers, json=BODIES.get(path),
                                               allow_redirects=False) as r:
                        status = r.status
                got = "401" if status == 401 else "403" if status == 403 else "ok" if status < 500 else f"{status}"
                results.append((method, path, role, want, got, status))
    import os
    if os.environ.get("WFM_SHOW_TABLE"):
        print("\n".join(map(str, results)))
    wrong = [r for r in results if r[3] != r[4]]
    assert wrong == [], "\n".join(f"{m} {p} as {role}: want {w}, got {g} ({s})" for m, p, role, w, g, s in wrong)
    assert len(results) == len(list(_routes(served.app))) * len(ROLES)


async def test_protected_page_redirects_a_browser_to_login(served):
    async with aiohttp.ClientSession() as session:
        async with session.get(served.base_url + "/me", headers={"Accept": "text/html"}, allow_redirects=False) as r:
            if r.status == 404:
                pytest.skip("dashboard pages not installed")
            assert r.status == 302 and r.headers["Location"] == "/login?next=/me"


async def test_cross_site_form_post_cannot_use_the_cookie(served):
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.post(served.base_url + "/api/login", json={"username": "supervisor", "password": "supervisor"}):
            pass
        # what a hostile page's <form> can send: urlencoded, no custom header
        async with session.post(served.base_url + "/api/overrides", data={"agent": "1001", "action": "allow_break"}) as r:
            assert r.status == 403
        async with session.post(served.base_url + "/api/overrides", data=b'{"agent":"1001","action":"allow_break"}',
                                headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 403
