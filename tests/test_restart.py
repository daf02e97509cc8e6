"""Restart from the log: SIGKILL a running `wfm demo`, start it again, budgets survive.

On start the runtime replays the log's events into a fresh engine before the
feed's snapshot resyncs it, so an agent's short-break (小休) minutes used in
this shift are not reset by a crash.
"""
from __future__ import annotations

import signal
import subprocess
import time

import pytest

from test_demo import WFM, get_json, login, start_demo, stop, write_config


def _agent_with_used_break(base: str, token: str, timeout: float = 60.0) -> tuple[str, float]:
    """An agent back from a short break (used > 0, not on a break now)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, floor = get_json(base + "/api/floor", token)
        for agent in floor["agents"]:
            if agent["short_break_used_s"] > 0 and agent["state"] not in ("short_break", "meal"):
                return agent["agent"], agent["short_break_used_s"]
        time.sleep(0.5)
    raise AssertionError("no agent took a short break in time")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigkill_then_restart_keeps_short_break_minutes(tmp_path):
    config = write_config(tmp_path)
    proc, first = start_demo(config, speed=180)
    try:
        base = first[: -len("/wall")]
        token = login(base, "supervisor")
        agent, used_before = _agent_with_used_break(base, token)
        _, budget = get_json(base + f"/api/agents/{agent}/budget", token)
        used_before = budget["short_break_used_s"]
        taken_before = budget["short_breaks_taken"]
        assert used_before > 0 and taken_before >= 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    verify = subprocess.run([*WFM, "log", "verify", "--config", str(config)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr  # nothing acknowledged was torn

    proc, first = start_demo(config)
    try:
        base = first[: -len("/wall")]
        token = login(base, "supervisor")
        _, budget = get_json(base + f"/api/agents/{agent}/budget", token)
        # replayed, not reset: at least what was used before the crash (more if a new break began since)
        assert budget["short_break_used_s"] >= used_before - 1e-6, (budget, used_before)
        assert budget["short_breaks_taken"] >= taken_before
        if budget["state"] not in ("short_break", "meal"):
            assert budget["short_break_used_s"] == pytest.approx(used_before, abs=1.0)
        status, health = get_json(base + "/api/health")
        assert status == 200 and health["feeds_connected"] == 1
    finally:
        stop(proc)
    assert proc.returncode == 0  # stopped by itself on SIGINT (stop() kills it after its wait: returncode -9)
    verify = subprocess.run([*WFM, "log", "verify", "--config", str(config)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
