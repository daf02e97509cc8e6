"""Pure builders of the pages: wall tiles, agent cards, break countdowns, figures, adherence."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import adherence, figures, wall_model
from dashboard.agent_model import budget_lines, decision_box, preview_text
from wfm.views import WallView
from dashboard.i18n import label, rule_label, state_label
from test_dashboard_harness import Floor, T0
from wfm.api.projections import wall_floor
from wfm.config import load_config
from wfm.events import AgentState
import msgspec

CONFIG = load_config()
SETTINGS = wall_model.WallSettings.from_config(CONFIG)
TZ = CONFIG.floor.tz


def floor_with(states: dict[str, tuple[AgentState, float]], waiting: int = 0):
    floor = Floor(states=dict(states), waiting=waiting)
    return floor.view()


def tile(view, key):
    return next(t for t in wall_model.tiles(view, SETTINGS) if t.key == key)


# --- labels ---------------------------------------------------------------------------------

def test_labels_carry_the_chinese_floor_terms():
    assert label("idle_agents") == "Idle agents 话务空闲数"
    assert state_label("short_break") == "Short break 小休"
    assert state_label("meal") == "Meal 用餐"
    assert label("idle_agents", "en") == "Idle agents"
    assert label("idle_agents", "zh") == "话务空闲数"
    assert rule_label("QUEUE_NEAR_FULL", "en").startswith("Queue near full")
    assert label("no_such_key") == "no_such_key"  # a missing label never breaks the wall


# --- wall tiles -------------------------------------------------------------------------------

def test_wall_always_shows_the_five_required_tiles_even_with_nobody_on_break():
    view = floor_with({str(1001 + i): (AgentState.READY, 10.0) for i in range(8)})
    tiles = wall_model.tiles(view, SETTINGS)
    keys = [t.key for t in tiles]
    for required in ("idle_agents", "short_break", "meal", "occupancy", "service_level"):
        assert required in keys
    assert "话务空闲数" in tile(view, "idle_agents").title
    assert tile(view, "short_break").value == "0"
    assert tile(view, "meal").value == "0"


@pytest.mark.parametrize(
    ("idle", "level"),
    [(2, "alarm"), (3, "alarm"), (4, "warn"), (5, "warn"), (6, "ok")],
)
def test_idle_tile_is_red_at_or_below_threshold_amber_near_it(idle, level):
    states = {str(1001 + i): (AgentState.READY if i < idle else AgentState.ON_CALL, 5.0) for i in range(10)}
    view = floor_with(states)
    idle_tile = tile(view, "idle_agents")
    assert idle_tile.value == str(idle)
    assert idle_tile.level == level
    assert ("小休 blocked" in idle_tile.detail) is (level == "alarm")


def test_idle_amber_margin_comes_from_config():
    wide = wall_model.WallSettings(**{**SETTINGS.__dict__, "idle_amber_margin": 5})
    states = {str(1001 + i): (AgentState.READY if i < 8 else AgentState.ON_CALL, 5.0) for i in range(10)}
    view = floor_with(states)
    assert next(t for t in wall_model.tiles(view, wide) if t.key == "idle_agents").level == "warn"
    assert tile(view, "idle_agents").level == "ok"


def test_waiting_tiles_judge_longest_wait_against_the_service_targets():
    assert wall_model.wait_level(None, 0, SETTINGS) == "ok"
    assert wall_model.wait_level(10.0, 2, SETTINGS) == "ok"
    assert wall_model.wait_level(SETTINGS.answer_target_s + 1, 2, SETTINGS) == "warn"
    assert wall_model.wait_level(SETTINGS.service_level_answer_s + 1, 2, SETTINGS) == "alarm"


def test_service_level_tile_compares_today_and_15_minutes_with_target():
    assert wall_model.service_level_level(0.9, 0.85, 0.8) == "ok"
    assert wall_model.service_level_level(0.9, 0.6, 0.8) == "warn"
    assert wall_model.service_level_level(0.7, 0.6, 0.8) == "alarm"
    assert wall_model.service_level_level(None, None, 0.8) == "neutral"
    view = Floor.sample().view()
    sl = tile(view, "service_level")
    assert sl.value == "83%" and "71%" in sl.detail and "80%" in sl.detail


def test_format_duration_and_percent():
    assert wall_model.format_duration(0) == "0:00"
    assert wall_model.format_duration(65.9) == "1:05"
    assert wall_model.format_duration(3725) == "1:02:05"
    assert wall_model.format_duration(None) == "—"
    assert wall_model.format_percent(0.8349) == "83%"
    assert wall_model.format_percent(None) == "—"


# --- agents and breaks --------------------------------------------------------------------------

def test_agent_cards_are_ordered_by_id_and_overruns_are_alarms():
    view = floor_with({"1010": (AgentState.READY, 5.0), "1002": (AgentState.SHORT_BREAK, 700.0),
                       "999": (AgentState.ON_CALL, 61.0)})
    cards = wall_model.agent_cards(view)
    assert [c.agent for c in cards] == ["999", "1002", "1010"]
    assert cards[0].time_in_state == "1:01"
    assert cards[1].level == "alarm" and cards[1].state_label == "小休"
    assert cards[2].level == "neutral"


def test_break_rows_count_down_and_show_overruns_first_in_red():
    view = floor_with({"1001": (AgentState.SHORT_BREAK, 240.0), "1002": (AgentState.MEAL, 1900.0),
                       "1003": (AgentState.READY, 5.0)})
    rows = wall_model.break_rows(view, SETTINGS)
    assert [r.agent for r in rows] == ["1002", "1001"]
    assert rows[0].overrun and rows[0].remaining == "+1:40 over"
    assert not rows[1].overrun and rows[1].remaining == "6:00 left"


def test_break_rows_on_the_wall_projection_use_the_config_limits():
    """The open wall's projection carries no break_limit_s: F4/F5 limits come from config."""
    full = floor_with({"1001": (AgentState.SHORT_BREAK, 610.0), "1002": (AgentState.MEAL, 100.0)})
    wall = msgspec.convert(msgspec.to_builtins(wall_floor(full)), WallView)
    rows = wall_model.break_rows(wall, SETTINGS)
    by_agent = {r.agent: r for r in rows}
    assert by_agent["1001"].overrun and by_agent["1001"].remaining == "+0:10 over"
    assert by_agent["1002"].remaining == "28:20 left"


def test_feed_rows_say_stale_in_words():
    floor = Floor.sample()
    assert wall_model.feed_rows(floor.view())[0].level == "ok"
    floor.stale = True
    row = wall_model.feed_rows(floor.view())[0]
    assert row.level == "alarm" and "STALE" in row.status


def test_alert_rows_use_floor_time_and_limit_from_config():
    view = Floor.sample().view()
    rows = wall_model.alert_rows(view, SETTINGS)
    assert rows[0].time == "09:29:00" and rows[0].rule == "SHORT_BREAK_TOO_LONG" and rows[0].agent == "1003"
    one = wall_model.WallSettings(**{**SETTINGS.__dict__, "alerts_shown": 1})
    doubled = msgspec.structs.replace(view, alerts=view.alerts * 3)
    assert len(wall_model.alert_rows(doubled, one)) == 1


def test_occupancy_history_keeps_a_window_and_a_step():
    points: list = []
    for minute in range(0, 180, 1):
        points = wall_model.append_history(points, T0 + timedelta(minutes=minute), 0.5, window_min=120, min_step_s=120)
    assert len(points) == 61  # every 2 minutes over the last 120 minutes, both ends kept
    first = datetime.fromisoformat(points[0][0])
    assert first == T0 + timedelta(minutes=58)
    same = wall_model.append_history(points, T0 + timedelta(minutes=178, seconds=30), 0.9, 120, 120)
    assert same == points  # within the step: nothing added
    restarted = wall_model.append_history(points, T0, 0.4, 120, 120)
    assert restarted == [[T0.isoformat(), 0.4]]  # a clock that went back starts afresh
    assert wall_model.append_history([], T0, None, 120, 120) == []


# --- figures ------------------------------------------------------------------------------------

def test_occupancy_gauge_marks_cap_and_turns_amber_above_it():
    low = figures.occupancy_gauge(0.5, 0.85)
    high = figures.occupancy_gauge(0.92, 0.85)
    assert isinstance(low, go.Figure)
    assert low.data[0].value == 50.0
    assert low.data[0].gauge.threshold.value == pytest.approx(85.0)
    assert low.data[0].gauge.bar.color == figures.GREEN
    assert high.data[0].gauge.bar.color == figures.AMBER
    assert figures.occupancy_gauge(None, 0.85).data[0].gauge.bar.color == figures.MUTED
    assert figures.gauge_value(0.923) == 92.3 and figures.gauge_value(None) == 0.0
    assert figures.gauge_colour(0.9, 0.85) == figures.AMBER and figures.gauge_colour(0.85, 0.85) == figures.GREEN


def test_occupancy_line_plots_history_in_floor_time():
    history = [[(T0 + timedelta(minutes=m)).isoformat(), 0.5 + m / 100] for m in range(3)]
    fig = figures.occupancy_line(history, 0.85, TZ)
    assert list(fig.data[0].y) == [50.0, 51.0, 52.0]
    assert fig.data[0].x[0] == "2027-01-04 09:30:00"  # floor-local wall time (Asia/Shanghai)
    utc_history = [[(T0 + timedelta(minutes=1)).astimezone(timezone.utc).isoformat(), 0.5]]
    assert figures.occupancy_series(utc_history, TZ) == (["2027-01-04 09:31:00"], [50.0])
    assert fig.layout.shapes[0].y0 == pytest.approx(85.0)
    assert tuple(fig.layout.xaxis.range) == ("2027-01-04 07:32:00", "2027-01-04 09:35:00")  # the last 2 h
    assert figures.occupancy_window([], TZ, 120) is None


def test_adherence_timeline_has_scheduled_and_actual_lanes():
    segments = pd.DataFrame([
        {"agent": "1001", "lane": "scheduled", "state": "scheduled", "start": T0 - timedelta(hours=1), "end": T0 + timedelta(hours=6)},
        {"agent": "1001", "lane": "scheduled", "state": "meal_slot", "start": T0 + timedelta(hours=2), "end": T0 + timedelta(hours=2, minutes=30)},
        {"agent": "1001", "lane": "actual", "state": "ready", "start": T0, "end": T0 + timedelta(minutes=5)},
        {"agent": "1001", "lane": "actual", "state": "on_call", "start": T0 + timedelta(minutes=5), "end": T0 + timedelta(minutes=9)},
    ])
    fig = figures.adherence_timeline(segments, TZ)
    names = [trace.name for trace in fig.data]
    assert names[0] == label("scheduled") and names[1] == label("meal_slot")  # shift drawn under its meal slot
    on_call = next(t for t in fig.data if t.name == state_label("on_call"))
    assert list(on_call.x) == [4 * 60 * 1000]
    assert set(fig.layout.yaxis.categoryarray) == {"1001 scheduled", "1001 actual"}
    empty = figures.adherence_timeline(segments.iloc[0:0], TZ)
    assert len(empty.data) == 0


def test_month_grid_coverage_fairness_and_trend():
    roster = pd.DataFrame([
        {"agent_id": "A1", "date": "2027-01-01", "shift": "day"},
        {"agent_id": "A1", "date": "2027-01-02", "shift": "OFF"},
        {"agent_id": "A2", "date": "2027-01-01", "shift": "evening"},
        {"agent_id": "A2", "date": "2027-01-02", "shift": "day"},
    ])
    grid = figures.month_grid(roster)
    assert grid.data[0].text.tolist() == [["D", ""], ["E", "D"]]
    assert list(grid.data[0].x) == ["01", "02"]

    coverage = pd.DataFrame([
        {"date": "2027-01-01", "interval_start": "09:00", "required": 5, "on_post": 3},
        {"date": "2027-01-01", "interval_start": "09:30", "required": 5, "on_post": 6},
    ])
    heat = figures.coverage_heatmap(coverage)
    assert heat.data[0].z.tolist() == [[-2], [1]]
    assert heat.data[0].zmin == -2 and heat.data[0].zmax == 2

    fair = figures.fairness_chart(pd.DataFrame({"agent_id": ["A10", "A2"], "evenings": [3, 4], "weekends": [2, 1]}))
    assert list(fair.data[0].x) == ["A2", "A10"] and list(fair.data[0].y) == [4, 3]

    daily = pd.DataFrame({"date": ["2027-01-01"], "service_level": [0.8], "abandon_rate": [0.05]})
    trend = figures.kpi_trend(daily, 0.8)
    assert list(trend.data[0].y) == [80.0] and list(trend.data[1].y) == [5.0]


def test_solver_progress_plots_objective_and_bound():
    fig = figures.solver_progress([{"elapsed_s": 1.0, "objective": 100, "bound": 10}, {"elapsed_s": 2.0, "objective": 80, "bound": 20}])
    assert list(fig.data[0].y) == [100, 80] and list(fig.data[1].y) == [10, 20]


# --- adherence (the API's document shaped for the page) ---------------------------------------

def test_adherence_frame_maps_the_api_document_onto_timeline_lanes():
    doc = {"segments": {"1001": {
        "scheduled": [["work", "2027-01-04T08:30:00+08:00", "2027-01-04T11:30:00+08:00"],
                      ["meal", "2027-01-04T11:30:00+08:00", "2027-01-04T12:00:00+08:00"]],
        "actual": [["ready", "2027-01-04T08:31:00+08:00", "2027-01-04T09:00:00+08:00"],
                   ["on_call", "2027-01-04T09:00:00+08:00", "2027-01-04T09:05:00+08:00"]]}}}
    frame = adherence.segments_frame(doc, ["1001", "9999"])
    assert set(frame["lane"]) == {"scheduled", "actual"} and set(frame["agent"]) == {"1001"}
    assert list(frame[frame["lane"] == "scheduled"]["state"]) == ["scheduled", "meal_slot"]
    meal = frame[frame["state"] == "meal_slot"].iloc[0]
    assert meal["end"] - meal["start"] == timedelta(minutes=30)
    assert adherence.segments_frame(doc, ["9999"]).empty
    assert figures.adherence_timeline(frame, TZ).data  # the figure builder takes it as it is


def test_adherence_table_rows_say_percent_and_who_is_out():
    rows = adherence.table_rows([{"agent": "1001", "adherence": 0.9123, "conformance": None, "scheduled_s": 5400,
                                  "out_since": "2027-01-04T09:00:00+08:00"}], "agent")
    assert rows == [["1001", "91.2%", "—", "1.5 h", "OUT 偏离"]]


# --- agent page ---------------------------------------------------------------------------------

def test_budget_lines_show_used_left_meal_and_shift():
    budget = Floor.sample().budget("1001")
    lines = {line.key: line for line in budget_lines(budget, TZ)}
    assert lines["short_break_used"].value == "5 / 30 min"
    assert lines["short_break_left"].value == "25 min" and lines["short_break_left"].level == "ok"
    assert lines["shift"].value == "08:30–16:00"
    assert lines["meal_slot"].value == "11:30–12:00"
    assert "用餐" in lines["meal"].title
    assert "queue_position" not in lines


def test_budget_lines_warn_when_used_up_and_show_queue_and_break_end():
    budget = Floor.sample().budget("1003")
    spent = msgspec.structs.replace(budget, short_break_used_s=1800.0, short_break_left_s=0.0, queue_position=2,
                                    break_ends_at=budget.ts - timedelta(seconds=65))
    lines = {line.key: line for line in budget_lines(spent, TZ)}
    assert lines["short_break_left"].level == "alarm"
    assert lines["queue_position"].value == "#2"
    assert lines["break_ends"].level == "alarm" and "+1:05 over" in lines["break_ends"].value


def test_preview_and_decision_texts():
    floor = Floor(states={str(1001 + i): (AgentState.ON_CALL, 5.0) for i in range(6)})
    budget = floor.budget("1001")
    text = preview_text(budget.short_break, TZ)
    assert text.startswith("Refused") and "Queue near full" in text and "话务空闲数不足" in text
    meal = preview_text(budget.meal, TZ)
    assert "Next window" in meal and "11:30" in meal
    box = decision_box({"decision": {"allowed": False, "rule": "QUEUE_NEAR_FULL", "detail": "idle agents 3 <= 3",
                                     "next_window": "2027-01-04T01:40:00+00:00"}, "queue_position": 2}, TZ)
    assert not box.allowed and box.queue_position == 2 and box.next_window == "09:40"
    assert "idle agents 3" in box.reason
    allowed = decision_box({"type": "break_decision", "allowed": True, "rule": None, "detail": "ok", "next_window": None}, TZ)
    assert allowed.allowed and allowed.headline.startswith("Allowed") and allowed.next_window == ""


def test_agent_grid_rows_are_compact_and_carry_the_state_start():
    view = floor_with({"1002": (AgentState.SHORT_BREAK, 700.0), "1001": (AgentState.READY, 5.0)})
    rows = wall_model.agent_grid_data(wall_model.agent_cards(view), view)
    assert [r[0] for r in rows] == ["1001", "1002"]
    agent, state, text, since_ms, level = rows[1]
    assert (state, text, level) == ("short_break", "小休", "alarm")
    assert since_ms == round((T0 - timedelta(seconds=700)).timestamp() * 1000)


def test_adherence_timeline_centres_on_now_when_given():
    segments = pd.DataFrame([{"agent": "1001", "lane": "actual", "state": "ready", "start": T0, "end": T0 + timedelta(minutes=5)}])
    fig = figures.adherence_timeline(segments, TZ, now=T0 + timedelta(minutes=5), window=(60, 30))
    start, end = (pd.Timestamp(x) for x in fig.layout.xaxis.range)
    assert end - start == pd.Timedelta(minutes=90)
    assert fig.layout.shapes[0].x0 == fig.layout.shapes[0].x1  # the "now" line
    assert figures.adherence_timeline(segments, TZ).layout.xaxis.range is None
