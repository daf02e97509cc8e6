"""Command-line switches: `wfm ingest --profile` for serial captures and `floor.near_full_alert` in
`wfm replay`."""
from __future__ import annotations





# --- wfm ingest --profile for serial captures --------------------------------------------

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


# --- floor.near_full_alert switches the floor-level near-full alert off --------------------

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
