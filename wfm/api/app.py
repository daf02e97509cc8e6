"""The aiohttp application: API routes, WebSocket hub, login page, wall, and the Dash pages.

`create_app` wires the route table (wfm/api/routes.py) with its access
levels, the security middleware and headers, the WebSocket hub, and — when
the composition root hands in a Dash factory — the Dash app's Flask server behind a
WSGI bridge on the same port (/wall, /me, /supervisor, /roster, /reports and
Dash's own routes). Without it, a minimal live wall page is served at /wall.
`ApiServer` runs the app on a host and port (0 = any free port).
"""
from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import Callable

from aiohttp import web

from wfm.api import adherence, dash_guard, navigation, pages, walltrend
from wfm.api.errorpages import html_error_pages
from wfm.api.logwindow import LogWindow
from wfm.api.ratelimit import SlidingWindowLimiter
from wfm.api.roster_routes import ROSTER_AUDIT, ROSTER_DESK, roster_desk
from wfm.api.snapshot import FloorSnapshots
from wfm.api.routes import (
    ACCOUNTS,
    ADDRESS_LIMIT_FACTOR,
    ADHERENCE_WINDOW,
    ADDRESS_LIMITER,
    API_ROUTES,
    BREAK_LIMITER,
    CONFIG,
    HUB,
    LOGIN_LIMITER,
    RUNTIME,
    SESSIONS,
    SNAPSHOTS,
    TREND_WINDOW,
)
from wfm.api.security import (
    REQUEST_ACCOUNT,
    REQUEST_DASH,
    Access,
    ApiError,
    RedactingAccessLogger,
    error_middleware,
    make_auth_middleware,
    requires,
    security_headers,
)
from wfm.api.sessions import SessionStore
from wfm.api.ws import Hub
from wfm.auth import Accounts
from wfm.config import Config
from wfm.runtime import Runtime

if TYPE_CHECKING:  # imported where a dashboard is served
    from wfm.api.wsgi import WsgiBridge

logger = logging.getLogger(__name__)

DASH_PAGES: dict[str, Access] = navigation.page_access()
DASH_INTERNAL = ("/_dash-{tail:.*}", "/assets/{tail:.*}", "/_reload-hash", "/_favicon.ico")
WSGI_BRIDGE: web.AppKey[WsgiBridge] = web.AppKey("wfm_wsgi_bridge")
DASH_APP: web.AppKey[LazyDash] = web.AppKey("wfm_dash_app")
API_BASE = web.AppKey("wfm_api_base", dict)


DashFactory = Callable[..., Any]
"""Builds the Dash app: `factory(api_base_url, config=config)` returns an object with a WSGI `.server`.
The composition root (wfm/commands/serve.py) hands it in; the web layer never imports the dashboard."""


class DashApp(Protocol):
    """What the web layer uses of the Dash app: its WSGI server."""

    server: Callable[..., Any]


class LazyDash:
    """Builds the Dash app once the server knows its own URL (port 0 binds late)."""

    def __init__(self, factory: Callable[[str], Any], api_base: dict) -> None:
        self._factory = factory
        self._api_base = api_base
        self._server: Callable[..., Any] | None = None
        self.dash: DashApp | None = None
        self.failed: str | None = None

    def build(self) -> None:
        """Create the Dash app (on the event loop's thread: Dash registers pages in context variables).

        A dashboard that cannot start must not take the floor down: the basic wall
        is served at /wall instead and the other pages answer 503.
        """
        if self._server is not None or self.failed:
            return
        try:
            dash: DashApp = self._factory(self._api_base["url"])
            self.dash = dash
            self._server = dash.server
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            logger.error("dashboard failed to start (%s); serving the basic wall page", self.failed, exc_info=True)

    def callbacks(self):
        """The app's callbacks by output id; None before Dash set itself up (at its first request)."""
        return getattr(self.dash, "callback_map", None) or None

    def __call__(self, environ, start_response):
        if self._server is None:
            raise RuntimeError("the Dash app was not built before serving")
        return self._server(environ, start_response)


def _dash_handler(bridge, lazy: LazyDash, level: Access):
    async def handler(request: web.Request) -> web.StreamResponse:
        if lazy.failed:
            if request.path == "/wall":
                return await pages.wall_page(request)
            raise ApiError(503, "dashboard unavailable", "the page server failed to start; see the server log")
        request[REQUEST_DASH] = True
        body = await request.read()
        problem = dash_guard.problem(request.method, request.path, body, lazy.callbacks())
        if problem is not None:
            raise ApiError(404 if request.path.startswith(dash_guard.SUITES_PREFIX) else 400, "bad request", problem)
        response = await bridge(request)
        status = dash_guard.client_status(request.method, request.path, response.status)
        if status != response.status:
            logger.warning("dash answered %d to %s %s; answering %d", response.status, request.method,
                           request.path, status)
            raise ApiError(status, "bad request", "the page server could not use this request")
        return response

    handler.__doc__ = "A Dash page or Dash resource (served by the dashboard's Flask app)."
    return requires(level)(handler)


def body_cap(config: Config) -> int:
    """The one body cap of every route, in bytes (`api.max_body_kib`)."""
    return config.api.max_body_kib * 1024


def create_app(runtime: Runtime, config: Config, *, accounts: Accounts | None = None,
               dashboard: DashFactory | None = None) -> web.Application:
    """The app over `runtime`; with a `dashboard` factory the Dash pages are served on the same port,
    without one the basic live wall is served at /wall."""
    sessions = SessionStore(timedelta(hours=config.api.session_hours))
    max_body = body_cap(config)
    app = web.Application(
        middlewares=[html_error_pages, error_middleware,
                     make_auth_middleware(sessions, config.api.kiosk_token, max_body=max_body,
                                          cookie_secure=config.api.cookie_secure,
                                          trusted_proxies=frozenset(config.api.trusted_proxies))],
        client_max_size=max_body,
    )
    app[RUNTIME] = runtime
    app[CONFIG] = config
    app[ACCOUNTS] = accounts if accounts is not None else Accounts(config.users)
    app[SESSIONS] = sessions
    app[LOGIN_LIMITER] = SlidingWindowLimiter(config.api.login_attempts_per_minute)
    app[ADDRESS_LIMITER] = SlidingWindowLimiter(config.api.login_attempts_per_minute * ADDRESS_LIMIT_FACTOR)
    app[BREAK_LIMITER] = SlidingWindowLimiter(config.api.break_requests_per_minute)
    app[API_BASE] = {"url": f"http://{config.api.host}:{config.api.port}"}
    snapshots = FloorSnapshots(runtime, config.api.ws_floor_interval_ms / 1000.0,
                               config.api.ws_full_floor_interval_ms / 1000.0)
    app[SNAPSHOTS] = snapshots
    app[ADHERENCE_WINDOW] = LogWindow(adherence.keep)
    app[TREND_WINDOW] = LogWindow(walltrend.keep)
    hub = Hub(runtime, snapshots)
    app[HUB] = hub
    app[ROSTER_DESK] = roster_desk(config)
    app[ROSTER_AUDIT] = runtime.audit  # publishing and edits also go to the tamper-evident log

    for spec in API_ROUTES:
        app.router.add_route(spec.method, spec.path, spec.handler)
    app.router.add_get("/", pages.root)
    app.router.add_get("/login", pages.login_page)
    app.router.add_get("/static/{name}", pages.static_asset)
    app.router.add_get("/wall/basic", pages.wall_page)
    app.router.add_get("/favicon.ico", pages.favicon)

    factory = dashboard or None
    if factory is not None:
        from wfm.api.wsgi import WsgiBridge

        # the pages read the same config as the floor (wfm demo/serve --config site.toml), not $WFM_CONFIG
        lazy = LazyDash(functools.partial(factory, config=config), app[API_BASE])
        bridge = WsgiBridge(lazy, REQUEST_ACCOUNT)
        app[WSGI_BRIDGE] = bridge
        app[DASH_APP] = lazy
        for path, level in DASH_PAGES.items():
            app.router.add_route("*", path, _dash_handler(bridge, lazy, level))
        for path in DASH_INTERNAL:
            name = "dash_favicon" if path == "/_favicon.ico" else None
            app.router.add_route("*", path, _dash_handler(bridge, lazy, Access.PUBLIC), name=name)
    else:
        app.router.add_get("/wall", pages.wall_page)

    app.on_response_prepare.append(security_headers)

    async def on_startup(app: web.Application) -> None:
        snapshots.start()
        hub.start()

    async def on_shutdown(app: web.Application) -> None:
        await hub.close()
        await snapshots.close()

    async def on_cleanup(app: web.Application) -> None:
        bridge = app.get(WSGI_BRIDGE)
        if bridge is not None:
            bridge.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


class ApiServer:
    """The app on a TCP port; `start()` returns the bound port."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        # keepalive_timeout also bounds a connection that never finishes its request headers
        # (aiohttp closes it when the timer fires with no request parsed): slowloris-safe
        idle_s = self.app[CONFIG].api.idle_timeout_s
        self._runner = web.AppRunner(self.app, access_log_class=RedactingAccessLogger, shutdown_timeout=0.5,
                                     keepalive_timeout=idle_s)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        addresses = self._runner.addresses  # the bound (host, port, …): how port 0 learns its port
        if addresses:
            self.port = addresses[0][1]
        self.app[API_BASE]["url"] = self.base_url
        dash = self.app.get(DASH_APP)
        if dash is not None:
            dash.build()
        return self.port

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "localhost") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
