"""Timezone-aware time helpers: every datetime in the product carries an offset."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class NaiveDatetimeError(ValueError):
    """A timestamp without a UTC offset was given where one is required."""


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The IANA zone `name`; raises ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; the offset is mandatory ('Z' allowed)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(f"timestamp {text!r} has no UTC offset")
    return value


def format_ts(value: datetime) -> str:
    """RFC 3339 with the value's own offset, seconds precision unless sub-second."""
    require_aware(value)
    spec = "seconds" if value.microsecond == 0 else "microseconds"
    return value.isoformat(timespec=spec)


def require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(f"naive datetime {value!r}")
    return value


def localize(naive: datetime, tz: tzinfo) -> datetime:
    """Attach the floor zone to a naive local wall-clock time (serial feeds)."""
    return naive.replace(tzinfo=tz)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60.0
