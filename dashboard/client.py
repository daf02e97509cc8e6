"""The pages' only way to the floor: the JSON API, called with the browser's own session.

Every call forwards the visitor's `wfm_session` cookie, so roles and "an agent
sees only their own data" are enforced in one place, the API. Answers are
decoded into the read models of wfm/views.py (validated by msgspec), so a page
renders exactly those fields. A failed call raises ApiError carrying the HTTP
status and the API's {"error", "detail"}; pages show it, they never guess.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeVar
from collections.abc import Mapping

import msgspec
import requests

from wfm.views import AgentBudgetView, FloorView, WallView

log = logging.getLogger(__name__)

SESSION_COOKIE = "wfm_session"
CSRF_HEADER = "X-CSRF-Token"

T = TypeVar("T")


class ApiError(Exception):
    """The API refused or failed: `status` 0 means it could not be reached."""

    def __init__(self, status: int, error: str, detail: str = "", detail_zh: str | None = None) -> None:
        super().__init__(f"{status} {error}: {detail}" if detail else f"{status} {error}")
        self.status = status
        self.error = error
        self.detail = detail
        self.detail_zh = detail_zh  # the API's Chinese of `detail`, where it gives one

    @property
    def unauthenticated(self) -> bool:
        return self.status == 401

    @property
    def forbidden(self) -> bool:
        return self.status == 403


class PageLink(msgspec.Struct, frozen=True):
    path: str
    title: str


class Me(msgspec.Struct, frozen=True, kw_only=True):
    """GET /api/me: who the session belongs to, and the pages their role may open."""

    username: str = ""
    role: str
    agent: str | None = None
    csrf_token: str | None = None
    pages: list[PageLink] = []


class Transport:
    """Pooled HTTP connections to the API for one Dash app (not shared across apps)."""

    def __init__(self, base: str, timeout_s: float) -> None:
        self.base = base.rstrip("/")
        self.timeout_s = timeout_s
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.http.trust_env = False  # a proxy setting must never route floor traffic elsewhere

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class ApiClient:
    """One visitor's view of the API: the transport plus that visitor's cookies."""

    transport: Transport
    cookies: Mapping[str, str]

    @classmethod
    def for_request(cls, transport: Transport) -> ApiClient:
        """The client for the browser request being served (its wfm_session cookie)."""
        import flask

        try:
            cookies = {k: v for k, v in flask.request.cookies.items() if k == SESSION_COOKIE}
        except RuntimeError:  # outside a request (tests, background threads): anonymous
            cookies = {}
        return cls(transport, cookies)

    @property
    def signed_in(self) -> bool:
        return bool(self.cookies.get(SESSION_COOKIE))

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
              json: Any = None, headers: Mapping[str, str] | None = None) -> bytes:
        url = self.transport.base + path
        try:
            response = self.transport.http.request(
                method, url, params=params, json=json, headers=dict(headers or {}),
                cookies=dict(self.cookies), timeout=self.transport.timeout_s, allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.warning("api %s %s unreachable: %s", method, path, exc.__class__.__name__)
            raise ApiError(0, "unreachable", str(exc.__class__.__name__)) from None
        if response.status_code >= 400:
            error, detail, detail_zh = f"http_{response.status_code}", response.reason or "", None
            try:
                body = response.json()
                if isinstance(body, dict):
                    error = str(body.get("error", error))
                    detail = str(body.get("detail", detail))
                    detail_zh = str(body["detail_zh"]) if body.get("detail_zh") else None
            except ValueError:
                pass
            raise ApiError(response.status_code, error, detail, detail_zh)
        return response.content

    def _get(self, path: str, model: type[T], params: Mapping[str, str] | None = None) -> T:
        raw = self._call("GET", path, params=params)
        try:
            return msgspec.json.decode(raw, type=model)
        except msgspec.ValidationError as exc:
            raise ApiError(502, "bad_response", f"{path}: {exc}") from None

    def _csrf_headers(self) -> dict[str, str]:
        """State changes by cookie carry the session's CSRF token (the API gives it at /api/me)."""
        token = self.me().csrf_token
        return {CSRF_HEADER: token} if token else {}

    def _send(self, method: str, path: str, json: Any = None) -> dict:
        raw = self._call(method, path, json=json, headers=self._csrf_headers())
        if not raw:
            return {}
        decoded = msgspec.json.decode(raw)
        return decoded if isinstance(decoded, dict) else {"result": decoded}

    # -- the API ----------------------------------------------------------------------------
    def me(self) -> Me:
        if not self.signed_in:
            raise ApiError(401, "not_signed_in", "no wfm_session cookie")
        return self._get("/api/me", Me)

    def wall(self, kiosk_token: str | None = None) -> WallView:
        params = {"token": kiosk_token} if kiosk_token else None
        return self._get("/api/wall", WallView, params=params)

    def floor(self) -> FloorView:
        return self._get("/api/floor", FloorView)

    def budget(self, agent: str) -> AgentBudgetView:
        return self._get(f"/api/agents/{requests.utils.quote(agent, safe='')}/budget", AgentBudgetView)

    def request_break(self, agent: str, kind: str, *, minutes: float | None = None, queue: bool = False) -> dict:
        body: dict[str, Any] = {"kind": kind, "queue": queue}
        if minutes is not None:
            body["minutes"] = minutes
        return self._send("POST", f"/api/agents/{requests.utils.quote(agent, safe='')}/breaks", body)

    def cancel_break(self, agent: str) -> dict:
        return self._send("DELETE", f"/api/agents/{requests.utils.quote(agent, safe='')}/breaks")

    def agent_roster(self, agent: str, month: str) -> dict:
        """GET /api/agents/{agent}/roster/{month}: the agent's days of the published roster."""
        raw = self._call("GET", f"/api/agents/{requests.utils.quote(agent, safe='')}/roster/{requests.utils.quote(month, safe='')}")
        decoded = msgspec.json.decode(raw)
        return decoded if isinstance(decoded, dict) else {}

    def end_break(self, agent: str) -> dict:
        return self._send("POST", f"/api/agents/{requests.utils.quote(agent, safe='')}/breaks/end")

    def override(self, agent: str, action: str, note: str, kind: str | None = None) -> dict:
        body = {"agent": agent, "action": action, "note": note}
        if kind:
            body["kind"] = kind
        return self._send("POST", "/api/overrides", body)

    def report(self, kind: str, period: str) -> dict:
        """GET /api/reports/{kind}/{period}: the KPI rows computed by the server."""
        path = f"/api/reports/{requests.utils.quote(kind, safe='')}/{requests.utils.quote(period, safe='')}"
        decoded = msgspec.json.decode(self._call("GET", path))
        return decoded if isinstance(decoded, dict) else {}

    def report_file(self, kind: str, period: str, fmt: str, table: str = "floor") -> bytes:
        path = f"/api/reports/{requests.utils.quote(kind, safe='')}/{requests.utils.quote(period, safe='')}/export"
        return self._call("GET", path, params={"format": fmt, "table": table})

    def adherence(self, at: str | None = None) -> dict:
        """GET /api/adherence: today's scheduled vs actual, computed by the server from the event log
        (as of `at`, an ISO time, when given)."""
        raw = self._call("GET", "/api/adherence", params={"at": at} if at else None)
        decoded = msgspec.json.decode(raw)
        return decoded if isinstance(decoded, dict) else {}

    def log_verify(self) -> dict:
        raw = self._call("GET", "/api/log/verify")
        decoded = msgspec.json.decode(raw)
        return decoded if isinstance(decoded, dict) else {"result": decoded}
