"""Signed checkpoints (issue 19 item 4): tampering a plain hash chain cannot hide from the public key.

Real SQLite files, the real `wfm log` command. The attacker here can write the
database file (drops the triggers, edits rows, recomputes every hash, moves the
head) but does not hold the private signing key.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from wfm.eventlog import open_log
from wfm.eventlog.chain import GENESIS_HASH, record_hash
from wfm.eventlog.signing import Signer, generate_private_pem, is_checkpoint, load_public_keys, load_signer

WFM = [sys.executable, "-m", "wfm.cli"]
T0 = datetime(2027, 1, 4, 1, 0, tzinfo=timezone.utc)
EVERY = 10


def keypair(folder: Path, name: str) -> tuple[Path, Path]:
    private = folder / f"{name}.pem"
    result = subprocess.run([*WFM, "log", "keygen", str(private)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert private.stat().st_mode & 0o777 == 0o600
    return private, folder / f"{name}.pub.pem"


def write_log(path: Path, key: Path, records: int, start: int = 0) -> None:
    log = open_log(f"sqlite:///{path}", batch_max_delay_ms=0)
    log.sign_checkpoints(load_signer(str(key)), every_records=EVERY, every_s=3600)
    for i in range(start, start + records):
        log.append("event", {"type": "agent_state", "agent": f"10{i % 7:02d}", "state": "ready", "n": i},
                   T0 + timedelta(seconds=i))
    log.close()  # the clean stop signs the tail


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT seq, ts, kind, body, prev_hash, hash FROM log ORDER BY seq").fetchall()


def rewrite(path: Path, new_rows: list[tuple]) -> None:
    """Replace the whole log with `new_rows` (seq, ts, kind, body): every hash recomputed, head moved."""
    conn = sqlite3.connect(path)
    for trigger in ("log_no_update", "log_no_delete", "log_head_forward"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute("DELETE FROM log")
    prev = GENESIS_HASH
    for seq, (_, ts, kind, body) in enumerate(new_rows, start=1):
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        digest = record_hash(seq, ts, kind, canonical, prev)
        conn.execute("INSERT INTO log VALUES (?, ?, ?, ?, ?, ?)", (seq, ts, kind, canonical.decode(), prev, digest))
        prev = digest
    conn.execute("UPDATE log_head SET seq = ?, hash = ? WHERE id = 1", (len(new_rows), prev))
    conn.commit()
    conn.close()


def verify(path: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([*WFM, "log", "verify", "--db", f"sqlite:///{path}", *flags],
                          capture_output=True, text=True, timeout=120)


def export(path: Path, out: Path) -> Path:
    result = subprocess.run([*WFM, "log", "checkpoint", "--export", "--db", f"sqlite:///{path}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out.write_text(result.stdout)
    return out


@pytest.fixture
def signed_log(tmp_path):
    private, public = keypair(tmp_path, "site")
    path = tmp_path / "wfm.sqlite"
    write_log(path, private, 55)
    return path, private, public


def test_checkpoints_every_n_records_and_at_close(signed_log):
    path, _, public = signed_log
    stored = rows(path)
    checkpoints = [r for r in stored if is_checkpoint(r[2], json.loads(r[3]))]
    assert len(stored) == 55 + len(checkpoints)
    assert len(checkpoints) == 6  # after records 10, 20, 30, 40, 50 and the close's over 55
    covers = [json.loads(r[3])["covers_seq"] for r in checkpoints]
    assert covers == [seq - 1 for seq, *_ in checkpoints]  # each signs the record just before it
    result = verify(path, "--public-key", str(public))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checkpoints checked with key" in result.stdout


def test_checkpoint_every_t_seconds_while_idle(tmp_path):
    import asyncio

    private, public = keypair(tmp_path, "site")
    path = tmp_path / "wfm.sqlite"
    log = open_log(f"sqlite:///{path}", batch_max_delay_ms=0)
    log.sign_checkpoints(load_signer(str(private)), every_records=10_000, every_s=0.3)

    async def main():
        for i in range(3):
            await log.append_async("event", {"type": "x", "n": i}, T0 + timedelta(seconds=i))
        await asyncio.sleep(1.0)

    asyncio.run(main())
    with open_log(f"sqlite:///{path}", readonly=True) as reader:
        checkpoints = [r for r in reader.read() if is_checkpoint(r.kind, r.body)]
    assert len(checkpoints) == 1 and checkpoints[0].body["covers_seq"] == 3  # while the log was still open
    log.close()


def test_whole_chain_rewrite_with_recomputed_hashes_is_caught_by_the_public_key(signed_log):
    path, _, public = signed_log
    stored = rows(path)
    forged = [(s, ts, kind, body.replace('"state":"ready"', '"state":"meal"') if s == 5 else body)
              for s, ts, kind, body, _, _ in stored]
    rewrite(path, forged)
    plain = verify(path)
    assert plain.returncode == 0, "without the key a recomputed chain passes (the reason for signing)"
    result = verify(path, "--public-key", str(public))
    assert result.returncode == 1
    assert "seq 10: hash differs from the one signed by the checkpoint at seq 11" in result.stdout


def test_checkpoints_re_signed_with_another_key_are_caught(signed_log, tmp_path):
    path, _, public = signed_log
    attacker = Signer(load_signer_from_pem(generate_private_pem()))
    stored = rows(path)
    edited = [(s, ts, kind, body.replace('"n":3', '"n":333') if s == 4 else body) for s, ts, kind, body, _, _ in stored]
    rewrite(path, edited)  # first pass: new hashes; then the attacker signs them with their own key
    new = rows(path)
    forged = []
    for seq, ts, kind, body, _, _ in new:
        data = json.loads(body)
        if is_checkpoint(kind, data):
            covered = new[data["covers_seq"] - 1]
            data = attacker.checkpoint(covered[0], covered[5])
            # hashes of later records are recomputed by rewrite(): only the covered hash must be final here
        forged.append((seq, ts, kind, json.dumps(data)))
    rewrite(path, forged)
    result = verify(path, "--public-key", str(public))
    assert result.returncode == 1
    assert f"checkpoint: signed by key {attacker.key_id}, which is not among the given public keys" in result.stdout


def test_a_forged_signature_under_the_real_key_id_is_caught(signed_log):
    path, _, public = signed_log
    stored = rows(path)
    forged = []
    for seq, ts, kind, body, _, _ in stored:
        data = json.loads(body)
        if is_checkpoint(kind, data) and seq == 11:
            data["covers_hash"] = "f" * 64
        forged.append((seq, ts, kind, json.dumps(data)))
    rewrite(path, forged)
    result = verify(path, "--public-key", str(public))
    assert result.returncode == 1 and "seq 11: checkpoint: signature does not verify with public key" in result.stdout


def test_removing_every_checkpoint_is_caught(signed_log):
    path, _, public = signed_log
    kept = [(s, ts, kind, body) for s, ts, kind, body, _, _ in rows(path) if not is_checkpoint(kind, json.loads(body))]
    rewrite(path, kept)
    result = verify(path, "--public-key", str(public))
    assert result.returncode == 1 and "no signed checkpoint in the log" in result.stdout


def test_tail_cut_and_head_moved_back_is_caught_by_the_exported_anchor(signed_log, tmp_path):
    path, _, public = signed_log
    anchor = export(path, tmp_path / "anchor.json")
    exported = json.loads(anchor.read_text())
    assert exported["seq"] == len(rows(path)) and exported["covers_seq"] == exported["seq"] - 1
    kept = [(s, ts, kind, body) for s, ts, kind, body, _, _ in rows(path) if s <= 40]
    rewrite(path, kept)  # cut after seq 40, head moved back to 40: internally consistent
    assert verify(path).returncode == 0
    assert verify(path, "--public-key", str(public)).returncode == 0, "the cut log is consistent by itself"
    for flags in (("--anchor", str(anchor)), ("--anchor", str(anchor), "--public-key", str(public))):
        result = verify(path, *flags)
        assert result.returncode == 1
        assert "seq 41: record missing: anchored seq" in result.stdout and "the tail was cut" in result.stdout


def test_an_exported_anchor_forged_with_another_key_is_refused(signed_log, tmp_path):
    path, _, public = signed_log
    anchor = export(path, tmp_path / "anchor.json")
    data = json.loads(anchor.read_text())
    attacker = Signer(load_signer_from_pem(generate_private_pem()))
    data.update(attacker.checkpoint(data["covers_seq"], data["covers_hash"]))
    anchor.write_text(json.dumps(data))
    result = verify(path, "--anchor", str(anchor), "--public-key", str(public))
    assert result.returncode == 1 and "exported checkpoint (--anchor): signed by key" in result.stdout


def test_key_rotation_old_checkpoints_need_the_old_public_key(tmp_path):
    old_private, old_public = keypair(tmp_path, "2026")
    new_private, new_public = keypair(tmp_path, "2027")
    path = tmp_path / "wfm.sqlite"
    write_log(path, old_private, 25)
    write_log(path, new_private, 25, start=25)  # the site switched storage.signing_key_file and restarted
    ids = {json.loads(r[3])["key_id"] for r in rows(path) if is_checkpoint(r[2], json.loads(r[3]))}
    assert ids == set(load_public_keys([str(old_public), str(new_public)]))
    both = verify(path, "--public-key", str(old_public), "--public-key", str(new_public))
    assert both.returncode == 0, both.stdout
    only_new = verify(path, "--public-key", str(new_public))
    assert only_new.returncode == 1 and "which is not among the given public keys" in only_new.stdout


def test_serve_config_signs_with_a_key_from_the_environment(tmp_path):
    from wfm.config import default_data, from_data, merge
    from wfm.eventlog import open_log_from_config

    pem = generate_private_pem().decode()
    config = from_data(merge(default_data(), {"storage": {"url": f"sqlite:///{tmp_path / 'w.sqlite'}",
                                                          "signing_key_env": "WFM_TEST_SIGNING_KEY",
                                                          "checkpoint_every_records": 5}}), "test")
    import os

    os.environ["WFM_TEST_SIGNING_KEY"] = pem
    try:
        log = open_log_from_config(config)
        for i in range(12):
            log.append("event", {"type": "x", "n": i}, T0)
        log.close()
    finally:
        del os.environ["WFM_TEST_SIGNING_KEY"]
    with open_log(f"sqlite:///{tmp_path / 'w.sqlite'}", readonly=True) as reader:
        assert sum(1 for r in reader.read() if is_checkpoint(r.kind, r.body)) == 3  # after 5, 10 (+cp), close


def load_signer_from_pem(pem: bytes):
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, password=None)


async def _run_floor(tmp_path: Path, name: str, signing_env: str | None) -> tuple[list[str], int, int]:
    """The same floor (one agent asks for two breaks) through a real Runtime; the decisions it logged,
    the events a restart replays, and the checkpoints stored."""
    from support.runtime_helpers import T0 as FLOOR_T0
    from support.runtime_helpers import FixedClock, QueueAdapter, make_config
    from wfm.engine import FloorEngine
    from wfm.events import AgentState, AgentStateEvent, BreakRequestEvent, ShiftEvent
    from wfm.eventlog import open_log_from_config
    from wfm.runtime import Runtime

    folder = tmp_path / name
    folder.mkdir()
    config = make_config(folder)
    if signing_env:
        from wfm.config import from_data, merge, to_data

        config = from_data(merge(to_data(config, reveal_secrets=True),
                                 {"storage": {"signing_key_env": signing_env, "checkpoint_every_records": 1}}), "t")
    decisions, replayed = [], 0
    for attempt in range(2):
        adapter = QueueAdapter()
        runtime = Runtime(config, FloorEngine(config), open_log_from_config(config), [adapter], FixedClock(FLOOR_T0))
        report = await runtime.start(prelude=lambda _, attempt=attempt: [] if attempt else [
            ShiftEvent(ts=FLOOR_T0, agent=a, start=FLOOR_T0.replace(hour=8), end=FLOOR_T0.replace(hour=17))
            for a in ("1001", "1002", "1003", "1004", "1005")])
        if attempt == 0:
            for agent in ("1001", "1002", "1003", "1004", "1005"):
                await runtime.submit(AgentStateEvent(ts=FLOOR_T0, agent=agent, state=AgentState.READY, source="t"))
            await runtime.submit(BreakRequestEvent(ts=FLOOR_T0, agent="1001", kind="short", source="t"))
        else:
            replayed = report.events
        await runtime.stop()
    with open_log(config.storage.url, readonly=True) as reader:
        records = list(reader.read())
    decisions = [json.dumps(r.body, sort_keys=True) for r in records if r.kind == "decision"]
    return decisions, replayed, sum(1 for r in records if is_checkpoint(r.kind, r.body))


async def test_decisions_and_the_restart_replay_are_unchanged_by_signing(tmp_path, monkeypatch):
    """Checkpoints are audit records, not decisions: the same floor logs the same decisions, and a
    restart replays the same events, with or without signing."""
    monkeypatch.setenv("WFM_TEST_SIGNING_KEY", generate_private_pem().decode())
    plain = await _run_floor(tmp_path, "plain", None)
    signed = await _run_floor(tmp_path, "signed", "WFM_TEST_SIGNING_KEY")
    assert signed[2] > 0 and plain[2] == 0
    assert signed[0] == plain[0] and plain[0], "decisions differ"
    assert signed[1] == plain[1] > 0
