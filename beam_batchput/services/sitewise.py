"""AWS IoT SiteWise: BatchPutAssetPropertyValue.

One record is one TQV (timestamp, quality, value) of one asset property. Points
of one property are packed into one entry (at most 10), entries into requests
(at most 10): 100 TQVs per call at best.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from beam_batchput.core.clock import CallableClock, Clock
from beam_batchput.core.service import (
    TRANSIENT_ERROR_CODES,
    Entry,
    Failure,
    Item,
    Limits,
    Request,
    Service,
    Unmatched,
)
from beam_batchput.services._fields import Fields, split_nanos

__all__ = ["SiteWiseService", "ENTRY_NOT_INGESTED_CODE"]

# [IoT SiteWise user guide, "BatchPutAssetPropertyValue API"]: 10 entries per
# request, 10 TQVs per entry. Not in the botocore model.
MAX_ENTRIES = 10
MAX_VALUES_PER_ENTRY = 10
# Timestamps are accepted within [now - 7 days, now + 10 minutes] [same page].
MAX_PAST_SECONDS = 7 * 24 * 3600
MAX_FUTURE_SECONDS = 10 * 60
# Variant limits [API reference, Variant].
MAX_STRING_LENGTH = 1024
MAX_ABS_DOUBLE = 1e10
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
# Patterns from the botocore model (ID, AssetPropertyAlias).
_ID = re.compile(r"(?!00000000-0000-0000-0000-000000000000)"
                 r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ALIAS = re.compile(r"[^\u0000-\u001F\u007F]+")
MAX_ALIAS_LENGTH = 2048

_QUALITIES = ("GOOD", "BAD", "UNCERTAIN")
_VALUE_TYPES = {"DOUBLE": "D", "INTEGER": "I", "STRING": "S", "BOOLEAN": "B"}
_NULL_TYPES = frozenset(_VALUE_TYPES.values())
_NANOS = 1_000_000_000
# A JSON string as json.dumps (and so botocore) writes it: ASCII, escaped.
_json_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
# Aliases validated so far, per service instance, at most this many.
_ALIAS_CACHE_SIZE = 4096
_FIELDS = frozenset(("property_alias", "asset_id", "property_id", "value", "value_type",
                     "timestamp", "quality"))

#: The code of a TQV that was valid, but not stored because another TQV of its
#: entry was invalid while partial entry processing was off. Retried: the next
#: request carries it without the invalid TQV.
ENTRY_NOT_INGESTED_CODE = "EntryNotIngested"

# Per-entry codes are the exception names of the model's error-code enum.
_RETRYABLE = TRANSIENT_ERROR_CODES | {
    ENTRY_NOT_INGESTED_CODE,
    "LimitExceeded", "LimitExceededException",
    # Concurrent operations on the same resource: settles on its own.
    "ConflictingOperation", "ConflictingOperationException",
}
# The rest of the model's error-code enum: the entry itself is wrong.
_NOT_RETRYABLE = frozenset({"ResourceNotFoundException", "InvalidRequestException",
                            "TimestampOutOfRangeException", "AccessDeniedException"})


def _variant(fields: Fields) -> Tuple[str, Any]:
    """The record's value as (Variant member, value); a null value's is its type letter."""
    value = fields.raw("value")
    if type(value) is float and fields.raw("value_type") is None:  # the common case first
        if -MAX_ABS_DOUBLE <= value <= MAX_ABS_DOUBLE or value != value:  # or NaN
            return "doubleValue", value
        raise fields.fail("ValueOutOfRange", "double %r is outside [-1e10, 1e10]" % value)
    value_type = fields.string("value_type", required=False, choices=_VALUE_TYPES)
    quality = fields.raw("quality") or "GOOD"
    if value is None:
        if not fields.has("value"):
            raise fields.fail("MissingField", "field 'value' is required")
        if quality == "GOOD":
            raise fields.fail("InvalidValue", "a null value needs quality BAD or UNCERTAIN")
        if value_type is None:
            raise fields.fail("MissingField", "a null value needs a value_type")
        return "nullValue", _VALUE_TYPES[value_type]
    if value_type is None:
        value_type = ("BOOLEAN" if isinstance(value, bool) else "INTEGER" if isinstance(value, int)
                      else "DOUBLE" if isinstance(value, float) else "STRING"
                      if isinstance(value, str) else None)
        if value_type is None:
            raise fields.fail("InvalidType", "field 'value' must be bool, int, float or str, "
                              "got %s" % type(value).__name__)
    if value_type == "BOOLEAN":
        if not isinstance(value, bool):
            raise fields.fail("InvalidType", "value_type BOOLEAN needs a bool value")
        return "booleanValue", bool(value)
    if value_type == "INTEGER":
        if isinstance(value, bool) or not isinstance(value, int):
            raise fields.fail("InvalidType", "value_type INTEGER needs an int value")
        if not INT32_MIN <= value <= INT32_MAX:
            raise fields.fail("ValueOutOfRange", "integer %d is outside the 32-bit range" % value)
        return "integerValue", int(value)
    if value_type == "DOUBLE":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fields.fail("InvalidType", "value_type DOUBLE needs a number")
        value = float(value)
        if not math.isnan(value) and not -MAX_ABS_DOUBLE <= value <= MAX_ABS_DOUBLE:
            raise fields.fail("ValueOutOfRange",
                              "double %r is outside [-1e10, 1e10]" % value)
        return "doubleValue", value
    # The documented pattern ^$|[^\u0000-\u001F\u007F]+ admits the empty string.
    text = fields.string("value", min_len=0, max_len=MAX_STRING_LENGTH, no_control=True)
    return "stringValue", str(text)


def _value_json(kind: str, value: Any) -> str:
    """The Variant member's value as botocore's JSON serializer writes it.

    Raises:
        TypeError: When the value is not of the member's type (an item not
            made by :meth:`SiteWiseService.item`).
    """
    if kind == "doubleValue" and type(value) is float:
        # botocore writes NaN as the string "NaN" (infinities are refused earlier).
        return float.__repr__(value) if value == value else '"NaN"'
    if kind == "integerValue" and type(value) is int:
        return int.__repr__(value)
    if kind == "booleanValue" and type(value) is bool:
        return "true" if value else "false"
    if kind == "stringValue" and type(value) is str:
        return _json_string(value)
    if kind == "nullValue" and value in _NULL_TYPES:
        return '{"valueType": "%s"}' % value
    raise TypeError("a SiteWise value (%s, %r) that is not a Variant member of its type"
                    % (kind, value))


class SiteWiseService(Service):
    """IoT SiteWise BatchPutAssetPropertyValue.

    Records: ``property_alias`` (or ``asset_id`` + ``property_id``), ``value``
    (bool, int, float or str; None with a ``value_type`` and quality BAD or
    UNCERTAIN), optional ``value_type`` (DOUBLE, INTEGER, STRING, BOOLEAN),
    ``timestamp`` (epoch seconds, an aware datetime or ISO-8601 text) and
    optional ``quality`` (GOOD by default).

    Args:
        enable_partial_entry_processing: Let the service ingest every valid TQV
            of an entry that also holds invalid ones.
        clock: Wall clock (epoch seconds) for the timestamp window check.
    """

    name = "iotsitewise"
    operation = "BatchPutAssetPropertyValue"
    method = "batch_put_asset_property_value"
    limits = Limits(max_entries=MAX_ENTRIES, max_values_per_entry=MAX_VALUES_PER_ENTRY,
                    default_buffered_records=2000)
    retryable_codes = _RETRYABLE
    non_retryable_codes = _NOT_RETRYABLE

    def __init__(self, *, enable_partial_entry_processing: bool = True,
                 clock: Optional[Clock] = None) -> None:
        if not isinstance(enable_partial_entry_processing, bool):
            raise ValueError("enable_partial_entry_processing must be a bool, got %r"
                             % (enable_partial_entry_processing,))
        self._partial = enable_partial_entry_processing
        if clock is not None and not isinstance(clock, Clock):
            warnings.warn("clock as a callable is deprecated; pass a Clock",
                          DeprecationWarning, stacklevel=2)
            clock = CallableClock(wall=clock)
        if clock is not None:
            self.clock = clock

    def __getstate__(self) -> Dict[str, Any]:
        # The cache of validated aliases stays in the process that filled it.
        state = dict(self.__dict__)
        state.pop("_aliases", None)
        return state

    def item(self, record: Mapping[str, Any]) -> Item:
        """The record's item; its payload is the TQV as a tuple (see :meth:`tqv`).

        ``payload``: ``(seconds, offset_nanos, quality, member, value)``, where
        ``member`` is the Variant member (``doubleValue``, ``integerValue``,
        ``booleanValue``, ``stringValue``, or ``nullValue`` with the type
        letter as ``value``): atoms only, cheap to pickle and to hold.
        """
        if type(record) is dict:
            item = self._plain_item(record)
            if item is not None:
                return item
        fields = Fields(record, _FIELDS)
        target = self._target(fields)
        fields.resource = target[1]
        quality = fields.string("quality", required=False, choices=_QUALITIES) or "GOOD"
        nanos = fields.timestamp_nanos("timestamp")
        seconds, offset = split_nanos(nanos)
        now = self.clock.time()
        if not now - MAX_PAST_SECONDS <= seconds + offset / 1e9 <= now + MAX_FUTURE_SECONDS:
            raise fields.fail("TimestampOutOfRange", "timestamp %d.%09d is outside "
                              "[now - 7 days, now + 10 minutes]" % (seconds, offset))
        if seconds < 1:
            raise fields.fail("TimestampOutOfRange", "timestamp must be after the epoch")
        kind, value = _variant(fields)
        return self._make(target[0], target[1], nanos, seconds, offset, quality, kind, value,
                          "%s=%r" % (kind, {"valueType": value} if kind == "nullValue"
                                     else value))

    def _plain_item(self, record: Dict[str, Any]) -> Optional[Item]:
        """The item of the most common record, or None to take the general path.

        Implementation note: a dict of ``property_alias`` (ASCII text), a float
        ``value``, float epoch seconds and optionally a ``quality``, within
        every limit, is read here with a few type checks and a cache of the
        aliases seen; anything else, valid or not, goes the general way, which
        reads it to the same item or gives the error.
        """
        alias, value, stamp = (record.get("property_alias"), record.get("value"),
                               record.get("timestamp"))
        if type(value) is not float or type(stamp) is not float or type(alias) is not str:
            return None
        size = len(record)
        if size == 3:
            quality = "GOOD"
        else:
            quality = record.get("quality")
            if size != 4 or type(quality) is not str or quality not in _QUALITIES:
                return None
        aliases = self.__dict__.get("_aliases")
        if aliases is None:
            aliases = self.__dict__["_aliases"] = {}
        target = aliases.get(alias)
        if target is None:
            if not (alias.isascii() and len(alias) <= MAX_ALIAS_LENGTH
                    and _ALIAS.fullmatch(alias)):
                return None
            if len(aliases) >= _ALIAS_CACHE_SIZE:
                aliases.clear()
            # (group, resource, the record's JSON up to its timestamp)
            target = aliases[alias] = ("alias:" + alias, alias,
                                       '{"property_alias": %s, ' % _json_string(alias))
        if not (-MAX_ABS_DOUBLE <= value <= MAX_ABS_DOUBLE or value != value):
            return None
        if not -1e12 <= stamp <= 1e12:
            return None
        whole = math.floor(stamp)  # as to_epoch_nanos: whole microseconds
        nanos = whole * _NANOS + round((stamp - whole) * 1_000_000) * 1000
        seconds, offset = divmod(nanos, _NANOS)
        now = self.clock.time()
        if not (now - MAX_PAST_SECONDS <= seconds + offset / 1e9 <= now + MAX_FUTURE_SECONDS
                and seconds >= 1):
            return None
        text = float.__repr__(value)
        item = self._make(target[0], target[1], nanos, seconds, offset, quality, "doubleValue",
                          value, "doubleValue=" + text)
        # The record's JSON as record_to_json writes it (sorted keys, NaN as
        # NaN), from the parts at hand.
        item.record = "%s%s\"timestamp\": %s, \"value\": %s}" % (
            target[2], "" if size == 3 else '"quality": "%s", ' % quality,
            float.__repr__(stamp), text if value == value else "NaN")
        return item

    @staticmethod
    def _make(group: str, resource: str, nanos: int, seconds: int, offset: int, quality: str,
              kind: str, value: Any, value_text: str) -> Item:
        stamp = "%d.%09d" % (seconds, offset)
        # SiteWise limits counts, not bytes: the size is the TQV's JSON length,
        # estimated (its fixed keys and punctuation take 85 bytes).
        return Item((), group, (seconds, offset, quality, kind, value),
                    85 + len(value_text) + len(stamp) + len(quality),
                    "%020d|%s|%s" % (nanos, quality, value_text),
                    "%s@%s" % (resource, stamp), resource)

    @staticmethod
    def tqv(item: Item) -> Dict[str, Any]:
        """The item's TQV as the request's ``propertyValues`` carry it (botocore's shape)."""
        seconds, offset, quality, kind, value = item.payload
        variant = {kind: {"valueType": value} if kind == "nullValue" else value}
        return {"value": variant,
                "timestamp": {"timeInSeconds": seconds, "offsetInNanos": offset},
                "quality": quality}

    @staticmethod
    def _target(fields: Fields) -> Tuple[str, str]:
        """(group, resource) of the property the record names."""
        raw = fields.raw
        if raw("property_alias") is not None:
            if raw("asset_id") is not None or raw("property_id") is not None:
                raise fields.fail("InvalidRecord", "give property_alias or asset_id + "
                                  "property_id, not both")
            alias = fields.string("property_alias", max_len=MAX_ALIAS_LENGTH, pattern=_ALIAS)
            return "alias:" + alias, alias
        if not (fields.present("asset_id") or fields.present("property_id")):
            raise fields.fail("MissingField", "property_alias or asset_id + property_id "
                              "is required")
        asset = fields.string("asset_id", pattern=_ID)
        prop = fields.string("property_id", pattern=_ID)
        return "id:%s/%s" % (asset, prop), "%s/%s" % (asset, prop)

    def build_request(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> dict:
        wire: List[Dict[str, Any]] = []
        for entry in entries:
            kind, _, name = entry.group.partition(":")
            body: Dict[str, Any] = {"entryId": entry.entry_id}
            if kind == "alias":
                body["propertyAlias"] = name
            else:
                body["assetId"], body["propertyId"] = name.split("/", 1)
            body["propertyValues"] = [self.tqv(item) for item in entry.items]
            wire.append(body)
        return {"entries": wire, "enablePartialEntryProcessing": self._partial}

    def request_body(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> bytes:
        """The JSON body botocore writes for :meth:`build_request`, byte for byte.

        Implementation note: botocore's serializer walks the service model for
        every value (most of a call's CPU); this writes the same text from
        the items' atoms with one format per TQV. The contract tests compare
        the two on every kind of value and target.
        """
        parts = []
        for entry in entries:
            kind, _, name = entry.group.partition(":")
            if kind == "alias":
                target = '"propertyAlias": ' + _json_string(name)
            else:
                asset, prop = name.split("/", 1)
                target = '"assetId": %s, "propertyId": %s' % (_json_string(asset),
                                                             _json_string(prop))
            values = ", ".join([
                '{"value": {"%s": %s}, "timestamp": {"timeInSeconds": %d, "offsetInNanos": '
                '%d}, "quality": "%s"}' % (
                    member, float.__repr__(value) if type(value) is float and value == value
                    and member == "doubleValue" else _value_json(member, value),
                    seconds, offset, quality)
                for seconds, offset, quality, member, value in [item.payload
                                                                for item in entry.items]])
            parts.append('{"entryId": %s, %s, "propertyValues": [%s]}'
                         % (_json_string(entry.entry_id), target, values))
        return ('{"entries": [%s], "enablePartialEntryProcessing": %s}'
                % (", ".join(parts), "true" if self._partial else "false")).encode("utf-8")

    def failures(self, request: Request, response: Mapping[str, Any]
                 ) -> Iterable[Failure | Unmatched]:
        by_id = {entry.entry_id: entry for entry in request.entries}
        for error_entry in response.get("errorEntries") or ():
            entry_id = error_entry.get("entryId")
            entry = by_id.get(entry_id)
            errors = error_entry.get("errors") or ()
            if entry is None:
                for error in errors or ({},):
                    yield Unmatched(_error_code(error), "entryId %r names no entry of the "
                                    "request: %s" % (entry_id, _error_message(error)),
                                    tuple(request.items))
                continue
            failed: Dict[int, Item] = {}
            for error in errors or ({},):
                code, message = _error_code(error), _error_message(error)
                stamps = [_time_key(t) for t in error.get("timestamps") or ()]
                if not stamps:
                    # An error that names no timestamp fails the whole entry.
                    named = list(entry.items)
                else:
                    named = [item for item in entry.items if item.payload[:2] in stamps]
                    placed = {item.payload[:2] for item in named}
                    strays = [stamp for stamp in stamps if stamp not in placed]
                    if strays:
                        yield Unmatched(code, "entry %s: timestamps %s match no value sent: "
                                        "%s" % (entry.entry_id, strays[:5], message),
                                        tuple(entry.items))
                for item in named:
                    failed[id(item)] = item
                    yield Failure(item, code, message)
            if not self._partial and failed:
                # [API reference]: with partial entry processing off, an invalid
                # TQV fails ingestion of the whole entry, though the error names
                # only the invalid ones: the entry's other TQVs were not stored.
                for item in entry.items:
                    if id(item) not in failed:
                        yield Failure(item, ENTRY_NOT_INGESTED_CODE,
                                      "not stored: another value of its entry was refused "
                                      "and partial entry processing is off")


def _time_key(stamp: Any) -> Tuple[Any, Any]:
    """A TQV timestamp as (seconds, nanos), whichever way it was given."""
    if not isinstance(stamp, Mapping):
        return (None, None)
    return stamp.get("timeInSeconds"), stamp.get("offsetInNanos") or 0


def _error_code(error: Mapping[str, Any]) -> str:
    return str(error.get("errorCode") or "Unknown")


def _error_message(error: Mapping[str, Any]) -> str:
    return str(error.get("errorMessage") or "")
