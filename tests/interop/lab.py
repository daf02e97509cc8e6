"""The interop lab: a real Asterisk 22 (built by tests/interop/build_asterisk.sh) and a real `wfm serve`.

`Asterisk(prefix, workdir)` copies tests/interop/asterisk-conf into a scratch
etc folder with the lab's ports and secrets filled in, runs `asterisk -f` with
its own run/log/spool/astdb folders, and drives it through its CLI
(`asterisk -rx`), as an operator would: callers originated into queues,
pauses, dynamic members, reloads, restarts. `queue_show(queue)` parses `queue
show` — the PBX's truth the wall is compared with.

`Serve(workdir, ami_port, …)` writes a site config (the AMI feed with the
`wfm` user, lab accounts, no F3 idle floor) and runs `wfm serve` as a
subprocess; `floor()` reads `/api/floor` as the supervisor, `agent(id)` one
agent's row.

`Recorder(...)` runs `wfm ingest --connect … --capture FILE --json` with the
read-only `wfmro` user beside them and keeps its events: the AMI traffic of a
scenario and the events expected from it (tests/data/captures/asterisk22/).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONF = HERE / "asterisk-conf"
WFM = [sys.executable, "-m", "wfm.cli"]
AGENTS = ("1001", "1002", "1003", "1004", "1005")
PASSWORD = "interop-lab"  # every lab account's password (never a shipped demo login)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "the condition"):
    """Poll predicate() until truthy; returns (value, seconds waited) or raises AssertionError."""
    started = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


@dataclass(frozen=True)
class Member:
    name: str
    interface: str
    paused: bool
    reason: str
    status: str  # "Not in use", "In use", "Ringing", "Busy", "Unavailable", ...
    dynamic: bool
    in_call: bool


_MEMBER = re.compile(r"^\s+(?P<name>\S+) \((?P<interface>[^ )]+)(?: from (?P<state_interface>[^)]+))?\)(?P<rest>.*)$")


def parse_queue_show(text: str) -> dict[str, Member]:
    """The members of one `queue show QUEUE` answer, by member name."""
    members: dict[str, Member] = {}
    in_members = False
    for line in text.splitlines():
        if line.strip().startswith("Members:"):
            in_members = True
            continue
        if line.strip().startswith(("Callers:", "No Callers")):
            in_members = False
        if not in_members:
            continue
        match = _MEMBER.match(line)
        if not match:
            continue
        rest = match["rest"]
        paused = re.search(r"\(paused(?::(?P<reason>[^)]*?))?(?: was \d+ secs? ago)?\)", rest)
        groups = re.findall(r"\(([^()]*)\)", rest)
        status = next((g for g in groups if g in ("Not in use", "In use", "Ringing", "Busy", "Unavailable", "Invalid",
                                                  "Unknown", "On Hold", "Ring+Inuse")), "")
        members[match["name"]] = Member(match["name"], match["interface"], paused is not None,
                                        (paused["reason"] or "") if paused else "", status, "(dynamic)" in rest,
                                        "(in call)" in rest)
    return members


class Asterisk:
    """One Asterisk process with the lab's configuration, driven through its CLI."""

    def __init__(self, prefix: Path, workdir: Path) -> None:
        self.prefix = Path(prefix)
        self.binary = self.prefix / "sbin" / "asterisk"
        if not self.binary.exists():
            raise FileNotFoundError(f"{self.binary}: no Asterisk build (make interop ASTERISK_SRC=...)")
        self.workdir = Path(workdir)
        self.etc = self.workdir / "etc"
        self.var = self.workdir / "var"
        self.ami_port = free_port()
        self.ami_secret = secrets.token_hex(8)
        self.ami_secret_ro = secrets.token_hex(8)
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.write_config()

    @property
    def conf(self) -> Path:
        return self.etc / "asterisk.conf"

    def write_config(self) -> None:
        self.etc.mkdir(parents=True, exist_ok=True)
        for sub in ("lib", "spool", "run", "log", "agi-bin"):
            (self.var / sub).mkdir(parents=True, exist_ok=True)
        values = {"@ETC@": str(self.etc), "@VAR@": str(self.var), "@PREFIX@": str(self.prefix),
                  "@AMI_PORT@": str(self.ami_port), "@AMI_SECRET@": self.ami_secret, "@AMI_SECRET_RO@": self.ami_secret_ro}
        for source in CONF.glob("*.conf"):
            text = source.read_text(encoding="utf-8")
            for key, value in values.items():
                text = text.replace(key, value)
            (self.etc / source.name).write_text(text, encoding="utf-8")

    def start(self, timeout: float = 60.0) -> None:
        self.starts += 1
        log = open(self.var / "log" / "console.log", "ab")  # noqa: SIM115 - the child's stdout, closed in stop()
        self.proc = subprocess.Popen([str(self.binary), "-f", "-n", "-C", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, start_new_session=True)
        self._log = log
        wait_until(lambda: self.proc.poll() is not None or self.cli_ok("core waitfullybooted"), timeout,
                   interval=0.3, what="Asterisk fully booted")
        if self.proc.poll() is not None:
            raise RuntimeError(f"asterisk exited with {self.proc.returncode}: see {self.var / 'log' / 'console.log'}")
        wait_until(lambda: self.ami_listening(), 10, what="AMI listening")
        for agent in AGENTS:  # every phone starts idle (func_devstate keeps this in astdb across restarts)
            self.cli(f"devstate change Custom:agent{agent} NOT_INUSE")

    def ami_listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.ami_port), timeout=1) as sock:
                return sock.recv(64).startswith(b"Asterisk Call Manager")
        except OSError:
            return False

    def cli(self, command: str, timeout: float = 20.0) -> str:
        result = subprocess.run([str(self.binary), "-C", str(self.conf), "-rx", command], capture_output=True, text=True,
                                timeout=timeout)
        return result.stdout

    def cli_ok(self, command: str) -> bool:
        try:
            return subprocess.run([str(self.binary), "-C", str(self.conf), "-rx", command], capture_output=True,
                                  timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            self.cli("core stop now", timeout=5) if self.cli_ok("core show version") else None
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self._log.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    # ---- what an operator does ---------------------------------------------------
    def queue_show(self, queue: str) -> dict[str, Member]:
        return parse_queue_show(self.cli(f"queue show {queue}"))

    def originate_caller(self, queue: str, behaviour: str = "answer") -> None:
        """A caller into `queue` who waits and is answered (`answer`) or hangs up after ABANDON_S (`abandon`)."""
        self.cli(f"channel originate Local/{queue}@queues extension {behaviour}@callers")

    def second_line(self, agent: str) -> None:
        """A call on the agent's phone that is not a queue call: the device is busy for SECOND_LINE_S."""
        self.cli(f"channel originate Local/{agent}@secondline extension wait@idle")

    def set_global(self, name: str, value: str) -> None:
        self.cli(f"dialplan set global {name} {value}")

    def pause(self, agent: str, reason: str = "", queue: str | None = None) -> str:
        """`queue pause member …`; a reason needs a queue on the CLI, so without one every queue of the agent is named."""
        if reason and queue is None:
            queues = [q for q in QUEUES if agent in self.queue_show(q)]
            return "".join(self.pause(agent, reason, q) for q in queues)
        where = f" queue {queue}" if queue else ""
        why = f" reason {reason}" if reason else ""
        return self.cli(f"queue pause member Local/{agent}@agents/n{where}{why}")

    def unpause(self, agent: str, queue: str | None = None) -> str:
        where = f" queue {queue}" if queue else ""
        return self.cli(f"queue unpause member Local/{agent}@agents/n{where}")

    def add_member(self, agent: str, queue: str) -> str:
        return self.cli(f"queue add member Local/{agent}@agents/n to {queue} penalty 0 as {agent} "
                        f"state_interface Custom:agent{agent}")

    def remove_member(self, agent: str, queue: str) -> str:
        return self.cli(f"queue remove member Local/{agent}@agents/n from {queue}")

    def edit_queues_conf(self, drop_member: str) -> None:
        """Remove every `member =>` line of one agent from the lab's queues.conf (before `queue reload all`)."""
        path = self.etc / "queues.conf"
        lines = [line for line in path.read_text(encoding="utf-8").splitlines()
                 if not (line.startswith("member =>") and f"Local/{drop_member}@" in line)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class Serve:
    """`wfm serve` against the lab's Asterisk, as a subprocess with its own site config and log."""

    def __init__(self, workdir: Path, ami_port: int, secret: str, *, username: str = "wfm", floor_toml: str = "",
                 extra_toml: str = "") -> None:
        from wfm.auth import hash_password

        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        password_hash = hash_password(PASSWORD)
        users = [("admin", "admin", ""), ("sup", "supervisor", "")] + [(a, "agent", a) for a in AGENTS]
        self.site = self.workdir / "site.toml"
        self.site.write_text(
            f'[storage]\nurl = "sqlite:///{self.workdir / "floor.sqlite"}"\n'
            '[floor]\n' + (floor_toml or "near_full_idle_threshold = 0\n") +
            f'[[pbx.feeds]]\nprotocol = "ami"\nhost = "127.0.0.1"\nport = {ami_port}\nusername = "{username}"\n'
            'secret_env = "WFM_LAB_AMI_SECRET"\nsecret = ""\ndevice = ""\nbaudrate = 9600\nbytesize = 8\nparity = "N"\n'
            'stopbits = 1\nprofile = "auto"\nagents = []\ntransport = "udp"\n'
            + "".join(f'[[users]]\nusername = "{name}"\nrole = "{role}"\nagent = "{agent}"\npassword_hash = "{password_hash}"\n'
                      for name, role, agent in users)
            + extra_toml, encoding="utf-8")
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", WFM_LAB_AMI_SECRET=secret)
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.tokens: dict[str, str] = {}
        self.stderr: list[str] = []

    def start(self) -> None:
        self.proc = subprocess.Popen([*WFM, "serve", "--port", "0", "--config", str(self.site)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=self.workdir, env=self.env, text=True)
        first = self.proc.stdout.readline().strip()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()
        if not first.endswith("/wall"):
            time.sleep(0.5)
            raise RuntimeError(f"wfm serve did not start: {first!r} {''.join(self.stderr)}")
        self.base = first[: -len("/wall")]

    def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    # ---- HTTP ---------------------------------------------------------------------
    def login(self, user: str) -> str:
        if user not in self.tokens:
            status, body = self.request("POST", "/api/login", {"username": user, "password": PASSWORD}, token=None)
            assert status == 200, body
            self.tokens[user] = body["token"]
        return self.tokens[user]

    def request(self, method: str, path: str, body: dict | None = None, *, token: str | None = "") -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def as_user(self, user: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        return self.request(method, path, body, token=self.login(user))

    def floor(self) -> dict:
        status, body = self.as_user("sup", "GET", "/api/floor")
        assert status == 200, body
        return body

    def agent(self, agent: str) -> dict | None:
        return next((a for a in self.floor()["agents"] if a["agent"] == agent), None)

    def state(self, agent: str) -> str | None:
        row = self.agent(agent)
        return row["state"] if row else None

    def feed_connected(self) -> bool:
        feeds = self.floor().get("feeds") or []
        return bool(feeds) and all(f["connected"] for f in feeds)


class Recorder:
    """`wfm ingest --connect` with the read-only AMI user, teeing the raw AMI bytes to a capture file."""

    def __init__(self, ami_port: int, secret: str, capture: Path, config: Path | None = None) -> None:
        self.capture = Path(capture)
        self.capture.parent.mkdir(parents=True, exist_ok=True)
        for stale in (self.capture, Path(str(self.capture) + ".times")):
            stale.unlink(missing_ok=True)
        self.proc = subprocess.Popen([*WFM, "ingest", "--protocol", "ami", "--connect", f"127.0.0.1:{ami_port}",
                                      "--username", "wfmro", "--secret", secret, "--capture", str(self.capture), "--json",
                                      *(["--config", str(config)] if config else [])],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.events: list[dict] = []
        self.errors: list[str] = []
        threading.Thread(target=lambda: [self.events.append(json.loads(line)) for line in self.proc.stdout], daemon=True).start()
        threading.Thread(target=lambda: self.errors.extend(self.proc.stderr), daemon=True).start()

    def stop(self) -> list[dict]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        time.sleep(0.2)
        return list(self.events)


def copy_capture(capture: Path, target_dir: Path, name: str) -> Path:
    """Keep a recorded capture (and its .times side file) under target_dir/name.ami."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{name}.ami"
    shutil.copyfile(capture, target)
    times = Path(str(capture) + ".times")
    if times.exists():
        shutil.copyfile(times, Path(str(target) + ".times"))
    return target


QUEUES = ("support", "sales", "wrapup")
PAUSE_STATES = {"小休": "short_break", "用餐": "meal"}  # the lab site's pbx.pause_reasons (the shipped ones)
BUSY = ("In use", "Busy", "On Hold", "Ring+Inuse")


def pbx_truth(asterisk: Asterisk) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per agent: the wall states that agree with `queue show`, and the queues it is a member of."""
    seen: dict[str, list[tuple[str, Member]]] = {agent: [] for agent in AGENTS}
    for queue in QUEUES:
        for name, member in asterisk.queue_show(queue).items():
            seen.setdefault(name, []).append((queue, member))
    truth = {}
    for agent, memberships in seen.items():
        queues = frozenset(q for q, _ in memberships)
        if not memberships:
            truth[agent] = (frozenset({"logged_out", None}), queues)
            continue
        paused = [m for _, m in memberships if m.paused]
        status = memberships[0][1].status
        if paused:
            states = {PAUSE_STATES.get(paused[0].reason, "not_ready")}
        elif status == "Ringing":
            states = {"ringing"}
        elif status in BUSY:
            states = {"on_call", "not_ready"}  # a queue call, or a call on another line: never idle
        elif status in ("Unavailable", "Invalid"):
            states = {"logged_out"}
        else:
            states = {"ready", "wrap_up"}  # "Not in use": idle, or in Asterisk's own wrap-up (which it does not show)
        truth[agent] = (frozenset(states), queues)
    return truth


def disagreements(asterisk: Asterisk, serve: Serve) -> list[str]:
    """Where the wall (`/api/floor`) and `queue show` disagree; empty when they agree."""
    truth = pbx_truth(asterisk)
    rows = {row["agent"]: row for row in serve.floor()["agents"]}
    problems = []
    for agent, (states, queues) in truth.items():
        row = rows.get(agent)
        state = row["state"] if row else None
        if state not in states:
            problems.append(f"{agent}: wall {state}, queue show {sorted(s or 'absent' for s in states)}")
        elif row and queues and frozenset(row.get("queues") or ()) != queues:
            problems.append(f"{agent}: wall queues {sorted(row.get('queues') or ())}, queue show {sorted(queues)}")
    return problems
