"""Config: shipped defaults carry every rulebook number; bad files are rejected naming the key."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from wfm.config import ConfigError, defaults_text, load_config


def write(tmp_path, text: str, name="site.toml", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_defaults_load_and_hold_the_rulebook_values():
    config = load_config()
    floor = config.floor
    assert (floor.arrive_before_shift_min, floor.sign_in_window_min, floor.near_full_idle_threshold) == (10, 3, 3)
    assert (floor.short_break_max_min, floor.short_break_budget_min, floor.meal_max_min) == (10, 30, 30)
    assert (floor.lunch_cover_min_agents, floor.serious_late_min, floor.team_short_break_cap) == (1, 20, 0)
    assert config.floor.timezone == "Asia/Shanghai"
    assert (config.service.answer_target_s, config.service.hold_silence_max_s, config.service.callback_within_h) == (15, 60, 24)
    roster = config.roster
    assert (roster.max_consecutive_days, roster.rest_days_per_month, roster.max_swaps_per_month) == (6, 4, 3)
    assert [(s.name, s.start, s.end) for s in roster.shifts] == [("day", "08:30", "16:00"), ("evening", "16:00", "23:30")]
    assert roster.meal_margin_min == 60 and floor.meal_slot_min == 30


def test_every_rule_is_named_in_a_comment_of_the_defaults():
    text = defaults_text()
    for code in [f"F{i}" for i in range(1, 11)] + ["F3a", "S1", "S2", "S3"] + [f"R{i}" for i in range(1, 9)] + ["L2"]:
        assert re.search(rf"#\s*{code}\b", text), code


def test_site_file_merges_over_defaults(tmp_path):
    path = write(tmp_path, '[floor]\nnear_full_idle_threshold = 5\ntimezone = "Europe/Berlin"\n')
    config = load_config(path)
    assert config.floor.near_full_idle_threshold == 5
    assert config.floor.short_break_max_min == 10
    assert str(config.floor.tz) == "Europe/Berlin"


def test_lists_replace_rather_than_merge(tmp_path):
    path = write(tmp_path, '[[roster.shifts]]\nname = "late"\nstart = "17:30"\nend = "01:00"\n')
    config = load_config(path)
    (late,) = config.roster.shifts
    assert late.crosses_midnight and late.length_min == 450


@pytest.mark.parametrize(
    "body, message",
    [
        ('[floor]\nshort_break_max_min = "ten"\n', "key 'floor.short_break_max_min': Expected `int`, got `str`"),
        ("[floor]\nshort_brake_max_min = 10\n", "unknown key 'floor.short_brake_max_min'"),
        ("[nonsense]\nx = 1\n", "unknown key 'nonsense'"),
        ('[floor.gate]\npolicy = "lenient"\n', "key 'floor.gate.policy'"),
        ('[floor]\ntimezone = "Mars/Olympus"\n', "key 'floor.timezone': unknown timezone"),
        ("[service]\nservice_level_target = 1.0\n", "key 'service.service_level_target'"),
        ('[[roster.shifts]]\nname = "d"\nstart = "8:30"\nend = "16:00"\n', "key 'roster.shifts[0].start'"),
        ("[floor]\nnear_full_idle_threshold = -1\n", "key 'floor.near_full_idle_threshold'"),
        ('[[roster.shifts]]\nname = "OFF"\nstart = "08:00"\nend = "16:00"\n', "'OFF' is reserved"),
        ("[floor\n", "Expected ']'"),
    ],
)
def test_bad_config_is_rejected_naming_file_and_key(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(str(path) + ":")
    assert message in str(info.value)


def test_gbk_encoded_file_gets_a_clear_message(tmp_path):
    path = write(tmp_path, '[[queues]]\nid = "q"\nname = "综合"\n', encoding="gbk")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_config_show_masks_secrets_and_round_trips(tmp_path):
    path = write(tmp_path, '[[pbx.feeds]]\nprotocol = "ami"\nhost = "127.0.0.1"\nport = 5038\nusername = "u"\n'
                           'secret_env = ""\nsecret = "hunter2"\ndevice = ""\nbaudrate = 9600\nbytesize = 8\n'
                           'parity = "N"\nstopbits = 1\nprofile = "auto"\nagents = []\ntransport = "udp"\n')
    out = subprocess.run([sys.executable, "-m", "wfm.cli", "config", "show", "--config", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert "hunter2" not in out and "$argon2" not in out
    shown = write(tmp_path, out.replace('"********"', '""'), name="shown.toml")
    again = load_config(shown)
    assert again.floor == load_config(path).floor


def test_cli_reports_bad_config_with_exit_2(tmp_path):
    path = write(tmp_path, "[floor]\nfoo = 1\n")
    proc = subprocess.run([sys.executable, "-m", "wfm.cli", "config", "show", "--config", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown key 'floor.foo'" in proc.stderr
