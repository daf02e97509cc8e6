"""An agent's own month of the published roster and its calendar (wfm/api/agent_roster.py)."""
from __future__ import annotations

import pytest

from optimizer.roster.versions import RosterVersions
from wfm.api import agent_roster
from wfm.config import load_config

CONFIG = load_config()


def roster_folder(tmp_path, status: str):
    csv = tmp_path / "roster.csv"
    csv.write_text("agent_id,date,shift,start,end,meal_start\n"
                   "1001,2027-02-01,day,08:30,16:00,11:30\n"
                   "1001,2027-02-02,OFF,,,\n"
                   "1002,2027-02-01,evening,16:00,23:30,19:00\n", encoding="utf-8")
    RosterVersions(tmp_path / "rosters" / "2027-02", tz=CONFIG.floor.tz).record_new(csv, "scheduler", status=status)
    return tmp_path / "rosters"


def test_the_agent_gets_only_their_own_published_days(tmp_path):
    folder = roster_folder(tmp_path, "published")
    month = agent_roster.agent_month(folder, "2027-02", "1001", CONFIG.floor.tz)
    assert month["version"] == 1 and [d["date"] for d in month["days"]] == ["2027-02-01", "2027-02-02"]
    assert month["days"][0]["start"] == "08:30" and month["days"][1]["shift"] == "OFF"
    ics = agent_roster.agent_calendar_ics(folder, "2027-02", "1001", "王芳", CONFIG).decode()
    assert ics.startswith("BEGIN:VCALENDAR") and ics.count("BEGIN:VEVENT") >= 1 and "20270201T083000" in ics


def test_a_draft_is_not_the_agents_schedule(tmp_path):
    folder = roster_folder(tmp_path, "draft")
    with pytest.raises(agent_roster.NoRoster):
        agent_roster.agent_month(folder, "2027-02", "1001", CONFIG.floor.tz)
    with pytest.raises(agent_roster.NoRoster):
        agent_roster.agent_month(folder, "2027-03", "1001", CONFIG.floor.tz)
    with pytest.raises(ValueError):
        agent_roster.agent_month(folder, "2027-3", "1001", CONFIG.floor.tz)
