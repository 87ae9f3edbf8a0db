"""AWS IoT Events Data: BatchPutMessage.

AWS ended support for AWS IoT Events on 2026-05-20 (no new customers since
2025-05-20). This writer stays for existing deployments. The newest botocore no
longer ships the ``iotevents-data`` model, so the package carries a minimal
description of BatchPutMessage and uses it only when botocore lacks the service
(see ``beam_batchput._botocore``).

One record is one message to one input. A request carries at most 10 messages
and 1,024 bytes of payload in total. Message ids not given are derived from the
message content and the record's element timestamp, so a replayed bundle sends
the same ids and detectors, which process a message id once, do not process it
twice, while two records that differ in any of these keep distinct ids.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, FrozenSet, Iterable, Mapping, Optional, Sequence, Tuple

from beam_batchput.core.service import (
    TRANSIENT_ERROR_CODES,
    Entry,
    Failure,
    Item,
    Limits,
    Request,
    Service,
    Unmatched,
    content_id,
)
from beam_batchput.services._fields import Fields
from beam_batchput.services._identity import group_by_identity

__all__ = ["IoTEventsService", "DUPLICATE_MESSAGE_CODE", "DUPLICATE_MESSAGE_ID_CODE",
           "MAX_MESSAGES_PER_REQUEST", "MAX_PAYLOAD_BYTES_PER_REQUEST", "derived_message_id"]

# [IoT Events API reference, BatchPutMessage, "The following limits apply"]: at
# most 10 messages and 1,024 bytes of payload in total per request. Not in the
# model. A single payload over the request budget can never be sent.
MAX_MESSAGES_PER_REQUEST = 10
MAX_PAYLOAD_BYTES_PER_REQUEST = 1024
# Model (Message): messageId 1-64 ^[a-zA-Z0-9_-]+$, inputName 1-128
# ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, timestamp.timeInMillis a long of at least 1.
MAX_MESSAGE_ID_LENGTH = 64
MAX_INPUT_NAME_LENGTH = 128
_MESSAGE_ID = re.compile(r"[a-zA-Z0-9_-]+")
_INPUT_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
MAX_TIME_IN_MILLIS = 2 ** 63 - 1
# Derived message ids: 32 hex digits (128 bits) of a SHA-256 of the content.
_DERIVED_ID_LENGTH = 32
_NANOS_PER_MILLI = 1_000_000
_FIELDS = frozenset(("input_name", "payload", "message_id", "timestamp"))

#: The code of a message whose id another message of the same request holds
#: with different content (the service refuses duplicate ids in a batch).
DUPLICATE_MESSAGE_ID_CODE = "DuplicateMessageId"
#: The code of a record that is the same message as another record of the same
#: request (same id and content): a detector processes a message id once, so
#: it is sent once, for the first record only.
DUPLICATE_MESSAGE_CODE = "DuplicateMessage"
# How a message id came about, the last field of an item's sort key.
_GIVEN, _DERIVED = "given", "derived"

# Per-message codes (the model's ErrorCode enum) and whole-request exception
# names worth retrying: InternalFailure, ServiceUnavailable and Throttling, in
# both forms, are all in TRANSIENT_ERROR_CODES. Not retried:
# ResourceNotFoundException (the input does not exist), InvalidRequestException
# and DUPLICATE_MESSAGE_ID_CODE.
_RETRYABLE = TRANSIENT_ERROR_CODES
_NOT_RETRYABLE = frozenset({"ResourceNotFoundException", "InvalidRequestException",
                            DUPLICATE_MESSAGE_ID_CODE})


def _payload(fields: Fields) -> bytes:
    """The message payload as bytes: bytes as given, text as UTF-8, JSON compact."""
    data = fields.blob("payload")
    if not data:
        raise fields.fail("InvalidLength", "field 'payload' is empty")
    if len(data) > MAX_PAYLOAD_BYTES_PER_REQUEST:
        raise fields.fail("PayloadTooLarge", "field 'payload' has %d bytes; a request carries "
                          "at most %d bytes of payload" % (len(data),
                                                           MAX_PAYLOAD_BYTES_PER_REQUEST))
    return data


def _millis(fields: Fields) -> Optional[int]:
    """The optional timestamp in epoch milliseconds, rounded to the nearest."""
    nanos = fields.timestamp_nanos("timestamp", required=False)
    if nanos is None:
        return None
    millis = (nanos + _NANOS_PER_MILLI // 2) // _NANOS_PER_MILLI
    if not 1 <= millis <= MAX_TIME_IN_MILLIS:
        raise fields.fail("InvalidTimestamp", "timestamp %d ms must be after the epoch"
                          % millis)
    return millis



def _message_id(item: Item) -> str:
    return item.payload["messageId"]


def derived_message_id(input_name: str, payload: bytes, millis: Optional[int],
                       event_time: int) -> str:
    """The message id of a record that names none.

    32 hex digits of a SHA-256 of the input name, the payload's SHA-256, the
    message timestamp in milliseconds (or None) and the record's element
    timestamp in microseconds: a replayed record keeps its id, and records that
    differ in any of the four get distinct ones.
    """
    return _derived_id(input_name, hashlib.sha256(payload).hexdigest(), millis, event_time)


def _derived_id(input_name: str, digest: str, millis: Optional[int], event_time: int) -> str:
    return content_id(input_name, digest, millis, event_time, length=_DERIVED_ID_LENGTH)


def _sort_key(message: Mapping[str, Any], digest: str, event_time: int, origin: str) -> str:
    millis = (message.get("timestamp") or {}).get("timeInMillis")
    return "%s|%s|%s|%s|%020d|%s" % (
        message["messageId"], message["inputName"], digest,
        "" if millis is None else "%020d" % millis, event_time, origin)


class IoTEventsService(Service):
    """AWS IoT Events Data BatchPutMessage.

    AWS ended support for IoT Events: see this module's docstring.

    Records: ``input_name``, ``payload`` (bytes sent as given, text sent as
    UTF-8, or a dict or list sent as compact JSON with sorted keys; 1 to 1,024
    bytes), optional ``message_id`` and optional ``timestamp`` (epoch seconds,
    an aware datetime or ISO-8601 text; sent as ``timeInMillis``). Without a
    ``message_id`` one is derived by :func:`derived_message_id` from the input
    name, payload, timestamp and the record's element timestamp, so a replay
    sends the same ids and distinct records keep distinct ones.

    Requests carry at most 10 messages and 1,024 bytes of payload. Two messages
    with the same id never travel in one request (the service would refuse the
    whole batch): the first (in the deterministic packing order) is sent; an
    identical message fails with :data:`DUPLICATE_MESSAGE_CODE` and a message
    with different content with :data:`DUPLICATE_MESSAGE_ID_CODE`, neither
    retried, both counted as ``id_collisions``. Messages with the same id share
    a shard, so they meet in one buffer.
    """

    name = "iotevents-data"
    operation = "BatchPutMessage"
    method = "batch_put_message"
    limits = Limits(max_entries=MAX_MESSAGES_PER_REQUEST, max_values_per_entry=1,
                    max_request_bytes=MAX_PAYLOAD_BYTES_PER_REQUEST)
    retryable_codes: FrozenSet[str] = _RETRYABLE
    non_retryable_codes: FrozenSet[str] = _NOT_RETRYABLE
    collision_codes: FrozenSet[str] = frozenset({DUPLICATE_MESSAGE_ID_CODE,
                                                 DUPLICATE_MESSAGE_CODE})

    def item(self, record: Mapping[str, Any]) -> Item:
        fields = Fields(record, _FIELDS)
        input_name = fields.string("input_name", max_len=MAX_INPUT_NAME_LENGTH,
                                   pattern=_INPUT_NAME)
        fields.resource = input_name
        given_id = fields.string("message_id", required=False, max_len=MAX_MESSAGE_ID_LENGTH,
                                 pattern=_MESSAGE_ID)
        data = _payload(fields)
        millis = _millis(fields)
        digest = hashlib.sha256(data).hexdigest()
        message: Dict[str, Any] = {"messageId": given_id or _derived_id(
            input_name, digest, millis, 0), "inputName": input_name, "payload": data}
        if millis is not None:
            message["timestamp"] = {"timeInMillis": millis}
        return Item(scope=(), group=None, payload=message, size=len(data),
                    sort_key=_sort_key(message, digest, 0, _GIVEN if given_id else _DERIVED),
                    item_id=message["messageId"], resource=input_name)

    def with_event_time(self, item: Item) -> Item:
        """Derives the message id from the content and the element timestamp."""
        if item.sort_key.endswith("|" + _DERIVED):
            message = item.payload
            millis = (message.get("timestamp") or {}).get("timeInMillis")
            digest = item.sort_key.split("|", 3)[2]
            message["messageId"] = _derived_id(message["inputName"], digest, millis,
                                               item.event_time)
            item.item_id = message["messageId"]
            item.sort_key = _sort_key(message, digest, item.event_time, _DERIVED)
        return item

    def shard_key(self, item: Item) -> str:
        """The message id, so messages with one id meet in one buffer."""
        return item.payload["messageId"]

    def build_request(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> dict:
        items = [item for entry in entries for item in entry.items]
        groups, _ = group_by_identity(items, _message_id)
        return {"messages": [group[0].payload for group in groups.values()]}

    def failures(self, request: Request, response: Mapping[str, Any]
                 ) -> Iterable[Failure | Unmatched]:
        # Implementation note: build_request sent the first message of each id;
        # every other record with that id fails here, as a detector would
        # process the id once: a copy with other content as a reused id, an
        # identical copy as the same message.
        followers, conflicts = group_by_identity(request.items, _message_id)
        for item, _ in conflicts:
            yield Failure(item, DUPLICATE_MESSAGE_ID_CODE,
                          "another message of the same request has messageId %r with "
                          "different content; this one was not sent" % _message_id(item))
        for group in followers.values():
            for item in group[1:]:
                yield Failure(item, DUPLICATE_MESSAGE_CODE,
                              "another record of the same request is the same message "
                              "(messageId %r, same input, payload and timestamps); it was "
                              "sent once, for that record" % _message_id(item))
        for error in response.get("BatchPutMessageErrorEntries") or ():
            code = str(error.get("errorCode") or "Unknown")
            message = str(error.get("errorMessage") or "")
            items = followers.get(str(error.get("messageId")))
            if items:
                yield Failure(items[0], code, message)
            else:
                yield Unmatched(code, "messageId %r names no message sent: %s"
                                % (error.get("messageId"), message), tuple(request.items))
