"""Scale-out: several `wfm serve` processes share one PostgreSQL log; one of them judges the floor
(wfm/scaleout.py); every wall board shows the whole centre.

Real parts only: a throw-away PostgreSQL server (the conftest pg_server fixture),
two simulator AMI servers (disjoint agents: site B aliases 1001… to 2001…; with the site
configs and the log readers, shared with the failover test and benchmark: benchmarks/failoverlib/),
two `wfm serve` subprocesses, their HTTP APIs.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from benchmarks.failoverlib.checks import duplicates, stored
from benchmarks.failoverlib.scenario import PBX_AGENTS, SECRET, WFM, site_config, two_pbx_servers
from wfm.scaleout import FloorRuntime, SharedRuntime, floor_lock_key, runtime_class

AGENTS = PBX_AGENTS


@pytest.fixture
def two_pbx():
    """Two simulated floors (two AMI servers) on one loop in a thread."""
    with two_pbx_servers() as ports:
        yield ports


def serve(config: Path, cwd: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", WFM_TEST_AMI_SECRET=SECRET)
    proc = subprocess.Popen([*WFM, "serve", "--port", "0", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, env=env, text=True)
    first = proc.stdout.readline().strip()
    if not (first.startswith("http://127.0.0.1:") and first.endswith("/wall")):
        proc.kill()
        raise AssertionError(f"wfm serve did not start: {first!r} {proc.stderr.read()[-2000:]}")
    return proc, first[: -len("/wall")]


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.stderr.read()


def wall(base: str) -> dict:
    with urllib.request.urlopen(base + "/api/wall", timeout=5) as response:
        return json.loads(response.read())


def wait_for_whole_centre(base: str, timeout: float = 30.0) -> set[str]:
    """The agent ids on this wall once it shows agents of both sites."""
    deadline = time.monotonic() + timeout
    while True:
        agents = {a["agent"] for a in wall(base)["agents"]}
        if any(a.startswith("10") for a in agents) and any(a.startswith("20") for a in agents):
            return agents
        if time.monotonic() > deadline:
            raise AssertionError(f"{base}/api/wall never showed both sites: {sorted(agents)}")
        time.sleep(0.3)


@pytest.mark.timeout(150)
def test_two_serve_processes_share_one_log_and_each_wall_shows_the_whole_centre(tmp_path, pg_server, two_pbx):
    url = pg_server.new_database()
    config_a = site_config(tmp_path / "a.toml", url, two_pbx[0], {})
    config_b = site_config(tmp_path / "b.toml", url, two_pbx[1],
                           {str(1001 + i): str(2001 + i) for i in range(AGENTS)})
    proc_a, base_a = serve(config_a, tmp_path)
    try:
        proc_b, base_b = serve(config_b, tmp_path)
        try:
            on_a = wait_for_whole_centre(base_a)
            on_b = wait_for_whole_centre(base_b)
            time.sleep(2.0)  # some live traffic from both floors
            on_a, on_b = wait_for_whole_centre(base_a), wait_for_whole_centre(base_b)
            feeds_a = [f["source"] for f in wall(base_a)["feeds"]]
            feeds_b = [f["source"] for f in wall(base_b)["feeds"]]
        except Exception:
            print("site B stderr:", stop(proc_b)[-3000:], file=sys.stderr)
            raise
        finally:
            stderr_b = stop(proc_b) if proc_b.poll() is None else ""
    except Exception:
        print("site A stderr:", stop(proc_a)[-3000:], file=sys.stderr)
        raise
    finally:
        stderr_a = stop(proc_a) if proc_a.poll() is None else ""
    assert proc_a.returncode == 0 and proc_b.returncode == 0, stderr_a[-2000:] + stderr_b[-2000:]
    assert SECRET not in stderr_a + stderr_b
    # each process reports only its own feed, yet shows the other site's agents
    assert feeds_a == [f"ami:127.0.0.1:{two_pbx[0]}"] and feeds_b == [f"ami:127.0.0.1:{two_pbx[1]}"]
    assert {a for a in on_a if a.startswith("20")} and {a for a in on_b if a.startswith("10")}

    result, records = stored(url)
    assert result.ok, result.message()
    events = [r for r in records if r.kind == "event"]
    sources = Counter(r.body.get("source") for r in events if r.body.get("type") == "agent_state")
    assert sources[feeds_a[0]] > 0 and sources[feeds_b[0]] > 0
    # no process logged another's events, decisions or actions again
    assert duplicates(records, "event") == []
    assert duplicates(records, "decision") == []
    assert duplicates(records, "action") == []
    # each site's agents are reported by its own feed only
    for r in events:
        if r.body.get("type") == "agent_state" and r.body.get("source"):
            assert r.body["agent"].startswith("10" if r.body["source"] == feeds_a[0] else "20"), r.body

    # a restarted process rebuilds the whole centre from the shared log before its own feed speaks
    proc_a, base_a = serve(config_a, tmp_path)
    try:
        agents = {a["agent"] for a in wall(base_a)["agents"]}
        assert {a for a in agents if a.startswith("20")}, sorted(agents)
    finally:
        stop(proc_a)
    result, after = stored(url)
    assert result.ok and len(after) >= len(records)
    assert duplicates(after, "event") == []


def test_each_floor_has_its_own_judge_lock():
    assert floor_lock_key("north") == floor_lock_key("north") != floor_lock_key("south")
    assert -(2 ** 63) <= floor_lock_key("north") < 2 ** 63


def test_only_a_postgres_log_is_shared():
    from wfm.runtime import Runtime

    assert runtime_class("postgresql://u@h/db") is FloorRuntime is SharedRuntime
    assert runtime_class("sqlite:///x.sqlite") is Runtime


# ───────────────────────── two runtimes in one process: who logs, who tells the PBX


class SetClock:
    """The floor's time, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class MemoryFeed:
    """A PBX feed whose events the test pushes; it remembers every pause/unpause it was told to send."""

    sends_snapshots = False
    can_pause = True  # stands for a PBX that can be commanded (AMI, ESL)
    enact_breaks = True

    def __init__(self, source: str) -> None:
        from telephony.adapter import Adapter

        Adapter.register(type(self))
        self.source = source
        self.queue: asyncio.Queue = asyncio.Queue()
        self.calls: list[tuple[str, bool]] = []

    async def stream(self):
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event

    async def snapshot(self) -> None:
        return None

    async def set_paused(self, agent: str, paused: bool, reason: str | None = None):
        from telephony.adapter import ActionResult

        self.calls.append((agent, paused))
        return ActionResult(action="set_paused", agent=agent, ok=True, detail=f"{self.source} told")

    def health(self, now: datetime):
        from telephony.adapter import ConnectionState, FeedHealth

        return FeedHealth(source=self.source, state=ConnectionState.CONNECTED, connected=True, stale=False,
                          last_event_age_s=0.0, reconnects=0, skipped=0)

    async def close(self) -> None:
        self.queue.put_nowait(None)

    def request_resync(self, reason: str) -> None:
        return None


async def eventually(check, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


@pytest.mark.timeout(60)
def test_one_judge_logs_every_output_once_and_the_owning_site_alone_tells_its_pbx(pg_server):
    from wfm.config import default_data, from_data, merge
    from wfm.decisions import Violation
    from wfm.engine import FloorEngine
    from wfm.eventlog import open_log
    from wfm.events import AgentState, AgentStateEvent, OverrideAction, OverrideEvent, ShiftEvent
    from wfm.runtime import OutputPublished

    url = pg_server.new_database()
    config = from_data(merge(default_data(), {"floor": {"tick_s": 0.05}, "storage": {"url": url}}))
    t0 = datetime(2027, 3, 1, 9, 0, tzinfo=config.floor.tz)

    async def main():
        clock = SetClock(t0)
        feed_a, feed_b = MemoryFeed("pbx:a"), MemoryFeed("pbx:b")
        site_a = SharedRuntime(config, FloorEngine(config), open_log(url), [feed_a], clock, follow_poll_s=0.2)
        site_b = SharedRuntime(config, FloorEngine(config), open_log(url), [feed_b], clock, follow_poll_s=0.2)
        heard_on_a: list = []
        try:
            await site_a.start()
            await eventually(lambda: site_a.leader, "site A judges (the first to take the lock)")
            await site_b.start()
            await asyncio.sleep(0.3)
            assert site_a.leader and not site_b.leader  # one judge per floor
            site_a.subscribe(lambda update: heard_on_a.append(update))
            feed_a.queue.put_nowait(AgentStateEvent(ts=t0, agent="1001", state=AgentState.READY, source="pbx:a"))
            feed_b.queue.put_nowait(AgentStateEvent(ts=t0, agent="2001", state=AgentState.READY, source="pbx:b"))
            for site in (site_a, site_b):
                await eventually(lambda s=site: s.known_agent("1001") and s.known_agent("2001"),
                                 "both sites' feed events in both engines")
            await site_a.submit_many([ShiftEvent(ts=t0, agent=a, start=t0 + timedelta(minutes=2),
                                                 end=t0 + timedelta(hours=8)) for a in ("1001", "2001")])
            for site in (site_a, site_b):
                await eventually(lambda s=site: {"1001", "2001"} <= {a.agent for a in s.floor_view().agents},
                                 "both sites' agents on both floors")

            # 2001 (site B's agent) takes a short break (小休) and overruns it: the judge (site A) logs
            # the violation once; site B's clients hear it from the log
            clock.advance(180)
            feed_b.queue.put_nowait(AgentStateEvent(ts=clock.now(), agent="2001", state=AgentState.SHORT_BREAK,
                                                    reason="小休", source="pbx:b"))
            await eventually(lambda: site_a.floor_view().agents and any(
                a.agent == "2001" and a.state is AgentState.SHORT_BREAK for a in site_a.floor_view().agents),
                "site A sees 2001 on 小休")
            clock.advance(config.floor.short_break_max_min * 60 + 10)
            overrun = await eventually(lambda: [u.output for u in heard_on_a if isinstance(u, OutputPublished)
                                                and isinstance(u.output, Violation) and u.output.agent == "2001"
                                                and u.output.rule == "SHORT_BREAK_TOO_LONG"],
                                       "site A hears site B's overrun violation")
            await asyncio.sleep(0.5)  # more ticks on both sites

            # a supervisor on site A ends 2001's break: site A logs the decision, site B's PBX is told
            calls_a, calls_b = len(feed_a.calls), len(feed_b.calls)
            await site_a.submit(OverrideEvent(ts=clock.now(), supervisor="sup", agent="2001",
                                              action=OverrideAction.END_BREAK))
            await eventually(lambda: ("2001", False) in feed_b.calls[calls_b:], "site B's PBX unpauses 2001")
            await asyncio.sleep(0.5)
            assert feed_a.calls[calls_a:] == []  # never the other site's PBX
        finally:
            await site_b.stop()
            await site_a.stop()
        return overrun

    overrun = asyncio.run(main())
    assert len(overrun) == 1
    result, records = stored(url)
    assert result.ok, result.message()
    violations = [r for r in records if r.kind == "decision" and r.body.get("rule") == "SHORT_BREAK_TOO_LONG"]
    assert len(violations) == 1 and violations[0].body["agent"] == "2001"
    unpauses = [r for r in records if r.kind == "action" and r.body.get("agent") == "2001" and not r.body.get("paused")]
    # every step of the unpause (sent, then its outcome) is a record naming the feed that carried it
    assert len(unpauses) >= 1 and all(r.body["feed"] == "pbx:b" for r in unpauses)
    assert duplicates(records, "event") == [] and duplicates(records, "decision") == []
    overrides = [r for r in records if r.kind == "event" and r.body.get("type") == "override"]
    assert len(overrides) == 1


@pytest.mark.timeout(60)
def test_the_leader_lock_passes_to_another_process_when_the_leader_stops(pg_server):
    from wfm.config import default_data, from_data, merge
    from wfm.engine import FloorEngine
    from wfm.eventlog import open_log

    url = pg_server.new_database()
    config = from_data(merge(default_data(), {"storage": {"url": url}}))
    clock = SetClock(datetime(2027, 3, 1, 9, 0, tzinfo=config.floor.tz))

    async def main():
        first = SharedRuntime(config, FloorEngine(config), open_log(url), [MemoryFeed("pbx:a")], clock, lead_retry_s=0.1)
        second = SharedRuntime(config, FloorEngine(config), open_log(url), [MemoryFeed("pbx:b")], clock, lead_retry_s=0.1)
        try:
            await first.start()
            await eventually(lambda: first.leader, "the first process judges")
            await second.start()
            await asyncio.sleep(0.3)
            assert first.leader and not second.leader  # the lock is held, not re-contested
            await first.stop()  # its lock connection closes: the lock is free
            await eventually(lambda: second.leader, "the second process takes the lead")
            assert not first.leader
        finally:
            await second.stop()
            await first.stop()

    asyncio.run(main())
