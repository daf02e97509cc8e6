"""A small WSGI bridge: serve a Flask (Dash) app from aiohttp, in a thread pool.

The request body is read by aiohttp (bounded by the app's client_max_size),
the WSGI app runs in an executor so it never blocks the event loop, and its
response is collected and returned. The logged-in account, if any, is handed
to the WSGI app in `environ["wfm.user"]`, `["wfm.role"]`, `["wfm.agent"]`.
"""
from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from collections.abc import Callable

from aiohttp import web

from wfm.auth import Account

logger = logging.getLogger(__name__)

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                         "te", "trailers", "transfer-encoding", "upgrade", "content-length"})


def build_environ(request: web.Request, body: bytes, account: Any) -> dict[str, Any]:
    host, _, port = (request.host or "127.0.0.1").partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": host,
        "SERVER_PORT": port or ("443" if request.secure else "80"),
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "REMOTE_ADDR": request.remote or "",
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wfm.user": getattr(account, "username", None),
        "wfm.role": getattr(getattr(account, "role", None), "value", None),
        "wfm.agent": getattr(account, "agent", None),
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue
        key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def run_wsgi(app: Callable, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
        if exc_info and captured:
            raise exc_info[1].with_traceback(exc_info[2])
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = headers
        return lambda data: captured.setdefault("written", []).append(data)

    iterable = app(environ, start_response)
    try:
        chunks = captured.pop("written", []) + [chunk for chunk in iterable]
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], b"".join(chunks)


class WsgiBridge:
    """An aiohttp handler that forwards to a WSGI app."""

    def __init__(self, wsgi_app: Callable, account_key: web.RequestKey[Account | None], max_workers: int = 4) -> None:
        self.wsgi_app = wsgi_app
        self.account_key = account_key
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="wfm-wsgi")

    async def __call__(self, request: web.Request) -> web.Response:
        body = await request.read()
        environ = build_environ(request, body, request.get(self.account_key))
        loop = asyncio.get_running_loop()
        # Flask/Dash keep request state in context variables: run in a copy of ours.
        context = contextvars.copy_context()
        status, headers, payload = await loop.run_in_executor(
            self.executor, context.run, run_wsgi, self.wsgi_app, environ)
        response = web.Response(status=status, body=payload)
        for name, value in headers:
            if name.lower() in _HOP_BY_HOP:
                continue
            if name.lower() == "content-type":
                response.headers["Content-Type"] = value
            else:
                response.headers.add(name, value)
        return response

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
