"""Amazon Connect data tables: BatchCreateDataTableValue.

One record is one attribute value of one data table record. A request targets
one (instance, data table) and carries at most ``DEFAULT_MAX_VALUES_PER_REQUEST``
(25) values by default: AWS documents no maximum, so the number is the
connector's own conservative choice and a constructor option.

A value is identified by its primary values and attribute name, and the
response's ``Failed`` list names values by that identity only (a message, no
error code). Two records with the same identity never travel together: the
first one is sent, an identical copy shares its outcome, and a copy with a
different value or lock version fails with ``DuplicateValueInRequest``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import (
    Any, Dict, FrozenSet, Iterable, List, Mapping, Pattern, Sequence, Tuple,
)

from beam_batchput.core.config import positive_int
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
from beam_batchput.services._fields import Fields
from beam_batchput.services._identity import group_by_identity

__all__ = ["ConnectDataTableService", "DEFAULT_MAX_VALUES_PER_REQUEST",
           "DUPLICATE_VALUE_CODE", "UNKNOWN_FAILURE_CODE"]

# No documented maximum of values per request (botocore model: DataTableValueList
# has min 1 and no max). A conservative default of the connector's own choosing:
# an unauthorized value fails the whole request, so small requests limit the
# damage, while 25 values still amortize the call.
DEFAULT_MAX_VALUES_PER_REQUEST = 25
# botocore model: InstanceId 1-100, DataTableId 1-256 (it may be an ARN with a
# version alias), DataTableName (attribute names) 1-127 with a pattern.
MAX_INSTANCE_ID_LENGTH = 100
MAX_DATA_TABLE_ID_LENGTH = 256
MAX_ATTRIBUTE_NAME_LENGTH = 127
# DataTableName's pattern is ^[\p{L}\p{Z}\p{N}\-_.:=@'|]+$: Unicode letters,
# separators and numbers, and these punctuation characters.
_NAME_CATEGORIES = frozenset("LZN")
_NAME_PUNCTUATION = frozenset("-_.:=@'|")
_NAME_PATTERN_TEXT = r"^[\p{L}\p{Z}\p{N}\-_.:=@'|]+$"
# DataTableLockVersion members; records may also name them in snake case.
_LOCK_VERSION_KEYS = {"DataTable": "DataTable", "Attribute": "Attribute",
                      "PrimaryValues": "PrimaryValues", "Value": "Value",
                      "data_table": "DataTable", "attribute": "Attribute",
                      "primary_values": "PrimaryValues", "value": "Value"}
_FIELDS = frozenset(("instance_id", "data_table_id", "attribute_name", "value", "primary_values",
                     "lock_version"))

#: The code of a record whose identity (primary values and attribute name)
#: another record of the same request holds with a different value.
DUPLICATE_VALUE_CODE = "DuplicateValueInRequest"
#: The code of a ``Failed`` entry whose message names no known error.
UNKNOWN_FAILURE_CODE = "Failed"

# Whole-request exception names worth retrying: ThrottlingException (429) and
# InternalServiceException (500), both in TRANSIENT_ERROR_CODES. Not retried:
# InvalidRequestException and InvalidParameterException 400 (the request itself
# is wrong), AccessDeniedException 403 (one unauthorized value fails the whole
# request, and waiting grants nothing), ResourceNotFoundException 404,
# ConflictException and DuplicateResourceException 409 (a stale LockVersion or
# an existing value stays so until someone changes the data), and
# ServiceQuotaExceededException 402: Connect's quotas count resources (tables,
# attributes, values), not requests per second, so waiting frees none.
_RETRYABLE = TRANSIENT_ERROR_CODES
_NOT_RETRYABLE = frozenset({"InvalidRequestException", "InvalidParameterException",
                            "AccessDeniedException", "ResourceNotFoundException",
                            "ConflictException", "DuplicateResourceException",
                            "ServiceQuotaExceededException", DUPLICATE_VALUE_CODE})

# Failed entries carry a message only. A message that starts with an exception
# name ("ThrottlingException: ...") gives that code; otherwise these phrases,
# tried in order, give one; anything else is UNKNOWN_FAILURE_CODE (not retried).
_EXCEPTION_PREFIX = re.compile(r"\s*([A-Z][A-Za-z]*Exception)\b")
_MESSAGE_CODES: Tuple[Tuple[Pattern[str], str], ...] = (
    (re.compile(r"throttl|rate exceeded|too many requests", re.I), "ThrottlingException"),
    (re.compile(r"internal\s*(?:service|server)?\s*(?:error|failure|exception)", re.I),
     "InternalServiceException"),
    (re.compile(r"service unavailable|temporarily unavailable", re.I),
     "ServiceUnavailableException"),
)

_Key = Tuple[Tuple[Tuple[str, str], ...], str]

# A replay after an ambiguous failure (a timeout after Connect stored the
# values) may be answered "already exists", whole or per value; no AWS page
# says which. Values refused so are read back with ListDataTableValues and
# written only when Connect holds them as sent.
_VERIFY_CODES = frozenset({"DuplicateResourceException", "ConflictException"})
# ListDataTableValues: MaxResults 1-1000 (botocore model). Reading back stops
# after this many pages; a value not found by then is not held.
_READ_BACK_PAGE_SIZE = 100
_READ_BACK_MAX_PAGES = 10


def _check_name(fields: Fields, label: str, name: Any) -> str:
    """An attribute name checked against the model's DataTableName."""
    if not isinstance(name, str):
        raise fields.fail("InvalidType", "%s must be a string, got %s"
                          % (label, type(name).__name__))
    if not 1 <= len(name) <= MAX_ATTRIBUTE_NAME_LENGTH:
        raise fields.fail("InvalidLength", "%s has %d characters, 1 to %d allowed"
                          % (label, len(name), MAX_ATTRIBUTE_NAME_LENGTH))
    for char in name:
        if (unicodedata.category(char)[0] not in _NAME_CATEGORIES
                and char not in _NAME_PUNCTUATION):
            raise fields.fail("InvalidPattern", "%s=%r does not match %s"
                              % (label, name[:200], _NAME_PATTERN_TEXT))
    return name


def _primary_values(fields: Fields) -> List[Tuple[str, str]]:
    """The record's primary values as (attribute name, value) pairs, sorted by name."""
    raw = fields.raw("primary_values")
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, (list, tuple)):
        pairs = []
        for pair in raw:
            if isinstance(pair, (str, bytes)) or not isinstance(pair, (list, tuple)) \
                    or len(pair) != 2:
                raise fields.fail("InvalidPrimaryValues", "primary_values must hold "
                                  "[attribute name, value] pairs, got %r" % (pair,))
            pairs.append((pair[0], pair[1]))
    else:
        raise fields.fail("InvalidType", "field 'primary_values' must be a dict or a list of "
                          "[name, value] pairs, got %s" % type(raw).__name__)
    checked: Dict[str, str] = {}
    for name, value in pairs:
        _check_name(fields, "a primary_values attribute name", name)
        if not isinstance(value, str):
            raise fields.fail("InvalidType", "primary value %r must be a string, got %s"
                              % (name, type(value).__name__))
        fields.require_utf8(value, "primary value %r" % name)
        if name in checked:
            raise fields.fail("InvalidPrimaryValues",
                              "primary_values names attribute %r twice" % name)
        checked[name] = value
    return sorted(checked.items())


def _lock_version(fields: Fields) -> Dict[str, str]:
    """The record's lock version in the model's member names ({} when absent)."""
    raw = fields.raw("lock_version")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise fields.fail("InvalidType", "field 'lock_version' must be a dict, got %s"
                          % type(raw).__name__)
    lock: Dict[str, str] = {}
    for key, value in raw.items():
        member = _LOCK_VERSION_KEYS.get(key)
        if member is None:
            raise fields.fail("InvalidValue", "lock_version key %r must be one of %s"
                              % (key, ", ".join(sorted(set(_LOCK_VERSION_KEYS.values())))))
        if member in lock:
            raise fields.fail("InvalidValue", "lock_version names %s twice" % member)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise fields.fail("InvalidType", "lock_version %s must be a string, got %s"
                              % (member, type(value).__name__))
        lock[member] = str(value)
    return lock


def _key(payload: Mapping[str, Any]) -> _Key:
    """A value's identity: its sorted primary values and its attribute name."""
    pairs = tuple(sorted((str(p.get("AttributeName")), str(p.get("Value")))
                         for p in payload.get("PrimaryValues") or ()))
    return pairs, str(payload.get("AttributeName"))


def _item_key(item: Item) -> "_Key":
    return _key(item.payload)


def _code(message: str) -> str:
    """An error code read from a Failed entry's message."""
    match = _EXCEPTION_PREFIX.match(message)
    if match:
        return match.group(1)
    for pattern, code in _MESSAGE_CODES:
        if pattern.search(message):
            return code
    return UNKNOWN_FAILURE_CODE


class ConnectDataTableService(Service):
    """Amazon Connect BatchCreateDataTableValue.

    Records: ``instance_id``, ``data_table_id`` (an id or ARN), ``attribute_name``,
    ``value`` (a string, as Connect takes every value type), optional
    ``primary_values`` (a dict of primary attribute name to string value, or a
    list of ``[name, value]`` pairs; sent sorted by name) and optional
    ``lock_version`` (a dict of DataTable, Attribute, PrimaryValues and Value,
    or their snake-case names, to version strings).

    A request carries one table's values. Two records with the same primary
    values and attribute name are never both sent in one request, as the
    response could not tell them apart: the first (in the deterministic packing
    order) is sent; an identical record shares its outcome; a record with a
    different value or lock version fails with :data:`DUPLICATE_VALUE_CODE`,
    not retried. ``Failed`` entries carry no code: one is read from the message
    (a leading exception name, or words of throttling or internal errors), else
    :data:`UNKNOWN_FAILURE_CODE`, not retried.

    Args:
        max_values_per_request: Values per request (default 25); AWS documents
            no maximum.

    Raises:
        ValueError: if ``max_values_per_request`` is not a positive integer.
    """

    name = "connect"
    operation = "BatchCreateDataTableValue"
    method = "batch_create_data_table_value"
    limits = Limits(max_entries=DEFAULT_MAX_VALUES_PER_REQUEST, max_values_per_entry=1)
    # One request scope is one table/entity already: one key each fills requests best.
    default_num_shards = 1
    retryable_codes: FrozenSet[str] = _RETRYABLE
    non_retryable_codes: FrozenSet[str] = _NOT_RETRYABLE
    # The response lists the stored values: a value is written only when listed.
    has_success_list = True
    collision_codes: FrozenSet[str] = frozenset({DUPLICATE_VALUE_CODE})
    verify_codes: FrozenSet[str] = _VERIFY_CODES

    def __init__(self, *, max_values_per_request: int = DEFAULT_MAX_VALUES_PER_REQUEST) -> None:
        count = positive_int("max_values_per_request", max_values_per_request)
        self.limits = Limits(max_entries=count, max_values_per_entry=1)

    def item(self, record: Mapping[str, Any]) -> Item:
        fields = Fields(record, _FIELDS)
        instance = fields.string("instance_id", max_len=MAX_INSTANCE_ID_LENGTH, no_control=True)
        table = fields.string("data_table_id", max_len=MAX_DATA_TABLE_ID_LENGTH,
                              no_control=True)
        fields.resource = "%s/%s" % (instance, table)
        if not fields.present("attribute_name"):
            raise fields.fail("MissingField", "field 'attribute_name' is required")
        attribute = _check_name(fields, "field 'attribute_name'", fields.raw("attribute_name"))
        value = fields.string("value", min_len=0)
        primary = _primary_values(fields)
        lock = _lock_version(fields)
        payload: Dict[str, Any] = {}
        if primary:
            payload["PrimaryValues"] = [{"AttributeName": n, "Value": v} for n, v in primary]
        payload["AttributeName"] = attribute
        payload["Value"] = value
        if lock:
            payload["LockVersion"] = lock
        encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        identity = json.dumps([primary, attribute], separators=(",", ":"), ensure_ascii=False)
        return Item(scope=(instance, table), group=None, payload=payload,
                    size=len(encoded.encode("utf-8")),
                    sort_key="%s|%s" % (identity, encoded),
                    item_id="%s/%s/%s" % (table, ",".join("%s=%s" % p for p in primary),
                                          attribute),
                    resource=fields.resource)

    def shard_key(self, item: Item) -> str:
        """The value's identity, so records for one value meet in one buffer."""
        return json.dumps(_key(item.payload), separators=(",", ":"), ensure_ascii=False)

    def build_request(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> dict:
        instance, table = scope
        items = [item for entry in entries for item in entry.items]
        groups, _ = group_by_identity(items, _item_key)
        return {"InstanceId": instance, "DataTableId": table,
                "Values": [group[0].payload for group in groups.values()]}

    def failures(self, request: Request, response: Mapping[str, Any]
                 ) -> Iterable[Failure | Unmatched]:
        # Implementation note: build_request sent the first item of each
        # identity; identical copies follow its fate, different ones fail here.
        followers, conflicts = group_by_identity(request.items, _item_key)
        for item, first in conflicts:
            key = _item_key(item)
            yield Failure(item, DUPLICATE_VALUE_CODE,
                          "another record of the same request sets primary values %s, "
                          "attribute %r to %r; this one (%r) was not sent"
                          % (dict(key[0]), key[1], first.payload["Value"][:200],
                             item.payload["Value"][:200]))
        for failed in response.get("Failed") or ():
            message = str(failed.get("Message") or "")
            items = followers.get(_key(failed))
            if items:
                for item in items:
                    yield Failure(item, _code(message), message)
            else:
                yield Unmatched(_code(message), "a Failed entry for primary values %s, "
                                "attribute %r names no value sent: %s"
                                % (failed.get("PrimaryValues"), failed.get("AttributeName"),
                                   message[:500]),
                                tuple(request.items))

    def confirmed(self, request: Request, response: Mapping[str, Any]) -> Iterable[Item]:
        followers, _ = group_by_identity(request.items, _item_key)
        for stored in response.get("Successful") or ():
            yield from followers.get(_key(stored), ())

    def held(self, client: Any, items: Sequence[Item]) -> Iterable[Tuple[Item, bool]]:
        """What Connect holds of these values, read with ListDataTableValues."""
        by_record: Dict[Tuple[Tuple[str, ...], Tuple[Tuple[str, str], ...]], List[Item]] = {}
        for item in items:
            by_record.setdefault((item.scope, _item_key(item)[0]), []).append(item)
        for (scope, primary), members in by_record.items():
            stored = _stored_values(client, scope, primary)
            for item in members:
                if item.payload["AttributeName"] in stored:
                    yield item, stored[item.payload["AttributeName"]] == item.payload["Value"]


def _stored_values(client: Any, scope: Tuple[str, ...],
                   primary: Tuple[Tuple[str, str], ...]) -> Dict[str, Any]:
    """Attribute name → stored value of one record (the one these primary values name)."""
    instance, table = scope
    kwargs: Dict[str, Any] = {"InstanceId": instance, "DataTableId": table,
                              "MaxResults": _READ_BACK_PAGE_SIZE}
    if primary:
        kwargs["PrimaryAttributeValues"] = [{"AttributeName": name, "Values": [value]}
                                            for name, value in primary]
    stored: Dict[str, Any] = {}
    for _ in range(_READ_BACK_MAX_PAGES):
        page = client.list_data_table_values(**kwargs)
        for value in page.get("Values") or ():
            if _key(value)[0] == primary:
                stored[str(value.get("AttributeName"))] = value.get("Value")
        token = page.get("NextToken")
        if not token:
            break
        kwargs["NextToken"] = token
    return stored
