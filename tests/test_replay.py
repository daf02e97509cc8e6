"""`wfm replay`: §2 output byte for byte on the hand-written scenarios, determinism on the
simulated floor day, bad lines, exit codes, human text and --compare-policy."""
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
