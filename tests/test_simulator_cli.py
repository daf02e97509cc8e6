"""`wfm simulate` and the shipped sample day."""
from __future__ import annotations

import json
from collections import Counter

from wfm.cli import main
from wfm.events import BadLine, ShiftEvent, read_events


def test_simulate_writes_day_and_summary(tmp_path, capsys):
    out = tmp_path / "day.jsonl"
    code = main(["simulate", "--agents", "8", "--day", "2027-01-05", "--seed", "11", "--out", str(out), "--json", "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["agents"] == 8 and summary["seed"] == 11 and summary["day"] == "2027-01-05"
    lines = out.read_bytes().splitlines()
    assert len(lines) == summary["events"]
    events = list(read_events(lines, str(out)))
    assert not [e for e in events if isinstance(e, BadLine)]
    assert sum(isinstance(e, ShiftEvent) for e in events) == 8
    assert events[0].ts.isoformat().startswith("2027-01-05T08:00:00")


def test_simulate_to_stdout_is_pure_json_lines_and_deterministic(capsys):
    assert main(["simulate", "--agents", "4", "--day", "2027-01-05", "--from", "08:00", "--to", "10:00", "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert main(["simulate", "--agents", "4", "--day", "2027-01-05", "--from", "08:00", "--to", "10:00", "--no-progress"]) == 0
    assert capsys.readouterr().out == first
    rows = [json.loads(line) for line in first.splitlines()]
    assert rows and all("type" in r for r in rows)
    after_shifts = [r for r in rows if r["type"] != "shift"]
    assert after_shifts and all("T08:" in r["ts"] or "T09:" in r["ts"] for r in after_shifts)


def test_simulate_bad_input_exits_2_with_one_line(capsys):
    assert main(["simulate", "--day", "2027-13-40", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--day" in err and "\n" not in err
    assert main(["simulate", "--agents", "0", "--no-progress"]) == 2
    assert main(["simulate", "--from", "10:00", "--to", "09:00", "--day", "2027-01-05", "--no-progress"]) == 2
    assert main(["simulate", "--from", "25:00", "--day", "2027-01-05", "--no-progress"]) == 2


def test_shipped_sample_day_is_the_seeded_default_day(repo, tmp_path, capsys):
    sample = repo / "sample_data" / "floor_day.jsonl"
    assert sample.stat().st_size < 5_000_000
    regenerated = tmp_path / "again.jsonl"
    assert main(["simulate", "--day", "2027-01-04", "--out", str(regenerated), "--no-progress"]) == 0
    assert regenerated.read_bytes() == sample.read_bytes(), "sample_data/floor_day.jsonl must be `wfm simulate --day 2027-01-04`"
    events = list(read_events(sample.read_bytes().splitlines(), str(sample)))
    kinds = Counter(type(e).__name__ for e in events)
    assert kinds["ShiftEvent"] == 60 and not kinds["BadLine"]


def test_simulate_ami_serves_until_interrupted(repo):
    import os
    import re
    import signal
    import socket
    import subprocess
    import time

    env = dict(os.environ, WFM_AMI_SECRET="pw")
    proc = subprocess.Popen(
        [str(repo / ".venv" / "bin" / "wfm"), "simulate", "--ami", "--port", "0", "--speed", "120",
         "--day", "2027-01-04", "--start", "10:00", "--esl"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env,
    )
    try:
        ami_line = proc.stderr.readline().decode()
        esl_line = proc.stderr.readline().decode()
        port = int(re.search(r"AMI simulator on 127\.0\.0\.1:(\d+)", ami_line).group(1))
        esl_port = int(re.search(r"ESL simulator on 127\.0\.0\.1:(\d+)", esl_line).group(1))
        with socket.create_connection(("127.0.0.1", esl_port), timeout=5) as sock:
            assert sock.recv(100).startswith(b"Content-Type: auth/request\n")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"Action: Login\r\nUsername: wfm\r\nSecret: pw\r\nActionID: 1\r\n\r\n")
            data = b""
            deadline = time.monotonic() + 5
            while b"Authentication accepted" not in data and time.monotonic() < deadline:
                data += sock.recv(65536)
        assert data.startswith(b"Asterisk Call Manager/7.0.3\r\n") and b"ActionID: 1" in data
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) in (0, 130)
