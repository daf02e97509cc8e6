"""One enforcement point (issue 19 item 2): every route, Dash's own included.

- a state change by cookie needs this exact Origin (or none) and the session's
  CSRF token — the API's `X-CSRF-Token` or dash-renderer's `X-CSRFToken`, which
  it copies from the `_csrf_token` cookie the server sets beside the session;
- one body cap for every route: a 10 MB body is refused (413) before any handler;
- no route answers 5xx to client input (a seeded generator of hostile requests
  over every route, with the Dash inputs that used to answer 500 pinned).
"""
from __future__ import annotations

import json
import random

import aiohttp
import pytest

from test_security import _routes, concrete, served  # noqa: F401  (fixture: a real server with the Dash pages)

EVIL = "http://evil.example"
TEN_MB = 10 * 1024 * 1024
STATE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

STATE_VALUES = {"sup-agent": "1001", "sup-action": "allow_break", "sup-kind": "short", "sup-note": "enforcement test"}


async def override_callback(session, base: str) -> dict:
    """The body dash-renderer posts when a supervisor presses Send on /supervisor (built from /_dash-dependencies)."""
    async with session.get(base + "/_dash-dependencies") as r:
        deps = await r.json()
    dep = next(d for d in deps if "sup-result.children" in d["output"])
    parts = dep["output"].strip(".").split("...")
    outputs = [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]} for part in parts]
    inputs = [{"id": i["id"], "property": i["property"], "value": 1} if i["id"] == "sup-send" else []
              for i in dep["inputs"]]
    state = [{"id": st["id"], "property": st["property"], "value": STATE_VALUES.get(st["id"])} for st in dep["state"]]
    return {"output": dep["output"], "outputs": outputs, "inputs": inputs, "changedPropIds": ["sup-send.n_clicks"],
            "state": state}


async def _cookie_session(base: str, user: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(base + "/api/login", json={"username": user, "password": user}) as r:
        assert r.status == 200
    return session


def _state_changes(app):
    """(method, concrete path) of every route a state change can be sent to."""
    for method, path in sorted(set(_routes(app))):
        if path.startswith("/ws"):
            continue
        verbs = STATE_METHODS if method == "*" else (method,) if method in STATE_METHODS else ()
        for verb in verbs:
            yield verb, concrete(path, "supervisor"), path


def _overrides_logged(server) -> int:
    from wfm.api.routes import RUNTIME

    log = server.app[RUNTIME].log
    return sum(1 for r in log.read(kinds=["audit", "event"]) if r.body.get("type") == "override"
               or r.body.get("action") == "allow_break")


async def test_dash_callback_with_a_foreign_origin_is_refused(served):  # noqa: F811
    base = served.base_url
    session = await _cookie_session(base, "supervisor")
    async with session:
        async with session.get(base + "/supervisor") as r:
            assert r.status == 200
        token = session.cookie_jar.filter_cookies(aiohttp.helpers.URL(base)).get("_csrf_token")
        assert token is not None, "the page sets the _csrf_token cookie dash-renderer echoes"
        before = _overrides_logged(served)
        OVERRIDE_CALLBACK = await override_callback(session, base)  # noqa: N806
        async with session.post(base + "/_dash-update-component", json=OVERRIDE_CALLBACK,
                                headers={"Origin": EVIL, "X-CSRFToken": token.value}) as r:
            assert r.status == 403 and "origin" in (await r.text()).lower()
        async with session.post(base + "/_dash-update-component", json=OVERRIDE_CALLBACK) as r:
            assert r.status == 403 and "csrf" in (await r.text()).lower()
        async with session.post(base + "/_dash-update-component", json=OVERRIDE_CALLBACK,
                                headers={"X-CSRFToken": "not-the-token"}) as r:
            assert r.status == 403
        assert _overrides_logged(served) == before
        # the page's own request (same origin, token from the cookie) still works
        async with session.post(base + "/_dash-update-component", json=OVERRIDE_CALLBACK,
                                headers={"Origin": base, "X-CSRFToken": token.value}) as r:
            assert r.status == 200, await r.text()
            assert "OK" in await r.text()
        assert _overrides_logged(served) > before


async def test_a_cross_origin_state_change_is_refused_on_every_route(served):  # noqa: F811
    base = served.base_url
    session = await _cookie_session(base, "supervisor")
    async with session:
        async with session.get(base + "/api/me") as r:
            csrf = (await r.json())["csrf_token"]
        checked = []
        for verb, url_path, path in _state_changes(served.app):
            headers = {"Origin": EVIL, "X-CSRF-Token": csrf, "X-CSRFToken": csrf}
            async with session.request(verb, base + url_path, headers=headers, json={}) as r:
                body = await r.text()
                assert r.status == 403 and "origin" in body.lower(), f"{verb} {path}: {r.status} {body[:200]}"
            checked.append((verb, path))
    assert ("POST", "/_dash-{tail}") in checked and ("POST", "/api/overrides") in checked
    assert ("POST", "/api/login") in checked and ("POST", "/api/logout") in checked


async def test_a_token_less_state_change_by_cookie_is_refused_on_every_route(served):  # noqa: F811
    base = served.base_url
    session = await _cookie_session(base, "supervisor")
    async with session:
        checked = 0
        for verb, url_path, path in _state_changes(served.app):
            if path == "/api/login":
                continue  # a login makes a new session; it is bound by the Origin check above
            async with session.request(verb, base + url_path, json={}) as r:
                body = await r.text()
                assert r.status == 403 and "csrf" in body.lower(), f"{verb} {path}: {r.status} {body[:200]}"
            checked += 1
        async with session.get(base + "/api/me") as r:
            assert r.status == 200, "the refused requests left the session alive (logout was refused too)"
    assert checked >= 10


async def test_a_10_mb_body_is_refused_on_every_route(served):  # noqa: F811
    base = served.base_url
    payload = b"{" + b" " * (TEN_MB - 2) + b"}"
    checked = []
    async with aiohttp.ClientSession() as session:
        for method, path in sorted(set(_routes(served.app))):
            verb = "POST" if method == "*" else method
            if path.startswith("/ws"):
                verb = "POST"
            async with session.request(verb, base + concrete(path, "admin"), data=payload,
                                       headers={"Content-Type": "application/json"}) as r:
                assert r.status == 413, f"{verb} {path}: {r.status}"
            checked.append(path)

        async def chunks():
            for _ in range(10):
                yield b" " * (1024 * 1024)

        # no Content-Length (chunked): refused once the cap is passed, not read to the end
        async with session.post(base + "/api/logout", data=chunks(),
                                headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413
    assert "/api/logout" in checked and "/_dash-{tail}" in checked


# ── no 5xx to client input ───────────────────────────────────────────────

PINNED = [  # requests that answered 500 before (issue 19)
    ("POST", "/_dash-update-component", "application/json", b"[]"),
    ("POST", "/_dash-update-component", "application/json", b'{"output":"x"}'),
    ("POST", "/_dash-update-component", "application/json", b'{"output":"x","outputs":{},"inputs":[],"changedPropIds":[]}'),
    ("POST", "/_dash-update-component", "application/json", b"not json"),
    ("POST", "/_dash-update-component", "application/json", b"null"),
    ("GET", "/_dash-component-suites/..%2f..%2fsetup.py", None, b""),
    ("GET", "/_dash-component-suites/dash/../../../etc/passwd", None, b""),
    ("GET", "/_dash-component-suites/dash/..", None, b""),
    ("GET", "/_dash-component-suites/nothing/x.js", None, b""),
    ("GET", "/_dash-component-suites/dash/deps/react@99.min.js", None, b""),
    ("GET", "/_dash-layout?x=%ff", None, b""),
    ("GET", "/assets/..%2f..%2fwfm%2fconfig.py", None, b""),
    ("GET", "/static/..%2fapp.py", None, b""),
]

JSON_ATOMS = [None, True, 0, -1, 1e308, "x", "", "1001", "../..", "\u0000", "小休", [], {}]
PATH_JUNK = ["", "x", "..", "%2e%2e", "%ff", "a" * 300, "1001", "../../etc/passwd", "%00", "小休"]


def _json_value(rng: random.Random, depth: int = 0):
    pick = rng.random()
    if depth > 2 or pick < 0.4:
        return rng.choice(JSON_ATOMS)
    if pick < 0.7:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["output", "outputs", "inputs", "state", "changedPropIds", "id", "property", "value",
            "agent", "action", "note", "kind", "queue", "username", "password"]
    return {rng.choice(keys): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _fuzz_requests(app, seed: int, count: int):
    rng = random.Random(seed)
    routes = sorted(set(_routes(app)))
    for _ in range(count):
        method, path = rng.choice(routes)
        verb = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH"]) if method == "*" else method
        url_path = (path.replace("{agent}", rng.choice(PATH_JUNK + ["1001", "1002"]))
                    .replace("{name}", rng.choice(PATH_JUNK + ["wfm.css"]))
                    .replace("/_dash-{tail}", "/_dash-" + rng.choice(["update-component", "layout", "dependencies",
                                                                      "component-suites/dash/" + rng.choice(PATH_JUNK)]))
                    .replace("{tail}", rng.choice(PATH_JUNK)))
        roll = rng.random()
        if roll < 0.6:
            body, ctype = json.dumps(_json_value(rng)).encode(), "application/json"
        elif roll < 0.8:
            body, ctype = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64))), rng.choice(
                ["application/json", "text/plain", "application/x-www-form-urlencoded"])
        else:
            body, ctype = b"", None
        yield verb, url_path, ctype, body


async def test_no_route_answers_5xx_to_client_input(served):  # noqa: F811
    base = served.base_url
    session = await _cookie_session(base, "admin")
    async with session:
        async with session.get(base + "/api/me") as r:
            csrf = (await r.json())["csrf_token"]
        async with aiohttp.ClientSession() as anonymous:
            cases = PINNED + list(_fuzz_requests(served.app, seed=19, count=400))
            failures = []
            for index, (verb, url_path, ctype, body) in enumerate(cases):
                client = session if index % 2 else anonymous
                headers = {"X-CSRF-Token": csrf, "X-CSRFToken": csrf} if index % 2 else {}
                if ctype:
                    headers["Content-Type"] = ctype
                url = aiohttp.helpers.URL(base + url_path, encoded=True)
                async with client.request(verb, url, data=body or None, headers=headers, allow_redirects=False) as r:
                    await r.read()
                    if r.status >= 500:
                        failures.append(f"{verb} {url_path} {body[:80]!r}: {r.status}")
            assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("path", ["/_dash-component-suites/dash/../../../etc/passwd", "/_dash-component-suites/..%2f..%2fsetup.py"])
async def test_dash_resource_paths_cannot_leave_the_package(served, path):  # noqa: F811
    async with aiohttp.ClientSession() as session:
        url = aiohttp.helpers.URL(served.base_url + path, encoded=True)
        async with session.get(url) as r:
            assert r.status in (400, 404)
            assert b"root:" not in await r.read()
