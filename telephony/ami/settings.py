"""What the AMI adapter and mapper read: built from `[floor]` and `[pbx]` by the composition root
(wfm/commands/feeds.py), so this package never sees the whole app config."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo

from telephony.reconnect import ReconnectSettings


@dataclass(frozen=True, kw_only=True)
class AmiSettings:
    """The settings of one AMI feed."""

    tz: tzinfo  # floor.tz: event times in the floor zone
    stale_after_s: float  # pbx.stale_after_s: no message for this long = stale (and the keepalive is a third of it)
    wrap_up_s: float  # pbx.wrap_up_s: a computed wrap-up after each call (0 = the PBX reports its own)
    status_unavailable: str  # pbx.status_unavailable: what an unavailable queue member is
    pause_reasons: Mapping[str, str]  # pbx.pause_reasons: PausedReason → state name
    agent_aliases: Mapping[str, str]  # pbx.agent_aliases: PBX name → agent id
    reconnect: ReconnectSettings  # pbx.reconnect
    events: str = "agent,system"  # pbx.ami_events: the event classes asked for at login (least privilege)
    reconcile_s: float = 5.0  # pbx.reconcile_s: compare with a QueueStatus this often (0 = only when asked)
    reconcile_scope: str = "queue"  # pbx.reconcile_scope: "queue" (one QueueStatus per queue, spread) or "all"
    queue_wrap_up_s: Mapping[str, float] = field(default_factory=dict)  # pbx.queue_wrap_up_s: per-queue wrap-up
