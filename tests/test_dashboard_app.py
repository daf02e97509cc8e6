"""The Dash app's callbacks over HTTP (stand-in API harness on a real port): what they hand
over, and that callbacks touching disk enforce roles themselves (Dash's own update route is
open to anyone, so the API alone cannot guard them)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import requests

from test_dashboard_harness import Floor, start_harness
from wfm.config import default_data, from_data, merge


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dash")
    config = from_data(merge(default_data(), {
        "storage": {"url": f"sqlite:///{folder / 'wfm.sqlite'}"},
        "dashboard": {"roster_jobs_dir": str(folder / "jobs"), "roster_dir": str(folder / "roster")},
    }))
    harness, stop = start_harness(Floor.sample(), config=config)
    harness.folder = folder
    yield harness
    stop()


def session_for(site, user: str | None) -> requests.Session:
    session = requests.Session()
    if user:
        session.post(site.url + "/api/login", json={"username": user, "password": user}, timeout=5).raise_for_status()
    return session


def callback(site, session: requests.Session, first_output: str, inputs: list[dict], state: list[dict]) -> dict:
    """POST /_dash-update-component for the callback whose outputs start with `first_output`."""
    deps = session.get(site.url + "/_dash-dependencies", timeout=5).json()
    dep = next(d for d in deps if d["output"].strip(".").startswith(first_output))
    parts = dep["output"].strip(".").split("...")
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
    body = {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0], "inputs": inputs,
            "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"], "state": state}
    response = session.post(site.url + "/_dash-update-component", json=body, timeout=30)
    if response.status_code == 204:
        return {}
    response.raise_for_status()
    return response.json()["response"]


def wall_call(site, digest=None, token=None):
    return callback(site, requests.Session(), "tile-calls_waiting.className",
                    [{"id": "wall-interval", "property": "n_intervals", "value": 1}],
                    [{"id": "wall-token", "property": "data", "value": token},
                     {"id": "wall-history", "property": "data", "value": []},
                     {"id": "wall-digest", "property": "data", "value": digest or {}}])


def test_wall_sends_only_sections_that_changed(site):
    first = wall_call(site)
    assert {"wall-grid", "wall-breaks", "wall-alerts", "wall-feeds", "wall-gauge"} <= set(first)
    for key in ("calls_waiting", "idle_agents", "short_break", "meal", "service_level", "occupancy"):
        assert f"tile-{key}-value" in first and f"tile-{key}" in first
    idle = int(first["tile-idle_agents-value"]["children"])
    assert idle == site.floor.view().idle_agents
    assert len(first["wall-grid"]["data"]) == 24
    again = wall_call(site, first["wall-digest"]["data"])
    assert not any(k.startswith("tile-") for k in again) and "wall-grid" not in again  # nothing changed: nothing sent
    assert "wall-now" in again and "wall-clock" in again
    site.floor.set_state("1001", site.floor.states["1001"][0].__class__("on_call"), 3.0)
    changed = wall_call(site, first["wall-digest"]["data"])
    assert "wall-grid" in changed
    assert changed["tile-idle_agents-value"]["children"] == str(idle - 1)  # only the tiles that changed
    assert "tile-service_level-value" not in changed
    row = next(r for r in changed["wall-grid"]["data"] if r[0] == "1001")
    assert row[1] == "on_call"


def test_wall_says_stale_when_a_feed_is_stale(site):
    site.floor.stale = True
    try:
        response = wall_call(site)
        assert "STALE" in response["wall-status"]["children"]
        assert "level-alarm" in response["wall-status"]["className"]
        feeds = str(response["wall-feeds"]["children"])
        assert "STALE" in feeds
    finally:
        site.floor.stale = False


def report_call(site, session):
    return callback(site, session, "rep-floor.children",
                    [{"id": "rep-compute", "property": "n_clicks", "value": 1}],
                    [{"id": "rep-kind", "property": "value", "value": "daily"},
                     {"id": "rep-period", "property": "value", "value": "2027-01-04"}])


def test_reports_callback_refuses_without_a_reader_session(site):
    anonymous = report_call(site, session_for(site, None))
    assert "401" in str(anonymous["rep-status"]["children"])
    assert "rep-floor" not in anonymous
    agent = report_call(site, session_for(site, "1001"))
    assert "403" in str(agent["rep-status"]["children"])


def test_reports_callback_computes_for_a_supervisor(site):
    from wfm.eventlog import open_log

    log = open_log(f"sqlite:///{site.folder / 'wfm.sqlite'}")
    try:
        t = Floor().now
        log.append("event", {"type": "call", "ts": t.isoformat(), "queue": "general", "call_id": "a",
                             "event": "answered", "wait_s": 5, "agent": "1001"}, t)
        log.append("event", {"type": "call", "ts": (t + timedelta(minutes=1)).isoformat(), "queue": "general",
                             "call_id": "b", "event": "abandoned", "wait_s": 50}, t + timedelta(minutes=1))
    finally:
        log.close()
    result = report_call(site, session_for(site, "supervisor"))
    table = str(result["rep-floor"]["children"])
    assert "2027-01-04" in table and "50.0%" in table  # 1 of 2 within target
    assert "agent rows" in result["rep-status"]["children"]


def test_bad_report_period_is_named(site):
    result = callback(site, session_for(site, "supervisor"), "rep-floor.children",
                      [{"id": "rep-compute", "property": "n_clicks", "value": 1}],
                      [{"id": "rep-kind", "property": "value", "value": "monthly"},
                       {"id": "rep-period", "property": "value", "value": "2027-1"}])
    assert "period '2027-1': expected YYYY-MM" in str(result["rep-status"]["children"])


def test_roster_solve_callback_refuses_non_schedulers_and_starts_nothing(site):
    for user in (None, "1001", "supervisor"):
        result = callback(site, session_for(site, user), "roster-job.data",
                          [{"id": "roster-solve", "property": "n_clicks", "value": 1}],
                          [{"id": "roster-source", "property": "value", "value": "sample"},
                           {"id": "roster-agents", "property": "contents", "value": None},
                           {"id": "roster-demand", "property": "contents", "value": None},
                           {"id": "roster-history", "property": "contents", "value": None},
                           {"id": "roster-month", "property": "value", "value": "2027-01"},
                           {"id": "roster-time", "property": "value", "value": 1},
                           {"id": "roster-seed", "property": "value", "value": 0}])
        assert "roster-job" not in result
        assert ("401" if user is None else "403") in str(result["roster-status"]["children"])
    assert not Path(site.folder / "jobs").exists() or not any(Path(site.folder / "jobs").iterdir())


def test_override_callback_needs_a_reason_and_forwards_the_cookie(site):
    supervisor = session_for(site, "supervisor")
    state = [{"id": "sup-agent", "property": "value", "value": "1002"},
             {"id": "sup-action", "property": "value", "value": "end_break"},
             {"id": "sup-note", "property": "value", "value": "  "}]
    inputs = [{"id": "sup-send", "property": "n_clicks", "value": 1}]
    refused = callback(site, supervisor, "sup-result.children", inputs, state)
    assert "reason is required" in str(refused)
    state[2]["value"] = "meal relief 用餐替班"
    done = callback(site, supervisor, "sup-result.children", inputs, state)
    assert "OK" in str(done)
    assert site.floor.overrides[-1] == {"agent": "1002", "action": "end_break", "note": "meal relief 用餐替班"}
    agent = callback(site, session_for(site, "1001"), "sup-result.children", inputs, state)
    assert "403" in str(agent)  # the API refused the agent's cookie
    assert len(site.floor.overrides) == 1


def test_break_request_callback_carries_the_csrf_token(site):
    agent = session_for(site, "1001")
    result = callback(site, agent, "me-decision.children",
                      [{"id": "me-request-short", "property": "n_clicks", "value": 1},
                       {"id": "me-request-meal", "property": "n_clicks", "value": None},
                       {"id": "me-cancel", "property": "n_clicks", "value": None}],
                      [{"id": "me-agent", "property": "data", "value": "1001"},
                       {"id": "me-queue", "property": "value", "value": ["queue"]}])
    text = str(result["me-decision"]["children"])
    assert "Allowed" in text or "Refused" in text  # not "403 csrf token missing"
    assert site.floor.requests[-1] == {"agent": "1001", "kind": "short", "queue": True}


def test_wall_passes_the_kiosk_token_and_says_when_it_is_missing(site):
    site.floor.kiosk_token = "wall-7f3a"
    try:
        refused = wall_call(site)
        assert refused["wall-status"]["children"] == "Kiosk token required 需要大屏令牌"
        assert "tile-idle_agents-value" not in refused  # the last good picture stays up
        wrong = wall_call(site, token="guess")
        assert "Kiosk token" in wrong["wall-status"]["children"]
        shown = wall_call(site, token="wall-7f3a")
        assert "tile-idle_agents-value" in shown and shown["wall-status"]["children"] == ""
    finally:
        site.floor.kiosk_token = ""


def test_wall_says_so_when_the_api_is_down(tmp_path):
    from dashboard.app import create_dash
    from werkzeug.serving import make_server
    import threading

    app = create_dash("http://127.0.0.1:9")  # nothing listens on the discard port
    http = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        class Site:
            url = f"http://127.0.0.1:{http.server_port}"
        result = wall_call(Site)
        assert "No floor data" in result["wall-status"]["children"]
        assert "unreachable" in result["wall-status"]["children"]
    finally:
        http.shutdown()
        thread.join(timeout=5)
