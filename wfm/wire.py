"""The one conversion from the product's structs (events, decisions, views) to JSON builtins."""
from __future__ import annotations

from typing import Any

import msgspec


def to_builtins(value: msgspec.Struct) -> dict[str, Any]:
    """A struct as JSON builtins: datetimes as ISO strings, enums as values — a log body or an API answer."""
    data: dict[str, Any] = msgspec.to_builtins(value)
    return data
