"""One floor, two sites, kill -9 the judge: the running parts of the failover scenario.

Two simulated Asterisk PBXs (pbxsim AMI servers, site B's agents aliased 1001… → 2001…), two
`wfm serve` processes over one PostgreSQL log and one `storage.floor_id` (the shipped one), an HTTP
client posting break requests (小休) to both all the time. Each round SIGKILLs the judge, notes when
the other process logs "this process judges floor …" (wfm/scaleout.py) and starts the killed site
again as a standby. docs/scaleout.md describes the judge and its standbys.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

WFM = [sys.executable, "-m", "wfm.cli"]
SECRET = "s3cret-ami"  # the simulated PBXs' AMI secret, given to `wfm serve` in WFM_TEST_AMI_SECRET
PBX_AGENTS = 6  # agents on each simulated PBX
CAP = 2  # floor.team_short_break_cap of floor_config(): at most two of a team on 小休
SITE_ADMIN = "site-admin"
ADMIN_PASSWORD = "serve-test-admin"  # the password of site_config()'s admin hash
BREAK_AGENTS = [f"10{i:02d}" for i in range(1, 4)] + [f"20{i:02d}" for i in range(1, 4)]  # signed in from the start
JUDGE_LINE = "judges floor"  # in the warning a process logs when it takes the floor's lock
FIRST_JUDGE_WAIT_S = 20.0


@contextmanager
def two_pbx_servers(agents: int = PBX_AGENTS) -> Iterator[list[int]]:
    """Two simulated floors (two AMI servers, seeds 11 and 12) on one event loop in a thread; yields their ports."""
    from pbxsim.ami_server import AmiServer, FloorSimulation
    from pbxsim.clock import SimClock
    from wfm.config import load_config

    config = load_config()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    servers: list[AmiServer] = []

    async def main() -> None:
        for seed in (11, 12):
            clock = SimClock(datetime.now(config.floor.tz).replace(hour=10, minute=0), 30)
            server = AmiServer(FloorSimulation(config, clock, agents=agents, seed=seed), users={"wfm": SECRET})
            await server.start()
            servers.append(server)
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(main()), loop.run_forever()), daemon=True)
    thread.start()
    if not ready.wait(20):
        raise RuntimeError("the simulated PBXs did not start within 20 s")
    try:
        yield [s.port for s in servers]
    finally:
        for server in servers:
            asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def site_config(path: Path, url: str, port: int, aliases: dict[str, str]) -> Path:
    """A site's config: the shared log, its own AMI feed (secret from WFM_TEST_AMI_SECRET), its own admin."""
    text = (f'[storage]\nurl = "{url}"\n'
            '[pbx.agent_aliases]\n' + "".join(f'"{k}" = "{v}"\n' for k, v in aliases.items()) +
            f'[[pbx.feeds]]\nprotocol = "ami"\nhost = "127.0.0.1"\nport = {port}\nusername = "wfm"\n'
            'secret_env = "WFM_TEST_AMI_SECRET"\nsecret = ""\ndevice = ""\nbaudrate = 9600\nbytesize = 8\n'
            'parity = "N"\nstopbits = 1\nprofile = "auto"\nagents = []\ntransport = "udp"\n'
            # `wfm serve` refuses the shipped demo logins: each site has its own admin
            f'[[users]]\nusername = "{SITE_ADMIN}"\nrole = "admin"\nagent = ""\npassword_hash = "'
            '$argon2id$v=19$m=65536,t=3,p=4$nHDffhjb1DOmUqUrGEe/AA$fc+G1Ma/82RCAX8yHWf2jaFR57L0857lkGNd1COvbEE"\n')
    path.write_text(text, encoding="utf-8")
    return path


def floor_config(path: Path, url: str, port: int, aliases: dict[str, str]) -> Path:
    """site_config() with a contested cap: CAP per team on 小休, no held places, no request throttle."""
    site_config(path, url, port, aliases)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"[floor]\nteam_short_break_cap = {CAP}\nallowed_break_hold_s = 0\nnear_full_idle_threshold = 0\n"
                     "[api]\nbreak_requests_per_minute = 10000\n")
    return path


def login(base: str) -> str:
    request = urllib.request.Request(base + "/api/login", method="POST",
                                     data=json.dumps({"username": SITE_ADMIN, "password": ADMIN_PASSWORD}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["token"])


class Site:
    """One `wfm serve` process; its stderr lines are kept with the time (time.time()) they arrived."""

    def __init__(self, name: str, config: Path, cwd: Path) -> None:
        self.name, self.config, self.cwd = name, config, cwd
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.lines: list[tuple[float, str]] = []
        self.token: str | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", WFM_TEST_AMI_SECRET=SECRET)
        self.token = None
        self.proc = subprocess.Popen([*WFM, "serve", "--port", "0", "--config", str(self.config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.cwd, env=env, text=True)
        self.lines = []
        threading.Thread(target=self._read_stderr, args=(self.proc, self.lines), daemon=True).start()
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if not first.endswith("/wall"):
            raise RuntimeError(f"site {self.name} did not start: {first!r} {self.stderr()[-2000:]}")
        self.base = first[: -len("/wall")]
        self.token = login(self.base)

    @staticmethod
    def _read_stderr(proc: subprocess.Popen, lines: list[tuple[float, str]]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append((time.time(), line.rstrip("\n")))

    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def judges_since(self, after: float) -> float | None:
        """When this process logged that it judges the floor, at or after `after`; None if it has not."""
        for when, line in list(self.lines):
            if when >= after and JUDGE_LINE in line:
                return when
        return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Traffic(threading.Thread):
    """Break requests (小休) for random agents, to whichever site is up, until stopped."""

    def __init__(self, sites: list[Site]) -> None:
        super().__init__(daemon=True)
        self.sites = sites
        self.stopped = threading.Event()
        self.acknowledged: list[dict] = []  # the decisions the API answered with
        self.failed = 0
        self.reasons: Counter[str] = Counter()
        self.rng = random.Random(19)

    def run(self) -> None:
        while not self.stopped.is_set():
            site = self.rng.choice(self.sites)
            if not site.alive() or not site.token:
                time.sleep(0.02)
                continue
            agent = self.rng.choice(BREAK_AGENTS)
            request = urllib.request.Request(
                f"{site.base}/api/agents/{agent}/breaks", method="POST",
                data=json.dumps({"kind": "short"}).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {site.token}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    self.acknowledged.append(json.loads(response.read())["decision"])
            except urllib.error.HTTPError as exc:
                self.failed += 1
                detail = exc.read().decode(errors="replace")[:120]
                self.reasons[f"HTTP {exc.code} {site.name} {detail}"] += 1
            except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
                self.failed += 1
                self.reasons[type(exc).__name__] += 1
                time.sleep(0.2)  # that site is down
            time.sleep(0.03)


@dataclass
class FailoverRun:
    """What a run did: the sites (their stderr kept), the traffic, one entry per round."""

    config: Path  # site A's config; both sites judge by the same floor rules
    sites: list[Site]
    traffic: Traffic
    takeovers: list[dict] = field(default_factory=list)
    no_takeover: str | None = None  # why the rounds stopped early: no standby judged within the wait


def _quiet(_: str) -> None:
    return None


def run_failover(url: str, pbx_ports: list[int], workdir: Path, rounds: int, *, wait_s: float = 60.0,
                 settle_s: float = 2.5, report: Callable[[str], None] = _quiet) -> FailoverRun:
    """Start site A (it judges), then site B and the traffic; kill -9 the judge `rounds` times, each time
    waiting up to `wait_s` for the other to judge and restarting the killed one as a standby, `settle_s`
    of traffic on the new judge before the next kill. Everything is stopped on return. `report` gets a
    line at each step (progress for a terminal)."""
    config_a = floor_config(workdir / "a.toml", url, pbx_ports[0], {})
    config_b = floor_config(workdir / "b.toml", url, pbx_ports[1],
                            {str(1001 + i): str(2001 + i) for i in range(PBX_AGENTS)})
    sites = [Site("A", config_a, workdir), Site("B", config_b, workdir)]
    run = FailoverRun(config_a, sites, Traffic(sites))
    first, second = run.sites
    try:
        first.start()
        deadline = time.time() + FIRST_JUDGE_WAIT_S
        while first.judges_since(0) is None:
            if time.time() > deadline:
                raise RuntimeError(f"site A never judged the floor\n{first.stderr()[-2000:]}")
            time.sleep(0.1)
        report(f"site A judges (pid {first.proc.pid if first.proc else '?'})")
        second.start()
        run.traffic.start()
        report(f"site B is a standby (pid {second.proc.pid if second.proc else '?'}); break requests to both")
        time.sleep(3.0)
        _kill_rounds(run, rounds, wait_s, settle_s, report)
        time.sleep(1.0)
    finally:
        run.traffic.stopped.set()
        if run.traffic.is_alive():
            run.traffic.join(15)
        for site in run.sites:
            site.stop()
    return run


def _kill_rounds(run: FailoverRun, rounds: int, wait_s: float, settle_s: float, report: Callable[[str], None]) -> None:
    judge, standby = run.sites
    for round_ in range(1, rounds + 1):
        before = len(run.traffic.acknowledged)
        pid = judge.proc.pid if judge.proc else None
        killed_at = time.time()
        judge.kill9()
        took = None
        while time.time() - killed_at < wait_s:
            when = standby.judges_since(killed_at)
            if when is not None:
                took = when - killed_at
                break
            time.sleep(0.02)
        if took is None:
            run.no_takeover = (f"round {round_}: no standby judged within {wait_s:.0f} s of the kill\n"
                               f"{standby.stderr()[-3000:]}")
            report(f"round {round_}/{rounds}: killed {judge.name} (pid {pid}); {standby.name} did not judge "
                   f"within {wait_s:.0f} s")
            return
        report(f"round {round_}/{rounds}: killed {judge.name} (pid {pid}); {standby.name} judges after {took:.3f} s; "
               f"restarting {judge.name} as a standby")
        judge.start()  # the killed site comes back as a standby
        time.sleep(settle_s)  # traffic on the new judge
        run.takeovers.append({"round": round_, "killed": judge.name, "new_judge": standby.name,
                              "takeover_s": round(took, 3),
                              "answered_meanwhile": len(run.traffic.acknowledged) - before,
                              "load_average_1m": round(os.getloadavg()[0], 2)})
        judge, standby = standby, judge
