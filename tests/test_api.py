"""The HTTP/WebSocket API on a real port, with the real rules engine and a real SQLite log.

The floor: agents 1001–1006 on the day shift (08:30–16:00), the feed (a
queue-fed adapter standing in for the PBX) reporting their states at
09:00 +08:00. The default gate refuses a short break (小休) when idle agents
(话务空闲数) ≤ 3.
"""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import aiohttp
import pytest

from support.runtime_helpers import T0, FixedClock, QueueAdapter, make_config
from wfm.api.app import ApiServer, body_cap, create_app
from wfm.config import load_config
from wfm.engine import FloorEngine
from wfm.eventlog import open_log_from_config
from wfm.events import AgentState, AgentStateEvent, ShiftEvent
from wfm.runtime import Runtime

AGENTS = ["1001", "1002", "1003", "1004", "1005", "1006"]


class Floor:
    def __init__(self, runtime, server, adapter, clock, log, config):
        self.runtime, self.server, self.adapter, self.clock, self.log, self.config = runtime, server, adapter, clock, log, config
        self.base = server.base_url

    async def state(self, agent: str, state: AgentState, seconds: float = 1.0) -> None:
        """Move the clock on and have the PBX feed report a state; wait until the engine has it."""
        self.clock.value += timedelta(seconds=seconds)
        before = self.runtime.events_processed
        self.adapter.push(AgentStateEvent(ts=self.clock.value, agent=agent, state=state, source=self.adapter.source))
        for _ in range(300):
            if self.runtime.events_processed > before:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("feed event not processed")


@pytest.fixture
async def floor(tmp_path, request):
    api = getattr(request, "param", {})
    config = make_config(tmp_path, **api)
    log = open_log_from_config(config)
    clock = FixedClock(T0)
    adapter = QueueAdapter()
    runtime = Runtime(config, FloorEngine(config), log, [adapter], clock)
    day = T0.date()
    shifts = [ShiftEvent(ts=T0 - timedelta(hours=2), agent=a,
                         start=T0.replace(hour=8, minute=30), end=T0.replace(hour=16),
                         meal_start=T0.replace(hour=11, minute=30)) for a in AGENTS]
    assert day == T0.date()
    await runtime.start(prelude=lambda report: shifts)
    server = ApiServer(create_app(runtime, config, dashboard=False), "127.0.0.1", 0)
    await server.start()
    f = Floor(runtime, server, adapter, clock, log, config)
    for agent in AGENTS[:3]:
        await f.state(agent, AgentState.READY, 0.1)
    await f.state("1004", AgentState.ON_CALL, 0.1)
    await f.state("1005", AgentState.ON_CALL, 0.1)  # 1006 never signs in: logged out
    yield f
    await server.stop()
    await runtime.stop()


async def login(session: aiohttp.ClientSession, base: str, user: str, password: str | None = None):
    async with session.post(base + "/api/login", json={"username": user, "password": password or user}) as r:
        return r.status, await r.json()


async def bearer(base: str, user: str) -> dict:
    async with aiohttp.ClientSession() as s:
        status, body = await login(s, base, user)
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


async def call(method: str, url: str, headers=None, **kwargs):
    async with aiohttp.ClientSession() as s:
        async with s.request(method, url, headers=headers, **kwargs) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text


# ── authentication and authorization ──────────────────────────────────────

async def test_no_credentials_is_401_with_reason(floor):
    for method, path in [("GET", "/api/floor"), ("GET", "/api/agents/1001/budget"), ("GET", "/api/me"),
                         ("POST", "/api/agents/1001/breaks"), ("DELETE", "/api/agents/1001/breaks"),
                         ("POST", "/api/overrides"), ("GET", "/api/log/verify"), ("POST", "/api/logout")]:
        status, body = await call(method, floor.base + path, json={"kind": "short"} if method == "POST" else None)
        assert status == 401, (method, path, status, body)
        assert body["error"] == "not logged in"


async def test_agent_cannot_read_or_act_for_another_agent(floor):
    a = await bearer(floor.base, "1001")
    status, own = await call("GET", floor.base + "/api/agents/1001/budget", a)
    assert status == 200 and own["agent"] == "1001" and own["short_break_left_s"] == 1800
    for method, path, body in [("GET", "/api/agents/1002/budget", None),
                               ("POST", "/api/agents/1002/breaks", {"kind": "short"}),
                               ("DELETE", "/api/agents/1002/breaks", None),
                               ("POST", "/api/overrides", {"agent": "1002", "action": "allow_break"}),
                               ("GET", "/api/floor", None), ("GET", "/api/log/verify", None)]:
        status, answer = await call(method, floor.base + path, a, json=body)
        assert status == 403, (method, path, answer)
        assert answer["error"] == "forbidden"
    # nothing was submitted on 1002's behalf
    assert not any(r.body.get("agent") == "1002" and r.body["type"] == "break_request"
                   for r in floor.log.read(kinds=["event"]))


async def test_wrong_password_unknown_user_and_logout(floor):
    async with aiohttp.ClientSession() as s:
        status, body = await login(s, floor.base, "1001", "wrong")
        assert status == 401 and body["error"] == "wrong user name or password"
        status, body = await login(s, floor.base, "nobody", "x")
        assert status == 401 and body["error"] == "wrong user name or password"
    headers = await bearer(floor.base, "supervisor")
    assert (await call("GET", floor.base + "/api/me", headers))[0] == 200
    assert (await call("POST", floor.base + "/api/logout", headers))[0] == 200
    status, body = await call("GET", floor.base + "/api/me", headers)
    assert status == 401 and "expired" in body["detail"]


@pytest.mark.parametrize("floor", [{"login_attempts_per_minute": 3}], indirect=True)
async def test_login_rate_limited_per_user_and_address(floor):
    async with aiohttp.ClientSession() as s:
        for _ in range(3):
            assert (await login(s, floor.base, "admin", "guess"))[0] == 401
        status, body = await login(s, floor.base, "admin", "admin")  # even the right password now
        assert status == 429 and "try again" in body["detail"]
        assert (await login(s, floor.base, "supervisor"))[0] == 200  # another user is not locked out


async def test_cookie_session_needs_csrf_header_and_is_httponly_strict(floor):
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.post(floor.base + "/api/login", json={"username": "1001", "password": "1001"}) as r:
            body = await r.json()
            cookies = r.headers.getall("Set-Cookie")
        cookie = next(c for c in cookies if c.startswith("wfm_session="))
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        # the CSRF token is never in a cookie: other ports of this host could read it
        assert not [c for c in cookies if body["csrf_token"] in c]
        assert body["token"] not in cookie  # the bearer token and the cookie are different secrets
        async with s.get(floor.base + "/api/agents/1001/budget") as r:  # reads need no CSRF token
            assert r.status == 200
        async with s.post(floor.base + "/api/agents/1001/breaks", json={"kind": "short"}) as r:
            assert r.status == 403 and (await r.json())["error"] == "CSRF token missing or wrong"
        async with s.post(floor.base + "/api/agents/1001/breaks", json={"kind": "short"},
                          headers={"X-CSRF-Token": "forged"}) as r:
            assert r.status == 403
        other_port = floor.base.rsplit(":", 1)[0] + ":1"
        async with s.post(floor.base + "/api/agents/1001/breaks", json={"kind": "short", "queue": True},
                          headers={"X-CSRF-Token": body["csrf_token"], "Origin": other_port}) as r:
            assert r.status == 403 and (await r.json())["error"] == "cross-origin request refused"
        async with s.post(floor.base + "/api/agents/1001/breaks", json={"kind": "short", "queue": True},
                          headers={"X-CSRF-Token": body["csrf_token"], "Origin": floor.base}) as r:
            assert r.status == 200, await r.text()
        # the WebSocket by cookie: this origin yes, another port of the same host no
        async with s.ws_connect(floor.base + "/ws", headers={"Origin": floor.base}) as ws:
            assert (await ws.receive_json())["user"] == "1001"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await s.ws_connect(floor.base + "/ws", headers={"Origin": other_port})
        assert info.value.status == 403


@pytest.mark.parametrize("floor", [{"session_hours": 0.0003}], indirect=True)
async def test_sessions_expire(floor):
    headers = await bearer(floor.base, "admin")
    assert (await call("GET", floor.base + "/api/me", headers))[0] == 200
    await asyncio.sleep(1.2)
    assert (await call("GET", floor.base + "/api/me", headers))[0] == 401


# ── breaks and overrides ───────────────────────────────────────────────────

async def test_break_request_refused_then_queued_and_duplicate_is_409(floor):
    a = await bearer(floor.base, "1001")
    url = floor.base + "/api/agents/1001/breaks"
    status, body = await call("POST", url, a, json={"kind": "short", "queue": True})
    assert status == 200
    decision = body["decision"]
    assert decision["type"] == "break_decision" and decision["allowed"] is False
    assert decision["rule"] == "QUEUE_NEAR_FULL"  # idle agents 3 <= 3
    assert body["queue_position"] == 1
    status, body = await call("POST", url, a, json={"kind": "short", "queue": True})
    assert status == 409 and body["error"] == "duplicate request" and "position 1" in body["detail"]
    assert body["detail_zh"] == "已在休息排队中，第 1 位"  # for a page in Chinese
    status, body = await call("DELETE", url, a)
    assert status == 200 and body["was_queued"] is True
    status, budget = await call("GET", floor.base + "/api/agents/1001/budget", a)
    assert budget["queue_position"] is None


async def test_malformed_unknown_logged_out_are_clear_4xx_and_log_still_verifies(floor):
    sup = await bearer(floor.base, "supervisor")
    url = floor.base + "/api/agents/1001/breaks"
    cases = [
        (dict(data=b"{not json", headers={**sup, "Content-Type": "application/json"}), 400, "body is not JSON"),
        (dict(json={"kind": "nap"}, headers=sup), 400, "invalid body"),
        (dict(json={"kind": "short", "minutes": -5}, headers=sup), 400, "invalid body"),
        (dict(json=["short"], headers=sup), 400, "invalid body"),
        (dict(data=b"", headers={**sup, "Content-Type": "application/json"}), 400, "missing body"),
        (dict(data=b"kind=short", headers={**sup, "Content-Type": "application/x-www-form-urlencoded"}), 415,
         "unsupported media type"),
        (dict(data=b"{" + b" " * body_cap(load_config(None)) + b"}", headers={**sup, "Content-Type": "application/json"}), 413, None),
    ]
    for kwargs, expected, error in cases:
        status, body = await call("POST", url, **kwargs)
        assert status == expected, (kwargs.get("json"), status, body)
        if error:
            assert body["error"] == error and isinstance(body["detail"], str)
    status, body = await call("POST", floor.base + "/api/agents/9999/breaks", sup, json={"kind": "short"})
    assert status == 404 and body["error"] == "unknown agent" and "9999" in body["detail"]
    status, body = await call("POST", floor.base + "/api/agents/1006/breaks", sup, json={"kind": "meal"})
    assert status == 409 and body["error"] == "agent is logged out"
    status, body = await call("POST", floor.base + "/api/overrides", sup, json={"agent": "1001", "action": "dance"})
    assert status == 400 and "action" in body["detail"]
    status, body = await call("GET", floor.base + "/api/no/such/route", sup)
    assert status == 404 and body["error"] == "not found"
    # the server is fine and the log intact
    status, verdict = await call("GET", floor.base + "/api/log/verify", sup)
    assert status == 200 and verdict["ok"] is True
    assert (await call("GET", floor.base + "/api/health"))[0] == 200


@pytest.mark.parametrize("floor", [{"break_requests_per_minute": 2}], indirect=True)
async def test_break_requests_rate_limited_per_agent(floor):
    a = await bearer(floor.base, "1002")
    url = floor.base + "/api/agents/1002/breaks"
    assert (await call("POST", url, a, json={"kind": "short"}))[0] == 200
    floor.clock.value += timedelta(seconds=10)
    assert (await call("POST", url, a, json={"kind": "meal"}))[0] == 200
    status, body = await call("POST", url, a, json={"kind": "short"})
    assert status == 429 and body["error"] == "too many break requests"
    b = await bearer(floor.base, "1001")
    assert (await call("POST", floor.base + "/api/agents/1001/breaks", b, json={"kind": "short"}))[0] == 200


async def test_override_allows_break_and_is_in_the_log_with_who_and_why(floor):
    sup = await bearer(floor.base, "supervisor")
    status, body = await call("POST", floor.base + "/api/overrides", sup,
                              json={"agent": "1002", "action": "allow_break", "note": "customer escalation done"})
    assert status == 200, body
    decisions = [o for o in body["outputs"] if o["type"] == "break_decision"]
    assert decisions and decisions[0]["agent"] == "1002" and decisions[0]["allowed"] is True
    overrides = [r.body for r in floor.log.read(kinds=["event"]) if r.body["type"] == "override"]
    assert overrides == [{"type": "override", "ts": overrides[0]["ts"], "supervisor": "supervisor",
                          "agent": "1002", "action": "allow_break", "note": "customer escalation done"}]
    logged = [r.body for r in floor.log.read(kinds=["decision"]) if r.body.get("agent") == "1002"]
    assert any(d.get("allowed") for d in logged if d["type"] == "break_decision")
    status, verdict = await call("GET", floor.base + "/api/log/verify", sup)
    assert status == 200 and verdict["ok"] is True and verdict["records"] > 10


# ── reads ─────────────────────────────────────────────────────────────────

async def test_floor_for_supervisor_and_wall_without_login(floor):
    sup = await bearer(floor.base, "scheduler")
    status, view = await call("GET", floor.base + "/api/floor", sup)
    assert status == 200
    assert view["idle_agents"] == 3 and view["agents_on_post"] == 5
    assert {a["agent"] for a in view["agents"]} >= set(AGENTS[:5])
    assert view["feeds"][0]["source"] == "test-pbx"
    status, wall = await call("GET", floor.base + "/api/wall")
    assert status == 200 and wall["idle_agents"] == 3
    assert set(wall["agents"][0]) == {"agent", "team", "state", "since", "seconds_in_state", "break_kind", "break_limit_s", "overrun"}
    assert "short_break_used_s" not in json.dumps(wall)
    status, page = await call("GET", floor.base + "/wall")
    assert status == 200 and "话务空闲数" in page and "小休" in page and "用餐" in page
    assert "Occupancy" in page and "Service level" in page


@pytest.mark.parametrize("floor", [{"kiosk_token": "tv-secret"}], indirect=True)
async def test_kiosk_token_guards_the_wall(floor):
    assert (await call("GET", floor.base + "/api/wall"))[0] == 401
    assert (await call("GET", floor.base + "/api/wall?token=wrong"))[0] == 401
    assert (await call("GET", floor.base + "/api/wall?token=tv-secret"))[0] == 200
    assert (await call("GET", floor.base + "/wall/basic?token=tv-secret"))[0] == 200
    assert (await call("GET", floor.base + "/api/wall", await bearer(floor.base, "1001")))[0] == 200


async def test_openapi_describes_every_route(floor):
    status, doc = await call("GET", floor.base + "/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    app = floor.server.app
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        assert path in doc["paths"], path
    assert "FloorView" in doc["components"]["schemas"]
    assert doc["paths"]["/api/agents/{agent}/breaks"]["post"]["requestBody"]


async def test_security_headers_and_no_secrets_in_logs(floor, caplog):
    caplog.set_level("DEBUG")
    async with aiohttp.ClientSession() as s:
        status, body = await login(s, floor.base, "admin", "admin")
        async with s.get(floor.base + "/api/floor", headers={"Authorization": f"Bearer {body['token']}"}) as r:
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["Cache-Control"] == "no-store"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        async with s.ws_connect(floor.base + f"/ws?token={body['token']}") as ws:
            await ws.receive_json()
    text = caplog.text
    assert body["token"] not in text and body["csrf_token"] not in text
    assert "admin" in text  # the login itself is logged, by user name
    assert "$argon2" not in text


# ── WebSocket ──────────────────────────────────────────────────────────────

async def _next_of(ws, type_: str, timeout: float = 10.0) -> dict:
    while True:
        message = await asyncio.wait_for(ws.receive_json(), timeout)
        if message["type"] == type_:
            return message


async def test_websocket_sees_granted_break_and_agents_see_only_their_own(floor):
    a = await bearer(floor.base, "1001")
    status, body = await call("POST", floor.base + "/api/agents/1001/breaks", a, json={"kind": "short", "queue": True})
    assert body["decision"]["allowed"] is False and body["queue_position"] == 1
    token_1001 = a["Authorization"].split()[1]
    token_1002 = (await bearer(floor.base, "1002"))["Authorization"].split()[1]
    token_sup = (await bearer(floor.base, "supervisor"))["Authorization"].split()[1]
    async with aiohttp.ClientSession() as s:
        ws1 = await s.ws_connect(floor.base + f"/ws?token={token_1001}")
        ws2 = await s.ws_connect(floor.base + f"/ws?token={token_1002}")
        wss = await s.ws_connect(floor.base + f"/ws?token={token_sup}")
        hello = await ws1.receive_json()
        assert hello == {"type": "hello", "audience": "agent", "user": "1001", "agent": "1001"}
        first_floor = await _next_of(ws1, "floor")
        assert "agents" not in first_floor["data"] and first_floor["data"]["idle_agents"] == 3
        full = await _next_of(wss, "floor")
        assert {a["agent"] for a in full["data"]["agents"]} >= {"1001", "1002"}
        # the event that frees the break: a fourth agent becomes idle
        # pushed by that event (the grant latency is measured by benchmarks/api.py, never asserted here)
        await floor.state("1004", AgentState.READY)
        granted = await _next_of(ws1, "break_decision")
        assert granted["agent"] == "1001" and granted["allowed"] is True
        seen_by_sup = await _next_of(wss, "break_decision")
        assert seen_by_sup["agent"] == "1001"
        # 1002 gets floor numbers but never 1001's decision
        await asyncio.sleep(0.3)
        while True:
            try:
                message = await asyncio.wait_for(ws2.receive_json(), 0.2)
            except TimeoutError:
                break
            assert message["type"] in ("hello", "floor", "budget"), message
            if message["type"] == "floor":
                assert "agents" not in message["data"]
            if message["type"] == "budget":  # their own budget only
                assert message["agent"] == "1002" and message["data"]["agent"] == "1002"
        for ws in (ws1, ws2, wss):
            await ws.close()


async def test_an_agents_socket_pushes_their_own_budget_and_a_reader_may_watch_one(floor):
    """/me draws from these pushes: the budget GET /api/agents/{agent}/budget serves, with the floor
    pushes (and at once after a decision about them), so a queued request's position and its grant arrive
    without polling."""
    a = await bearer(floor.base, "1001")
    token_1001 = a["Authorization"].split()[1]
    token_sup = (await bearer(floor.base, "supervisor"))["Authorization"].split()[1]
    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(floor.base + f"/ws?token={token_1001}")
        first = await _next_of(ws, "budget")
        status, fetched = await call("GET", floor.base + "/api/agents/1001/budget", a)
        assert first["agent"] == "1001" and status == 200
        assert {k: v for k, v in first["data"].items() if k != "ts"} == {k: v for k, v in fetched.items() if k != "ts"}
        status, body = await call("POST", floor.base + "/api/agents/1001/breaks", a, json={"kind": "short", "queue": True})
        assert body["decision"]["allowed"] is False and body["queue_position"] == 1
        queued = await _next_of(ws, "budget")
        while queued["data"]["queue_position"] is None:  # a push built before the request
            queued = await _next_of(ws, "budget")
        assert queued["data"]["queue_position"] == 1
        await floor.state("1004", AgentState.READY)  # a fourth idle agent: the queue grants 1001
        granted = await _next_of(ws, "budget")
        while granted["data"]["queue_position"] is not None:
            granted = await _next_of(ws, "budget")
        assert "short" in (granted["data"]["allowed_break"], granted["data"]["on_break"]), granted  # held, or taken
        await ws.send_str("watch:1002")
        refused = await _next_of(ws, "error")
        assert refused["error"] == "forbidden"
        await ws.close()
        sup = await s.ws_connect(floor.base + f"/ws?token={token_sup}")
        await _next_of(sup, "floor")
        await sup.send_str("watch:1002")
        watched = await _next_of(sup, "budget")
        assert watched["agent"] == "1002" and watched["data"]["agent"] == "1002"
        await sup.send_str("watch:9999")  # not on the floor: said so, no budget
        unknown = await _next_of(sup, "budget")
        assert unknown["agent"] == "9999" and unknown["data"] is None
        await sup.close()


async def test_websocket_needs_credentials_and_same_origin(floor):
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await s.ws_connect(floor.base + "/ws")
        assert info.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await s.ws_connect(floor.base + "/ws?token=forged")
        assert info.value.status == 401
        token = (await bearer(floor.base, "supervisor"))["Authorization"].split()[1]
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await s.ws_connect(floor.base + f"/ws?token={token}", headers={"Origin": "http://evil.example"})
        assert info.value.status == 403
        async with s.ws_connect(floor.base + "/ws/wall") as ws:  # the wall's open stream
            assert (await ws.receive_json())["audience"] == "wall"
            wall = await _next_of(ws, "floor")
            assert wall["data"]["idle_agents"] == 3


async def test_logins_and_logouts_are_audited_in_the_log_without_secrets(floor):
    async with aiohttp.ClientSession() as s:
        assert (await login(s, floor.base, "supervisor", "not-the-password"))[0] == 401
        status, body = await login(s, floor.base, "supervisor")
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert (await call("POST", floor.base + "/api/logout", headers))[0] == 200
    audits = [r.body for r in floor.log.read(kinds=["audit"]) if r.body["type"] != "tick"]
    assert [a["type"] for a in audits] == ["login_failed", "login", "logout"]
    assert all(a["user"] == "supervisor" for a in audits)
    text = json.dumps(audits)
    assert "not-the-password" not in text and body["token"] not in text and body["csrf_token"] not in text
    status, verdict = await call("GET", floor.base + "/api/log/verify", await bearer(floor.base, "admin"))
    assert verdict["ok"] is True


async def test_request_the_log_cannot_record_is_503_and_not_acted_on(floor):
    sup = await bearer(floor.base, "supervisor")
    floor.log.close()  # the storage goes away under the running floor
    # acted on, this would be refused (idle 3 <= 3) and queued at position 1
    status, body = await call("POST", floor.base + "/api/agents/1002/breaks", sup, json={"kind": "short", "queue": True})
    assert status == 503 and body["error"] == "event log unavailable"
    status, budget = await call("GET", floor.base + "/api/agents/1002/budget", sup)
    assert status == 200 and budget["queue_position"] is None and budget["on_break"] is None


def test_accounts_refuse_inconsistent_users_naming_the_entry():
    from wfm.auth import AccountConfigError, Accounts, hash_password
    from wfm.config import UserConfig

    good = hash_password("pw")
    with pytest.raises(AccountConfigError, match=r"users\[1\]\.username: duplicate"):
        Accounts([UserConfig(username="a", role="admin", agent="", password_hash=good)] * 2)
    with pytest.raises(AccountConfigError, match=r"users\[0\]\.agent"):
        Accounts([UserConfig(username="x", role="agent", agent="", password_hash=good)])
    with pytest.raises(AccountConfigError, match=r"users\[0\]\.password_hash: not an argon2 hash"):
        Accounts([UserConfig(username="x", role="admin", agent="", password_hash="plaintext")])
    accounts = Accounts([UserConfig(username="x", role="agent", agent="1009", password_hash=good)])
    assert accounts.verify_sync("x", "pw").agent == "1009"
    assert accounts.verify_sync("x", "wrong") is None and accounts.verify_sync("nobody", "pw") is None


def test_serve_with_a_plaintext_password_in_users_is_a_one_line_error(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "bad.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "b.sqlite"}"\n'
                      '[[users]]\nusername = "boss"\nrole = "admin"\nagent = ""\npassword_hash = "hunter2"\n',
                      encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "wfm.cli", "demo", "--port", "0", "--no-browser",
                             "--config", str(config)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "wfm demo: config: users[0].password_hash: not an argon2 hash"
    assert "hunter2" not in result.stderr


def test_password_hash_helper_makes_a_usable_hash():
    import subprocess
    import sys

    from wfm.auth import Accounts
    from wfm.config import UserConfig

    result = subprocess.run([sys.executable, "-m", "wfm.auth"], input="s3cret pass\n", capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and "s3cret" not in result.stdout
    digest = result.stdout.strip()
    accounts = Accounts([UserConfig(username="new", role="supervisor", agent="", password_hash=digest)])
    assert accounts.verify_sync("new", "s3cret pass") is not None
    empty = subprocess.run([sys.executable, "-m", "wfm.auth"], input="\n", capture_output=True, text=True, timeout=30)
    assert empty.returncode == 2


async def test_unexpected_error_is_a_500_without_internals_and_the_server_goes_on(floor, monkeypatch):
    sup = await bearer(floor.base, "supervisor")

    def broken(now, **kwargs):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(floor.runtime.engine, "floor_data", broken)  # what GET /api/floor builds from
    status, body = await call("GET", floor.base + "/api/floor", sup)
    assert status == 500 and body == {"error": "internal error", "detail": "the error was logged on the server"}
    monkeypatch.undo()
    assert (await call("GET", floor.base + "/api/floor", sup))[0] == 200


async def test_a_dashboard_that_cannot_start_leaves_the_basic_wall(tmp_path, monkeypatch):
    def broken_dash(api_base, **_):
        raise RuntimeError("dash import exploded")

    config = make_config(tmp_path)
    log = open_log_from_config(config)
    runtime = Runtime(config, FloorEngine(config), log, [], FixedClock(T0))
    await runtime.start()
    server = ApiServer(create_app(runtime, config, dashboard=broken_dash), "127.0.0.1", 0)
    await server.start()
    try:
        status, page = await call("GET", server.base_url + "/wall")
        assert status == 200 and "话务空闲数" in page
        status, body = await call("GET", server.base_url + "/me", await bearer(server.base_url, "1001"))
        assert status == 503 and body["error"] == "dashboard unavailable"
        assert (await call("GET", server.base_url + "/api/wall"))[0] == 200
    finally:
        await server.stop()
        await runtime.stop()
