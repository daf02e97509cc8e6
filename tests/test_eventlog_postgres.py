"""The PostgreSQL event-log backend against a real server started for these tests."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from wfm.eventlog import EventLogError, LogUnavailableError, LogWriteError, open_log

REPO = Path(__file__).resolve().parent.parent
SHANGHAI = timezone(timedelta(hours=8))
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SHANGHAI)


def body(i: int) -> dict:
    return {"type": "agent_state", "agent": f"10{i % 7:02d}", "state": "meal", "reason": "用餐", "i": i}


@pytest.fixture
def pg_url(pg_server) -> str:
    return pg_server.new_database()


def sql(url: str, *statements: str, params=()) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement, params if "%s" in statement else None)


def drop_guards(url: str) -> None:
    sql(url, "DROP TRIGGER wfm_eventlog_no_change ON wfm_eventlog",
        "DROP TRIGGER wfm_eventlog_head_forward ON wfm_eventlog_head")


def test_append_read_verify_and_resume(pg_url):
    with open_log(pg_url) as log:
        records = log.append_many([("event", body(i), T0 + timedelta(minutes=i)) for i in range(10)])
        assert [r.seq for r in records] == list(range(1, 11))
        assert log.verify().ok
    with open_log(pg_url) as log:
        record = log.append("decision", {"type": "break_decision", "allowed": True}, T0 + timedelta(hours=1))
        assert record.seq == 11 and record.prev_hash == records[-1].hash
        stored = list(log.read())
        assert stored[3].body == body(3) and stored[3].ts == T0 + timedelta(minutes=3)
        since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=5)
        assert [r.seq for r in log.read(since=since, until=until)] == [3, 4, 5]
        assert [r.seq for r in log.read(kinds=["decision"])] == [11]
        assert [r.seq for r in log.read(after_seq=4, limit=3)] == [5, 6, 7]
        assert log.count(since=since) == 9
        result = log.verify()
    assert result.ok and result.records == 11


def test_same_hashes_as_sqlite(pg_url, tmp_path):
    # One chain definition: the same records get the same hashes in both backends.
    items = [("event", body(i), T0 + timedelta(seconds=i)) for i in range(5)]
    with open_log(pg_url) as pg, open_log(f"sqlite:///{tmp_path}/same.sqlite") as lite:
        assert [r.hash for r in pg.append_many(items)] == [r.hash for r in lite.append_many(items)]


def test_triggers_refuse_update_delete_truncate(pg_url):
    import psycopg

    with open_log(pg_url) as log:
        log.append("event", body(1), T0)
    for statement in ("UPDATE wfm_eventlog SET body = '{}'", "DELETE FROM wfm_eventlog",
                      "TRUNCATE wfm_eventlog", "UPDATE wfm_eventlog_head SET seq = 0"):
        with pytest.raises(psycopg.errors.RaiseException):
            sql(pg_url, statement)


@pytest.mark.parametrize("tampering,first_bad", [
    (["UPDATE wfm_eventlog SET body = replace(body, 'meal', 'ready') WHERE seq = 4"], 4),
    (["UPDATE wfm_eventlog SET ts = ts + interval '1 minute' WHERE seq = 6"], 6),
    (["DELETE FROM wfm_eventlog WHERE seq = 3"], 3),
    (["DELETE FROM wfm_eventlog WHERE seq >= 7"], 7),
    (["UPDATE wfm_eventlog SET seq = -1 WHERE seq = 5", "UPDATE wfm_eventlog SET seq = 5 WHERE seq = 6",
      "UPDATE wfm_eventlog SET seq = 6 WHERE seq = -1"], 5),
    (["UPDATE wfm_eventlog SET seq = seq + 100 WHERE seq >= 2", "UPDATE wfm_eventlog SET seq = seq - 99 WHERE seq >= 100",
      "INSERT INTO wfm_eventlog SELECT 2, ts, kind, body, hash, hash FROM wfm_eventlog WHERE seq = 1",
      "UPDATE wfm_eventlog_head SET seq = 9"], 2),
])
def test_tampering_names_first_bad_record(pg_url, tampering, first_bad):
    with open_log(pg_url) as log:
        log.append_many([("event", body(i), T0 + timedelta(minutes=i)) for i in range(8)])
    drop_guards(pg_url)
    sql(pg_url, *tampering)
    with open_log(pg_url, readonly=True) as log:
        result = log.verify()
    assert not result.ok and result.first_bad_seq == first_bad, result


def test_cli_verify_against_postgres(pg_url, capsys):
    from wfm.cli import main

    with open_log(pg_url) as log:
        log.append_many([("event", body(i), T0) for i in range(3)])
    assert main(["log", "verify", "--db", pg_url]) == 0
    drop_guards(pg_url)
    sql(pg_url, "UPDATE wfm_eventlog SET kind = 'audit' WHERE seq = 2")
    assert main(["log", "verify", "--db", pg_url]) == 1
    assert "first bad record: seq 2" in capsys.readouterr().out


def test_readonly_open_of_missing_log(pg_url):
    with pytest.raises(EventLogError, match="no event log"):
        open_log(pg_url, readonly=True)


async def test_append_async_group_commit(pg_url):
    log = open_log(pg_url, batch_max_records=100, batch_max_delay_ms=2)
    records = await asyncio.gather(*(log.append_async("event", body(i), T0) for i in range(2000)))
    await log.aclose()
    assert sorted(r.seq for r in records) == list(range(1, 2001))
    with open_log(pg_url, readonly=True) as reader:
        assert reader.verify().ok


def test_concurrent_writer_processes_keep_one_chain(pg_url):
    script = textwrap.dedent("""
        import asyncio, sys
        from datetime import datetime, timezone
        from wfm.eventlog import open_log

        async def main():
            log = open_log(sys.argv[1], batch_max_records=20, batch_max_delay_ms=1)
            for n in range(10):
                await asyncio.gather(*(log.append_async("event", {"who": sys.argv[2], "n": n, "k": k},
                                                         datetime.now(timezone.utc)) for k in range(30)))
                log.append("audit", {"who": sys.argv[2], "n": n}, datetime.now(timezone.utc))
            await log.aclose()

        asyncio.run(main())
    """)
    open_log(pg_url).close()
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_url, who], cwd=REPO) for who in "abc"]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    with open_log(pg_url, readonly=True) as log:
        result = log.verify()
        whos = [r.body["who"] for r in log.read()]
    assert result.ok and result.records == 3 * 310
    assert sorted(set(whos)) == ["a", "b", "c"] and all(whos.count(w) == 310 for w in "abc")


async def test_follow_in_another_process_sees_new_records(pg_url):
    open_log(pg_url).close()
    follower = textwrap.dedent("""
        import asyncio, sys
        from wfm.eventlog import open_log

        async def main():
            log = open_log(sys.argv[1], readonly=True)
            print("ready", flush=True)
            seen = 0
            async for record in log.follow(after_seq=0, poll_s=3600):
                print(record.seq, record.body["i"], flush=True)
                seen += 1
                if seen == 5:
                    return

        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", follower, pg_url, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE)
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
    await asyncio.sleep(0.5)  # let it LISTEN; poll_s=3600 means only NOTIFY can wake it within the test's wait
    log = open_log(pg_url, batch_max_delay_ms=1)
    for i in range(5):
        await log.append_async("event", body(i), T0)
        await asyncio.sleep(0.05)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    await log.aclose()
    assert [line.split() for line in out.decode().splitlines()] == [[str(i + 1), str(i)] for i in range(5)]


async def test_database_down_buffers_async_refuses_sync_and_loses_nothing(pg_server):
    url = pg_server.new_database()
    log = open_log(url, batch_max_records=50, batch_max_delay_ms=2)
    log.retry_max_s = 0.2
    acknowledged = {}

    async def producer(start: int, count: int):
        for i in range(start, start + count):
            record = await log.append_async("event", body(i), T0)
            acknowledged[record.seq] = i

    await asyncio.gather(*(producer(k * 1000, 20) for k in range(5)))
    assert len(acknowledged) == 100
    await asyncio.to_thread(pg_server.stop, "fast")
    try:
        during = [asyncio.create_task(producer(10_000 + k * 1000, 10)) for k in range(5)]
        await asyncio.sleep(0.5)
        assert not any(task.done() for task in during)  # buffered, not acknowledged
        with pytest.raises(LogUnavailableError, match="unreachable|interrupted"):
            await asyncio.to_thread(log.append, "audit", {"note": "while down"}, T0)
    finally:
        await asyncio.to_thread(pg_server.start)
    await asyncio.wait_for(asyncio.gather(*during), 60)
    await log.aclose()
    assert len(acknowledged) == 150
    with open_log(url, readonly=True) as reader:
        result = reader.verify()
        stored = {r.seq: r.body.get("i") for r in reader.read()}
    assert result.ok and result.records == 150
    assert all(stored[seq] == i for seq, i in acknowledged.items())


async def test_buffer_limit_refuses_loudly(pg_server):
    url = pg_server.new_database()
    log = open_log(url, batch_max_records=10, batch_max_delay_ms=1, max_pending=20)
    log.retry_max_s = 0.1
    await log.append_async("event", body(0), T0)
    await asyncio.to_thread(pg_server.stop, "fast")
    try:
        waiting = [asyncio.ensure_future(log.append_async("event", body(i), T0)) for i in range(1, 21)]
        await asyncio.sleep(0.3)
        with pytest.raises(LogUnavailableError, match="20 records already waiting"):
            await asyncio.wait_for(log.append_async("event", body(99), T0), 5)
    finally:
        await asyncio.to_thread(pg_server.start)
    records = await asyncio.wait_for(asyncio.gather(*waiting), 60)
    await log.aclose()
    assert len(records) == 20


def test_bad_record_refused_without_touching_the_chain(pg_url):
    with open_log(pg_url) as log:
        log.append("event", body(0), T0)
        with pytest.raises(LogWriteError):
            log.append("event", {"x": float("inf")}, T0)
        assert log.append("event", body(1), T0).seq == 2
        assert log.verify().ok


@pytest.mark.parametrize("committed", [True, False])
async def test_connection_lost_during_commit_never_duplicates(pg_url, committed):
    # The network dying exactly at COMMIT cannot be staged with a real server, so the writer's
    # connection is wrapped at that one edge: the commit either went through or not, then the link drops.
    import psycopg

    log = open_log(pg_url, batch_max_records=10, batch_max_delay_ms=1)
    log.retry_max_s = 0.05
    await log.append_async("event", body(0), T0)
    conn = log._conn
    real_commit = conn.commit

    def commit_then_drop():
        if committed:
            real_commit()
        conn.close()
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    conn.commit = commit_then_drop
    records = await asyncio.wait_for(asyncio.gather(*(log.append_async("event", body(i), T0) for i in range(1, 4))), 30)
    await log.aclose()
    assert [r.seq for r in records] == [2, 3, 4]
    with open_log(pg_url, readonly=True) as reader:
        stored = [r.body["i"] for r in reader.read()]
        assert reader.verify().ok
    assert stored == [0, 1, 2, 3]  # written exactly once either way


def test_cli_export_from_postgres(pg_url, tmp_path, capsys):
    import json

    from wfm.cli import main

    with open_log(pg_url) as log:
        log.append_many([("event" if i % 2 else "decision", body(i), T0 + timedelta(minutes=i)) for i in range(10)])
    out = tmp_path / "pg.jsonl"
    assert main(["log", "export", "--db", pg_url, "--since", "2027-01-04T08:03:00+08:00",
                 "--until", "2027-01-04T08:07:00+08:00", "--kinds", "event", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exported"] == 2
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["seq"], r["ts"], r["body"]["reason"]) for r in lines] == [
        (4, "2027-01-04T08:03:00+08:00", "用餐"), (6, "2027-01-04T08:05:00+08:00", "用餐")]


async def test_verify_while_other_writers_append(pg_url):
    log = open_log(pg_url, batch_max_records=20, batch_max_delay_ms=0)
    stop = False

    async def keep_appending():
        i = 0
        while not stop:
            await log.append_async("event", body(i), T0)
            i += 1

    writers = [asyncio.create_task(keep_appending()) for _ in range(4)]
    await asyncio.sleep(0.1)
    with open_log(pg_url, readonly=True) as reader:
        results = [await asyncio.to_thread(reader.verify) for _ in range(5)]
    stop = True
    await asyncio.gather(*writers)
    await log.aclose()
    assert all(r.ok for r in results), [r.message() for r in results if not r.ok]
    assert results[-1].records > results[0].records > 0
