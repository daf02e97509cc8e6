"""Shared test fixtures.

`require_tool(name)`: a test that needs an external program (socat, sipp,
chromium, chromedriver, postgres, kamailio) skips on a developer machine without it,
but FAILS under CI=true — CI installs them, so a missing tool is a bug there.
`pg_server`: a throw-away PostgreSQL server (benchmarks/pgserver.py, shared with the benchmarks), one per test module.
Helpers live in tests/support/ (imported as `support.…`); only test modules are named test_*.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent
# the interop lab (a real Asterisk 22) runs with `make interop`, which sets ASTERISK_PREFIX; never in `make test`
collect_ignore = [] if os.environ.get("ASTERISK_PREFIX") else ["interop"]
NRP_INSTANCES = REPO / "benchmarks" / "instances" / "nrp"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests explore new random examples on every developer run; CI runs a fixed (derandomized)
# set so that a submission is judged by its code, not by the seed of the day. A failure found
# locally is kept as an explicit @example.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if IN_CI:
    settings.load_profile("ci")


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
    from benchmarks.pgserver import PgServer

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


# `make test-fast` runs `-m "not slow and not live"`. Whole modules are marked here (a test may also mark
# itself): live = drives an external tool (browser, SIPp, Kamailio, PostgreSQL, a real Asterisk);
# slow = subprocess runs of the CLI or the demo, solver runs, long simulations and property searches.
LIVE_MODULES = frozenset({
    "test_browser_demo", "test_browser_roster", "test_browser_me_queue", "test_browser_supervisor_push", "test_sip_sipp", "test_sip_kamailio", "test_conformance_sip_live",
    "test_eventlog_postgres", "test_scaleout_postgres",
})
SLOW_MODULES = frozenset({
    "test_demo", "test_restart", "test_faults", "test_nrp", "test_nrp_search",
    "test_roster_model", "test_roster_desk", "test_roster_generate", "test_simulator_model", "test_simulator_ami",
    "test_simulator_esl", "test_simulator_cli", "test_conformance_floor_day",
    "test_conformance_cli", "test_engine_fuzz",
    "test_fuzz_parsers", "test_accounts", "test_log_signing", "test_log_cli", "test_replay", "test_ingest",
    "test_swap", "test_badinput", "test_floor_startup", "test_cli_options", "test_roster_carry", "test_roster_api",
    "test_dashboard_roster", "test_publish", "test_roster_io",
})
SLOW_TESTS = (  # single long tests in otherwise quick modules (exhaustive splits, property searches)
    "test_any_single_tampering_is_caught_at_the_right_record", "test_any_field_values_give_events_or_a_mapping_error",
    "test_every_route_times_every_role", "test_every_split_of_a_capture", "test_fuzz_random_bytes_only_line_errors",
    "test_any_notify_body", "test_whole_chunk_path_agrees", "test_backtest_beats_seasonal_naive",
    "test_every_byte_boundary", "test_walk_equals_bisection", "test_the_answer_after_new_events_equals_the_answer",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if item.module is not None else ""
        if module in LIVE_MODULES or "pg_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.live)
        if module in SLOW_MODULES or item.name.startswith(SLOW_TESTS):
            item.add_marker(pytest.mark.slow)
