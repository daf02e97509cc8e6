"""`wfm log verify` and `wfm log export` against real SQLite logs."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from wfm.cli import main
from wfm.eventlog import open_log

REPO = Path(__file__).resolve().parent.parent
SHANGHAI = timezone(timedelta(hours=8))
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SHANGHAI)


@pytest.fixture
def floor_log(tmp_path: Path, monkeypatch) -> Path:
    """The default log (sqlite:///data/wfm.sqlite under the cwd) with 30 records, one a minute."""
    monkeypatch.chdir(tmp_path)
    with open_log("sqlite:///data/wfm.sqlite") as log:
        for i in range(30):
            kind = "decision" if i % 3 == 2 else "event"
            body = ({"type": "agent_state", "agent": f"10{i % 4:02d}", "state": "short_break", "reason": "小休"}
                    if kind == "event" else
                    {"type": "break_decision", "agent": "1001", "kind": "short", "allowed": False,
                     "rule": "QUEUE_NEAR_FULL", "detail": "话务空闲数 2 ≤ 3", "next_window": None})
            log.append(kind, body, T0 + timedelta(minutes=i))
    return tmp_path / "data" / "wfm.sqlite"


def drop_triggers_and(path: Path, statement: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER log_no_update")
    conn.execute("DROP TRIGGER log_no_delete")
    conn.execute(statement)
    conn.commit()
    conn.close()


def test_verify_ok(floor_log, capsys):
    assert main(["log", "verify"]) == 0
    out = capsys.readouterr().out
    assert "ok: 30 records" in out


def test_verify_json_ok(floor_log, capsys):
    assert main(["log", "verify", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    last_hash = list(open_log("sqlite:///data/wfm.sqlite", readonly=True).read())[-1].hash
    assert data == {"log": "data/wfm.sqlite", "ok": True, "records": 30, "first_bad_seq": None, "reason": "ok",
                    "last_hash": last_hash}


def test_verify_anchor_catches_a_rewritten_chain(floor_log, capsys):
    from wfm.eventlog.chain import encode_body, record_hash

    with open_log("sqlite:///data/wfm.sqlite", readonly=True) as log:
        anchor = next(r for r in log.read() if r.seq == 20)
    # The strongest attacker: edit seq 12 and recompute every later hash and the head.
    conn = sqlite3.connect(floor_log)
    for trigger in ("log_no_update", "log_no_delete", "log_head_forward"):
        conn.execute(f"DROP TRIGGER {trigger}")
    prev = conn.execute("SELECT hash FROM log WHERE seq = 11").fetchone()[0]
    for seq, ts, kind, body in conn.execute("SELECT seq, ts, kind, body FROM log WHERE seq >= 12 ORDER BY seq").fetchall():
        data = json.loads(body)
        if seq == 12:
            data["allowed"] = True
        canonical = encode_body(data)
        digest = record_hash(seq, ts, kind, canonical, prev)
        conn.execute("UPDATE log SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?", (canonical.decode(), prev, digest, seq))
        prev = digest
    conn.execute("UPDATE log_head SET hash = ?", (prev,))
    conn.commit()
    conn.close()
    assert main(["log", "verify"]) == 0  # the chain alone cannot tell
    capsys.readouterr()
    assert main(["log", "verify", "--json", "--anchor", f"20:{anchor.hash}"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["first_bad_seq"] == 20 and "anchor" in data["reason"]
    assert main(["log", "verify", "--anchor", "20:nothex"]) == 2


def test_verify_names_first_bad_record(floor_log, capsys):
    drop_triggers_and(floor_log, "UPDATE log SET body = replace(body, 'short_break', 'ready') WHERE seq = 11")
    assert main(["log", "verify"]) == 1
    captured = capsys.readouterr()
    assert "first bad record: seq 11: hash mismatch" in captured.out
    assert "first bad record: seq 11" in captured.err


def test_verify_json_reports_deleted_record(floor_log, capsys):
    drop_triggers_and(floor_log, "DELETE FROM log WHERE seq = 4")
    assert main(["log", "--json", "verify"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["first_bad_seq"] == 4 and "missing" in data["reason"]


def test_verify_db_flag_and_missing_log(tmp_path, floor_log, capsys):
    assert main(["log", "verify", "--db", f"sqlite:///{floor_log}"]) == 0
    assert main(["log", "verify", "--db", f"sqlite:///{tmp_path}/absent.sqlite"]) == 2
    assert "no event log at" in capsys.readouterr().err
    assert not (tmp_path / "absent.sqlite").exists()


def test_verify_uses_storage_url_from_config(tmp_path, floor_log, capsys):
    other = tmp_path / "elsewhere" / "site.sqlite"
    with open_log(f"sqlite:///{other}") as log:
        log.append("audit", {"who": "admin"}, T0)
    site = tmp_path / "site.toml"
    site.write_text(f'[storage]\nurl = "sqlite:///{other}"\n', encoding="utf-8")
    assert main(["log", "verify", "--config", str(site), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 1


def test_export_jsonl_range(floor_log, tmp_path, capsys):
    out = tmp_path / "range.jsonl"
    code = main(["log", "export", "--since", "2027-01-04T08:10:00+08:00", "--until", "2027-01-04T00:20:00Z",
                 "--format", "jsonl", "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["exported"] == 10
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["seq"] for r in lines] == list(range(11, 21))
    assert lines[0]["ts"] == "2027-01-04T08:10:00+08:00"  # floor zone
    assert lines[0]["body"]["reason"] == "小休" and lines[1]["body"]["rule"] == "QUEUE_NEAR_FULL"
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(lines, lines[1:]))


def test_export_csv_local_times_and_kinds(floor_log, tmp_path, capsys):
    out = tmp_path / "range.csv"
    assert main(["log", "export", "--since", "2027-01-04T08:00", "--until", "2027-01-04T08:09",
                 "--format", "csv", "--out", str(out), "--kinds", "decision"]) == 0
    assert "exported 3 records" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [int(r["seq"]) for r in rows] == [3, 6, 9]
    assert rows[0]["type"] == "break_decision" and rows[0]["agent"] == "1001"
    assert json.loads(rows[0]["body"])["detail"] == "话务空闲数 2 ≤ 3"
    assert list(rows[0]) == ["seq", "ts", "kind", "type", "agent", "body", "prev_hash", "hash"]


def test_export_whole_day_to_stdout(floor_log, capsys):
    assert main(["log", "export", "--since", "2027-01-04", "--until", "2027-01-05"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 30
    assert "exported 30 records" in captured.err


@pytest.mark.parametrize("argv,message", [
    (["--since", "yesterday"], "--since 'yesterday': not a timestamp"),
    (["--since", "2027-01-05", "--until", "2027-01-04"], "is not after"),
    (["--kinds", "event,gossip"], "unknown kind 'gossip'"),
])
def test_export_bad_input_exits_2(floor_log, capsys, argv, message):
    assert main(["log", "export", *argv]) == 2
    assert message in capsys.readouterr().err


def test_installed_cli_verify_exit_codes(floor_log):
    wfm = [sys.executable, "-m", "wfm.cli"]
    ok = subprocess.run([*wfm, "log", "verify", "--json"], capture_output=True, text=True, cwd=floor_log.parent.parent)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    drop_triggers_and(floor_log, "DELETE FROM log WHERE seq = 30")
    bad = subprocess.run([*wfm, "log", "verify"], capture_output=True, text=True, cwd=floor_log.parent.parent)
    assert bad.returncode == 1
    assert "first bad record: seq 30" in bad.stderr and "truncated" in bad.stderr


def test_not_an_event_log_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("garbage.sqlite").write_bytes(b"not a database at all" * 10)
    sqlite3.connect("other.sqlite").execute("CREATE TABLE x (a)")
    assert main(["log", "verify", "--db", "sqlite:///garbage.sqlite"]) == 2
    assert "garbage.sqlite" in capsys.readouterr().err
    assert main(["log", "verify", "--db", "sqlite:///other.sqlite"]) == 2
    assert "other.sqlite is not an event log" in capsys.readouterr().err


def test_follow_prints_new_records_from_another_process(floor_log):
    cwd = floor_log.parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "wfm.cli", "log", "follow", "--json", "--kinds", "audit",
                             "--after-seq", "30", "--max-records", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    try:
        with open_log(f"sqlite:///{floor_log}") as log:
            log.append("event", {"type": "agent_state", "agent": "1001", "state": "ready"}, T0)
            log.append("audit", {"type": "login", "user": "supervisor"}, T0 + timedelta(hours=1))
            log.append("audit", {"type": "override", "user": "supervisor"}, T0 + timedelta(hours=2))
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["seq"], r["kind"], r["body"]["type"]) for r in lines] == [(32, "audit", "login"), (33, "audit", "override")]
    assert lines[0]["ts"] == "2027-01-04T09:00:00+08:00"


def test_follow_after_seq_human_output(floor_log, capsys):
    assert main(["log", "follow", "--after-seq", "28", "--max-records", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].split()[0] == "29" and "2027-01-04T08:28:00+08:00" in out[0]
