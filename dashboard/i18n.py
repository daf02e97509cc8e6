"""Labels for the floor pages: English with the Chinese floor terms beside them.

The floor speaks both languages: the handbook terms (话务空闲数, 小休, 用餐)
stay in Chinese next to the English label so a supervisor from either side
reads the board at a glance. `label(key)` gives the bilingual form, `label(key,
"en")` or `label(key, "zh")` a single language.
"""
from __future__ import annotations

from typing import Literal

Lang = Literal["both", "en", "zh"]

LABELS: dict[str, tuple[str, str]] = {
    # wall tiles
    "calls_waiting": ("Calls waiting", "排队来电"),
    "longest_wait": ("Longest wait", "最长等待"),
    "idle_agents": ("Idle agents", "话务空闲数"),
    "short_break": ("Short break", "小休"),
    "meal": ("Meal", "用餐"),
    "occupancy": ("Occupancy", "占用率"),
    "service_level": ("Service level", "服务水平"),
    "service_level_today": ("Today", "今日"),
    "service_level_15m": ("Last 15 min", "近15分钟"),
    "target": ("target", "目标"),
    "abandon_rate": ("Abandon rate", "放弃率"),
    "asa": ("ASA", "平均应答速度"),
    "on_post": ("On post", "在岗"),
    "signed_in": ("Signed in", "已签入"),
    "short_break_blocked": ("小休 blocked", "小休"),
    "short_break_open": ("小休 open", "小休"),
    "near_threshold": ("near threshold", "接近阈值"),
    "threshold": ("threshold", "阈值"),
    "agents": ("Agents", "座席"),
    "on_break_now": ("On break now", "正在休息"),
    "nobody_on_break": ("Nobody on break", "无人休息"),
    "alerts": ("Alerts", "告警"),
    "no_alerts": ("No active alerts", "无告警"),
    "feeds": ("Feeds", "数据源"),
    "feed_live": ("live", "正常"),
    "feed_stale": ("STALE", "数据过期"),
    "feed_down": ("DISCONNECTED", "已断开"),
    "no_feed_data": ("No floor data", "无话务数据"),
    "break_queue": ("Break queue", "休息排队"),
    "left": ("left", "剩余"),
    "over": ("over", "超时"),
    "floor_time": ("Floor time", "现场时间"),
    "occupancy_2h": ("Occupancy, last 2 h", "近2小时占用率"),
    # agent page
    "my_breaks": ("My breaks", "我的休息"),
    "short_break_used": ("Short breaks used", "已用小休"),
    "short_break_left": ("Short breaks left", "剩余小休"),
    "breaks_taken": ("Breaks taken", "小休次数"),
    "meal_slot": ("Meal slot", "用餐时段"),
    "meal_taken": ("Meal taken", "已用餐"),
    "meal_now": ("On meal now", "正在用餐"),
    "end_my_break": ("End break", "结束休息"),
    "granted_banner": ("Your break is granted — go now", "您的休息已批准，请现在去"),
    "my_month": ("My roster this month", "本月排班"),
    "meal_not_taken": ("Meal not yet taken", "未用餐"),
    "shift": ("Shift", "班次"),
    "no_shift": ("No current shift", "当前无班次"),
    "state": ("State", "状态"),
    "request_short": ("Request 小休", "小休"),
    "request_meal": ("Request 用餐", "用餐"),
    "wait_in_queue": ("Queue me if refused", "被拒时排队"),
    "cancel_break": ("Cancel request", "取消申请"),
    "allowed": ("Allowed", "已批准"),
    "refused": ("Refused", "未批准"),
    "next_window": ("Next window", "下次可休"),
    "queue_position": ("Position in break queue", "休息排队位置"),
    "break_ends": ("Break limit at", "休息截止"),
    "would_be": ("If you asked now", "若现在申请"),
    # held places (docs/break-holds.md)
    "held_places": ("allowed, not yet on break", "已批准未离席"),
    "allowed_not_started": ("Allowed, not yet on break", "已批准，尚未离席"),
    "holds_until": ("place held until", "名额保留至"),
    "approval_lapsed": ("Your approval lapsed — ask again", "你的批准已失效，请重新申请"),
    "login_needed": ("Please sign in", "请先登录"),
    "forbidden": ("403 — not allowed", "无权访问"),
    "api_down": ("The floor service is not answering", "服务暂不可用"),
    "connecting": ("connecting…", "连接中"),
    # supervisor page
    "override": ("Override", "主管干预"),
    "allow_break": ("Allow a break", "批准休息"),
    "end_break": ("End a break", "结束休息"),
    "reason": ("Reason", "原因"),
    "send": ("Send", "提交"),
    "adherence": ("Adherence: scheduled vs actual", "排班遵从度"),
    "log_verify": ("Event log verification", "话务日志校验"),
    "log_ok": ("intact", "完整"),
    "log_bad": ("TAMPERED", "被篡改"),
    "scheduled": ("scheduled", "排班"),
    "actual": ("actual", "实际"),
    "meal_slot_scheduled": ("meal slot", "用餐时段"),
    # roster page
    "roster": ("Roster", "排班"),
    "agents_csv": ("agents.csv", "座席名单"),
    "demand_csv": ("demand.csv", "需求"),
    "history_csv": ("history.csv (forecast)", "历史话务(预测)"),
    "month": ("Month", "月份"),
    "solve": ("Solve", "求解"),
    "objective": ("objective", "目标值"),
    "bound": ("bound", "下界"),
    "gap": ("gap", "差距"),
    "coverage": ("Coverage vs demand", "覆盖与需求"),
    "fairness": ("Fairness: evenings and weekends per agent", "公平性：晚班与周末"),
    "unmet": ("Unmet agent-intervals", "未满足需求"),
    "approve_publish": ("Approve and publish", "审批并发布"),
    "swaps": ("Swap requests", "换班申请"),
    # reports page
    "reports": ("KPI reports", "指标报表"),
    "daily": ("Daily", "日报"),
    "monthly": ("Monthly", "月报"),
    "download_csv": ("Download CSV", "下载CSV"),
    "download_xlsx": ("Download XLSX", "下载XLSX"),
    "lateness": ("Lateness", "迟到"),
    "overruns": ("Overruns", "超时"),
}

STATES: dict[str, tuple[str, str]] = {
    "logged_out": ("Logged out", "签出"),
    "ready": ("Ready", "空闲"),
    "ringing": ("Ringing", "振铃"),
    "on_call": ("On call", "通话"),
    "wrap_up": ("Wrap-up", "话后"),
    "short_break": ("Short break", "小休"),
    "meal": ("Meal", "用餐"),
    "not_ready": ("Not ready", "未就绪"),
}

RULES: dict[str, tuple[str, str]] = {
    "QUEUE_NEAR_FULL": ("Queue near full: too few idle agents", "话务空闲数过低，暂停小休"),
    "SHORT_BREAK_TOO_LONG": ("Short break over its limit", "小休超时"),
    "SHORT_BREAK_BUDGET": ("Short-break minutes for the shift used up", "本班小休时长已用完"),
    "MEAL_TOO_LONG": ("Meal over its limit", "用餐超时"),
    "MEAL_NOT_IN_SLOT": ("Meal outside the assigned slot", "未在指定时段用餐"),
    "MEAL_STATE_MISSING": ("Away in the meal slot without 用餐 state", "用餐未置用餐状态"),
    "LATE_SIGN_IN": ("Late sign-in", "签入迟到"),
    "SERIOUS_LATE": ("Serious lateness or off post", "严重迟到或离岗"),
    "POST_EMPTY": ("Post empty", "岗位无人"),
    "LUNCH_COVER": ("Lunch cover would break", "午餐值班不足"),
    "NOT_ON_SHIFT": ("Not on shift", "不在班"),
    "TEAM_BREAK_CAP": ("Team break cap reached", "班组休息人数已满"),
    # not rule codes: an allowed break's held place freed before it started (docs/break-holds.md)
    "HOLD_LAPSED": ("Approval lapsed (not taken)", "批准已失效（未离席）"),
    "HOLD_NOT_ENACTED": ("Approval released (PBX pause not enacted)", "批准已释放（未能暂停）"),
    # not a rule code: a pause or unpause the PBX refused or never confirmed (docs/pbx-permissions.md)
    "PBX_ACTION_FAILED": ("PBX action failed", "电话系统未执行"),
}


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    en, zh = pair
    if lang == "en":
        return en
    if lang == "zh":
        return zh
    # a label that already carries the Chinese term is not repeated
    return en if zh in en else f"{en} {zh}"


def label(key: str, lang: Lang = "both") -> str:
    """The label for `key`; a missing key is shown as itself (never an exception on the wall)."""
    pair = LABELS.get(key)
    return _pick(pair, lang) if pair else key


def state_label(state: str, lang: Lang = "both") -> str:
    pair = STATES.get(state)
    return _pick(pair, lang) if pair else state


def rule_label(code: str, lang: Lang = "both") -> str:
    pair = RULES.get(code)
    return _pick(pair, lang) if pair else code
