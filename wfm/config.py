"""Typed, validated configuration: one TOML file over the shipped defaults.

`wfm/defaults.toml` is the single source of every default (each rulebook
number sits there with a comment naming its rule). A site file is merged over
it key by key (tables merge, lists replace) and the result is converted into
the frozen structs below; a wrong type or an unknown key is rejected with the
key's dotted name.
"""
from __future__ import annotations

import re
import tomllib
from datetime import time, tzinfo
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from wfm.timeutil import zone
from wfm.wire import to_builtins

Minutes = Annotated[int, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
OpenFraction = Annotated[float, msgspec.Meta(gt=0, lt=1)]
HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
StateName = Literal["short_break", "meal", "not_ready", "logged_out", "ready"]

_HIDDEN = "********"


class ConfigError(ValueError):
    """The configuration could not be loaded; the message names the file and key."""


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class GateConfig(_Section, frozen=True):
    policy: Literal["fixed", "scaled", "service_level"]
    scaled_fraction: Fraction
    horizon_min: Annotated[int, msgspec.Meta(gt=0)]


class BreakQueueConfig(_Section, frozen=True):
    enabled: bool
    max_on_break_per_team: Minutes


class EnforcementConfig(_Section, frozen=True):
    warn_on_refused_pause: bool
    unpause_on_refused_pause: bool
    pause_on_allow: bool
    unpause_on_overrun: bool


class FloorConfig(_Section, frozen=True):
    timezone: str
    arrive_before_shift_min: Minutes
    sign_in_window_min: Minutes
    near_full_idle_threshold: Minutes
    team_short_break_cap: Minutes
    short_break_max_min: Minutes
    short_break_budget_min: Minutes
    meal_max_min: Minutes
    meal_slot_min: Minutes
    lunch_cover_min_agents: Minutes
    serious_late_min: Minutes
    # docs/interfaces.md §2 "An allowed break holds its place": ready seconds after which an allowed,
    # not started break lapses and frees its place (ours; the handbooks name no figure); 0 = never
    allowed_break_hold_s: Annotated[float, msgspec.Meta(ge=0)]
    reorder_window_s: Annotated[float, msgspec.Meta(ge=0)]
    duplicate_window_s: Annotated[float, msgspec.Meta(ge=0)]
    tick_s: Annotated[float, msgspec.Meta(gt=0)]
    near_full_alert_rearm_min: Minutes
    near_full_alert: bool
    first_snapshot_wait_s: Annotated[float, msgspec.Meta(ge=0)]
    gate: GateConfig
    break_queue: BreakQueueConfig
    enforcement: EnforcementConfig

    @property
    def tz(self) -> tzinfo:
        return zone(self.timezone)  # lru-cached lookup


class ServiceConfig(_Section, frozen=True):
    answer_target_s: Annotated[float, msgspec.Meta(gt=0)]
    hold_silence_max_s: Annotated[float, msgspec.Meta(gt=0)]
    callback_within_h: Annotated[float, msgspec.Meta(gt=0)]
    service_level_target: OpenFraction
    service_level_answer_s: Annotated[float, msgspec.Meta(ge=0)]
    occupancy_cap: Annotated[float, msgspec.Meta(gt=0, le=1)]
    shrinkage: Annotated[float, msgspec.Meta(ge=0, lt=1)]
    default_aht_s: Annotated[float, msgspec.Meta(gt=0)]
    patience_s: Annotated[float, msgspec.Meta(gt=0)]


class ShiftTemplate(_Section, frozen=True):
    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
    start: HHMM
    end: HHMM

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.fromisoformat(self.end)

    @property
    def crosses_midnight(self) -> bool:
        return self.end_time <= self.start_time

    @property
    def length_min(self) -> int:
        s, e = self.start_time, self.end_time
        minutes = (e.hour * 60 + e.minute) - (s.hour * 60 + s.minute)
        return minutes + 24 * 60 if minutes <= 0 else minutes


class RosterWeights(_Section, frozen=True):
    under_cover: Minutes
    over_cover: Minutes
    rest_request: Minutes
    preferred_shift: Minutes
    fair_evenings: Minutes
    fair_weekends: Minutes
    fair_holidays: Minutes
    fair_workdays: Minutes
    stability: Minutes


class RosterConfig(_Section, frozen=True):
    max_consecutive_days: Annotated[int, msgspec.Meta(ge=1)]
    rest_days_per_month: Minutes
    min_rest_between_shifts_h: Annotated[float, msgspec.Meta(ge=0)]
    holiday_publish_days_ahead: Minutes
    max_swaps_per_month: Minutes
    meal_margin_min: Minutes
    meal_grid_min: Annotated[int, msgspec.Meta(gt=0)]
    interval_min: Annotated[int, msgspec.Meta(gt=0)]
    evening_from: HHMM
    holidays: list[Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]]
    time_limit_s: Annotated[float, msgspec.Meta(gt=0)]
    deterministic_time_s: Annotated[float, msgspec.Meta(ge=0)]
    workers: Minutes
    shifts: Annotated[list[ShiftTemplate], msgspec.Meta(min_length=1)]
    weights: RosterWeights

    def shift(self, name: str) -> ShiftTemplate:
        for template in self.shifts:
            if template.name == name:
                return template
        raise KeyError(name)


class RecordsConfig(_Section, frozen=True):
    missed_sign_ins_for_points: Minutes
    lateness_grades_min: list[Minutes]


class StorageConfig(_Section, frozen=True):
    url: str
    batch_max_records: Annotated[int, msgspec.Meta(ge=1)]
    batch_max_delay_ms: Annotated[float, msgspec.Meta(ge=0)]
    signing_key_file: str
    signing_key_env: str
    checkpoint_every_records: Annotated[int, msgspec.Meta(ge=1)]
    checkpoint_every_s: Annotated[float, msgspec.Meta(gt=0)]
    floor_id: Annotated[str, msgspec.Meta(min_length=1)]


class ApiConfig(_Section, frozen=True):
    host: str
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)]
    kiosk_token: str
    session_hours: Annotated[float, msgspec.Meta(gt=0)]
    break_requests_per_minute: Annotated[int, msgspec.Meta(ge=1)]
    login_attempts_per_minute: Annotated[int, msgspec.Meta(ge=1)]
    ws_floor_interval_ms: Annotated[float, msgspec.Meta(ge=0)]
    ws_full_floor_interval_ms: Annotated[float, msgspec.Meta(ge=0)]
    wall_cache_ms: Annotated[float, msgspec.Meta(ge=0)]
    idle_timeout_s: Annotated[float, msgspec.Meta(gt=0)]
    cookie_secure: bool
    max_body_kib: Annotated[int, msgspec.Meta(ge=1)]
    users_file: str
    trusted_proxies: list[str]


class ProcessConfig(_Section, frozen=True):
    gc_freeze: bool
    gc_thresholds: Annotated[list[Annotated[int, msgspec.Meta(ge=1)]], msgspec.Meta(min_length=3, max_length=3)]
    malloc_mmap_threshold_kib: Annotated[int, msgspec.Meta(ge=0)]
    malloc_trim_every_s: Annotated[float, msgspec.Meta(ge=0)]


class ReconnectConfig(_Section, frozen=True):
    initial_s: Annotated[float, msgspec.Meta(gt=0)]
    max_s: Annotated[float, msgspec.Meta(gt=0)]
    jitter: Fraction


class FeedConfig(_Section, frozen=True):
    protocol: Literal["ami", "esl", "sip", "serial"]
    host: str
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)]
    username: str
    secret_env: str
    secret: str
    device: str
    baudrate: Annotated[int, msgspec.Meta(gt=0)]
    bytesize: Literal[5, 6, 7, 8]
    parity: Literal["N", "E", "O", "M", "S"]
    stopbits: Literal[1, 2]
    profile: Literal["auto", "acd", "smdr"]
    agents: list[str]
    transport: Literal["udp", "tcp"]
    # SIP only; a feed table written before these existed may leave them out (same defaults as wfm/defaults.toml)
    presence: bool = False
    expires_s: Annotated[int, msgspec.Meta(ge=10, le=86400)] = 3600
    keepalive_s: Annotated[float, msgspec.Meta(ge=0)] = 3.0
    enact_breaks: bool = True  # pause/unpause allowed breaks in the PBX (where the protocol can)

    def resolved_secret(self) -> str:
        """The secret from the environment variable if set, else from the file."""
        import os

        return os.environ.get(self.secret_env, "") if self.secret_env and os.environ.get(self.secret_env) else self.secret


class BreakReasonsConfig(_Section, frozen=True):
    """The pause reason sent to the PBX when an allowed break is enacted, per kind."""

    short: str
    meal: str


class PbxConfig(_Section, frozen=True):
    stale_after_s: Annotated[float, msgspec.Meta(gt=0)]
    wrap_up_s: Annotated[float, msgspec.Meta(ge=0)]
    status_unavailable: Literal["logged_out", "not_ready"]
    presence_closed: Literal["logged_out", "not_ready"]
    esl_on_break: StateName
    pause_reasons: dict[str, StateName]
    aux_codes: dict[str, StateName]
    agent_aliases: dict[str, str]
    break_reasons: BreakReasonsConfig
    queue_wrap_up_s: dict[str, Annotated[float, msgspec.Meta(ge=0)]]
    confirm_s: Annotated[float, msgspec.Meta(gt=0)]
    action_retries: Annotated[int, msgspec.Meta(ge=0)]
    action_retry_initial_s: Annotated[float, msgspec.Meta(gt=0)]
    action_retry_max_s: Annotated[float, msgspec.Meta(gt=0)]
    reconcile_s: Annotated[float, msgspec.Meta(ge=0)]
    reconcile_scope: Literal["queue", "all"]
    ami_events: str
    reconnect: ReconnectConfig
    feeds: list[FeedConfig]


class SimulatorConfig(_Section, frozen=True):
    seed: int
    agents: Annotated[int, msgspec.Meta(ge=1)]
    queues: Annotated[list[str], msgspec.Meta(min_length=1)]
    calls_per_day: Annotated[int, msgspec.Meta(ge=0)]
    mean_handle_s: Annotated[float, msgspec.Meta(gt=0)]
    wrap_up_s: Annotated[float, msgspec.Meta(ge=0)]
    mean_patience_s: Annotated[float, msgspec.Meta(gt=0)]
    late_sign_in_probability: Fraction
    overrun_probability: Fraction
    speed: Annotated[float, msgspec.Meta(gt=0)]
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)]
    day: Annotated[str, msgspec.Meta(pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
    start_at: Annotated[str, msgspec.Meta(pattern=r"^(([01]\d|2[0-3]):[0-5]\d)?$")]
    intraday_curve: Annotated[list[Annotated[float, msgspec.Meta(ge=0)]], msgspec.Meta(min_length=24, max_length=24)]
    queue_weights: list[Annotated[float, msgspec.Meta(gt=0)]]
    handle_cv: Annotated[float, msgspec.Meta(gt=0)]
    short_breaks_per_shift: Annotated[list[Minutes], msgspec.Meta(min_length=2, max_length=2)]
    meal_off_slot_probability: Fraction
    ring_no_answer_probability: Fraction
    wrapuptime_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0  # Asterisk queue `wrapuptime`: fixed, reported per member


class UserConfig(_Section, frozen=True):
    username: Annotated[str, msgspec.Meta(min_length=1)]
    role: Literal["agent", "supervisor", "scheduler", "admin"]
    agent: str
    password_hash: str


class QueueConfig(_Section, frozen=True):
    id: Annotated[str, msgspec.Meta(min_length=1)]
    name: str


class TeamConfig(_Section, frozen=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    agents: list[str]
    queues: list[str]


class DashboardConfig(_Section, frozen=True):
    wall_refresh_ms: Annotated[int, msgspec.Meta(ge=100)]
    idle_amber_margin: Minutes
    occupancy_history_min: Annotated[int, msgspec.Meta(gt=0)]
    alerts_shown: Annotated[int, msgspec.Meta(ge=1)]
    api_timeout_s: Annotated[float, msgspec.Meta(gt=0)]
    roster_jobs_dir: str
    roster_dir: str
    agent_names_csv: str
    wall_stale_s: Annotated[float, msgspec.Meta(gt=0)]
    wall_rotate_s: Annotated[float, msgspec.Meta(gt=0)]
    wall_short_break_warn_min: Annotated[float, msgspec.Meta(ge=0)]
    wall_meal_warn_min: Annotated[float, msgspec.Meta(ge=0)]
    wall_wrap_up_warn_s: Annotated[float, msgspec.Meta(ge=0)]
    wall_wrap_up_alarm_s: Annotated[float, msgspec.Meta(ge=0)]
    wall_not_ready_warn_min: Annotated[float, msgspec.Meta(ge=0)]
    wall_not_ready_alarm_min: Annotated[float, msgspec.Meta(ge=0)]


class ForecastConfig(_Section, frozen=True):
    volume_scale: Annotated[float, msgspec.Meta(gt=0)]
    backtest_weeks: Annotated[int, msgspec.Meta(ge=1)]
    backtest_origins: Annotated[int, msgspec.Meta(ge=1)]
    candidates: Annotated[list[Annotated[str, msgspec.Meta(pattern=r"^[a-z_]+$")]], msgspec.Meta(min_length=1)]
    holiday_country: Annotated[str, msgspec.Meta(pattern=r"^([A-Za-z]{2,3})?$")]
    history_holiday_country: Annotated[str, msgspec.Meta(pattern=r"^([A-Za-z]{2,3})?$")]
    holiday_closed_without_history: bool
    trend_max_weeks: Minutes
    min_history_weeks: Annotated[int, msgspec.Meta(ge=1)]
    clip_to_shifts: bool


class Config(_Section, frozen=True):
    floor: FloorConfig
    service: ServiceConfig
    roster: RosterConfig
    records: RecordsConfig
    storage: StorageConfig
    api: ApiConfig
    process: ProcessConfig
    pbx: PbxConfig
    simulator: SimulatorConfig
    users: list[UserConfig]
    queues: list[QueueConfig]
    teams: list[TeamConfig]
    dashboard: DashboardConfig
    forecast: ForecastConfig

    def team_of(self, agent: str) -> str:
        """The team an agent belongs to: listed explicitly, else the first catch-all team."""
        for team in self.teams:
            if agent in team.agents:
                return team.name
        for team in self.teams:
            if not team.agents:
                return team.name
        return ""


def defaults_text() -> str:
    return resources.files("wfm").joinpath("defaults.toml").read_text(encoding="utf-8")


def default_data() -> dict[str, Any]:
    return tomllib.loads(defaults_text())


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge: tables merge key by key, every other value (lists too) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _key_message(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    match = _PATH_RE.search(text)
    path = match.group("path") if match else ""
    reason = text[: match.start()] if match else text
    unknown = re.match(r"Object contains unknown field `([^`]+)`", reason)
    key = re.sub(r"\[(\d+)\]", r"[\1]", path.lstrip("."))
    if unknown:
        full = f"{key}.{unknown.group(1)}" if key else unknown.group(1)
        return f"unknown key '{full}'"
    missing = re.match(r"Object missing required field `([^`]+)`", reason)
    if missing:
        full = f"{key}.{missing.group(1)}" if key else missing.group(1)
        return f"missing key '{full}'"
    return f"key '{key}': {reason}"


def from_data(data: dict[str, Any], source: str = "<config>") -> Config:
    """Validate merged config data; raises ConfigError naming source and key."""
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_key_message(exc)}") from None
    try:
        zone(config.floor.timezone)
    except ValueError as exc:
        raise ConfigError(f"{source}: key 'floor.timezone': {exc}") from None
    names = [t.name for t in config.roster.shifts]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: key 'roster.shifts': duplicate shift template name")
    if "OFF" in names:
        raise ConfigError(f"{source}: key 'roster.shifts': 'OFF' is reserved for rest days")
    return config


def load_config(path: str | Path | None = None) -> Config:
    """The shipped defaults, with the TOML file at `path` merged over them."""
    data = default_data()
    source = "defaults.toml"
    if path is not None:
        source = str(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8-sig")  # a BOM from Windows Notepad is not a TOML error
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from None
        try:
            override = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        data = merge(data, override)
    return from_data(data, source)


_URL_PASSWORD = re.compile(r"(://[^/@:?#]*):[^/?#]*@")
_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pass|secret|sslpassword)=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A storage URL fit to print: any password (user:PASSWORD@ or ?password=) replaced by ********."""
    url = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{_HIDDEN}@", url)
    return _QUERY_SECRET.sub(lambda m: m.group(1) + _HIDDEN, url)


def to_data(config: Config, *, reveal_secrets: bool = False) -> dict[str, Any]:
    """The effective config as plain data; PBX secrets, password hashes and URL passwords masked."""
    data = to_builtins(config)
    if not reveal_secrets:
        data["storage"]["url"] = redact_url(data["storage"]["url"])
        for feed in data["pbx"]["feeds"]:
            if feed.get("secret"):
                feed["secret"] = _HIDDEN
        for user in data["users"]:
            user["password_hash"] = _HIDDEN
        if data["api"].get("kiosk_token"):
            data["api"]["kiosk_token"] = _HIDDEN
    return data
