"""A throw-away Kamailio presence server for tests, and a small PUBLISH client.

`KamailioServer(kamailio, workdir)` writes its own kamailio.cfg (presence +
presence_dialoginfo + presence_xml on db_text tables copied from
tests/data/kamailio/dbtext), listens on 127.0.0.1 on one free port over UDP
and TCP, runs in the foreground (`-DD -E`) with its own run dir, and is
stopped (SIGTERM, then SIGKILL) by `stop()`. `restart()` keeps the port.

`Publisher(port, transport)` sends PUBLISH requests (RFC 3903) for an agent:
dialog-info (RFC 4235) or PIDF (RFC 3863 with RFC 4480 activities), keeping
the entity tag the server returns so a later PUBLISH modifies or removes it.
"""
from __future__ import annotations

import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "kamailio"
PRESENCE_MODULES = ("presence.so", "presence_xml.so", "presence_dialoginfo.so", "db_text.so")


def modules_dir() -> Path | None:
    """Where the Debian packages put Kamailio's modules (any architecture), if the presence modules are there."""
    for candidate in sorted(Path("/usr/lib").glob("*/kamailio/modules")) + [Path("/usr/lib/kamailio/modules")]:
        if all((candidate / name).exists() for name in PRESENCE_MODULES):
            return candidate
    return None


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


class KamailioServer:
    """One Kamailio presence server process on 127.0.0.1:port (UDP and TCP)."""

    def __init__(self, kamailio: str, workdir: Path, *, modules: Path | None = None, clean_period_s: int = 1) -> None:
        self.kamailio = kamailio
        self.modules = modules or modules_dir()
        if self.modules is None:
            raise RuntimeError(f"Kamailio's {', '.join(PRESENCE_MODULES)} not found (Debian: kamailio-presence-modules)")
        self.workdir = Path(workdir)
        self.port = free_port()
        self.clean_period_s = clean_period_s
        self.proc: subprocess.Popen | None = None
        self.db = self.workdir / "db"
        self.run_dir = self.workdir / "run"
        self.cfg = self.workdir / "kamailio.cfg"
        self.log_path = self.workdir / "kamailio.log"
        self.starts = 0

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        self.db.mkdir(exist_ok=True)
        for table in (DATA / "dbtext").iterdir():
            shutil.copyfile(table, self.db / table.name)
        template = (DATA / "kamailio.cfg").read_text(encoding="utf-8")
        text = (template.replace("@PORT@", str(self.port)).replace("@DB@", str(self.db))
                .replace("@MODULES@", str(self.modules)).replace("@CLEAN_PERIOD@", str(self.clean_period_s)))
        self.cfg.write_text(text, encoding="utf-8")

    def start(self, *, fresh: bool = True, timeout: float = 15.0) -> None:
        """Start (a fresh database unless `fresh=False`) and wait until it answers OPTIONS over UDP."""
        if fresh or not self.cfg.exists():
            self.write_config()
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        self.proc = subprocess.Popen(
            [self.kamailio, "-f", str(self.cfg), "-DD", "-E", "-Y", str(self.run_dir), "-P", str(self.run_dir / "kamailio.pid"),
             "-w", str(self.workdir), "-m", "32", "-M", "4"],
            stdout=log, stderr=log, start_new_session=True)
        self._log = log
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.answers_options():
                return
            time.sleep(0.1)
        raise RuntimeError(f"kamailio did not answer OPTIONS within {timeout} s:\n{self.log_tail()}")

    def answers_options(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            probe.settimeout(0.3)
            local = probe.getsockname()[1]
            request = (f"OPTIONS sip:127.0.0.1:{self.port} SIP/2.0\r\n"
                       f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n"
                       f"To: <sip:127.0.0.1:{self.port}>\r\nCall-ID: {secrets.token_hex(8)}@127.0.0.1\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            try:
                probe.sendto(request.encode(), ("127.0.0.1", self.port))
                return probe.recv(65535).startswith(b"SIP/2.0 200")
            except OSError:
                return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self._log.close()

    def restart(self, *, down_s: float = 0.0, fresh: bool = True) -> None:
        """Stop, stay down `down_s`, start again on the same port (a fresh database: the server forgets)."""
        self.stop()
        time.sleep(down_s)
        self.start(fresh=fresh)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def dialog_info(agent: str, version: int, state: str | None, *, direction: str = "recipient", dialog_id: str = "d1") -> bytes:
    """A full dialog-info document: one dialog in `state`, or none when `state` is None."""
    dialog = (f'<dialog id="{dialog_id}" direction="{direction}"><state>{state}</state></dialog>' if state else "")
    return (f'<?xml version="1.0"?>\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" '
            f'state="full" entity="sip:{agent}@127.0.0.1">{dialog}</dialog-info>').encode()


def pidf(agent: str, basic: str, activity: str | None = None) -> bytes:
    """A PIDF document with one tuple's basic status and, optionally, an RPID activity."""
    person = (f'<dm:person id="p1"><rpid:activities><rpid:{activity}/></rpid:activities></dm:person>' if activity else "")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" '
            f'entity="sip:{agent}@127.0.0.1"><tuple id="t1"><status><basic>{basic}</basic></status></tuple>{person}'
            '</presence>').encode()


class Publisher:
    """Sends PUBLISH to the server over UDP (one socket) or TCP (one connection per request)."""

    CONTENT_TYPES = {"dialog": "application/dialog-info+xml", "presence": "application/pidf+xml"}

    def __init__(self, port: int, transport: str = "udp") -> None:
        self.port = port
        self.transport = transport
        self.etags: dict[tuple[str, str], str] = {}
        self._cseq = itertools.count(1)

    def publish(self, agent: str, event: str, body: bytes | None, expires: int = 3600) -> int:
        """PUBLISH a body (None with expires 0: remove the publication); returns the status code.

        A 412 (the server forgot our entity tag, e.g. after a restart) is answered by publishing afresh.
        """
        status = self._publish(agent, event, body, expires)
        if status == 412 and body:
            self.etags.pop((agent, event), None)
            status = self._publish(agent, event, body, expires)
        return status

    def _publish(self, agent: str, event: str, body: bytes | None, expires: int) -> int:
        etag = self.etags.get((agent, event))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            if self.transport == "udp":
                sock.bind(("127.0.0.1", 0))
            else:
                sock.connect(("127.0.0.1", self.port))
            local = sock.getsockname()[1]
            headers = [
                f"PUBLISH sip:{agent}@127.0.0.1 SIP/2.0",
                f"Via: SIP/2.0/{self.transport.upper()} 127.0.0.1:{local};rport;branch=z9hG4bK{secrets.token_hex(8)}",
                "Max-Forwards: 70",
                f"From: <sip:{agent}@127.0.0.1>;tag={secrets.token_hex(4)}",
                f"To: <sip:{agent}@127.0.0.1>",
                f"Call-ID: {secrets.token_hex(10)}@127.0.0.1",
                f"CSeq: {next(self._cseq)} PUBLISH",
                f"Event: {event}",
                f"Expires: {expires}",
            ]
            if etag:
                headers.append(f"SIP-If-Match: {etag}")
            if body:
                headers.append(f"Content-Type: {self.CONTENT_TYPES[event]}")
            payload = body or b""
            data = ("\r\n".join(headers) + f"\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload
            if self.transport == "udp":
                sock.sendto(data, ("127.0.0.1", self.port))
            else:
                sock.sendall(data)
            response = b""
            while b"\r\n\r\n" not in response:
                chunk = sock.recv(65535)
                if not chunk:
                    break
                response += chunk
        status = int(response[8:11]) if response.startswith(b"SIP/2.0 ") else 0
        match = re.search(rb"\r\nSIP-ETag:\s*(\S+)", response, re.I)
        if expires == 0:
            self.etags.pop((agent, event), None)
        elif match:
            self.etags[(agent, event)] = match.group(1).decode()
        return status
