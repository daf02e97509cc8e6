"""The roster routes on a real port (real rules engine, real SQLite log, real CP-SAT, real files):
roles from the route table, CSRF on cookie state changes, the solve refused with numbers when
demand exceeds the floor, the publish gate (confirmation and a reason when anything is unmet,
who and why recorded), versions opened, diffed, downloaded and re-published, one-cell edits,
and the agents' own rest-day and leave requests with the rulebook's limits (docs/floor-rules.md R3, R7).
"""
from __future__ import annotations

import asyncio
import base64
import io
import time
import zipfile

import aiohttp
import pytest

from support.runtime_helpers import T0, FixedClock, QueueAdapter, make_config
from wfm.api.app import ApiServer, create_app
from wfm.config import from_data, merge
from wfm.engine import FloorEngine
from wfm.eventlog import open_log_from_config
from wfm.runtime import Runtime

MONTH = "2027-02"
AGENTS = "agent_id,name\n" + "".join(f"{2000 + i},Agent {i}\n" for i in range(8))
# five agents on post at 09:00 and at 16:30 every day: more than 8 agents can give (about 3 per shift)
DEMAND = "date,interval_start,required\n" + "".join(
    f"{MONTH}-{d:02d},{slot},5\n" for d in range(1, 29) for slot in ("09:00", "16:30"))


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


UPLOAD = {"month": MONTH, "source": "upload", "agents_csv": b64(AGENTS), "demand_csv": b64(DEMAND),
          "time_limit_s": 600, "seed": 0}  # a guard: the site's runs have a deterministic budget (site below)


@pytest.fixture
async def site(tmp_path, request):
    base = make_config(tmp_path)
    config = from_data(merge(msgspec_dict(base), {
        "dashboard": {"roster_jobs_dir": str(tmp_path / "jobs"), "roster_dir": str(tmp_path / "roster")},
        "roster": {"deterministic_time_s": 0.3, "workers": 1}}), "test")  # the same search under any load
    log = open_log_from_config(config)
    runtime = Runtime(config, FloorEngine(config), log, [QueueAdapter()], FixedClock(T0))
    await runtime.start()
    dashboard = None
    if getattr(request, "param", False):
        from dashboard.app import create_dash as dashboard
    server = ApiServer(create_app(runtime, config, dashboard=dashboard), "127.0.0.1", 0)
    await server.start()
    server.tmp = tmp_path
    server.log = log
    yield server
    await server.stop()
    await runtime.stop()


def msgspec_dict(config) -> dict:
    import msgspec

    return msgspec.to_builtins(config)


async def bearer(base: str, user: str) -> dict:
    async with aiohttp.ClientSession() as s, s.post(base + "/api/login", json={"username": user, "password": user}) as r:
        body = await r.json()
        assert r.status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


async def call(base: str, method: str, path: str, headers: dict | None = None, json=None):
    async with aiohttp.ClientSession() as s, s.request(method, base + path, headers=headers or {}, json=json) as r:
        body = await r.read()
        kind = r.headers.get("Content-Type", "")
        return r.status, (__import__("json").loads(body) if "json" in kind else body), dict(r.headers)


async def solved(base: str, auth: dict, body: dict) -> dict:
    status, job, _ = await call(base, "POST", "/api/roster/jobs", auth, body)
    assert status == 202, job
    return await finished(base, auth, job["job_id"])


async def finished(base: str, auth: dict, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, state, _ = await call(base, "GET", f"/api/roster/jobs/{job_id}", auth)
        assert status == 200, state
        if state["state"] != "running":
            return state
        await asyncio.sleep(0.3)
    raise AssertionError("the run did not finish")


async def test_roster_routes_are_for_schedulers_and_admins_only(site):
    base = site.base_url
    status, body, _ = await call(base, "GET", "/api/roster/sources")
    assert status == 401
    for user in ("1001", "supervisor"):
        status, body, _ = await call(base, "GET", "/api/roster/sources", await bearer(base, user))
        assert status == 403, (user, body)
        status, body, _ = await call(base, "POST", "/api/roster/jobs", await bearer(base, user), UPLOAD)
        assert status == 403, (user, body)
    for user in ("scheduler", "admin"):
        status, body, _ = await call(base, "GET", "/api/roster/sources", await bearer(base, user))
        assert status == 200 and body["sample-forecast"] is True and body["sample_share"] == pytest.approx(0.08)
    assert not (site.tmp / "jobs").exists()


async def test_a_cookie_session_must_send_the_csrf_token_to_change_anything(site):
    base = site.base_url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(base + "/api/login", json={"username": "scheduler", "password": "scheduler"}) as r:
            csrf = (await r.json())["csrf_token"]
        async with s.post(base + "/api/roster/jobs", json=UPLOAD) as r:
            assert r.status == 403 and "CSRF" in (await r.json())["error"]
        async with s.post(base + "/api/roster/jobs", json=UPLOAD, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 409  # past the CSRF check: refused for its demand (next test)


async def test_solve_is_refused_before_it_starts_when_demand_exceeds_the_floor_with_the_numbers(site):
    base = site.base_url
    auth = await bearer(base, "scheduler")
    status, body, _ = await call(base, "POST", "/api/roster/demand", auth, UPLOAD)
    assert status == 200 and body["capacity"]["over"] is True
    assert body["capacity"]["peak_required"] == 5 and body["capacity"]["day_need"] == 10  # 5 day + 5 evening
    assert body["capacity"]["working_per_day"] == pytest.approx(6.9)  # 8 agents, one day in seven off (R2)
    status, body, _ = await call(base, "POST", "/api/roster/jobs", auth, UPLOAD)
    assert status == 409
    assert "peak demand 5 agents on post" in body["detail"]
    assert "needs at least 10 agents at work (5 day + 5 evening" in body["detail"] and "about 7 at work a day" in body["detail"]
    assert not (site.tmp / "jobs").exists() or not any((site.tmp / "jobs").iterdir())


async def test_publish_with_unmet_demand_needs_confirmation_and_a_reason_and_records_who_and_why(site):
    base = site.base_url
    auth = await bearer(base, "scheduler")
    done = await solved(base, auth, {**UPLOAD, "accept_unmet": True})
    assert done["state"] == "done", done
    assert "objective" not in done["result"]["summary"] and "not covered" in done["result"]["summary"]
    status, draft, _ = await call(base, "POST", f"/api/roster/{MONTH}/versions", auth, {"job_id": done["job_id"]})
    assert status == 201 and draft["status"] == "draft" and draft["version"] == 1
    status, again, _ = await call(base, "POST", f"/api/roster/{MONTH}/versions", auth, {"job_id": done["job_id"]})
    assert again["version"] == 1  # a run is saved once
    status, gate, _ = await call(base, "GET", f"/api/roster/{MONTH}/versions/1/gate", auth)
    assert gate["needs_confirmation"] and gate["unmet_agent_intervals"] > 0 and "unmet" in gate["headline"]
    assert set(gate["spreads"]) == {"evenings", "weekends", "holidays", "workdays"}
    path = f"/api/roster/{MONTH}/versions/1/publish"
    for attempt in ({}, {"confirm": True}, {"reason": "short-staffed in February"}, {"confirm": True, "reason": "  "}):
        status, body, _ = await call(base, "POST", path, auth, attempt)
        assert status == 409 and "confirm and give a reason" in body["detail"], (attempt, body)
    status, body, _ = await call(base, "GET", f"/api/roster/{MONTH}/versions", auth)
    assert [v["status"] for v in body["versions"]] == ["draft"]
    status, body, _ = await call(base, "POST", path, auth, {"confirm": True, "reason": "short-staffed in February"})
    assert status == 200, body
    info = body["version"]
    assert info["status"] == "published" and info["published_by"] == "scheduler"
    assert info["reason"] == "short-staffed in February" and info["published_at"].endswith("+08:00")
    assert info["extra"]["gate"]["unmet_agent_intervals"] == gate["unmet_agent_intervals"]
    audits = [r.body for r in site.log.read(kinds=["audit"]) if r.body.get("type") == "roster"]
    assert audits == [{"type": "roster", "user": "scheduler", "action": "publish", "month": MONTH, "version": 1,
                       "from_version": 1, "reason": "short-staffed in February", "confirmed": True,
                       "unmet_agent_intervals": gate["unmet_agent_intervals"], "hard_violations": gate["hard_violations"]}]


async def test_old_versions_open_diff_download_and_publish_again_and_a_cell_edit_is_checked(site):
    base = site.base_url
    auth = await bearer(base, "scheduler")
    done = await solved(base, auth, {**UPLOAD, "accept_unmet": True})
    await call(base, "POST", f"/api/roster/{MONTH}/versions", auth, {"job_id": done["job_id"]})
    await call(base, "POST", f"/api/roster/{MONTH}/versions/1/publish", auth, {"confirm": True, "reason": "first"})
    status, view, _ = await call(base, "GET", f"/api/roster/{MONTH}/versions/1", auth)
    assert status == 200 and [a["label"] for a in view["agents"]] == [f"{2000 + i} Agent {i}" for i in range(8)]
    cell = view["cells"]["2000"][f"{MONTH}-03"]
    target = "OFF" if cell["shift"] != "OFF" else "day"
    # one cell: the checker answers at once, the result is a new draft version with a one-cell diff
    edit = {"agent": "2000", "date": f"{MONTH}-03", "shift": target}
    status, edited, _ = await call(base, "POST", f"/api/roster/{MONTH}/versions/1/cells", auth, edit)
    assert status == 201, edited
    assert edited["version"]["version"] == 2 and edited["version"]["status"] == "draft"
    assert "checker" in edited and isinstance(edited["checker"]["new_violations"], list)
    status, diff, _ = await call(base, "GET", f"/api/roster/{MONTH}/versions/2/diff", auth)
    assert diff["replaces"] == 1 and [(c["agent_id"], c["date"]) for c in diff["changes"]] == [("2000", f"{MONTH}-03")]
    status, body, _ = await call(base, "POST", f"/api/roster/{MONTH}/swaps", auth,
                                 {"agent_a": "2000", "agent_b": "2001", "day": f"{MONTH}-05"})
    assert status == 409 and "version 2 is a draft" in body["detail"]  # a swap would publish the draft past the gate
    # plain-words refusals, not Python's
    for bad, words in ((dict(edit, date="2027-2-3"), "write it as YYYY-MM-DD"),
                       (dict(edit, shift="night"), "is not a shift"),
                       (dict(edit, agent="9999"), "not on this roster")):
        status, body, _ = await call(base, "POST", f"/api/roster/{MONTH}/versions/2/cells", auth, bad)
        assert status == 400 and words in body["detail"], body
    status, body, _ = await call(base, "POST", f"/api/roster/{MONTH}/swaps", auth,
                                 {"agent_a": "2000", "agent_b": "2001", "day": "2027-02-31"})
    assert status == 400 and "does not exist on the calendar" in body["detail"]
    # the old published version 1 still opens and downloads in every format
    for fmt, magic in (("csv", b"agent_id,date,shift"), ("xlsx", b"PK"), ("ics", b"PK"), ("html", b"<")):
        status, data, headers = await call(base, "GET", f"/api/roster/{MONTH}/versions/1/files/{fmt}", auth)
        assert status == 200 and data.startswith(magic), fmt
        assert f"roster-{MONTH}-v1" in headers["Content-Disposition"]
    status, data, _ = await call(base, "GET", f"/api/roster/{MONTH}/versions/1/files/ics", auth)
    assert len(zipfile.ZipFile(io.BytesIO(data)).namelist()) == 8
    # publishing the edit withdraws version 1; version 1 can then be published again (as version 3)
    status, body, _ = await call(base, "POST", f"/api/roster/{MONTH}/versions/2/publish", auth,
                                 {"confirm": True, "reason": "edit"})
    assert status == 200, body
    status, body, _ = await call(base, "POST", f"/api/roster/{MONTH}/versions/1/publish", auth,
                                 {"confirm": True, "reason": "back to the first"})
    assert status == 200 and body["version"]["version"] == 3 and body["version"]["status"] == "published"
    status, diff, _ = await call(base, "GET", f"/api/roster/{MONTH}/versions/3/diff", auth)
    assert [(c["agent_id"], c["date"]) for c in diff["changes"]] == [("2000", f"{MONTH}-03")]
    status, body, _ = await call(base, "GET", f"/api/roster/{MONTH}/versions", auth)
    assert [(v["version"], v["status"]) for v in body["versions"]] == [(3, "published"), (2, "withdrawn"), (1, "withdrawn")]
    status, body, _ = await call(base, "POST", f"/api/roster/{MONTH}/versions/3/publish", auth, {"confirm": True, "reason": "x"})
    assert status == 409 and "already published" in body["detail"]


async def test_agents_ask_for_their_own_rest_days_and_leave_within_the_rulebook(site):
    base = site.base_url
    agent, other, scheduler = await bearer(base, "1001"), await bearer(base, "1002"), await bearer(base, "scheduler")
    mine = f"/api/agents/1001/roster-requests/{MONTH}"
    status, body, _ = await call(base, "POST", mine, agent, {"kind": "rest", "date": f"{MONTH}-14", "note": "wedding"})
    assert status == 201 and body["submitted_by"] == "1001" and body["submitted_at"].endswith("+08:00")
    status, body, _ = await call(base, "POST", mine, other, {"kind": "rest", "date": f"{MONTH}-15"})
    assert status == 403  # another agent's requests
    status, body, _ = await call(base, "GET", mine, other)
    assert status == 403
    for day in (15, 16, 17):
        status, body, _ = await call(base, "POST", mine, agent, {"kind": "rest", "date": f"{MONTH}-{day}"})
        assert status == 201, body
    refusals = (({"kind": "rest", "date": f"{MONTH}-18"}, "4 rest days (R3)"),
                ({"kind": "leave", "date": f"{MONTH}-14"}, "already asked for"),
                ({"kind": "leave", "date": "2027-03-02"}, "not in 2027-02"),
                ({"kind": "leave", "date": "2027-02-30"}, "not a date"),
                ({"kind": "holiday", "date": f"{MONTH}-20"}, "rest day or leave"))
    for body_, words in refusals:
        status, body, _ = await call(base, "POST", mine, agent, body_)
        assert status == 422 and words in body["detail"], (body_, body)
    status, body, _ = await call(base, "POST", mine, agent, {"kind": "leave", "date": f"{MONTH}-20"})
    assert status == 201
    status, body, _ = await call(base, "GET", f"/api/roster/{MONTH}/requests", scheduler)
    assert status == 200 and len(body["requests"]) == 5 and {r["agent"] for r in body["requests"]} == {"1001"}
    assert all(r["honoured"] is None and r["why"] == "no roster yet" for r in body["requests"])
    status, body, _ = await call(base, "GET", f"/api/roster/{MONTH}/requests", agent)
    assert status == 403
    withdrawn = next(r for r in (await call(base, "GET", mine, agent))[1]["requests"] if r["day"] == f"{MONTH}-17")
    status, body, _ = await call(base, "DELETE", f"{mine}/{withdrawn['request_id']}", agent)
    assert status == 200
    status, body, _ = await call(base, "GET", mine, agent)
    assert len(body["requests"]) == 4


async def test_requests_feed_the_solver_and_the_report_says_which_were_honoured(site):
    base = site.base_url
    agent, scheduler = await bearer(base, "1001"), await bearer(base, "scheduler")
    agents = "agent_id,name\n1001,王芳\n1002,李磊\n" + "".join(f"{2000 + i},Agent {i}\n" for i in range(6))
    demand = "date,interval_start,required\n" + "".join(
        f"{MONTH}-{d:02d},{slot},1\n" for d in range(1, 29) for slot in ("09:00", "16:30"))
    mine = f"/api/agents/1001/roster-requests/{MONTH}"
    await call(base, "POST", mine, agent, {"kind": "rest", "date": f"{MONTH}-10"})
    await call(base, "POST", mine, agent, {"kind": "leave", "date": f"{MONTH}-11"})
    body = {**UPLOAD, "agents_csv": b64(agents), "demand_csv": b64(demand), "time_limit_s": 600}
    status, started, _ = await call(base, "POST", "/api/roster/jobs", scheduler, body)
    assert status == 202 and started["requests"] == 2
    done = await finished(base, scheduler, started["job_id"])
    assert done["state"] == "done", done
    status, draft, _ = await call(base, "POST", f"/api/roster/{MONTH}/versions", scheduler, {"job_id": done["job_id"]})
    status, body, _ = await call(base, "GET", mine, agent)
    outcome = {r["day"]: r for r in body["requests"]}
    assert outcome[f"{MONTH}-11"]["honoured"] is True  # leave is a hard rule
    assert outcome[f"{MONTH}-10"]["honoured"] is True and outcome[f"{MONTH}-10"]["why"] == "off that day as asked"
    status, view, _ = await call(base, "GET", f"/api/roster/{MONTH}/versions/{draft['version']}", scheduler)
    assert view["totals"]["1001"]["requests"] == 2 and view["totals"]["1001"]["requests_honoured"] == 2


@pytest.mark.parametrize("site", [True], indirect=True)
async def test_the_pages_solve_callback_is_refused_by_the_api_for_anyone_but_a_scheduler(site):
    """The page holds no role check of its own: its callback calls the route, and the route table refuses."""
    import requests

    from test_dashboard_app import callback

    def run() -> list[str]:
        answers = []
        for user in (None, "1001", "supervisor"):
            session = requests.Session()
            if user:
                answer = session.post(site.base_url + "/api/login", json={"username": user, "password": user},
                                      timeout=5)
                answer.raise_for_status()
                session.headers["X-CSRF-Token"] = answer.json()["csrf_token"]  # as dash-renderer sends it
            result = callback(site, session, "roster-job.data",
                              [{"id": "roster-solve", "property": "n_clicks", "value": 1}],
                              [{"id": i, "property": p, "value": v} for i, p, v in (
                                  ("roster-source", "value", "sample"), ("roster-agents", "contents", None),
                                  ("roster-demand", "contents", None), ("roster-history", "contents", None),
                                  ("roster-month", "value", "2027-01"), ("roster-share", "value", None),
                                  ("roster-peak", "value", None), ("roster-aht", "value", None),
                                  ("roster-shrinkage", "value", None), ("roster-sl", "value", None),
                                  ("roster-answer", "value", None), ("roster-time", "value", 1),
                                  ("roster-seed", "value", 0), ("roster-accept-unmet", "value", []))])
            assert "roster-job" not in result
            answers.append(str(result["roster-status"]["children"]))
        return answers

    site.url = site.base_url
    anonymous, agent, supervisor = await asyncio.to_thread(run)
    assert "401" in anonymous and "403" in agent and "403" in supervisor
    assert not (site.tmp / "jobs").exists() or not any((site.tmp / "jobs").iterdir())
