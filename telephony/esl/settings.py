"""What the ESL adapter and mapper read: built from `[floor]` and `[pbx]` by the composition root
(wfm/commands/feeds.py), so this package never sees the whole app config."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo

from telephony.reconnect import ReconnectSettings


@dataclass(frozen=True, kw_only=True)
class EslSettings:
    """The settings of one FreeSWITCH ESL feed."""

    tz: tzinfo  # floor.tz
    stale_after_s: float  # pbx.stale_after_s (and the keepalive is a third of it)
    wrap_up_s: float  # pbx.wrap_up_s
    esl_on_break: str  # pbx.esl_on_break: the state 'On Break' maps to
    agent_aliases: Mapping[str, str]  # pbx.agent_aliases
    reconnect: ReconnectSettings  # pbx.reconnect
