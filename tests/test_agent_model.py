"""What /me shows, from a budget view and an answer: pure (dashboard/agent_model.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dashboard.agent_model import break_status, budget_lines, decision_box, preview_text
from wfm.events import AgentState, BreakKind
from wfm.views import AgentBudgetView, BreakPreview

TZ = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=TZ)


def preview(allowed=True, rule=None):
    return BreakPreview(kind=BreakKind.SHORT, allowed=allowed, rule=rule, detail="short break allowed" if allowed else
                        "only 3 idle", detail_zh="可以小休" if allowed else "话务空闲数不足", next_window=None)


def budget(**changes):
    base = dict(ts=NOW, agent="1001", state=AgentState.READY, since=NOW - timedelta(minutes=3), shift_start=None,
                shift_end=None, short_break_used_s=0.0, short_break_left_s=1800.0, short_break_budget_s=1800.0,
                short_break_max_s=600.0, short_breaks_taken=0, meal_slot_start=None, meal_slot_end=None,
                meal_taken=False, on_break=None, break_ends_at=None, queue_position=None,
                short_break=preview(), meal=preview())
    base.update(changes)
    return AgentBudgetView(**base)


def test_during_a_meal_the_page_shows_the_meal_and_minutes_left():
    view = budget(state=AgentState.MEAL, on_break=BreakKind.MEAL, meal_taken=True,
                  break_ends_at=NOW + timedelta(minutes=12, seconds=30))
    title, left = break_status(view, TZ, "en")
    assert "用餐" in title and left.startswith("12:30 left")
    assert break_status(view, TZ, "zh")[0] == "正在用餐"
    meal_line = next(line for line in budget_lines(view, TZ) if line.key == "meal")
    assert "On meal now" in meal_line.value  # not "Meal taken" while it is still on


def test_no_break_status_when_not_on_a_break():
    assert break_status(budget(), TZ) is None


def test_an_overrun_break_says_how_far_over():
    view = budget(on_break=BreakKind.SHORT, break_ends_at=NOW - timedelta(minutes=1, seconds=5))
    assert break_status(view, TZ)[1].startswith("+1:05 over")


def test_preview_speaks_the_pages_language():
    assert preview_text(preview(), TZ, "zh") == "已批准 — 可以小休"
    assert "short break allowed" in preview_text(preview(), TZ, "en")
    refused = preview_text(preview(False, "QUEUE_NEAR_FULL"), TZ, "zh")
    assert "话务空闲数不足" in refused and "only 3 idle" not in refused


def test_a_refusal_that_cannot_queue_says_so_and_a_queued_one_gives_its_position():
    refused = {"decision": {"allowed": False, "rule": "SHORT_BREAK_BUDGET", "detail": "budget used"},
               "queue_position": None, "detail_zh": "小休时长已用完"}
    box = decision_box(refused, TZ, "en", asked_to_queue=True)
    assert "cannot wait in the break queue" in box.reason
    assert "不能排队" in decision_box(refused, TZ, "zh", asked_to_queue=True).reason
    assert "cannot" not in decision_box(refused, TZ, "en", asked_to_queue=False).reason
    queued = {"decision": {"allowed": False, "rule": "QUEUE_NEAR_FULL", "detail": "only 3 idle"}, "queue_position": 2}
    box = decision_box(queued, TZ, "en", asked_to_queue=True)
    assert box.queue_position == 2 and "cannot" not in box.reason


def test_budget_lines_are_chinese_on_a_chinese_page():
    lines = {line.key: line for line in budget_lines(budget(), TZ, "zh")}
    assert lines["state"].title == "状态" and lines["state"].value.startswith("空闲")
    assert lines["meal"].value == "未用餐"
    assert not any(ch.isascii() and ch.isalpha() for ch in lines["short_break_left"].title)
    both = {line.key: line for line in budget_lines(budget(), TZ)}
    assert both["state"].title == "State 状态"  # the default page stays bilingual
