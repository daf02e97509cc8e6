"""Shared test fixtures.

`require_tool(name)`: a test that needs an external program (socat, sipp,
chromium, chromedriver, postgres, kamailio) skips on a developer machine without it,
but FAILS under CI=true — CI installs them, so a missing tool is a bug there.
`pg_server`: a throw-away PostgreSQL server (tests/pgserver.py), one per test module.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NRP_INSTANCES = REPO / "benchmarks" / "instances" / "nrp"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(*names: str) -> dict[str, str]:
    """Paths of the named executables; skip (or fail under CI=true) when one is missing."""
    found: dict[str, str] = {}
    for name in names:
        candidates = [name] + {"postgres": ["/usr/lib/postgresql/15/bin/postgres", "/usr/lib/postgresql/16/bin/postgres", "/usr/lib/postgresql/17/bin/postgres"]}.get(name, [])
        path = next((p for p in (shutil.which(c) or (c if os.path.isabs(c) and os.access(c, os.X_OK) else None) for c in candidates) if p), None)
        if path is None:
            message = f"required tool {name!r} is not installed"
            if IN_CI:
                pytest.fail(message + " (CI=true: .ci/run must install it)")
            pytest.skip(message)
        found[name] = path
    return found


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def nrp_instances() -> Path:
    """The Curtois NRP instances kept in the repository (benchmarks/instances/nrp/README.md)."""
    return NRP_INSTANCES


@pytest.fixture
def artifacts() -> Path:
    """Folder for test artifacts (screenshots, reports), kept after the run."""
    path = REPO / "tests" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def pg_server():
    from pgserver import PgServer

    tools = require_tool("postgres")
    server = PgServer(tools["postgres"])
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass
        server.cleanup()
