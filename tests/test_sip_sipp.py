"""The SIP subscriber against SIPp acting as the PBX (UAS sending NOTIFY scenarios) over UDP and TCP."""
from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from conftest import require_tool
from telephony.sip.ua import SipSubscriber
from wfm.config import default_data, from_data, merge
from wfm.events import AgentStateEvent, BadLine
from wfm.commands.feeds import sip_settings

REPO = Path(__file__).resolve().parent.parent
DIALOG_NS = "urn:ietf:params:xml:ns:dialog-info"

pytestmark = pytest.mark.live


def free_port() -> int:
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def body(version: int, state: str, *dialogs: tuple[str, str, str]) -> str:
    inner = "".join(f'<dialog id="{i}" direction="{d}"><state>{s}</state></dialog>' for i, s, d in dialogs)
    return f'<?xml version="1.0"?>\n<dialog-info xmlns="{DIALOG_NS}" version="{version}" state="{state}" entity="sip:[service]@[local_ip]">{inner}</dialog-info>\n'


def notify(cseq: int, xml: str, *, sub_state: str = "active;expires=3600", length: str = "[len]") -> str:
    return f"""  <send><![CDATA[
NOTIFY [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$notifier];tag=[pid]SIPpTag01[call_number]
To: [$subscriber]
Call-ID: [call_id]
CSeq: {cseq} NOTIFY
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Event: dialog
Subscription-State: {sub_state}
Content-Type: application/dialog-info+xml
Content-Length: {length}

{xml}]]></send>
  <recv response="200"/>
"""


SUBSCRIBE_CHECKS = """    <action>
      <ereg regexp="^SUBSCRIBE sip:[0-9]+@127\\.0\\.0\\.1 SIP/2\\.0" search_in="msg" check_it="true" assign_to="rline"/>
      <ereg regexp="dialog" search_in="hdr" header="Event:" check_it="true" assign_to="ev"/>
      <ereg regexp="application/dialog-info\\+xml" search_in="hdr" header="Accept:" check_it="true" assign_to="acc"/>
      <ereg regexp="sip:[0-9]+@127\\.0\\.0\\.1" search_in="hdr" header="To:" check_it="true" assign_to="to"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="subscriber"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="notifier"/>
    </action>"""


def ok_response(expires: int) -> str:
    return f"""  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Expires: {expires}
Content-Length: 0

]]></send>
"""


UNSUBSCRIBE = """  <recv request="SUBSCRIBE">
    <action><ereg regexp="^ *0$" search_in="hdr" header="Expires:" check_it="true" assign_to="zero"/></action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Expires: 0
Content-Length: 0

]]></send>
"""


def scenario(steps: str, expires: int = 3600, tail: str = UNSUBSCRIBE) -> str:
    import re

    checks = sorted(set(re.findall(r'check_it="true" assign_to="(\w+)"', SUBSCRIBE_CHECKS + steps + tail)))
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="dialog notifier">
  <recv request="SUBSCRIBE" rrs="true">
{SUBSCRIBE_CHECKS}
  </recv>
{ok_response(expires)}{steps}{tail}  <Reference variables="{','.join(checks)}"/>
</scenario>
"""


FLOOR_STEPS = (
    notify(1, body(0, "full"))
    + notify(2, body(1, "full", ("c1", "early", "recipient")))
    + notify(3, body(2, "partial", ("c1", "confirmed", "recipient")))
    + notify(4, body(1, "full"))  # stale version: ignored
    + notify(5, body(3, "partial", ("c2", "early", "initiator")))  # an outgoing attempt while on a call: still on_call
    + notify(6, body(4, "partial", ("c1", "terminated", "recipient")))  # only the outgoing attempt left: not_ready
    + notify(7, body(5, "partial", ("c2", "terminated", "initiator")))  # nothing left: ready
)
FINAL = notify(8, body(6, "full"), sub_state="terminated;reason=timeout")  # the end of our own subscription


async def run_sipp(tmp_path: Path, xml: str, transport: str, calls: int, port: int):
    sipp = require_tool("sipp")["sipp"]
    path = tmp_path / "uas.xml"
    path.write_text(xml)
    errors = tmp_path / "sipp_errors.log"
    proc = await asyncio.create_subprocess_exec(
        sipp, "-sf", str(path), "-i", "127.0.0.1", "-p", str(port), "-t", "u1" if transport == "udp" else "t1",
        "-m", str(calls), "-nostdin", "-timeout", "25s", "-trace_err", "-error_file", str(errors),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=str(tmp_path))
    await asyncio.sleep(0.4)  # let SIPp bind its socket
    return proc, errors


def config():
    return from_data(merge(default_data(), {"pbx": {"reconnect": {"initial_s": 0.05, "max_s": 0.5, "jitter": 0.0}}}))


async def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_dialog_notifies_from_sipp_map_to_agent_states(tmp_path, transport):
    port = free_port()
    truncated = ""
    if transport == "udp":  # a NOTIFY cut off mid-body: answered, reported, skipped (UDP only: on TCP it would stall the stream)
        truncated = notify(9, body(9, "full", ("x", "confirmed", "recipient")), length="900")
    steps = FLOOR_STEPS + truncated
    proc, errors = await run_sipp(tmp_path, scenario(steps + "", tail=UNSUBSCRIBE + FINAL), transport, 2, port)
    items: list = []
    capture = tmp_path / "live.sip"
    subscriber = SipSubscriber(sip_settings(config()), "127.0.0.1", port, ["1001", "1002"], items.append, transport=transport, capture_path=str(capture))
    runner = asyncio.get_running_loop().create_task(subscriber.run())
    try:
        expected_skips = 2 if truncated else 0
        await wait_for(lambda: len([i for i in items if isinstance(i, AgentStateEvent)]) >= 10
                       and len([i for i in items if isinstance(i, BadLine)]) >= expected_skips)
        await asyncio.sleep(0.2)
        await asyncio.wait_for(subscriber.close(), 30)  # closes (a bound on waiting, not a speed test)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0, errors.read_text() if errors.exists() else "sipp failed"
    for agent in ("1001", "1002"):
        got = [i.state.value for i in items if isinstance(i, AgentStateEvent) and i.agent == agent]
        assert got == ["ready", "ringing", "on_call", "not_ready", "ready"], (agent, got)
    skipped = [i for i in items if isinstance(i, BadLine)]
    assert len(skipped) == expected_skips and all("cut off" in s.reason for s in skipped)
    assert len({s.call_id for s in subscriber.subscriptions.values()}) == 2
    # the tee replays to the same floor: `wfm ingest --protocol sip` on what was received
    from telephony.capture import read_capture
    from telephony.sip.offline import parse_capture

    replayed = list(parse_capture(read_capture(capture), sip_settings(config()), str(capture)))
    live_states = [(i.agent, i.state) for i in items if isinstance(i, AgentStateEvent)]
    assert [(e.agent, e.state) for e in replayed if isinstance(e, AgentStateEvent)] == live_states
    bad = [e for e in replayed if isinstance(e, BadLine)]
    assert [b.reason for b in bad] == [s.reason for s in skipped]  # datagram boundaries kept by the side file


async def test_refresh_comes_before_expiry_and_481_makes_a_new_subscription(tmp_path):
    port = free_port()
    refresh_then_481 = """  <recv request="SUBSCRIBE" timeout="1900">
    <action><ereg regexp="^ *[1-9][0-9]*$" search_in="hdr" header="Expires:" check_it="true" assign_to="exp"/></action>
  </recv>
  <send><![CDATA[
SIP/2.0 481 Subscription Does Not Exist
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"""
    xml = scenario(notify(1, body(0, "full")), expires=2, tail=refresh_then_481)
    proc, errors = await run_sipp(tmp_path, xml, "udp", 1, port)
    items: list = []
    subscriber = SipSubscriber(sip_settings(config()), "127.0.0.1", port, ["1001"], items.append, transport="udp")
    runner = asyncio.get_running_loop().create_task(subscriber.run())
    try:
        await wait_for(lambda: any(isinstance(i, AgentStateEvent) for i in items))
        first = next(iter(subscriber.subscriptions))
        code = await asyncio.wait_for(proc.wait(), 20)
        assert code == 0, errors.read_text() if errors.exists() else "sipp failed"
        await wait_for(lambda: subscriber.subscriptions and first not in subscriber.subscriptions)
        (fresh,) = subscriber.subscriptions.values()
        assert fresh.agent == "1001" and fresh.call_id != first and fresh.cseq == 1
    finally:
        await subscriber.close(unsubscribe=False)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_cli_ctrl_c_stops_and_prints_nothing_for_its_own_unsubscribe(tmp_path):
    port = free_port()
    proc_sipp, errors = await run_sipp(tmp_path, scenario(notify(1, body(0, "full")), tail=UNSUBSCRIBE + FINAL), "udp", 1, port)
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wfm.cli", "ingest", "--protocol", "sip", "--connect", f"127.0.0.1:{port}", "--agents", "1001", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO))
    first = await asyncio.wait_for(cli.stdout.readline(), 15)
    assert b'"agent":"1001"' in first and b'"state":"ready"' in first
    cli.send_signal(signal.SIGINT)
    rest, err = await asyncio.wait_for(cli.communicate(), 30)
    assert rest == b"", rest  # nothing printed for the end of its own subscription
    assert cli.returncode == 0, err.decode()
    code = await asyncio.wait_for(proc_sipp.wait(), 20)
    assert code == 0, errors.read_text() if errors.exists() else "sipp failed"


async def test_digest_challenge_is_answered_with_valid_credentials(tmp_path):
    port = free_port()
    challenge_then_verify = f"""<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="digest notifier">
  <recv request="SUBSCRIBE"/>
  <send><![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="floor", nonce="4f2a9c1e", algorithm=MD5, qop="auth"
Content-Length: 0

]]></send>
  <recv request="SUBSCRIBE" rrs="true">
    <action>
      <verifyauth assign_to="authvalid" username="wfm" password="floor-secret"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="subscriber"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="notifier"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good"/>
  <recv request="INFO" timeout="300"/>
  <label id="good"/>
{ok_response(3600)}{notify(1, body(0, "full"))}{UNSUBSCRIBE}{FINAL}  <Reference variables="zero"/>
</scenario>
"""
    proc, errors = await run_sipp(tmp_path, challenge_then_verify, "udp", 1, port)
    items: list = []
    subscriber = SipSubscriber(sip_settings(config()), "127.0.0.1", port, ["1001"], items.append, transport="udp", username="wfm", password="floor-secret")
    runner = asyncio.get_running_loop().create_task(subscriber.run())
    try:
        await wait_for(lambda: any(isinstance(i, AgentStateEvent) for i in items))
        await subscriber.close()
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0, errors.read_text() if errors.exists() else "sipp failed"
    assert [(i.agent, i.state.value) for i in items] == [("1001", "ready")]


async def test_digest_challenge_without_a_secret_stops_with_auth_failed(tmp_path):
    from telephony.sip.ua import SipAuthFailed

    port = free_port()
    refuse = """<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="refuser">
  <recv request="SUBSCRIBE"/>
  <send><![CDATA[
SIP/2.0 407 Proxy Authentication Required
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Proxy-Authenticate: Digest realm="floor", nonce="77", algorithm=MD5
Content-Length: 0

]]></send>
</scenario>
"""
    proc, _ = await run_sipp(tmp_path, refuse, "udp", 1, port)
    subscriber = SipSubscriber(sip_settings(config()), "127.0.0.1", port, ["1001"], lambda item: None, transport="udp")
    with pytest.raises(SipAuthFailed, match="407"):
        await asyncio.wait_for(subscriber.run(), 10)
    await subscriber.close(unsubscribe=False)
    await asyncio.wait_for(proc.wait(), 20)


def presence_notify(cseq: int, activity: str, sub_state: str = "active;expires=3600") -> str:
    acts = f"<rpid:{activity}/>" if activity else ""
    pidf = ('<?xml version="1.0"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
            'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="pres:[service]@[local_ip]"><tuple id="t1"><status><basic>open</basic>'
            f'</status></tuple><dm:person id="p1"><rpid:activities>{acts}</rpid:activities></dm:person></presence>\n')
    return (notify(cseq, pidf, sub_state=sub_state).replace("Event: dialog", "Event: presence")
            .replace("application/dialog-info+xml", "application/pidf+xml"))


async def test_presence_activities_from_sipp(tmp_path):
    port = free_port()
    xml = scenario(presence_notify(1, "") + presence_notify(2, "meal") + presence_notify(3, "away") + presence_notify(4, ""),
                   tail=UNSUBSCRIBE + presence_notify(5, "", sub_state="terminated;reason=timeout"))
    xml = xml.replace('<ereg regexp="dialog" search_in="hdr" header="Event:"', '<ereg regexp="presence" search_in="hdr" header="Event:"')
    xml = xml.replace('regexp="application/dialog-info\\+xml"', 'regexp="application/pidf\\+xml"')
    proc, errors = await run_sipp(tmp_path, xml, "udp", 1, port)
    items: list = []
    subscriber = SipSubscriber(sip_settings(config()), "127.0.0.1", port, ["1001"], items.append, transport="udp", packages=("presence",))
    runner = asyncio.get_running_loop().create_task(subscriber.run())
    try:
        await wait_for(lambda: len(items) >= 4)
        await asyncio.sleep(0.1)
        await subscriber.close()
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0, errors.read_text() if errors.exists() else "sipp failed"
    assert [(i.state.value, i.reason) for i in items] == [("ready", None), ("meal", "meal"), ("not_ready", "away"), ("ready", None)]


async def test_tcp_server_closing_the_connection_ends_the_run_normally():
    async def notifier(reader, writer):
        await reader.readuntil(b"\r\n\r\n")  # the SUBSCRIBE
        writer.close()

    server = await asyncio.start_server(notifier, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    subscriber = SipSubscriber(sip_settings(config()), "127.0.0.1", port, ["1001"], lambda item: None, transport="tcp")
    await asyncio.wait_for(subscriber.run(), 10)  # returns, does not raise
    assert subscriber.ended_by_peer
    await subscriber.close()
    server.close()
    await server.wait_closed()


async def test_sip_adapter_streams_a_snapshot_between_resync_markers_then_changes(tmp_path):
    from telephony.adapter import ConnectionState
    from telephony.sip.client import SipAdapter
    from wfm.events import ResyncEvent

    port = free_port()
    steps = notify(1, body(0, "full")) + notify(2, body(1, "full", ("c1", "early", "recipient")))
    proc, errors = await run_sipp(tmp_path, scenario(steps, tail=UNSUBSCRIBE + FINAL), "udp", 2, port)
    adapter = SipAdapter(sip_settings(config()), host="127.0.0.1", port=port, agents=["1001", "1002"], source="sip-test")
    events = []

    async def consume():
        async for event in adapter.stream():
            events.append(event)
            if sum(isinstance(e, AgentStateEvent) and e.state.value == "ringing" for e in events) == 2:
                return

    await asyncio.wait_for(consume(), 15)
    health = adapter.health(adapter.clock.now())
    refused = await adapter.set_paused("1001", True, "小休")
    await adapter.close()
    code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0, errors.read_text() if errors.exists() else "sipp failed"
    assert isinstance(events[0], ResyncEvent) and events[0].phase == "begin"
    end = next(i for i, e in enumerate(events) if isinstance(e, ResyncEvent) and e.phase == "end")
    snapshot = events[1:end]
    assert {e.agent for e in snapshot} == {"1001", "1002"}  # each agent's first NOTIFY is inside the snapshot
    for agent in ("1001", "1002"):
        states = [e.state.value for e in events if isinstance(e, AgentStateEvent) and e.agent == agent]
        assert states == ["ready", "ringing"]
    assert health.connected and health.state is ConnectionState.CONNECTED and not health.stale
    assert not refused.ok and "cannot pause" in refused.detail
    assert adapter.health(adapter.clock.now()).state is ConnectionState.CLOSED
