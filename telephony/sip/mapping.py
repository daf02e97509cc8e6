"""Pure mapping of SIP NOTIFY bodies onto agent states (docs/pbx-mapping.md, "SIP dialog-info").

dialog-info (RFC 4235): `state="full"` replaces the agent's dialog set,
`partial` merges by dialog id, a `terminated` dialog is removed. Any
`confirmed` dialog (held or not) → on_call; else an `early` dialog with the
agent as recipient → ringing; else any other live dialog (an outgoing attempt)
→ not_ready; none → ready. An empty NOTIFY body (what Kamailio sends while a
phone has published nothing, e.g. after its publication expired) means no
dialogs. Versions increase per subscription; a stale one is ignored. When a
call ends and config `pbx.wrap_up_s` > 0, a computed wrap-up follows (as
after any call), ended by `advance(now)` or a new call. Presence (PIDF, RFC
3863, with RFC 4480 activities): an activity is looked up in config
`pbx.pause_reasons` (`meal` → meal; `away`, `busy` and other unknown
activities → not_ready) and, like a PBX pause, wins over the dialogs;
`basic=closed` without an activity maps to config `pbx.presence_closed`
(logged_out by default, never ready) unless a live dialog says the phone is
in use; an empty presence body clears both.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telephony.sip.settings import SipSettings
from wfm.events import AgentState, AgentStateEvent

DIALOG_NS = "urn:ietf:params:xml:ns:dialog-info"
RPID_NS = "urn:ietf:params:xml:ns:pidf:rpid"
LIVE_STATES = frozenset({"trying", "proceeding", "early", "confirmed"})
_IGNORED_ACTIVITIES = frozenset({"on-the-phone", "unknown", "other"})  # the dialogs tell these better
MAX_BODY_BYTES = 256 * 1024


class SipMappingError(ValueError):
    """A NOTIFY body that cannot be read (bad XML, wrong document, bad version)."""


@dataclass(frozen=True)
class Dialog:
    id: str
    state: str
    direction: str | None


@dataclass(frozen=True)
class DialogInfo:
    version: int
    full: bool
    entity: str | None
    dialogs: tuple[Dialog, ...]


@dataclass(frozen=True)
class Presence:
    entity: str | None
    activities: tuple[str, ...]
    basic: str | None


NO_DIALOGS = DialogInfo(version=-1, full=True, entity=None, dialogs=())
NO_PRESENCE = Presence(entity=None, activities=(), basic=None)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xml(body: bytes, what: str) -> ET.Element:
    if len(body) > MAX_BODY_BYTES:
        raise SipMappingError(f"{what} body larger than {MAX_BODY_BYTES} bytes")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SipMappingError(f"{what} body with a DTD or entities refused")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise SipMappingError(f"{what} body is not well-formed XML ({exc})") from None
    except (LookupError, ValueError) as exc:  # an unknown encoding in the XML declaration, bad characters
        raise SipMappingError(f"{what} body cannot be decoded ({exc})") from None


def parse_dialog_info(body: bytes) -> DialogInfo:
    """An application/dialog-info+xml document."""
    root = _xml(body, "dialog-info")
    if _local(root.tag) != "dialog-info":
        raise SipMappingError(f"expected <dialog-info>, got <{_local(root.tag)}>")
    version_text = root.get("version")
    try:
        version = int(version_text) if version_text is not None else -1
    except ValueError:
        raise SipMappingError(f"dialog-info version is not a number: {version_text!r}") from None
    state = (root.get("state") or "full").lower()
    if state not in ("full", "partial"):
        raise SipMappingError(f"dialog-info state must be full or partial, not {state!r}")
    dialogs = []
    for element in root:
        if _local(element.tag) != "dialog":
            continue
        dialog_id = element.get("id")
        if not dialog_id:
            raise SipMappingError("a <dialog> without id")
        state_element = next((child for child in element if _local(child.tag) == "state"), None)
        dialog_state = (state_element.text or "").strip().lower() if state_element is not None else ""
        if dialog_state not in LIVE_STATES | {"terminated"}:
            raise SipMappingError(f"dialog {dialog_id!r} has unknown state {dialog_state!r}")
        dialogs.append(Dialog(dialog_id, dialog_state, (element.get("direction") or "").lower() or None))
    return DialogInfo(version, state == "full", root.get("entity"), tuple(dialogs))


def parse_pidf(body: bytes) -> Presence:
    """An application/pidf+xml document: RPID activities and the first tuple's basic status."""
    root = _xml(body, "PIDF")
    if _local(root.tag) != "presence":
        raise SipMappingError(f"expected <presence>, got <{_local(root.tag)}>")
    activities: list[str] = []
    basic = None
    for element in root.iter():
        name = _local(element.tag)
        if name == "activities":
            activities += [_local(child.tag) for child in element if _local(child.tag) not in _IGNORED_ACTIVITIES]
        elif name == "basic" and basic is None:
            basic = (element.text or "").strip().lower() or None
    return Presence(root.get("entity"), tuple(activities), basic)


@dataclass
class AgentDialogs:
    """What the mapper remembers of one agent: live dialogs, presence activity, last emitted."""

    dialogs: dict[str, Dialog] = field(default_factory=dict)
    activity: str | None = None
    closed: bool = False  # PIDF basic=closed: the phone's presence is gone
    versions: dict[str, int] = field(default_factory=dict)  # subscription (Call-ID) -> last version
    emitted: tuple | None = None
    wrap_until: datetime | None = None  # a computed wrap-up after a call (config pbx.wrap_up_s)


class SipMapper:
    """NOTIFY bodies → agent_state events, one agent id per subscription (as given by the caller)."""

    def __init__(self, settings: SipSettings, source: str = "sip") -> None:
        self.settings = settings
        self.source = source
        self.agents: dict[str, AgentDialogs] = {}
        self._wrap_up = timedelta(seconds=settings.wrap_up_s)

    def next_due(self) -> datetime | None:
        """When the next computed wrap-up ends, or None."""
        due = [a.wrap_until for a in self.agents.values() if a.wrap_until is not None]
        return min(due) if due else None

    def advance(self, now: datetime) -> list[AgentStateEvent]:
        """Emit every wrap-up that has ended by `now`, stamped with its own end time."""
        out: list[AgentStateEvent] = []
        ended = sorted(((a.wrap_until, agent_id) for agent_id, a in self.agents.items()
                        if a.wrap_until is not None and a.wrap_until <= now))
        for when, agent_id in ended:
            agent = self.agents[agent_id]
            agent.wrap_until = None
            out += self._emit(agent_id, agent, when, force=False)
        return out

    def derive(self, agent: AgentDialogs, now: datetime | None = None) -> tuple[AgentState, str | None]:
        if agent.activity is not None:
            reasons = self.settings.pause_reasons
            return AgentState(reasons.get(agent.activity, "not_ready")), agent.activity
        live = [d for d in agent.dialogs.values() if d.state in LIVE_STATES]
        if any(d.state == "confirmed" for d in live):
            return AgentState.ON_CALL, None
        if any(d.state == "early" and d.direction in ("recipient", None) for d in live):
            return AgentState.RINGING, None
        if live:
            return AgentState.NOT_READY, None
        if agent.closed:
            return AgentState(self.settings.presence_closed), None
        if agent.wrap_until is not None and (now is None or now < agent.wrap_until):
            return AgentState.WRAP_UP, None
        return AgentState.READY, None

    def _emit(self, agent_id: str, agent: AgentDialogs, ts: datetime, force: bool) -> list[AgentStateEvent]:
        state, reason = self.derive(agent, ts)
        if not force and agent.emitted == (state, reason):
            return []
        agent.emitted = (state, reason)
        return [AgentStateEvent(ts=ts, agent=agent_id, state=state, reason=reason, source=self.source)]

    def dialog_notify(self, agent_id: str, subscription: str, body: bytes, ts: datetime) -> list[AgentStateEvent]:
        """Apply a dialog-info NOTIFY body; an empty body means no dialogs (nothing published)."""
        agent = self.agents.setdefault(agent_id, AgentDialogs())
        first = subscription not in agent.versions
        if not body.strip():
            info = NO_DIALOGS  # carries no version: the next document's version is still compared with the last one
            agent.versions.setdefault(subscription, -1)
        else:
            info = parse_dialog_info(body)
            last = agent.versions.get(subscription)
            if last is not None and info.version <= last:
                return []  # stale or repeated version: ignored
            agent.versions[subscription] = info.version
        was_on_call = any(d.state == "confirmed" for d in agent.dialogs.values())
        if info.full:
            agent.dialogs = {}
        for dialog in info.dialogs:
            if dialog.state == "terminated":
                agent.dialogs.pop(dialog.id, None)
            else:
                agent.dialogs[dialog.id] = dialog
        on_call = any(d.state == "confirmed" for d in agent.dialogs.values())
        if on_call or any(d.state in LIVE_STATES for d in agent.dialogs.values()):
            agent.wrap_until = None  # a new or ongoing call ends any wrap-up
        elif was_on_call and self._wrap_up > timedelta(0) and not first:
            agent.wrap_until = ts + self._wrap_up  # a call just ended: computed wrap-up, as after any call
        return self.advance(ts) + self._emit(agent_id, agent, ts, force=first)

    def presence_notify(self, agent_id: str, subscription: str, body: bytes, ts: datetime) -> list[AgentStateEvent]:
        """Apply a PIDF NOTIFY body: the first activity (if any) overrides the dialogs, `closed` overrides ready.

        An empty body (no publication) clears the presence: the dialogs decide.
        """
        presence = parse_pidf(body) if body.strip() else NO_PRESENCE
        agent = self.agents.setdefault(agent_id, AgentDialogs())
        first = subscription not in agent.versions
        agent.versions.setdefault(subscription, 0)
        agent.activity = presence.activities[0] if presence.activities else None
        agent.closed = presence.basic == "closed"
        # the dialog subscription's first NOTIFY already stated an unchanged state
        return self.advance(ts) + self._emit(agent_id, agent, ts, force=first and agent.emitted is None)

    def forget_subscription(self, agent_id: str, subscription: str) -> None:
        """A subscription ended (481, terminated): its versions no longer apply."""
        agent = self.agents.get(agent_id)
        if agent is not None:
            agent.versions.pop(subscription, None)
