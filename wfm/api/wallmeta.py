"""What the wall board needs besides the live floor: names, colour thresholds, timings. Pure, from config.

The wall page fetches this once per connection (GET /api/wall/settings) and then
lives on the WebSocket pushes of the floor. Names come from an agent_id,name CSV
(dashboard.agent_names_csv, else the published roster's agents.csv), so the open
wall shows the names the roster already shows.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from wfm.config import Config

logger = logging.getLogger(__name__)

PUBLISHED_AGENTS = Path("versions") / "inputs" / "agents.csv"  # where a published roster keeps its agents file


def names_file(config: Config) -> Path | None:
    """The agent-name CSV in force: the configured one, else the published roster's, else None."""
    configured = config.dashboard.agent_names_csv
    if configured:
        return Path(configured)
    published = Path(config.dashboard.roster_dir) / PUBLISHED_AGENTS
    return published if published.is_file() else None


def read_names(path: Path | None) -> dict[str, str]:
    """agent id → display name from a CSV with `agent_id` and `name` columns; {} when absent or unreadable
    (the wall then shows ids: never a reason to take the board down)."""
    if path is None:
        return {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = csv.DictReader(handle)
            return {row["agent_id"].strip(): row["name"].strip() for row in rows
                    if row.get("agent_id") and row.get("name")}
    except (OSError, KeyError, csv.Error, UnicodeDecodeError) as exc:
        logger.warning("agent names from %s not read: %s", path, exc)
        return {}


def thresholds(config: Config) -> dict[str, list[float]]:
    """state → [amber from s, red from s] of the time in that state (colour escalation on the tiles)."""
    dash, floor = config.dashboard, config.floor
    return {
        "short_break": [dash.wall_short_break_warn_min * 60.0, floor.short_break_max_min * 60.0],
        "meal": [dash.wall_meal_warn_min * 60.0, floor.meal_max_min * 60.0],
        "wrap_up": [dash.wall_wrap_up_warn_s, dash.wall_wrap_up_alarm_s],
        "not_ready": [dash.wall_not_ready_warn_min * 60.0, dash.wall_not_ready_alarm_min * 60.0],
    }


def wall_settings(config: Config, names: dict[str, str]) -> dict[str, Any]:
    """The wall's settings document (GET /api/wall/settings)."""
    return {
        "names": names,
        "thresholds": thresholds(config),
        "stale_s": config.dashboard.wall_stale_s,
        "rotate_s": config.dashboard.wall_rotate_s,
        "timezone": str(config.floor.tz),
        "teams": [team.name for team in config.teams],
        "queues": {queue.id: queue.name for queue in config.queues},
        "service_level_answer_s": config.service.service_level_answer_s,
        "service_level_target": config.service.service_level_target,
        "alerts_shown": config.dashboard.alerts_shown,
    }
