"""JSON bodies in and out of the API's handlers: one decoder with the API's error texts, one encoder."""
from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from wfm.api.security import ApiError

_json_encoder = msgspec.json.Encoder()


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json_encoder.encode(data), status=status, content_type="application/json")


async def read_body(request: web.Request, shape: type) -> Any:
    raw = await request.read()
    if not raw:
        raise ApiError(400, "missing body", f"send a JSON object with the fields of {shape.__name__}")
    try:
        return msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as exc:
        raise ApiError(400, "invalid body", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, "body is not JSON", str(exc)) from None
