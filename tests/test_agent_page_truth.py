"""/me has one truth: the "if you asked now" preview (GET /api/agents/{a}/budget) is the answer the
request (POST /api/agents/{a}/breaks) gets at that instant, in every agent state — the same gate
(wfm/api/breakgate.py) and the same rules (the engine's judge) — on the real API and engine."""
from __future__ import annotations

import pytest

from test_api import bearer, call, floor  # noqa: F401  (the fixture: a real runtime, log and API on a port)
from wfm.events import AgentState

STATES = [AgentState.READY, AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.NOT_READY,
          AgentState.SHORT_BREAK, AgentState.MEAL, AgentState.LOGGED_OUT]


async def preview_then_request(floor, headers, kind: str, queue: bool = False):  # noqa: F811
    status, budget = await call("GET", floor.base + "/api/agents/1001/budget", headers)
    assert status == 200, budget
    preview = budget["short_break" if kind == "short" else "meal"]
    status, answer = await call("POST", floor.base + "/api/agents/1001/breaks", headers,
                                json={"kind": kind, "queue": queue})
    return preview, status, answer


def assert_same(preview, status, answer, case):
    if status == 409:  # refused before judging: the preview said exactly that
        assert preview["allowed"] is False and preview["rule"] is None, (case, preview, answer)
        assert preview["detail"] == answer["detail"], (case, preview, answer)
        assert preview["detail_zh"], case
        return
    assert status == 200, (case, status, answer)
    decision = answer["decision"]
    assert (preview["allowed"], preview["rule"]) == (decision["allowed"], decision["rule"]), (case, preview, decision)
    assert answer["detail_zh"] == preview["detail_zh"]  # the Chinese reason of the same judgement


@pytest.mark.parametrize("floor", [{"break_requests_per_minute": 1000}], indirect=True)
@pytest.mark.parametrize("busy", [False, True], ids=["idle-enough", "near-full"])
async def test_preview_equals_decision_in_every_agent_state(floor, busy):  # noqa: F811
    agent = await bearer(floor.base, "1001")
    if not busy:  # enough idle agents that 小休 is not blocked by QUEUE_NEAR_FULL
        for other in ("1004", "1005"):
            await floor.state(other, AgentState.READY, 0.1)
    seen = set()
    for state in STATES:
        for kind in ("short", "meal"):
            await floor.state("1001", state, 5.0)
            preview, status, answer = await preview_then_request(floor, agent, kind)
            assert_same(preview, status, answer, (state, kind))
            seen.add((preview["allowed"], status))
            await call("DELETE", floor.base + "/api/agents/1001/breaks", agent)  # withdraw what was granted
    assert (False, 409) in seen and any(status == 200 for _, status in seen)
    if not busy:
        assert (True, 200) in seen  # the allowed path was compared too


@pytest.mark.parametrize("floor", [{"break_requests_per_minute": 1000}], indirect=True)
async def test_a_queued_agent_is_previewed_as_queued(floor):  # noqa: F811
    agent = await bearer(floor.base, "1001")
    await floor.state("1001", AgentState.READY, 1.0)  # idle 3 ≤ threshold 3: 小休 refused, queueable
    preview, status, answer = await preview_then_request(floor, agent, "short", queue=True)
    assert_same(preview, status, answer, "queue")
    assert answer["queue_position"] == 1
    for kind in ("short", "meal"):
        preview, status, answer = await preview_then_request(floor, agent, kind)
        assert status == 409 and "queue" in answer["detail"]
        assert_same(preview, status, answer, ("queued", kind))


@pytest.mark.parametrize("floor", [{"break_requests_per_minute": 1000}], indirect=True)
async def test_the_agent_ends_their_own_break(floor):  # noqa: F811
    agent = await bearer(floor.base, "1001")
    await floor.state("1001", AgentState.READY, 1.0)
    status, answer = await call("POST", floor.base + "/api/agents/1001/breaks/end", agent)
    assert status == 409 and answer["error"] == "not on a break"
    await floor.state("1001", AgentState.SHORT_BREAK, 1.0)
    status, answer = await call("POST", floor.base + "/api/agents/1001/breaks/end", agent)
    assert status == 200, answer
    status, budget = await call("GET", floor.base + "/api/agents/1001/budget", agent)
    assert budget["on_break"] is None and budget["state"] == "ready"
    other = await bearer(floor.base, "1002")
    status, _ = await call("POST", floor.base + "/api/agents/1001/breaks/end", other)
    assert status == 403
    override = [r.body for r in floor.log.read(kinds=["event"]) if r.body.get("type") == "override"]
    assert override and override[-1]["action"] == "end_break" and override[-1]["note"] == "ended by the agent"


async def test_a_supervisor_allows_the_kind_they_choose(floor):  # noqa: F811
    supervisor = await bearer(floor.base, "supervisor")
    await floor.state("1001", AgentState.READY, 1.0)
    status, answer = await call("POST", floor.base + "/api/overrides", supervisor,
                                json={"agent": "1001", "action": "allow_break", "kind": "meal", "note": "cover came"})
    assert status == 200, answer
    decision = answer["outputs"][0]
    assert decision["kind"] == "meal" and decision["allowed"] is True
    status, answer = await call("POST", floor.base + "/api/overrides", supervisor,
                                json={"agent": "1002", "action": "allow_break", "note": "no kind given"})
    assert answer["outputs"][0]["kind"] == "short"  # nothing asked or queued: a short break, as before
