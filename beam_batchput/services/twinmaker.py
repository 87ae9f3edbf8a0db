"""AWS IoT TwinMaker: BatchPutPropertyValues.

One record is one value, at one time, of one time-series property of an entity
component. Values of one property are packed into one entry (at most 10),
entries of one workspace into requests (at most 10): 100 values per call at best.
The service echoes a failed entry whole, with no entry id, so failures are
matched back to records by property reference, time and value.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from beam_batchput.core.service import (
    THROTTLING_ERROR_CODES,
    TRANSIENT_ERROR_CODES,
    Entry,
    Failure,
    Item,
    Limits,
    Request,
    Service,
    Unmatched,
)
from beam_batchput.services._fields import (
    CONTROL_CHARS,
    MAX_YEAR,
    MIN_YEAR,
    Fields,
    epoch_nanos,
    format_iso,
    parse_iso_nanos,
    split_nanos,
)

__all__ = ["TwinMakerService", "MAX_NESTING_DEPTH"]

# botocore model: Entries (min 1, max 10) and PropertyValues (min 1, max 10).
MAX_ENTRIES = 10
MAX_VALUES_PER_ENTRY = 10
# botocore model, DataValue: stringValue 1-256 chars; DataValueList and
# DataValueMap at most 50 members; map keys 1-256 chars.
MAX_STRING_LENGTH = 256
MAX_COLLECTION_SIZE = 50
# Not in the model (DataValue is recursive without bound): the connector's own
# bound on how deep lists and maps nest. A flat list or map has depth 1.
MAX_NESTING_DEPTH = 10
# botocore model: integerValue is an Integer (32-bit), longValue a Long (64-bit).
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# botocore model, Time: 20-35 chars, YYYY-MM-DDThh:mm:ss[.SSSSSSSSS][Z/±HH:mm]:
# a four-digit year.
# Patterns and lengths from the botocore model (Id, EntityId, Name, ComponentPath).
MAX_WORKSPACE_ID_LENGTH = 128
MAX_ENTITY_ID_LENGTH = 128
MAX_NAME_LENGTH = 256
MAX_COMPONENT_PATH_LENGTH = 2048
_WORKSPACE_ID = re.compile(r"[a-zA-Z_0-9][a-zA-Z_\-0-9]*[a-zA-Z0-9]+")
_ENTITY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                        r"|[a-zA-Z0-9][a-zA-Z_\-0-9.:]*[a-zA-Z0-9]+")
_NAME = re.compile(r"[a-zA-Z_\-0-9]+")
_COMPONENT_PATH = re.compile(r"[a-zA-Z_\-0-9/]+")

_VALUE_TYPES = ("BOOLEAN", "INTEGER", "LONG", "DOUBLE", "STRING", "LIST", "MAP")
_FIELDS = frozenset(("workspace_id", "entity_id", "component_name", "component_path",
                     "property_name", "value", "value_type", "timestamp"))
_NANOS = 1_000_000_000
_NANOS_PER_MICRO = 1_000
# Before year 1: sort keys count nanoseconds from here, so they stay positive.
_SORT_ORIGIN = -63_000_000_000 * _NANOS

# errorCode of an error entry is a free string: exception names, or HTTP status
# codes such as "409" (a different value already stored at that time).
_RETRYABLE = TRANSIENT_ERROR_CODES | {"429", "500", "502", "503", "504"}
_THROTTLING = THROTTLING_ERROR_CODES | {"429"}
_NOT_RETRYABLE = frozenset({"400", "404", "409", "ValidationException",
                            "ResourceNotFoundException", "ConflictException",
                            "AccessDeniedException"})

# Implementation note: when an echoed time matches none of our values exactly,
# it is compared at coarser precisions (the service or botocore may have cut it
# to micro- or milliseconds) before every value of the property is failed.
_MATCH_PRECISIONS = (1, 1_000, 1_000_000, _NANOS)

# A replay after an ambiguous failure (a timeout after TwinMaker stored the
# values) may be answered with a conflict at the same time; no AWS page says.
# Values refused so are read back with GetPropertyValueHistory and written
# only when TwinMaker holds them as sent.
_VERIFY_CODES = frozenset({"ConflictException", "409"})
# Reading back stops after this many pages (maxResults 1-200 in the model).
_READ_BACK_PAGE_SIZE = 200
_READ_BACK_MAX_PAGES = 10


def _time_text(nanos: int, fields: Fields) -> str:
    """Epoch nanoseconds → ``YYYY-MM-DDThh:mm:ss[.SSSSSSSSS]Z``."""
    text = format_iso(nanos)
    if text is None:
        seconds, fraction = split_nanos(nanos)
        raise fields.fail("InvalidTimestamp", "timestamp %d.%09d s is outside the years "
                          "%04d-%04d" % (seconds, fraction, MIN_YEAR, MAX_YEAR))
    return text


def _check_text(text: str, what: str, fields: Fields) -> str:
    if not 1 <= len(text) <= MAX_STRING_LENGTH:
        raise fields.fail("InvalidLength", "%s has %d characters; 1-%d allowed"
                          % (what, len(text), MAX_STRING_LENGTH))
    if CONTROL_CHARS.search(text):
        raise fields.fail("InvalidCharacters", "%s contains control characters" % what)
    return fields.require_utf8(text, what)


def _infer_type(value: Any) -> Optional[str]:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER" if INT32_MIN <= value <= INT32_MAX else "LONG"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, (list, tuple)):
        return "LIST"
    if isinstance(value, Mapping):
        return "MAP"
    return None


def _data_value(value: Any, value_type: Optional[str], where: str, depth: int,
                fields: Fields) -> Dict[str, Any]:
    """One DataValue; ``depth`` counts the lists and maps around ``value``."""
    if value is None:
        raise fields.fail("InvalidValue", "%s is null; TwinMaker values cannot be null" % where)
    if value_type is None:
        value_type = _infer_type(value)
        if value_type is None:
            raise fields.fail("InvalidType", "%s must be bool, int, float, str, list or dict, "
                              "got %s" % (where, type(value).__name__))
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if value_type == "BOOLEAN":
        if not isinstance(value, bool):
            raise fields.fail("InvalidType", "%s must be a bool for BOOLEAN" % where)
        return {"booleanValue": value}
    if value_type in ("INTEGER", "LONG"):
        if not is_int:
            raise fields.fail("InvalidType", "%s must be an int for %s" % (where, value_type))
        low, high = (INT32_MIN, INT32_MAX) if value_type == "INTEGER" else (INT64_MIN, INT64_MAX)
        if not low <= value <= high:
            raise fields.fail("ValueOutOfRange", "%s=%d is outside the %s range"
                              % (where, value, value_type))
        return {"integerValue" if value_type == "INTEGER" else "longValue": value}
    if value_type == "DOUBLE":
        if not (is_int or isinstance(value, float)):
            raise fields.fail("InvalidType", "%s must be a number for DOUBLE" % where)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise fields.fail("ValueOutOfRange", "%s=%r is not a finite double" % (where, value))
        return {"doubleValue": number}
    if value_type == "STRING":
        if not isinstance(value, str):
            raise fields.fail("InvalidType", "%s must be a str for STRING" % where)
        return {"stringValue": _check_text(value, where, fields)}
    if value_type == "LIST" and not isinstance(value, (list, tuple)):
        raise fields.fail("InvalidType", "%s must be a list for LIST" % where)
    if value_type == "MAP" and not isinstance(value, Mapping):
        raise fields.fail("InvalidType", "%s must be a dict for MAP" % where)
    if depth + 1 > MAX_NESTING_DEPTH:
        raise fields.fail("NestingTooDeep", "%s nests lists and maps more than %d deep"
                          % (where, MAX_NESTING_DEPTH))
    if len(value) > MAX_COLLECTION_SIZE:
        raise fields.fail("TooManyElements", "%s has %d elements; at most %d allowed"
                          % (where, len(value), MAX_COLLECTION_SIZE))
    if value_type == "LIST":
        return {"listValue": [_data_value(member, None, "%s[%d]" % (where, i), depth + 1, fields)
                              for i, member in enumerate(value)]}
    members: Dict[str, Any] = {}
    for key, member in value.items():
        if not isinstance(key, str):
            raise fields.fail("InvalidType", "%s has a key of type %s; keys must be str"
                              % (where, type(key).__name__))
        _check_text(key, "a key of %s" % where, fields)
        members[key] = _data_value(member, None, "%s[%r]" % (where, key[:64]), depth + 1, fields)
    return {"mapValue": members}


def _reference(group: str) -> Dict[str, str]:
    """The entityPropertyReference a group names."""
    entity, kind, component, prop = json.loads(group)
    return {"entityId": entity, kind: component, "propertyName": prop}


def _names_reference(echoed: Mapping[str, Any], ours: Mapping[str, str]) -> bool:
    """Whether an echoed reference names ours: every key it carries agrees."""
    compared = False
    for key in ("entityId", "componentName", "componentPath", "propertyName"):
        if echoed.get(key) is not None:
            if echoed[key] != ours.get(key):
                return False
            compared = True
    return compared


def _value_nanos(value: Mapping[str, Any]) -> Optional[int]:
    """Epoch nanoseconds of a property value (ours or echoed), from ``time`` or ``timestamp``.

    botocore reads an echoed ``timestamp`` as a datetime; a fake or another
    client may hand back epoch seconds or text, so all three are read.
    """
    for key in ("time", "timestamp"):
        moment = value.get(key)
        nanos: Optional[int] = None
        if isinstance(moment, str):
            nanos = parse_iso_nanos(moment)
        elif isinstance(moment, datetime.datetime):
            nanos = epoch_nanos(moment)
        elif isinstance(moment, (int, float)) and not isinstance(moment, bool):
            if not isinstance(moment, float) or math.isfinite(moment):
                nanos = int(round(moment * 1_000_000)) * 1000
        if nanos is not None:
            return nanos
    return None


def _named_items(echoed_values: Any, candidates: List[Item]) -> Optional[List[Item]]:
    """The candidate items that the echoed property values name.

    A value is found by its time, then narrowed by its value when several of
    ours share that time. An entry echoed without values names every
    candidate; a value that cannot be found makes the error unplaceable (None).
    """
    if not echoed_values:
        return candidates
    named: List[Item] = []
    seen: Set[int] = set()
    for echoed in echoed_values:
        if not isinstance(echoed, Mapping):
            return None
        nanos = _value_nanos(echoed)
        matches = candidates
        if nanos is not None:
            for precision in _MATCH_PRECISIONS:
                matches = [item for item in candidates
                           if _value_nanos(item.payload) // precision == nanos // precision]
                if matches:
                    break
            else:
                return None
        if echoed.get("value") is not None:
            matches = [item for item in matches
                       if item.payload["value"] == echoed["value"]] or matches
        for item in matches:
            if id(item) not in seen:
                seen.add(id(item))
                named.append(item)
    return named


class TwinMakerService(Service):
    """IoT TwinMaker BatchPutPropertyValues.

    Records: ``workspace_id``, ``entity_id``, ``component_name`` or
    ``component_path`` (exactly one), ``property_name``, ``value`` (bool, int,
    float, str, list or dict; lists and maps nest at most ``MAX_NESTING_DEPTH``
    deep), optional ``value_type`` (BOOLEAN, INTEGER, LONG, DOUBLE, STRING, LIST
    or MAP; inferred otherwise, ints outside 32 bits as LONG) and ``timestamp``
    (epoch seconds, an aware datetime or ISO-8601 text), sent as ``time``.
    Values cannot be null, at the top or inside lists and maps.

    The service takes no arguments; requests carry at most 10 entries of at
    most 10 values each, one workspace per request.
    """

    name = "iottwinmaker"
    operation = "BatchPutPropertyValues"
    method = "batch_put_property_values"
    limits = Limits(max_entries=MAX_ENTRIES, max_values_per_entry=MAX_VALUES_PER_ENTRY)
    retryable_codes = _RETRYABLE
    non_retryable_codes = _NOT_RETRYABLE
    throttling_codes = _THROTTLING
    verify_codes = _VERIFY_CODES

    def item(self, record: Mapping[str, Any]) -> Item:
        fields = Fields(record, _FIELDS)
        workspace = fields.string("workspace_id", max_len=MAX_WORKSPACE_ID_LENGTH,
                                  pattern=_WORKSPACE_ID)
        fields.resource = workspace
        entity = fields.string("entity_id", max_len=MAX_ENTITY_ID_LENGTH, pattern=_ENTITY_ID)
        kind, component = self._component(fields)
        prop = fields.string("property_name", max_len=MAX_NAME_LENGTH, pattern=_NAME)
        target = "%s/%s/%s" % (entity, component, prop)
        fields.resource = "%s/%s" % (workspace, target)
        if not fields.has("value"):
            raise fields.fail("MissingField", "field 'value' is required")
        value_type = fields.string("value_type", required=False, choices=_VALUE_TYPES)
        value = _data_value(fields.raw("value"), value_type, "field 'value'", 0, fields)
        nanos = fields.timestamp_nanos("timestamp")
        if isinstance(fields.raw("timestamp"), float):
            # Float epoch seconds hold about a quarter of a microsecond of
            # binary noise today: keep microseconds, as a datetime would.
            nanos = (nanos + _NANOS_PER_MICRO // 2) // _NANOS_PER_MICRO * _NANOS_PER_MICRO
        time_text = _time_text(nanos, fields)
        payload = {"value": value, "time": time_text}
        encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return Item(scope=(workspace,),
                    group=json.dumps([entity, kind, component, prop], separators=(",", ":")),
                    payload=payload, size=len(encoded.encode("utf-8")),
                    sort_key="%021d|%s" % (nanos - _SORT_ORIGIN, encoded),
                    item_id="%s@%s" % (target, time_text), resource=fields.resource)

    @staticmethod
    def _component(fields: Fields) -> Tuple[str, str]:
        """("componentName" or "componentPath", its value) of the record."""
        has_name, has_path = fields.present("component_name"), fields.present("component_path")
        if has_name and has_path:
            raise fields.fail("InvalidRecord", "give component_name or component_path, not both")
        if has_path:
            return "componentPath", fields.string(
                "component_path", max_len=MAX_COMPONENT_PATH_LENGTH, pattern=_COMPONENT_PATH)
        if not has_name:
            raise fields.fail("MissingField", "component_name or component_path is required")
        return "componentName", fields.string("component_name", max_len=MAX_NAME_LENGTH,
                                              pattern=_NAME)

    def build_request(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> dict:
        wire: List[Dict[str, Any]] = []
        for entry in entries:
            wire.append({
                "entityPropertyReference": _reference(entry.group),
                "propertyValues": [item.payload for item in entry.items],
            })
        return {"workspaceId": scope[0], "entries": wire}

    def failures(self, request: Request, response: Mapping[str, Any]
                 ) -> Iterable[Failure | Unmatched]:
        references = [(_reference(entry.group), entry.items) for entry in request.entries]
        failed: Set[int] = set()
        for error_entry in response.get("errorEntries") or ():
            for error in error_entry.get("errors") or ():
                code = str(error.get("errorCode") or "Unknown")
                message = str(error.get("errorMessage") or "")
                echoed = error.get("entry") or {}
                echoed_ref = echoed.get("entityPropertyReference") or {}
                candidates = [item for ours, items in references
                              if _names_reference(echoed_ref, ours) for item in items]
                if not candidates:
                    yield Unmatched(code, "the echoed entry %s names no entry sent: %s"
                                    % (echoed_ref, message), tuple(request.items))
                    continue
                named = _named_items(echoed.get("propertyValues"), candidates)
                if named is None:
                    # The echoed values match none of ours: place the error on
                    # no one value, but on every value it could refer to.
                    yield Unmatched(code, "the echoed values of %s match no value sent: %s"
                                    % (echoed_ref, message), tuple(candidates))
                    continue
                for item in named:
                    if id(item) not in failed:
                        failed.add(id(item))
                        yield Failure(item, code, message)

    def held(self, client: Any, items: Sequence[Item]) -> Iterable[Tuple[Item, bool]]:
        """What TwinMaker holds at these values' times, read with GetPropertyValueHistory."""
        by_property: Dict[Tuple[Tuple[str, ...], str], List[Item]] = {}
        for item in items:
            by_property.setdefault((item.scope, item.group), []).append(item)
        for (scope, group), members in by_property.items():
            stored = _stored_values(client, scope[0], group, members)
            for item in members:
                values = stored.get(_value_nanos(item.payload))
                if values:
                    yield item, item.payload["value"] in values


def _stored_values(client: Any, workspace: str, group: str,
                   items: List[Item]) -> Dict[Optional[int], List[Any]]:
    """Time (epoch ns) → values stored for one property, between the items' times."""
    reference = _reference(group)
    times = sorted(item.payload["time"] for item in items)
    kwargs: Dict[str, Any] = {"workspaceId": workspace, "entityId": reference["entityId"],
                              "selectedProperties": [reference["propertyName"]],
                              "startTime": times[0], "endTime": times[-1],
                              "maxResults": _READ_BACK_PAGE_SIZE}
    for kind in ("componentName", "componentPath"):
        if kind in reference:
            kwargs[kind] = reference[kind]
    stored: Dict[Optional[int], List[Any]] = {}
    for _ in range(_READ_BACK_MAX_PAGES):
        page = client.get_property_value_history(**kwargs)
        for history in page.get("propertyValues") or ():
            for value in history.get("values") or ():
                stored.setdefault(_value_nanos(value), []).append(value.get("value"))
        token = page.get("nextToken")
        if not token:
            break
        kwargs["nextToken"] = token
    return stored
