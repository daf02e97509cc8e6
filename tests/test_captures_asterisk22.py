"""The AMI traffic recorded in the interop lab against a real Asterisk 22 (`make interop INTEROP_RECORD=1`),
replayed: each capture in tests/data/captures/asterisk22/ must still give exactly the §1 events recorded
beside it (docs/interfaces.md §1, docs/pbx-mapping.md), so CI keeps the lab's findings honest without Asterisk."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from telephony.ami.offline import parse_capture
from telephony.capture import read_capture
from wfm.commands.feeds import ami_settings
from wfm.config import load_config
from wfm.events import BadLine, encode_event

CAPTURES = Path(__file__).resolve().parent / "data" / "captures" / "asterisk22"
RECORDED = sorted(CAPTURES.glob("*.ami"))


def test_the_lab_recorded_captures():
    assert len(RECORDED) >= 5, f"expected the interop lab's captures in {CAPTURES}"
    for capture in RECORDED:
        assert Path(str(capture) + ".times").exists(), f"{capture.name}: no receive times"
        assert capture.with_suffix(".expected.jsonl").exists(), f"{capture.name}: no expected events"


def replay(capture: Path) -> list[dict]:
    """What `wfm ingest --protocol ami CAPTURE --json` prints, as objects."""
    settings = ami_settings(load_config(CAPTURES / "lab.toml"))  # the lab site's mapping settings
    return [item.to_json() if isinstance(item, BadLine) else json.loads(encode_event(item))
            for item in parse_capture(read_capture(capture), settings, str(capture))]


@pytest.mark.parametrize("capture", RECORDED, ids=[c.stem for c in RECORDED])
def test_a_recorded_capture_replays_to_its_expected_events(capture):
    expected = [json.loads(line) for line in capture.with_suffix(".expected.jsonl").read_text(encoding="utf-8").splitlines()]
    got = replay(capture)
    for item in got:
        if item.get("type") == "skipped":
            item.pop("source", None)
    for item in expected:
        if item.get("type") == "skipped":
            item.pop("source", None)
    assert got == expected
    assert any(e["type"] == "agent_state" for e in expected)  # every scenario shows agents


def states_of(name: str, agent: str) -> list[tuple[str, str | None]]:
    return [(e["state"], e.get("reason")) for e in replay(CAPTURES / f"{name}.ami")
            if e["type"] == "agent_state" and e["agent"] == agent]


def test_what_the_lab_found_stays_true():
    # an allowed 小休 enacted by wfm serve: Asterisk's own pause, reason 小休, then unpaused
    assert states_of("enacted_short_break", "1001")[-2:] == [("short_break", "小休"), ("ready", None)]
    # queue wrapuptime (told by lab.toml): wrap-up from the hang-up, never a transient ready before it
    wrap = [s for s, _ in states_of("wrapuptime", "1005")]
    assert wrap[wrap.index("on_call"):] == ["on_call", "wrap_up", "ready"]
    # `queue reload all` removing a member: found by the reconciliation check, the member signed out
    assert states_of("reload_removes_member", "1004")[-1] == ("logged_out", None)
    # a phone busy on a second line is never idle while it is busy
    second = [s for s, _ in states_of("second_line", "1003")]
    assert second[-2:] == ["on_call", "ready"]
