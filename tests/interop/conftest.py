"""Fixtures of the interop lab (`make interop`; never part of `make test`: tests/conftest.py leaves this folder out
unless ASTERISK_PREFIX is set).

ASTERISK_PREFIX   where tests/interop/build_asterisk.sh installed Asterisk 22 (required)
INTEROP_RECORD=1  keep each scenario's AMI capture and its events in tests/data/captures/asterisk22/

One Asterisk and one `wfm serve` (the `wfm` AMI user) serve the whole module;
each scenario runs a `Recorder` (`wfm ingest --connect` with the read-only
`wfmro` user) beside them. The figures each scenario measures go to
tests/artifacts/interop-figures.json and are printed at the end.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lab import AGENTS, Asterisk, Recorder, Serve, copy_capture, wait_until

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "tests" / "data" / "captures" / "asterisk22"
LAB_TOML = CAPTURES / "lab.toml"  # the lab site's mapping settings, shared by serve, the recorder and the replays
FIGURES: dict[str, dict] = {}


def pytest_sessionfinish(session, exitstatus):
    if not FIGURES:
        return
    out = REPO / "tests" / "artifacts" / "interop-figures.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(FIGURES, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stderr.write("\ninterop figures (seconds):\n")
    for scenario, figures in FIGURES.items():
        sys.stderr.write(f"  {scenario}: " + ", ".join(f"{k} {v}" for k, v in figures.items()) + "\n")


@pytest.fixture
def figures(request):
    """Record a scenario's measured figures: figures(name=value, ...)."""
    def note(**values):
        FIGURES.setdefault(request.node.name, {}).update(
            {k: round(v, 2) if isinstance(v, float) else v for k, v in values.items()})
    return note


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    prefix = os.environ.get("ASTERISK_PREFIX")
    if not prefix or not (Path(prefix) / "sbin" / "asterisk").exists():
        pytest.skip("the interop lab needs ASTERISK_PREFIX (make interop ASTERISK_SRC=...)")
    asterisk = Asterisk(Path(prefix), tmp_path_factory.mktemp("asterisk"))
    asterisk.start()
    yield asterisk
    asterisk.stop()


@pytest.fixture(scope="module")
def serve(lab, tmp_path_factory):
    floor = Serve(tmp_path_factory.mktemp("serve"), lab.ami_port, lab.ami_secret, extra_toml=LAB_TOML.read_text("utf-8"))
    floor.start()
    wait_until(floor.feed_connected, 30, what="wfm serve's AMI feed connected")
    yield floor
    floor.stop()


@pytest.fixture
def calm(lab, serve):
    """Every member unpaused, every phone idle, no call left, and the wall agreeing, before a scenario."""
    lab.cli("channel request hangup all")
    for agent in AGENTS:
        lab.cli(f"devstate change Custom:agent{agent} NOT_INUSE")
        lab.unpause(agent)
    lab.set_global("TALK_S", "3")
    lab.set_global("RING_S", "1")
    wait_until(lambda: all(serve.state(a) in ("ready", None) for a in AGENTS), 15, what="the floor calm")
    return lab


@pytest.fixture
def record(request, lab, tmp_path_factory):
    """Start recording the AMI traffic of this scenario (read-only user); checked and kept at teardown."""
    recorders: list[tuple[Recorder, str]] = []

    def start(name: str) -> Recorder:
        capture = tmp_path_factory.mktemp("capture") / f"{name}.ami"
        recorder = Recorder(lab.ami_port, lab.ami_secret_ro, capture, config=LAB_TOML)
        wait_until(lambda: recorder.events or recorder.proc.poll() is not None, 15, what="the recorder's snapshot")
        recorders.append((recorder, name))
        return recorder

    yield start
    for recorder, name in recorders:
        live = recorder.stop()
        replay = replay_capture(recorder.capture)
        # the same bytes give the same events, live or replayed from the capture
        assert [strip(e) for e in replay] == [strip(e) for e in live], f"{name}: replay differs from the live ingest"
        if os.environ.get("INTEROP_RECORD") == "1" and getattr(request.node, "rep_call_passed", False):
            target = copy_capture(recorder.capture, CAPTURES, name)
            expected = Path(str(target).removesuffix(".ami") + ".expected.jsonl")
            expected.write_text("".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in replay),
                                encoding="utf-8")


def strip(event: dict) -> dict:
    """An event without its receive-time stamp where the PBX gave none (identical bytes, identical events)."""
    return event


def replay_capture(capture: Path) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "wfm.cli", "ingest", "--protocol", "ami", str(capture), "--json",
                             "--config", str(LAB_TOML)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call_passed = report.passed
