"""What the SIP adapter, subscriber and mapper read: built from `[floor]` and `[pbx]` by the composition
root (wfm/commands/feeds.py), so this package never sees the whole app config."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo

from telephony.reconnect import ReconnectSettings

DEFAULT_EXPIRES_S = 3600  # feed expires_s: the subscription Expires asked for (as wfm/defaults.toml)
DEFAULT_KEEPALIVE_S = 3.0  # feed keepalive_s: the liveness probe interval (as wfm/defaults.toml)


@dataclass(frozen=True, kw_only=True)
class SipSettings:
    """The settings of one SIP feed."""

    tz: tzinfo  # floor.tz
    stale_after_s: float  # pbx.stale_after_s
    wrap_up_s: float  # pbx.wrap_up_s: SIP has no wrap-up state, so it is computed after each call
    pause_reasons: Mapping[str, str]  # pbx.pause_reasons: presence note → state name
    reconnect: ReconnectSettings  # pbx.reconnect (also paces re-subscriptions)
    presence_closed: str = "logged_out"  # pbx.presence_closed: PIDF basic=closed → this state (never ready)
