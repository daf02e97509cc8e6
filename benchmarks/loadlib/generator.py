"""The generator process: an Asterisk 18 AMI server driven by the floor model."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

from telephony.ami.mapping import CHECK_SUFFIX
from pbxsim.ami_codec import BANNER, ActionReader, ActionError, format_message, response
from benchmarks.loadlib.floor import Frame, LoadFloor
from benchmarks.loadlib.plan import emit, LoadPlan, PUMP_S, SECRET_ENV

logger = logging.getLogger("benchmarks.load")

# ───────────────────────────────────────────────────────────── generator process (AMI server)


class Generator:
    def __init__(self, plan: LoadPlan, secret: str, keys_path: Path) -> None:
        self.plan = plan
        self.secret = secret
        self.floor: LoadFloor | None = None
        self.writer: asyncio.StreamWriter | None = None  # the one live, synced session
        self.expected: Counter[str] = Counter()
        self.messages = 0
        self.bytes = 0
        self.sessions = 0
        self.max_buffer = 0
        self.snapshots = 0  # full QueueStatus snapshots (connect, resync): one agent_state per agent, one queue_status per queue
        self.checks = 0  # reconciliation QueueStatus lists answered
        self.check_items = 0
        self.latency_sent: dict[str, float] = {}
        self.keys = keys_path.open("w", encoding="utf-8")
        self.generating = True

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        actions = ActionReader()
        challenge = None
        authed = False
        writer.write(BANNER)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for action in actions.feed(data):
                    if isinstance(action, ActionError):
                        writer.write(format_message([("Response", "Error"), ("Message", action.reason)]))
                        continue
                    name = action.name.lower()
                    if name == "challenge":
                        challenge = str(secrets.randbelow(900_000_000) + 100_000_000)
                        writer.write(response(action, "Success", ("Challenge", challenge)))
                    elif name == "login":
                        key = (action.get("key") or "").lower()
                        ok = (challenge is not None and key == hashlib.md5((challenge + self.secret).encode()).hexdigest()) \
                            or secrets.compare_digest((action.get("secret") or "").encode(), self.secret.encode())
                        writer.write(response(action, "Success" if ok else "Error",
                                              ("Message", "Authentication accepted" if ok else "Authentication failed")))
                        if not ok:
                            return
                        authed = True
                    elif not authed:
                        writer.write(response(action, "Error", ("Message", "Permission denied")))
                    elif name == "queuestatus":
                        self._snapshot(action, writer)
                    elif name == "queuepause":
                        ok, frames = (False, []) if self.floor is None else self.floor.set_paused(
                            action.get("interface") or "", (action.get("paused") or "").lower() in ("1", "true", "yes"))
                        writer.write(response(action, "Success" if ok else "Error",
                                              ("Message", "Interface paused successfully" if ok else "Interface not found")))
                        self._send(frames)
                    elif name == "ping":
                        writer.write(response(action, "Success", ("Ping", "Pong"), ("Timestamp", f"{self.plan.sim_epoch():.6f}")))
                    elif name == "logoff":
                        writer.write(response(action, "Goodbye", ("Message", "Thanks for all the fish.")))
                        return
                    else:
                        writer.write(response(action, "Error", ("Message", "Invalid/unknown command")))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            if self.writer is writer:
                self.writer = None
                logger.warning("the product's AMI session ended")
            writer.close()

    def _snapshot(self, action, writer: asyncio.StreamWriter) -> None:
        if self.floor is None:
            self.floor = LoadFloor(self.plan, round(self.plan.sim_epoch(), 3))
            asyncio.get_running_loop().create_task(self._pump(), name="load-pump").add_done_callback(_report_crash)
        writer.write(response(action, "Success", ("EventList", "start"), ("Message", "Queue status will follow")))
        items, expect = self.floor.snapshot(action.action_id, action.get("queue") or None)
        writer.write(b"".join(items))
        if (action.action_id or "").endswith(CHECK_SUFFIX):
            # a reconciliation check (pbx.reconcile_s): the product's mapper compares the list with
            # what it already emitted and logs only the differences (drift), none when the feed was whole
            self.checks += 1
            self.check_items += len(items)
        else:
            self.expected.update(expect)
            self.snapshots += 1
        self.writer = writer  # live events go to the session that has the snapshot

    def _send(self, frames: list[Frame]) -> None:
        writer = self.writer
        if writer is None or not frames:
            return  # no synced session: what happens now reaches the product through the next snapshot
        writer.write(b"".join(f.data for f in frames))
        sent = time.time()
        for frame in frames:
            self.expected.update(frame.expect)
            if frame.call_key is not None:
                self.keys.write(frame.call_key + "\n")
            if frame.latency_key is not None:
                self.latency_sent[frame.latency_key] = sent
            self.bytes += len(frame.data)
        self.messages += len(frames)
        self.max_buffer = max(self.max_buffer, writer.transport.get_write_buffer_size())

    async def _pump(self) -> None:
        assert self.floor is not None
        while self.generating:
            self._send(self.floor.advance(self.plan.sim_epoch()))
            await asyncio.sleep(PUMP_S)

    def report(self) -> dict:
        self.keys.flush()
        floor = self.floor
        return {"messages": self.messages, "bytes": self.bytes, "sessions": self.sessions,
                "max_write_buffer": self.max_buffer, "expected": dict(self.expected),
                "snapshots": self.snapshots, "checks": self.checks, "check_items": self.check_items,
                "model": dict(floor.stats) if floor else {}, "latency_sent": self.latency_sent}


def _report_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("generator pump failed", exc_info=task.exception())


async def run_generator(plan: LoadPlan, keys_path: Path) -> None:
    generator = Generator(plan, os.environ[SECRET_ENV], keys_path)
    server = await asyncio.start_server(generator.serve, "127.0.0.1", 0)
    emit({"port": server.sockets[0].getsockname()[1], "pid": os.getpid()})
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.readline)  # the driver says: stop generating
    generator.generating = False
    if generator.writer is not None:
        await generator.writer.drain()
    emit(generator.report())
    await loop.run_in_executor(None, sys.stdin.buffer.read)  # keep the session open until the product has stopped
    server.close()
