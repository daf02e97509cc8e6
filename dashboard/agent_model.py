"""What the agent page (/me) shows, from an AgentBudgetView and a break decision: pure."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from collections.abc import Mapping

from dashboard.i18n import Lang, label, rule_label, state_label
from dashboard.wall_model import format_duration
from wfm.views import AgentBudgetView, BreakPreview


@dataclass(frozen=True)
class BudgetLine:
    key: str
    title: str
    value: str
    level: str = "neutral"


@dataclass(frozen=True)
class DecisionBox:
    allowed: bool
    headline: str
    reason: str
    next_window: str
    queue_position: int | None


def _hm(moment: datetime | None, tz: tzinfo) -> str:
    return "—" if moment is None else moment.astimezone(tz).strftime("%H:%M")


def budget_lines(view: AgentBudgetView, tz: tzinfo, lang: str = "en") -> list[BudgetLine]:
    """The agent's own numbers for this shift, in reading order (Chinese only when `lang` is "zh")."""
    one: Lang = "zh" if lang == "zh" else "both"
    used_ratio = view.short_break_used_s / view.short_break_budget_s if view.short_break_budget_s else 1.0
    left_level = "alarm" if view.short_break_left_s <= 0 else ("warn" if used_ratio >= 0.66 else "ok")
    state = view.state.value if hasattr(view.state, "value") else str(view.state)
    since = "" if view.since is None else f" · {format_duration((view.ts - view.since).total_seconds())}"
    shift = label("no_shift", one) if view.shift_start is None else f"{_hm(view.shift_start, tz)}–{_hm(view.shift_end, tz)}"
    if view.meal_slot_start is None:
        meal_slot = "—"
    else:
        meal_slot = f"{_hm(view.meal_slot_start, tz)}–{_hm(view.meal_slot_end, tz)}"
    lines = [
        BudgetLine("state", label("state", one), state_label(state, one) + since),
        BudgetLine("shift", label("shift", one), shift),
        BudgetLine("short_break_used", label("short_break_used", one),
                   f"{view.short_break_used_s / 60:.0f} / {view.short_break_budget_s / 60:.0f} min"),
        BudgetLine("short_break_left", label("short_break_left", one), f"{view.short_break_left_s / 60:.0f} min", left_level),
        BudgetLine("breaks_taken", label("breaks_taken", one),
                   f"{view.short_breaks_taken} (≤ {view.short_break_max_s / 60:.0f} min" + ("/次)" if lang == "zh" else " each)")),
        BudgetLine("meal_slot", label("meal_slot", one), meal_slot),
        BudgetLine("meal", label("meal", one), _meal_status(view, one), "ok" if view.meal_taken else "neutral"),
    ]
    if view.on_break is not None and view.break_ends_at is not None:
        remaining = (view.break_ends_at - view.ts).total_seconds()
        text = (f"{_hm(view.break_ends_at, tz)} ({format_duration(remaining)} {label('left', 'en')})" if remaining >= 0
                else f"{_hm(view.break_ends_at, tz)} (+{format_duration(-remaining)} {label('over', 'en')})")
        lines.append(BudgetLine("break_ends", label("break_ends", one), text, "alarm" if remaining < 0 else "warn"))
    if view.queue_position is not None:
        lines.append(BudgetLine("queue_position", label("queue_position", one), f"#{view.queue_position}", "warn"))
    lines += hold_lines(view, tz)
    return lines


def _meal_status(view: AgentBudgetView, one: Lang = "both") -> str:
    on_meal = view.on_break is not None and str(getattr(view.on_break, "value", view.on_break)) == "meal"
    if on_meal:
        return label("meal_now", one)
    return label("meal_taken", one) if view.meal_taken else label("meal_not_taken", one)


def break_status(view: AgentBudgetView, tz: tzinfo, lang: str = "en") -> tuple[str, str] | None:
    """During a break: ("On 小休 Short break", "6:12 left 剩余" or "+1:05 over 超时"); None otherwise."""
    if view.on_break is None:
        return None
    kind = str(getattr(view.on_break, "value", view.on_break))
    state = "short_break" if kind == "short" else "meal"
    title = ("正在" + state_label(state, "zh")) if lang == "zh" else f"On {state_label(state)}"
    if view.break_ends_at is None:
        return title, ""
    remaining = (view.break_ends_at - view.ts).total_seconds()
    if remaining >= 0:
        return title, f"{format_duration(remaining)} " + ("剩余" if lang == "zh" else "left 剩余") + f" · {_hm(view.break_ends_at, tz)}"
    return title, f"+{format_duration(-remaining)} " + ("超时" if lang == "zh" else "over 超时")


def hold_lines(view: AgentBudgetView, tz: tzinfo) -> list[BudgetLine]:
    """An allowed break not yet started (its place is held), or the approval that lapsed (docs/break-holds.md)."""
    allowed = getattr(view, "allowed_break", None)
    lapsed = getattr(view, "approval_lapsed", None)
    if allowed is not None:
        kind = label("short_break" if allowed.value == "short" else "meal")
        until = getattr(view, "hold_lapses_at", None)
        text = kind if until is None else f"{kind} · {label('holds_until')} {until.astimezone(tz).strftime('%H:%M:%S')}"
        return [BudgetLine("allowed_break", label("allowed_not_started"), text, "ok")]
    if lapsed is not None:
        return [BudgetLine("approval_lapsed", label("approval_lapsed"),
                           f"{lapsed.detail} · {lapsed.detail_zh}", "alarm")]
    return []


def preview_text(preview: BreakPreview, tz: tzinfo, lang: str = "en") -> str:
    """'If you asked now' line for one break kind: the very answer a request would get now
    (the API's preview runs the same gate and rules), in the page's language."""
    zh = lang == "zh"
    detail = (preview.detail_zh or preview.detail) if zh else preview.detail
    if preview.allowed:
        return f"{label('allowed', 'zh' if zh else 'both')} — {detail}"
    reason = detail
    if preview.rule:
        reason = f"{rule_label(preview.rule, 'zh')}：{detail}" if zh else f"{rule_label(preview.rule, 'en')}: {detail}"
    if not zh and preview.detail_zh:
        reason += f" ({preview.detail_zh})"
    if preview.next_window is not None:
        reason += f" · {label('next_window', 'zh' if zh else 'both')} {_hm(preview.next_window, tz)}"
    return f"{label('refused', 'zh' if zh else 'both')} — {reason}"


def decision_box(answer: Mapping[str, Any], tz: tzinfo, lang: str = "en", asked_to_queue: bool = False) -> DecisionBox:
    """The API's answer to a break request (a §2 break_decision, maybe with a queue position), in the
    page's language; a refusal the agent asked to queue but that could not queue says so."""
    zh = lang == "zh"
    decision = answer.get("decision", answer)
    allowed = bool(decision.get("allowed"))
    rule = decision.get("rule")
    detail = str((answer.get("detail_zh") if zh else None) or decision.get("detail", ""))
    window = decision.get("next_window")
    window_text = ""
    if window:
        window_text = _hm(datetime.fromisoformat(str(window).replace("Z", "+00:00")), tz)
    position = answer.get("queue_position", answer.get("position"))
    reason = detail if not rule else f"{rule_label(rule, 'zh' if zh else 'both')} — {detail}"
    if not allowed and asked_to_queue and not isinstance(position, int):
        reason += " · " + ("此原因不能排队，请稍后再申请" if zh else "this refusal cannot wait in the break queue 不能排队")
    return DecisionBox(
        allowed=allowed,
        headline=label("allowed", "zh" if zh else "both") if allowed else label("refused", "zh" if zh else "both"),
        reason=reason,
        next_window=window_text,
        queue_position=int(position) if isinstance(position, int) else None,
    )
