"""HTML error pages for people: 401 (a kiosk wall without its token), 403 and 404 as pages with the
navigation, not raw JSON.

A browser asking for a page (not /api/, not a WebSocket, Accept: text/html) that
is refused or does not exist gets a small page in the product's look with the
navigation the visitor's role may open (wfm/api/navigation.py) and the same
status code. API clients keep the JSON errors of wfm/api/security.py.
"""
from __future__ import annotations

import html

from aiohttp import web

from wfm.api.navigation import pages_for
from wfm.api.security import REQUEST_ACCOUNT

_MESSAGES = {
    401: ("401 — kiosk token required 需要大屏令牌",
          "This wall display needs its token: open it as /wall?token=… (api.kiosk_token). 请使用大屏令牌打开。"),
    403: ("403 — not allowed 无权访问", "Your role may not open this page. 您的角色无权打开此页面。"),
    404: ("404 — page not found 页面不存在", "There is no page at this address. 此地址没有页面。"),
}

_CSS = """
body{margin:0;background:#0b0f14;color:#f2f5f8;font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",
"Segoe UI",Roboto,Arial,sans-serif}
nav{display:flex;flex-wrap:wrap;gap:4px 18px;align-items:center;padding:10px 18px;background:#151b23;
border-bottom:1px solid #2a333d;font-size:16px}
nav a{color:#9aa7b4;text-decoration:none;padding:6px 2px}nav .brand{font-weight:700;margin-right:12px}
nav .who{margin-left:auto;color:#9aa7b4}
main{margin:40px auto;max-width:640px;background:#151b23;border-radius:10px;padding:24px}
h1{color:#ff4d4f;font-size:26px;word-break:keep-all}p{font-size:18px;word-break:keep-all}
a.button{display:inline-block;background:#3fa7ff;color:#fff;border-radius:8px;padding:10px 18px;text-decoration:none}
"""


def wants_page(request: web.Request) -> bool:
    path = request.path
    if path.startswith(("/api/", "/ws", "/_dash-", "/assets/", "/static/")):
        return False
    return "text/html" in request.headers.get("Accept", "")


def render(status: int, account, path: str) -> str:
    """The error page's HTML (escaped; no script, so the strict CSP applies)."""
    title, text = _MESSAGES[status]
    links = "".join(f'<a href="{html.escape(p.path)}">{html.escape(p.title)}</a>' for p in pages_for(account))
    if account is None:
        who = f'<a class="who" href="/login?next={html.escape(path)}">Sign in 登录</a>'
    else:
        who = f'<span class="who" id="nav-user">{html.escape(account.username)} · {html.escape(account.role.value)}</span>'
    home = pages_for(account)[1 if account is not None and len(pages_for(account)) > 1 else 0]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head>'
        f'<body><nav class="topnav" id="error-nav"><span class="brand">WFM 话务</span>{links}{who}</nav>'
        f'<main id="error-page" data-status="{status}"><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>'
        f'<p class="path">{html.escape(path)}</p>'
        f'<a class="button" href="{html.escape(home.path)}">{html.escape(home.title)}</a></main></body></html>'
    )


@web.middleware
async def html_error_pages(request: web.Request, handler):
    """401, 403 and 404 for a browser's page request become HTML pages (same status). (A page that needs
    a session redirects to the login page before this; a 401 here is the kiosk rule.)"""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status not in _MESSAGES or not wants_page(request):
            raise
        body = render(exc.status, request.get(REQUEST_ACCOUNT), request.path)
        # an inline <style> only: the strict CSP would refuse it, so this page gets its own
        return web.Response(status=exc.status, text=body, content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                                "frame-ancestors 'none'; base-uri 'none'"})
