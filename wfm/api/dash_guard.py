"""Client input to Dash's own routes, checked before Dash sees it (a bad request is 4xx, never 500).

Dash indexes the callback request body without checking it and raises on a
path outside its registered resources; Flask turns both into a 500 with a
traceback. `problem()` names what is wrong with such a request (None when it
may go to Dash) and `client_status()` maps what Dash still answers 500 for a
request it was handed to the 4xx it is.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

UPDATE_PATH = "/_dash-update-component"
SUITES_PREFIX = "/_dash-component-suites/"


def _is_dependency(item: Any) -> bool:
    if isinstance(item, list):  # a pattern-matching (ALL/ALLSMALLER) input is a list of dependencies
        return all(_is_dependency(sub) for sub in item)
    return isinstance(item, dict) and isinstance(item.get("property"), str) and isinstance(item.get("id"), (str, dict))


def callback_problem(body: bytes, callbacks: Mapping[str, Any] | None) -> str | None:
    """Why a /_dash-update-component body cannot be a callback request of this app (None when it can)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "the body is not JSON"
    if not isinstance(data, dict):
        return "the body is not a JSON object"
    output = data.get("output")
    if not isinstance(output, str):
        return "'output' must be a string"
    if callbacks is not None and output not in callbacks:
        return f"no callback has output {output[:80]!r}"
    outputs = data.get("outputs")
    if not (isinstance(outputs, dict) or (isinstance(outputs, list) and all(isinstance(o, (dict, list)) for o in outputs))):
        return "'outputs' must be an object or a list"
    inputs, state = data.get("inputs"), data.get("state", [])
    if not isinstance(inputs, list) or not all(_is_dependency(i) for i in inputs):
        return "'inputs' must be a list of {id, property, value}"
    if not isinstance(state, list) or not all(_is_dependency(s) for s in state):
        return "'state' must be a list of {id, property, value}"
    changed = data.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "'changedPropIds' must be a list of strings"
    if callbacks is not None:
        spec = callbacks[output]
        want = len(spec.get("inputs", [])) + len(spec.get("state", []))
        if len(inputs) + len(state) != want:
            return f"callback {output[:80]!r} takes {want} inputs and states, not {len(inputs) + len(state)}"
    return None


def resource_problem(path: str) -> str | None:
    """Why a /_dash-component-suites/ path cannot name a packaged resource (None when it may)."""
    tail = path[len(SUITES_PREFIX):]
    parts = tail.split("/")
    if len(parts) < 2 or any(part in ("", ".", "..") for part in parts) or "\\" in tail or "\x00" in tail:
        return "not a resource path"
    return None


def problem(method: str, path: str, body: bytes, callbacks: Mapping[str, Any] | None) -> str | None:
    if path == UPDATE_PATH and method == "POST":
        return callback_problem(body, callbacks)
    if path.startswith(SUITES_PREFIX):
        return resource_problem(path)
    return None


def client_status(method: str, path: str, status: int) -> int:
    """The status to answer for Dash's `status` on a request that passed `problem()`.

    What Dash still answers 500 for is the client's input: a resource it does not
    have (404) or a callback that failed on the values sent (400).
    """
    if status < 500:
        return status
    if path.startswith(SUITES_PREFIX):
        return 404
    if path == UPDATE_PATH:
        return 400
    return status
