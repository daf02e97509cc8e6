"""`wfm demo` as a user runs it (a subprocess, a real port, the simulator's AMI feed, SIGINT), and its
conformance with docs/interfaces.md §3: the first stdout line is the wall board's URL, /wall answers
200 without a login, Ctrl-C stops it, and `wfm log verify` afterwards checks the demo's log."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import re
import sqlite3

REPO = Path(__file__).resolve().parent.parent
WFM = [sys.executable, "-m", "wfm.cli"]


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "demo.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "demo.sqlite"}"\n'
        '[simulator]\nagents = 24\n',
        encoding="utf-8",
    )
    return config


def start_demo(config: Path, *extra: str, speed: float = 60) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [*WFM, "demo", "--port", "0", "--speed", str(speed), "--no-browser", "--config", str(config), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=config.parent, env=env, text=True,
    )
    first = proc.stdout.readline().strip()
    return proc, first


def get_json(url: str, token: str | None = None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


SERVE_ADMIN_PASSWORD = "serve-test-admin"
SERVE_ADMIN_HASH = "$argon2id$v=19$m=65536,t=3,p=4$nHDffhjb1DOmUqUrGEe/AA$fc+G1Ma/82RCAX8yHWf2jaFR57L0857lkGNd1COvbEE"


def login(base: str, user: str, password: str | None = None) -> str:
    body = {"username": user, "password": user if password is None else password}
    request = urllib.request.Request(base + "/api/login", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


def stop(proc: subprocess.Popen, sig=signal.SIGINT) -> None:
    """Signal and wait (generously); a process still running after the wait is killed, so its returncode is -9."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_agents(base: str, token: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _, floor = get_json(base + "/api/floor", token)
        if floor["agents"] and floor["agents_signed_in"] > 0:
            return floor
        if time.monotonic() > deadline:
            raise AssertionError(f"no agents on the floor after {timeout} s: {floor}")
        time.sleep(0.3)


@pytest.mark.timeout(90)
def test_demo_serves_wall_first_line_and_stops_cleanly_on_sigint(tmp_path):
    config = write_config(tmp_path)
    proc, first = start_demo(config)
    try:
        assert first.startswith("http://127.0.0.1:") and first.endswith("/wall"), first
        base = first[: -len("/wall")]
        rest = [proc.stdout.readline().strip() for _ in range(8)]
        assert any("admin/admin" in line for line in rest)
        assert any(line.endswith("/supervisor") for line in rest)
        with urllib.request.urlopen(first, timeout=10) as response:  # no login
            assert response.status == 200
            assert "text/html" in response.headers["Content-Type"]
        status, wall = get_json(base + "/api/wall")
        assert status == 200 and "idle_agents" in wall
        token = login(base, "supervisor")
        floor = wait_for_agents(base, token)
        assert floor["feeds"] and floor["feeds"][0]["source"] == "ami:simulator"
        assert floor["feeds"][0]["connected"] is True
        import websocket  # websocket-client (selenium's dependency)

        live = websocket.create_connection(base.replace("http://", "ws://") + f"/ws?token={token}", timeout=5)
        assert json.loads(live.recv())["audience"] == "full"  # an open socket must not delay the stop
    finally:
        stop(proc)
    assert proc.returncode == 0  # stopped by itself, the open socket notwithstanding
    verify = subprocess.run([*WFM, "log", "verify", "--config", str(config)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "chain intact" in verify.stdout


@pytest.mark.timeout(60)
def test_demo_refuses_bad_flags_with_one_line(tmp_path):
    config = write_config(tmp_path)
    result = subprocess.run([*WFM, "demo", "--speed", "0", "--no-browser", "--config", str(config)],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["wfm demo: --speed 0.0: must be positive"]


def test_serve_names_a_protocol_whose_adapter_is_absent(monkeypatch):
    from wfm.commands import CliError, serve

    monkeypatch.setitem(serve.ADAPTERS, "esl", (("telephony.esl.no_such_client", "EslAdapter"),
                                                ("telephony.esl.client", "NoSuchAdapter")))
    with pytest.raises(CliError) as info:
        serve.adapter_class("esl")
    assert "no adapter for protocol 'esl'" in str(info.value) and info.value.exit_code == 2
    assert "NoSuchAdapter" in str(info.value)
    for protocol in ("ami", "serial"):  # adapters this build has (esl is patched away above)
        assert serve.adapter_class(protocol).__name__.lower().startswith(protocol)


@pytest.fixture
def ami_simulator():
    """The simulator's AMI and ESL servers (one floor) on their own loop in a thread: the PBXs `wfm serve` connects to."""
    import asyncio
    import threading
    from datetime import datetime

    from pbxsim.ami_server import AmiServer, FloorSimulation
    from pbxsim.clock import SimClock
    from pbxsim.esl_server import EslServer
    from wfm.config import load_config

    config = load_config()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder = {}

    async def main():
        clock = SimClock(datetime.now(config.floor.tz).replace(hour=10, minute=0), 30)
        simulation = FloorSimulation(config, clock, agents=12)
        server = AmiServer(simulation, users={"wfm": "s3cret-ami"})
        await server.start()
        esl = EslServer(simulation, password="s3cret-ami")
        await esl.start()
        holder["server"], holder["esl"] = server, esl
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(main()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(20)
    yield {"ami": holder["server"].port, "esl": holder["esl"].port}
    asyncio.run_coroutine_threadsafe(holder["esl"].close(), loop).result(10)
    asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("protocol", ["ami", "esl"])
def test_serve_against_a_pbx(tmp_path, ami_simulator, protocol):
    config = tmp_path / "serve.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "s.sqlite"}"\n'
        f'[[pbx.feeds]]\nprotocol = "{protocol}"\nhost = "127.0.0.1"\n'
        f'port = {ami_simulator[protocol]}\nusername = "wfm"\nsecret_env = "WFM_TEST_AMI_SECRET"\nsecret = ""\n'
        'device = ""\nbaudrate = 9600\nbytesize = 8\nparity = "N"\nstopbits = 1\nprofile = "auto"\nagents = []\n'
        'transport = "udp"\n'
        # `wfm serve` refuses the shipped demo logins: the site has its own admin
        f'[[users]]\nusername = "admin"\nrole = "admin"\nagent = ""\npassword_hash = "{SERVE_ADMIN_HASH}"\n',
        encoding="utf-8")
    env = dict(os.environ, PYTHONUNBUFFERED="1", WFM_TEST_AMI_SECRET="s3cret-ami")
    proc = subprocess.Popen([*WFM, "serve", "--port", "0", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, env=env, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("http://127.0.0.1:") and first.endswith("/wall"), first
        base = first[: -len("/wall")]
        floor = wait_for_agents(base, login(base, "admin", SERVE_ADMIN_PASSWORD))
        assert floor["feeds"][0]["connected"] is True and floor["feeds"][0]["source"].startswith(protocol)
    finally:
        stop(proc, signal.SIGTERM)
    stderr = proc.stderr.read()
    assert proc.returncode == 0
    assert "s3cret-ami" not in stderr  # the PBX secret is never logged
    verify = subprocess.run([*WFM, "log", "verify", "--config", str(config)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_demo_clock_starts_busy_and_resumes_where_the_log_ends(tmp_path):
    from datetime import datetime, timedelta

    from wfm.commands.demo import resume_point, sim_start
    from wfm.config import default_data, from_data, merge
    from wfm.eventlog import open_log_from_config

    config = from_data(merge(default_data(), {"storage": {"url": f"sqlite:///{tmp_path / 'r.sqlite'}"}}))
    now = datetime(2027, 1, 4, 2, 0, tzinfo=config.floor.tz)
    start = sim_start(config, now)
    assert start == datetime(2027, 1, 4, 9, 30, tzinfo=config.floor.tz)
    pinned = from_data(merge(default_data(), {"simulator": {"day": "2027-02-01", "start_at": "14:00"}}))
    assert sim_start(pinned, now) == datetime(2027, 2, 1, 14, 0, tzinfo=config.floor.tz)

    log = open_log_from_config(config)
    assert resume_point(config, log, start) == start  # empty log
    log.append("event", {"type": "break_cancel", "agent": "1001"}, start - timedelta(hours=1))
    assert resume_point(config, log, start) == start  # the log ends earlier
    later = start + timedelta(hours=2, minutes=5)
    log.append("event", {"type": "break_cancel", "agent": "1001"}, later)
    log.append("decision", {"type": "alert"}, later + timedelta(hours=1))  # only events count
    assert resume_point(config, log, start) == later + timedelta(seconds=1)
    log.close()


# ── conformance with docs/interfaces.md §3: the URL line, /wall without a login, Ctrl-C, log verify ───

def test_demo_prints_wall_url_first_serves_it_without_login_and_log_verifies(tmp_path):
    proc = subprocess.Popen([*WFM, "demo", "--port", "0", "--no-browser"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline().decode().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/wall", first), first
        with urllib.request.urlopen(first, timeout=20) as resp:
            assert resp.status == 200
        base = first[: -len("/wall")]
        with urllib.request.urlopen(base + "/api/wall", timeout=20) as resp:  # the wall's data, no login either
            assert resp.status == 200
            json.loads(resp.read())
        time.sleep(2)  # let the floor log something
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("wfm demo did not stop on Ctrl-C") from None
    assert b"Traceback" not in proc.stderr.read()
    verify = subprocess.run([*WFM, "log", "verify", "--json"], cwd=tmp_path, capture_output=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
    [report] = [json.loads(line) for line in verify.stdout.splitlines()]
    assert report["ok"] is True and report["records"] > 0

    # L1: an edited record is caught (exit 1, stdout still only JSON)
    db = sqlite3.connect(tmp_path / "data" / "wfm.sqlite")
    db.execute("drop trigger if exists log_no_update")  # a tamperer with file access removes the guard first
    db.execute("update log set body = replace(body, 'ready', 'meal') "
               "where seq = (select max(seq) from log where body like '%ready%')")
    assert db.total_changes == 1
    db.commit()
    db.close()
    verify = subprocess.run([*WFM, "log", "verify", "--json"], cwd=tmp_path, capture_output=True, timeout=60)
    assert verify.returncode == 1
    [report] = [json.loads(line) for line in verify.stdout.splitlines()]
    assert report["ok"] is False
