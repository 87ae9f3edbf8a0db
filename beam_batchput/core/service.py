"""What the core asks of a service module: the contract between the two layers.

A service module knows no Beam. It turns a record into an :class:`Item`
(or raises :class:`InvalidRecord`), builds one request from packed entries,
and reads a response back into per-item :class:`Failure` values, plus
:class:`Unmatched` errors it cannot place on one item. The core owns buffering,
packing, sending, retries and the outputs, and decides in one place which
items were written (see :func:`beam_batchput.core.sender.settle_response`).
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import sys
from typing import Any, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

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
    "Unmatched",
    "content_id",
    "SPLIT_ERROR_CODES",
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


# Whole-request exception names that say the request's content is invalid:
# the request may be split to isolate the records the service refuses alone.
# Access denied and not found are not here: they would fail every half.
SPLIT_ERROR_CODES: FrozenSet[str] = frozenset({
    "ValidationException", "InvalidRequestException", "InvalidParameterException",
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


# Items without an instance dictionary where the interpreter allows (3.10+):
# one allocation fewer per record for the cyclic collector to track.
_SLOTS: Mapping[str, bool] = {"slots": True} if sys.version_info >= (3, 10) else {}


@dataclasses.dataclass(**_SLOTS)
class Item:
    """One record, made ready for a request.

    Attributes:
        scope: What one request may target (e.g. a workspace); requests never
            mix scopes. A tuple of strings.
        group: Items with the same group share an entry (e.g. one SiteWise
            property); ``None`` makes every item its own entry.
        payload: The record's value, shaped by its service module (picklable;
            e.g. the request's JSON-compatible entry, or a tuple of atoms
            that :meth:`Service.build_request` shapes).
        size: Bytes the item counts against a byte limit.
        sort_key: Orders items deterministically, so a replay packs alike.
        item_id: The item's identity in receipts.
        resource: A readable name of the target, for receipts and dead letters.
        record: The original record as JSON text, as
            :func:`~beam_batchput.core.records.record_to_json` writes it: set by
            the core, unless the service module wrote that same text already.
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


@dataclasses.dataclass(frozen=True)
class Unmatched:
    """An error of the response that names no sent item the reader can place.

    Every item it could refer to is settled as not written (retried, then
    dead-lettered), never as a receipt.

    Attributes:
        code: The error's code as the service gave it.
        message: The error's message, with what it named.
        candidates: The sent items the error could refer to.
    """

    code: str
    message: str
    candidates: Tuple[Item, ...]


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
    #: Whether the response lists the stored items (a success list): then an
    #: item is written only when :meth:`confirmed` names it.
    has_success_list: bool = False
    #: Non-retryable whole-request codes on which a request of several items
    #: is split in halves, to isolate the records the service refuses alone.
    split_codes: FrozenSet[str] = SPLIT_ERROR_CODES
    #: Per-item codes that say two records of a request share one identity in
    #: the service (counted as ``id_collisions``).
    collision_codes: FrozenSet[str] = frozenset()
    #: Codes (per item or whole request) that may answer a replay of a value
    #: the service already holds ("already exists", "conflict"): the core reads
    #: the items back with :meth:`held` before settling them.
    verify_codes: FrozenSet[str] = frozenset()

    @abc.abstractmethod
    def item(self, record: Mapping[str, Any]) -> Item:
        """Validates a record and turns it into an item.

        Raises:
            InvalidRecord: if the service would refuse the record.
        """

    @abc.abstractmethod
    def build_request(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> dict:
        """The keyword arguments of one client call for these entries."""

    def request_body(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> Optional[bytes]:
        """The request's body as botocore would serialize :meth:`build_request`, or None.

        A service module may write the body itself, byte for byte what
        botocore's serializer writes for the same keyword arguments (its
        contract tests compare the two); the core then sends it through a
        client built by :meth:`~beam_batchput.core.config.ClientConfig.create_client`
        without parameter validation (see :mod:`beam_batchput.core.prebuilt`),
        and botocore still signs, sends, retries and parses as usual. The
        default, None, leaves the serialization to botocore.
        """
        return None

    @abc.abstractmethod
    def failures(self, request: Request, response: Mapping[str, Any]
                 ) -> Iterable[Union[Failure, Unmatched]]:
        """The items the response's error list names, with their codes.

        An error that names no sent item, or names one ambiguously, is yielded
        as :class:`Unmatched` with the items it could refer to: the reader
        never drops an error it cannot place.
        """

    def confirmed(self, request: Request, response: Mapping[str, Any]) -> Iterable[Item]:
        """The sent items the response's success list names as stored.

        Only called when :attr:`has_success_list` is set.
        """
        raise NotImplementedError("%s declares a success list but does not read it"
                                  % type(self).__name__)

    def held(self, client: Any, items: Sequence[Item]) -> Iterable[Tuple[Item, bool]]:
        """What the service holds of ``items``, read back with ``client``.

        Only called for items refused with one of :attr:`verify_codes`.
        Yields ``(item, exact)`` for every item whose identity (its time, its
        key) holds a value: ``exact`` when it is the value sent. Items not
        yielded hold nothing.

        Raises:
            botocore.exceptions.ClientError: When the service cannot be read.
        """
        raise NotImplementedError("%s declares verify_codes but cannot read values back"
                                  % type(self).__name__)

    def with_event_time(self, item: Item) -> Item:
        """Completes an item once the core has set its ``event_time``.

        Called once per item, after :meth:`item`; services whose identity
        includes the record's element timestamp derive it here. The default
        changes nothing.
        """
        return item

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
