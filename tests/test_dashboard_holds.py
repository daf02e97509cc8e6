"""The pages' minimal display of held places (docs/break-holds.md), from the real engine's views:
the wall's idle tile says how many are allowed and not yet on break and colours by the count the
rules use; /me shows an allowed break not yet started and, after a lapse, "ask again"."""
from __future__ import annotations

from test_break_holds import floor_of
from support.rules_kit import at

from dashboard import wall_model
from dashboard.agent_model import budget_lines
from dashboard.client import WallView
from wfm.api.projections import wall_floor

import msgspec


def idle_tile(view, settings):
    return next(t for t in wall_model.tiles(view, settings) if t.key == "idle_agents")


def test_wall_idle_tile_names_the_held_places_and_judges_by_the_rules_count():
    f = floor_of()
    settings = wall_model.WallSettings.from_config(f.config)
    plain = idle_tile(f.engine.floor_view(at("10:05")), settings)
    assert "allowed, not yet on break" not in plain.detail and plain.level != "alarm"
    f.request("10:05:30", "huang.li")
    f.request("10:05:35", "zhou.tao")
    view = f.engine.floor_view(at("10:05:40"))
    held = idle_tile(view, settings)
    assert held.value == "5"  # 话务空闲数 itself: every ready agent
    assert "2 allowed, not yet on break (已批准未离席2人) → 3" in held.detail
    assert held.level == "alarm"  # 3 <= threshold 3, as the rules judge it
    wall = msgspec.convert(wall_floor(view), WallView)  # the wall page reads /api/wall
    assert "2 allowed, not yet on break" in idle_tile(wall, settings).detail


def test_agent_page_shows_the_held_place_then_the_lapse():
    f = floor_of()
    tz = f.config.floor.tz
    f.request("10:05:30", "huang.li")
    lines = {line.key: line for line in budget_lines(f.engine.agent_budget("huang.li", at("10:06")), tz)}
    assert "10:07:30" in lines["allowed_break"].value and "approval_lapsed" not in lines
    f.engine.tick(at("10:08"))
    lines = {line.key: line for line in budget_lines(f.engine.agent_budget("huang.li", at("10:08")), tz)}
    lapsed = lines["approval_lapsed"]
    assert lapsed.title == "Your approval lapsed — ask again 你的批准已失效，请重新申请"
    assert lapsed.level == "alarm" and "allowed_break" not in lines
