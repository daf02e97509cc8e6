"""The Dash app's callbacks over HTTP (stand-in API harness on a real port): what they hand
over, and that callbacks touching disk enforce roles themselves (Dash's own update route is
open to anyone, so the API alone cannot guard them)."""
from __future__ import annotations

from datetime import timedelta

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


# The roster page's callbacks no longer touch disk: they call the API's roster routes, whose access
# levels refuse non-schedulers (tests/test_roster_api.py drives the real app for that).


def test_override_callback_needs_a_reason_and_forwards_the_cookie(site):
    supervisor = session_for(site, "supervisor")
    state = [{"id": "sup-agent", "property": "value", "value": "1002"},
             {"id": "sup-action", "property": "value", "value": "end_break"},
             {"id": "sup-kind", "property": "value", "value": "short"},
             {"id": "sup-note", "property": "value", "value": "  "}]
    inputs = [{"id": "sup-send", "property": "n_clicks", "value": 1}, []]  # [] : no End-break buttons drawn
    refused = callback(site, supervisor, "sup-result.children", inputs, state)
    assert "reason is required" in str(refused)
    state[3]["value"] = "meal relief 用餐替班"
    done = callback(site, supervisor, "sup-result.children", inputs, state)
    assert "OK" in str(done)
    assert site.floor.overrides[-1] == {"agent": "1002", "action": "end_break", "note": "meal relief 用餐替班"}
    # sent: the form empties itself (no agent, no reason, back to "allow")
    assert done["sup-agent"]["value"] is None and done["sup-note"]["value"] == ""
    assert done["sup-action"]["value"] == "allow_break"
    agent = callback(site, session_for(site, "1001"), "sup-result.children", inputs, state)
    assert "403" in str(agent)  # the API refused the agent's cookie
    assert len(site.floor.overrides) == 1
    state[1]["value"], state[2]["value"] = "allow_break", "meal"
    allowed = callback(site, supervisor, "sup-result.children", inputs, state)
    assert "allow_break meal 1002" in str(allowed)
    assert site.floor.overrides[-1] == {"agent": "1002", "action": "allow_break", "note": "meal relief 用餐替班",
                                        "kind": "meal"}  # allow carries its kind


def test_break_request_callback_carries_the_csrf_token(site):
    agent = session_for(site, "1001")
    result = callback(site, agent, "me-decision.children",
                      [{"id": "me-request-short", "property": "n_clicks", "value": 1},
                       {"id": "me-request-meal", "property": "n_clicks", "value": None},
                       {"id": "me-cancel", "property": "n_clicks", "value": None},
                       {"id": "me-end-break", "property": "n_clicks", "value": None}],
                      [{"id": "me-agent", "property": "data", "value": "1001"},
                       {"id": "me-queue", "property": "value", "value": ["queue"]},
                       {"id": "me-lang", "property": "data", "value": "en"}])
    text = str(result["me-decision"]["children"])
    assert "Allowed" in text or "Refused" in text  # not "403 csrf token missing"
    assert site.floor.requests[-1] == {"agent": "1001", "kind": "short", "queue": True}


def test_agent_page_says_granted_when_a_queued_request_goes(site):
    """The page remembers the queue position it last saw; when the agent leaves the queue onto the
    break (or an allowed place) it hands the grant to the banner/sound/notification (assets/me.js)."""
    from wfm.events import AgentState

    agent = session_for(site, "1001")

    def refresh(was_queued):
        return callback(site, agent, "me-budget.children",
                        [{"id": "me-push", "property": "data", "value": None}],  # before any push: fetched
                        [{"id": "me-agent", "property": "data", "value": "1001"},
                         {"id": "me-lang", "property": "data", "value": "en"},
                         {"id": "me-queued", "property": "data", "value": was_queued}])

    still = refresh(None)
    assert "me-granted" not in still  # never queued: nothing to announce
    site.floor.set_state("1001", AgentState.SHORT_BREAK, 5.0)
    try:
        granted = refresh(2)  # was second in the queue, now on the break
        assert granted["me-granted"]["data"]
        assert "me-on-break" in str(granted["me-status"]["children"])
        assert granted["me-end-break"]["hidden"] is False
    finally:
        site.floor.set_state("1001", AgentState.READY, 1.0)


def test_agent_page_draws_the_budget_the_socket_pushed(site):
    """Once assets/me.js has a push, the page draws that budget (no fetch): a queue position only the
    pushed budget carries is what the page shows; a push saying the floor does not know the agent says so."""
    agent = session_for(site, "1001")
    budget = agent.get(site.url + "/api/agents/1001/budget", timeout=5).json()
    assert budget["queue_position"] is None and budget["on_break"] is None

    def draw(pushed):
        return callback(site, agent, "me-budget.children",
                        [{"id": "me-push", "property": "data", "value": pushed}],
                        [{"id": "me-agent", "property": "data", "value": "1001"},
                         {"id": "me-lang", "property": "data", "value": "en"},
                         {"id": "me-queued", "property": "data", "value": None}])

    drawn = draw({"agent": "1001", "budget": {**budget, "queue_position": 3}})
    assert "#3" in str(drawn["me-status"]["children"]) and drawn["me-queued"]["data"] == 3
    assert "me-unknown" in str(draw({"agent": "1001", "budget": None})["me-budget"]["children"])
    other = draw({"agent": "1002", "budget": {**budget, "queue_position": 5}})  # not this page's agent: fetched
    assert "#5" not in str(other["me-status"]["children"])


def test_supervisor_page_draws_the_floor_the_socket_pushed(site):
    """assets/supervisor.js hands the pushed floor over as {floor (only the people on a break in full),
    agents (every id)}; the page draws that, fetching nothing: a break only the pushed floor holds is on
    the page, with End break beside it. Before any push it says it is connecting; a malformed push is named."""
    supervisor = session_for(site, "supervisor")
    floor = supervisor.get(site.url + "/api/floor", timeout=5).json()
    on_break = {**floor["agents"][0], "agent": "9999", "state": "short_break", "break_kind": "short",
                "break_limit_s": 900.0, "overrun": False}

    def draw(pushed):
        return callback(site, supervisor, "sup-summary.children",
                        [{"id": "sup-push", "property": "data", "value": pushed}],
                        [{"id": "sup-agent", "property": "options", "value": None},
                         {"id": "sup-breaks-key", "property": "data", "value": None}])

    drawn = draw({"floor": {**floor, "agents": [on_break]}, "agents": ["1002", "9999", "1001"]})
    assert "Idle agents" in str(drawn["sup-summary"]["children"])
    assert "9999" in str(drawn["sup-breaks"]["children"]) and "sup-end" in str(drawn["sup-breaks"]["children"])
    assert [o["value"] for o in drawn["sup-agent"]["options"]] == ["1001", "1002", "9999"]
    assert drawn["sup-breaks-key"]["data"][0][0] == "9999"
    assert "sup-connecting" in str(draw(None)["sup-summary"]["children"])
    bad = draw({"floor": {**floor, "idle_agents": "many"}, "agents": []})
    assert "idle_agents" in str(bad["sup-summary"]["children"]) and "sup-breaks" not in bad
