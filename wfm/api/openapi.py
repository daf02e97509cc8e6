"""OpenAPI 3.1 description of every route the app serves, built from the route table.

Request and response schemas come from the msgspec structs the handlers
decode and encode, so the document cannot drift from the code.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec
from aiohttp import web

from wfm.api.security import Access, access_of
from wfm.decisions import Alert, BreakDecision, Violation
from wfm.views import AgentBudgetView, FloorView

_ACCESS_TEXT = {
    Access.PUBLIC: "open",
    Access.KIOSK: "open unless api.kiosk_token is set; then ?token=",
    Access.SESSION: "any logged-in user",
    Access.READERS: "supervisor, scheduler or admin",
    Access.ACTORS: "supervisor or admin",
    Access.SELF_OR_READERS: "the agent named in the path, or a supervisor, scheduler or admin",
    Access.SELF_OR_ACTORS: "the agent named in the path, or a supervisor or admin",
}
_SECURED: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]


def _ref(struct: type) -> dict:
    return {"$ref": f"#/components/schemas/{struct.__name__}"}


def _components(extra: list[type]) -> dict[str, Any]:
    types = [FloorView, AgentBudgetView, BreakDecision, Violation, Alert, *extra]
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    return components


def build_openapi(app: web.Application, route_specs: Iterable[Any], error_body: type) -> dict[str, Any]:
    """The OpenAPI 3.1 description of `app`'s routes; `route_specs` (wfm.api.routes.API_ROUTES) add
    request/response types and tags, `error_body` is the shape of every error answer."""
    specs = {(s.method, s.path): s for s in route_specs}
    extra: list[type] = [error_body]
    paths: dict[str, dict] = {}
    for route in app.router.routes():
        method = route.method
        if method in ("HEAD", "*"):
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or (info.get("prefix", "") + "/{filename}")
        handler = route.handler
        level = access_of(handler)
        spec = specs.get((method, path))
        doc = (handler.__doc__ or "").strip().splitlines()
        operation: dict[str, Any] = {
            "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_') or 'root'}",
            "summary": doc[0] if doc else path,
            "tags": [spec.tag if spec else "pages"],
            "description": f"Access: {'open' if level is None else _ACCESS_TEXT.get(level, 'open')}.",
            "responses": {"200": {"description": "OK"}},
        }
        if level not in (None, Access.PUBLIC, Access.KIOSK):
            operation["security"] = _SECURED
            operation["responses"]["401"] = {"description": "no or expired credentials",
                                              "content": {"application/json": {"schema": _ref(error_body)}}}
            if level is not Access.SESSION:
                operation["responses"]["403"] = {"description": "wrong role or another agent",
                                                  "content": {"application/json": {"schema": _ref(error_body)}}}
        if level is Access.KIOSK:
            operation["parameters"] = [{"name": "token", "in": "query", "required": False,
                                        "schema": {"type": "string"}, "description": "kiosk token"}]
        params = re.findall(r"{(\w+)}", path)
        if params:
            operation.setdefault("parameters", []).extend(
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params)
        if spec is not None and spec.request is not None:
            extra.append(spec.request)
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": _ref(spec.request)}}}
            operation["responses"]["400"] = {"description": "malformed body",
                                              "content": {"application/json": {"schema": _ref(error_body)}}}
        if spec is not None and spec.response is not None:
            extra.append(spec.response)
            operation["responses"]["200"] = {"description": "OK",
                                              "content": {"application/json": {"schema": _ref(spec.response)}}}
        if path == "/api/floor":
            operation["responses"]["200"] = {"description": "FloorView",
                                              "content": {"application/json": {"schema": _ref(FloorView)}}}
        if path == "/api/agents/{agent}/budget":
            operation["responses"]["200"] = {"description": "AgentBudgetView",
                                              "content": {"application/json": {"schema": _ref(AgentBudgetView)}}}
        if path.startswith("/api/agents/") or path == "/api/overrides":
            operation["responses"]["404"] = {"description": "unknown agent"}
        if path.endswith("/breaks") and method == "POST":
            operation["responses"]["409"] = {"description": "logged out, already queued, on a break, or duplicate"}
            operation["responses"]["429"] = {"description": "break requests rate-limited per agent"}
        if path == "/api/login":
            operation["responses"]["401"] = {"description": "wrong user name or password"}
            operation["responses"]["429"] = {"description": "login attempts rate-limited per user and address"}
        if path.startswith("/ws"):
            operation["responses"]["101"] = {"description": "WebSocket upgrade; JSON messages"}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "wfm floor API", "version": "1",
                 "description": "Call-centre floor monitoring: live floor, break budgets, break requests, "
                                "supervisor overrides, tamper-evident log. 话务空闲数 = idle agents; "
                                "小休 = short break; 用餐 = meal."},
        "paths": paths,
        "components": {
            "schemas": _components(extra),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "wfm_session",
                               "description": "state-changing requests also need X-CSRF-Token"},
            },
        },
    }
