"""A throw-away PostgreSQL server for tests and benchmarks (tests/conftest.py's pg_server fixture starts one
per test module; benchmarks/scaleout.py and benchmarks/failover.py one per run). It lives here, not under
tests/, because a benchmark does not import from tests/ while tests may import benchmark helpers."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


POSTGRES_BINS = ("/usr/lib/postgresql/15/bin/postgres", "/usr/lib/postgresql/16/bin/postgres",
                 "/usr/lib/postgresql/17/bin/postgres")


def find_postgres() -> str | None:
    """The path of an installed PostgreSQL server binary (Debian's layout), or None."""
    return next((p for p in POSTGRES_BINS if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    """A throw-away PostgreSQL cluster in a temp dir, run as user postgres on a free localhost port."""

    def __init__(self, postgres: str) -> None:
        self.bin = Path(postgres).parent
        self.dir = Path(tempfile.mkdtemp(prefix="wfm-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._databases = 0

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as_postgres, *argv], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "immediate") -> None:
        # immediate = the server dies without a shutdown checkpoint, like a crash; restart runs recovery.
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def new_database(self) -> str:
        """A fresh, empty log location: its own schema in one shared database (cheaper than a database each)."""
        import psycopg

        self._databases += 1
        base = f"postgresql://postgres@127.0.0.1:{self.port}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if self._databases == 1:
                conn.execute("CREATE DATABASE wfm_test")
        name = f"log_{self._databases}"
        with psycopg.connect(f"{base}/wfm_test", autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return f"{base}/wfm_test?options=-csearch_path%3D{name}"

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
