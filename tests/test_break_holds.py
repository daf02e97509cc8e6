"""An allowed break holds its place (docs/interfaces.md §2, docs/break-holds.md): every later
judgement counts its agent as already away, until the break starts, is withdrawn or lapses.

Each count the holds change gets a firing and a non-firing case: the idle count of
QUEUE_NEAR_FULL (short and meal places), the on-post count of LUNCH_COVER, the team cap, the
service-level gate; each origin (request, pause, queue grant, supervisor allow) both holds and
is judged against the others' places; a place lapses after floor.allowed_break_hold_s in ready.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.rules_kit import Floor, at, decisions, only_decision

from wfm.decisions import HoldReleased
from wfm.events import AgentStateEvent, BreakRequestEvent

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "sample_data" / "scenarios"
FIVE = ["huang.li", "zhou.tao", "wu.hao", "sun.mei", "zhao.lin"]


def floor_of(agents=FIVE, *, ready: bool = True, **floor) -> Floor:
    f = Floor(floor or None)
    for agent in agents:
        f.shift(agent, "08:30", "16:00", meal="12:00")
    if ready:
        f.ready("08:27", *agents)
    return f


def step(f: Floor, event):
    """Feed one event; the whole StepResult (outputs and freed places)."""
    result = f.engine.handle(event)
    f.outputs.extend(result.outputs)
    return result


def replay_json(path: Path) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "wfm.cli", "replay", str(path), "--json"],
                          capture_output=True, check=True, cwd=REPO)
    return [json.loads(line) for line in done.stdout.splitlines()]


# --- the finding of issue 21: five ready, three ask within ten seconds --------------------------

def test_five_ready_three_ask_replay_allows_two_and_refuses_the_third():
    ds = replay_json(SCENARIOS / "five_ready_three_ask.jsonl")
    assert [(d["agent"], d["allowed"], d["rule"]) for d in ds] == [
        ("huang.li", True, None), ("zhou.tao", True, None), ("wu.hao", False, "QUEUE_NEAR_FULL")]
    assert "5 idle agents (话务空闲数), 2 already allowed → 3 <= threshold 3" in ds[2]["detail"]
    assert "5 idle agents (话务空闲数), 1 already allowed → 4 > threshold 3" in ds[1]["detail"]
    assert "5 idle agents (话务空闲数) > threshold 3" in ds[0]["detail"]  # nobody held yet: the old wording


def test_the_detail_zh_states_the_count_used_too():
    f = floor_of()
    f.request("10:05:30", "huang.li")
    f.request("10:05:35", "zhou.tao")
    step_zh = f.engine.handle(BreakRequestEvent(ts=at("10:05:38"), agent="sun.mei", kind="short", queue=True))
    [decision] = step_zh.outputs
    assert len(step_zh.details_zh) == len(step_zh.outputs) == 1  # aligned with the outputs
    assert "话务空闲数为5，其中2人已获准休息尚未离开，实为3，不大于3" in step_zh.details_zh[0]
    assert "position 1" in decision.detail
    preview = f.engine.agent_budget("wu.hao", at("10:05:40")).short_break
    assert not preview.allowed and preview.rule == "QUEUE_NEAR_FULL"
    assert "话务空闲数为5，其中2人已获准休息尚未离开，实为3，不大于3" in preview.detail_zh
    assert "5 idle agents (话务空闲数), 2 already allowed → 3 <= threshold 3" in preview.detail


def test_lapse_replay_a_place_allowed_at_10_05_30_no_longer_counts_at_10_07_40():
    ds = replay_json(SCENARIOS / "held_place_lapses.jsonl")
    assert [(d["ts"][11:19], d["agent"], d["allowed"], d["rule"]) for d in ds] == [
        ("10:05:30", "huang.li", True, None),
        ("10:05:35", "zhou.tao", True, None),
        ("10:07:20", "wu.hao", False, "QUEUE_NEAR_FULL"),  # huang.li still holds: 4 idle, 1 allowed → 3
        ("10:07:40", "wu.hao", True, None),  # huang.li's place lapsed at 10:07:30: 4 idle count
    ]
    assert "4 idle agents (话务空闲数), 1 already allowed → 3 <= threshold 3" in ds[2]["detail"]
    assert "4 idle agents (话务空闲数) > threshold 3" in ds[3]["detail"]
    assert all(d["type"] == "break_decision" for d in ds)  # the lapse is a log record, never printed


def test_the_lapse_is_a_record_of_its_own_at_the_instant_it_happened():
    f = floor_of()
    f.request("10:05:30", "huang.li")
    assert step(f, AgentStateEvent(ts=at("10:07:29"), agent="sun.mei", state="on_call")).released == ()
    result = step(f, BreakRequestEvent(ts=at("10:07:40"), agent="wu.hao", kind="short"))
    [lapse] = result.released
    assert isinstance(lapse, HoldReleased)
    assert (lapse.agent, lapse.kind.value, lapse.reason) == ("huang.li", "short", "lapsed")
    assert (lapse.ts, lapse.allowed_at) == (at("10:07:30"), at("10:05:30"))
    assert "ask again" in lapse.detail and "请重新申请" in lapse.detail_zh
    assert [o.agent for o in result.outputs] == ["wu.hao"]  # the §2 outputs hold decisions only


def test_time_on_a_call_does_not_count_towards_the_lapse():
    f = floor_of(FIVE + ["qian.yu"])
    f.request("10:00", "huang.li")  # 6 idle: allowed, holds
    f.state("10:01", "huang.li", "on_call")  # 60 s ready so far
    f.state("10:30", "huang.li", "ready")  # 29 min on a call count nothing
    f.state("10:30", "qian.yu", "on_call")  # 5 ready, huang.li holds: 4 for a request
    f.state("10:30", "sun.mei", "on_call")  # 4 ready, huang.li holds: 3
    assert not only_decision(f.request("10:30:59", "wu.hao")).allowed  # 119 s ready: still held
    assert only_decision(f.request("10:31:00", "zhou.tao")).allowed  # 120 s: lapsed (inclusive)


def test_hold_of_zero_never_lapses():
    f = floor_of(allowed_break_hold_s=0)
    f.request("10:05:30", "huang.li")
    f.request("10:05:35", "zhou.tao")
    d = only_decision(f.request("15:00", "wu.hao"))
    assert (d.allowed, d.rule) == (False, "QUEUE_NEAR_FULL")
    assert f.engine.tick(at("15:59")).released == ()


def test_hold_length_comes_from_config():
    f = floor_of(allowed_break_hold_s=30)
    f.request("10:05:30", "huang.li")
    f.request("10:05:35", "zhou.tao")
    assert not only_decision(f.request("10:05:59", "wu.hao")).allowed  # both held: 5 - 2 = 3
    d = only_decision(f.request("10:06:00", "wu.hao"))  # huang.li's 30 s are up; zhou.tao still holds
    assert d.allowed and "1 already allowed → 4" in d.detail


def test_a_lapse_frees_the_place_at_once_for_the_break_queue():
    f = floor_of()
    f.request("10:05:30", "huang.li")
    f.request("10:05:35", "zhou.tao")
    queued = only_decision(f.request("10:05:40", "wu.hao", queue=True))
    assert (queued.allowed, queued.rule) == (False, "QUEUE_NEAR_FULL")
    assert f.engine.tick(at("10:07:29")).outputs == ()
    result = f.engine.tick(at("10:07:30"))  # huang.li's place lapses: wu.hao granted at that instant
    assert [r.agent for r in result.released] == ["huang.li"]
    [grant] = decisions(result.outputs)
    assert (grant.agent, grant.allowed, grant.ts) == ("wu.hao", True, at("10:07:30"))
    assert "granted from the break queue" in grant.detail
    assert "1 already allowed → 4 > threshold 3" in grant.detail  # zhou.tao still holds


# --- what ends a hold ----------------------------------------------------------------------------

def test_starting_the_break_turns_the_place_into_the_break():
    f = floor_of()
    f.request("10:00", "huang.li")
    assert f.state("10:01", "huang.li", "short_break") == []  # no new decision: the allowed break starts
    assert f.engine.floor.holds.holders == {}
    d = only_decision(f.request("10:02", "zhou.tao"))  # 4 ready, nobody holding
    assert d.allowed and "4 idle agents (话务空闲数) > threshold 3" in d.detail


def test_withdrawing_frees_the_place():
    f = floor_of()
    f.request("10:00", "huang.li")
    f.request("10:00:10", "zhou.tao")
    f.cancel("10:00:20", "huang.li")
    d = only_decision(f.request("10:00:30", "wu.hao"))
    assert d.allowed and "1 already allowed → 4" in d.detail


def test_signing_out_frees_the_place():
    f = floor_of()
    f.request("10:00", "huang.li")
    f.request("10:00:10", "zhou.tao")
    f.state("10:00:20", "huang.li", "logged_out")  # 4 ready, zhou.tao holds: 3
    assert not only_decision(f.request("10:00:30", "wu.hao")).allowed
    f.state("10:00:40", "huang.li", "ready")  # back, holding nothing: 5 ready, 1 held
    assert only_decision(f.request("10:00:50", "sun.mei")).allowed


def test_a_new_request_by_the_holder_does_not_count_its_own_place():
    f = floor_of(FIVE[:4])  # 4 ready
    assert only_decision(f.request("10:00", "huang.li")).allowed
    again = only_decision(f.request("10:00:30", "huang.li"))  # its own place is not "another" held one
    assert again.allowed and "4 idle agents (话务空闲数) > threshold 3" in again.detail


# --- each count the places change -----------------------------------------------------------------

def test_a_held_meal_place_counts_for_the_idle_count():
    f = floor_of()
    assert only_decision(f.request("12:00", "huang.li", kind="meal")).allowed
    f.request("12:00:10", "zhou.tao")
    d = only_decision(f.request("12:00:20", "wu.hao"))
    assert (d.allowed, d.rule) == (False, "QUEUE_NEAR_FULL")
    assert "5 idle agents (话务空闲数), 2 already allowed → 3" in d.detail


def test_an_agent_on_a_call_holding_a_place_is_not_subtracted_twice():
    f = floor_of()
    f.request("10:00", "huang.li")
    f.state("10:00:10", "huang.li", "on_call")  # 4 ready; huang.li not among them
    d = only_decision(f.request("10:00:20", "zhou.tao"))
    assert d.allowed and "4 idle agents (话务空闲数) > threshold 3" in d.detail


def test_lunch_cover_counts_held_meal_places_as_gone():
    f = floor_of(["a", "b", "c"], lunch_cover_min_agents=1)
    assert only_decision(f.request("12:00", "a", kind="meal")).allowed  # 2 stay
    assert only_decision(f.request("12:00:10", "b", kind="meal")).allowed  # 3 - 1 (b) - 1 (a held) = 1 stays
    d = only_decision(f.request("12:00:20", "c", kind="meal"))
    assert (d.allowed, d.rule) == (False, "LUNCH_COVER")
    assert "0 agent(s) on post (2 on post, 2 already allowed a break)" in d.detail


def test_lunch_cover_counts_a_held_short_break_place_too():
    f = floor_of(["a", "b"], lunch_cover_min_agents=1, near_full_idle_threshold=0)
    assert only_decision(f.request("12:00", "a")).allowed  # a short break, held
    d = only_decision(f.request("12:00:10", "b", kind="meal"))
    assert (d.allowed, d.rule) == (False, "LUNCH_COVER")
    g = floor_of(["a", "b"], lunch_cover_min_agents=1, near_full_idle_threshold=0)
    assert only_decision(g.request("12:00:10", "b", kind="meal")).allowed  # nobody held: a stays


def test_lunch_cover_counts_only_held_places_of_the_same_post():
    teams = [{"name": "billing", "agents": ["a", "b"], "queues": ["billing"]},
             {"name": "sales", "agents": ["c", "d"], "queues": ["sales"]}]
    f = Floor({"lunch_cover_min_agents": 1}, teams=teams)
    for agent in "abcd":
        f.shift(agent, "08:30", "16:00", meal="12:00")
    f.ready("08:27", *"abcd")
    assert only_decision(f.request("12:00", "c", kind="meal")).allowed  # sales: d stays
    assert only_decision(f.request("12:00:10", "a", kind="meal")).allowed  # billing: b stays; c is sales
    d = only_decision(f.request("12:00:20", "d", kind="meal"))
    assert (d.allowed, d.rule) == (False, "LUNCH_COVER")


def test_team_cap_counts_allowed_short_breaks_not_yet_started():
    f = floor_of(FIVE + ["qian.yu", "li.na"], team_short_break_cap=2)
    assert only_decision(f.request("10:00", "huang.li")).allowed
    assert only_decision(f.request("10:00:05", "zhou.tao")).allowed
    d = only_decision(f.request("10:00:10", "wu.hao"))  # nobody on break yet, two places held
    assert (d.allowed, d.rule) == (False, "TEAM_BREAK_CAP")
    assert "0 agent(s) of team" in d.detail and "2 already allowed one, cap 2" in d.detail
    f.state("10:00:20", "huang.li", "short_break")  # one on break, one held: still 2
    assert not only_decision(f.request("10:00:30", "sun.mei")).allowed
    f.cancel("10:00:40", "zhou.tao")  # one on break: room for one
    assert only_decision(f.request("10:00:50", "sun.mei")).allowed


def test_a_request_from_an_agent_already_on_a_break_holds_no_second_place():
    # the API refuses it (409), but a standby's stale view can pass one to the judge (failover test)
    f = floor_of(FIVE + ["qian.yu", "li.na"], team_short_break_cap=2)
    assert only_decision(f.request("10:00", "huang.li")).allowed
    f.state("10:00:10", "huang.li", "short_break")
    only_decision(f.request("10:00:20", "huang.li"))  # asks again while on the break
    assert f.engine.floor.holds.team_short["A"] + f.engine.floor.team_short["A"] == 1
    d = only_decision(f.request("10:00:30", "zhou.tao"))  # one of team A on 小休, nobody holding
    assert (d.allowed, d.rule) == (True, None), d.detail


def test_team_cap_does_not_count_held_meal_places():
    f = floor_of(FIVE + ["qian.yu", "li.na"], team_short_break_cap=1)
    assert only_decision(f.request("12:00", "huang.li", kind="meal")).allowed
    assert only_decision(f.request("12:00:05", "zhou.tao")).allowed


def test_service_level_gate_counts_held_places_as_off_post():
    floor = {"gate": {"policy": "service_level", "horizon_min": 15}}
    agents = [f"s{i}" for i in range(6)]

    def busy_floor() -> Floor:
        f = Floor(floor)
        for agent in agents:
            f.shift(agent, "08:30", "16:00")
        f.ready("08:27", *agents)
        for i in range(13):  # 13 calls of 180 s in the 15 min: SL 88.6 % on 5 agents, 69.7 % on 4
            f.call(f"09:{50 + i // 2:02d}:{(i % 2) * 30:02d}", "q", f"c{i}", "offered")
            f.call(f"09:{50 + i // 2:02d}:{(i % 2) * 30 + 5:02d}", "q", f"c{i}", "completed", talk_s=180)
        return f

    alone = busy_floor()
    first = only_decision(alone.request("10:00", "s0"))
    assert first.allowed, first.detail  # 5 agents stay
    second = only_decision(alone.request("10:00:10", "s1"))
    assert not second.allowed and second.rule == "QUEUE_NEAR_FULL"  # 4 agents with s0's place held
    assert "with 4 agents on post, 1 more already allowed a break" in second.detail
    fresh = busy_floor()
    assert only_decision(fresh.request("10:00:10", "s1")).allowed  # the same request with nobody held


# --- every origin holds and is judged against the others' places -----------------------------------

def test_a_pause_judged_as_a_request_counts_held_places():
    f = floor_of()
    f.request("10:05:30", "huang.li")
    f.request("10:05:35", "zhou.tao")
    d = only_decision(f.state("10:05:40", "wu.hao", "short_break"))
    assert (d.allowed, d.rule) == (False, "QUEUE_NEAR_FULL")
    assert "2 already allowed → 3 <= threshold 3" in d.detail


def test_a_queue_grant_holds_its_place_against_a_direct_request():
    f = floor_of(FIVE[:4])
    f.state("09:00", "sun.mei", "on_call")  # 3 ready
    f.request("09:01", "huang.li", queue=True)  # refused, queued
    f.state("09:02", "sun.mei", "ready")  # 4 ready: huang.li granted, holds
    assert [d.agent for d in decisions(f.outputs) if d.allowed] == ["huang.li"]
    d = only_decision(f.request("09:02:30", "zhou.tao"))  # 4 ready, 1 held → 3
    assert (d.allowed, d.rule) == (False, "QUEUE_NEAR_FULL")


def test_a_direct_request_holds_its_place_against_a_queue_grant():
    f = floor_of(FIVE[:4] + ["zhao.lin"])
    f.state("09:00", "sun.mei", "on_call")
    f.state("09:00", "zhao.lin", "on_call")  # 3 ready
    f.request("09:01", "huang.li", queue=True)  # queued
    f.state("09:02", "zhao.lin", "ready")  # 4 ready: huang.li granted
    assert only_decision(f.request("09:02:10", "zhou.tao", queue=True)).allowed is False  # 4 - 1 = 3
    f.state("09:02:20", "sun.mei", "ready")  # 5 ready, 1 held → 4: zhou.tao granted
    f.request("09:02:30", "wu.hao", queue=True)  # 5 ready, 2 held → 3: queued
    f.state("09:02:40", "huang.li", "short_break")  # 4 ready, zhou.tao holds → 3: still waits
    granted = [d.agent for d in decisions(f.outputs) if d.allowed]
    assert granted == ["huang.li", "zhou.tao"]


def test_a_supervisor_allow_holds_its_place_and_is_never_refused():
    f = floor_of()
    f.request("10:00", "huang.li")
    f.request("10:00:05", "zhou.tao")
    d = only_decision(f.override("10:00:10", "wu.hao", "allow_break"))
    assert d.allowed and "(override)" in d.detail  # the supervisor's word: 3 ≤ 3 does not stop it
    refused = only_decision(f.request("10:00:20", "sun.mei"))  # 5 ready, 3 held → 2
    assert "5 idle agents (话务空闲数), 3 already allowed → 2" in refused.detail
    assert f.state("10:00:30", "wu.hao", "short_break") == []  # the allowed break starts, no decision


def test_a_supervisor_allowed_place_lapses_the_same_way():
    f = floor_of(FIVE[:4])
    f.override("10:00", "huang.li", "allow_break")
    assert not only_decision(f.request("10:01:59", "zhou.tao")).allowed  # 4 - 1 = 3
    assert only_decision(f.request("10:02:00", "wu.hao")).allowed


# --- after a lapse ----------------------------------------------------------------------------------

def test_going_after_a_lapse_while_the_floor_has_room_starts_the_allowed_break():
    f = floor_of(FIVE + ["qian.yu"])
    f.request("10:00", "huang.li")
    assert f.state("10:05", "huang.li", "short_break") == []  # lapsed at 10:02, 6 ready: room, no decision
    brk = f.engine.floor.agents["huang.li"].brk
    assert brk.allowed and brk.rule is None


def test_going_after_a_lapse_when_others_took_the_room_is_judged_as_a_request():
    f = floor_of()
    f.request("10:00", "huang.li")
    f.request("10:03", "zhou.tao")  # huang.li lapsed at 10:02: zhou.tao allowed (5 > 3)
    f.request("10:03:10", "wu.hao")  # 5 ready, zhou.tao holds → 4: allowed
    d = only_decision(f.state("10:03:20", "huang.li", "short_break"))  # 5 ready, 2 held → 3: no room
    assert (d.allowed, d.rule) == (False, "QUEUE_NEAR_FULL")


def test_the_agent_page_says_the_approval_lapsed_until_they_ask_again():
    f = floor_of()
    f.request("10:05:30", "huang.li")
    assert f.engine.agent_budget("huang.li", at("10:06")).allowed_break.value == "short"
    f.engine.tick(at("10:08"))
    view = f.engine.agent_budget("huang.li", at("10:08"))
    assert view.allowed_break is None and view.approval_lapsed is not None
    assert view.approval_lapsed.allowed_at == at("10:05:30") and view.approval_lapsed.lapsed_at == at("10:07:30")
    f.request("10:09", "huang.li")
    assert f.engine.agent_budget("huang.li", at("10:09")).approval_lapsed is None


# --- a place released because the PBX never enacted the pause (public seam for the PBX side) ----------

def test_release_hold_frees_the_place_of_that_decision_only():
    f = floor_of()
    f.request("10:05:30", "huang.li")
    f.request("10:05:35", "zhou.tao")
    f.request("10:05:40", "wu.hao", queue=True)  # queued behind the two places
    stale = f.engine.release_hold("huang.li", at("10:05:45"), allowed_at=at("10:00"))
    assert stale.released == () and stale.outputs == ()  # an outcome of another decision frees nothing
    result = f.engine.release_hold("huang.li", at("10:05:50"), allowed_at=at("10:05:30"))
    [freed] = result.released
    assert (freed.agent, freed.reason, freed.ts) == ("huang.li", "not_enacted", at("10:05:50"))
    [grant] = decisions(result.outputs)  # the freed place goes to the queue at once
    assert (grant.agent, grant.allowed) == ("wu.hao", True)
    assert f.engine.release_hold("huang.li", at("10:05:55")).released == ()  # nothing held any more


# --- the floor view shows the places the rules count ----------------------------------------------

def test_floor_view_shows_held_places_and_the_idle_count_the_rules_use():
    f = floor_of()
    view = f.engine.floor_view(at("10:00"))
    assert (view.idle_agents, view.held_places, view.idle_for_rules, view.short_break_blocked) == (5, 0, 5, False)
    f.request("10:05:30", "huang.li")
    f.request("10:05:35", "zhou.tao")
    view = f.engine.floor_view(at("10:05:40"))
    assert (view.idle_agents, view.held_places, view.idle_for_rules, view.short_break_blocked) == (5, 2, 3, True)
    assert {a.agent: a.allowed_break for a in view.agents if a.allowed_break} == {
        "huang.li": "short", "zhou.tao": "short"}
    data = f.engine.floor_data(at("10:05:41"))  # the incremental rows agree with the view
    assert data["held_places"] == 2 and data["idle_for_rules"] == 3
    assert {a["agent"] for a in data["agents"] if a["allowed_break"]} == {"huang.li", "zhou.tao"}


def test_a_feed_event_that_changes_nothing_still_grants_the_place_a_lapse_freed():
    f = floor_of()
    f.request("10:05:30", "huang.li")
    f.request("10:05:35", "zhou.tao")
    f.request("10:05:40", "wu.hao", queue=True)  # waits behind the two places
    f.state("10:07:00", "sun.mei", "ready")  # sun.mei is ready already: no change
    result = step(f, AgentStateEvent(ts=at("10:07:31"), agent="sun.mei", state="ready"))  # a PBX status repeat
    assert [r.agent for r in result.released] == ["huang.li"]  # lapsed at 10:07:30
    [grant] = decisions(result.outputs)
    assert (grant.agent, grant.allowed) == ("wu.hao", True)
