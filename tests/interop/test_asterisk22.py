"""Interop lab: `wfm serve` against a real Asterisk 22 (issue 15 point 8; docs/pbx-mapping.md, docs/interfaces.md).

Run with `make interop ASTERISK_SRC=/path/to/asterisk-22.x` (tests/interop/conftest.py).
Part one covers what already worked before break enactment: logins, snapshot,
answered and abandoned calls, pauses from the Asterisk CLI with their
reasons, dynamic members, two queues, reload, restart, a read-only ingest
user. Part two covers break enactment and PBX-truth reconciliation (the
acceptance of issue 15): allowed 小休 pauses the member, ending it unpauses,
a queue grant pauses at the grant, a write-less AMI user makes end_break fail
loudly, a reload removing a member, a second line, queue wrap-up time, a
restart. Every figure measured is printed and kept in tests/artifacts/interop-figures.json.
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time

import pytest
from lab import AGENTS, Serve, disagreements, wait_until

pytestmark = pytest.mark.timeout(300)


def wall_agrees(lab, serve, timeout: float, what: str) -> float:
    """Seconds until the wall agrees with `queue show` (AssertionError naming the disagreements otherwise)."""
    last: list[str] = []

    def agree():
        last[:] = disagreements(lab, serve)
        return not last

    try:
        return wait_until(agree, timeout, interval=0.2, what=what)[1]
    except AssertionError:
        raise AssertionError(f"{what}: the wall and queue show still disagree after {timeout} s: {last}") from None


def states_during(serve, agent: str, seconds: float, interval: float = 0.1) -> list[tuple[float, str | None]]:
    started = time.monotonic()
    samples = []
    while (elapsed := time.monotonic() - started) < seconds:
        samples.append((elapsed, serve.state(agent)))
        time.sleep(interval)
    return samples


# ---- what already worked -------------------------------------------------------------------------

@pytest.mark.parametrize("auth", ["md5", "plain"])
def test_login_md5_and_plain_and_the_snapshot(lab, auth, figures):
    from telephony.ami.client import AmiAdapter
    from wfm.commands.feeds import ami_settings
    from wfm.config import load_config
    from wfm.events import AgentStateEvent, ResyncEvent

    async def snapshot():
        adapter = AmiAdapter(ami_settings(load_config()), host="127.0.0.1", port=lab.ami_port, username="wfmro",
                             secret=lab.ami_secret_ro, auth=auth, source=f"ami:{auth}")
        events, started = [], time.monotonic()
        try:
            async def consume():
                async for event in adapter.stream():
                    events.append(event)
                    if isinstance(event, ResyncEvent) and event.phase == "end":
                        return
            await asyncio.wait_for(consume(), 20)
        finally:
            await adapter.close()
        return events, time.monotonic() - started

    events, took = asyncio.run(snapshot())
    agents = {e.agent: e for e in events if isinstance(e, AgentStateEvent)}
    assert set(agents) == set(AGENTS)
    assert set(agents["1001"].queues) == {"support", "sales"} and set(agents["1005"].queues) == {"wrapup"}
    figures(**{f"{auth}_login_and_snapshot_s": took})


def test_the_wall_agrees_with_queue_show_after_connecting(calm, serve, figures):
    figures(agree_s=wall_agrees(calm, serve, 10, "snapshot"))
    floor = serve.floor()
    assert {a["agent"] for a in floor["agents"]} >= set(AGENTS)
    assert {q["queue"] if "queue" in q else q.get("id") for q in floor["queues"]} >= {"support", "sales", "wrapup"}


def test_an_answered_call_rings_talks_and_ends(calm, serve, record, figures):
    recorder = record("answered_call")
    calm.set_global("TALK_S", "4")
    for agent in ("1001", "1003"):
        calm.pause(agent, "training")  # 1002 takes the call
    wait_until(lambda: serve.state("1001") == "not_ready" and serve.state("1003") == "not_ready", 5, what="pauses shown")
    started = time.monotonic()
    calm.originate_caller("support")
    _, ringing = wait_until(lambda: serve.state("1002") == "ringing", 10, what="1002 ringing")
    _, talking = wait_until(lambda: serve.state("1002") == "on_call", 10, what="1002 on the call")
    _, done = wait_until(lambda: serve.state("1002") == "ready", 15, what="1002 ready after the call")
    figures(ringing_s=ringing, on_call_s=ringing + talking, ready_after_s=time.monotonic() - started)
    assert "has taken 1 calls" in calm.cli("queue show support")
    events = recorder.stop()
    kinds = [e.get("event") for e in events if e["type"] == "call"]
    assert kinds[:3] == ["offered", "answered", "completed"], kinds


def test_an_abandoned_call(calm, serve, record, figures):
    recorder = record("abandoned_call")
    for agent in ("1001", "1002", "1003"):
        calm.pause(agent, "training")  # nobody answers support
    calm.set_global("ABANDON_S", "3")
    calm.originate_caller("support", "abandon")
    _, waiting = wait_until(lambda: next((q for q in serve.floor()["queues"] if q.get("queue", q.get("id")) == "support"),
                                         {}).get("waiting") == 1, 10, what="a caller waiting")
    wait_until(lambda: next((q for q in serve.floor()["queues"] if q.get("queue", q.get("id")) == "support"),
                            {}).get("waiting") == 0, 15, what="nobody waiting after the abandon")
    events = recorder.stop()
    assert "abandoned" in [e.get("event") for e in events if e["type"] == "call"]
    figures(waiting_shown_s=waiting)


@pytest.mark.parametrize("reason,state", [("小休", "short_break"), ("用餐", "meal"), ("training", "not_ready")],
                         ids=["short_break", "meal", "other_reason"])
def test_a_pause_from_the_asterisk_cli_with_its_reason(calm, serve, record, reason, state, figures):
    recorder = record(f"cli_pause_{state}")
    calm.pause("1003", reason)
    assert calm.queue_show("support")["1003"].paused
    _, shown = wait_until(lambda: serve.state("1003") == state, 5, what=f"1003 {state}")
    calm.unpause("1003")
    _, back = wait_until(lambda: serve.state("1003") == "ready", 5, what="1003 ready again")
    figures(shown_s=shown, unpaused_s=back)
    events = [e for e in recorder.stop() if e["type"] == "agent_state" and e["agent"] == "1003"]
    assert [e["state"] for e in events][-2:] == [state, "ready"]
    assert events[-2].get("reason") == reason


def test_dynamic_members_and_two_queues(calm, serve, record, figures):
    recorder = record("dynamic_member")
    assert set(serve.agent("1001")["queues"]) == {"support", "sales"}  # one agent, two queues
    calm.add_member("1003", "sales")
    _, added = wait_until(lambda: set(serve.agent("1003")["queues"]) == {"support", "sales"}, 5, what="1003 in sales")
    calm.remove_member("1003", "sales")
    _, removed = wait_until(lambda: set(serve.agent("1003")["queues"]) == {"support"}, 5, what="1003 out of sales")
    figures(added_s=added, removed_s=removed)
    recorder.stop()


# ---- break enactment and PBX truth (issue 15; needs the PBX enactment work) ----------------------

def test_an_allowed_short_break_pauses_the_member_with_its_reason_and_ending_it_unpauses(calm, serve, record, figures):
    recorder = record("enacted_short_break")
    serve.login("1001")  # not timed: the password check
    asked = time.monotonic()
    status, answer = serve.as_user("1001", "POST", "/api/agents/1001/breaks", {"kind": "short"})
    answered = time.monotonic() - asked
    assert status == 200 and answer["decision"]["allowed"], answer
    members = lambda: [calm.queue_show(q).get("1001") for q in ("support", "sales")]  # noqa: E731
    wait_until(lambda: all(m and m.paused and m.reason == "小休" for m in members()), 2.0,
               what="1001 paused with reason 小休 in both its queues")
    paused = time.monotonic() - asked
    wait_until(lambda: serve.state("1001") == "short_break", 2.0, what="the wall shows 1001 on 小休")
    figures(answer_s=answered, pbx_paused_s=paused, wall_short_break_s=time.monotonic() - asked)
    assert paused <= 2.0
    ending = time.monotonic()
    status, answer = serve.as_user("1001", "DELETE", "/api/agents/1001/breaks")
    assert status == 200, answer
    wait_until(lambda: not any(m and m.paused for m in members()), 2.0, what="1001 unpaused")
    unpaused = time.monotonic() - ending
    wait_until(lambda: serve.state("1001") == "ready", 2.0, what="the wall shows 1001 ready")
    figures(pbx_unpaused_s=unpaused, wall_ready_s=time.monotonic() - ending)
    assert unpaused <= 2.0
    events = [e for e in recorder.stop() if e["type"] == "agent_state" and e["agent"] == "1001"]
    assert [e["state"] for e in events][-2:] == ["short_break", "ready"]


def test_a_queue_grant_pauses_at_the_grant(lab, tmp_path_factory, figures):
    # F3 with 2: 1004 and 1005 away (reason training) leave 3 idle; 1002's 小休 leaves 2, so 1003 is refused and queued
    floor = Serve(tmp_path_factory.mktemp("grant"), lab.ami_port, lab.ami_secret,
                  floor_toml="near_full_idle_threshold = 2\n")
    floor.start()
    try:
        wait_until(floor.feed_connected, 30, what="feed connected")
        for agent in ("1004", "1005"):
            lab.pause(agent, "training")
        wait_until(lambda: floor.floor()["idle_agents"] == 3, 5, what="3 idle agents")
        status, first = floor.as_user("1002", "POST", "/api/agents/1002/breaks", {"kind": "short"})
        assert status == 200 and first["decision"]["allowed"], first
        wait_until(lambda: lab.queue_show("support")["1002"].paused, 2.0, what="1002 paused")
        status, queued = floor.as_user("1003", "POST", "/api/agents/1003/breaks", {"kind": "short", "queue": True})
        assert status == 200 and not queued["decision"]["allowed"] and queued["queue_position"] == 1, queued
        assert not lab.queue_show("support")["1003"].paused  # refused and queued: not paused
        ended = time.monotonic()
        floor.as_user("1002", "DELETE", "/api/agents/1002/breaks")
        _, granted = wait_until(lambda: lab.queue_show("support")["1003"].paused
                                and lab.queue_show("support")["1003"].reason == "小休", 5.0, what="1003 paused at the grant")
        figures(grant_paused_s=granted, since_first_ended_s=time.monotonic() - ended)
        floor.as_user("1003", "DELETE", "/api/agents/1003/breaks")
        wait_until(lambda: not lab.queue_show("support")["1003"].paused, 2.0, what="1003 unpaused")
    finally:
        floor.stop()
        for agent in ("1002", "1003", "1004", "1005"):
            lab.unpause(agent)


@pytest.fixture
def read_only_floor(lab, tmp_path_factory):
    """A second `wfm serve` whose AMI user may not write (wfmro): every QueuePause it sends is refused."""
    floor = Serve(tmp_path_factory.mktemp("readonly"), lab.ami_port, lab.ami_secret_ro, username="wfmro")
    floor.start()
    wait_until(floor.feed_connected, 30, what="feed connected")
    yield floor
    floor.stop()
    lab.unpause("1004")


def _failed_end_break(lab, floor) -> tuple[int, dict, float]:
    lab.pause("1004", "小休")  # the agent pauses on the phone: judged as a request, allowed
    wait_until(lambda: floor.state("1004") == "short_break", 5, what="1004 on 小休")
    asked = time.monotonic()
    status, answer = floor.as_user("sup", "POST", "/api/overrides", {"agent": "1004", "action": "end_break"})
    return status, answer, time.monotonic() - asked


def test_end_break_with_a_write_less_ami_user_is_an_error_naming_the_pbx_failure(lab, read_only_floor, figures):
    floor = read_only_floor
    status, answer, took = _failed_end_break(lab, floor)
    assert status >= 400, answer
    assert "ermission" in (answer.get("detail", "") + answer.get("error", "")), answer  # Asterisk: Permission denied
    assert lab.queue_show("sales")["1004"].paused  # the PBX keeps the agent paused
    _, alerted = wait_until(lambda: any("PBX" in (a.get("rule") or "") for a in floor.floor()["alerts"]), 5,
                            what="the PBX failure alert on the wall")
    _, back = wait_until(lambda: floor.state("1004") == "short_break", 10, what="the wall agrees with the PBX again")
    figures(error_answer_s=took, alert_s=alerted, wall_short_break_again_s=back, status=status,
            answer=f"{answer.get('error', '')}: {answer.get('detail', '')}")


def break_decisions(serve, agent: str) -> list[dict]:
    """The break_decision records `wfm serve` logged for `agent` (its SQLite log, read-only)."""
    db = sqlite3.connect(f"file:{serve.workdir / 'floor.sqlite'}?mode=ro", uri=True)
    try:
        bodies = [json.loads(body) for (body,) in db.execute("SELECT body FROM log WHERE kind = 'decision'")]
    finally:
        db.close()
    return [b for b in bodies if b.get("type") == "break_decision" and b.get("agent") == agent]


def logged_decision(serve, agent: str, before: int) -> list[dict]:
    """`agent`'s break decisions once the new one is in the log: the floor shows the state (its event is
    durable first) a moment before the engine's decision is committed, and a read in between saw none."""
    decisions, _ = wait_until(lambda: (lambda found: found if len(found) > before else None)(break_decisions(serve, agent)),
                              5, what=f"{agent}'s break decision logged")
    return decisions


def test_a_failed_end_break_never_shows_ready_on_the_wall(lab, read_only_floor, figures):
    # issue 15 point 3: the floor shows PBX truth, never what was asked for — sampled from before the
    # override is asked until well after the resync the failure triggers; and the break the PBX keeps is
    # the same break, not judged again as a new request (one decision)
    samples: list[tuple[float, str | None]] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            samples.extend(states_during(read_only_floor, "1004", 0.05, interval=0.01))

    before = len(break_decisions(read_only_floor, "1004"))
    lab.pause("1004", "小休")
    wait_until(lambda: read_only_floor.state("1004") == "short_break", 5, what="1004 on 小休")
    judged = logged_decision(read_only_floor, "1004", before)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    status, _ = read_only_floor.as_user("sup", "POST", "/api/overrides", {"agent": "1004", "action": "end_break"})
    time.sleep(5.0)
    sampling.set()
    sampler.join(5)
    assert status >= 400
    again = break_decisions(read_only_floor, "1004")
    figures(ready_samples=sum(1 for _, state in samples if state == "ready"), samples=len(samples),
            break_decisions=len(again) - len(judged))
    assert all(state == "short_break" for _, state in samples), [s for s in samples if s[1] != "short_break"][:5]
    assert len(judged) == 1 and again == judged, again


def test_a_supervisor_end_break_shows_ready_only_once_asterisk_unpaused(calm, serve, figures):
    # issue 15 point 3, the other side: with the writing user the unpause goes through, and the wall moves
    # short_break → ready once (the feed's unpause), never flapping, and nothing is judged again
    lab = calm
    before = len(break_decisions(serve, "1004"))
    lab.pause("1004", "小休")
    wait_until(lambda: serve.state("1004") == "short_break", 5, what="1004 on 小休")
    judged = logged_decision(serve, "1004", before)
    samples: list[tuple[float, str | None]] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            samples.extend(states_during(serve, "1004", 0.05, interval=0.01))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    asked = time.monotonic()
    status, answer = serve.as_user("sup", "POST", "/api/overrides", {"agent": "1004", "action": "end_break"})
    answered = time.monotonic() - asked
    _, ready = wait_until(lambda: serve.state("1004") == "ready", 2.0, what="the wall shows 1004 ready")
    time.sleep(1.0)
    sampling.set()
    sampler.join(5)
    assert status == 200 and [r["outcome"] for r in answer["pbx"]] == ["confirmed"], answer
    assert not lab.queue_show("sales")["1004"].paused
    shown = [state for _, state in samples]
    changes = [b for a, b in zip(shown, shown[1:]) if a != b]
    figures(answer_s=answered, wall_ready_s=ready, samples=len(samples), changes=len(changes),
            break_decisions=len(break_decisions(serve, "1004")) - len(judged))
    assert shown[0] == "short_break" and changes == ["ready"], changes
    assert break_decisions(serve, "1004") == judged


@pytest.mark.parametrize("command", ["queue reload all", "module reload app_queue.so"], ids=["queue_reload", "module_reload"])
def test_a_reload_removing_a_member_reaches_the_wall_within_5_s(lab, serve, calm, record, figures, command):
    # `queue reload all` (the CLI, like AMI QueueReload) sends no event; `module reload` sends Reload
    recorder = record("reload_removes_member" if command == "queue reload all" else "module_reload_removes_member")
    original = (lab.etc / "queues.conf").read_text(encoding="utf-8")
    try:
        lab.edit_queues_conf(drop_member="1004")
        reloaded = time.monotonic()
        lab.cli(command)
        assert "1004" not in lab.queue_show("sales")
        # `queue reload all` sends no AMI event (no Reload, no QueueMemberRemoved): wfm's periodic QueueStatus
        # check (pbx.reconcile_s) finds the member gone; after `module reload` the Reload event resyncs at once
        figures(agree_s=wall_agrees(lab, serve, 5.0, "after queue reload all"))
        assert serve.state("1004") in ("logged_out", None)
        _, seen = wait_until(lambda: any(e.get("agent") == "1004" and e.get("state") == "logged_out" for e in recorder.events),
                             12, what="the recorder's own check finds 1004 gone")
        figures(recorder_logged_out_s=seen)
    finally:
        (lab.etc / "queues.conf").write_text(original, encoding="utf-8")
        lab.cli("queue reload all")
        wait_until(lambda: serve.state("1004") == "ready", 10, what="1004 back after the second reload")
        figures(back_s=time.monotonic() - reloaded)
    recorder.stop()


def test_a_member_busy_on_a_second_line_is_not_counted_idle(calm, serve, record, figures):
    recorder = record("second_line")
    idle_before = serve.floor()["idle_agents"]
    calm.set_global("SECOND_LINE_S", "6")
    calm.second_line("1003")
    wait_until(lambda: calm.queue_show("support")["1003"].status == "In use", 5, what="queue show: 1003 in use")
    _, shown = wait_until(lambda: serve.state("1003") not in ("ready", None), 3, what="1003 not ready")
    assert serve.floor()["idle_agents"] == idle_before - 1
    samples = states_during(serve, "1003", 3.0)
    assert all(state != "ready" for _, state in samples), samples  # while the line is busy, never idle
    wait_until(lambda: serve.state("1003") == "ready", 10, what="1003 ready when the second line hangs up")
    figures(not_idle_s=shown)
    recorder.stop()


def test_queue_wrapuptime_10_shows_no_ready_before_wrap_up_ends(calm, serve, record, figures):
    recorder = record("wrapuptime")
    calm.set_global("TALK_S", "3")
    calm.originate_caller("wrapup")
    wait_until(lambda: serve.state("1005") == "on_call", 15, what="1005 on the call")
    _, _ = wait_until(lambda: serve.state("1005") != "on_call", 15, what="the call ended")
    ended = time.monotonic()
    samples = states_during(serve, "1005", 9.0)
    assert all(state == "wrap_up" for _, state in samples), [s for s in samples if s[1] != "wrap_up"][:5]
    _, ready = wait_until(lambda: serve.state("1005") == "ready", 5, what="1005 ready after wrap-up")
    figures(wrap_up_shown_s=9.0, ready_after_call_s=time.monotonic() - ended)
    events = [e["state"] for e in recorder.stop() if e["type"] == "agent_state" and e["agent"] == "1005"]
    on_call = len(events) - 1 - events[::-1].index("on_call")
    assert events[on_call + 1:on_call + 2] == ["wrap_up"], events  # never a transient ready before wrap_up


def test_after_an_asterisk_restart_the_wall_agrees_with_queue_show_within_20_s(lab, serve, calm, figures):
    lab.pause("1003", "小休")  # lost with the restart (members are not persistent): the wall must follow
    wait_until(lambda: serve.state("1003") == "short_break", 5, what="1003 on 小休")
    stopped = time.monotonic()
    lab.stop()
    _, lost = wait_until(lambda: not serve.feed_connected(), 30, what="the feed notices")
    lab.start()
    started = time.monotonic()
    figures(feed_lost_s=lost, agree_after_start_s=wall_agrees(lab, serve, 20.0, "after the restart"),
            down_s=started - stopped)
    assert serve.state("1003") == "ready"
