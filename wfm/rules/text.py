"""Wording shared by the rules: durations, break names (English with the floor's Chinese terms)."""
from __future__ import annotations

import math

from wfm.events import BreakKind

KIND_EN = {BreakKind.SHORT: "short break (小休)", BreakKind.MEAL: "meal (用餐)"}
KIND_ZH = {BreakKind.SHORT: "小休", BreakKind.MEAL: "用餐"}


def dur(seconds: float, *, up: bool = False) -> str:
    """'10 min', '10 min 30 s', '45 s' — whole seconds (rounded up with `up`), never negative."""
    value = max(0.0, seconds)
    total = math.ceil(value - 1e-6) if up else int(value + 1e-6)
    minutes, secs = divmod(total, 60)
    if minutes and secs:
        return f"{minutes} min {secs} s"
    if minutes or not secs:
        return f"{minutes} min"
    return f"{secs} s"


def dur_zh(seconds: float) -> str:
    total = int(max(0.0, seconds) + 1e-6)
    minutes, secs = divmod(total, 60)
    if minutes and secs:
        return f"{minutes}分{secs}秒"
    if minutes or not secs:
        return f"{minutes}分钟"
    return f"{secs}秒"
