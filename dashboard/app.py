"""The Dash app shell: pages for the wall, agents, supervisors, schedulers and reports.

`create_dash(api_base)` returns a Dash app whose Flask `server` the API mounts
under its own port (WSGI bridge). Pages live in dashboard/pages/ (Dash Pages);
they reach the floor only through the JSON API (dashboard/client.py) with the
visitor's own session cookie, so roles are enforced in one place. The app keeps
no mutable global state: per-visitor data lives in the browser (dcc.Store), the
scheduler's solver runs keep their progress on disk.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import dash
import flask
from dash import html
from dash.development.base_component import Component

from dashboard.client import ApiClient, Transport
from dashboard.i18n import label
from dashboard.wall_model import WallSettings
from wfm.config import Config, load_config

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CONTEXT_KEY = "WFM_DASH_CONTEXT"


@dataclass(frozen=True)
class DashContext:
    """What every page needs, fixed for the app's lifetime (read-only)."""

    config: Config
    transport: Transport
    wall: WallSettings


def context() -> DashContext:
    """The running app's context (inside a Flask request: a layout or a callback)."""
    return flask.current_app.config[CONTEXT_KEY]


def api() -> ApiClient:
    """An API client carrying the current visitor's session cookie."""
    return ApiClient.for_request(context().transport)


ANONYMOUS_NAV = (("/wall", "Wall 大屏"),)  # what a visitor who is not signed in may open


def nav(active: str, me=None) -> html.Nav:
    """The top bar of the non-wall pages: only the pages the visitor's role may open (the API's
    GET /api/me lists them), who is signed in, and sign out (assets/session.js posts /api/logout)."""
    account: list[Component]
    if me is None:
        links = list(ANONYMOUS_NAV)
        account = [html.A("Sign in 登录", href=f"/login?next={active}", className="signin")]
    else:
        links = [(page.path, page.title) for page in me.pages]
        who = f"{me.username} · {me.role}" + (f" · {me.agent}" if me.agent and me.agent != me.username else "")
        account = [html.Span(who, className="signin muted", id="nav-user"),
                   html.A("Sign out 退出", href="/login", id="nav-signout")]
    return html.Nav(
        className="topnav",
        id="topnav",
        children=[html.Span("WFM 话务", className="brand"),
                  *[html.A(text, href=href, className="active" if href == active else "") for href, text in links],
                  *account],
    )


def create_dash(api_base: str, config: Config | None = None) -> dash.Dash:
    """The Dash app for the JSON API at `api_base` (e.g. "http://127.0.0.1:8050").

    `config` defaults to the file named by $WFM_CONFIG over the shipped defaults.
    """
    if config is None:
        config = load_config(os.environ.get("WFM_CONFIG") or None)
    server = flask.Flask("wfm_dashboard")
    server.config[CONTEXT_KEY] = DashContext(
        config=config,
        transport=Transport(api_base, config.dashboard.api_timeout_s),
        wall=WallSettings.from_config(config),
    )
    app = dash.Dash(
        "wfm_dashboard",
        server=server,  # type: ignore[arg-type]  # Dash takes a Flask instance (documented); its annotation does not say so
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="WFM 话务",
        update_title=None,  # type: ignore[arg-type]  # None turns the "Updating..." title off (documented), against its annotation
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.layout = html.Div([dash.page_container], className="shell")
    return app


def page_message(title: str, text: str, *, code: str = "", link: tuple[str, str] | None = None) -> html.Div:
    """A full-width notice (sign in, 403, API down) shown instead of a page's content."""
    children = [html.H2(title), html.P(text)]
    if link:
        children.append(html.A(link[1], href=link[0], className="button"))
    return html.Div(children, className=f"notice notice-{code or 'info'}", id="page-notice")


def sign_in_needed(path: str) -> html.Div:
    return page_message(label("login_needed"), "Sign in to see this page. 请登录后查看。", code="401",
                        link=(f"/login?next={path}", "Sign in 登录"))


def forbidden(text: str) -> html.Div:
    return page_message(label("forbidden"), text, code="403")


def api_down(detail: str) -> html.Div:
    return page_message(label("api_down"), detail, code="502")
