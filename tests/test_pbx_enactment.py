"""Closing the break loop through the PBX (docs/interfaces.md §2, §7), against the simulator.

Real parts only: the simulated Asterisk AMI server on a localhost port, the
AMI adapter, the runtime, the rules engine and a SQLite event log. An allowed
小休 pauses the member with reason 小休 and the break starts when the PBX's
QueueMemberPause says so; ending it unpauses; a write-less manager user makes
the failure visible (API answer, alert, health); a reload, a second line and
a restart of the PBX are reconciled.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest


from telephony.ami.client import AmiAdapter
from pbxsim.ami_server import AmiServer, FloorSimulation
from pbxsim.clock import SimClock
from pbxsim.esl_server import EslServer
from telephony.esl.client import EslAdapter
from wfm.commands.feeds import ami_settings, esl_settings
from wfm.config import default_data, from_data, merge
from wfm.decisions import BreakDecision
from wfm.engine import FloorEngine
from wfm.enactment import Outcome
from wfm.eventlog import open_log_from_config
from wfm.events import AgentState, BreakCancelEvent, BreakKind, BreakRequestEvent, OverrideAction, OverrideEvent
from wfm.runtime import Runtime

SECRET = "sim-secret"


def floor_config(tmp_path, **pbx):
    data = merge(default_data(), {
        "storage": {"url": f"sqlite:///{tmp_path / 'wfm.sqlite'}", "batch_max_delay_ms": 1},
        "simulator": {"agents": 12, "calls_per_day": 0, "overrun_probability": 0.0},
        "pbx": {"confirm_s": 2.0, "reconcile_s": 0.0, "action_retry_initial_s": 0.05,
                "reconnect": {"initial_s": 0.1, "max_s": 0.5, "jitter": 0.0}, **pbx},
        "floor": {"tick_s": 0.05},
    })
    return from_data(data, "test")


async def wait_until(predicate, timeout: float = 5.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(step)
    raise AssertionError(f"not within {timeout} s: {predicate}")


class Floor:
    """Simulator + AMI server + adapter + runtime, started and stopped together."""

    def __init__(self, config, *, username: str = "wfm", start: str = "10:30", protocol: str = "ami") -> None:
        self.config = config
        hour, minute = map(int, start.split(":"))
        self.clock = SimClock(datetime(2027, 1, 4, hour, minute, tzinfo=config.floor.tz), speed=1.0)
        self.sim = FloorSimulation(config, self.clock, tick_s=0.02)
        self.protocol = protocol
        if protocol == "esl":
            self.server = EslServer(self.sim, password=SECRET)
        else:
            self.server = AmiServer(self.sim, users={"wfm": SECRET, "reader": SECRET}, read_only={"reader"})
        self.username = username

    async def __aenter__(self) -> Floor:
        await self.server.start()
        if self.protocol == "esl":
            self.adapter = EslAdapter(esl_settings(self.config), host="127.0.0.1", port=self.server.port,
                                      password=SECRET, source="esl:sim", clock=self.clock)
        else:
            self.adapter = AmiAdapter(ami_settings(self.config), host="127.0.0.1", port=self.server.port,
                                      username=self.username, secret=SECRET, source="ami:sim", clock=self.clock)
        self.log = open_log_from_config(self.config)
        self.engine = FloorEngine(self.config)
        self.runtime = Runtime(self.config, self.engine, self.log, [self.adapter], self.clock)
        shifts = list(self.sim.model.shifts)
        await self.runtime.start(prelude=lambda report: shifts)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runtime.stop()
        await self.server.close()

    def ready_agent(self) -> str:
        """An agent the simulator has ready now, with a shift now."""
        now = self.clock.now().timestamp()
        for plan in self.sim.model.plans:
            if (self.sim.model.state_of(plan.agent) is AgentState.READY and plan.shift_start <= now < plan.shift_end
                    and self.floor_state(plan.agent) is AgentState.READY):
                return plan.agent
        raise AssertionError("no ready agent on the simulated floor")

    def floor_state(self, agent: str) -> AgentState | None:
        view = self.runtime.floor_view()
        return next((a.state for a in view.agents if a.agent == agent), None)

    def pbx_reason(self, agent: str) -> str | None:
        return self.sim.model._agents[agent].reason

    def records(self, agent: str) -> list[dict]:
        return [r.body for r in self.log.read(kinds=["action"]) if r.body.get("agent") == agent]


async def ask(floor: Floor, agent: str, kind: BreakKind = BreakKind.SHORT):
    result, pending = await floor.runtime.submit_enacted(
        BreakRequestEvent(ts=floor.runtime.now(), agent=agent, kind=kind))
    decision = next(o for o in result.outputs if isinstance(o, BreakDecision))
    outcomes = [await asyncio.wait_for(p, 10) for p in pending]
    return decision, outcomes


@pytest.mark.parametrize("protocol", ["ami", "esl"])
async def test_allowed_short_break_pauses_the_member_with_its_reason_and_starts_at_confirmation(tmp_path, protocol):
    async with Floor(floor_config(tmp_path), protocol=protocol) as floor:
        agent = floor.ready_agent()
        decision, outcomes = await ask(floor, agent)
        assert decision.allowed
        assert [o.outcome for o in outcomes] == [Outcome.CONFIRMED]
        # the simulated PBX agrees: paused with reason 小休; the floor shows the break
        assert floor.sim.model.state_of(agent) is AgentState.SHORT_BREAK
        assert floor.pbx_reason(agent) == "小休"
        await wait_until(lambda: floor.floor_state(agent) is AgentState.SHORT_BREAK)
        budget = floor.runtime.agent_budget(agent)
        assert budget.on_break is BreakKind.SHORT
        steps = [r["outcome"] for r in floor.records(agent)]
        assert steps == ["sent", "confirmed"]
        assert floor.records(agent)[0]["reason"] == "小休"
        assert floor.runtime.action_health()["confirmed"] == 1

        # the agent ends it on /me: the PBX unpauses and the floor follows the PBX
        result, pending = await floor.runtime.submit_enacted(BreakCancelEvent(ts=floor.runtime.now(), agent=agent))
        [ended] = [await asyncio.wait_for(p, 10) for p in pending]
        assert ended.outcome is Outcome.CONFIRMED and not ended.paused
        assert floor.sim.model.state_of(agent) in (AgentState.READY, AgentState.RINGING, AgentState.ON_CALL)
        await wait_until(lambda: floor.floor_state(agent) is AgentState.READY)
        assert floor.runtime.agent_budget(agent).on_break is None


async def test_a_refused_request_sends_nothing(tmp_path):
    async with Floor(floor_config(tmp_path)) as floor:
        agent = floor.ready_agent()
        decision, outcomes = await ask(floor, agent)
        assert decision.allowed and outcomes
        before = len(floor.records(agent))
        result = await floor.runtime.submit(BreakRequestEvent(ts=floor.runtime.now(), agent="9999", kind=BreakKind.SHORT))
        refused = next(o for o in result.outputs if isinstance(o, BreakDecision))
        assert not refused.allowed  # no shift: NOT_ON_SHIFT
        assert result.actions == ()
        assert len(floor.records(agent)) == before


async def test_supervisor_end_break_with_a_write_less_ami_user_reports_the_pbx_failure(tmp_path):
    async with Floor(floor_config(tmp_path), username="reader") as floor:
        agent = floor.ready_agent()
        floor.sim.set_paused(agent, True, "小休")  # paused on the phone (judged as a request)
        await wait_until(lambda: floor.floor_state(agent) is AgentState.SHORT_BREAK)
        result, pending = await floor.runtime.submit_enacted(OverrideEvent(
            ts=floor.runtime.now(), supervisor="supervisor", agent=agent, action=OverrideAction.END_BREAK))
        [outcome] = [await asyncio.wait_for(p, 10) for p in pending]
        assert outcome.outcome is Outcome.FAILED
        assert outcome.detail == "Permission denied"
        assert "Permission denied" in outcome.message() and "QueuePause" in outcome.message()
        # the wall carries the alert, health counts the failure, the PBX keeps the agent paused
        view = floor.runtime.floor_view()
        assert any(a.rule == "PBX_ACTION_FAILED" and "Permission denied" in a.detail for a in view.alerts)
        assert floor.runtime.action_health()["failed"] == 1
        assert floor.sim.model.state_of(agent) is AgentState.SHORT_BREAK
        # the failure triggered a resync: the floor shows PBX truth again (paused), not what was asked
        await wait_until(lambda: floor.floor_state(agent) is AgentState.SHORT_BREAK)


async def test_a_pause_the_pbx_never_confirms_is_not_enacted_and_releases_the_place(tmp_path):
    async with Floor(floor_config(tmp_path, confirm_s=0.5)) as floor:
        agent = floor.ready_agent()
        # the PBX answers Success but its member never changes (a broken dialplan, a stuck member)
        original = floor.sim.model.set_paused
        floor.sim.model.set_paused = lambda *a, **k: type(original(a[0], False))(True, "Interface paused successfully")
        decision, outcomes = await ask(floor, agent)
        assert decision.allowed
        assert [o.outcome for o in outcomes] == [Outcome.NOT_ENACTED]
        view = floor.runtime.floor_view()
        assert any(a.rule == "PBX_ACTION_FAILED" and "not enacted" in a.detail for a in view.alerts)
        # the allowed break no longer holds its place (engine.release_hold), after an audit record
        # that a restart's replay applies the same way
        await wait_until(lambda: floor.engine.floor.agents[agent].hold is None)
        audits = [r.body for r in floor.log.read(kinds=["audit"]) if r.body.get("type") == "release_hold"]
        assert [(a["agent"], a["reason"]) for a in audits] == [(agent, "not_enacted")]
        assert audits[0]["allowed_at"] == decision.ts.isoformat()
        assert floor.runtime.action_health()["not_enacted"] == 1
        held_at = floor.runtime.now()
    # a restart rebuilds the same floor from the log: the freed place stays free (the audit record is
    # applied again), and nothing is decided or sent twice
    log = open_log_from_config(floor.config)
    decisions_before = log.count(kinds=["decision"])
    engine = FloorEngine(floor.config)
    again = Runtime(floor.config, engine, log, [], floor.clock)
    await again.start()
    try:
        assert engine.floor.agents[agent].hold is None
        assert held_at is not None and log.count(kinds=["decision"]) == decisions_before
    finally:
        await again.stop()


async def _api(floor: Floor):
    from wfm.api.app import ApiServer, create_app

    server = ApiServer(create_app(floor.runtime, floor.config), "127.0.0.1", 0)
    await server.start()
    return server


async def _call(method: str, url: str, token: str | None = None, **kwargs):
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, headers=headers, **kwargs) as response:
            return response.status, await response.json()


async def _token(base: str, user: str) -> str:
    status, body = await _call("POST", base + "/api/login", json={"username": user, "password": user})
    assert status == 200, body
    return body["token"]


async def test_api_end_break_with_a_write_less_user_is_an_error_naming_the_pbx_failure(tmp_path):
    async with Floor(floor_config(tmp_path), username="reader") as floor:
        server = await _api(floor)
        try:
            agent = floor.ready_agent()
            floor.sim.set_paused(agent, True, "小休")
            await wait_until(lambda: floor.floor_state(agent) is AgentState.SHORT_BREAK)
            token = await _token(server.base_url, "supervisor")
            status, body = await _call("POST", server.base_url + "/api/overrides", token,
                                       json={"agent": agent, "action": "end_break", "note": "back to the phones"})
            assert status == 502, body
            assert body["error"] == "PBX action failed"
            assert "Permission denied" in body["detail"] and "QueuePause" in body["detail"]
            assert [r["outcome"] for r in body["pbx"]] == ["failed"]
            # the wall carries the alert; /api/health counts the failure
            status, wall = await _call("GET", server.base_url + "/api/floor", token)
            assert status == 200
            assert any(a["rule"] == "PBX_ACTION_FAILED" and "Permission denied" in a["detail"] for a in wall["alerts"])
            status, board = await _call("GET", server.base_url + "/api/wall")  # the wall display itself
            assert status == 200 and any(a["rule"] == "PBX_ACTION_FAILED" for a in board["alerts"])
            status, health = await _call("GET", server.base_url + "/api/health")
            assert health["pbx_actions"]["failed"] == 1 and health["pbx_actions"]["sent"] == 1
        finally:
            await server.stop()


async def test_api_break_request_answers_with_the_confirmed_pause(tmp_path):
    async with Floor(floor_config(tmp_path)) as floor:
        server = await _api(floor)
        try:
            agent = floor.ready_agent()
            token = await _token(server.base_url, "supervisor")
            status, body = await _call("POST", server.base_url + f"/api/agents/{agent}/breaks", token,
                                       json={"kind": "short"})
            assert status == 200, body
            assert body["decision"]["allowed"] is True
            assert [r["outcome"] for r in body["pbx"]] == ["confirmed"] and body["pbx"][0]["reason"] == "小休"
            assert floor.sim.model.state_of(agent) is AgentState.SHORT_BREAK
            status, body = await _call("POST", server.base_url + f"/api/agents/{agent}/breaks/end", token)
            assert status == 200, body
            assert [r["outcome"] for r in body["pbx"]] == ["confirmed"] and body["pbx"][0]["paused"] is False
            assert floor.sim.model.state_of(agent) is not AgentState.SHORT_BREAK
            status, health = await _call("GET", server.base_url + "/api/health")
            assert health["pbx_actions"]["confirmed"] == 2 and health["pbx_actions"]["failed"] == 0
        finally:
            await server.stop()


async def test_a_feed_that_cannot_be_commanded_says_pause_on_your_phone(tmp_path):
    from support.runtime_helpers import T0, FixedClock, QueueAdapter
    from wfm.events import AgentStateEvent, ShiftEvent

    config = floor_config(tmp_path)
    adapter = QueueAdapter("sip:presence")
    adapter.can_pause = False  # SIP presence, serial CTI
    clock = FixedClock(T0)
    log = open_log_from_config(config)
    runtime = Runtime(config, FloorEngine(config), log, [adapter], clock)
    await runtime.start()
    try:
        await runtime.submit_many([ShiftEvent(ts=T0, agent=a, start=T0.replace(hour=8), end=T0.replace(hour=16))
                                   for a in ("1001", "1002", "1003", "1004", "1005")])
        for agent in ("1001", "1002", "1003", "1004", "1005"):
            adapter.push(AgentStateEvent(ts=T0, agent=agent, state=AgentState.READY, source=adapter.source))
        await wait_until(lambda: runtime.floor_view().idle_agents == 5)
        result, pending = await runtime.submit_enacted(BreakRequestEvent(ts=T0, agent="1001", kind=BreakKind.SHORT))
        assert next(o for o in result.outputs if isinstance(o, BreakDecision)).allowed
        [record] = [await asyncio.wait_for(p, 5) for p in pending]
        assert record.outcome is Outcome.MANUAL and not record.failed
        assert record.message().startswith("pause on your phone now") and "话机" in record.message()
        assert adapter.actions == []  # nothing was sent
        # the break starts when the phone's state changes
        adapter.push(AgentStateEvent(ts=T0, agent="1001", state=AgentState.SHORT_BREAK, reason="小休",
                                     source=adapter.source))
        await wait_until(lambda: runtime.agent_budget("1001").on_break is BreakKind.SHORT)
    finally:
        await runtime.stop()


# ── PBX truth reconciliation against the simulator ──────────────────────────

async def test_a_reload_removing_a_member_reaches_the_floor_by_the_reload_alone(tmp_path):
    async with Floor(floor_config(tmp_path)) as floor:  # reconcile_s 0: no periodic check could find it instead
        agent = floor.ready_agent()
        assert floor.server.reload_queues(remove=[agent]) == [agent]  # `queue reload all`: only a Reload event
        await wait_until(lambda: floor.floor_state(agent) is AgentState.LOGGED_OUT, timeout=30.0)
        assert agent not in {a.agent for a in floor.runtime.floor_view().agents if a.state is AgentState.READY}


async def test_a_member_gone_without_any_event_is_found_by_the_periodic_reconciliation(tmp_path):
    async with Floor(floor_config(tmp_path, reconcile_s=1.0)) as floor:
        agent = floor.ready_agent()
        idle_before = floor.runtime.floor_view().idle_agents
        assert floor.sim.model.remove_member(agent)  # no event at all
        started = time.monotonic()
        await wait_until(lambda: floor.floor_state(agent) is AgentState.LOGGED_OUT, timeout=5.0)
        print(f"reconcile: a silent removal found {time.monotonic() - started:.2f} s later (reconcile_s 1)")
        assert floor.runtime.floor_view().idle_agents == idle_before - 1
        assert floor.adapter.drift >= 1
        [feed] = floor.runtime.floor_view().feeds
        assert feed.drift >= 1  # exposed in health


async def test_no_drift_is_counted_while_the_floor_agrees(tmp_path):
    async with Floor(floor_config(tmp_path, reconcile_s=0.3)) as floor:
        await wait_until(lambda: floor.adapter.reconciliations >= 3, timeout=5.0)
        assert floor.adapter.drift == 0


async def test_a_reconciliation_list_is_mapped_as_it_comes_and_not_kept(tmp_path, monkeypatch):
    """Every few seconds a check asks for the whole QueueStatus list (a message per member and
    queue): it is mapped as it streams in, so holding its messages until the list ends only held
    memory (about 9 MB every 4 s at 5,000 agents; found by the soak run)."""
    from telephony.ami.client import AmiConnection

    kept: list[int] = []
    action = AmiConnection.action

    async def spy(self, fields, **kwargs):
        result = await action(self, fields, **kwargs)
        if kwargs.get("streamed"):
            kept.append(len(result.items))
        return result

    monkeypatch.setattr(AmiConnection, "action", spy)
    async with Floor(floor_config(tmp_path, reconcile_s=0.3)) as floor:
        agent = floor.ready_agent()
        await wait_until(lambda: floor.adapter.reconciliations >= 3, timeout=5.0)
        assert floor.sim.model.remove_member(agent)  # still found by the check (mapped as it streamed)
        await wait_until(lambda: floor.floor_state(agent) is AgentState.LOGGED_OUT, timeout=5.0)
    assert len(kept) >= 3 and set(kept) == {0}


@pytest.mark.parametrize("scope", ["queue", "all"])
async def test_a_check_round_asks_each_queue_once_or_the_whole_table(tmp_path, monkeypatch, scope):
    """pbx.reconcile_scope "queue": one QueueStatus per queue (Queue:), a round through every queue the
    feed knows spread over reconcile_s, so no live event waits behind one list of the whole table;
    "all": the whole table each time."""
    from telephony.ami.client import AmiConnection

    asked: list[str | None] = []
    action = AmiConnection.action

    async def spy(self, fields, **kwargs):
        if kwargs.get("streamed"):
            asked.append(fields.get("Queue"))
        return await action(self, fields, **kwargs)

    monkeypatch.setattr(AmiConnection, "action", spy)
    async with Floor(floor_config(tmp_path, reconcile_s=0.4, reconcile_scope=scope)) as floor:
        queues = sorted(floor.config.simulator.queues)
        assert len(queues) >= 2
        await wait_until(lambda: len(asked) >= 2 * len(queues), timeout=10.0)
        assert floor.adapter.drift == 0
    if scope == "queue":
        assert asked[: 2 * len(queues)] == queues * 2
    else:
        assert set(asked) == {None}


async def test_a_device_busy_on_a_second_line_is_not_counted_idle(tmp_path):
    async with Floor(floor_config(tmp_path)) as floor:
        agent = floor.ready_agent()
        idle_before = floor.runtime.floor_view().idle_agents
        assert floor.sim.model.set_other_line(agent, True)
        floor.sim.pump()
        await wait_until(lambda: floor.floor_state(agent) is AgentState.ON_CALL)
        assert floor.runtime.floor_view().idle_agents == idle_before - 1
        assert floor.sim.model.set_other_line(agent, False)
        floor.sim.pump()
        await wait_until(lambda: floor.floor_state(agent) is AgentState.READY)


async def test_after_a_pbx_restart_the_floor_agrees_again(tmp_path):
    # the shipped reconnect backoff (0.5 s doubling to 30 s), a PBX down for 3 s
    shipped = {"reconnect": {"initial_s": 0.5, "max_s": 30.0, "jitter": 0.2}}
    async with Floor(floor_config(tmp_path, **shipped)) as floor:
        agent = floor.ready_agent()
        port = floor.server.port
        await floor.server.close()  # the PBX goes away …
        floor.sim.model.set_paused(agent, True, "用餐")  # … and its floor moves on while we are not looking
        floor.sim.model._outbox.clear()  # nobody was connected to hear it
        await wait_until(lambda: not floor.runtime.feed_views(floor.runtime.now())[0].connected, timeout=5.0)
        await asyncio.sleep(3.0)
        floor.server = AmiServer(floor.sim, users={"wfm": SECRET}, port=port)
        await floor.server.start()
        # reconnected (backoff 0.5 s doubling) and resynced from a fresh snapshot: the meal it missed is on the floor
        await wait_until(lambda: floor.floor_state(agent) is AgentState.MEAL, timeout=60.0)
        assert floor.runtime.feed_views(floor.runtime.now())[0].connected


async def test_a_queue_grant_pauses_at_the_grant(tmp_path):
    async with Floor(floor_config(tmp_path)) as floor:
        view = floor.runtime.floor_view()
        ready = [a.agent for a in view.agents if a.state is AgentState.READY and floor.sim.model.state_of(a.agent)
                 is AgentState.READY]
        threshold = view.idle_threshold
        assert len(ready) > threshold + 1
        # pause agents in the PBX until the floor is at the threshold: a short break is then refused
        extra = ready[: len(ready) - threshold]
        for other in extra[1:]:
            floor.sim.set_paused(other, True, "Admin")  # back-office work: not_ready
        asker = extra[0]
        await wait_until(lambda: floor.runtime.floor_view().idle_agents == threshold + 1)
        floor.sim.set_paused(asker, False)
        result = await floor.runtime.submit(BreakRequestEvent(ts=floor.runtime.now(), agent=ready[-1],
                                                              kind=BreakKind.SHORT, queue=True))
        first = next(o for o in result.outputs if isinstance(o, BreakDecision))
        assert first.allowed  # threshold + 1 idle: allowed, the floor is now at the threshold
        await wait_until(lambda: floor.floor_state(ready[-1]) is AgentState.SHORT_BREAK)
        result = await floor.runtime.submit(BreakRequestEvent(ts=floor.runtime.now(), agent=asker,
                                                              kind=BreakKind.SHORT, queue=True))
        queued = next(o for o in result.outputs if isinstance(o, BreakDecision))
        assert not queued.allowed and queued.rule == "QUEUE_NEAR_FULL"
        assert floor.sim.model.state_of(asker) is AgentState.READY  # nothing sent for a refusal
        # someone comes back from back-office work: the queued request is granted and paused at once
        floor.sim.set_paused(extra[1], False)
        await wait_until(lambda: floor.sim.model.state_of(asker) is AgentState.SHORT_BREAK, timeout=5.0)
        assert floor.pbx_reason(asker) == "小休"
        await wait_until(lambda: floor.floor_state(asker) is AgentState.SHORT_BREAK)
        # the outcome record follows the confirming event (written by the enactment task)
        await wait_until(lambda: [r["outcome"] for r in floor.records(asker)] == ["sent", "confirmed"])


# ── wfm ingest --connect when the PBX goes away ─────────────────────────────

async def _ingest(port: int, *extra: str):
    import sys

    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wfm.cli", "ingest", "--protocol", "ami", "--connect", f"127.0.0.1:{port}",
        "--username", "wfm", "--secret", SECRET, "--json", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def _sim_server(config, port: int = 0):
    clock = SimClock(datetime(2027, 1, 4, 10, 30, tzinfo=config.floor.tz), speed=1.0)
    sim = FloorSimulation(config, clock, tick_s=0.02)
    server = AmiServer(sim, users={"wfm": SECRET}, port=port)
    await server.start()
    return sim, server


async def test_ingest_connect_with_no_reconnect_exits_non_zero_naming_the_lost_pbx(tmp_path):
    config = floor_config(tmp_path)
    _, server = await _sim_server(config)
    proc = await _ingest(server.port, "--no-reconnect")
    first = await asyncio.wait_for(proc.stdout.readline(), 15)
    assert first.startswith(b'{"type":"agent_state"')
    await server.close()
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1, err.decode()
    assert "closed the connection" in err.decode() and "--no-reconnect" in err.decode()


async def test_ingest_connect_reconnects_like_serve_when_the_pbx_comes_back(tmp_path):
    config = floor_config(tmp_path)
    sim, server = await _sim_server(config)
    port = server.port
    proc = await _ingest(port)
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 15)).startswith(b'{"type":"agent_state"')
        await server.close()
        await asyncio.sleep(0.5)
        assert proc.returncode is None  # still running: it will connect again
        while True:  # drain what the first connection printed
            try:
                await asyncio.wait_for(proc.stdout.readline(), 0.3)
            except TimeoutError:
                break
        server = AmiServer(sim, users={"wfm": SECRET}, port=port)
        await server.start()
        # the new connection's snapshot is printed
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert line.startswith(b'{"type":')
        assert proc.returncode is None
    finally:
        proc.send_signal(__import__("signal").SIGINT)
        await asyncio.wait_for(proc.communicate(), 15)
        await server.close()
    assert proc.returncode == 0


@pytest.mark.parametrize("protocol", ["ami", "esl"])
async def test_with_wrapuptime_10_no_ready_is_shown_before_the_wrap_up_ends(tmp_path, protocol):
    """The simulated PBX holds every member 10 s after a call (queue wrapuptime, reported per member);
    the feed never shows `ready` earlier, and shows it when the wrap-up is over."""
    from wfm.events import AgentStateEvent, CallEvent, CallEventKind

    data = merge(default_data(), {"simulator": {"agents": 12, "calls_per_day": 30000, "mean_handle_s": 40,
                                                  "wrapuptime_s": 10.0}})
    config = from_data(data, "test")
    clock = SimClock(datetime(2027, 1, 4, 10, 30, tzinfo=config.floor.tz), speed=20.0)
    sim = FloorSimulation(config, clock, tick_s=0.02)
    if protocol == "esl":
        server = EslServer(sim, password=SECRET)
        await server.start()
        adapter = EslAdapter(esl_settings(config), host="127.0.0.1", port=server.port, password=SECRET, clock=clock)
    else:
        server = AmiServer(sim, users={"wfm": SECRET})
        await server.start()
        adapter = AmiAdapter(ami_settings(config), host="127.0.0.1", port=server.port, username="wfm", secret=SECRET,
                             clock=clock)
    events: list = []

    async def consume():
        async for event in adapter.stream():
            events.append(event)

    task = asyncio.get_running_loop().create_task(consume())
    await asyncio.sleep(6.0)  # 120 s of floor time
    await adapter.close()
    await asyncio.wait_for(task, 5)
    await server.close()
    completed = [e for e in events if isinstance(e, CallEvent) and e.event is CallEventKind.COMPLETED and e.agent]
    assert len(completed) >= 5
    followed = 0
    for call in completed:
        after = [e for e in events if isinstance(e, AgentStateEvent) and e.agent == call.agent and e.ts >= call.ts]
        early = [e for e in after if e.state.value == "ready" and (e.ts - call.ts).total_seconds() < 10.0 - 1e-3]
        assert early == [], (call, early)
        ready = next((e for e in after if e.state.value == "ready"), None)
        if ready is not None:
            followed += 1
            assert (ready.ts - call.ts).total_seconds() <= 10.5  # and not much later either
    assert followed >= 1
