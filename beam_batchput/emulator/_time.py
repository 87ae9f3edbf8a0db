"""ISO-8601 and epoch conversions at nanosecond precision."""

from __future__ import annotations

import calendar
import datetime
import re
from typing import Optional

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?")


def parse_iso8601(text: str, require_zone: bool = False) -> Optional[int]:
    """Nanoseconds since the epoch of an ISO-8601 date-time, or None when malformed.

    A time without a zone is read as UTC unless ``require_zone``.
    """
    match = _ISO.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction, zulu, sign, zone_h, zone_m = match.group(7, 8, 9, 10, 11)
    if require_zone and not (zulu or sign):
        return None
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    seconds = calendar.timegm(moment.timetuple())
    if sign:
        offset = int(zone_h) * 3600 + int(zone_m) * 60
        seconds -= offset if sign == "+" else -offset
    nanos = int((fraction or "").ljust(9, "0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos


def format_iso8601(epoch_nanos: int) -> str:
    """UTC ISO-8601 with nanoseconds, e.g. ``2024-05-01T12:00:00.000000000Z``."""
    seconds, nanos = divmod(epoch_nanos, 1_000_000_000)
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    return "%s.%09dZ" % (moment.strftime("%Y-%m-%dT%H:%M:%S"), nanos)


def to_epoch_seconds(value) -> Optional[float]:
    """Epoch seconds of a wire timestamp (a number or an ISO-8601 string), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            nanos = parse_iso8601(value)
            return None if nanos is None else nanos / 1e9
    return None
