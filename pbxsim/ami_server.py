"""A real asyncio Asterisk 18 AMI server over the simulated floor.

    sim = FloorSimulation(config, SimClock(start, speed))
    server = AmiServer(sim, users={"wfm": "secret"})
    await server.start()          # listens on 127.0.0.1:server.port, the floor runs
    ...
    await server.close()

`FloorSimulation` owns the model and steps it on the SimClock (a tick every
`tick_s` wall seconds), rolling over to the next day when one ends, and
broadcasts each happening as AMI event bytes to every logged-in client with
events on. `AmiServer` speaks the manager protocol: banner, Login (plain
Secret or MD5 Challenge), Events, Ping, QueueStatus, QueuePause, Logoff;
ActionID echoed on every response; several clients at once. The protocol
bytes come from ami_codec (sans-I/O); this file is only transport.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import timedelta

from pbxsim.ami_codec import (
    BANNER,
    Action,
    ActionError,
    ActionReader,
    AmiEventFormatter,
    epoch_stamp,
    format_message,
    interface_of,
    response,
)
from pbxsim.clock import SimClock
from pbxsim.model import FloorModel, Happening
from wfm.config import Config

log = logging.getLogger(__name__)

MAX_CLIENT_BUFFER = 4 * 1024 * 1024  # a client this far behind is disconnected, as Asterisk drops slow sessions
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


class FloorSimulation:
    """The simulated floor on a SimClock: one model per day, stepped by a tick task."""

    def __init__(
        self,
        config: Config,
        clock: SimClock,
        *,
        agents: int | None = None,
        seed: int | None = None,
        tick_s: float = 0.05,
    ) -> None:
        self.config = config
        self.clock = clock
        self.agents = agents
        self.seed = config.simulator.seed if seed is None else seed
        self.tick_s = tick_s
        self.formatter = AmiEventFormatter()
        self._listeners: list[Callable[[FloorModel, Happening, list[bytes]], None]] = []
        self._day_listeners: list[Callable[[FloorModel], None]] = []
        self._task: asyncio.Task | None = None
        start = clock.now()
        self.model = self._model_for(start.astimezone(config.floor.tz).date())
        if self.model.end_epoch <= start.timestamp():
            self.model = self._model_for(start.astimezone(config.floor.tz).date() + timedelta(days=1))
        self.model.advance_to(start)  # fast-forward silently: the floor as it stands at the clock's start

    def _model_for(self, day) -> FloorModel:
        # each day its own seed, derived from the base seed, so a rollover is as reproducible as day one
        return FloorModel(self.config, day, agents=self.agents, seed=self.seed + day.toordinal())

    @property
    def queues(self) -> tuple[str, ...]:
        return self.model.queues

    def subscribe(self, listener: Callable[[FloorModel, Happening, list[bytes]], None]) -> Callable[[], None]:
        """Call `listener(model, happening, ami_event_bytes)` for every happening; returns an unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def on_new_day(self, listener: Callable[[FloorModel], None]) -> Callable[[], None]:
        """Call `listener(model)` when the floor rolls over to a new day (its `model.shifts` are that day's roster)."""
        self._day_listeners.append(listener)
        return lambda: self._day_listeners.remove(listener) if listener in self._day_listeners else None

    def pump(self) -> int:
        """Step the model to the clock's now and broadcast what happened; returns the count."""
        now = self.clock.now()
        count = self._broadcast(self.model.advance_to(now))
        if self.model.finished:
            next_day = self.model.day + timedelta(days=1)
            log.info("simulated day %s over; starting %s", self.model.day, next_day)
            self.model = self._model_for(next_day)
            for listener in list(self._day_listeners):
                try:
                    listener(self.model)
                except Exception:
                    log.exception("simulator day listener failed")
            count += self._broadcast(self.model.advance_to(now))
        return count

    def _broadcast(self, happenings: list[Happening]) -> int:
        for happening in happenings:
            frames = self.formatter.format(self.model, happening)
            for listener in list(self._listeners):
                try:
                    listener(self.model, happening, frames)
                except Exception:  # one broken listener must not stop the floor
                    log.exception("simulator listener failed; unsubscribing it")
                    self._listeners.remove(listener)
        return len(happenings)

    def set_paused(self, agent: str, paused: bool, reason: str | None = None, queue: str | None = None):
        """Apply a PBX-side pause at the current simulated time (its events go out on the next pump)."""
        self.pump()  # bring the floor up to now first, so the pause happens at now
        return self.model.set_paused(agent, paused, reason, queue)

    def agent_for_interface(self, interface: str) -> str | None:
        """The agent behind `PJSIP/1001` (or a bare member name `1001`)."""
        for agent in self.model.agent_ids:
            if interface in (interface_of(agent), agent):
                return agent
        return None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="floor-simulation")

    async def _run(self) -> None:
        while True:
            try:
                self.pump()
            except Exception:
                log.exception("simulated floor step failed")
                raise
            await asyncio.sleep(self.tick_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # the step that failed was logged when it happened
                log.debug("simulated floor task had failed before stop", exc_info=True)


class _Session:
    """One manager connection."""

    def __init__(self, server: AmiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.actions = ActionReader()
        self.authenticated = False
        self.username: str | None = None
        self.events_on = True
        self.system_events = True  # Events: on/all/system (a Reload is class "system")
        self.challenge: str | None = None
        self.closing = False
        self.peer = writer.get_extra_info("peername")
        self._unsubscribe: Callable[[], None] | None = None

    def send(self, data: bytes) -> None:
        if self.closing or self.writer.is_closing():
            return
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > MAX_CLIENT_BUFFER:
            log.warning("AMI client %s too slow (%d bytes queued); disconnecting", self.peer,
                        self.writer.transport.get_write_buffer_size())
            self.close()

    def on_happening(self, model: FloorModel, happening: Happening, frames: list[bytes]) -> None:
        if self.authenticated and self.events_on:
            for frame in frames:
                self.send(frame)

    def close(self) -> None:
        self.closing = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if not self.writer.is_closing():
            self.writer.close()

    async def serve(self) -> None:
        self.writer.write(BANNER)
        self._unsubscribe = self.server.simulation.subscribe(self.on_happening)
        try:
            while not self.closing:
                data = await self.reader.read(65536)
                if not data:
                    break
                for item in self.actions.feed(data):
                    if isinstance(item, ActionError):
                        log.warning("AMI client %s: %s", self.peer, item.reason)
                        self.send(format_message([("Response", "Error"), ("Message", item.reason)]))
                        continue
                    self.handle(item)
                    if self.closing:
                        break
                if not self.closing:
                    await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    # -- actions
    def handle(self, action: Action) -> None:
        name = action.name.lower()
        if not name:
            self.send(response(action, "Error", ("Message", "Missing action in request")))
            return
        if not self.authenticated and name not in ("login", "challenge", "logoff"):
            self.send(response(action, "Error", ("Message", "Permission denied")))
            return
        handler = getattr(self, f"_action_{name}", None)
        if handler is None:
            self.send(response(action, "Error", ("Message", "Invalid/unknown command")))
            return
        handler(action)

    def _action_challenge(self, action: Action) -> None:
        if (action.get("authtype") or "").lower() != "md5":
            self.send(response(action, "Error", ("Message", "Must specify AuthType")))
            return
        self.challenge = str(secrets.randbelow(900_000_000) + 100_000_000)
        self.send(response(action, "Success", ("Challenge", self.challenge)))

    def _action_login(self, action: Action) -> None:
        username = action.get("username") or ""
        secret = self.server.users.get(username)
        ok = False
        if secret is not None:
            if (action.get("authtype") or "").lower() == "md5":
                key = (action.get("key") or "").lower()
                ok = self.challenge is not None and key == hashlib.md5((self.challenge + secret).encode()).hexdigest()
            else:
                ok = secrets.compare_digest((action.get("secret") or "").encode(), secret.encode())
        if not ok:
            log.warning("AMI login failed for %r from %s", username, self.peer)
            self.send(response(action, "Error", ("Message", "Authentication failed")))
            self.close()  # Asterisk ends the session after a failed login
            return
        self.authenticated = True
        self.username = username
        events = action.get("events")
        if events is not None:
            self.events_on = self._mask_on(events)
            self.system_events = self._system_on(events)
        self.send(response(action, "Success", ("Message", "Authentication accepted")))
        self.send(format_message([
            ("Event", "FullyBooted"), ("Privilege", "system,all"),
            ("Timestamp", epoch_stamp(self.server.simulation.clock.now())),
            ("Uptime", self.server.uptime_s()), ("LastReload", self.server.uptime_s()), ("Status", "Fully Booted")]))

    @staticmethod
    def _mask_on(mask: str) -> bool:
        words = {w.strip().lower() for w in mask.split(",") if w.strip()}
        if words <= {"off", "no", "false", "0"} or not words:
            return False
        return bool(words & {"on", "yes", "true", "1", "all", "agent"})

    @staticmethod
    def _system_on(mask: str) -> bool:
        words = {w.strip().lower() for w in mask.split(",") if w.strip()}
        return bool(words & {"on", "yes", "true", "1", "all", "system"})

    def _action_events(self, action: Action) -> None:
        mask = action.get("eventmask") or "on"
        self.events_on = self._mask_on(mask)
        self.system_events = self._system_on(mask)
        self.send(response(action, "Success", ("Events", "On" if self.events_on else "Off")))

    def _action_ping(self, action: Action) -> None:
        self.send(response(action, "Success", ("Ping", "Pong"), ("Timestamp", epoch_stamp(self.server.simulation.clock.now()))))

    def _action_logoff(self, action: Action) -> None:
        self.send(response(action, "Goodbye", ("Message", "Thanks for all the fish.")))
        self.close()

    def _action_queuestatus(self, action: Action) -> None:
        sim = self.server.simulation
        queue = action.get("queue") or None
        member = action.get("member") or None
        # an unknown queue gets an empty list, not an error, as in Asterisk
        self.send(response(action, "Success", ("EventList", "start"), ("Message", "Queue status will follow")))
        for frame in sim.formatter.queue_status(sim.model, action, queue, member):
            self.send(frame)

    def _action_queuepause(self, action: Action) -> None:
        if self.username in self.server.read_only:
            self.send(response(action, "Error", ("Message", "Permission denied")))
            return
        sim = self.server.simulation
        interface = action.get("interface")
        paused_text = (action.get("paused") or "").lower()
        if not interface or paused_text not in _TRUE | _FALSE:
            self.send(response(action, "Error", ("Message", "Need 'Interface' and 'Paused' parameters.")))
            return
        agent = sim.agent_for_interface(interface)
        if agent is None:
            self.send(response(action, "Error", ("Message", "Interface not found")))
            return
        queue = action.get("queue") or None
        reason = action.get("reason") or None
        result = sim.set_paused(agent, paused_text in _TRUE, reason, queue)
        log.info("AMI QueuePause %s paused=%s reason=%r queue=%r by %s: %s", interface, paused_text, reason, queue,
                 self.username, result.message)
        self.send(response(action, "Success" if result.ok else "Error", ("Message", result.message)))
        sim.pump()  # the member events follow the response at once


class AmiServer:
    """Asterisk Manager Interface on a localhost TCP port, serving a FloorSimulation."""

    def __init__(self, simulation: FloorSimulation, *, users: dict[str, str], host: str = "127.0.0.1", port: int = 0,
                 read_only: Iterable[str] = ()) -> None:
        if not users:
            raise ValueError("the AMI server needs at least one manager user")
        self.simulation = simulation
        self.users = dict(users)
        self.read_only = frozenset(read_only)  # manager users without `write = agent`: QueuePause is "Permission denied"
        self.host = host
        self.requested_port = port
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[asyncio.Task] = set()
        self._session_objects: set[_Session] = set()
        self._started_at = simulation.clock.now()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("AMI server not started")
        return self._server.sockets[0].getsockname()[1]

    def reload_queues(self, remove: Iterable[str] = ()) -> list[str]:
        """`queue reload all` with `remove` gone from queues.conf: those members leave without a
        QueueMemberRemoved; the only event is `Reload` (class system). Returns the agents removed."""
        sim = self.simulation
        sim.pump()
        removed = [agent for agent in remove if sim.model.remove_member(agent)]
        frame = format_message([("Event", "Reload"), ("Privilege", "system,all"),
                                ("Timestamp", epoch_stamp(sim.clock.now())), ("Module", "app_queue.so"),
                                ("Status", "Success")])
        for session in list(self._session_objects):
            if session.authenticated and session.system_events:
                session.send(frame)
        return removed

    def uptime_s(self) -> int:
        return int((self.simulation.clock.now() - self._started_at).total_seconds())

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.requested_port)
        self.simulation.start()
        log.info("AMI simulator listening on %s:%d (speed %gx)", self.host, self.port, self.simulation.clock.speed)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self._session_objects.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        try:
            await session.serve()
        finally:
            self._session_objects.discard(session)
            if task is not None:
                self._sessions.discard(task)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        await self.simulation.stop()
        if self._server is not None:
            self._server.close()
        for session in list(self._session_objects):
            session.close()
        if self._sessions:
            await asyncio.wait(list(self._sessions), timeout=2)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

