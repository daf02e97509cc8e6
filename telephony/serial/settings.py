"""What the serial CTI adapter, line decoder and mapper read: built from `[floor]` and `[pbx]` by the
composition root (wfm/commands/feeds.py), so this package never sees the whole app config."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo

from telephony.reconnect import ReconnectSettings
from telephony.serial.protocol import Profile


@dataclass(frozen=True, kw_only=True)
class SerialSettings:
    """The settings of one serial CTI feed."""

    tz: tzinfo  # floor.tz: the port's local times are in the floor zone
    stale_after_s: float  # pbx.stale_after_s
    aux_codes: Mapping[str, str]  # pbx.aux_codes: AUX code → state name
    agent_aliases: Mapping[str, str]  # pbx.agent_aliases
    reconnect: ReconnectSettings  # pbx.reconnect
    profile: Profile = "auto"  # the first serial feed's profile (auto | acd | smdr)
