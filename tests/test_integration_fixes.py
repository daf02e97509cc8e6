"""Integration fixes across finished parts: each test here failed before its fix."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from test_rules_kit import Floor, at, violations
from test_runtime_helpers import T0, FixedClock, QueueAdapter, make_config
from wfm.decisions import Violation
from wfm.engine import FloorEngine
from wfm.eventlog import open_log_from_config
from wfm.events import AgentState, AgentStateEvent, QueueStatusEvent, ResyncEvent, ShiftEvent
from wfm.runtime import OutputPublished, Runtime


# --- 1. a shift handed to the floor after its start (serve/demo started mid-shift) ----------

def test_shift_received_after_its_start_does_not_make_an_agent_on_post_then_late():
    f = Floor()
    f.state("09:30:01", "a", "on_call")  # the first snapshot: already taking calls
    f.shift("a", "08:30", "16:00", ts="09:30:02")
    f.tick("09:31")
    assert violations(f.outputs, "LATE_SIGN_IN") == []


def test_shift_received_after_its_start_still_reports_an_agent_not_on_post_then():
    f = Floor()
    f.state("09:30:01", "a", "on_call")
    f.state("09:30:01", "b", "logged_out")
    f.shift("b", "08:30", "16:00", ts="09:30:02")
    f.shift("c", "08:30", "16:00", ts="09:30:02")  # never seen by any feed
    f.state("09:30:30", "b", "ready")  # signs in only after the floor had the shift
    f.tick("09:31")
    assert sorted(v.agent for v in violations(f.outputs, "LATE_SIGN_IN")) == ["b", "c"]


class SnapshotAdapter(QueueAdapter):
    sends_snapshots = True


async def _wait(predicate, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_runtime_hands_the_shifts_over_after_the_first_snapshot(tmp_path):
    config = make_config(tmp_path)
    log = open_log_from_config(config)
    engine = FloorEngine(config)
    adapter = SnapshotAdapter()
    now = T0 + timedelta(hours=1)  # 10:00, an hour into the 09:00 shifts
    clock = FixedClock(now)
    runtime = Runtime(config, engine, log, [adapter], clock)
    outputs = []
    runtime.subscribe(lambda u: outputs.append(u.output) if isinstance(u, OutputPublished) else None)
    shifts = [ShiftEvent(ts=now, agent=a, start=T0, end=T0 + timedelta(hours=8)) for a in ("1001", "1002")]

    async def snapshot_later():
        await asyncio.sleep(0.2)  # the PBX answers after the floor is up
        adapter.push(ResyncEvent(ts=now, source="test-pbx", phase="begin"))
        adapter.push(AgentStateEvent(ts=now, agent="1001", state=AgentState.ON_CALL, source="test-pbx"))
        adapter.push(ResyncEvent(ts=now, source="test-pbx", phase="end"))

    feeder = asyncio.create_task(snapshot_later())
    await runtime.start(prelude=lambda _report: shifts)
    await feeder
    clock.value = now + timedelta(seconds=10)
    await _wait(lambda: any(isinstance(o, Violation) for o in outputs))
    await asyncio.sleep(0.1)
    late = sorted(o.agent for o in outputs if isinstance(o, Violation) and o.rule == "LATE_SIGN_IN")
    await runtime.stop()
    assert late == ["1002"]  # 1001 was on a call in the first snapshot; 1002 was nowhere


async def test_runtime_gives_up_waiting_for_a_snapshot_after_the_configured_time(tmp_path, caplog):
    from wfm.config import default_data, from_data, merge

    config = from_data(merge(default_data(), {
        "storage": {"url": f"sqlite:///{tmp_path / 'wfm.sqlite'}", "batch_max_delay_ms": 1},
        "floor": {"first_snapshot_wait_s": 0.2}}), "test")
    log = open_log_from_config(config)
    engine = FloorEngine(config)
    runtime = Runtime(config, engine, log, [SnapshotAdapter()], FixedClock(T0))
    shift = ShiftEvent(ts=T0, agent="1001", start=T0, end=T0 + timedelta(hours=8))
    with caplog.at_level("WARNING", logger="wfm.runtime"):
        await asyncio.wait_for(runtime.start(prelude=lambda _r: [shift]), 2.0)
    assert engine.known_agent("1001")
    assert "no first snapshot from test-pbx" in caplog.text
    await runtime.stop()


async def test_demo_hands_each_new_simulated_day_to_the_floor(tmp_path):
    from pbxsim.ami_server import FloorSimulation
    from pbxsim.clock import SimClock
    from wfm.commands.demo import NewDayFeed

    config = make_config(tmp_path)
    tz = config.floor.tz
    mono = [0.0]
    clock = SimClock(datetime(2027, 1, 4, 23, 50, tzinfo=tz), 1.0, monotonic=lambda: mono[0])
    sim = FloorSimulation(config, clock, agents=6)
    submitted: list[list] = []
    floor_up = []

    async def submit(shifts):
        submitted.append(shifts)

    feed = NewDayFeed(sim, clock, config, lambda shifts: submit(shifts) if floor_up else None)
    mono[0] = 30 * 60.0  # 00:20 the next day
    sim.pump()
    await asyncio.sleep(0)
    assert submitted == []  # the floor is not up yet: held
    floor_up.append(True)
    feed.flush()
    await asyncio.sleep(0.01)
    assert len(submitted) == 1 and len(submitted[0]) == 6
    assert all(s.start.astimezone(tz).date() == datetime(2027, 1, 5).date() for s in submitted[0])
    assert all(s.ts >= clock.now() - timedelta(seconds=1) for s in submitted[0])
    feed.close()
    assert sim._day_listeners == []


# --- 2. longest wait tracked live from call events -----------------------------------------

def _view(f, clock):
    return f.engine.floor_view(at(clock))


def test_longest_wait_is_live_from_offered_calls():
    f = Floor()
    f.waiting("09:00", "sales", 0)
    f.call("09:00:00", "sales", "c1", "offered")
    f.waiting("09:00:00", "sales", 1)
    f.call("09:00:20", "sales", "c2", "offered")
    f.waiting("09:00:20", "sales", 2)
    view = _view(f, "09:00:45")
    assert view.longest_wait_s == 45.0 and view.queues[0].longest_wait_s == 45.0
    f.call("09:00:50", "sales", "c1", "answered", agent="1001")
    f.waiting("09:00:50", "sales", 1)
    assert _view(f, "09:01:00").longest_wait_s == 40.0  # c2, offered 09:00:20
    f.call("09:01:05", "sales", "c2", "abandoned")
    f.waiting("09:01:05", "sales", 0)
    assert _view(f, "09:01:10").longest_wait_s is None


def test_longest_wait_from_a_snapshot_ages_and_yields_to_live_tracking():
    f = Floor()
    f.feed(QueueStatusEvent(ts=at("09:00"), queue="sales", waiting=1, longest_wait_s=30.0))
    assert _view(f, "09:00:10").longest_wait_s == 40.0  # the snapshot's caller keeps waiting
    f.call("09:00:05", "sales", "c9", "offered")
    f.waiting("09:00:05", "sales", 2)
    f.call("09:00:15", "sales", "c0", "answered", agent="1001")  # the snapshot's caller (never seen offered)
    f.waiting("09:00:15", "sales", 1)
    assert _view(f, "09:00:20").longest_wait_s == 15.0  # now c9, tracked live
    f.waiting("09:00:30", "sales", 0)  # the PBX says nobody waits: a missed answer
    assert _view(f, "09:00:31").longest_wait_s is None


def test_queue_status_count_below_tracked_calls_drops_the_oldest():
    f = Floor()
    for i, clock in enumerate(("09:00:00", "09:00:10", "09:00:20")):
        f.call(clock, "sales", f"c{i}", "offered")
    f.waiting("09:00:25", "sales", 1)  # two answers missed: the newest caller is the one left
    assert _view(f, "09:00:30").longest_wait_s == 10.0


# --- 3. the pages read the floor's config ----------------------------------------------------

async def test_dash_pages_are_built_with_the_floors_config_not_the_environments(tmp_path, monkeypatch):
    from dashboard.app import CONTEXT_KEY, create_dash
    from wfm.api.app import DASH_APP, create_app

    monkeypatch.delenv("WFM_CONFIG", raising=False)
    config = make_config(tmp_path)  # its own storage.url, not the shipped default
    log = open_log_from_config(config)
    runtime = Runtime(config, FloorEngine(config), log, [], FixedClock(T0))
    await runtime.start()
    try:
        app = create_app(runtime, config, dashboard=create_dash)
        lazy = app[DASH_APP]
        lazy.build()
        assert lazy.failed is None
        assert lazy._server.config[CONTEXT_KEY].config is config
    finally:
        await runtime.stop()


# --- 4. the wall projection: break limit, alert detail, feed age; shared for ~100 ms --------

def test_wall_projection_carries_break_limit_alert_detail_and_feed_age():
    from wfm.api.projections import wall_floor
    from wfm.views import FeedView

    f = Floor()
    f.shift("1001", "08:30", "16:00", ts="06:00")
    f.state("08:20", "1001", "ready")
    f.state("09:00", "1001", "short_break")
    f.tick("09:12")  # past the 10-min limit: a finding with a detail
    view = f.engine.floor_view(at("09:12"), feeds=[FeedView(source="ami:pbx", state="connected", connected=True,
                                                            stale=False, last_event_age_s=2.5, skipped=0)])
    wall = wall_floor(view)
    agent = next(a for a in wall["agents"] if a["agent"] == "1001")
    assert agent["break_limit_s"] == 600.0 and agent["overrun"] is True
    assert wall["alerts"] and all(a["detail"] for a in wall["alerts"])
    assert wall["feeds"] == [{"source": "ami:pbx", "state": "connected", "connected": True, "stale": False,
                              "last_event_age_s": 2.5}]
    # still nothing a wall may not show: no budgets, no shift times, no queues an agent serves
    assert not {"short_break_used_s", "shift_start", "queues"} & set(agent)


from wfm.api.projections import PUBLIC_NUMBERS as PUBLIC_FIELDS  # noqa: E402


def test_the_wall_snapshot_is_rebuilt_at_most_once_per_max_age():
    from wfm.api.snapshot import FloorSnapshots

    now = [0.0]
    builds = []

    class Floor:
        def floor_data(self, **kw):
            builds.append(kw)
            return {"agents": [], "alerts": [], "break_queue": [], "feeds": [], "queues": [],
                    **{k: 0 for k in PUBLIC_FIELDS}}

    snapshots = FloorSnapshots(Floor(), 0.5, monotonic=lambda: now[0])
    first = snapshots.current("wall", 0.1)
    assert all(snapshots.current("wall", 0.1) is first for _ in range(20)) and len(builds) == 1
    now[0] = 0.099
    assert snapshots.current("wall", 0.1) is first
    now[0] = 0.1
    assert snapshots.current("wall", 0.1) is not first and snapshots.builds == 2
    assert snapshots.current("full") is not snapshots.current("full")  # GET /api/floor: always built anew


async def test_twenty_boards_polling_the_wall_share_one_build(tmp_path):
    import aiohttp

    from wfm.api.app import ApiServer, create_app

    config = make_config(tmp_path)
    log = open_log_from_config(config)
    builds = []

    class CountingEngine(FloorEngine):
        def floor_data(self, now, **kw):
            builds.append(now)
            return super().floor_data(now, **kw)

    runtime = Runtime(config, CountingEngine(config), log, [], FixedClock(T0))
    await runtime.start()
    server = ApiServer(create_app(runtime, config, dashboard=False), "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async def poll():
                async with session.get(server.base_url + "/api/wall") as response:
                    assert response.status == 200
                    return await response.json()

            walls = await asyncio.gather(*(poll() for _ in range(20)))
        assert all(w == walls[0] for w in walls)
        assert len(builds) <= 2  # one build (two if the 100 ms ran out mid-burst), not twenty
    finally:
        await server.stop()
        await runtime.stop()


# --- 5. the dashboard client takes the CSRF token from /api/me only --------------------------

async def test_dashboard_client_ignores_a_wfm_csrf_cookie_and_asks_the_api(tmp_path):
    import aiohttp

    from dashboard.client import SESSION_COOKIE, ApiClient, Transport
    from wfm.api.app import ApiServer, create_app

    config = make_config(tmp_path)
    log = open_log_from_config(config)
    runtime = Runtime(config, FloorEngine(config), log, [], FixedClock(T0))
    await runtime.start()
    server = ApiServer(create_app(runtime, config, dashboard=False), "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(server.base_url + "/api/login",
                                    json={"username": "supervisor", "password": "supervisor"}) as response:
                assert response.status == 200
                body = await response.json()
                cookie = response.cookies[SESSION_COOKIE].value
        client = ApiClient(Transport(server.base_url, 5.0), {SESSION_COOKIE: cookie, "wfm_csrf": "planted"})
        headers = await asyncio.to_thread(client._csrf_headers)
        assert headers == {"X-CSRF-Token": body["csrf_token"]}
    finally:
        await server.stop()
        await runtime.stop()


# --- 6. wfm ingest --profile for serial captures --------------------------------------------

def _ingest(tmp_path, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "wfm.cli", "ingest", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)


def test_ingest_serial_profile_narrows_the_line_format(tmp_path):
    capture = tmp_path / "acd.txt"
    capture.write_bytes(b"2027-01-04 08:30:01 AGENT 1002 READY\r\n")
    auto = _ingest(tmp_path, "--protocol", "serial", "--profile", "auto", str(capture))
    assert auto.returncode == 0 and '"agent":"1002"' in auto.stdout and '"state":"ready"' in auto.stdout
    acd = _ingest(tmp_path, "--protocol", "serial", "--profile", "acd", str(capture))
    assert acd.returncode == 0 and acd.stdout == auto.stdout
    smdr = _ingest(tmp_path, "--protocol", "serial", "--profile", "smdr", str(capture))
    assert smdr.returncode == 1 and smdr.stdout == ""
    assert f"{capture}:1: skipped" in smdr.stderr


def test_ingest_profile_is_refused_for_other_protocols(tmp_path):
    capture = tmp_path / "x.ami"
    capture.write_bytes(b"")
    result = _ingest(tmp_path, "--protocol", "ami", "--profile", "acd", str(capture))
    assert result.returncode == 2 and "--profile is for --protocol serial" in result.stderr


# --- 8. floor.near_full_alert switches the floor-level near-full alert off --------------------

def _replay_types(tmp_path, config_text: str) -> list[dict]:
    import json
    import subprocess
    import sys
    from pathlib import Path

    scenario = Path(__file__).resolve().parent.parent / "sample_data/scenarios/break_queue.jsonl"
    config = tmp_path / "site.toml"
    config.write_text(config_text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "wfm.cli", "--config", str(config), "replay", str(scenario), "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_replay_prints_the_near_full_alert_by_default(tmp_path):
    records = _replay_types(tmp_path, "")
    assert [r["rule"] for r in records if r["type"] == "alert"] == ["QUEUE_NEAR_FULL"]


def test_near_full_alert_off_removes_only_the_alert(tmp_path):
    on = _replay_types(tmp_path, "")
    off = _replay_types(tmp_path, "[floor]\nnear_full_alert = false\n")
    assert [r for r in off if r["type"] == "alert"] == []
    assert off == [r for r in on if r["type"] != "alert"]  # refusals by QUEUE_NEAR_FULL still made
    assert any(r.get("rule") == "QUEUE_NEAR_FULL" and r["type"] == "break_decision" for r in off)


# --- 1 + 2 on the real demo: no false late sign-ins at start, a live longest wait -----------

def test_demo_starts_without_false_late_sign_ins_and_shows_a_live_longest_wait(tmp_path):
    import time

    from test_demo import get_json, login, start_demo, stop, wait_for_agents, write_config

    proc, first = start_demo(write_config(tmp_path), speed=30)
    try:
        base = first[: -len("/wall")]
        token = login(base, "supervisor")
        floor = wait_for_agents(base, token)
        on_post = {a["agent"] for a in floor["agents"] if a["state"] not in ("logged_out", "not_ready")}
        assert on_post
        waits = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(waits) < 3:
            _, wall = get_json(base + "/api/wall")
            late = [a for a in wall["alerts"] if a["rule"] == "LATE_SIGN_IN" and a["agent"] in on_post]
            assert late == [], late
            if wall["calls_waiting"]:
                assert wall["longest_wait_s"] is not None, wall
                waits.append(wall["longest_wait_s"])
            time.sleep(0.2)
        assert waits, "no call waited in 20 s of a busy simulated morning"
        assert all(w >= 0 for w in waits)
    finally:
        stop(proc)


# --- 7. browser tests write docs/screenshots only when asked ----------------------------------

def test_screenshots_reach_docs_only_with_wfm_update_screenshots(tmp_path, monkeypatch):
    import test_browser_demo

    class Driver:  # the one call screenshot() makes of a viewport capture
        def save_screenshot(self, path):
            with open(path, "wb") as fh:
                fh.write(b"\x89PNG fake")

    monkeypatch.setattr(test_browser_demo, "REPO", tmp_path)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    docs = tmp_path / "docs" / "screenshots" / "wall.png"
    monkeypatch.delenv("WFM_UPDATE_SCREENSHOTS", raising=False)
    test_browser_demo.screenshot(Driver(), artifacts, "wall", docs=True)
    assert (artifacts / "wall.png").exists() and not docs.exists()
    monkeypatch.setenv("WFM_UPDATE_SCREENSHOTS", "1")
    test_browser_demo.screenshot(Driver(), artifacts, "wall", docs=True)
    assert docs.read_bytes() == b"\x89PNG fake"


def test_demo_floor_gets_the_next_simulated_days_roster_at_rollover(tmp_path):
    import time

    from test_demo import get_json, login, start_demo, stop

    config = tmp_path / "demo.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "d.sqlite"}"\n'
                      '[simulator]\nagents = 6\nday = "2027-01-04"\nstart_at = "23:58"\n', encoding="utf-8")
    proc, first = start_demo(config, speed=120)  # midnight (the day's end) after ~1 s of wall time
    try:
        base = first[: -len("/wall")]
        token = login(base, "supervisor")
        deadline = time.monotonic() + 30
        while True:
            _, floor = get_json(base + "/api/floor", token)
            starts = {a["agent"]: a["shift_start"] for a in floor["agents"]}
            if len(starts) == 6 and all(s and s.startswith("2027-01-05") for s in starts.values()):
                break
            assert time.monotonic() < deadline, f"no 2027-01-05 roster on the floor at {floor['ts']}: {starts}"
            time.sleep(0.3)
    finally:
        stop(proc)
