"""Who may call what: credentials, access levels, CSRF, JSON errors, security headers.

Every route is registered with an Access level (wfm/api/routes.py); the
middleware here resolves the caller once per request — bearer token, else
the `wfm_session` cookie, else (WebSocket only) `?token=` — and answers 401
(no or bad credentials), 403 (wrong role or another agent), 415 (a body
that is not JSON) or lets the handler run. State-changing requests
authenticated by cookie must echo the session's CSRF token in
`X-CSRF-Token`; bearer-token requests are exempt (a browser never sends
them by itself).
"""
from __future__ import annotations

import enum
import hmac
import json
import logging
from typing import Any, TypedDict
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from yarl import URL

from wfm.api.sessions import Session
from wfm.auth import FLOOR_ACTORS, FLOOR_READERS, ROSTER_EDITORS, Account
from wfm.timeutil import utcnow

logger = logging.getLogger(__name__)

COOKIE_NAME = "wfm_session"
CSRF_HEADER = "X-CSRF-Token"
# dash-renderer copies the `_csrf_token` cookie into this header on every callback POST
DASH_CSRF_COOKIE = "_csrf_token"
DASH_CSRF_HEADER = "X-CSRFToken"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/api/login"  # makes a new session: no token to echo yet; the Origin check binds it


class Access(str, enum.Enum):
    PUBLIC = "public"  # anyone
    KIOSK = "kiosk"  # anyone unless api.kiosk_token is set; then ?token= or a session
    SESSION = "session"  # any logged-in user
    READERS = "readers"  # supervisor, scheduler, admin
    ACTORS = "actors"  # supervisor, admin
    SELF_OR_READERS = "self_or_readers"  # the agent named in the path, or a reader
    SELF_OR_ACTORS = "self_or_actors"  # the agent named in the path, or an actor
    SCHEDULERS = "schedulers"  # scheduler, admin (rosters)
    SELF_OR_SCHEDULERS = "self_or_schedulers"  # the agent named in the path, or a scheduler


ACCESS_KEY = "wfm_access"  # attribute on a handler: its Access level
REQUEST_ACCOUNT: web.RequestKey[Account | None] = web.RequestKey("wfm_account")
REQUEST_SESSION: web.RequestKey[Session | None] = web.RequestKey("wfm_session")
REQUEST_AUTH_KIND: web.RequestKey[str | None] = web.RequestKey("wfm_auth_kind")  # bearer, cookie, invalid or None
REQUEST_DASH = web.RequestKey("wfm_dash", bool)


class ApiError(web.HTTPException):
    """A JSON error response {"error", "detail"} with any status ({"detail_zh"} too where the floor's
    pages show the reason in Chinese)."""

    def __init__(self, status: int, error: str, detail: str = "", headers: dict[str, str] | None = None,
                 detail_zh: str | None = None) -> None:
        self.status_code = status
        body = {"error": error, "detail": detail}
        if detail_zh is not None:
            body["detail_zh"] = detail_zh
        super().__init__(
            text=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
            headers=headers,
        )


def access_of(handler: Any) -> Access | None:
    return getattr(handler, ACCESS_KEY, None)


def requires(level: Access):
    """Decorator tagging a handler with its access level."""

    def mark(handler):
        setattr(handler, ACCESS_KEY, level)
        return handler

    return mark


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def resolve_session(request: web.Request, sessions, *, allow_query_token: bool):
    """(session, kind) for the request's credentials; kind is 'bearer', 'cookie' or None.

    Presented-but-invalid credentials give (None, 'invalid').
    """
    now = utcnow()
    token = _bearer(request)
    if token is None and allow_query_token:
        token = request.query.get("token") or None
    if token is not None:
        session = sessions.lookup(token, now, "bearer")
        return (session, "bearer") if session else (None, "invalid")
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        session = sessions.lookup(cookie, now, "cookie")
        return (session, "cookie") if session else (None, "invalid")
    return None, None


def same_origin(request: web.Request) -> bool:
    """No Origin header (not a browser), or an Origin naming exactly this host and port.

    Cookies are shared by every port of a host, so another service on the same
    machine is "same-site"; only the origin tells it apart.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        url = URL(origin)
        authority = f"{url.host}:{url.explicit_port or url.port}" if url.host else None
    except (ValueError, TypeError):
        return False
    host = request.host or ""
    if ":" not in host.rsplit("]", 1)[-1]:
        host = f"{host}:{443 if request.secure else 80}"
    return authority is not None and authority.lower() == host.lower()


def kiosk_ok(request: web.Request, kiosk_token: str) -> bool:
    if not kiosk_token:
        return True
    presented = request.query.get("token", "")
    return bool(presented) and hmac.compare_digest(presented.encode(), kiosk_token.encode())


def check_access(level: Access, account: Account | None, path_agent: str | None) -> int | None:
    """None when allowed, else the status: 401 without an account, 403 with the wrong one."""
    if level in (Access.PUBLIC, Access.KIOSK):
        return None
    if account is None:
        return 401
    if level is Access.SESSION:
        return None
    if level is Access.READERS:
        return None if account.role in FLOOR_READERS else 403
    if level is Access.ACTORS:
        return None if account.role in FLOOR_ACTORS else 403
    if level is Access.SELF_OR_READERS:
        return None if path_agent is not None and account.may_read(path_agent) else 403
    if level is Access.SELF_OR_ACTORS:
        return None if path_agent is not None and account.may_act_for(path_agent) else 403
    if level is Access.SCHEDULERS:
        return None if account.role in ROSTER_EDITORS else 403
    if level is Access.SELF_OR_SCHEDULERS:
        own = path_agent is not None and account.agent == path_agent
        return None if own or account.role in ROSTER_EDITORS else 403
    return 403


def _wants_html(request: web.Request) -> bool:
    return not request.path.startswith("/api/") and request.path != "/ws" and "text/html" in request.headers.get("Accept", "")


async def enforce_body_cap(request: web.Request, max_size: int) -> None:
    """Refuse (413) a body over `max_size` on every route, before any handler or role check runs."""
    length = request.content_length
    if length is not None and length > max_size:
        raise ApiError(413, "request entity too large", f"the body is {length} bytes; at most {max_size} are accepted")
    if request.body_exists:
        try:
            await request.read()  # bounded by client_max_size; kept for the handler
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "request entity too large", f"at most {max_size} bytes are accepted") from None


def check_state_change(request: web.Request, session, kind: str | None) -> None:
    """Origin for every state-changing request; the session's CSRF token for every one made by cookie.

    The same check for the API and for Dash's callbacks: the API's header is
    X-CSRF-Token, dash-renderer's is X-CSRFToken (from the `_csrf_token` cookie).
    """
    if not same_origin(request):
        raise ApiError(403, "cross-origin request refused", f"origin {request.headers.get('Origin')} is not this server")
    if kind == "cookie" and request.path != LOGIN_PATH:
        presented = request.headers.get(CSRF_HEADER) or request.headers.get(DASH_CSRF_HEADER)
        if not session.csrf_ok(presented):
            raise ApiError(403, "CSRF token missing or wrong",
                           f"send the csrf_token from the login response in the {CSRF_HEADER} header")


def behind_proxy(request: web.Request, trusted: frozenset[str]) -> web.Request:
    """The request as the client made it, when it came through a trusted reverse proxy.

    The client's address is the LAST X-Forwarded-For entry (the one the proxy added; a client
    can prepend anything), and the scheme is X-Forwarded-Proto. Other senders are not believed.
    """
    if request.remote not in trusted:
        return request
    changes: _Forwarded = {}
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded.strip():
        changes["remote"] = forwarded.split(",")[-1].strip()
    proto = request.headers.get("X-Forwarded-Proto", "").strip().lower()
    if proto in ("http", "https"):
        changes["scheme"] = proto
    return request.clone(**changes) if changes else request


class _Forwarded(TypedDict, total=False):
    """What behind_proxy changes of a request (the keywords of web.Request.clone)."""

    remote: str
    scheme: str


def make_auth_middleware(sessions, kiosk_token: str, *, max_body: int, cookie_secure: bool = False,
                         trusted_proxies: frozenset[str] = frozenset()):
    @web.middleware
    async def auth_middleware(request: web.Request, handler):
        request = behind_proxy(request, trusted_proxies)
        await enforce_body_cap(request, max_body)
        route_handler = request.match_info.handler
        level = access_of(route_handler)
        if level is None:
            # routes we did not write (Dash's internals, static files) are public
            level = Access.PUBLIC
        is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
        session, kind = resolve_session(request, sessions, allow_query_token=is_ws)
        account = session.account if session else None
        request[REQUEST_SESSION] = session
        request[REQUEST_ACCOUNT] = account
        request[REQUEST_AUTH_KIND] = kind
        if request.method not in SAFE_METHODS and not is_ws:
            check_state_change(request, session, kind)
        if level is Access.KIOSK and account is None and not kiosk_ok(request, kiosk_token):
            raise ApiError(401, "kiosk token required", "this wall display needs ?token= (api.kiosk_token)")
        if kind == "invalid" and level not in (Access.PUBLIC, Access.KIOSK):
            raise ApiError(401, "not logged in", "the session token is unknown or has expired; log in again")
        denied = check_access(level, account, request.match_info.get("agent"))
        if denied == 401:
            if _wants_html(request):
                raise web.HTTPFound("/login?next=" + quote(request.path, safe="/"))
            raise ApiError(401, "not logged in", "log in with POST /api/login (cookie or bearer token)")
        if denied == 403:
            who = f"role {account.role.value!r}" if account is not None else "nobody"  # check_access: 403 has an account
            raise ApiError(403, "forbidden", f"{who} may not {request.method} {request.path}")
        if request.method in ("POST", "PUT", "PATCH") and request.body_exists:
            if request.content_type != "application/json":
                raise ApiError(415, "unsupported media type", "send the body as application/json")
        response = await handler(request)
        if kind == "cookie" and request.cookies.get(DASH_CSRF_COOKIE) != session.csrf_token \
                and isinstance(response, web.Response) and not response.prepared:
            # readable by the page's script (that is the point); useless without the HttpOnly session cookie
            response.set_cookie(DASH_CSRF_COOKIE, session.csrf_token, samesite="Strict", path="/",
                                secure=cookie_secure)
        return response

    return auth_middleware


@web.middleware
async def error_middleware(request: web.Request, handler):
    """JSON errors for the API; an unexpected exception is logged and answered 500."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as exc:
        if exc.status >= 400 and (request.path.startswith("/api/") or request.path.startswith("/ws")):
            detail = {404: f"no route {request.method} {request.path}",
                      405: f"{request.method} is not allowed on {request.path}",
                      413: "the request body is too large"}.get(exc.status, exc.text or "")
            raise ApiError(exc.status, exc.reason.lower(), detail) from None
        raise
    except ConnectionResetError:  # the client went away; nothing to answer
        raise
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        raise ApiError(500, "internal error", "the error was logged on the server") from None


_STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Dash renders an inline bootstrap script and inline styles.
_DASH_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'"
)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")
    headers.setdefault("Content-Security-Policy", _DASH_CSP if request.get(REQUEST_DASH) else _STRICT_CSP)


class RedactingAccessLogger(AbstractAccessLogger):
    """Access log without query strings (they may carry ?token=) and without headers."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        account = request.get(REQUEST_ACCOUNT)
        who = account.username if account is not None else "-"
        self.logger.info("%s %s %s %s %d %.1fms", request.remote, who, request.method, request.path,
                         response.status, time * 1000)
