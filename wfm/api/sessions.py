"""Login sessions: opaque random tokens, stored only as SHA-256 digests.

A login creates one session with two credentials: the cookie token (sent
back as the HttpOnly `wfm_session` cookie) and a bearer token (for scripts
and the WebSocket `?token=`), plus a CSRF token that cookie-authenticated
state-changing requests must echo in `X-CSRF-Token`. Sessions expire after
`api.session_hours` and live in memory: a restart logs everyone out.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import msgspec

from wfm.auth import Account


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Session(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    account: Account
    csrf_token: str
    created: datetime
    expires: datetime

    def csrf_ok(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented, self.csrf_token)


class Issued(msgspec.Struct, frozen=True, kw_only=True):
    """What a login hands out; the tokens exist in clear only here."""

    session: Session
    cookie_token: str
    bearer_token: str


class SessionStore:
    def __init__(self, lifetime: timedelta) -> None:
        self._lifetime = lifetime
        self._sessions: dict[str, Session] = {}
        self._by_digest: dict[str, tuple[str, str]] = {}  # token digest -> (session id, "cookie"|"bearer")

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, account: Account, now: datetime) -> Issued:
        session = Session(
            session_id=secrets.token_hex(8),
            account=account,
            csrf_token=secrets.token_urlsafe(32),
            created=now,
            expires=now + self._lifetime,
        )
        cookie_token = secrets.token_urlsafe(32)
        bearer_token = secrets.token_urlsafe(32)
        self._sessions[session.session_id] = session
        self._by_digest[_digest(cookie_token)] = (session.session_id, "cookie")
        self._by_digest[_digest(bearer_token)] = (session.session_id, "bearer")
        return Issued(session=session, cookie_token=cookie_token, bearer_token=bearer_token)

    def lookup(self, token: str | None, now: datetime, kind: str) -> Session | None:
        """The live session of a cookie or bearer token; expired sessions are dropped."""
        if not token:
            return None
        entry = self._by_digest.get(_digest(token))
        if entry is None or entry[1] != kind:
            return None
        session = self._sessions.get(entry[0])
        if session is None:
            return None
        if now >= session.expires:
            self.revoke(session.session_id)
            return None
        return session

    def revoke(self, session_id: str) -> bool:
        existed = self._sessions.pop(session_id, None) is not None
        for digest in [d for d, (sid, _) in self._by_digest.items() if sid == session_id]:
            del self._by_digest[digest]
        return existed

    def purge(self, now: datetime) -> int:
        expired = [sid for sid, s in self._sessions.items() if now >= s.expires]
        for sid in expired:
            self.revoke(sid)
        return len(expired)
