"""The SIP feed against a real Kamailio 5.6 presence server (docs/sip-presence.md, docs/pbx-mapping.md "SIP dialog-info").

Each test starts its own Kamailio (tests/kamailioserver.py: presence +
presence_dialoginfo + presence_xml on db_text, 127.0.0.1, UDP and TCP on one
free port) and drives it with PUBLISH requests the way phones do; the feed
under test is the `SipAdapter` that `wfm serve` runs, or `wfm serve` itself.
Figures that matter (how fast a lost server is found) are printed with -s.
"""
from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from conftest import IN_CI, require_tool
from support.kamailioserver import KamailioServer, Publisher, dialog_info, modules_dir, pidf

from telephony.adapter import ConnectionState
from telephony.sip.client import SipAdapter
from wfm.commands.feeds import sip_settings
from wfm.config import default_data, from_data, merge
from wfm.events import AgentStateEvent, ResyncEvent

pytestmark = pytest.mark.timeout(120)
WFM = [sys.executable, "-m", "wfm.cli"]


def kamailio_server(workdir, **kwargs) -> KamailioServer:
    """A KamailioServer, once the tool and its presence modules are known to be there (CI=true: must be)."""
    tools = require_tool("kamailio")
    if modules_dir() is None:
        message = "kamailio-presence-modules is not installed"
        if IN_CI:
            pytest.fail(message + " (CI=true: .ci/run must install it)")
        pytest.skip(message)
    return KamailioServer(tools["kamailio"], workdir, **kwargs)


@pytest.fixture
def kamailio(tmp_path):
    server = kamailio_server(tmp_path / "kamailio")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def config(**pbx):
    """The SIP adapter's settings from the shipped config with `pbx` keys merged over it (fast reconnects)."""
    return sip_settings(from_data(merge(default_data(), {"pbx": {"reconnect": {"initial_s": 0.2, "max_s": 2.0, "jitter": 0.1},
                                                                   **pbx}})))


class Feed:
    """A SipAdapter streamed in the background: its events, and waiting for one."""

    def __init__(self, adapter: SipAdapter) -> None:
        self.adapter = adapter
        self.events: list = []
        self._changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.adapter.stream():
            self.events.append(event)
            self._changed.set()

    async def wait(self, predicate, timeout: float, what: str = "the expected events"):
        """Wait until predicate(events) is truthy; returns its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not (result := predicate(self.events)):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout} s; got {self.events}")
            self._changed.clear()
            with contextlib_suppress_timeout():
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))
        return result

    def states(self, agent: str) -> list[tuple[str, str | None]]:
        return [(e.state.value, e.reason) for e in self.events if isinstance(e, AgentStateEvent) and e.agent == agent]

    def markers(self) -> list[str]:
        return [e.phase for e in self.events if isinstance(e, ResyncEvent)]

    def health(self):
        return self.adapter.health(self.adapter.clock.now())

    async def close(self) -> None:
        await self.adapter.close()
        await asyncio.wait_for(self._task, 5)


def contextlib_suppress_timeout():
    import contextlib

    return contextlib.suppress(TimeoutError)


def last_state(agent: str):
    def check(events):
        states = [e for e in events if isinstance(e, AgentStateEvent) and e.agent == agent]
        return states[-1] if states else None
    return check


def state_is(agent: str, state: str, reason: str | None = None):
    def check(events):
        last = last_state(agent)(events)
        return last is not None and last.state.value == state and (reason is None or last.reason == reason)
    return check


def ended(count: int):
    return lambda events: sum(isinstance(e, ResyncEvent) and e.phase == "end" for e in events) >= count


def adapter(server: KamailioServer, transport: str, agents=("1001", "1002"), cfg=None, **kwargs) -> SipAdapter:
    return SipAdapter(cfg or config(), host="127.0.0.1", port=server.port, agents=list(agents), transport=transport,
                      source=f"sip:kamailio:{transport}", **kwargs)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_an_agent_who_never_had_a_call_is_ready_and_the_feed_stays_healthy_across_refreshes(kamailio, transport):
    feed = Feed(adapter(kamailio, transport, expires_s=10, keepalive_s=0))
    try:
        await feed.wait(ended(1), 10, "resync end")
        # nothing was ever published: Kamailio answers each subscription with an empty NOTIFY body
        assert feed.states("1001") == [("ready", None)] and feed.states("1002") == [("ready", None)]
        health = feed.health()
        assert health.connected and health.state is ConnectionState.CONNECTED and not health.stale
        subscriber = feed.adapter._subscriber
        first_cseqs = {s.agent: s.cseq for s in subscriber.subscriptions.values()}
        # expires 10 s: refreshed after 5 s, and again after 10 s
        await feed.wait(lambda _: all(s.cseq >= first_cseqs[s.agent] + 2 and s.answered.is_set()
                                      for s in subscriber.subscriptions.values()), 15, "two refreshes")
        health = feed.health()
        assert health.connected and health.state is ConnectionState.CONNECTED and not health.stale, health
        assert health.detail == ""
        assert feed.markers() == ["begin", "end"]
    finally:
        await feed.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_dialog_publications_map_and_an_expired_one_returns_the_agent_to_ready(kamailio, transport):
    publisher = Publisher(kamailio.port, transport)
    assert publisher.publish("1002", "dialog", dialog_info("1002", 0, "confirmed")) == 200  # on a call before we subscribe
    feed = Feed(adapter(kamailio, transport, expires_s=20, keepalive_s=0))
    try:
        await feed.wait(ended(1), 10, "resync end")
        assert feed.states("1001") == [("ready", None)] and feed.states("1002") == [("on_call", None)]
        assert publisher.publish("1001", "dialog", dialog_info("1001", 0, "early")) == 200
        await feed.wait(state_is("1001", "ringing"), 5, "1001 ringing")
        assert publisher.publish("1001", "dialog", dialog_info("1001", 1, "confirmed"), expires=3) == 200
        published = time.monotonic()
        await feed.wait(state_is("1001", "on_call"), 5, "1001 on_call")
        # the phone stops publishing: the publication expires after 3 s, the server notifies an empty body
        await feed.wait(state_is("1001", "ready"), 3 + 10, "1001 ready after its publication expired")
        print(f"\n{transport}: an expired publication (3 s) gave ready after {time.monotonic() - published:.1f} s")
        assert feed.states("1001") == [("ready", None), ("ringing", None), ("on_call", None), ("ready", None)]
        assert publisher.publish("1002", "dialog", dialog_info("1002", 1, None)) == 200  # the call ends: no dialogs
        await feed.wait(state_is("1002", "ready"), 5, "1002 ready")
        assert feed.markers() == ["begin", "end"]
    finally:
        await feed.close()


async def test_an_expired_publication_gives_ready_at_the_next_probe_even_when_the_server_cleans_up_late(tmp_path):
    # Kamailio's default clean_period (100 s): the expiry itself notifies nobody for up to 100 s, but the
    # liveness probe refreshes the subscription and the server's answer leaves the expired publication out
    server = kamailio_server(tmp_path / "kamailio", clean_period_s=100)
    server.start()
    feed = Feed(adapter(server, "udp", agents=("1001",), keepalive_s=2.0))
    try:
        await feed.wait(ended(1), 10, "resync end")
        assert Publisher(server.port).publish("1001", "dialog", dialog_info("1001", 0, "confirmed"), expires=3) == 200
        published = time.monotonic()
        await feed.wait(state_is("1001", "on_call"), 5, "on_call")
        await feed.wait(state_is("1001", "ready"), 3 + 2 * 2 + 1, "ready at the first probe after the expiry")
        print(f"\nclean_period 100 s: an expired publication (3 s) gave ready after {time.monotonic() - published:.1f} s")
    finally:
        await feed.close()
        server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_pidf_away_and_closed_map_as_configured(kamailio, transport):
    publisher = Publisher(kamailio.port, transport)
    cfg = config(presence_closed="not_ready", pause_reasons={"小休": "short_break", "away": "short_break", "meal": "meal"})
    feed = Feed(adapter(kamailio, transport, cfg=cfg, presence=True, keepalive_s=0))
    default = Feed(adapter(kamailio, transport, agents=("1003",), presence=True, keepalive_s=0))
    try:
        await feed.wait(ended(1), 10, "resync end")
        await default.wait(ended(1), 10, "resync end")
        assert publisher.publish("1001", "presence", pidf("1001", "open", "away")) == 200
        await feed.wait(state_is("1001", "short_break", "away"), 5, "away as configured")
        assert publisher.publish("1001", "presence", pidf("1001", "closed")) == 200
        await feed.wait(state_is("1001", "not_ready"), 5, "closed as configured")
        assert publisher.publish("1001", "presence", pidf("1001", "open")) == 200
        await feed.wait(state_is("1001", "ready"), 5, "open again")
        # the shipped mapping: away → not_ready, closed → logged_out (never ready)
        assert publisher.publish("1003", "presence", pidf("1003", "open", "away")) == 200
        await default.wait(state_is("1003", "not_ready", "away"), 5, "away by default")
        # the phone withdraws its publication: Kamailio notifies a closed document
        assert publisher.publish("1003", "presence", None, expires=0) == 200
        await default.wait(state_is("1003", "logged_out"), 5, "closed by default")
        # a live call beats closed presence; when it ends, closed decides again
        assert publisher.publish("1003", "dialog", dialog_info("1003", 0, "confirmed")) == 200
        await default.wait(state_is("1003", "on_call"), 5, "on_call")
        assert publisher.publish("1003", "dialog", dialog_info("1003", 1, None)) == 200
        await default.wait(lambda events: len(default.states("1003")) == 5, 5, "the end of the call")
        assert publisher.publish("1003", "presence", pidf("1003", "open")) == 200
        await default.wait(state_is("1003", "ready"), 5, "ready once presence is open again")
        assert default.states("1003") == [("ready", None), ("not_ready", "away"), ("logged_out", None), ("on_call", None),
                                          ("logged_out", None), ("ready", None)]
    finally:
        await feed.close()
        await default.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("down_s", [0.0, 4.0], ids=["quick", "slow"])
async def test_a_server_restart_is_found_and_resynced(kamailio, transport, down_s):
    publisher = Publisher(kamailio.port, transport)
    feed = Feed(adapter(kamailio, transport, keepalive_s=3.0))  # the shipped keepalive_s
    try:
        await feed.wait(ended(1), 10, "resync end")
        assert publisher.publish("1001", "dialog", dialog_info("1001", 0, "confirmed")) == 200
        await feed.wait(state_is("1001", "on_call"), 5, "on_call")
        stopped = time.monotonic()
        await asyncio.to_thread(kamailio.stop)
        found = None
        if down_s:  # a server down for a while is found while it is down
            await feed.wait(lambda _: not feed.health().connected, 30, "the lost server found")
            found = time.monotonic() - stopped
            await asyncio.sleep(max(0.0, down_s - found))
        await asyncio.to_thread(kamailio.start)  # a fresh database: it forgot every subscription and publication
        await feed.wait(ended(2), 30, "a second resync")  # found by the keepalive (3 s) and resubscribed
        resynced = time.monotonic() - stopped
        await feed.wait(state_is("1001", "ready"), 10, "1001 ready (the restarted server has no publication)")
        health = feed.health()
        assert health.connected and not health.stale and health.reconnects == 1, health
        assert feed.markers() == ["begin", "end", "begin", "end"]  # balanced: one pair per resync
        assert publisher.publish("1002", "dialog", dialog_info("1002", 0, "early")) == 200
        await feed.wait(state_is("1002", "ringing"), 5, "live changes after the restart")
        print(f"\n{transport}, down {down_s:g} s: " + (f"found lost after {found:.1f} s, " if found else "")
              + f"resynced {resynced:.1f} s after the server stopped")
    finally:
        await feed.close()


async def test_the_resync_stays_one_begin_and_one_end_while_the_server_stays_down(kamailio):
    feed = Feed(adapter(kamailio, "tcp", keepalive_s=1.0))
    try:
        await feed.wait(ended(1), 10, "resync end")
        await asyncio.to_thread(kamailio.stop)
        await feed.wait(lambda _: feed.adapter._reconnector.backoff.failures >= 3, 20, "three failed attempts")
        assert feed.markers() == ["begin", "end", "begin"]
        assert not feed.health().connected and feed.health().stale
        await asyncio.to_thread(kamailio.start)
        await feed.wait(ended(2), 15, "the resync end")
        assert feed.markers() == ["begin", "end", "begin", "end"]
    finally:
        await feed.close()


ADMIN_HASH = "$argon2id$v=19$m=65536,t=3,p=4$nHDffhjb1DOmUqUrGEe/AA$fc+G1Ma/82RCAX8yHWf2jaFR57L0857lkGNd1COvbEE"


def http_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_wfm_serve_subscribes_to_presence_from_the_site_config_and_stays_healthy(kamailio, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "s.sqlite"}"\n'
        '[pbx]\npresence_closed = "logged_out"\n'
        f'[[pbx.feeds]]\nprotocol = "sip"\nhost = "127.0.0.1"\nport = {kamailio.port}\nusername = "wfm"\n'
        'secret_env = ""\nsecret = ""\ndevice = ""\nbaudrate = 9600\nbytesize = 8\nparity = "N"\nstopbits = 1\n'
        'profile = "auto"\nagents = ["1001", "1002"]\ntransport = "udp"\npresence = true\nexpires_s = 10\nkeepalive_s = 2\n'
        # `wfm serve` refuses the shipped demo logins: the site has its own admin
        f'[[users]]\nusername = "admin"\nrole = "admin"\nagent = ""\npassword_hash = "{ADMIN_HASH}"\n',
        encoding="utf-8")
    publisher = Publisher(kamailio.port)
    assert publisher.publish("1002", "presence", pidf("1002", "open", "meal")) == 200
    proc = subprocess.Popen([*WFM, "serve", "--port", "0", "--config", str(site)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, env=dict(os.environ, PYTHONUNBUFFERED="1"), text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("http://127.0.0.1:") and first.endswith("/wall"), first + proc.stderr.read()
        base = first[: -len("/wall")]
        deadline = time.monotonic() + 20
        health = http_json(base + "/api/health")
        # connected once the server answers; stale until every wanted subscription (2 agents x dialog + presence) is accepted
        while (health["feeds_connected"] != 1 or health["feeds_stale"] != 0) and time.monotonic() < deadline:
            time.sleep(0.2)
            health = http_json(base + "/api/health")
        assert health["feeds"] == 1 and health["feeds_connected"] == 1 and health["feeds_stale"] == 0, health
        # the subscription to 1002 (expires 10 s) is refreshed at 5 s and 10 s: still healthy, every second of it
        for _ in range(12):
            time.sleep(1)
            health = http_json(base + "/api/health")
            assert health["feeds_connected"] == 1 and health["feeds_stale"] == 0, health
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    presence = [line for line in kamailio.log_tail(400).splitlines() if "presence" in line.lower() and "error" in line.lower()]
    assert not presence, presence
    export = subprocess.run([*WFM, "log", "export", "--config", str(site), "--kinds", "event"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)
    states = [json.loads(line) for line in export.stdout.splitlines() if '"agent_state"' in line]
    assert export.returncode == 0 and states, export.stderr
    # the log holds what the feed saw: 1002 at a meal (PIDF activity), 1001 ready (no publication at all)
    seen = {}
    for record in states:
        if record["body"]["type"] == "agent_state":
            seen[record["body"]["agent"]] = record["body"]["state"]
    assert seen == {"1001": "ready", "1002": "meal"}, states


class Ingest:
    """`wfm ingest --connect` as a subprocess; its stdout lines read by a thread, stderr kept."""

    def __init__(self, port: int, transport: str, *extra: str) -> None:
        self.proc = subprocess.Popen([*WFM, "ingest", "--protocol", "sip", "--connect", f"127.0.0.1:{port}", "--agents", "1001",
                                      "--transport", transport, "--json", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.lines: queue.Queue = queue.Queue()
        self.errors: list[str] = []
        self._readers = [threading.Thread(target=lambda: [self.lines.put(json.loads(line)) for line in self.proc.stdout], daemon=True),
                         threading.Thread(target=lambda: self.errors.extend(self.proc.stderr), daemon=True)]
        for reader in self._readers:
            reader.start()

    def next(self, timeout: float = 30.0) -> dict:  # a loaded machine may take long to start the CLI
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s; stderr: {''.join(self.errors)}") from None

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for reader in self._readers:
            reader.join(5)
        return "".join(self.errors)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_wfm_ingest_subscribes_again_after_a_restart(kamailio, transport):
    ingest = Ingest(kamailio.port, transport)
    try:
        assert ingest.next()["state"] == "ready"
        kamailio.restart(down_s=1.0)
        # the fresh subscription's snapshot: ready again (the restarted server has no publication)
        assert ingest.next(15)["state"] == "ready"
        assert Publisher(kamailio.port, transport).publish("1001", "dialog", dialog_info("1001", 0, "confirmed")) == 200
        assert ingest.next(5)["state"] == "on_call"
        assert ingest.proc.poll() is None  # still running
    finally:
        stderr = ingest.stop()
    assert "subscribing again" in stderr, stderr


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_wfm_ingest_no_reconnect_exits_non_zero_with_a_message_when_the_server_goes(kamailio, transport):
    ingest = Ingest(kamailio.port, transport, "--no-reconnect")
    try:
        assert ingest.next()["state"] == "ready"
        kamailio.stop()
        code = ingest.proc.wait(20)
    finally:
        stderr = ingest.stop()
    assert code == 1, stderr
    assert f"127.0.0.1:{kamailio.port}" in stderr and "--no-reconnect" in stderr
