"""Dash's wildcard props (`data-*`, `aria-*`): valid on every html component, yet absent from the
components' signatures, so they can only be splatted in as a dict."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIXES = ("data-", "aria-")


def wildcard(props: Mapping[str, str]) -> dict[str, Any]:
    """The props to splat into a component: `html.Div(..., **wildcard({"data-agent": agent}))`.
    A name that is not a wildcard prop is a ValueError (it would shadow a typed argument)."""
    for name in props:
        if not name.startswith(PREFIXES):
            raise ValueError(f"{name!r} is not a data-* or aria-* prop")
    return dict(props)
