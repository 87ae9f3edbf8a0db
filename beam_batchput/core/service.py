"""What the core asks of a service module: the contract between the two layers.

A service module knows no Beam. It turns a record into an :class:`Item`
(or raises :class:`InvalidRecord`), builds one request from packed entries,
and reads a response back into per-item :class:`Failure` values. The core owns
buffering, packing, sending, retries and the outputs.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
from typing import Any, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from beam_batchput.core.clock import SYSTEM_CLOCK, Clock
from beam_batchput.core.config import positive_int

__all__ = [
    "Entry",
    "Failure",
    "InvalidRecord",
    "Item",
    "Limits",
    "Request",
    "Service",
    "content_id",
    "TRANSIENT_ERROR_CODES",
    "THROTTLING_ERROR_CODES",
    "RESOURCE_ERROR_CODES",
]

# Error codes that are worth retrying, as whole-request exception names and as
# per-entry codes; services add their own to these tables.
TRANSIENT_ERROR_CODES: FrozenSet[str] = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "ProvisionedThroughputExceededException",
    "ServiceUnavailable", "ServiceUnavailableException",
    "InternalFailure", "InternalFailureException",
    "InternalServer", "InternalServerException", "InternalServiceException",
    "InternalServiceError", "RequestTimeout", "RequestTimeoutException",
})
THROTTLING_ERROR_CODES: FrozenSet[str] = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "ProvisionedThroughputExceededException",
})

# Per-entry codes that say the target is missing or closed to the caller: the
# entry-level counterparts of a failed whole request, raised in fail-fast mode.
RESOURCE_ERROR_CODES: FrozenSet[str] = frozenset({
    "ResourceNotFoundException", "AccessDeniedException", "UnauthorizedException",
})


class InvalidRecord(ValueError):
    """A record the connector can tell the service would refuse.

    Args:
        code: A short error code, e.g. ``"MissingField"``.
        message: What is wrong, naming the field and the value.
        resource: The target the record named, if known.
    """

    def __init__(self, code: str, message: str, resource: str = "") -> None:
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.resource = resource


@dataclasses.dataclass(frozen=True)
class Limits:
    """The shape a service accepts in one request.

    Args:
        max_entries: Entries per request.
        max_values_per_entry: Items per entry; 1 where each item is an entry.
        max_request_bytes: Bytes of item sizes per request, or ``None``.
        default_buffered_records: Records buffered per key before sending.
    """

    max_entries: int
    max_values_per_entry: int = 1
    max_request_bytes: Optional[int] = None
    default_buffered_records: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_entries", "max_values_per_entry", "default_buffered_records"):
            positive_int(name, getattr(self, name))
        positive_int("max_request_bytes", self.max_request_bytes, optional=True)

    @property
    def max_items(self) -> int:
        """Items in one full request."""
        return self.max_entries * self.max_values_per_entry


@dataclasses.dataclass
class Item:
    """One record, made ready for a request.

    Attributes:
        scope: What one request may target (e.g. a workspace); requests never
            mix scopes. A tuple of strings.
        group: Items with the same group share an entry (e.g. one SiteWise
            property); ``None`` makes every item its own entry.
        payload: The service-shaped value (JSON-compatible).
        size: Bytes the item counts against a byte limit.
        sort_key: Orders items deterministically, so a replay packs alike.
        item_id: The item's identity in receipts.
        resource: A readable name of the target, for receipts and dead letters.
        record: The original record as JSON text.
        event_time: Set by the core: the record's element timestamp (micros).
    """

    scope: Tuple[str, ...]
    group: Optional[str]
    payload: Any
    size: int
    sort_key: str
    item_id: str
    resource: str
    record: str = ""
    event_time: int = 0

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        # Items are pickled in chunks between the steps and in batching state;
        # positional fields pickle and load about four times faster than the
        # default instance dictionary.
        return (Item, (self.scope, self.group, self.payload, self.size, self.sort_key,
                       self.item_id, self.resource, self.record, self.event_time))


@dataclasses.dataclass
class Entry:
    """Items packed into one entry of a request."""

    entry_id: str
    group: Optional[str]
    items: List[Item]


@dataclasses.dataclass
class Request:
    """Entries packed into one request to one scope."""

    scope: Tuple[str, ...]
    entries: List[Entry]

    @property
    def items(self) -> List[Item]:
        """Every item of the request, entry by entry."""
        return [item for entry in self.entries for item in entry.items]


@dataclasses.dataclass(frozen=True)
class Failure:
    """An item the service refused in its response's error list."""

    item: Item
    code: str
    message: str


def content_id(*parts: Any, length: int = 32) -> str:
    """A deterministic id (hex) of JSON-compatible ``parts``; same content, same id."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


class Service(abc.ABC):
    """One AWS batch-put API, described for the core.

    Subclasses set the class attributes and implement the three methods.
    """

    #: botocore service name, e.g. ``"iotsitewise"``.
    name: str = ""
    #: API operation name, e.g. ``"BatchPutAssetPropertyValue"``.
    operation: str = ""
    #: boto3 client method, e.g. ``"batch_put_asset_property_value"``.
    method: str = ""
    #: The request shape limits.
    limits: Limits = Limits(max_entries=1)
    #: Codes (whole-request exception names and per-entry codes) worth retrying.
    retryable_codes: FrozenSet[str] = TRANSIENT_ERROR_CODES
    #: Codes the service documents that are deliberately not retried (stated
    #: as data so tests check it is disjoint from ``retryable_codes``); any
    #: code in neither table is not retried either.
    non_retryable_codes: FrozenSet[str] = frozenset()
    #: Codes that mean the caller is being throttled (counted as throttled time).
    throttling_codes: FrozenSet[str] = THROTTLING_ERROR_CODES
    #: Per-entry codes that fail-fast mode raises on, as on a failed whole request.
    resource_error_codes: FrozenSet[str] = RESOURCE_ERROR_CODES
    #: Keys per request scope unless the user says otherwise: more keys, more
    #: parallel batches, each less full.
    default_num_shards: int = 4
    #: The clock of time-window checks; the writer sets its own clock here.
    clock: Clock = SYSTEM_CLOCK

    @abc.abstractmethod
    def item(self, record: Mapping[str, Any]) -> Item:
        """Validates a record and turns it into an item.

        Raises:
            InvalidRecord: if the service would refuse the record.
        """

    @abc.abstractmethod
    def build_request(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> dict:
        """The keyword arguments of one client call for these entries."""

    @abc.abstractmethod
    def failures(self, request: Request, response: Mapping[str, Any]) -> Iterable[Failure]:
        """The items the response's error list names, with their codes."""

    def entry_id(self, group: Optional[str], items: Sequence[Item]) -> str:
        """A content-derived entry id; services whose entries carry none ignore it."""
        return content_id(group, [item.sort_key for item in items])

    def shard_key(self, item: Item) -> str:
        """What decides an item's shard: its group, so a group's items meet."""
        return item.group if item.group is not None else item.sort_key

    def is_retryable(self, code: str) -> bool:
        """Whether an error code is worth retrying."""
        return code in self.retryable_codes

    def is_throttling(self, code: str) -> bool:
        """Whether an error code means throttling."""
        return code in self.throttling_codes
