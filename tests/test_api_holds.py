"""Held places through the API (docs/break-holds.md): on a real port with the real engine and a
real SQLite log (the `floor` of tests/test_api.py), then against a running `wfm serve`
subprocess fed by a serial CTI line over a socat pty pair.

- the wall and the floor show the places held, so the idle count a supervisor sees is the rules';
- a lapse is an audit record in the log, is pushed on the WebSocket to supervisors and to the
  agent, and /me (the budget) says "your approval lapsed — ask again";
- twenty agents asking at the same instant where only two may go: two allowed, the rest
  refused, queued when they asked to queue.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from conftest import require_tool
from test_api import AGENTS as API_AGENTS
from test_api import Floor, _next_of, bearer, call
from support.runtime_helpers import T0, FixedClock, QueueAdapter
from test_serial import SocatPair

from wfm.api.app import ApiServer, create_app
from wfm.config import default_data, from_data, merge
from wfm.engine import FloorEngine
from wfm.eventlog import open_log_from_config
from wfm.events import AgentState, ShiftEvent
from wfm.runtime import Runtime

WFM = [sys.executable, "-m", "wfm.cli"]


@pytest.fixture
async def floor(tmp_path):
    """tests/test_api.py's floor (1001-1003 ready, 1004-1005 on a call) where agents pause on their
    phones (floor.enforcement.pause_on_allow = false): an allowed break waits for the agent, so its
    place is held until they go, withdraw, or it lapses."""
    config = from_data(merge(default_data(), {
        "storage": {"url": f"sqlite:///{tmp_path / 'wfm.sqlite'}", "batch_max_delay_ms": 1},
        "api": {"port": 0}, "floor": {"enforcement": {"pause_on_allow": False}}}), "test")
    log = open_log_from_config(config)
    clock = FixedClock(T0)
    adapter = QueueAdapter()
    runtime = Runtime(config, FloorEngine(config), log, [adapter], clock)
    shifts = [ShiftEvent(ts=T0 - timedelta(hours=2), agent=a, start=T0.replace(hour=8, minute=30),
                         end=T0.replace(hour=16), meal_start=T0.replace(hour=11, minute=30)) for a in API_AGENTS]
    await runtime.start(prelude=lambda report: shifts)
    server = ApiServer(create_app(runtime, config, dashboard=None), "127.0.0.1", 0)
    await server.start()
    f = Floor(runtime, server, adapter, clock, log, config)
    for agent in API_AGENTS[:3]:
        await f.state(agent, AgentState.READY, 0.1)
    await f.state("1004", AgentState.ON_CALL, 0.1)
    await f.state("1005", AgentState.ON_CALL, 0.1)
    yield f
    await server.stop()
    await runtime.stop()


async def test_held_places_on_the_wall_the_websocket_and_the_agent_page(floor):
    await floor.state("1004", AgentState.READY)
    await floor.state("1005", AgentState.READY)  # five ready
    a1001, a1002 = await bearer(floor.base, "1001"), await bearer(floor.base, "1002")
    sup = await bearer(floor.base, "supervisor")
    async with aiohttp.ClientSession() as s:
        ws_agent = await s.ws_connect(floor.base + f"/ws?token={a1001['Authorization'].split()[1]}")
        ws_sup = await s.ws_connect(floor.base + f"/ws?token={sup['Authorization'].split()[1]}")
        await _next_of(ws_agent, "floor")
        await _next_of(ws_sup, "floor")
        asked_at = floor.clock.value
        _, first = await call("POST", floor.base + "/api/agents/1001/breaks", a1001, json={"kind": "short"})
        _, second = await call("POST", floor.base + "/api/agents/1002/breaks", a1002, json={"kind": "short"})
        _, third = await call("POST", floor.base + "/api/agents/1003/breaks", sup, json={"kind": "short"})
        assert [d["decision"]["allowed"] for d in (first, second, third)] == [True, True, False]
        assert third["decision"]["rule"] == "QUEUE_NEAR_FULL"
        assert "5 idle agents (话务空闲数), 2 already allowed → 3 <= threshold 3" in third["decision"]["detail"]

        status, wall = await call("GET", floor.base + "/api/wall")
        assert status == 200
        assert (wall["idle_agents"], wall["held_places"], wall["idle_for_rules"], wall["short_break_blocked"]) == (
            5, 2, 3, True)
        _, view = await call("GET", floor.base + "/api/floor", sup)
        assert {a["agent"] for a in view["agents"] if a["allowed_break"] == "short"} == {"1001", "1002"}
        _, budget = await call("GET", floor.base + "/api/agents/1001/budget", a1001)
        assert budget["allowed_break"] == "short" and budget["approval_lapsed"] is None
        lapses_at = datetime.fromisoformat(budget["hold_lapses_at"])
        assert timedelta(seconds=119) < lapses_at - asked_at < timedelta(seconds=121)

        floor.clock.value += timedelta(seconds=130)  # the ticks run the floor clock past both lapses
        pushed = await _next_of(ws_agent, "hold_released", timeout=5)
        assert (pushed["agent"], pushed["kind"], pushed["reason"]) == ("1001", "short", "lapsed")
        assert "ask again" in pushed["detail"] and "请重新申请" in pushed["detail_zh"]
        seen_by_sup = {(await _next_of(ws_sup, "hold_released", timeout=5))["agent"] for _ in range(2)}
        assert seen_by_sup == {"1001", "1002"}
        while True:  # the agent's socket never carries a colleague's lapse
            try:
                message = await asyncio.wait_for(ws_agent.receive_json(), 0.3)
            except TimeoutError:
                break
            assert message["type"] != "hold_released" or message["agent"] == "1001", message
        for ws in (ws_agent, ws_sup):
            await ws.close()

    _, budget = await call("GET", floor.base + "/api/agents/1001/budget", a1001)
    assert budget["allowed_break"] is None
    assert budget["approval_lapsed"]["detail"].startswith("your approval lapsed — ask again")
    assert "请重新申请" in budget["approval_lapsed"]["detail_zh"]
    _, wall = await call("GET", floor.base + "/api/wall")
    assert (wall["held_places"], wall["idle_for_rules"], wall["short_break_blocked"]) == (0, 5, False)
    _, view = await call("GET", floor.base + "/api/floor", sup)
    assert {a["agent"] for a in view["alerts"] if a["rule"] == "HOLD_LAPSED"} == {"1001", "1002"}
    logged = [r.body for r in floor.log.read(kinds=["audit"]) if r.body.get("type") == "hold_released"]
    assert sorted((r["agent"], r["reason"]) for r in logged) == [("1001", "lapsed"), ("1002", "lapsed")]
    decisions = [r.body for r in floor.log.read(kinds=["decision"]) if r.body.get("type") == "break_decision"]
    assert len(decisions) == 3  # a lapse is never a decision
    _, again = await call("POST", floor.base + "/api/agents/1003/breaks", sup, json={"kind": "short"})
    assert again["decision"]["allowed"] is True  # the places are free again


# ── a running `wfm serve`: twenty agents asking at the same instant ──────────────────────────────

AGENTS = [f"a{n:02d}" for n in range(1, 21)]
PASSWORD = "holds-test-password"


def _serve_config(tmp_path: Path, device: Path, floor_rules: str) -> Path:
    from wfm.auth import hash_password

    digest = hash_password(PASSWORD)
    users = "".join(f'[[users]]\nusername = "{a}"\nrole = "agent"\nagent = "{a}"\npassword_hash = "{digest}"\n'
                    for a in AGENTS)
    users += f'[[users]]\nusername = "boss"\nrole = "admin"\nagent = ""\npassword_hash = "{digest}"\n'
    config = tmp_path / "serve.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "serve.sqlite"}"\n'
        f"[floor]\n{floor_rules}\n"
        f'[[pbx.feeds]]\nprotocol = "serial"\nhost = ""\nport = 0\nusername = ""\nsecret_env = ""\nsecret = ""\n'
        f'device = "{device}"\nbaudrate = 9600\nbytesize = 8\nparity = "N"\nstopbits = 1\nprofile = "acd"\n'
        'agents = []\ntransport = "udp"\n' + users, encoding="utf-8")
    return config


class Serve:
    """`wfm serve` in a subprocess, its serial feed a socat pty pair the test writes ACD lines to."""

    def __init__(self, tmp_path: Path, floor_rules: str) -> None:
        from wfm.config import load_config

        self.pair = SocatPair(require_tool("socat")["socat"], tmp_path)
        self.pair.start()
        self.proc: subprocess.Popen | None = None
        try:  # a serve that does not come up must not leave socat (or itself) running
            config = _serve_config(tmp_path, self.pair.port, floor_rules)
            self.tz = load_config(config).floor.tz
            self.proc = subprocess.Popen([*WFM, "serve", "--port", "0", "--config", str(config)], cwd=tmp_path,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
            first = self.proc.stdout.readline().strip()
            assert first.endswith("/wall"), (first, self.proc.stderr.read() if self.proc.poll() is not None else "")
            self.base = first[: -len("/wall")]
        except BaseException:
            self.stop()
            raise

    def ready(self, agents: list[str]) -> None:
        stamp = datetime.now(self.tz).strftime("%Y-%m-%d %H:%M:%S")
        self.pair.send("".join(f"{stamp} AGENT {a} LOGIN\r\n{stamp} AGENT {a} READY\r\n" for a in agents))

    def stop(self) -> str:
        err = ""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            if self.proc is not None:
                try:
                    _, err = self.proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    _, err = self.proc.communicate(timeout=5)
        finally:
            self.pair.unplug()
        return err


async def _tokens(base: str, users: list[str]) -> dict[str, dict]:
    async def one(session, user):
        async with session.post(base + "/api/login", json={"username": user, "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
            return user, {"Authorization": f"Bearer {(await r.json())['token']}"}

    async with aiohttp.ClientSession() as s:
        return dict(await asyncio.gather(*(one(s, u) for u in users)))


async def _wait_ready(base: str, headers: dict, n: int) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, wall = await call("GET", base + "/api/wall", headers)
        if status == 200 and wall["idle_agents"] == n:
            return wall
        await asyncio.sleep(0.1)
    raise AssertionError(f"the floor never showed {n} idle agents: {wall}")


async def _ask_all_at_once(base: str, tokens: dict[str, dict], queue_for: set[str]) -> dict[str, dict]:
    async def ask(session, agent):
        async with session.post(base + f"/api/agents/{agent}/breaks", headers=tokens[agent],
                                json={"kind": "short", "queue": agent in queue_for}) as r:
            assert r.status == 200, (agent, r.status, await r.text())
            return agent, await r.json()

    async with aiohttp.ClientSession() as s:
        return dict(await asyncio.gather(*(ask(s, a) for a in AGENTS)))


@pytest.mark.timeout(120)
async def test_twenty_agents_asking_at_once_where_two_may_go_get_two_allowed(tmp_path):
    # 20 ready and a threshold of 18: 20 > 18, 20 - 1 = 19 > 18, then 20 - 2 = 18 <= 18
    serve = Serve(tmp_path, "near_full_idle_threshold = 18")
    try:
        tokens = await _tokens(serve.base, AGENTS + ["boss"])
        serve.ready(AGENTS)
        await _wait_ready(serve.base, tokens["boss"], 20)
        queue_for = set(AGENTS[::2])  # every other agent asks to wait in the break queue
        answers = await _ask_all_at_once(serve.base, tokens, queue_for)
        allowed = sorted(a for a, r in answers.items() if r["decision"]["allowed"])
        assert len(allowed) == 2, {a: r["decision"]["detail"] for a, r in answers.items()}
        refused = {a: r for a, r in answers.items() if a not in allowed}
        assert {r["decision"]["rule"] for r in refused.values()} == {"QUEUE_NEAR_FULL"}
        assert all("2 already allowed → 18 <= threshold 18" in r["decision"]["detail"] for r in refused.values())
        assert all("话务空闲数为20，其中2人已获准休息尚未离开，实为18，不大于18" in r["detail_zh"] for r in refused.values())
        queued = {a: r["queue_position"] for a, r in refused.items() if r["queue_position"] is not None}
        assert set(queued) == queue_for - set(allowed)
        assert sorted(queued.values()) == list(range(1, len(queued) + 1))
        await asyncio.sleep(0.15)  # GET /api/wall shares one build for api.wall_cache_ms (100 ms): past the last poll's
        status, wall = await call("GET", serve.base + "/api/wall", tokens["boss"])
        assert (wall["idle_agents"], wall["held_places"], wall["idle_for_rules"]) == (20, 2, 18)
        assert len(wall["break_queue"]) == len(queued)
    finally:
        err = serve.stop()
    assert "Traceback" not in err, err


@pytest.mark.timeout(120)
async def test_team_cap_of_two_holds_through_the_api_when_a_team_asks_at_once(tmp_path):
    # the second finding: team_short_break_cap = 2 and a whole team asking at once
    team = 'team_short_break_cap = 2\n[[teams]]\nname = "billing"\nagents = [' + ", ".join(
        f'"{a}"' for a in AGENTS) + ']\nqueues = []\n'
    serve = Serve(tmp_path, team)
    try:
        tokens = await _tokens(serve.base, AGENTS + ["boss"])
        serve.ready(AGENTS)
        await _wait_ready(serve.base, tokens["boss"], 20)
        answers = await _ask_all_at_once(serve.base, tokens, set())
        allowed = [a for a, r in answers.items() if r["decision"]["allowed"]]
        assert len(allowed) == 2
        assert {r["decision"]["rule"] for a, r in answers.items() if a not in allowed} == {"TEAM_BREAK_CAP"}
    finally:
        err = serve.stop()
    assert "Traceback" not in err, err


def test_the_serve_config_is_one_a_supervisor_could_write(tmp_path):
    """The config the serve tests use loads on its own (a bad key would make them fail for the wrong reason)."""
    from wfm.config import load_config

    config = load_config(_serve_config(tmp_path, tmp_path / "tty", "near_full_idle_threshold = 18"))
    assert config.floor.near_full_idle_threshold == 18 and config.floor.allowed_break_hold_s == 120
    assert json.dumps([u.username for u in config.users]).count('"a') == 20
