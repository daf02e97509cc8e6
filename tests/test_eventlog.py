"""The tamper-evident event log on real SQLite files: chain, tamper detection, group commit, crashes."""
from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from wfm.eventlog import (
    EventLogError,
    LogClosedError,
    LogURLError,
    LogWriteError,
    decision_body,
    event_body,
    log_decision,
    log_event,
    open_log,
)
from wfm.eventlog.chain import GENESIS_HASH, canonical_record, canonical_ts, encode_body
from wfm.eventlog.sqlite import parse_sqlite_url
from wfm.events import decode_event, event_from_builtins
from wfm.decisions import BreakDecision

REPO = Path(__file__).resolve().parent.parent
SHANGHAI = timezone(timedelta(hours=8))
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SHANGHAI)


def body(i: int) -> dict:
    return {"type": "agent_state", "agent": f"10{i % 7:02d}", "state": "short_break", "reason": "小休", "i": i}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/logs/wfm.sqlite"


@pytest.fixture
def filled(url: str):
    """A log of 20 records, one a minute from 08:00 +08:00; yields (url, path)."""
    with open_log(url) as log:
        log.append_many([("event", body(i), T0 + timedelta(minutes=i)) for i in range(20)])
        path = log.path
    return url, path


def tamper(path: Path, *statements: str, params=()) -> None:
    """What an attacker with file access does: drop the append-only triggers, then edit."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER IF EXISTS log_no_update")
    conn.execute("DROP TRIGGER IF EXISTS log_no_delete")
    conn.execute("DROP TRIGGER IF EXISTS log_head_forward")
    for statement in statements:
        conn.execute(statement, params if "?" in statement else ())
    conn.commit()
    conn.close()


def verify(url: str):
    with open_log(url, readonly=True) as log:
        return log.verify()


# ---- chain basics -----------------------------------------------------------------------


def test_append_read_and_verify_good_log(filled):
    url, path = filled
    with open_log(url) as log:
        records = list(log.read())
        assert [r.seq for r in records] == list(range(1, 21))
        assert records[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in zip(records, records[1:]))
        assert records[3].body == body(3)
        assert records[3].ts == T0 + timedelta(minutes=3)
        assert records[3].ts.tzinfo is not None
        result = log.verify()
    assert result.ok and result.records == 20 and result.first_bad_seq is None
    assert path.is_file()


def test_hash_is_sha256_of_canonical_json(url):
    # An auditor with only json + hashlib can recompute a hash (no exponent floats here).
    with open_log(url) as log:
        record = log.append("event", {"b": 1.5, "a": "用餐", "z": [3, {"y": None, "x": True}]}, T0)
    expected = json.dumps(
        {"seq": 1, "ts": "2027-01-04T00:00:00.000000+00:00", "kind": "event",
         "body": {"b": 1.5, "a": "用餐", "z": [3, {"y": None, "x": True}]}, "prev_hash": GENESIS_HASH},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    ).encode("utf-8")
    assert canonical_record(record) == expected
    assert record.hash == hashlib.sha256(expected).hexdigest()


def test_chain_resumes_after_reopen(filled):
    url, _ = filled
    with open_log(url) as log:
        last = list(log.read())[-1]
        assert log.last_seq() == 20
        new = log.append("decision", {"type": "break_decision", "allowed": False}, T0 + timedelta(hours=1))
    assert new.seq == 21 and new.prev_hash == last.hash
    assert verify(url).ok


def test_append_many_is_all_or_nothing(url):
    with open_log(url) as log:
        log.append("event", body(0), T0)
        with pytest.raises(LogWriteError, match="non-finite"):
            log.append_many([("event", body(1), T0), ("event", {"wait_s": float("nan")}, T0)])
        with pytest.raises(LogWriteError, match="kind"):
            log.append_many([("event", body(1), T0), ("gossip", body(2), T0)])
        assert log.last_seq() == 1
        assert log.append("audit", {"who": "admin"}, T0).seq == 2


def test_naive_timestamp_refused(url):
    with open_log(url) as log:
        with pytest.raises(LogWriteError, match="no UTC offset"):
            log.append("event", body(0), datetime(2027, 1, 4, 8, 0))
        with pytest.raises(LogWriteError, match="must be a datetime"):
            log.append("event", body(0), "2027-01-04T08:00:00+08:00")
        assert log.last_seq() == 0


def test_triggers_refuse_update_and_delete(filled):
    _, path = filled
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE log SET body = '{}' WHERE seq = 3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM log WHERE seq = 3")
    with pytest.raises(sqlite3.DatabaseError, match="forward"):
        conn.execute("UPDATE log_head SET seq = 2")
    conn.close()


# ---- tampering --------------------------------------------------------------------------


def test_edited_body_names_that_record(filled):
    url, path = filled
    tamper(path, "UPDATE log SET body = replace(body, 'short_break', 'ready') WHERE seq = 7")
    result = verify(url)
    assert not result.ok
    assert result.first_bad_seq == 7
    assert "hash mismatch" in result.reason
    assert result.records == 6


@pytest.mark.parametrize("column,value", [
    ("ts", "2027-01-04T00:30:00.000000+00:00"),
    ("kind", "audit"),
    ("hash", "f" * 64),
])
def test_each_edited_field_is_caught(filled, column, value):
    url, path = filled
    tamper(path, f"UPDATE log SET {column} = ? WHERE seq = 12", params=(value,))
    result = verify(url)
    assert not result.ok and result.first_bad_seq == 12


def test_edit_with_recomputed_hash_is_caught_at_the_next_record(filled):
    # A careful attacker rehashes the edited record; the next record's prev_hash no longer links.
    from wfm.eventlog.chain import record_hash

    url, path = filled
    conn = sqlite3.connect(path)
    seq, ts, kind, body_json, prev, _ = conn.execute("SELECT * FROM log WHERE seq = 5").fetchone()
    conn.close()
    forged = json.loads(body_json) | {"state": "ready"}
    forged_json = encode_body(forged)
    new_hash = record_hash(seq, ts, kind, forged_json, prev)
    tamper(path, "UPDATE log SET body = ?, hash = ? WHERE seq = 5", params=(forged_json.decode(), new_hash))
    result = verify(url)
    assert not result.ok and result.first_bad_seq == 6
    assert "prev_hash" in result.reason


def test_deleted_row_is_named(filled):
    url, path = filled
    tamper(path, "DELETE FROM log WHERE seq = 9")
    result = verify(url)
    assert not result.ok and result.first_bad_seq == 9
    assert "missing" in result.reason and "seq 10" in result.reason


def test_deleted_tail_is_caught_by_the_chain_head(filled):
    url, path = filled
    tamper(path, "DELETE FROM log WHERE seq >= 18")
    result = verify(url)
    assert not result.ok and result.first_bad_seq == 18
    assert "truncated" in result.reason


def test_deleted_tail_and_rewound_head_is_still_caught(filled):
    url, path = filled
    tamper(path, "DELETE FROM log WHERE seq >= 18", "UPDATE log_head SET seq = 17")
    result = verify(url)
    assert not result.ok and result.first_bad_seq == 17


def test_dropped_head_table_is_reported(filled):
    url, path = filled
    tamper(path, "DROP TRIGGER IF EXISTS log_head_no_delete", "DROP TABLE log_head")
    result = verify(url)
    assert not result.ok and "chain-head marker missing" in result.reason


def test_inserted_row_is_named(filled):
    url, path = filled
    # Make room at seq 8 by moving rows 8..20 up one, then insert a forged record there.
    tamper(path,
           "UPDATE log SET seq = seq + 1000 WHERE seq >= 8",
           "UPDATE log SET seq = seq - 999 WHERE seq >= 1000",
           "INSERT INTO log (seq, ts, kind, body, prev_hash, hash) SELECT 8, ts, kind, '{\"type\":\"override\"}', hash, hash FROM log WHERE seq = 7",
           "UPDATE log_head SET seq = 21")
    result = verify(url)
    assert not result.ok and result.first_bad_seq == 8


def test_inserted_row_with_forged_hash_is_caught_next(filled):
    from wfm.eventlog.chain import record_hash

    url, path = filled
    conn = sqlite3.connect(path)
    prev = conn.execute("SELECT hash FROM log WHERE seq = 7").fetchone()[0]
    conn.close()
    ts = canonical_ts(T0 + timedelta(minutes=7, seconds=30))
    forged = encode_body({"type": "override", "agent": "1001"})
    digest = record_hash(8, ts, "event", forged, prev)
    tamper(path,
           "UPDATE log SET seq = seq + 1000 WHERE seq >= 8",
           "UPDATE log SET seq = seq - 999 WHERE seq >= 1000",
           f"INSERT INTO log VALUES (8, '{ts}', 'event', '{forged.decode()}', '{prev}', '{digest}')",
           "UPDATE log_head SET seq = 21")
    result = verify(url)
    # The forged record itself links perfectly; the first record it displaced cannot.
    assert not result.ok and result.first_bad_seq == 9


def test_two_rows_swapped_names_the_first(filled):
    url, path = filled
    tamper(path,
           "UPDATE log SET seq = -1 WHERE seq = 14",
           "UPDATE log SET seq = 14 WHERE seq = 15",
           "UPDATE log SET seq = 15 WHERE seq = -1")
    result = verify(url)
    assert not result.ok and result.first_bad_seq == 14


def test_swapped_contents_names_the_first(filled):
    url, path = filled
    tamper(path,
           "CREATE TEMP TABLE keep AS SELECT * FROM log WHERE seq IN (3, 4)",
           "UPDATE log SET ts = (SELECT ts FROM keep WHERE seq = 4), body = (SELECT body FROM keep WHERE seq = 4) WHERE seq = 3",
           "UPDATE log SET ts = (SELECT ts FROM keep WHERE seq = 3), body = (SELECT body FROM keep WHERE seq = 3) WHERE seq = 4")
    result = verify(url)
    assert not result.ok and result.first_bad_seq == 3


def test_garbage_body_is_named(filled):
    url, path = filled
    tamper(path, "UPDATE log SET body = 'not json' WHERE seq = 2")
    result = verify(url)
    assert not result.ok and result.first_bad_seq == 2 and "JSON" in result.reason


# ---- group commit -----------------------------------------------------------------------


async def test_append_async_many_coroutines_one_chain(url):
    log = open_log(url, batch_max_records=64, batch_max_delay_ms=2)
    records = await asyncio.gather(*(log.append_async("event", body(i), T0 + timedelta(seconds=i)) for i in range(1000)))
    await log.aclose()
    assert sorted(r.seq for r in records) == list(range(1, 1001))
    assert [r.body["i"] for r in sorted(records, key=lambda r: r.seq)] == list(range(1000))  # arrival order kept
    result = verify(url)
    assert result.ok and result.records == 1000


async def test_append_async_does_not_block_the_event_loop(url):
    # A long batch delay: the awaiting coroutine is parked while other tasks keep running.
    log = open_log(url, batch_max_records=1000, batch_max_delay_ms=200)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    record = await log.append_async("event", body(1), T0)
    task.cancel()
    await log.aclose()
    assert record.seq == 1
    assert ticks >= 5


async def test_flush_marked_group_commits_without_waiting_out_the_delay(url):
    # A ten-minute batch delay: only the flush mark on a group's last record gets it committed.
    log = open_log(url, batch_max_records=1000, batch_max_delay_ms=600_000)
    group = [log.append_async("event", body(i), T0, flush=i == 2) for i in range(3)]
    records = await asyncio.wait_for(asyncio.gather(*group), 60)  # a hang guard, not a speed bound
    assert [r.seq for r in records] == [1, 2, 3]
    unmarked = asyncio.ensure_future(log.append_async("event", body(3), T0))
    await asyncio.sleep(0.2)
    assert not unmarked.done()  # no flush mark: it waits for its batch's delay (or close)
    await log.aclose()
    assert (await unmarked).seq == 4 and verify(url).ok


async def test_append_async_mixed_with_sync_appends(url):
    log = open_log(url, batch_max_records=16, batch_max_delay_ms=1)

    async def writer(offset: int):
        return [await log.append_async("event", body(offset + i), T0) for i in range(50)]

    sync_records = []
    tasks = [asyncio.create_task(writer(k * 100)) for k in range(4)]
    for i in range(20):
        sync_records.append(await asyncio.to_thread(log.append, "audit", {"n": i}, T0))
    done = await asyncio.gather(*tasks)
    await log.aclose()
    seqs = sorted([r.seq for batch in done for r in batch] + [r.seq for r in sync_records])
    assert seqs == list(range(1, 221))
    assert verify(url).ok


async def test_aclose_flushes_pending_and_refuses_more(url):
    log = open_log(url, batch_max_records=500, batch_max_delay_ms=50)
    futures = [asyncio.ensure_future(log.append_async("event", body(i), T0)) for i in range(300)]
    await asyncio.sleep(0)
    await log.aclose()
    records = await asyncio.gather(*futures)
    assert len({r.seq for r in records}) == 300
    with pytest.raises(LogClosedError):
        await log.append_async("event", body(0), T0)
    with pytest.raises(LogClosedError):
        log.append("event", body(0), T0)


async def test_disk_full_surfaces_as_named_error_and_keeps_the_chain(url):
    log = open_log(url, batch_max_records=50, batch_max_delay_ms=1)
    log.append_many([("event", body(i), T0) for i in range(10)])
    # Cap the file at its current size: the next pages cannot be allocated (SQLITE_FULL).
    pages = log._conn.execute("PRAGMA page_count").fetchone()[0]
    log._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = {"note": "x" * 200_000}
    with pytest.raises(LogWriteError, match="full"):
        log.append("event", big, T0)
    results = await asyncio.gather(*(log.append_async("event", big, T0) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, LogWriteError) and "full" in str(r) for r in results)
    log._conn.execute("PRAGMA max_page_count = 1073741823")
    after = await log.append_async("event", body(99), T0)
    await log.aclose()
    assert after.seq == 11
    result = verify(url)
    assert result.ok and result.records == 11


# ---- reading ----------------------------------------------------------------------------


def test_read_time_range_across_offsets_and_kinds(url):
    utc = timezone.utc
    with open_log(url) as log:
        log.append("event", {"n": 1}, datetime(2027, 1, 4, 0, 0, tzinfo=utc))  # 08:00 +08:00
        log.append("decision", {"n": 2}, datetime(2027, 1, 4, 8, 30, tzinfo=SHANGHAI))
        log.append("event", {"n": 3}, datetime(2027, 1, 4, 1, 0, tzinfo=utc))  # 09:00 +08:00
        log.append("action", {"n": 4}, datetime(2027, 1, 4, 9, 30, tzinfo=SHANGHAI))
        since, until = datetime(2027, 1, 4, 8, 30, tzinfo=SHANGHAI), datetime(2027, 1, 4, 1, 30, tzinfo=utc)
        assert [r.body["n"] for r in log.read(since=since, until=until)] == [2, 3]
        assert [r.body["n"] for r in log.read(kinds=["event", "action"])] == [1, 3, 4]
        assert [r.body["n"] for r in log.read(kinds=[])] == []
        assert [r.body["n"] for r in log.read(after_seq=2)] == [3, 4]
        assert [r.body["n"] for r in log.read(after_seq=1, limit=2)] == [2, 3]
        assert log.count(since=since) == 3
        with pytest.raises(ValueError, match="kind"):
            list(log.read(kinds=["nope"]))


def test_events_and_decisions_round_trip(url):
    line = '{"ts":"2027-01-04T08:27:00+08:00","type":"agent_state","agent":"1001","state":"meal","reason":"用餐","queues":["general"]}'
    event = decode_event(line)
    decision = BreakDecision(ts=event.ts, agent="1001", kind="meal", allowed=False, rule="LUNCH_COVER",
                             detail="would leave 0 on post", next_window=None)
    with open_log(url) as log:
        first = log_event(log, event)
        second = log_decision(log, decision)
        stored = list(log.read())
    assert first.kind == "event" and second.kind == "decision"
    assert event_from_builtins(stored[0].body) == event
    assert stored[1].body == decision_body(decision)
    assert stored[0].ts == event.ts
    assert event_body(event)["type"] == "agent_state"


async def test_follow_yields_new_records(url):
    log = open_log(url, batch_max_delay_ms=1)
    log.append("event", body(0), T0)
    seen = []

    async def follower():
        async for record in log.follow(poll_s=5):
            seen.append(record.seq)
            if len(seen) == 3:
                return

    task = asyncio.create_task(follower())
    await asyncio.sleep(0.05)
    for i in range(1, 4):
        await log.append_async("event", body(i), T0)
    await asyncio.wait_for(task, 5)
    await log.aclose()
    assert seen == [2, 3, 4]


def test_readonly_open_changes_nothing(tmp_path):
    missing = tmp_path / "none.sqlite"
    with pytest.raises(EventLogError, match="no event log"):
        open_log(f"sqlite:///{missing}", readonly=True)
    assert not missing.exists()
    with open_log(f"sqlite:///{missing}") as log:
        log.append("event", body(1), T0)
    tamper(missing)  # triggers dropped
    with open_log(f"sqlite:///{missing}", readonly=True) as log:
        with pytest.raises(LogWriteError, match="read-only"):
            log.append("event", body(2), T0)
        assert log.verify().ok
    names = {r[0] for r in sqlite3.connect(missing).execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert "log_no_update" not in names  # verify did not re-arm what the attacker removed


def test_url_parsing(tmp_path):
    assert parse_sqlite_url("sqlite:///data/wfm.sqlite") == (Path("data/wfm.sqlite"), "FULL")
    assert parse_sqlite_url("sqlite:////var/lib/wfm.sqlite?synchronous=normal") == (Path("/var/lib/wfm.sqlite"), "NORMAL")
    for bad in ("sqlite://host/x.sqlite", "sqlite:///:memory:", "sqlite:///x.sqlite?mode=ro", "sqlite:///x?synchronous=OFF"):
        with pytest.raises(LogURLError):
            parse_sqlite_url(bad)
    with pytest.raises(LogURLError, match="unsupported"):
        open_log("mysql://x/y")


def test_relative_url_creates_parent_dirs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_log("sqlite:///data/deep/wfm.sqlite") as log:
        log.append("event", body(1), T0)
    assert (tmp_path / "data" / "deep" / "wfm.sqlite").is_file()


# ---- crashes and concurrent processes -----------------------------------------------------

WRITER = textwrap.dedent("""
    import asyncio, sys
    from datetime import datetime, timedelta, timezone
    from wfm.eventlog import open_log

    async def main(url, start):
        log = open_log(url, batch_max_records=100, batch_max_delay_ms=2)
        t0 = datetime(2027, 1, 4, tzinfo=timezone.utc)

        async def one(i):
            record = await log.append_async("event", {"type": "call", "i": i}, t0 + timedelta(milliseconds=i))
            sys.stdout.write(f"{record.seq} {i}\\n")

        i = start
        while True:  # bursts of 200 until killed
            await asyncio.gather(*(one(i + k) for k in range(200)))
            sys.stdout.flush()
            i += 200

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


def test_sigkill_mid_burst_loses_nothing_acknowledged(tmp_path, url):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), url, "0"], stdout=subprocess.PIPE, text=True, cwd=REPO)
    acknowledged: dict[int, int] = {}
    try:
        for line in proc.stdout:
            seq, i = map(int, line.split())
            acknowledged[seq] = i
            if len(acknowledged) >= 3000:
                break
        proc.send_signal(signal.SIGKILL)
        for line in proc.stdout:  # acknowledgements already written before the kill
            if line.strip():
                seq, i = map(int, line.split())
                acknowledged[seq] = i
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with open_log(url, readonly=True) as log:
        result = log.verify()
        stored = {r.seq: r.body["i"] for r in log.read()}
    assert result.ok, result.message()
    assert len(acknowledged) >= 3000
    missing = [seq for seq in acknowledged if stored.get(seq) != acknowledged[seq]]
    assert missing == []
    # The chain is continuous: reopening for writing resumes after the last stored record.
    with open_log(url) as log:
        assert log.append("audit", {"event": "restart"}, T0).seq == max(stored) + 1


def test_two_processes_append_to_one_chain(tmp_path, url):
    script = tmp_path / "burst.py"
    script.write_text(textwrap.dedent("""
        import sys
        from datetime import datetime, timezone
        from wfm.eventlog import open_log
        log = open_log(sys.argv[1])
        for n in range(100):
            log.append_many([("event", {"who": sys.argv[2], "n": n, "k": k}, datetime.now(timezone.utc)) for k in range(5)])
        log.close()
    """))
    open_log(url).close()  # create the schema once, as `wfm serve` would
    procs = [subprocess.Popen([sys.executable, str(script), url, who], cwd=REPO) for who in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with open_log(url, readonly=True) as log:
        result = log.verify()
        whos = [r.body["who"] for r in log.read()]
    assert result.ok and result.records == 1000
    assert whos.count("a") == whos.count("b") == 500


async def test_read_only_storage_surfaces_as_named_error(url):
    log = open_log(url, batch_max_delay_ms=1)
    log.append("event", body(0), T0)
    log._conn.execute("PRAGMA query_only = 1")  # the file turned read-only under us (root ignores chmod)
    with pytest.raises(LogWriteError, match="readonly|read-only|READONLY"):
        log.append("event", body(1), T0)
    with pytest.raises(LogWriteError, match="readonly|read-only|READONLY"):
        await log.append_async("event", body(2), T0)
    log._conn.execute("PRAGMA query_only = 0")
    assert (await log.append_async("event", body(3), T0)).seq == 2
    await log.aclose()
    assert verify(url).ok


def test_anchor_beyond_a_truncated_log(filled):
    url, path = filled
    with open_log(url, readonly=True) as log:
        anchor = {r.seq: r.hash for r in log.read()}[19]
        assert log.verify(anchors={19: anchor}).ok
        assert log.verify().last_hash == list(log.read())[-1].hash
    tamper(path, "DELETE FROM log WHERE seq >= 15", "UPDATE log_head SET seq = 14, hash = (SELECT hash FROM log WHERE seq = 14)")
    with open_log(url, readonly=True) as log:
        assert log.verify().ok  # a clean cut with a matching head looks whole ...
        result = log.verify(anchors={19: anchor})
    assert not result.ok and result.first_bad_seq == 15 and "anchored seq 19" in result.reason  # ... unless anchored


async def test_follow_from_another_process_polls_the_file(url):
    open_log(url).close()
    follower = textwrap.dedent("""
        import asyncio, sys
        from wfm.eventlog import open_log

        async def main():
            log = open_log(sys.argv[1], readonly=True)
            print("ready", flush=True)
            seen = 0
            async for record in log.follow(after_seq=0, poll_s=0.05):
                print(record.seq, record.body["i"], flush=True)
                seen += 1
                if seen == 4:
                    return

        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", follower, url, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
        log = open_log(url, batch_max_delay_ms=1)
        for i in range(4):
            await log.append_async("event", body(i), T0)
        await log.aclose()
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert [line.split() for line in out.decode().splitlines()] == [[str(i + 1), str(i)] for i in range(4)]


async def test_verify_while_appending_never_reports_tampering(url):
    # A live floor keeps logging while a supervisor verifies: appends made meanwhile are not findings.
    log = open_log(url, batch_max_records=20, batch_max_delay_ms=0)
    stop = False

    async def keep_appending():
        i = 0
        while not stop:
            await log.append_async("event", body(i), T0)
            i += 1

    writers = [asyncio.create_task(keep_appending()) for _ in range(4)]
    await asyncio.sleep(0.05)
    results = [await asyncio.to_thread(log.verify) for _ in range(10)]
    stop = True
    await asyncio.gather(*writers)
    await log.aclose()
    assert all(r.ok for r in results), [r.message() for r in results if not r.ok]
    assert results[-1].records > results[0].records > 0


def test_newer_schema_is_refused(url):
    with open_log(url) as log:
        path = log.path
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(EventLogError, match="schema version 99"):
        open_log(url)
