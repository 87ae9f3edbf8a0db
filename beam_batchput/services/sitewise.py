"""AWS IoT SiteWise: BatchPutAssetPropertyValue.

One record is one TQV (timestamp, quality, value) of one asset property. Points
of one property are packed into one entry (at most 10), entries into requests
(at most 10): 100 TQVs per call at best.
"""

from __future__ import annotations

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


def _variant(fields: Fields) -> Dict[str, Any]:
    value = fields.raw("value")
    if type(value) is float and fields.raw("value_type") is None:  # the common case first
        if -MAX_ABS_DOUBLE <= value <= MAX_ABS_DOUBLE or value != value:  # or NaN
            return {"doubleValue": value}
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
        return {"nullValue": {"valueType": _VALUE_TYPES[value_type]}}
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
        return {"booleanValue": value}
    if value_type == "INTEGER":
        if isinstance(value, bool) or not isinstance(value, int):
            raise fields.fail("InvalidType", "value_type INTEGER needs an int value")
        if not INT32_MIN <= value <= INT32_MAX:
            raise fields.fail("ValueOutOfRange", "integer %d is outside the 32-bit range" % value)
        return {"integerValue": value}
    if value_type == "DOUBLE":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fields.fail("InvalidType", "value_type DOUBLE needs a number")
        value = float(value)
        if not math.isnan(value) and not -MAX_ABS_DOUBLE <= value <= MAX_ABS_DOUBLE:
            raise fields.fail("ValueOutOfRange",
                              "double %r is outside [-1e10, 1e10]" % value)
        return {"doubleValue": value}
    # The documented pattern ^$|[^\u0000-\u001F\u007F]+ admits the empty string.
    text = fields.string("value", min_len=0, max_len=MAX_STRING_LENGTH, no_control=True)
    return {"stringValue": text}


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

    def item(self, record: Mapping[str, Any]) -> Item:
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
        variant = _variant(fields)
        payload = {"value": variant,
                   "timestamp": {"timeInSeconds": seconds, "offsetInNanos": offset},
                   "quality": quality}
        (kind, value), = variant.items()
        value_text = "%s=%r" % (kind, value)
        stamp = "%d.%09d" % (seconds, offset)
        # SiteWise limits counts, not bytes: the size is the TQV's JSON length,
        # estimated (its fixed keys and punctuation take 85 bytes).
        return Item(scope=(), group=target[0], payload=payload,
                    size=85 + len(value_text) + len(stamp) + len(quality),
                    sort_key="%020d|%s|%s" % (nanos, quality, value_text),
                    item_id="%s@%s" % (target[1], stamp), resource=target[1])

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
            body["propertyValues"] = [item.payload for item in entry.items]
            wire.append(body)
        return {"entries": wire, "enablePartialEntryProcessing": self._partial}

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
                    named = [item for item in entry.items
                             if _time_key(item.payload["timestamp"]) in stamps]
                    placed = {_time_key(item.payload["timestamp"]) for item in named}
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
