"""The asyncio AMI adapter against a real localhost TCP server speaking AMI as Asterisk 18 does.

The server here is written independently of the adapter's parser (it splits on
blank lines itself) and keeps a small floor model so that its QueueStatus
snapshot after a reconnect tells the truth about what happened meanwhile.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import sys
from pathlib import Path

import pytest

from telephony.adapter import ConnectionState
from telephony.ami.client import AmiAdapter
from wfm.config import default_data, from_data, merge
from wfm.events import AgentStateEvent, QueueStatusEvent, ResyncEvent
from wfm.commands.feeds import ami_settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "captures" / "ami" / "asterisk18_floor.ami"
SECRET = "s3cret 密码"


def split_messages(data: bytes) -> list[list[tuple[str, str]]]:
    """Independent of the code under test: CRLF messages → lists of (key, value)."""
    out = []
    for block in data.split(b"\r\n\r\n"):
        lines = [line for line in block.decode("utf-8").split("\r\n") if line and not line.startswith("Asterisk Call Manager/")]
        if lines:
            out.append([tuple(line.split(": ", 1)) if ": " in line else (line.rstrip(":"), "") for line in lines])
    return out


def encode(pairs) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in pairs).encode("utf-8") + b"\r\n"


def sample_parts():
    messages = split_messages(SAMPLE.read_bytes())
    first_live = next(i for i, m in enumerate(messages) if dict(m).get("Event") == "QueueStatusComplete") + 1
    snapshot = [m for m in messages[:first_live] if dict(m).get("Event") in ("QueueParams", "QueueMember")]
    live = [m for m in messages[first_live:] if "Event" in dict(m)]
    return snapshot, live


class FakeAsterisk:
    """A manager interface on 127.0.0.1: login (plain/MD5), QueueStatus, QueuePause, Ping, live events."""

    def __init__(self, *, live=(), chunking=(1, 7), drops=(), challenge=True, seed=1):
        snapshot, _ = sample_parts()
        self.members: dict[tuple[str, str], dict[str, str]] = {}
        self.waiting: dict[str, int] = {}
        for m in snapshot:
            fields = dict(m)
            if fields["Event"] == "QueueParams":
                self.waiting[fields["Queue"]] = int(fields["Calls"])
            else:
                self.members[(fields["Queue"], fields["Location"])] = {
                    "MemberName": fields["Name"], "Status": fields["Status"], "Paused": fields["Paused"],
                    "PausedReason": fields["PausedReason"], "InCall": fields["InCall"]}
        self.live = list(live)
        self.next_live = 0
        self.drops = sorted(drops)  # live indexes at which a connection is cut mid-message
        self.chunking = chunking
        self.challenge_enabled = challenge
        self.rng = random.Random(seed)
        self.actions: list[dict[str, str]] = []
        self.connections = 0
        self.logins = 0
        self.done = asyncio.Event()
        self.pause_reply_event_first = True
        self._server = None
        self._tasks: set[asyncio.Task] = set()
        self._write_locks: dict[int, asyncio.Lock] = {}
        self.port = 0

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # -- model ----------------------------------------------------------------
    def apply(self, fields: dict[str, str]) -> None:
        event = fields["Event"]
        iface = fields.get("Interface")
        if event == "QueueMemberRemoved":
            self.members.pop((fields["Queue"], iface), None)
        elif event.startswith("QueueMember"):
            self.members[(fields["Queue"], iface)] = {k: fields.get(k, "0" if k in ("InCall", "Paused") else "") for k in ("MemberName", "Status", "Paused", "PausedReason", "InCall")}
        elif event in ("QueueCallerJoin", "QueueCallerLeave") and "Count" in fields:
            self.waiting[fields["Queue"]] = int(fields["Count"])
        elif event in ("AgentCalled", "AgentRingNoAnswer", "AgentConnect", "AgentComplete"):
            status, incall = {"AgentCalled": ("6", None), "AgentRingNoAnswer": ("1", None), "AgentConnect": ("2", "1"), "AgentComplete": ("1", "0")}[event]
            for (_queue, member_iface), member in self.members.items():
                if member_iface == iface:
                    member["Status"] = status
                    if incall is not None:
                        member["InCall"] = incall

    # -- wire -------------------------------------------------------------------
    async def send(self, writer, data: bytes, cut_at: int | None = None) -> bool:
        """Write in random small chunks; with cut_at, abort the connection after that many bytes.
        One message at a time per connection, as Asterisk writes them (an action's answer never
        lands inside a live event being sent)."""
        lock = self._write_locks.setdefault(id(writer), asyncio.Lock())
        async with lock:
            return await self._send_chunks(writer, data, cut_at)

    async def _send_chunks(self, writer, data: bytes, cut_at: int | None) -> bool:
        pos = 0
        end = len(data) if cut_at is None else cut_at
        while pos < end:
            step = self.rng.randint(*self.chunking)
            writer.write(data[pos : min(end, pos + step)])
            pos += step
            await writer.drain()
            await asyncio.sleep(0)
        if cut_at is not None:
            writer.transport.abort()
            return False
        return True

    async def _handle(self, reader, writer):
        self.connections += 1
        authed = False
        streaming = False
        challenge = None
        await self.send(writer, b"Asterisk Call Manager/5.0.1\r\n")
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                action = dict(tuple(line.split(": ", 1)) for line in raw.decode("utf-8").split("\r\n") if ": " in line)
                self.actions.append(action)
                aid = action.get("ActionID", "")
                name = action.get("Action")
                if name == "Challenge":
                    if not self.challenge_enabled:
                        await self.send(writer, encode([("Response", "Error"), ("ActionID", aid), ("Message", "Invalid/unknown command")]))
                        continue
                    challenge = str(self.rng.randint(10**8, 10**9))
                    await self.send(writer, encode([("Response", "Success"), ("ActionID", aid), ("Challenge", challenge)]))
                elif name == "Login":
                    self.logins += 1
                    if action.get("AuthType", "").lower() == "md5":
                        ok = challenge is not None and action.get("Key") == hashlib.md5((challenge + SECRET).encode()).hexdigest()
                    else:
                        ok = action.get("Secret") == SECRET
                    if not ok:
                        await self.send(writer, encode([("Response", "Error"), ("ActionID", aid), ("Message", "Authentication failed")]))
                        writer.close()
                        return
                    authed = True
                    await self.send(writer, encode([("Response", "Success"), ("ActionID", aid), ("Message", "Authentication accepted")]))
                    await self.send(writer, encode([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted")]))
                elif not authed:
                    await self.send(writer, encode([("Response", "Error"), ("ActionID", aid), ("Message", "Permission denied")]))
                elif name == "QueueStatus":
                    if not await self.send(writer, self.snapshot(aid)):
                        return
                    if self.live and not streaming:  # the live feed starts once per connection (a later
                        streaming = True             # QueueStatus is a reconciliation, not a new feed)
                        task = asyncio.get_running_loop().create_task(self.stream_live(writer))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                elif name == "QueuePause":
                    known = any(iface == action.get("Interface") for _, iface in self.members)
                    if self.pause_reply_event_first:  # an unrelated list event with another ActionID first
                        await self.send(writer, encode([("Event", "QueueSummary"), ("Queue", "general"), ("ActionID", "someone-else")]))
                    if known:
                        await self.send(writer, encode([("Response", "Success"), ("ActionID", aid), ("Message", "Interface paused successfully")]))
                    else:
                        await self.send(writer, encode([("Response", "Error"), ("ActionID", aid), ("Message", "Interface not found")]))
                elif name == "Ping":
                    await self.send(writer, encode([("Response", "Success"), ("ActionID", aid), ("Ping", "Pong"), ("Timestamp", "1799022300.000000")]))
                else:
                    await self.send(writer, encode([("Response", "Error"), ("ActionID", aid), ("Message", "Invalid/unknown command")]))
        except ConnectionError:
            return

    def snapshot(self, aid: str) -> bytes:
        parts = [encode([("Response", "Success"), ("ActionID", aid), ("EventList", "start"), ("Message", "Queue status will follow")])]
        count = 0
        queues = sorted(set(self.waiting) | {q for q, _ in self.members})
        for queue in queues:
            parts.append(encode([("Event", "QueueParams"), ("Queue", queue), ("Max", 0), ("Strategy", "ringall"), ("Calls", self.waiting.get(queue, 0)), ("ActionID", aid)]))
            count += 1
            for (q, iface), m in sorted(self.members.items()):
                if q == queue:
                    parts.append(encode([("Event", "QueueMember"), ("Queue", q), ("Name", m["MemberName"]), ("Location", iface), ("StateInterface", iface),
                                         ("Membership", "dynamic"), ("InCall", m["InCall"]), ("Status", m["Status"]), ("Paused", m["Paused"]),
                                         ("PausedReason", m["PausedReason"]), ("ActionID", aid)]))
                    count += 1
        parts.append(encode([("Event", "QueueStatusComplete"), ("ActionID", aid), ("EventList", "Complete"), ("ListItems", count)]))
        return b"".join(parts)

    async def stream_live(self, writer):
        while self.next_live < len(self.live):
            index = self.next_live
            message = self.live[index]
            self.apply(dict(message))
            self.next_live += 1
            data = encode(message)
            if self.drops and self.drops[0] == index:
                self.drops.pop(0)
                await self.send(writer, data, cut_at=self.rng.randint(1, len(data) - 1))
                return
            await self.send(writer, data)
        sentinel = [("Event", "QueueMemberAdded"), ("Queue", "zz-end"), ("MemberName", "end"), ("Interface", "PJSIP/9999"), ("Status", 1), ("Paused", 0), ("PausedReason", ""), ("InCall", 0)]
        await self.send(writer, encode(sentinel))
        self.done.set()


def fast_config(**pbx):
    pbx = merge({"reconnect": {"initial_s": 0.01, "max_s": 0.05, "jitter": 0.1}}, pbx)
    return from_data(merge(default_data(), {"pbx": pbx}))


def adapter_for(server, config=None, **kw):
    kw.setdefault("secret", SECRET)
    kw.setdefault("source", "ami-test")
    return AmiAdapter(ami_settings(config or fast_config()), host="127.0.0.1", port=server.port, username="wfm", **kw)


class Floor:
    """Test reducer: latest state per agent and waiting per queue; a resync starts from scratch."""

    def __init__(self):
        self.agents: dict[str, tuple] = {}
        self.waiting: dict[str, int] = {}
        self.resyncs = 0

    def apply(self, event):
        if isinstance(event, ResyncEvent):
            if event.phase == "begin":
                self.agents, self.waiting = {}, {}
                self.resyncs += 1
        elif isinstance(event, AgentStateEvent):
            self.agents[event.agent] = (event.state.value, event.reason, tuple(event.queues or ()))
        elif isinstance(event, QueueStatusEvent):
            self.waiting[event.queue] = event.waiting

    def state(self):
        agents = {a: s for a, s in self.agents.items() if s[0] != "logged_out"}
        return agents, dict(self.waiting)


async def run_floor(server, adapter, timeout=30.0):
    floor = Floor()
    events = []

    async def consume():
        async for event in adapter.stream():
            events.append(event)
            floor.apply(event)
            if isinstance(event, AgentStateEvent) and event.agent == "9999":
                return

    try:
        await asyncio.wait_for(consume(), timeout)
    finally:
        await adapter.close()
    return floor, events


async def test_snapshot_between_resync_markers_then_live_events():
    _, live = sample_parts()
    async with FakeAsterisk(live=live) as server:
        adapter = adapter_for(server)
        floor, events = await run_floor(server, adapter)
    assert isinstance(events[0], ResyncEvent) and events[0].phase == "begin"
    end = next(i for i, e in enumerate(events) if isinstance(e, ResyncEvent) and e.phase == "end")
    snapshot = events[1:end]
    assert {e.agent for e in snapshot if isinstance(e, AgentStateEvent)} == {"1001", "1002", "1003", "1004"}
    assert {e.queue: e.waiting for e in snapshot if isinstance(e, QueueStatusEvent)} == {"general": 1, "billing": 0}
    assert any(getattr(e, "event", None) is not None and e.event.value == "abandoned" for e in events[end:])
    assert floor.resyncs == 1 and adapter.skipped == 0


@pytest.mark.parametrize("seed", [3, 17])
async def test_dropped_connection_reconnects_resyncs_and_ends_in_the_same_floor_state(seed):
    _, live = sample_parts()
    async with FakeAsterisk(live=live, seed=seed) as server:
        reference, _ = await run_floor(server, adapter_for(server))
    rng = random.Random(seed)
    drops = sorted(rng.sample(range(len(live)), 3))
    async with FakeAsterisk(live=live, drops=drops, seed=seed) as server:
        adapter = adapter_for(server)
        floor, events = await run_floor(server, adapter)
        assert server.connections == 4
    assert floor.resyncs == 4
    assert adapter.health(adapter.clock.now()).reconnects == 3
    assert floor.state() == reference.state()
    assert reference.state()[0]["1003"] == ("short_break", "小休", ("general",))  # the day did move on


async def test_login_asks_only_for_the_event_classes_the_floor_uses():
    async with FakeAsterisk() as server:
        adapter = adapter_for(server, reconnect=False)

        async def first():
            async for event in adapter.stream():
                if isinstance(event, ResyncEvent) and event.phase == "end":
                    return
        await asyncio.wait_for(first(), 10)
        await adapter.close()
    login = next(a for a in server.actions if a.get("Action") == "Login")
    assert login["Events"] == "agent,system"  # queues, members and calls; Reload (least privilege, pbx.ami_events)


async def test_md5_login_never_sends_the_secret():
    async with FakeAsterisk() as server:
        adapter = adapter_for(server, reconnect=False)
        async def first():
            async for event in adapter.stream():
                if isinstance(event, ResyncEvent) and event.phase == "end":
                    return
        await asyncio.wait_for(first(), 10)
        await adapter.close()
    login = next(a for a in server.actions if a.get("Action") == "Login")
    challenge = next(a for a in server.actions if a.get("Action") == "Challenge")
    assert challenge["AuthType"] == "MD5" and login["AuthType"] == "MD5"
    assert "Secret" not in login and len(login["Key"]) == 32
    assert adapter.failure is None or not isinstance(adapter.failure, Exception) or adapter.ever_connected


async def test_plain_login_when_the_server_offers_no_challenge():
    async with FakeAsterisk(challenge=False) as server:
        adapter = adapter_for(server, reconnect=False)
        async def first():
            async for event in adapter.stream():
                if isinstance(event, ResyncEvent) and event.phase == "end":
                    return
        await asyncio.wait_for(first(), 10)
        await adapter.close()
    login = next(a for a in server.actions if a.get("Action") == "Login")
    assert login["Secret"] == SECRET and "Key" not in login


async def test_bad_password_is_auth_failed_and_retried_slowly(caplog):
    config = fast_config(reconnect={"initial_s": 0.01, "max_s": 5.0, "jitter": 0.0})
    async with FakeAsterisk() as server:
        adapter = adapter_for(server, config, secret="wrong")
        task = asyncio.get_running_loop().create_task(anext(adapter.stream().__aiter__(), None))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if adapter.state is ConnectionState.AUTH_FAILED:
                break
        await asyncio.sleep(0.3)
        health = adapter.health(adapter.clock.now())
        await adapter.close()
        await asyncio.wait_for(task, 5)
    assert health.state is ConnectionState.AUTH_FAILED and not health.connected
    assert "authentication failed" in health.detail
    assert server.logins == 1  # not hammered: the next try waits pbx.reconnect.max_s
    assert any(r.levelno == logging.ERROR and "authentication failed" in r.getMessage() for r in caplog.records)


async def test_network_failure_retries_fast_warning_once_then_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="telephony.reconnect")
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    adapter = AmiAdapter(ami_settings(fast_config()), host="127.0.0.1", port=port, username="wfm", secret="x", source="ami-dead")
    task = asyncio.get_running_loop().create_task(anext(adapter.stream().__aiter__(), None))
    await asyncio.sleep(0.5)
    assert adapter._reconnector.backoff.failures >= 3
    assert adapter.state in (ConnectionState.BACKOFF, ConnectionState.CONNECTING)
    await adapter.close()
    await asyncio.wait_for(task, 5)
    records = [r for r in caplog.records if r.name == "telephony.reconnect" and "reconnecting" in r.getMessage()]
    assert [r.levelno for r in records][:1] == [logging.WARNING]
    assert all(r.levelno == logging.DEBUG for r in records[1:]) and len(records) >= 3
    assert adapter.state is ConnectionState.CLOSED
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith(("reconnect:", "ami-"))]
    assert leftovers == []


async def connected(server, **kw):
    adapter = adapter_for(server, **kw)
    stream = adapter.stream().__aiter__()
    while True:
        event = await asyncio.wait_for(anext(stream), 10)
        if isinstance(event, ResyncEvent) and event.phase == "end":
            return adapter, stream


async def test_queue_pause_is_sent_with_action_id_and_reason_and_its_response_matched():
    async with FakeAsterisk() as server:
        adapter, _ = await connected(server)
        result = await adapter.set_paused("1001", True, "小休")
        unpause = await adapter.set_paused("1002", False)
        health = adapter.health(adapter.clock.now())
        await adapter.close()
    pauses = [a for a in server.actions if a.get("Action") == "QueuePause"]
    assert pauses[0]["Interface"] == "PJSIP/1001" and pauses[0]["Paused"] == "true" and pauses[0]["Reason"] == "小休"
    assert pauses[1]["Paused"] == "false" and "Reason" not in pauses[1]
    assert result.ok and result.action_id == pauses[0]["ActionID"] and result.detail == "Interface paused successfully"
    assert unpause.ok and unpause.action_id == pauses[1]["ActionID"] != result.action_id
    assert health.connected and not health.stale and health.skipped == 0


async def test_queue_pause_refused_or_unknown_agent_is_not_ok():
    async with FakeAsterisk() as server:
        adapter, _ = await connected(server)
        server.members.pop(("general", "PJSIP/1003"))
        refused = await adapter.set_paused("1003", True, "小休")
        unknown = await adapter.set_paused("7777", True)
        injected = await adapter.set_paused("1001", True, "x\r\nAction: Logoff")
        await adapter.close()
    assert not refused.ok and refused.detail == "Interface not found"
    assert not unknown.ok and "7777" in unknown.detail
    assert not injected.ok and "line break" in injected.detail
    logoffs = [i for i, a in enumerate(server.actions) if a.get("Action") == "Logoff"]
    assert logoffs == [len(server.actions) - 1]  # only the adapter's own goodbye at close, nothing injected
    assert [a.get("Interface") for a in server.actions if a.get("Action") == "QueuePause"] == ["PJSIP/1003"]


async def test_not_connected_adapter_reports_health_and_refuses_actions():
    adapter = AmiAdapter(ami_settings(fast_config()), host="127.0.0.1", port=9, username="u", secret="s")
    result = await adapter.set_paused("1001", True)
    health = adapter.health(adapter.clock.now())
    assert not result.ok and "not connected" in result.detail
    assert not health.connected and health.stale and health.last_event_age_s is None
    await adapter.close()


async def test_malformed_live_messages_are_counted_and_skipped(caplog):
    live = [[("Event", "QueueMemberStatus"), ("Queue", "general"), ("Interface", "PJSIP/1001"), ("Status", "many"), ("Paused", "0")],
            [("Event", "QueueCallerJoin"), ("Queue", "general"), ("Count", "1")],
            [("Event", "QueueMemberPause"), ("Queue", "general"), ("Interface", "PJSIP/1001"), ("Status", "1"), ("Paused", "1"), ("PausedReason", "用餐")]]
    async with FakeAsterisk(live=live) as server:
        adapter = adapter_for(server)
        floor, events = await run_floor(server, adapter)
    assert adapter.skipped == 2
    assert floor.agents["1001"][0] == "meal"
    warnings = [r for r in caplog.records if r.name == "telephony.ami.client" and r.levelno == logging.WARNING]
    assert len(warnings) == 1  # the first one; repeats go to debug


async def test_capture_tee_replays_to_the_same_events(tmp_path):
    from telephony.ami.offline import parse_capture
    from telephony.capture import read_capture
    from wfm.events import encode_event

    _, live = sample_parts()
    capture = tmp_path / "live.ami"
    # no periodic check: one cut into a list when the adapter closes would be a second cut message
    config = fast_config(reconcile_s=0)
    async with FakeAsterisk(live=live, drops=[5]) as server:
        adapter = adapter_for(server, config, capture_path=capture, source="ami")
        _, events = await run_floor(server, adapter)
    replayed = [e for e in parse_capture(read_capture(capture), ami_settings(config), str(capture))]
    live_events = [encode_event(e) for e in events if not isinstance(e, ResyncEvent)]
    bad = [e for e in replayed if not hasattr(e, "ts")]
    assert len(bad) == 1 and "cut off" in bad[0].reason  # the message the drop cut in two
    # the live adapter stamps a capture-less message with its receive time, the replay with the side file's: equal
    assert [encode_event(e) for e in replayed if hasattr(e, "ts")] == live_events


async def test_live_ingest_command_prints_events_and_stops_at_max_events():
    _, live = sample_parts()
    async with FakeAsterisk(live=live) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wfm.cli", "ingest", "--protocol", "ami", "--connect", f"127.0.0.1:{server.port}",
            "--username", "wfm", "--secret", SECRET, "--max-events", "8", "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO))
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    lines = out.decode().splitlines()
    assert proc.returncode == 0, err.decode()
    assert len(lines) == 8 and '"type":"resync"' not in out.decode()
    assert lines[0].startswith('{"type":"agent_state"')


async def test_live_ingest_with_a_wrong_secret_is_exit_2():
    async with FakeAsterisk() as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wfm.cli", "ingest", "--protocol", "ami", "--connect", f"127.0.0.1:{server.port}",
            "--username", "wfm", "--secret", "nope", "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO))
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and out == b""
    assert "login refused" in err.decode() and len(err.decode().strip().splitlines()) == 1


async def test_live_ingest_ctrl_c_is_clean_and_logs_off():
    import signal

    async with FakeAsterisk() as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wfm.cli", "ingest", "--protocol", "ami", "--connect", f"127.0.0.1:{server.port}",
            "--username", "wfm", "--secret", SECRET, "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO))
        first = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert first.startswith(b'{"type":"agent_state"')
        proc.send_signal(signal.SIGINT)
        # it stops by itself on Ctrl-C (how fast is the demo benchmark's business, not a test's)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        await asyncio.sleep(0.1)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert server.actions[-1].get("Action") == "Logoff"


async def test_concurrent_snapshot_requests_do_not_interleave():
    async with FakeAsterisk() as server:
        adapter, stream = await connected(server)
        await asyncio.gather(adapter.snapshot(), adapter.snapshot())
        markers = []
        while len(markers) < 4:
            event = await asyncio.wait_for(anext(stream), 10)
            if isinstance(event, ResyncEvent):
                markers.append(event.phase)
        await adapter.close()
    assert markers == ["begin", "end", "begin", "end"]
    assert sum(a.get("Action") == "QueueStatus" for a in server.actions) == 3


class BehindAsterisk(FakeAsterisk):
    """Answers a reconciliation QueueStatus (ActionID …-check) only after `delay_s`, as a floor that
    reads behind a backlog sees it: with live messages arriving meanwhile (`filler`), or with nothing."""

    def __init__(self, delay_s: float, filler: bool, **kw):
        super().__init__(**kw)
        self.delay_s = delay_s
        self.filler = filler

    async def send(self, writer, data: bytes, cut_at: int | None = None) -> bool:
        if b"-check\r\n" in data and b"Queue status will follow" in data:
            end = asyncio.get_running_loop().time() + self.delay_s
            while asyncio.get_running_loop().time() < end:
                if self.filler:
                    await super().send(writer, encode([("Event", "Newexten"), ("Privilege", "dialplan,all"),
                                                       ("Channel", "PJSIP/trunk-1"), ("Application", "Wait")]))
                await asyncio.sleep(0.02)
            if not self.filler:
                return True  # never answered
        return await super().send(writer, data, cut_at)


async def _watch_checks(server, adapter, until, timeout: float = 10.0) -> None:
    async def consume():
        async for _event in adapter.stream():
            pass

    task = asyncio.create_task(consume())
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not until() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await adapter.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_check_answered_behind_live_traffic_waits_and_keeps_the_link(monkeypatch):
    """Soak, 5,000 agents: a check's list queued behind the floor's own backlog took > 30 s, the adapter
    dropped the link as dead (12 times in the hour) and lost what was buffered on it."""
    monkeypatch.setattr("telephony.ami.client.LIST_TIMEOUT_S", 0.3)
    async with BehindAsterisk(delay_s=1.2, filler=True) as server:
        adapter = adapter_for(server, fast_config(reconcile_s=0.2), action_timeout_s=0.2)
        await _watch_checks(server, adapter, lambda: adapter.reconciliations >= 2)
    assert adapter.reconciliations >= 2
    assert server.connections == 1


async def test_a_check_never_answered_on_a_silent_link_still_drops_it(monkeypatch):
    monkeypatch.setattr("telephony.ami.client.LIST_TIMEOUT_S", 0.3)
    async with BehindAsterisk(delay_s=0.8, filler=False) as server:
        adapter = adapter_for(server, fast_config(reconcile_s=0.2), action_timeout_s=0.2)
        await _watch_checks(server, adapter, lambda: server.connections >= 2)
    assert server.connections >= 2 and adapter.reconciliations == 0
