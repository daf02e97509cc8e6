"""Outside-in conformance of live SIP ingest (docs/interfaces.md §3):
`wfm ingest --protocol sip --connect HOST:PORT --agents 1001,1002 --json` against a
plain-socket UDP stand-in for the PBX, checking the wire as the spec words it."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

WFM = [sys.executable, "-m", "wfm.cli"]


def parse(data: bytes):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers, body


def one(headers, name):
    return headers[name.lower()][0]


def dialog_body(agent: str, version: int, dialogs: str = "") -> bytes:
    return (f'<?xml version="1.0"?>\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" '
            f'state="full" entity="sip:{agent}@127.0.0.1">{dialogs}</dialog-info>').encode()


def test_sip_udp_subscribe_notify_and_200_ok(tmp_path):
    pbx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pbx.bind(("127.0.0.1", 0))
    pbx.settimeout(20)
    port = pbx.getsockname()[1]
    proc = subprocess.Popen([*WFM, "ingest", "--protocol", "sip", "--connect", f"127.0.0.1:{port}",
                             "--agents", "1001,1002", "--max-events", "3", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    subs, oks, problems = {}, [], []
    try:
        while len(subs) < 2:
            data, addr = pbx.recvfrom(65535)
            start, h, _ = parse(data)
            if not start.startswith("SUBSCRIBE"):
                continue
            agent = re.search(r"sip:(\d+)@", start).group(1)
            subs[agent] = (start, h, addr)
            to_tag = f"pbx{agent}"
            resp = ("SIP/2.0 200 OK\r\n" + "".join(f"Via: {v}\r\n" for v in h["via"]) +
                    f"From: {one(h, 'from')}\r\nTo: {one(h, 'to')};tag={to_tag}\r\nCall-ID: {one(h, 'call-id')}\r\n"
                    f"CSeq: {one(h, 'cseq')}\r\nExpires: 600\r\nContact: <sip:pbx@127.0.0.1:{port}>\r\n"
                    "Content-Length: 0\r\n\r\n")
            pbx.sendto(resp.encode(), addr)
        notifies = [("1001", 0, ""), ("1002", 0, '<dialog id="x" direction="recipient"><state>confirmed</state>'
                                                 '</dialog>'), ("1001", 1, '<dialog id="y" direction="recipient">'
                                                                           '<state>early</state></dialog>')]
        for n, (agent, version, dialogs) in enumerate(notifies, start=1):
            start, h, addr = subs[agent]
            contact = re.search(r"sip:[^@>]*@?([\d.]+):(\d+)", one(h, "contact") if "contact" in h else one(h, "m"))
            target = (contact.group(1), int(contact.group(2)))
            if target != addr:
                problems.append(f"Contact {target} is not the socket the SUBSCRIBE came from {addr}")
            body = dialog_body(agent, version, dialogs)
            tag = re.search(r"tag=([^;>]+)", one(h, "from")).group(1)
            notify = (f"NOTIFY {re.search(r'<([^>]+)>', one(h, 'contact')).group(1)} SIP/2.0\r\n"
                      f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-n{n}\r\n"
                      f"From: <sip:{agent}@127.0.0.1>;tag=pbx{agent}\r\n"
                      f"To: <sip:{agent}@127.0.0.1>;tag={tag}\r\nCall-ID: {one(h, 'call-id')}\r\n"
                      f"CSeq: {100 + n} NOTIFY\r\nEvent: dialog\r\nSubscription-State: active;expires=600\r\n"
                      f"Content-Type: application/dialog-info+xml\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            pbx.sendto(notify, target)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                data, _ = pbx.recvfrom(65535)
                rstart, rh, _ = parse(data)
                if rstart.startswith("SIP/2.0") and "NOTIFY" in one(rh, "cseq"):
                    oks.append((rstart, rh, notify))
                    break
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pbx.close()
    assert not problems, problems
    # one SUBSCRIBE dialog per agent, as the spec lists its headers
    assert len({one(h, "call-id") for _, h, _ in subs.values()}) == 2
    for agent, (start, h, _) in subs.items():
        assert start.split()[1].startswith(f"sip:{agent}@127.0.0.1")
        assert f"sip:{agent}@127.0.0.1" in one(h, "to")
        assert one(h, "event").split(";")[0] == "dialog"
        assert "application/dialog-info+xml" in one(h, "accept")
    # every NOTIFY answered 200 OK at once, copying Via, From, To, Call-ID and CSeq
    assert len(oks) == 3
    for rstart, rh, notify in oks:
        _, nh, _ = parse(notify)
        assert rstart.startswith("SIP/2.0 200")
        for name in ("via", "from", "call-id", "cseq"):
            assert one(rh, name) == one(nh, name), name
        assert one(rh, "to").startswith(one(nh, "to"))
    assert proc.returncode == 0, err.decode()
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert len(events) == 3
    assert [(e["agent"], e["state"]) for e in events] == [("1001", "ready"), ("1002", "on_call"), ("1001", "ringing")]


def _read_sip_messages(conn: socket.socket, want: int, buf: bytearray) -> list[bytes]:
    msgs = []
    while len(msgs) < want:
        while b"\r\n\r\n" in buf:
            head, _, rest = bytes(buf).partition(b"\r\n\r\n")
            length = int(re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head).group(1))
            if len(rest) < length:
                break
            msgs.append(head + b"\r\n\r\n" + rest[:length])
            del buf[: len(head) + 4 + length]
            if len(msgs) == want:
                return msgs
        chunk = conn.recv(65535)
        if not chunk:
            break
        buf.extend(chunk)
    return msgs


def test_sip_tcp_uses_its_connection_and_reads_several_messages_in_one_read():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(20)
    port = srv.getsockname()[1]
    proc = subprocess.Popen([*WFM, "ingest", "--protocol", "sip", "--connect", f"127.0.0.1:{port}",
                             "--agents", "2001,2002", "--transport", "tcp", "--max-events", "2", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        conn, _ = srv.accept()
        conn.settimeout(20)
        buf = bytearray()
        subs = [parse(m) for m in _read_sip_messages(conn, 2, buf)]
        burst = b""
        for start, h, _ in subs:
            agent = re.search(r"sip:(\d+)@", start).group(1)
            burst += ("SIP/2.0 200 OK\r\n" + "".join(f"Via: {v}\r\n" for v in h["via"]) +
                      f"From: {one(h, 'from')}\r\nTo: {one(h, 'to')};tag=p{agent}\r\nCall-ID: {one(h, 'call-id')}\r\n"
                      f"CSeq: {one(h, 'cseq')}\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n").encode()
            body = dialog_body(agent, 0, '<dialog id="z" direction="initiator"><state>trying</state></dialog>'
                               if agent == "2002" else "")
            tag = re.search(r"tag=([^;>]+)", one(h, "from")).group(1)
            burst += (f"NOTIFY sip:wfm@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK-{agent}\r\n"
                      f"From: <sip:{agent}@127.0.0.1>;tag=p{agent}\r\nTo: <sip:{agent}@127.0.0.1>;tag={tag}\r\n"
                      f"Call-ID: {one(h, 'call-id')}\r\nCSeq: 7 NOTIFY\r\nEvent: dialog\r\n"
                      f"Subscription-State: active;expires=600\r\nContent-Type: application/dialog-info+xml\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        conn.sendall(burst)  # four messages in one write
        replies = [parse(m) for m in _read_sip_messages(conn, 2, buf)]
        out, err = proc.communicate(timeout=20)
        conn.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        srv.close()
    assert [r[0].split()[:2] for r in replies] == [["SIP/2.0", "200"], ["SIP/2.0", "200"]]
    assert all("NOTIFY" in one(r[1], "cseq") for r in replies)
    assert proc.returncode == 0, err.decode()
    events = sorted((json.loads(line)["agent"], json.loads(line)["state"]) for line in out.decode().splitlines())
    assert events == [("2001", "ready"), ("2002", "not_ready")]


def test_sip_ctrl_c_stops_and_prints_nothing_for_its_own_unsubscribe():
    import signal

    pbx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pbx.bind(("127.0.0.1", 0))
    pbx.settimeout(1)
    port = pbx.getsockname()[1]
    proc = subprocess.Popen([*WFM, "ingest", "--protocol", "sip", "--connect", f"127.0.0.1:{port}",
                             "--agents", "3001", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    version = 0

    def answer(h, addr, agent="3001"):
        resp = ("SIP/2.0 200 OK\r\n" + "".join(f"Via: {v}\r\n" for v in h["via"]) +
                f"From: {one(h, 'from')}\r\nTo: {one(h, 'to')};tag=p{agent}\r\nCall-ID: {one(h, 'call-id')}\r\n"
                f"CSeq: {one(h, 'cseq')}\r\nExpires: {one(h, 'expires') if 'expires' in h else '600'}\r\n"
                "Content-Length: 0\r\n\r\n")
        pbx.sendto(resp.encode(), addr)

    def notify(h, addr, state, dialogs=""):
        nonlocal version
        body = dialog_body("3001", version, dialogs)
        version += 1
        tag = re.search(r"tag=([^;>]+)", one(h, "from")).group(1)
        pbx.sendto((f"NOTIFY sip:wfm@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{version}\r\n"
                    f"From: <sip:3001@127.0.0.1>;tag=p3001\r\nTo: <sip:3001@127.0.0.1>;tag={tag}\r\n"
                    f"Call-ID: {one(h, 'call-id')}\r\nCSeq: {10 + version} NOTIFY\r\nEvent: dialog\r\n"
                    f"Subscription-State: {state}\r\nContent-Type: application/dialog-info+xml\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body, addr)

    try:
        deadline = time.monotonic() + 20
        sub = None
        while sub is None and time.monotonic() < deadline:
            try:
                data, addr = pbx.recvfrom(65535)
            except TimeoutError:
                continue
            start, h, _ = parse(data)
            if start.startswith("SUBSCRIBE"):
                sub = (h, addr)
                answer(h, addr)
                notify(h, addr, "active;expires=600",
                       '<dialog id="c" direction="recipient"><state>confirmed</state></dialog>')
        assert sub is not None
        first = proc.stdout.readline()
        assert json.loads(first)["state"] == "on_call"
        proc.send_signal(signal.SIGINT)
        stopped_at = time.monotonic()
        while proc.poll() is None and time.monotonic() - stopped_at < 30:
            try:
                data, addr = pbx.recvfrom(65535)
            except TimeoutError:
                continue
            start, h, _ = parse(data)
            if start.startswith("SUBSCRIBE") and one(h, "expires") == "0":
                answer(h, addr)
                notify(h, addr, "terminated;reason=timeout")  # the PBX's final NOTIFY: an empty full set
        proc.wait(timeout=30)  # exits by itself after its unsubscribe (a bound on waiting, not a speed test)
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pbx.close()
    assert proc.returncode == 0
    assert rest == b""  # no 'ready' for the end of its own subscription
