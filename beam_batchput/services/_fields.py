"""Reading and checking record fields; shared by the service modules."""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any, Collection, FrozenSet, Mapping, Optional, Pattern, Tuple

from beam_batchput.core.service import InvalidRecord

__all__ = ["CONTROL_CHARS", "EPOCH", "MAX_YEAR", "MIN_YEAR", "SURROGATES", "Fields",
           "epoch_nanos", "format_iso", "parse_iso_nanos", "split_nanos", "to_epoch_nanos"]

CONTROL_CHARS: Pattern[str] = re.compile(r"[\x00-\x1f\x7f]")
# Lone surrogates: text that has no UTF-8 encoding, which the services' wire
# format (UTF-8 JSON) cannot carry.
SURROGATES: Pattern[str] = re.compile(r"[\ud800-\udfff]")
_NANOS_PER_SECOND = 1_000_000_000
#: The epoch, as an aware datetime.
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
#: The years ISO-8601 text (and botocore) can carry.
MIN_YEAR, MAX_YEAR = 1, 9999
# ISO-8601 time text, read back to nanoseconds: a date, a time with up to 9
# fraction digits, and an optional zone (none reads as UTC).
_ISO_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})"
                       r"(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?", re.IGNORECASE)


class Fields:
    """Typed access to a record's fields; every failure raises InvalidRecord.

    Args:
        record: The record's fields.
        allowed: Every field name the record may have; others are refused.
            A frozenset: checking a record against it is one C call.
        resource: The target name used in errors, set once it is known.
    """

    # One per record read: no instance dictionary to allocate.
    __slots__ = ("_record", "resource")

    def __init__(self, record: Mapping[str, Any], allowed: FrozenSet[str]) -> None:
        if not allowed.issuperset(record):
            unknown = sorted(str(k) for k in record if k not in allowed)
            raise InvalidRecord(
                "UnknownField", "unknown field(s) %s; expected some of %s"
                % (", ".join(unknown), ", ".join(sorted(allowed))))
        self._record = record
        self.resource = ""

    def fail(self, code: str, message: str) -> InvalidRecord:
        """An InvalidRecord about this record."""
        return InvalidRecord(code, message, self.resource)

    def require_utf8(self, text: str, what: str) -> str:
        """``text``, or InvalidEncoding when it holds lone surrogates (no UTF-8 form)."""
        if not text.isascii() and SURROGATES.search(text):
            raise self.fail("InvalidEncoding", "%s is text that is not valid UTF-8 (it holds "
                            "lone surrogates)" % what)
        return text

    def json_text(self, name: str, value: Any) -> str:
        """A dict or list field as compact JSON text with sorted keys, or InvalidRecord."""
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise self.fail("InvalidJson", "field %r cannot be JSON: %s"
                            % (name, error)) from None
        except RecursionError:
            raise self.fail("NestingTooDeep", "field %r nests too deep to be serialized "
                            "as JSON" % name) from None

    def blob(self, name: str) -> bytes:
        """A required bytes field: bytes as given, text as UTF-8, a dict or list as
        compact JSON with sorted keys; anything else is InvalidType."""
        value = self._record.get(name)
        if value is None:
            raise self.fail("MissingField", "field %r is required" % name)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, (str, Mapping, list, tuple)):
            text = value if isinstance(value, str) else self.json_text(name, value)
            return self.require_utf8(text, "field %r" % name).encode("utf-8")
        raise self.fail("InvalidType", "field %r must be bytes, text, a dict or a list, got %s"
                        % (name, type(value).__name__))

    def has(self, name: str) -> bool:
        """Whether the field is there, even as None."""
        return name in self._record

    def present(self, name: str) -> bool:
        """Whether the field is there and not None."""
        return self._record.get(name) is not None

    def raw(self, name: str) -> Any:
        """The field's value, None if absent."""
        return self._record.get(name)

    def string(self, name: str, *, required: bool = True, min_len: int = 1,
               max_len: Optional[int] = None, pattern: Optional[Pattern[str]] = None,
               no_control: bool = False, choices: Optional[Collection[str]] = None
               ) -> Optional[str]:
        """A string field, checked against length, pattern and choices."""
        value = self._record.get(name)
        if value is None:
            if required:
                raise self.fail("MissingField", "field %r is required" % name)
            return None
        if not isinstance(value, str):
            raise self.fail("InvalidType", "field %r must be a string, got %s"
                            % (name, type(value).__name__))
        self.require_utf8(value, "field %r" % name)
        if len(value) < min_len:
            raise self.fail("InvalidLength", "field %r must have at least %d characters"
                            % (name, min_len))
        if max_len is not None and len(value) > max_len:
            raise self.fail("InvalidLength", "field %r has %d characters, at most %d allowed"
                            % (name, len(value), max_len))
        if no_control and CONTROL_CHARS.search(value):
            raise self.fail("InvalidCharacters",
                            "field %r contains control characters" % name)
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail("InvalidPattern", "field %r=%r does not match %s"
                            % (name, value[:200], pattern.pattern))
        if choices is not None and value not in choices:
            raise self.fail("InvalidValue", "field %r=%r must be one of %s"
                            % (name, value[:200], ", ".join(sorted(choices))))
        return value

    def timestamp_nanos(self, name: str, *, required: bool = True) -> Optional[int]:
        """Epoch nanoseconds from epoch seconds (int/float), an aware datetime, or ISO-8601 text."""
        value = self._record.get(name)
        if value is None:
            if required:
                raise self.fail("MissingField", "field %r is required" % name)
            return None
        return to_epoch_nanos(value, name, self)


def to_epoch_nanos(value: Any, name: str, fields: Optional[Fields] = None) -> int:
    """Converts a timestamp value to epoch nanoseconds, or raises InvalidRecord."""
    if type(value) is float and -1e12 <= value <= 1e12:  # the common case first; NaN fails
        # Float epoch seconds carry about a quarter of a microsecond of binary
        # noise today: keep whole microseconds, as a datetime would.
        seconds = math.floor(value)
        return seconds * _NANOS_PER_SECOND + round((value - seconds) * 1_000_000) * 1000

    def fail(code: str, message: str) -> InvalidRecord:
        return fields.fail(code, message) if fields else InvalidRecord(code, message)

    if isinstance(value, bool):
        raise fail("InvalidType", "field %r must be epoch seconds or a datetime, got bool" % name)
    if isinstance(value, int):
        if abs(value) > 10 ** 12:
            raise fail("InvalidTimestamp", "field %r=%r is not epoch seconds" % (name, value))
        return value * _NANOS_PER_SECOND
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > 1e12:
            raise fail("InvalidTimestamp", "field %r=%r is not epoch seconds" % (name, value))
        seconds = math.floor(value)  # a float subclass: as above
        return seconds * _NANOS_PER_SECOND + round((value - seconds) * 1_000_000) * 1000
    if isinstance(value, str):
        return _iso_nanos(value, name, fields)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise fail("InvalidTimestamp",
                       "field %r is a naive datetime; give it a timezone" % name)
        return epoch_nanos(value)
    micros = getattr(value, "micros", None)  # e.g. a Beam Timestamp in a Row
    if isinstance(micros, int) and not isinstance(micros, bool):
        return micros * 1000
    raise fail("InvalidType", "field %r must be epoch seconds or a datetime, got %s"
               % (name, type(value).__name__))


def _iso_nanos(text: str, name: str, fields: Optional[Fields]) -> int:
    """ISO-8601 text with a timezone → epoch nanoseconds, keeping up to 9 fraction digits."""
    match = _ISO_TIME.fullmatch(text.strip())
    nanos = parse_iso_nanos(text) if match is not None and match.group(8) else None
    if nanos is None:
        message = ("field %r=%r is not ISO-8601 with a timezone and at most 9 fraction digits"
                   % (name, text[:64]))
        raise (fields.fail if fields else InvalidRecord)("InvalidTimestamp", message)
    return nanos


def epoch_nanos(moment: datetime.datetime) -> int:
    """Epoch nanoseconds of a datetime (a naive one is read as UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * _NANOS_PER_SECOND + delta.microseconds * 1000


def parse_iso_nanos(text: str) -> Optional[int]:
    """Epoch nanoseconds of ISO-8601 text with up to 9 fraction digits, or None.

    Text without a zone is read as UTC (times the services echo may carry none).
    """
    match = _ISO_TIME.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or "", (match.group(8) or "Z").upper()
    try:
        offset = datetime.timedelta(0)
        if zone != "Z":
            digits = zone[1:].replace(":", "")
            offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            offset = -offset if zone[0] == "-" else offset
        moment = datetime.datetime(year, month, day, hour, minute, second,
                                   tzinfo=datetime.timezone(offset))
    except ValueError:
        return None
    return epoch_nanos(moment) + int(fraction.ljust(9, "0"))


def format_iso(nanos: int, fraction_digits: int = 9) -> Optional[str]:
    """Epoch nanoseconds → ``YYYY-MM-DDThh:mm:ss[.fraction]Z``, or None outside the years 1-9999.

    Args:
        nanos: Epoch nanoseconds.
        fraction_digits: 9 writes nanoseconds, and no fraction when it is zero;
            fewer digits cut the fraction to them and always write it.
    """
    seconds, fraction = split_nanos(nanos)
    try:
        moment = EPOCH + datetime.timedelta(seconds=seconds)
    except OverflowError:
        return None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        return None
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (moment.year, moment.month, moment.day,
                                              moment.hour, moment.minute, moment.second)
    if fraction_digits >= 9:
        return text + (".%09dZ" % fraction if fraction else "Z")
    return text + ".%0*dZ" % (fraction_digits, fraction // 10 ** (9 - fraction_digits))


def split_nanos(nanos: int) -> Tuple[int, int]:
    """Epoch nanoseconds → (seconds, nanoseconds within the second)."""
    return divmod(nanos, _NANOS_PER_SECOND)
