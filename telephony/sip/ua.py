"""Asyncio SIP user agent: SUBSCRIBE to `dialog` (RFC 4235) or `presence` per agent, answer NOTIFYs.

Thin transport around the sans-I/O `protocol` and pure `mapping` modules.
Each agent gets its own subscription dialog (own Call-ID, From tag, CSeq),
Request-URI and To `sip:AGENT@HOST`, `Event`, `Accept` and a `Contact` naming
the one UDP socket the UA sends from and receives on (or, over TCP, the
connection it opened). Every NOTIFY is answered 200 OK at once, copying Via,
From, To, Call-ID and CSeq, before its body is read. Subscriptions are
refreshed before they expire, re-created after 481 or a server-side
termination, retried with backoff on timeouts or errors, answered with digest
credentials on 401/407. With `keepalive_s` > 0 the server is probed that
often: one accepted subscription (in turn) is refreshed, or, while none is,
an OPTIONS is sent (any final answer, even 404 or 405, proves the server is
there). No answer within `keepalive_s`, or a 481 to the probe's refresh (a
restarted server has forgotten our dialogs), ends `run()` with
`SipServerLost`, so the caller resubscribes from scratch. `close()`
unsubscribes (Expires: 0) within a second and prints nothing for the end of
its own subscriptions.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from telephony.capture import CaptureWriter
from telephony.sip.mapping import SipMapper, SipMappingError
from telephony.sip.protocol import (
    SipError,
    SipMessage,
    SipParser,
    encode_request,
    encode_response,
    new_branch,
    new_call_id,
    new_tag,
    parse_datagram,
    tag_of,
)
from wfm.clock import Clock, WallClock
from telephony.sip.settings import SipSettings
from wfm.events import BadLine, Event

log = logging.getLogger(__name__)

PACKAGES = {"dialog": "application/dialog-info+xml", "presence": "application/pidf+xml"}
T1, T2, TIMER_F = 0.5, 4.0, 32.0  # RFC 3261 non-INVITE transaction timers


class SipAuthFailed(Exception):
    """The server refused our digest credentials (or asked for some we do not have)."""


class SipServerLost(ConnectionError):
    """The server stopped answering the liveness check (OPTIONS)."""


@dataclass
class Subscription:
    agent: str
    package: str
    call_id: str
    from_tag: str
    cseq: int = 0
    to_tag: str | None = None
    expires: int = 3600
    active: bool = False
    ending: bool = False  # our own unsubscribe is under way
    branch: str = ""
    answered: asyncio.Event = field(default_factory=asyncio.Event)  # the current SUBSCRIBE got its final response
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # our unsubscribe is done (final NOTIFY or refusal)
    auth: tuple[str, str] | None = None  # (header name, value) for the next request
    auth_tries: int = 0
    failures: int = 0
    probe: bool = False  # the SUBSCRIBE in flight is the liveness check's refresh
    timer: asyncio.Task | None = None


def digest_authorization(challenge: str, method: str, uri: str, username: str, password: str, cnonce: str | None = None) -> str:
    """RFC 2617/8760 MD5 digest (qop=auth when offered) for a WWW-/Proxy-Authenticate challenge."""
    params: dict[str, str] = {}
    for part in challenge.partition(" ")[2].split(","):
        key, _, value = part.strip().partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise SipAuthFailed(f"digest algorithm {algorithm} not supported")
    ha1 = hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    fields = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"', "algorithm=MD5"]
    if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
        cnonce = cnonce or secrets.token_hex(8)
        response = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
        fields += ['qop=auth', 'nc=00000001', f'cnonce="{cnonce}"']
    else:
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


MAX_QUEUED_DATAGRAMS = 10_000


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue) -> None:
        self.queue = queue
        self.dropped = 0

    def datagram_received(self, data: bytes, addr) -> None:
        if self.queue.qsize() >= MAX_QUEUED_DATAGRAMS:  # a flood must not grow memory without bound
            self.dropped += 1
            if self.dropped == 1:
                log.warning("SIP UDP: more than %d datagrams waiting; dropping", MAX_QUEUED_DATAGRAMS)
            return
        self.queue.put_nowait(data)  # parsed by the UA's reader task, not here

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP error: %s", exc)


class SipSubscriber:
    """Subscribes to each agent at HOST:PORT and emits agent_state events (and BadLine records)."""

    def __init__(
        self,
        settings: SipSettings,
        host: str,
        port: int,
        agents: list[str],
        emit: Callable[[Event | BadLine], None],
        *,
        transport: str = "udp",
        packages: tuple[str, ...] = ("dialog",),
        username: str = "wfm",
        password: str = "",
        expires: int = 3600,
        clock: Clock | None = None,
        source: str = "sip",
        capture_path: str | None = None,
        on_active: Callable[[str], None] | None = None,
        keepalive_s: float = 0.0,
    ) -> None:
        if transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be udp or tcp, not {transport!r}")
        self.settings = settings
        self.host, self.port = host, port
        self.agents = list(dict.fromkeys(agents))
        self.emit = emit
        self.transport = transport
        self.packages = packages
        self.username, self.password = username, password
        self.expires = expires
        self.clock = clock or WallClock()
        self.mapper = SipMapper(settings, source)
        self.label = f"{host}:{port}"
        self.subscriptions: dict[str, Subscription] = {}  # by Call-ID
        self._queue: asyncio.Queue = asyncio.Queue()
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task] = set()
        self._local: tuple[str, int] = ("127.0.0.1", 0)
        self._closing = False
        self._failure: BaseException | None = None
        self._done = asyncio.Event()
        self.notifies = 0
        self.skipped = 0
        self.ended_by_peer = False
        self._on_active = on_active  # called with the agent id when a subscription is accepted (2xx)
        self.keepalive_s = keepalive_s
        self._probe: tuple[str, int] | None = None  # (Call-ID, CSeq) of the OPTIONS awaiting its answer
        self._probe_dialog: tuple[str, str] | None = None  # (Call-ID, From tag) the OPTIONS probes share
        self._probe_cseq = 0
        self._probe_answered = asyncio.Event()
        self.last_answer_at: float | None = None  # loop time of the server's last answer to anything
        self._capture = CaptureWriter(capture_path) if capture_path else None  # raw bytes as received, for `wfm ingest FILE`

    # ---- lifecycle ----------------------------------------------------------------
    async def run(self) -> None:
        """Open the transport, subscribe every agent, serve NOTIFYs until close() or a fatal error."""
        reader_task = await self._open()
        for agent in self.agents:
            for package in self.packages:
                self._subscribe_new(agent, package)
        if self.settings.wrap_up_s > 0:
            self._spawn(self._wrap_up_timer(), f"sip-wrap:{self.label}")
        if self.keepalive_s > 0:
            self._spawn(self._keepalive(), f"sip-keepalive:{self.label}")
        waiter = asyncio.ensure_future(self._done.wait())
        try:
            done, _ = await asyncio.wait({waiter, reader_task}, return_when=asyncio.FIRST_COMPLETED)
            if reader_task in done:
                reader_task.result()
        finally:
            waiter.cancel()
        if self._failure is not None:
            raise self._failure

    async def _open(self) -> asyncio.Task[None]:
        """Open the transport; returns the task that reads it (also kept as _reader_task, for close)."""
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            local_ip = self._route_ip()
            transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self._queue), local_addr=(local_ip, 0))
            self._udp = transport
            self._local = transport.get_extra_info("sockname")[:2]
            self._reader_task = loop.create_task(self._read_udp(), name=f"sip-udp:{self.label}")
        else:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 10)
            self._writer = writer
            self._local = writer.get_extra_info("sockname")[:2]
            self._reader_task = loop.create_task(self._read_tcp(reader), name=f"sip-tcp:{self.label}")
        return self._reader_task

    def _route_ip(self) -> str:
        """The local address the OS routes to the server from (named in Via and Contact)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((self.host, self.port))
                return probe.getsockname()[0]
            except OSError:
                return "0.0.0.0"

    def subscription_counts(self) -> tuple[int, int]:
        """(subscriptions the server has accepted and not ended, subscriptions wanted)."""
        active = sum(1 for s in self.subscriptions.values() if s.active and not s.ending)
        return active, len(self.agents) * len(self.packages)

    async def close(self, unsubscribe: bool = True, timeout: float = 1.0) -> None:
        """Unsubscribe (Expires: 0) and wait at most `timeout` for answers; no task is left running."""
        if self._closing:
            return
        self._closing = True
        if isinstance(self._failure, SipServerLost):
            unsubscribe = False  # nobody is there to answer
        for sub in list(self.subscriptions.values()):
            if sub.timer is not None:
                sub.timer.cancel()
            if unsubscribe and sub.active and (self._udp is not None or self._writer is not None):
                sub.ending = True
                sub.answered.clear()
                with contextlib.suppress(OSError, ConnectionError, RuntimeError):
                    self._send_subscribe(sub, expires=0)
        if unsubscribe:
            pending = [s.ended.wait() for s in self.subscriptions.values() if s.ending]
            if pending:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*pending), timeout)
        for task in list(self._tasks):
            task.cancel()
        if self._reader_task is not None:
            self._reader_task.cancel()
        await asyncio.gather(*self._tasks, *( [self._reader_task] if self._reader_task else []), return_exceptions=True)
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError, asyncio.TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), 1.0)
        if self._capture is not None:
            self._capture.close()
        self._done.set()

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- sending ----------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(data, (self.host, self.port))
        elif self._writer is not None:
            self._writer.write(data)

    def _contact(self) -> str:
        host, port = self._local
        host = f"[{host}]" if ":" in host else host
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"<sip:{self.username}@{host}:{port}{suffix}>"

    def _subscribe_new(self, agent: str, package: str) -> Subscription:
        sub = Subscription(agent, package, new_call_id(self._local[0]), new_tag(), expires=self.expires)
        self.subscriptions[sub.call_id] = sub
        self._send_subscribe(sub)
        return sub

    def _send_subscribe(self, sub: Subscription, expires: int | None = None) -> None:
        sub.cseq += 1
        sub.branch = new_branch()
        uri = f"sip:{sub.agent}@{self.host}"
        host, port = self._local
        via_host = f"[{host}]" if ":" in host else host
        headers = [
            ("Via", f"SIP/2.0/{self.transport.upper()} {via_host}:{port};rport;branch={sub.branch}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{self.username}@{self.host}>;tag={sub.from_tag}"),
            ("To", f"<{uri}>" + (f";tag={sub.to_tag}" if sub.to_tag else "")),
            ("Call-ID", sub.call_id),
            ("CSeq", f"{sub.cseq} SUBSCRIBE"),
            ("Contact", self._contact()),
            ("Event", sub.package),
            ("Accept", PACKAGES[sub.package]),
            ("Expires", str(sub.expires if expires is None else expires)),
            ("User-Agent", "wfm-floor"),
            ("Allow", "NOTIFY, OPTIONS"),
        ]
        if sub.auth is not None:
            headers.append(sub.auth)
        data = encode_request("SUBSCRIBE", uri, headers)
        sub.answered.clear()
        self._write(data)
        if self.transport == "udp":  # UDP: retransmit until answered (RFC 3261 timer E/F)
            if sub.timer is not None and not sub.timer.done():
                sub.timer.cancel()
            sub.timer = self._spawn(self._retransmit(sub, data, sub.branch), f"sip-retransmit:{sub.agent}")

    async def _retransmit(self, sub: Subscription, data: bytes, branch: str) -> None:
        interval, waited = T1, 0.0
        while waited < TIMER_F:
            try:
                await asyncio.wait_for(sub.answered.wait(), interval)
                return
            except TimeoutError:
                waited += interval
                if sub.branch != branch:
                    return
                self._write(data)
                interval = min(interval * 2, T2)
        if sub.ending:
            sub.ended.set()
            return
        log.warning("%s: no answer to SUBSCRIBE for %s in %.0f s; retrying", self.label, sub.agent, TIMER_F)
        self._retry_later(sub)

    def _retry_later(self, sub: Subscription) -> None:
        """Back off and start a fresh subscription (capped exponential, from config pbx.reconnect)."""
        self.subscriptions.pop(sub.call_id, None)
        self.mapper.forget_subscription(sub.agent, sub.call_id)
        reconnect = self.settings.reconnect
        delay = min(reconnect.max_s, reconnect.initial_s * 2 ** min(sub.failures, 20))

        async def later() -> None:
            await asyncio.sleep(delay)
            if not self._closing:
                fresh = self._subscribe_new(sub.agent, sub.package)
                fresh.failures = sub.failures + 1

        self._spawn(later(), f"sip-retry:{sub.agent}")

    def _schedule_refresh(self, sub: Subscription) -> None:
        if sub.timer is not None and not sub.timer.done():
            sub.timer.cancel()
        delay = sub.expires / 2 if sub.expires < 64 else sub.expires - 32  # refresh well before expiry

        async def refresh() -> None:
            await asyncio.sleep(max(1.0, delay))
            if not self._closing and sub.call_id in self.subscriptions:
                self._send_subscribe(sub)

        sub.timer = self._spawn(refresh(), f"sip-refresh:{sub.agent}")

    async def _keepalive(self) -> None:
        """Every keepalive_s, probe the server: refresh one accepted subscription (in turn), else OPTIONS.

        No answer within keepalive_s (UDP: retransmitted) → SipServerLost: the server is gone. A 481 to the
        refresh → SipServerLost too: the server has forgotten our dialogs (it restarted), so every
        subscription must start again. A refresh also proves the subscription itself, which OPTIONS cannot.
        """
        turn = 0
        while not self._closing:
            await asyncio.sleep(self.keepalive_s)
            ready = [s for s in self.subscriptions.values() if s.active and not s.ending and s.answered.is_set()]
            if ready:
                sub = ready[turn % len(ready)]
                turn += 1
                sub.probe = True
                self._send_subscribe(sub)
                answered = sub.answered
            else:
                self._send_options()
                answered = self._probe_answered
            try:
                await asyncio.wait_for(answered.wait(), self.keepalive_s)
            except TimeoutError:
                if not self._closing:
                    self._lost(f"no answer within {self.keepalive_s:g} s to the liveness check")
                return

    def _send_options(self) -> None:
        """An OPTIONS to the server (UDP: retransmitted until answered, RFC 3261 timer E)."""
        if self._probe_dialog is None:
            self._probe_dialog = (new_call_id(self._local[0]), new_tag())
        call_id, from_tag = self._probe_dialog
        self._probe_cseq += 1
        uri = f"sip:{self.host}:{self.port}"
        host, port = self._local
        via_host = f"[{host}]" if ":" in host else host
        headers = [
            ("Via", f"SIP/2.0/{self.transport.upper()} {via_host}:{port};rport;branch={new_branch()}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{self.username}@{self.host}>;tag={from_tag}"),
            ("To", f"<{uri}>"),
            ("Call-ID", call_id),
            ("CSeq", f"{self._probe_cseq} OPTIONS"),
            ("Contact", self._contact()),
            ("User-Agent", "wfm-floor"),
            ("Accept", "application/sdp"),
        ]
        data = encode_request("OPTIONS", uri, headers)
        self._probe = (call_id, self._probe_cseq)
        self._probe_answered.clear()
        self._write(data)
        if self.transport == "udp":
            self._spawn(self._retransmit_options(data, self._probe), f"sip-options:{self.label}")

    async def _retransmit_options(self, data: bytes, probe: tuple[str, int]) -> None:
        interval = T1
        while self._probe == probe and not self._probe_answered.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._probe_answered.wait(), interval)
            if self._probe == probe and not self._probe_answered.is_set():
                self._write(data)
                interval = min(interval * 2, T2)

    def _lost(self, why: str) -> None:
        """The server is gone or has forgotten us: end run() with SipServerLost (the caller resubscribes)."""
        log.warning("%s: %s; the server is lost", self.label, why)
        if self._failure is None:
            self._failure = SipServerLost(f"{self.label}: {why}")
        self._done.set()

    async def _wrap_up_timer(self) -> None:
        """Emit the `ready` that ends a computed wrap-up when its time comes (short naps: clocks may be simulated)."""
        while True:
            due = self.mapper.next_due()
            now = self.clock.now()
            await asyncio.sleep(0.5 if due is None else max(0.0, min(0.1, (due - now).total_seconds())))
            for event in self.mapper.advance(self.clock.now()):
                self._emit(event)

    # ---- receiving ----------------------------------------------------------------------
    async def _read_udp(self) -> None:
        line = 0
        while True:
            data = await self._queue.get()
            line += 1
            self._tee(data, datagram=True)
            self._handle(parse_datagram(data, line))

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        parser = SipParser()
        while True:
            data = await reader.read(65536)
            if not data:
                for error in parser.close():
                    self._handle(error)
                if not self._closing:
                    log.warning("%s: SIP server closed the TCP connection", self.label)
                    self.ended_by_peer = True  # the PBX ended the feed: a normal end for `wfm ingest`
                self._done.set()
                return
            self._tee(data)
            for item in parser.feed(data):
                self._handle(item)

    def _tee(self, data: bytes, datagram: bool = False) -> None:
        if self._capture is not None:
            self._capture.write(data, self.clock.now(), datagram=datagram)

    def _emit(self, item: Event | BadLine) -> None:
        """Hand an item to the caller; if the caller stops us (e.g. --max-events), stop emitting
        but keep reading, so that close() can still unsubscribe and answer the final NOTIFYs."""
        if self._failure is not None:
            return
        try:
            self.emit(item)
        except Exception as exc:  # the caller's reason to stop, re-raised by run()
            self._failure = exc
            self._done.set()

    def _skip(self, line: int, reason: str) -> None:
        self.skipped += 1
        log.log(logging.WARNING if self.skipped == 1 else logging.DEBUG, "%s: skipped SIP message %d: %s", self.label, line, reason)
        self._emit(BadLine(self.label, line, reason))

    def _handle(self, item: SipMessage | SipError) -> None:
        if isinstance(item, SipError):
            if item.partial is not None and item.partial.method == "NOTIFY":
                self._write(encode_response(item.partial, 200, "OK"))  # answered at once; its body is unusable
            self._skip(item.line, item.reason)
            return
        if item.is_request:
            self._on_request(item)
        else:
            self._on_response(item)

    def _on_request(self, request: SipMessage) -> None:
        if request.method == "NOTIFY":
            self._on_notify(request)
        elif request.method == "OPTIONS":
            self._write(encode_response(request, 200, "OK", [("Allow", "NOTIFY, OPTIONS")]))
        elif request.method != "ACK":
            self._write(encode_response(request, 405, "Method Not Allowed", [("Allow", "NOTIFY, OPTIONS")]))

    def _on_notify(self, request: SipMessage) -> None:
        sub = self.subscriptions.get(request.call_id or "")
        if sub is None or tag_of(request.get("To")) not in (sub.from_tag, None):
            self._write(encode_response(request, 481, "Subscription Does Not Exist"))
            return
        # at once, before the body is read; Contact because the first NOTIFY may create the dialog (RFC 6665 §4.1.3)
        self._write(encode_response(request, 200, "OK", [("Contact", self._contact())]))
        self.notifies += 1
        if sub.to_tag is None:
            sub.to_tag = tag_of(request.get("From"))
        state_header = (request.get("Subscription-State") or "active").lower()
        state = state_header.split(";")[0].strip()
        if sub.ending or self._closing:
            if state == "terminated":
                sub.ended.set()
            return  # the end of our own subscription prints nothing
        package = (request.get("Event") or sub.package).split(";")[0].strip().lower()
        now = self.clock.now().astimezone(self.settings.tz)
        try:
            if package == "presence":
                events = self.mapper.presence_notify(sub.agent, sub.call_id, request.body, now)
            else:
                events = self.mapper.dialog_notify(sub.agent, sub.call_id, request.body, now)
        except SipMappingError as exc:
            self._skip(request.line, f"NOTIFY for {sub.agent}: {exc}")
            events = []
        for event in events:
            self._emit(event)
        if state == "terminated":
            reason = dict(p.strip().partition("=")[::2] for p in state_header.split(";")[1:]).get("reason", "")
            sub.active = False
            if sub.timer is not None:
                sub.timer.cancel()
            if reason in ("rejected", "noresource"):
                log.error("%s: subscription to %s ended by the server (%s)", self.label, sub.agent, reason)
                self.subscriptions.pop(sub.call_id, None)
            else:
                self.subscriptions.pop(sub.call_id, None)
                self.mapper.forget_subscription(sub.agent, sub.call_id)
                self._subscribe_new(sub.agent, sub.package)

    def _on_response(self, response: SipMessage) -> None:
        cseq = response.cseq
        if (response.status or 0) >= 100:
            self.last_answer_at = asyncio.get_running_loop().time()
        if self._probe is not None and cseq is not None and (response.call_id, cseq[0]) == self._probe and cseq[1] == "OPTIONS":
            if (response.status or 0) >= 200:
                self._probe_answered.set()  # any final answer, even 404/405: the server is there
            return
        sub = self.subscriptions.get(response.call_id or "")
        if sub is None or cseq is None or cseq[1] != "SUBSCRIBE" or cseq[0] != sub.cseq:
            return  # a stray or late response
        status = response.status or 0
        if status < 200:
            return
        sub.answered.set()
        probe, sub.probe = sub.probe, False
        if sub.ending:
            if status >= 300:
                sub.ended.set()  # refused: no final NOTIFY will come
            return
        if 200 <= status < 300:
            sub.to_tag = sub.to_tag or tag_of(response.get("To"))
            expires = response.get("Expires")
            if expires and expires.strip().isdigit():
                sub.expires = int(expires.strip())
            sub.active, sub.failures, sub.auth_tries = True, 0, 0
            self._schedule_refresh(sub)
            if self._on_active is not None:
                self._on_active(sub.agent)
        elif status in (401, 407):
            header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            challenge = response.get(header)
            if not self.password or challenge is None or sub.auth_tries >= 1:
                self._fatal(SipAuthFailed(f"{self.label}: {status} {response.reason} for {sub.agent}"
                                          + ("" if self.password else " (no secret configured)")))
                return
            sub.auth_tries += 1
            uri = f"sip:{sub.agent}@{self.host}"
            name = "Authorization" if status == 401 else "Proxy-Authorization"
            try:
                sub.auth = (name, digest_authorization(challenge, "SUBSCRIBE", uri, self.username, self.password))
            except SipAuthFailed as exc:
                self._fatal(exc)
                return
            self._send_subscribe(sub)
        elif status == 481 and probe:
            self._lost(f"the server no longer knows the subscription to {sub.agent} (481): it restarted")
        elif status == 481:
            log.info("%s: subscription to %s unknown to the server (481); subscribing again", self.label, sub.agent)
            self.subscriptions.pop(sub.call_id, None)
            self.mapper.forget_subscription(sub.agent, sub.call_id)
            self._subscribe_new(sub.agent, sub.package)
        elif status == 423:  # Interval Too Brief: use the server's minimum
            minimum = response.get("Min-Expires")
            if minimum and minimum.strip().isdigit():
                sub.expires = int(minimum.strip())
            self._send_subscribe(sub)
        elif status == 489:
            self._skip(response.line, f"server does not support Event: {sub.package} for {sub.agent} (489)")
            self.subscriptions.pop(sub.call_id, None)
        else:
            log.warning("%s: SUBSCRIBE for %s answered %d %s; retrying", self.label, sub.agent, status, response.reason)
            self._retry_later(sub)

    def _fatal(self, exc: BaseException) -> None:
        log.error("%s", exc)
        self._failure = exc
        self._done.set()
