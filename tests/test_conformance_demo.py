"""Outside-in conformance of `wfm demo` and `wfm log verify` with docs/interfaces.md §3.

`wfm demo` is started as a subprocess in an empty directory (the default
storage path is relative to it): its first stdout line is the wall board's
URL, /wall answers 200 without a login, Ctrl-C stops it, and a plain
`wfm log verify` afterwards checks the demo's log (and catches an edit).
"""
from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

WFM = [sys.executable, "-m", "wfm.cli"]


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
