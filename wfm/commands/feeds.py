"""The composition root's half of the PBX feeds: each protocol's settings object and adapter from the config.

Adapters (telephony/<protocol>) never see the whole app Config; this module
reads `[floor]` and `[pbx]` and hands each one only what it uses.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telephony.adapter import Adapter
from telephony.ami.settings import AmiSettings
from telephony.esl.settings import EslSettings
from telephony.reconnect import ReconnectSettings
from telephony.serial.settings import SerialSettings
from telephony.sip.settings import SipSettings
from wfm.config import Config, FeedConfig

logger = logging.getLogger(__name__)

PROTOCOLS = ("ami", "esl", "sip", "serial")


def reconnect_settings(config: Config) -> ReconnectSettings:
    r = config.pbx.reconnect
    return ReconnectSettings(initial_s=r.initial_s, max_s=r.max_s, jitter=r.jitter)


def ami_settings(config: Config) -> AmiSettings:
    pbx = config.pbx
    return AmiSettings(tz=config.floor.tz, stale_after_s=pbx.stale_after_s, wrap_up_s=pbx.wrap_up_s,
                       status_unavailable=pbx.status_unavailable, pause_reasons=dict(pbx.pause_reasons),
                       agent_aliases=dict(pbx.agent_aliases), reconnect=reconnect_settings(config),
                       events=pbx.ami_events, reconcile_s=pbx.reconcile_s,
                       reconcile_scope=pbx.reconcile_scope, queue_wrap_up_s=dict(pbx.queue_wrap_up_s))


def esl_settings(config: Config) -> EslSettings:
    pbx = config.pbx
    return EslSettings(tz=config.floor.tz, stale_after_s=pbx.stale_after_s, wrap_up_s=pbx.wrap_up_s,
                       esl_on_break=pbx.esl_on_break, agent_aliases=dict(pbx.agent_aliases),
                       reconnect=reconnect_settings(config))


def sip_settings(config: Config) -> SipSettings:
    pbx = config.pbx
    return SipSettings(tz=config.floor.tz, stale_after_s=pbx.stale_after_s, wrap_up_s=pbx.wrap_up_s,
                       pause_reasons=dict(pbx.pause_reasons), reconnect=reconnect_settings(config),
                       presence_closed=pbx.presence_closed)


def serial_settings(config: Config) -> SerialSettings:
    """The serial settings; the line profile is the first serial feed's (`auto` when there is none)."""
    pbx = config.pbx
    feed = next((f for f in pbx.feeds if f.protocol == "serial"), None)
    return SerialSettings(tz=config.floor.tz, stale_after_s=pbx.stale_after_s, aux_codes=dict(pbx.aux_codes),
                          agent_aliases=dict(pbx.agent_aliases), reconnect=reconnect_settings(config),
                          profile=feed.profile if feed is not None else "auto")


_SETTINGS = {"ami": ami_settings, "esl": esl_settings, "sip": sip_settings, "serial": serial_settings}


def settings_for(protocol: str, config: Config) -> Any:
    """The settings object of `protocol`'s adapter, mapper and capture parser."""
    try:
        return _SETTINGS[protocol](config)
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})") from None


def matching_feed(config: Config, protocol: str, host: str, port: int) -> FeedConfig | None:
    """The config's feed for `protocol` at host:port, else its first feed of that protocol."""
    feeds = [f for f in config.pbx.feeds if f.protocol == protocol]
    return next((f for f in feeds if f.host == host and f.port == port), feeds[0] if feeds else None)


def fill_connect_arguments(args: Any, config: Config, protocol: str) -> None:
    """`wfm ingest --connect`: what the command line leaves out (username, secret, SIP agents and
    transport) comes from the config's matching feed."""
    feed = matching_feed(config, protocol, args.connect_host, args.connect_port)
    if feed is None:
        return
    if getattr(args, "username", None) is None and (feed.username or protocol != "sip"):
        args.username = feed.username
    if getattr(args, "secret", None) is None:
        args.secret = feed.resolved_secret()
    if protocol == "sip":
        if not [a for a in (args.agents or "").split(",") if a.strip()]:
            args.agents = ",".join(feed.agents)
        args.transport = args.transport or feed.transport
        args.presence = getattr(args, "presence", False) or feed.presence
        args.expires_s, args.keepalive_s = feed.expires_s, feed.keepalive_s


def adapter_arguments(config: Config, feed: FeedConfig) -> tuple[Any, dict[str, Any]]:
    """The settings object and keyword arguments of the adapter for one `[[pbx.feeds]]` entry."""
    if feed.protocol == "ami":
        return ami_settings(config), {"host": feed.host, "port": feed.port, "username": feed.username,
                                      "secret": feed.resolved_secret()}
    if feed.protocol == "esl":
        from telephony.esl.client import DEFAULT_PASSWORD

        password = feed.resolved_secret()
        if not password:
            logger.info("esl feed %s:%d has no secret; using FreeSWITCH's default event-socket password",
                        feed.host, feed.port)
            password = DEFAULT_PASSWORD
        return esl_settings(config), {"host": feed.host, "port": feed.port, "password": password}
    if feed.protocol == "sip":
        return sip_settings(config), {"host": feed.host, "port": feed.port, "agents": list(feed.agents),
                                      "transport": feed.transport, "username": feed.username,
                                      "secret": feed.resolved_secret(), "presence": feed.presence,
                                      "expires_s": feed.expires_s, "keepalive_s": feed.keepalive_s}
    if feed.protocol == "serial":
        if not feed.device:
            raise ValueError("serial feed has no device (e.g. device = \"/dev/ttyUSB0\")")
        return serial_settings(config), {"device": feed.device, "baudrate": feed.baudrate, "bytesize": feed.bytesize,
                                         "parity": feed.parity, "stopbits": feed.stopbits, "profile": feed.profile}
    raise ValueError(f"unknown protocol {feed.protocol!r} (known: {', '.join(PROTOCOLS)})")


def build_adapter(config: Config, feed: FeedConfig, cls: Callable[..., Adapter], **extra: Any) -> Adapter:
    """The adapter `cls` for one feed (extra keyword arguments, such as clock=, go to its constructor)."""
    settings, kwargs = adapter_arguments(config, feed)
    adapter = cls(settings, **kwargs, **extra)
    adapter.enact_breaks = feed.enact_breaks  # the site may keep breaks off the PBX (the agent pauses on the phone)
    return adapter
