"""`wfm replay`: §2 output byte for byte on the hand-written scenarios, determinism on the simulated
floor day, bad lines, exit codes, human text, --compare-policy, and conformance with
docs/interfaces.md §1/§2 and docs/floor-rules.md (the smallest event file per rule, run as a subprocess)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wfm.cli import main

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(p for p in (REPO / "sample_data" / "scenarios").glob("*.jsonl") if not p.name.endswith(".expected.jsonl"))
FLOOR_DAY = REPO / "sample_data" / "floor_day.jsonl"


def replay(capsysbinary, *args: str) -> tuple[int, bytes, str]:
    code = main(["replay", *args])
    captured = capsysbinary.readouterr()
    return code, captured.out, captured.err.decode("utf-8")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_output_matches_expected_bytes(scenario: Path, capsysbinary):
    config = scenario.with_suffix(".toml")  # a scenario may bring its own site config
    extra = ["--config", str(config)] if config.exists() else []
    code, out, _ = replay(capsysbinary, str(scenario), "--json", *extra)
    expected = scenario.with_name(scenario.stem + ".expected.jsonl").read_bytes()
    assert out == expected
    assert code == (1 if scenario.stem == "bad_lines" else 0)


def test_scenarios_cover_every_rule_code():
    from wfm.rules import CODES

    seen = set()
    for scenario in SCENARIOS:
        for line in scenario.with_name(scenario.stem + ".expected.jsonl").read_text().splitlines():
            seen.add(json.loads(line)["rule"])
    assert set(CODES) <= seen


def test_bad_lines_reported_with_file_and_line_on_stderr(capsysbinary):
    path = REPO / "sample_data" / "scenarios" / "bad_lines.jsonl"
    code, out, err = replay(capsysbinary, str(path), "--json")
    lines = err.strip().splitlines()
    assert [line.split(": skipped: ")[0] for line in lines] == [f"{path}:{n}" for n in (2, 3, 4, 5)]
    assert "missing required field `kind`" in lines[3]
    assert all(json.loads(line) for line in out.splitlines())  # stdout holds only JSON
    assert code == 1


def test_missing_file_is_exit_2_with_a_one_line_reason(tmp_path, capsysbinary):
    code, out, err = replay(capsysbinary, str(tmp_path / "none.jsonl"))
    assert code == 2 and out == b"" and err.strip() == f"wfm replay: {tmp_path / 'none.jsonl'}: no such file"


def test_bad_config_is_exit_2_naming_the_key(tmp_path, capsysbinary):
    config = tmp_path / "wfm.toml"
    config.write_text("[floor]\nnear_full_idle_threshold = 'three'\n")
    code, _, err = replay(capsysbinary, str(SCENARIOS[0]), "--config", str(config))
    assert code == 2 and "floor.near_full_idle_threshold" in err


def test_config_threshold_changes_the_decision(tmp_path, capsysbinary):
    config = tmp_path / "wfm.toml"
    config.write_text("[floor]\nnear_full_idle_threshold = 2\n")
    _, out, _ = replay(capsysbinary, str(REPO / "sample_data/scenarios/queue_near_full.jsonl"), "--json",
                       "--config", str(config))
    assert [json.loads(line)["allowed"] for line in out.splitlines()] == [True, True]


def test_human_text_names_decisions_and_summary(capsysbinary):
    code, out, _ = replay(capsysbinary, str(REPO / "sample_data/scenarios/queue_near_full.jsonl"))
    text = out.decode("utf-8")
    assert code == 0
    assert "REFUSED QUEUE_NEAR_FULL" in text and "ALLOWED" in text and "小休" in text
    assert text.strip().splitlines()[-1].startswith("12 events replayed, 0 lines skipped: 2 break decisions")


def test_stdin_replay(capsysbinary, monkeypatch):
    import io

    data = (REPO / "sample_data/scenarios/queue_near_full.jsonl").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = replay(capsysbinary, "-", "--json")
    assert code == 0 and out == (REPO / "sample_data/scenarios/queue_near_full.expected.jsonl").read_bytes()


def test_floor_day_replay_is_byte_identical_across_processes():
    if not FLOOR_DAY.exists():
        pytest.skip("sample_data/floor_day.jsonl not shipped yet")
    runs = [
        subprocess.run([sys.executable, "-m", "wfm.cli", "replay", str(FLOOR_DAY), "--json", "--no-progress"],
                       capture_output=True, check=False, cwd=REPO)
        for _ in range(2)
    ]
    assert runs[0].returncode == 0, runs[0].stderr[-500:]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout
    records = [json.loads(line) for line in runs[0].stdout.splitlines()]
    assert {r["type"] for r in records} <= {"break_decision", "violation", "alert"}
    stamps = [r["ts"] for r in records]
    assert stamps == sorted(stamps)  # event order, timestamps never go back on the simulated day


def test_compare_policy_json(tmp_path, capsysbinary):
    a, b = tmp_path / "fixed.toml", tmp_path / "scaled.toml"
    a.write_text('[floor.gate]\npolicy = "fixed"\n')
    b.write_text('[floor.gate]\npolicy = "scaled"\nscaled_fraction = 0.9\n')
    code, out, _ = replay(capsysbinary, str(REPO / "sample_data/scenarios/break_queue.jsonl"),
                          "--compare-policy", str(a), str(b), "--json")
    report = json.loads(out)
    assert code == 0 and [p["gate"] for p in report["policies"]] == ["fixed", "scaled"]
    fixed, scaled = report["policies"]
    assert fixed["granted"] == 2 and fixed["granted_from_queue"] == 2 and fixed["refused"] == 0
    assert scaled["granted"] < fixed["granted"]  # 90 % of 5 on post: more than 5 idle needed
    assert "Erlang C" in report["model"]


def test_replay_import_path_stays_light():
    probe = ("import sys, wfm.cli; sys.argv=['wfm']; import wfm.commands.replay, wfm.engine, wfm.counterfactual;"
             "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'dash') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


def test_bom_and_crlf_lines_are_read(tmp_path, capsysbinary):
    path = tmp_path / "windows.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"type":"agent_state","ts":"2027-01-04T09:00:00+08:00","agent":"a","state":"ready"}\r\n'
        b'{"type":"break_request","ts":"2027-01-04T09:01:00+08:00","agent":"a","kind":"short"}\r\n'
    )
    code, out, err = replay(capsysbinary, str(path), "--json")
    assert (code, err) == (0, "") and json.loads(out)["rule"] == "QUEUE_NEAR_FULL"


def test_compare_policy_on_the_floor_day_strict_policy_keeps_more_on_post(tmp_path, capsysbinary):
    if not FLOOR_DAY.exists():
        pytest.skip("sample_data/floor_day.jsonl not shipped yet")
    a, b = tmp_path / "fixed.toml", tmp_path / "strict.toml"
    a.write_text('[floor.gate]\npolicy = "fixed"\n')
    b.write_text('[floor.gate]\npolicy = "scaled"\nscaled_fraction = 1.0\n')  # idle must exceed all on post
    code, out, _ = replay(capsysbinary, str(FLOOR_DAY), "--compare-policy", str(a), str(b), "--json", "--no-progress")
    fixed, strict = json.loads(out)["policies"]
    assert code == 0 and fixed["decisions"] == strict["decisions"] > 0
    assert strict["granted"] < fixed["granted"] and strict["break_minutes"] < fixed["break_minutes"]
    assert strict["service_level"] >= fixed["service_level"]
    code, text, _ = replay(capsysbinary, str(FLOOR_DAY), "--compare-policy", str(a), str(b), "--no-progress")
    assert b"service level (model)" in text and b"model: per 15-min interval" in text


# ── conformance with docs/interfaces.md §1/§2 and docs/floor-rules.md, through the CLI ────────────

WFM = [sys.executable, "-m", "wfm.cli"]
DAY = "2027-01-04"


def T(hhmmss: str, day: str = DAY, off: str = "+08:00") -> str:
    if hhmmss.count(":") == 1:
        hhmmss += ":00"
    return f"{day}T{hhmmss}{off}"


def st(ts, agent, state, **kw):
    return {"type": "agent_state", "ts": T(ts) if len(ts) <= 8 else ts, "agent": agent, "state": state, **kw}


def req(ts, agent, kind="short", **kw):
    return {"type": "break_request", "ts": T(ts), "agent": agent, "kind": kind, **kw}


def shift(ts, agent, start, end, meal=None, end_day=None, day=DAY):
    end_day = end_day or day
    ev = {"type": "shift", "ts": T(ts), "agent": agent, "start": T(start, day), "end": T(end, end_day)}
    if meal:
        ev["meal_start"] = T(meal, day)
    return ev


def override(ts, agent, action, **kw):
    return {"type": "override", "ts": T(ts), "supervisor": "lead", "agent": agent, "action": action, **kw}


def qs(ts, queue, waiting):
    return {"type": "queue_status", "ts": T(ts), "queue": queue, "waiting": waiting}


def ready_floor(ts, agents, state="ready"):
    return [st(ts, a, state) for a in agents]


def run_replay(tmp_path, events, config: str | None = None, name="events.jsonl", json_out=True):
    path = tmp_path / name
    lines = [e if isinstance(e, str) else json.dumps(e, ensure_ascii=False) for e in events]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [*WFM, "replay", str(path)]
    if json_out:
        cmd.append("--json")
    if config is not None:
        cfg = tmp_path / "site.toml"
        cfg.write_text(config, encoding="utf-8")
        cmd += ["--config", str(cfg)]
    proc = subprocess.run(cmd, capture_output=True, timeout=60, cwd=tmp_path)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    records = [json.loads(line) for line in proc.stdout.splitlines()] if json_out else []
    return proc, records


def decisions(records, agent=None):
    return [r for r in records if r["type"] == "break_decision" and (agent is None or r["agent"] == agent)]


def findings(records, rule):
    return [r for r in records if r["type"] in ("violation", "alert") and r["rule"] == rule]


# ---------------------------------------------------------------- §1 events


def test_unknown_keys_are_ignored(tmp_path):
    events = [dict(st("09:00", a, "ready"), colour="blue", extra={"x": 1}) for a in "ABCD"]
    events.append(dict(req("09:01", "A"), priority=5))
    proc, recs = run_replay(tmp_path, events)
    assert proc.returncode == 0 and proc.stderr == b""
    [d] = decisions(recs)
    assert d["allowed"] is True  # 4 idle agents (A..D) > 3


def test_missing_key_and_bad_json_are_skipped_with_line_numbers_never_fatal(tmp_path):
    events = [st("09:00", a, "ready") for a in "ABCD"]
    events.insert(1, '{"type": "agent_state", "ts": "2027-01-04T09:00:00+08:00", "state": "ready"}')  # line 2: no agent
    events.insert(3, "this is not json")  # line 4
    events.append(req("09:01", "A"))
    proc, recs = run_replay(tmp_path, events)
    err = proc.stderr.decode().strip().splitlines()
    path = str(tmp_path / "events.jsonl")
    assert len(err) == 2
    assert err[0].startswith(f"{path}:2") and err[1].startswith(f"{path}:4")
    [d] = decisions(recs)  # the lines after the bad ones were all replayed: 4 idle
    assert d["allowed"] is True
    assert proc.returncode in (0, 1)


def test_idle_agents_count_the_requester_and_agents_without_shift(tmp_path):
    # the requester has a shift; three others have none; 4 ready in all -> allowed
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABCD") + [req("09:00", "A")]
    _, recs = run_replay(tmp_path, events)
    assert decisions(recs)[0]["allowed"] is True
    # 3 ready including the requester -> refused QUEUE_NEAR_FULL (idle <= 3)
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABC") + [req("09:00", "A")]
    _, recs = run_replay(tmp_path, events)
    [d] = decisions(recs)
    assert (d["allowed"], d["rule"], d["next_window"]) == (False, "QUEUE_NEAR_FULL", None)


def test_idle_agents_are_only_ready_ones(tmp_path):
    events = ready_floor("09:00", "ABCD") + [st("09:00", "E", "on_call"), st("09:00", "F", "wrap_up"),
                                              st("09:00", "D", "ringing"), req("09:01", "A")]
    _, recs = run_replay(tmp_path, events)
    [d] = decisions(recs)
    assert (d["allowed"], d["rule"]) == (False, "QUEUE_NEAR_FULL")


def test_shift_is_current_when_start_le_ts_lt_end(tmp_path):
    base = ready_floor("08:00", "ABCDE")
    events = [shift("08:00", "A", "09:00", "16:00")] + base + [
        req("09:00", "A"),                  # start instant: current
        {"type": "break_cancel", "ts": T("09:00:30"), "agent": "A"},
        req("15:59:59", "A"),               # 1 s before end: current
        {"type": "break_cancel", "ts": T("15:59:59"), "agent": "A"},
        req("16:00", "A"),                  # end instant: not current
    ]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs, "A")
    assert [d["allowed"] for d in ds] == [True, True, False]
    assert ds[2]["rule"] == "NOT_ON_SHIFT"


def test_agent_state_without_queues_keeps_the_agents_queues(tmp_path):
    """Not visible in §2 output: read through the engine's published read model (wfm/views.py)."""
    from datetime import datetime

    from wfm.config import load_config
    from wfm.engine import FloorEngine
    from wfm.events import decode_event

    engine = FloorEngine(load_config(None))
    for ev in (st("09:00", "A", "ready", queues=["billing", "general"]), st("09:05", "A", "on_call"),
               st("09:06", "A", "wrap_up", queues=None)):
        if ev.get("queues") is None:
            ev.pop("queues", None)
        engine.handle(decode_event(json.dumps(ev)))
    [agent] = engine.floor_view(datetime.fromisoformat(T("09:07"))).agents
    assert agent.queues == ["billing", "general"] and agent.state.value == "wrap_up"


def test_any_agent_and_queue_id_is_accepted(tmp_path):
    events = [st("09:00", a, "ready") for a in ("王芳", "agent/7", "PJSIP-1", "x y")] + [
        qs("09:00", "售后 queue", 0), req("09:01", "王芳")]
    proc, recs = run_replay(tmp_path, events)
    assert proc.returncode == 0
    assert decisions(recs)[0]["agent"] == "王芳" and decisions(recs)[0]["allowed"] is True


# ---------------------------------------------------------------- §2 records


def test_record_keys_order_and_nulls_exactly_as_section_2(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:29", "ABCDE") + [
        req("09:00", "A"), st("09:00", "A", "short_break"), st("09:12", "A", "ready"),
        st("10:00", "B", "ready"), qs("10:00", "q", 5), st("10:00", "C", "on_call"), st("10:00", "D", "on_call"),
    ]
    proc, _ = run_replay(tmp_path, events)
    lines = proc.stdout.decode().splitlines()
    keyorder = {
        "break_decision": ["type", "ts", "agent", "kind", "allowed", "rule", "detail", "next_window"],
        "violation": ["type", "ts", "agent", "rule", "detail"],
        "alert": ["type", "ts", "rule", "detail"],
    }
    seen = set()
    for line in lines:
        obj = json.loads(line)
        assert list(obj) == keyorder[obj["type"]], line
        seen.add(obj["type"])
    assert seen == {"break_decision", "violation", "alert"}
    first = json.loads(lines[0])
    assert first["rule"] is None and first["next_window"] is None and '"rule":null' in lines[0].replace(" ", "")


def test_one_decision_per_request_and_pause_after_allowed_request_prints_nothing(tmp_path):
    events = ready_floor("09:00", "ABCDE") + [
        req("09:01", "A", minutes=5), st("09:02", "A", "short_break"), st("09:07", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert len(decisions(recs)) == 1 and decisions(recs)[0]["ts"] == T("09:01")
    assert recs == decisions(recs)


def test_identical_requests_each_get_a_decision(tmp_path):
    """One break_request gets exactly one break_decision — also a repeated identical one."""
    events = ready_floor("09:00", "ABC") + [req("09:01", "A"), req("09:01", "A")]
    _, recs = run_replay(tmp_path, events)
    assert len(decisions(recs)) == 2


def test_pause_without_request_is_judged_at_that_event(tmp_path):
    events = ready_floor("09:00", "ABCDE") + [st("09:05", "A", "short_break"), st("09:06", "B", "short_break"),
                                               st("09:07", "C", "short_break")]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs)
    assert [(d["agent"], d["ts"], d["allowed"], d["rule"]) for d in ds] == [
        ("A", T("09:05"), True, None),          # 5 idle (A counts) > 3
        ("B", T("09:06"), True, None),          # 4 idle > 3
        ("C", T("09:07"), False, "QUEUE_NEAR_FULL"),  # 3 idle
    ]
    assert all(d["kind"] == "short" for d in ds)


def test_pause_into_meal_is_judged_as_a_meal_request(tmp_path):
    events = ready_floor("11:00", "AB") + [st("11:30", "A", "meal")]
    _, recs = run_replay(tmp_path, events)
    [d] = decisions(recs)
    assert (d["kind"], d["allowed"]) == ("meal", True)


def test_pause_after_a_refused_request_is_judged_again(tmp_path):
    events = ready_floor("09:00", "ABC") + [req("09:01", "A"), st("09:02", "A", "short_break")]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs)
    assert [(d["ts"], d["allowed"]) for d in ds] == [(T("09:01"), False), (T("09:02"), False)]


def test_override_allow_break_prints_allowed_decision_at_override_ts(tmp_path):
    events = ready_floor("09:00", "ABC") + [
        req("09:01", "A"), override("09:03", "A", "allow_break", note="ok"), st("09:04", "A", "short_break"),
        st("09:09", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs)
    assert [(d["ts"], d["allowed"], d["rule"], d["kind"]) for d in ds] == [
        (T("09:01"), False, "QUEUE_NEAR_FULL", "short"), (T("09:03"), True, None, "short")]
    assert ds[1]["next_window"] is None


def test_override_allow_break_with_no_request_allows_a_short_break(tmp_path):
    events = ready_floor("09:00", "AB") + [override("09:03", "A", "allow_break"), st("09:04", "A", "short_break"),
                                           st("09:10", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert [(d["ts"], d["kind"], d["allowed"]) for d in decisions(recs)] == [(T("09:03"), "short", True)]
    assert recs == decisions(recs)


def test_end_break_ends_the_break_at_override_ts_and_minutes_count_until_then(tmp_path):
    # 09:00 short break; the supervisor ends it at 09:08; the PBX only shows ready at 09:20
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABCDE") + [
        st("09:00", "A", "short_break"), override("09:08", "A", "end_break"), st("09:20", "A", "ready"),
        st("10:00", "A", "short_break"), st("10:10", "A", "ready"),
        st("11:00", "A", "short_break"), st("11:10", "A", "ready"),   # 8 + 10 + 10 = 28 used
        req("12:00", "A", minutes=3),     # 31 > 30: refused
        req("12:01", "A", minutes=2),     # 30: allowed
    ]
    _, recs = run_replay(tmp_path, events)
    assert findings(recs, "SHORT_BREAK_TOO_LONG") == [] and findings(recs, "SHORT_BREAK_BUDGET") == []
    ds = decisions(recs)
    assert [(d["ts"], d["allowed"], d["rule"]) for d in ds] == [
        (T("09:00"), True, None), (T("10:00"), True, None), (T("11:00"), True, None),
        (T("12:00"), False, "SHORT_BREAK_BUDGET"), (T("12:01"), True, None)]
    assert "28 min" in ds[3]["detail"]
    assert not [r for r in recs if r["ts"] == T("09:08")]  # end_break prints nothing


def test_end_break_past_the_limit_fires_the_overrun(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABCDE") + [
        st("09:00", "A", "short_break"), override("09:12", "A", "end_break")]
    _, recs = run_replay(tmp_path, events)
    [v] = findings(recs, "SHORT_BREAK_TOO_LONG")
    assert v["ts"] == T("09:12") and v["agent"] == "A"


def test_queued_request_granted_oldest_first_at_first_allowed_event(tmp_path):
    events = ready_floor("09:00", "ABCD") + [
        st("09:00", "B", "on_call"),                   # idle A C D = 3
        req("09:01", "C", queue=True),                 # refused, queued (older)
        req("09:02", "A", queue=True),                 # refused, queued
        st("09:03", "E", "ready"),                     # idle 4: C first
        st("09:04", "Z", "on_call"),                   # nothing changes for the gate
        st("09:05", "B", "ready"),                     # idle 5, C reserved -> A
    ]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs)
    assert [(d["ts"], d["agent"], d["allowed"]) for d in ds] == [
        (T("09:01"), "C", False), (T("09:02"), "A", False), (T("09:03"), "C", True), (T("09:05"), "A", True)]
    assert ds[0]["rule"] == "QUEUE_NEAR_FULL" and ds[0]["next_window"] is None
    assert ds[2]["rule"] is None


def test_unqueued_refused_request_is_never_granted_later(tmp_path):
    events = ready_floor("09:00", "ABC") + [req("09:01", "A"), st("09:03", "E", "ready"), st("09:04", "F", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert len(decisions(recs)) == 1


def test_budget_refusal_does_not_queue(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00"), shift("08:00", "A", "08:30", "16:00", day="2027-01-05",
                                                           end_day="2027-01-05")]
    events += ready_floor("08:25", "ABCDEF") + [
        st("09:00", "A", "short_break"), st("09:10", "A", "ready"), st("09:30", "A", "short_break"),
        st("09:40", "A", "ready"), st("09:50", "A", "short_break"), st("09:55", "A", "ready"),
        req("10:00", "A", minutes=10, queue=True), st("10:30", "G", "ready"), st("11:00", "H", "ready")]
    _, recs = run_replay(tmp_path, events)
    d = decisions(recs)[-1]
    assert len(decisions(recs)) == 4
    assert (d["ts"], d["allowed"], d["rule"]) == (T("10:00"), False, "SHORT_BREAK_BUDGET")
    assert d["next_window"] == T("08:30", "2027-01-05")


def test_lunch_cover_refusal_queues_and_is_granted(tmp_path):
    events = ready_floor("11:00", "AB") + [
        st("11:30", "A", "meal"),                       # allowed: B stays
        req("11:31", "B", "meal", queue=True),          # refused: 0 would stay
        st("12:00", "A", "ready"),                      # B granted now
    ]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs)
    assert [(d["ts"], d["agent"], d["kind"], d["allowed"], d["rule"]) for d in ds] == [
        (T("11:30"), "A", "meal", True, None), (T("11:31"), "B", "meal", False, "LUNCH_COVER"),
        (T("12:00"), "B", "meal", True, None)]
    assert ds[1]["next_window"] is None


def test_lunch_cover_counts_only_on_post_agents(tmp_path):
    events = ready_floor("11:00", "AB") + [st("11:00", "C", "not_ready"), st("11:00", "D", "short_break"),
                                           st("11:00", "B", "on_call"), req("11:30", "A", "meal"),
                                           st("11:31", "B", "not_ready"), req("11:32", "A", "meal")]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs, "A")
    assert [(d["allowed"], d["rule"]) for d in ds] == [(True, None), (False, "LUNCH_COVER")]


def test_lunch_cover_minimum_from_config(tmp_path):
    events = ready_floor("11:00", "ABC") + [req("11:30", "A", "meal")]
    _, recs = run_replay(tmp_path, events, config="[floor]\nlunch_cover_min_agents = 3\n")
    [d] = decisions(recs)
    assert (d["allowed"], d["rule"]) == (False, "LUNCH_COVER")


def test_budget_request_without_minutes_allowed_while_budget_remains(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABCDE") + [
        st("09:00", "A", "short_break"), st("09:10", "A", "ready"),
        st("10:00", "A", "short_break"), st("10:10", "A", "ready"),
        st("11:00", "A", "short_break"), st("11:09", "A", "ready"),
        req("12:00", "A"),                 # 1 min left: allowed, detail says so
        req("12:01", "A", minutes=2),      # planned 2 > 1 left: refused
    ]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs)
    assert ds[3]["allowed"] is True and "1 min" in ds[3]["detail"]
    assert (ds[4]["allowed"], ds[4]["rule"]) == (False, "SHORT_BREAK_BUDGET")


def test_budget_exactly_thirty_is_within_and_next_request_refused(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABCDE") + [
        st("09:00", "A", "short_break"), st("09:10", "A", "ready"),
        st("10:00", "A", "short_break"), st("10:10", "A", "ready"),
        st("11:00", "A", "short_break"), st("11:10", "A", "ready"),
        req("12:00", "A"),
    ]
    _, recs = run_replay(tmp_path, events)
    assert findings(recs, "SHORT_BREAK_BUDGET") == [] and findings(recs, "SHORT_BREAK_TOO_LONG") == []
    d = decisions(recs)[-1]
    assert (d["allowed"], d["rule"]) == (False, "SHORT_BREAK_BUDGET")
    assert d["next_window"] is None  # no later shift known


def test_budget_overrun_violation_stamped_at_first_event_after_limit(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABCDE") + [
        st("09:00", "A", "short_break"), st("09:10", "A", "ready"),
        st("10:00", "A", "short_break"), st("10:10", "A", "ready"),
        st("11:00", "A", "short_break"),           # 20 used: the budget is passed after 11:10
        st("11:10", "B", "on_call"),               # exactly 30:00: within
        st("11:10:01", "C", "on_call"),            # first event after the limit (also TOO_LONG at 10:00)
        st("11:12", "A", "ready"),
    ]
    _, recs = run_replay(tmp_path, events)
    [v] = findings(recs, "SHORT_BREAK_BUDGET")
    assert v["type"] == "violation" and v["ts"] == T("11:10:01") and v["agent"] == "A"
    [w] = findings(recs, "SHORT_BREAK_TOO_LONG")
    assert w["ts"] == T("11:10:01")


def test_budget_overrun_counts_a_break_taken_after_refusal(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABCDE") + [
        st("09:00", "A", "short_break"), st("09:10", "A", "ready"),
        st("10:00", "A", "short_break"), st("10:10", "A", "ready"),
        st("10:50", "A", "short_break"), st("11:00", "A", "ready"),
        req("11:30", "A"),                        # refused: no budget
        st("11:31", "A", "short_break"),          # taken anyway (decision refused at the pause)
        st("11:33", "A", "ready"),
    ]
    _, recs = run_replay(tmp_path, events)
    [v] = findings(recs, "SHORT_BREAK_BUDGET")
    assert v["type"] == "violation" and v["ts"] == T("11:33")


def test_short_break_too_long_strict_limit(tmp_path):
    events = ready_floor("09:00", "ABCDEF") + [
        st("09:00", "A", "short_break"), st("09:00", "B", "short_break"),
        st("09:10", "A", "ready"),          # exactly 10:00: within
        st("09:10:01", "B", "ready"),       # 10:00 and a second
    ]
    _, recs = run_replay(tmp_path, events)
    v = findings(recs, "SHORT_BREAK_TOO_LONG")
    assert [(x["agent"], x["ts"]) for x in v] == [("B", T("09:10:01"))]


def test_overrun_stamped_no_later_than_first_event_after_limit(tmp_path):
    events = ready_floor("09:00", "ABCDEF") + [
        st("09:00", "A", "short_break"), qs("09:10:30", "q", 0), st("09:25", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    [v] = findings(recs, "SHORT_BREAK_TOO_LONG")
    assert v["ts"] == T("09:10:30") and v["agent"] == "A"


def test_meal_too_long_strict_limit(tmp_path):
    events = ready_floor("11:00", "ABCD") + [
        st("11:30", "A", "meal"), st("12:00", "A", "ready"),
        st("12:00", "B", "meal"), st("12:30:01", "B", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert [(v["agent"], v["ts"]) for v in findings(recs, "MEAL_TOO_LONG")] == [("B", T("12:30:01"))]


def test_serious_late_off_post_inclusive_20_min(tmp_path):
    events = [shift("08:00", a, "08:30", "16:00") for a in "AB"] + ready_floor("08:25", "ABCDE") + [
        st("10:00", "A", "not_ready"), st("10:00", "B", "not_ready"),
        st("10:19:59", "A", "ready"),       # 19:59: not serious
        st("10:20", "B", "ready"),          # exactly 20:00: serious
    ]
    _, recs = run_replay(tmp_path, events)
    assert [(v["agent"], v["ts"]) for v in findings(recs, "SERIOUS_LATE")] == [("B", T("10:20"))]


def test_serious_late_logged_out_mid_shift(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABC") + [
        st("10:00", "A", "logged_out"), qs("10:25", "q", 0), st("10:30", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    [v] = findings(recs, "SERIOUS_LATE")
    assert (v["agent"], v["ts"]) == ("A", T("10:25"))


def test_serious_late_not_for_breaks_or_agents_without_shift(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABCDEFG") + [
        st("10:00", "A", "meal"), st("10:25", "A", "ready"),             # meal: own rules
        st("10:00", "B", "not_ready"), st("10:40", "B", "ready"),        # no shift: not judged
    ]
    _, recs = run_replay(tmp_path, events)
    assert findings(recs, "SERIOUS_LATE") == []


def test_late_sign_in_and_serious_late_for_lateness(tmp_path):
    events = [shift("08:00", a, "08:30", "16:00") for a in "ABC"] + [
        st("08:27", "A", "ready"),            # within the 3 min before: fine
        st("08:35", "B", "ready"),            # late
        st("08:50", "X", "ready"),            # first event at/after 08:50 (C 20 min late)
        st("08:51", "C", "ready"),
    ]
    _, recs = run_replay(tmp_path, events)
    late = findings(recs, "LATE_SIGN_IN")
    assert sorted(v["agent"] for v in late) == ["B", "C"]
    assert all(v["ts"] <= T("08:35") for v in late)
    serious = findings(recs, "SERIOUS_LATE")
    assert [(v["agent"], v["ts"]) for v in serious] == [("C", T("08:50"))]


def test_ready_exactly_at_shift_start_is_not_late(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00"), st("08:30", "A", "ready"), st("08:40", "B", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert findings(recs, "LATE_SIGN_IN") == []


def test_meal_state_missing_fires_at_slot_end_when_away_without_meal(tmp_path):
    events = [shift("08:00", a, "08:30", "16:00", meal="11:30") for a in "ABC"] + ready_floor("08:25", "ABCDE") + [
        st("11:30", "A", "not_ready"), st("11:30", "B", "meal"),
        st("11:55", "A", "ready"),          # away, never in meal -> fires
        st("11:59", "B", "ready"),          # in meal -> no
        st("12:00:30", "D", "on_call"),     # first event after the slot's end
    ]
    _, recs = run_replay(tmp_path, events)
    v = findings(recs, "MEAL_STATE_MISSING")
    assert [(x["agent"], x["ts"]) for x in v] == [("A", T("12:00:30"))]


def test_meal_not_in_slot(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00", meal="11:30")] + ready_floor("08:25", "ABC") + [
        req("10:00", "A", "meal"), req("11:30", "A", "meal")]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs)
    assert (ds[0]["allowed"], ds[0]["rule"]) == (False, "MEAL_NOT_IN_SLOT")
    assert ds[1]["allowed"] is True


def test_not_on_shift_after_the_shift_ended(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + ready_floor("08:25", "ABCDE") + [req("16:30", "A")]
    _, recs = run_replay(tmp_path, events)
    d = decisions(recs)[-1]
    assert (d["allowed"], d["rule"]) == (False, "NOT_ON_SHIFT")


def test_shift_crossing_midnight_keeps_one_budget(tmp_path):
    day2 = "2027-01-05"
    events = [shift("17:00", "A", "17:30", "01:00", end_day=day2)] + ready_floor("17:25", "ABCDE") + [
        st("23:00", "A", "short_break"), st("23:10", "A", "ready"),
        st("23:40", "A", "short_break"), st("23:50", "A", "ready"),
        st(T("00:10", day2), "A", "short_break"), st(T("00:20", day2), "A", "ready"),
        {"type": "break_request", "ts": T("00:30", day2), "agent": "A", "kind": "short"},
    ]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs)
    assert [d["allowed"] for d in ds] == [True, True, True, False]
    assert ds[3]["rule"] == "SHORT_BREAK_BUDGET"


def test_new_shift_resets_budget(tmp_path):
    day2 = "2027-01-05"
    events = [shift("08:00", "A", "08:30", "16:00"), shift("08:00", "A", "08:30", "16:00", day=day2, end_day=day2)]
    events += ready_floor("08:25", "ABCDE") + [req("09:00", "A", minutes=10), st("09:00", "A", "short_break"),
                                               st("09:10", "A", "ready"), st("09:20", "A", "short_break"),
                                               st("09:30", "A", "ready"), st("09:40", "A", "short_break"),
                                               st("09:50", "A", "ready"),
                                               {"type": "break_request", "ts": T("09:00", day2), "agent": "A",
                                                "kind": "short", "minutes": 10}]
    _, recs = run_replay(tmp_path, events)
    assert decisions(recs)[-1]["allowed"] is True


def test_post_empty_when_last_signed_in_agent_leaves(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + [
        st("08:25", "A", "ready"), st("10:00", "A", "logged_out"), qs("10:05", "q", 0), st("10:10", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    [v] = findings(recs, "POST_EMPTY")
    assert v["type"] == "violation" and v["agent"] is None and v["ts"] <= T("10:05")


def test_post_not_empty_while_someone_signed_in_on_break(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00")] + [
        st("08:25", "A", "ready"), st("08:25", "B", "ready"), st("09:00", "B", "not_ready"),
        st("10:00", "A", "logged_out"), qs("10:05", "q", 0)]
    _, recs = run_replay(tmp_path, events)
    assert findings(recs, "POST_EMPTY") == []


def test_post_empty_at_handover_f9(tmp_path):
    events = [shift("08:00", "D", "08:30", "16:00"), shift("08:00", "E", "16:00", "23:30"),
              st("08:25", "D", "ready"), st("15:58", "D", "logged_out"), st("16:02", "E", "ready")]
    _, recs = run_replay(tmp_path, events)
    [v] = findings(recs, "POST_EMPTY")
    assert v["ts"] <= T("16:02")


def test_queue_near_full_alert_is_floor_level(tmp_path):
    events = ready_floor("09:00", "ABCDE") + [qs("09:01", "q", 4), st("09:02", "A", "on_call"),
                                               st("09:03", "B", "on_call")]
    _, recs = run_replay(tmp_path, events)
    [a] = findings(recs, "QUEUE_NEAR_FULL")
    assert a["type"] == "alert" and a["ts"] == T("09:03") and set(a) == {"type", "ts", "rule", "detail"}


def test_threshold_from_config(tmp_path):
    events = ready_floor("09:00", "ABC") + [req("09:01", "A")]
    _, recs = run_replay(tmp_path, events, config="[floor]\nnear_full_idle_threshold = 2\n")
    assert decisions(recs)[0]["allowed"] is True


def test_short_break_limits_from_config(tmp_path):
    events = ready_floor("09:00", "ABCDE") + [st("09:00", "A", "short_break"), st("09:06", "A", "ready")]
    _, recs = run_replay(tmp_path, events, config="[floor]\nshort_break_max_min = 5\n")
    assert len(findings(recs, "SHORT_BREAK_TOO_LONG")) == 1


def test_output_ts_is_the_event_ts_as_written(tmp_path):
    """Each record carries the `ts` of the event that caused it, whatever offset the feed used."""
    events = [{"type": "agent_state", "ts": f"2027-01-04T01:00:0{i}Z", "agent": a, "state": "ready"}
              for i, a in enumerate("ABCD")]
    events.append({"type": "break_request", "ts": "2027-01-04T01:05:00+00:00", "agent": "A", "kind": "short"})
    proc, recs = run_replay(tmp_path, events)
    assert proc.returncode == 0, proc.stderr
    from datetime import datetime
    [d] = decisions(recs)
    assert datetime.fromisoformat(d["ts"]) == datetime.fromisoformat("2027-01-04T01:05:00+00:00")


def test_naive_timestamp_line_is_skipped(tmp_path):
    events = [st("09:00", a, "ready") for a in "ABCD"] + [
        {"type": "break_request", "ts": "2027-01-04T09:01:00", "agent": "A", "kind": "short"}]
    proc, recs = run_replay(tmp_path, events)
    assert recs == [] and f"{tmp_path / 'events.jsonl'}:5" in proc.stderr.decode()


def test_replay_is_byte_identical_across_runs(tmp_path):
    day = REPO / "sample_data" / "floor_day.jsonl"
    runs = [subprocess.run([*WFM, "replay", str(day), "--json"], capture_output=True, timeout=120).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and runs[0]


def test_break_cancel_drops_a_queued_request(tmp_path):
    events = ready_floor("09:00", "ABC") + [req("09:01", "A", queue=True),
                                            {"type": "break_cancel", "ts": T("09:02"), "agent": "A"},
                                            st("09:03", "E", "ready"), st("09:04", "F", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert len(decisions(recs)) == 1


def test_break_cancel_of_allowed_request_makes_next_pause_judged(tmp_path):
    events = ready_floor("09:00", "ABCD") + [req("09:01", "A"), {"type": "break_cancel", "ts": T("09:02"), "agent": "A"},
                                             st("09:02", "B", "on_call"), st("09:03", "A", "short_break")]
    _, recs = run_replay(tmp_path, events)
    ds = decisions(recs)
    assert [(d["ts"], d["allowed"]) for d in ds] == [(T("09:01"), True), (T("09:03"), False)]


def test_granted_queued_request_then_pause_prints_no_new_decision(tmp_path):
    events = ready_floor("09:00", "ABC") + [req("09:01", "A", queue=True), st("09:02", "D", "ready"),
                                            st("09:03", "A", "short_break"), st("09:08", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert [(d["ts"], d["allowed"]) for d in decisions(recs)] == [(T("09:01"), False), (T("09:02"), True)]


def test_next_window_not_null_when_the_budget_also_blocks(tmp_path):
    """null only when *only* the floor stands in the way: an exhausted budget has a clock answer."""
    day2 = "2027-01-05"
    events = [shift("08:00", "A", "08:30", "16:00"), shift("08:00", "A", "08:30", "16:00", day=day2)]
    events += ready_floor("08:25", "ABCDE") + [
        st("09:00", "A", "short_break"), st("09:10", "A", "ready"), st("09:30", "A", "short_break"),
        st("09:40", "A", "ready"), st("10:00", "A", "short_break"), st("10:10", "A", "ready"),
        st("10:30", "D", "on_call"), st("10:30", "E", "on_call"),   # idle A B C = 3: floor blocks too
        req("11:00", "A"),
    ]
    _, recs = run_replay(tmp_path, events)
    d = decisions(recs)[-1]
    assert d["allowed"] is False and d["rule"] in ("QUEUE_NEAR_FULL", "SHORT_BREAK_BUDGET")
    assert d["next_window"] == T("08:30", day2)


def test_allowed_meal_taken_outside_its_slot_is_a_violation(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00", meal="11:30")] + ready_floor("08:25", "ABC") + [
        req("11:45", "A", "meal"), st("12:10", "A", "meal"), st("12:30", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert decisions(recs)[0]["allowed"] is True
    [v] = findings(recs, "MEAL_NOT_IN_SLOT")
    assert v["type"] == "violation" and v["ts"] == T("12:10")


def test_never_signed_in_agent_is_late_serious_and_post_empty(tmp_path):
    events = [shift("08:00", "A", "08:30", "16:00"), qs("08:31", "q", 0), qs("08:50", "q", 0), qs("09:00", "q", 0)]
    _, recs = run_replay(tmp_path, events)
    assert [(r["rule"], r["ts"]) for r in recs] == sorted(
        [("LATE_SIGN_IN", T("08:31")), ("POST_EMPTY", T("08:31")), ("SERIOUS_LATE", T("08:50"))],
        key=lambda x: (x[1], [r["rule"] for r in recs].index(x[0])))
    assert all(r["type"] == "violation" for r in recs)


def test_override_on_a_refused_break_already_taken(tmp_path):
    events = ready_floor("09:00", "ABC") + [st("09:01", "A", "short_break"),
                                            override("09:02", "A", "allow_break"), st("09:08", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert [(d["ts"], d["allowed"]) for d in decisions(recs)] == [(T("09:01"), False), (T("09:02"), True)]
    assert recs == decisions(recs)


def test_repeated_same_state_changes_nothing(tmp_path):
    events = ready_floor("09:00", "ABCDE") + [st("09:01", "A", "short_break"), st("09:03", "A", "short_break"),
                                               st("09:05", "A", "short_break"), st("09:09", "A", "ready")]
    _, recs = run_replay(tmp_path, events)
    assert len(recs) == 1 and recs[0]["ts"] == T("09:01")


def test_human_text_by_default(tmp_path):
    events = ready_floor("09:00", "ABC") + [req("09:01", "A")]
    proc, _ = run_replay(tmp_path, events, json_out=False)
    text = proc.stdout.decode()
    assert proc.returncode == 0 and "QUEUE_NEAR_FULL" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_numeric_agent_and_queue_ids_are_ids(tmp_path):
    """§1: replay accepts any agent or queue id — a PBX export writing extensions as JSON numbers included."""
    events = [{"type": "agent_state", "ts": T("09:00"), "agent": 1000 + i, "state": "ready", "queues": [8001]}
              for i in range(4)]
    events += [{"type": "queue_status", "ts": T("09:00"), "queue": 8001, "waiting": 0},
               {"type": "break_request", "ts": T("09:01"), "agent": 1000, "kind": "short"},
               {"type": "agent_state", "ts": T("09:02"), "agent": True, "state": "ready"}]  # not an id: skipped
    proc, recs = run_replay(tmp_path, events)
    [d] = decisions(recs)
    assert (d["agent"], d["allowed"]) == ("1000", True)  # 4 idle: the numeric agents were counted
    assert proc.stderr.decode().count("skipped") == 1


def test_post_empty_per_post_when_config_maps_agents_to_queues(tmp_path):
    config = ('[[teams]]\nname = "B"\nagents = ["A"]\nqueues = ["billing"]\n'
              '[[teams]]\nname = "G"\nagents = ["G1"]\nqueues = ["general"]\n')
    events = [shift("08:00", "A", "08:30", "16:00"), shift("08:00", "G1", "08:30", "16:00"),
              st("08:20", "A", "ready"), st("08:20", "G1", "ready"),
              st("09:10", "A", "logged_out"), st("09:11", "G1", "on_call")]
    _, recs = run_replay(tmp_path, events, config=config)
    [v] = findings(recs, "POST_EMPTY")
    assert (v["ts"], v["agent"]) == (T("09:11"), None)
    _, recs = run_replay(tmp_path, events)  # one floor: G1 still signed in, nothing empty
    assert findings(recs, "POST_EMPTY") == []
