"""What the wall and the pages are given: the wall projection (break limit, alert detail, feed age) and
its shared snapshot, the Dash pages built with the floor's config, the dashboard client's CSRF token
from /api/me, and screenshots written to docs/ only when asked."""
from __future__ import annotations

import asyncio

from support.rules_kit import Floor, at
from support.runtime_helpers import T0, FixedClock, make_config
from wfm.engine import FloorEngine
from wfm.eventlog import open_log_from_config
from wfm.runtime import Runtime



# --- the pages read the floor's config ----------------------------------------------------

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


# --- the wall projection: break limit, alert detail, feed age; shared for ~100 ms --------

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


# --- the dashboard client takes the CSRF token from /api/me only --------------------------

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


# --- browser tests write docs/screenshots only when asked ----------------------------------

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


# --- Dash's wildcard props ----------------------------------------------------------------

def test_wildcard_props_reach_the_component_and_anything_else_is_refused():
    import pytest
    from dash import html

    from dashboard.wildcard import wildcard

    div = html.Div(id="root", **wildcard({"data-agent": "1001", "aria-live": "polite"}))
    assert div.to_plotly_json()["props"] == {"children": None, "id": "root", "data-agent": "1001", "aria-live": "polite"}
    with pytest.raises(ValueError, match="'hidden' is not a data-\\* or aria-\\* prop"):
        wildcard({"hidden": "true"})
