"""Fault suite (issue 9 item 4): the live floor under PBX, storage, process and clock faults.

Every test runs real parts: an Asterisk-style AMI server on a localhost TCP
port (written here, independent of the adapter's parser) → the real
AmiAdapter → Runtime (FloorEngine) → a SQLite event log file. Disk-full and
SIGKILL run the runtime in a child process (this file is also the child's
program: `python tests/test_faults.py CHILD ...`).

After each fault: nothing acknowledged is missing from the log, `wfm log
verify` passes, and the live floor equals the floor rebuilt by replaying the
log into a fresh FloorEngine (feeds' health left out: it is live, not logged).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # run as a child process
    sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402

from wfm.config import default_data, from_data, merge  # noqa: E402
from wfm.events import AgentState, AgentStateEvent, ShiftEvent, event_from_builtins  # noqa: E402
from wfm.commands.feeds import ami_settings  # noqa: E402

PYTHON = str(REPO / ".venv" / "bin" / "python")
WFM = [PYTHON, "-m", "wfm.cli"]
SECRET = "fault-secret"
QUEUE = "general"
TZ = timezone(timedelta(hours=8))
SHORT, MEAL = "小休", "用餐"


# ───────────────────────────────────────────────────────────── shared helpers


def config_for(log_path: Path, **extra):
    data = merge(default_data(), {
        "storage": {"url": f"sqlite:///{log_path}"},
        "pbx": {"reconnect": {"initial_s": 0.02, "max_s": 0.1, "jitter": 0.1}},
    })
    return from_data(merge(data, extra), "fault test")


def write_config_file(tmp_path: Path, log_path: Path) -> Path:
    path = tmp_path / "fault.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{log_path}"\n', encoding="utf-8")
    return path


def wfm_log_verify(tmp_path: Path, log_path: Path) -> subprocess.CompletedProcess:
    config = write_config_file(tmp_path, log_path)
    return subprocess.run([*WFM, "log", "verify", "--config", str(config)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def comparable(view) -> dict:
    """A floor view without its live-only parts (feed health is not in the log)."""
    data = msgspec.to_builtins(view)
    data.pop("feeds", None)
    return data


def replayed_view(config, log_path: Path, now: datetime) -> dict:
    """Rebuild the floor from the log alone: every event and tick marker, in log order, into a fresh engine."""
    from wfm.engine import FloorEngine
    from wfm.eventlog import open_log

    engine = FloorEngine(config)
    log = open_log(f"sqlite:///{log_path}", readonly=True)
    try:
        for record in log.read(kinds=["event", "audit"]):
            if record.kind == "audit":
                if record.body.get("type") == "tick":
                    engine.tick(record.ts.astimezone(config.floor.tz))
                continue
            engine.handle(event_from_builtins(record.body))
    finally:
        log.close()
    return comparable(engine.floor_view(now.astimezone(config.floor.tz)))


def logged_events(log_path: Path) -> list[dict]:
    from wfm.eventlog import open_log

    log = open_log(f"sqlite:///{log_path}", readonly=True)
    try:
        return [record.body for record in log.read(kinds=["event"])]
    finally:
        log.close()


def logged_kinds(log_path: Path) -> Counter:
    from wfm.eventlog import open_log

    log = open_log(f"sqlite:///{log_path}", readonly=True)
    try:
        return Counter(record.kind for record in log.read())
    finally:
        log.close()


class MovableClock:
    """Real time from `start`, plus jumps the test makes (forward by hours, back by minutes)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.t0 = time.monotonic()
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0) + self.offset

    def jump(self, delta: timedelta) -> None:
        self.offset += delta


# ───────────────────────────────────────────────────────────── a scripted Asterisk AMI server


def ami(pairs) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in pairs).encode("utf-8") + b"\r\n"


class ScriptedPbx:
    """Asterisk 18 manager interface over a small floor the test controls; its QueueStatus tells the truth.

    truth: agent -> (status, paused, reason); an agent not in it is not a queue member (signed out).
    """

    def __init__(self, clock) -> None:
        self.clock = clock
        self.truth: dict[str, tuple[int, bool, str]] = {}
        self.live: set[asyncio.StreamWriter] = set()
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.connections = 0
        self.sent_live = 0

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """The PBX goes away: listener closed, every session cut."""
        if self.server is not None:
            self.server.close()
        for writer in list(self.live):
            writer.transport.abort()
        self.live.clear()
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None

    def drop_mid_message(self) -> None:
        """Cut every session halfway through a member event."""
        agent = next(iter(self.truth))
        data = self._member_event("QueueMemberStatus", agent)
        for writer in list(self.live):
            writer.write(data[: len(data) // 2])
            writer.transport.abort()
        self.live.clear()

    # truth changes, broadcast as Asterisk would
    def set(self, agent: str, state: str) -> None:
        status, paused, reason = {
            "ready": (1, False, ""), "on_call": (2, False, ""), "ringing": (6, False, ""),
            "short_break": (1, True, SHORT), "meal": (1, True, MEAL), "not_ready": (1, True, "training"),
        }[state]
        before = self.truth.get(agent)
        self.truth[agent] = (status, paused, reason)
        if before is None:
            name = "QueueMemberAdded"
        elif before[1] != paused or before[2] != reason:
            name = "QueueMemberPause"
        else:
            name = "QueueMemberStatus"
        self._broadcast(self._member_event(name, agent))

    def remove(self, agent: str) -> None:
        if self.truth.pop(agent, None) is not None:
            self._broadcast(ami([("Event", "QueueMemberRemoved"), ("Privilege", "agent,all"),
                                 ("Timestamp", self._stamp()), ("Queue", QUEUE), ("MemberName", agent),
                                 ("Interface", f"PJSIP/{agent}")]))

    def expected_state(self, agent: str) -> str:
        if agent not in self.truth:
            return "logged_out"
        status, paused, reason = self.truth[agent]
        if paused:
            return {SHORT: "short_break", MEAL: "meal"}.get(reason, "not_ready")
        return {1: "ready", 2: "on_call", 6: "ringing"}[status]

    def _stamp(self) -> str:
        return f"{self.clock.now().timestamp():.6f}"

    def _member_event(self, name: str, agent: str) -> bytes:
        status, paused, reason = self.truth[agent]
        return ami([("Event", name), ("Privilege", "agent,all"), ("Timestamp", self._stamp()), ("Queue", QUEUE),
                    ("MemberName", agent), ("Interface", f"PJSIP/{agent}"), ("Membership", "dynamic"),
                    ("InCall", 1 if status == 2 else 0), ("Status", status), ("Paused", int(paused)),
                    ("PausedReason", reason)])

    def _broadcast(self, data: bytes) -> None:
        for writer in list(self.live):
            if writer.is_closing():
                self.live.discard(writer)
                continue
            writer.write(data)
            self.sent_live += 1

    def _snapshot(self, aid: str) -> bytes:
        parts = [ami([("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                      ("Message", "Queue status will follow")]),
                 ami([("Event", "QueueParams"), ("Queue", QUEUE), ("Max", 0), ("Calls", 0), ("ActionID", aid)])]
        for agent in sorted(self.truth):
            status, paused, reason = self.truth[agent]
            parts.append(ami([("Event", "QueueMember"), ("Queue", QUEUE), ("Name", agent),
                              ("Location", f"PJSIP/{agent}"), ("Membership", "dynamic"),
                              ("InCall", 1 if status == 2 else 0), ("Status", status), ("Paused", int(paused)),
                              ("PausedReason", reason), ("ActionID", aid)]))
        parts.append(ami([("Event", "QueueStatusComplete"), ("ActionID", aid), ("EventList", "Complete"),
                          ("ListItems", len(parts) - 1)]))
        return b"".join(parts)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"Asterisk Call Manager/7.0.3\r\n")
        authed = False
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = dict(line.split(": ", 1) for line in raw.decode("utf-8").split("\r\n") if ": " in line)
                aid, name = action.get("ActionID", ""), action.get("Action", "")
                if name == "Login":
                    authed = action.get("Secret") == SECRET
                    writer.write(ami([("Response", "Success" if authed else "Error"), ("ActionID", aid),
                                      ("Message", "Authentication accepted" if authed else "Authentication failed")]))
                elif not authed:
                    writer.write(ami([("Response", "Error"), ("ActionID", aid), ("Message", "Permission denied")]))
                elif name == "QueueStatus":
                    writer.write(self._snapshot(aid))
                    self.live.add(writer)
                elif name == "Ping":
                    writer.write(ami([("Response", "Success"), ("ActionID", aid), ("Ping", "Pong")]))
                elif name == "QueuePause":
                    writer.write(ami([("Response", "Success"), ("ActionID", aid), ("Message", "Interface paused successfully")]))
                else:  # Challenge too: this PBX takes plain secrets only
                    writer.write(ami([("Response", "Error"), ("ActionID", aid), ("Message", "Invalid/unknown command")]))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.live.discard(writer)
            writer.close()


# ───────────────────────────────────────────────────────────── the live floor under test (in this process)


class LiveFloor:
    def __init__(self, tmp_path: Path, pbx: ScriptedPbx, clock, agents: list[str]) -> None:
        from telephony.ami.client import AmiAdapter
        from wfm.engine import FloorEngine
        from wfm.eventlog import open_log_from_config
        from wfm.runtime import Runtime

        self.log_path = tmp_path / "floor.sqlite"
        self.config = config_for(self.log_path)
        self.clock = clock
        self.pbx = pbx
        self.agents = agents
        self.adapter = AmiAdapter(ami_settings(self.config), host="127.0.0.1", port=pbx.port, username="wfm", secret=SECRET,
                                  source="ami:fault", clock=clock, auth="plain")
        self.runtime = Runtime(self.config, FloorEngine(self.config), open_log_from_config(self.config),
                               [self.adapter], clock)

    async def start(self) -> None:
        now = self.clock.now()
        shifts = [ShiftEvent(ts=now, agent=a, start=now - timedelta(hours=1), end=now + timedelta(hours=7))
                  for a in self.agents]
        await self.runtime.start(prelude=lambda _report: shifts)
        await self.wait_matches_pbx()

    def states(self) -> dict[str, str]:
        view = self.runtime.floor_view()
        return {a.agent: a.state.value for a in view.agents}

    async def wait_matches_pbx(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            known = set(states) | set(self.pbx.truth)
            expected = {a: self.pbx.expected_state(a) for a in known}
            if self.adapter.health(self.clock.now()).connected and \
                    {a: states.get(a, "logged_out") for a in known} == expected:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"floor never matched the PBX: floor {states} PBX {expected}")
            await asyncio.sleep(0.05)

    async def settle(self) -> None:
        """Wait until the adapter's queue and the runtime's inbox are empty and a tick has passed."""
        for _ in range(200):
            inbox = getattr(self.runtime, "_inbox", None)
            if (inbox is None or inbox.empty()) and self.adapter._queue.empty():
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)

    async def check_after_fault(self, tmp_path: Path) -> None:
        """Everything acted on is in the log; the floor equals its replay; then stop and verify the file."""
        await self.settle()
        now = self.runtime.now()
        live = comparable(self.runtime.engine.floor_view(now))
        processed, failed = self.runtime.events_processed, self.runtime.events_failed
        await self.runtime.stop()
        assert failed == 0
        kinds = logged_kinds(self.log_path)
        assert kinds["event"] == processed, (kinds, processed)  # every event the floor acted on is durable
        assert replayed_view(self.config, self.log_path, now) == live
        verify = wfm_log_verify(tmp_path, self.log_path)
        assert verify.returncode == 0 and "chain intact" in verify.stdout, verify.stdout + verify.stderr


STATES = ("ready", "on_call", "ringing", "short_break", "meal", "not_ready")


async def test_pbx_connection_dropped_mid_burst_and_restored(tmp_path):
    clock = MovableClock(datetime(2027, 1, 4, 10, 0, tzinfo=TZ))
    pbx = ScriptedPbx(clock)
    agents = [str(1001 + i) for i in range(30)]
    for agent in agents:
        pbx.truth[agent] = (1, False, "")
    await pbx.start()
    floor = LiveFloor(tmp_path, pbx, clock, agents)
    try:
        await floor.start()
        rng = random.Random(4)
        connections = pbx.connections
        for i in range(900):
            if i in (300, 600):
                pbx.drop_mid_message()  # half a message, then the TCP connection is gone
            pbx.set(rng.choice(agents), rng.choice(STATES))  # the floor moves on, connected or not
            if i % 10 == 0:
                await asyncio.sleep(0.005)
        await floor.wait_matches_pbx()
        assert pbx.connections >= connections + 2  # reconnected after each drop
        assert floor.adapter.skipped >= 1  # the torn message was counted and skipped, not mis-read
        await floor.check_after_fault(tmp_path)
    finally:
        await floor.runtime.stop()
        await pbx.stop()


async def test_pbx_restarted_with_a_different_snapshot_replaces_the_floor(tmp_path):
    clock = MovableClock(datetime(2027, 1, 4, 10, 0, tzinfo=TZ))
    pbx = ScriptedPbx(clock)
    agents = ["1001", "1002", "1003", "1004", "1005", "1006"]
    for agent in agents[:5]:
        pbx.truth[agent] = (1, False, "")
    await pbx.start()
    port = pbx.port
    floor = LiveFloor(tmp_path, pbx, clock, agents)
    try:
        await floor.start()
        pbx.set("1002", "on_call")
        pbx.set("1003", "short_break")
        await floor.wait_matches_pbx()
        assert floor.states()["1003"] == "short_break"

        await pbx.stop()  # PBX restart: while it is down the agents move on
        pbx.truth.pop("1001")  # signed out
        pbx.truth["1002"] = (1, True, MEAL)  # went to 用餐
        pbx.truth["1003"] = (1, False, "")  # back from 小休
        pbx.truth["1006"] = (1, False, "")  # signed in
        await asyncio.sleep(0.3)
        await pbx.start(port)
        await floor.wait_matches_pbx()
        states = floor.states()
        assert states["1001"] == "logged_out"  # the new snapshot, not a merge with what was known
        assert states["1002"] == "meal" and states["1003"] == "ready" and states["1006"] == "ready"
        assert floor.runtime.agent_budget("1003").short_break_used_s > 0  # the break it took still counts
        await floor.check_after_fault(tmp_path)
    finally:
        await floor.runtime.stop()
        await pbx.stop()


async def test_clock_jumps_forward_hours_and_back_minutes_without_a_findings_storm(tmp_path):
    start = datetime(2027, 1, 4, 9, 0, tzinfo=TZ)
    clock = MovableClock(start)
    pbx = ScriptedPbx(clock)
    agents = [str(1001 + i) for i in range(12)]
    for agent in agents:
        pbx.truth[agent] = (1, False, "")
    await pbx.start()
    floor = LiveFloor(tmp_path, pbx, clock, agents)
    outputs: list = []
    try:
        await floor.start()
        from wfm.runtime import OutputPublished

        floor.runtime.subscribe(lambda update: outputs.append(update.output) if isinstance(update, OutputPublished) else None)
        pbx.set("1001", "short_break")
        clock.jump(timedelta(minutes=4))
        pbx.set("1001", "ready")  # a 4-minute 小休 taken
        await floor.wait_matches_pbx()
        await floor.settle()
        used_before = floor.runtime.agent_budget("1001").short_break_used_s
        assert 200 <= used_before <= 300

        pbx.set("1003", "short_break")  # on a 小休 and ...
        pbx.set("1004", "not_ready")  # ... off post when the clock leaps
        await floor.wait_matches_pbx()
        await floor.settle()
        clock.jump(timedelta(hours=3))  # the host clock (and the PBX's Timestamp) leaps forward
        await asyncio.sleep(1.5)  # a few ticks at the new time
        for agent in agents[:6]:
            pbx.set(agent, "on_call")
        clock.jump(timedelta(minutes=-10))  # ... and is stepped back by NTP
        for agent in agents[:6]:
            pbx.set(agent, "ready")
        pbx.set("1002", "short_break")
        await floor.wait_matches_pbx()
        await asyncio.sleep(1.5)
        await floor.settle()

        assert floor.runtime.running and not [t for t in floor.runtime._tasks if t.done()]
        findings = Counter((getattr(o, "type", None) or type(o).__name__, getattr(o, "rule", None),
                            getattr(o, "agent", None)) for o in outputs)
        fired = {(rule, agent) for (_, rule, agent) in findings}
        # the leap is real time as far as the floor knows: the overrun and the off-post breach fire ...
        assert ("SHORT_BREAK_TOO_LONG", "1003") in fired and ("SERIOUS_LATE", "1004") in fired, findings
        repeated = {key: n for key, n in findings.items() if n > 1 and key[1] is not None}
        assert not repeated, f"the same finding fired more than once after the jumps: {repeated}"
        assert len(outputs) <= 3 * len(agents), outputs  # no storm
        used_after = floor.runtime.agent_budget("1001").short_break_used_s
        assert used_after >= used_before - 1e-6  # the jump did not reset the shift's 小休 budget
        await floor.check_after_fault(tmp_path)
    finally:
        await floor.runtime.stop()
        await pbx.stop()


# ───────────────────────────────────────────────────────────── children: disk full, SIGKILL


class StepClock:
    """The child's floor time: set from the events it submits (like a replay), tz-aware."""

    def __init__(self, value: datetime) -> None:
        self.value = value

    def now(self) -> datetime:
        return self.value


def child_events(start: datetime, count: int, offset: int = 0) -> list[AgentStateEvent]:
    agents = [str(1001 + i) for i in range(20)]
    cycle = [AgentState.READY, AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.READY, AgentState.RINGING]
    return [AgentStateEvent(ts=start + timedelta(seconds=0.5 * (offset + i)), agent=agents[(offset + i) % 20],
                            state=cycle[((offset + i) // 20) % len(cycle)], source="burst")
            for i in range(count)]


CHILD_T0 = datetime(2027, 1, 4, 9, 0, tzinfo=TZ)


async def _child_runtime(log_path: Path, clock: StepClock):
    from wfm.engine import FloorEngine
    from wfm.eventlog import open_log_from_config
    from wfm.runtime import Runtime

    config = config_for(log_path)
    runtime = Runtime(config, FloorEngine(config), open_log_from_config(config), [], clock)
    return config, runtime


def _say(**fields) -> None:
    sys.stdout.write(json.dumps(fields, ensure_ascii=False) + "\n")
    sys.stdout.flush()


async def child_burst(log_path: Path, total: int, offset: int, per_batch: int) -> None:
    """Submit `total` events in batches; print each acknowledged batch's last index (durable by then)."""
    clock = StepClock(CHILD_T0)
    config, runtime = await _child_runtime(log_path, clock)
    shifts = [ShiftEvent(ts=CHILD_T0, agent=str(1001 + i), start=CHILD_T0, end=CHILD_T0 + timedelta(hours=8))
              for i in range(20)]
    report = await runtime.start(prelude=lambda r: [] if r is not None and r.events else shifts)
    clock.value = max(CHILD_T0, report.last_ts) if report is not None and report.last_ts else CHILD_T0
    if offset:  # a restarted child first says what its floor looks like after the replay
        _say(view=comparable(runtime.engine.floor_view(clock.value)), at=clock.value.isoformat(),
             replayed=report.events if report else 0)
    events = child_events(CHILD_T0, total, offset)
    for start in range(0, total, per_batch):
        batch = events[start:start + per_batch]
        clock.value = batch[-1].ts
        await runtime.submit_many(batch)
        _say(acked=offset + start + len(batch) - 1)
    await runtime.stop()
    _say(done=True)


async def child_disk_full(log_path: Path, limit_extra: int) -> None:
    """Fill the log until the file-size limit refuses writes, then give the space back and go on."""
    clock = StepClock(CHILD_T0)
    config, runtime = await _child_runtime(log_path, clock)
    await runtime.start(prelude=None)
    events = child_events(CHILD_T0, 20000)
    index = 0

    async def submit(event) -> bool:
        clock.value = event.ts
        try:
            await runtime.submit(event)
        except Exception as exc:  # the refusal itself is what this child reports
            _say(refused=index, error=f"{type(exc).__name__}: {exc}")
            return False
        _say(acked=index)
        return True

    for index in range(50):
        assert await submit(events[index])
    sizes = [p.stat().st_size for p in (log_path, Path(f"{log_path}-wal")) if p.exists()]
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max(sizes) + limit_extra, hard))  # the disk is now "full"
    refused = 0
    index = 50
    while refused < 5 and index < 15000:
        if not await submit(events[index]):
            refused += 1
        index += 1
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space returns
    _say(space_back=index)
    for later in range(index, index + 30):
        await submit(events[later])
    _say(view=comparable(runtime.engine.floor_view(clock.value)), at=clock.value.isoformat())
    await runtime.stop()
    _say(done=True)


def run_child(argv: list[str]) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails with EFBIG instead of killing
    name, log_path = argv[0], Path(argv[1])
    if name == "burst":
        asyncio.run(child_burst(log_path, int(argv[2]), int(argv[3]), int(argv[4])))
    elif name == "disk-full":
        asyncio.run(child_disk_full(log_path, int(argv[2])))
    else:
        raise SystemExit(f"unknown child {name!r}")


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_disk_full_refuses_appends_loudly_and_loses_nothing_acknowledged(tmp_path):
    log_path = tmp_path / "full.sqlite"
    proc = _spawn("disk-full", str(log_path), "16384")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    lines = [json.loads(line) for line in out.splitlines()]
    acked = {line["acked"] for line in lines if "acked" in line}
    refused = [line for line in lines if "refused" in line]
    space_back = next(line["space_back"] for line in lines if "space_back" in line)
    assert refused, "the file-size limit never refused a write"
    for line in refused:  # loud, and it names the log and the storage error
        assert "LogWriteError" in line["error"] and str(log_path) in line["error"], line
    assert "not logged, not acted on" in err  # logged at ERROR by the runtime
    assert any(i >= space_back for i in acked), "appends did not resume once space returned"
    # nothing acknowledged lost: every acked event is in the log, no refused one is
    expected = child_events(CHILD_T0, max(acked) + 1)
    logged = {(body["agent"], body["ts"]) for body in logged_events(log_path)}
    for index in acked:
        event = msgspec.to_builtins(expected[index])
        assert (event["agent"], event["ts"]) in logged, index
    for line in refused:
        event = msgspec.to_builtins(expected[line["refused"]])
        assert (event["agent"], event["ts"]) not in logged, line
    verify = wfm_log_verify(tmp_path, log_path)
    assert verify.returncode == 0 and "chain intact" in verify.stdout, verify.stdout + verify.stderr
    view = next(line for line in lines if "view" in line)
    config = config_for(log_path)
    assert replayed_view(config, log_path, datetime.fromisoformat(view["at"])) == view["view"]


def test_sigkill_mid_burst_then_restart_keeps_every_acknowledged_event(tmp_path):
    log_path = tmp_path / "killed.sqlite"
    proc = _spawn("burst", str(log_path), "200000", "0", "50")
    acked = -1
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        acked = json.loads(line).get("acked", acked)
        if acked >= 3000 or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)  # mid-burst: batches are in flight in the log writer
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL and acked >= 0
    events = logged_events(log_path)
    burst = [body for body in events if body.get("source") == "burst"]
    assert len(burst) >= acked + 1  # every acknowledged event is there (maybe a few more, never fewer)
    sent = child_events(CHILD_T0, len(burst))
    assert [(b["agent"], b["state"]) for b in burst] == [(e.agent, e.state.value) for e in sent]  # in order, no gaps
    verify = wfm_log_verify(tmp_path, log_path)
    assert verify.returncode == 0 and "chain intact" in verify.stdout, verify.stdout + verify.stderr

    # restart on the same log: the replayed floor is the log's floor, and the chain goes on
    proc = _spawn("burst", str(log_path), "200", str(len(burst)), "50")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    lines = [json.loads(line) for line in out.splitlines()]
    first = lines[0]
    assert first["replayed"] >= len(burst)
    config = config_for(log_path)
    # the log as it stood after the kill, replayed independently, equals what the restarted runtime rebuilt
    assert _replay_prefix(config, log_path, len(events), datetime.fromisoformat(first["at"])) == first["view"]
    assert lines[-1] == {"done": True}
    assert len([b for b in logged_events(log_path) if b.get("source") == "burst"]) == len(burst) + 200
    verify = wfm_log_verify(tmp_path, log_path)
    assert verify.returncode == 0 and "chain intact" in verify.stdout, verify.stdout + verify.stderr


def _replay_prefix(config, log_path: Path, event_count: int, now: datetime) -> dict:
    """Replay only the first `event_count` logged events (the log as the crash left it)."""
    from wfm.engine import FloorEngine
    from wfm.eventlog import open_log

    engine = FloorEngine(config)
    log = open_log(f"sqlite:///{log_path}", readonly=True)
    seen = 0
    try:
        for record in log.read(kinds=["event", "audit"]):
            if record.kind == "audit":
                if record.body.get("type") == "tick":
                    engine.tick(record.ts.astimezone(config.floor.tz))
                continue
            if seen == event_count:
                break
            engine.handle(event_from_builtins(record.body))
            seen += 1
    finally:
        log.close()
    return comparable(engine.floor_view(now.astimezone(config.floor.tz)))


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        run_child(sys.argv[1:])
