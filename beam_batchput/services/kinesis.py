"""Amazon Kinesis Data Streams: PutRecords.

One record is one data record to one stream. A request targets one stream (by
name or by ARN) and carries at most 500 records; the service answers with one
result per record, in request order: a ``SequenceNumber`` and ``ShardId`` for a
stored record, an ``ErrorCode`` for a refused one.

Delivery is at least once. PutRecords has no idempotency key: a record sent
again (a retried request whose first answer was lost, a replayed bundle) is
stored again under a new sequence number. Consumers that must not see
duplicates deduplicate by an id inside the data.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from beam_batchput.core.config import positive_int
from beam_batchput.core.service import (
    SPLIT_ERROR_CODES,
    THROTTLING_ERROR_CODES,
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

__all__ = ["KinesisService", "DEFAULT_MAX_RECORD_BYTES", "DEFAULT_MAX_REQUEST_BYTES",
           "MAX_RECORD_BYTES", "MAX_RECORDS_PER_REQUEST", "MAX_REQUEST_BYTES",
           "RESULT_COUNT_MISMATCH_CODE"]

# [botocore model PutRecordsInput.Records: min 1, max 500; the PutRecords API
# reference: "Each PutRecords request can support up to 500 records".]
MAX_RECORDS_PER_REQUEST = 500
# [PutRecords API reference (current, as in the botocore 1.44 model's
# documentation): "Each record in the request can be as large as 10 MiB, up to
# a limit of 10 MiB for the entire request, including partition keys"; "The
# record size limit applies to the total size of the partition key and data
# blob". The model's Data blob has max 10,485,760. Until 2025 the limits were
# 1 MiB and 5 MiB (the Kinesis Data Streams developer guide, "Handle large
# records", and AWS's announcement of 10 MiB records, which doubled the
# request limit to 10 MiB).]
MAX_RECORD_BYTES = 10 * 1024 * 1024
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# [Developer guide, "Handle large records": "The default maximum record size
# for existing, and newly created streams is set to 1 MiB"; UpdateMaxRecordSize
# raises it, model MaxRecordSizeInKiB 1024-10240]: a stream accepts records up
# to its own MaxRecordSize. The default is what every stream accepts; raise it to
# the stream's setting with ``max_record_bytes``.
DEFAULT_MAX_RECORD_BYTES = 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = MAX_REQUEST_BYTES
# Model: StreamName 1-128 [a-zA-Z0-9_.-]+; StreamARN 1-2048
# arn:aws.*:kinesis:.*:\d{12}:stream/\S+; PartitionKey 1-256 (the API
# reference: "Unicode strings with a maximum length limit of 256 characters");
# ExplicitHashKey ^(0|([1-9]\d{0,38}))$, a 128-bit integer as decimal.
MAX_STREAM_NAME_LENGTH = 128
MAX_STREAM_ARN_LENGTH = 2048
MAX_PARTITION_KEY_LENGTH = 256
_STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]+")
_STREAM_ARN = re.compile(r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+")
_HASH_KEY = re.compile(r"0|[1-9]\d{0,38}")
_MAX_HASH_KEY = 2 ** 128 - 1
_FIELDS = frozenset(("stream_name", "stream_arn", "partition_key", "data",
                     "explicit_hash_key"))

#: The code of the error a response stands for when it does not hold one
#: result per record sent: no result can be placed, so no record is taken as
#: written; the core retries them (some may be stored twice) and then
#: dead-letters them as unmatched.
RESULT_COUNT_MISMATCH_CODE = "ResultCountMismatch"

# Retried: the per-record codes (ProvisionedThroughputExceededException,
# InternalFailure) and the whole-request ProvisionedThroughputExceeded,
# InternalFailure and KMSThrottling exceptions of the model. The model's other
# PutRecords errors are not: the stream or key is missing, disabled or denied,
# or the request is invalid.
_RETRYABLE = TRANSIENT_ERROR_CODES | {"KMSThrottlingException"}
_THROTTLING = THROTTLING_ERROR_CODES | {"KMSThrottlingException"}
_NOT_RETRYABLE = frozenset({
    "ResourceNotFoundException", "InvalidArgumentException", "AccessDeniedException",
    "KMSDisabledException", "KMSInvalidStateException", "KMSAccessDeniedException",
    "KMSNotFoundException", "KMSOptInRequired", "DryRunOperationException",
})
# A request refused whole as invalid stored none of its records: halves of it
# isolate the record the stream refuses (e.g. one over the stream's own
# MaxRecordSize when max_record_bytes was set above it).
_SPLIT = SPLIT_ERROR_CODES | {"InvalidArgumentException"}


def _limit(name: str, value: Any, ceiling: int) -> int:
    positive_int(name, value)
    if value > ceiling:
        raise ValueError("%s must be at most %d bytes (the PutRecords limit), got %r"
                         % (name, ceiling, value))
    return value


def _hash_key(fields: Fields) -> Optional[str]:
    """The explicit hash key as decimal text (text or an int), or None."""
    value = fields.raw("explicit_hash_key")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise fields.fail("InvalidType", "field 'explicit_hash_key' must be a decimal string "
                          "or an int, got %s" % type(value).__name__)
    if not _HASH_KEY.fullmatch(value) or int(value) > _MAX_HASH_KEY:
        raise fields.fail("InvalidValue", "field 'explicit_hash_key'=%r must be an integer "
                          "from 0 to 2**128-1 in decimal" % value[:64])
    return value


class KinesisService(Service):
    """Amazon Kinesis Data Streams PutRecords.

    Records: ``stream_name`` or ``stream_arn`` (one of them), ``partition_key``
    (1 to 256 characters), ``data`` (bytes sent as given, text sent as UTF-8,
    or a dict or list sent as compact JSON with sorted keys) and optional
    ``explicit_hash_key`` (decimal text or an int, 0 to 2**128-1).

    A record's size is its data plus its partition key in UTF-8; one over
    ``max_record_bytes`` is dead-lettered before sending. A request carries at
    most 500 records and ``max_request_bytes``. Results are matched to records
    by position: a record is written only if its result holds a sequence
    number; an answer without one result per record places none, and its
    records are retried. Delivery is at least once (see this module's
    docstring).

    Args:
        max_record_bytes: Bytes per record: the stream's MaxRecordSize (1 MiB
            unless raised with UpdateMaxRecordSize; at most 10 MiB).
        max_request_bytes: Bytes per request (at most 10 MiB, the default).
    """

    name = "kinesis"
    operation = "PutRecords"
    method = "put_records"
    retryable_codes: FrozenSet[str] = _RETRYABLE
    non_retryable_codes: FrozenSet[str] = _NOT_RETRYABLE
    throttling_codes: FrozenSet[str] = _THROTTLING
    split_codes: FrozenSet[str] = _SPLIT
    #: Every result either holds a sequence number (stored) or an error code:
    #: a record is written only when its result confirms it.
    has_success_list = True

    def __init__(self, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.max_record_bytes = _limit("max_record_bytes", max_record_bytes, MAX_RECORD_BYTES)
        self.max_request_bytes = _limit("max_request_bytes", max_request_bytes,
                                        MAX_REQUEST_BYTES)
        if max_record_bytes > max_request_bytes:
            raise ValueError("max_record_bytes (%d) must not exceed max_request_bytes (%d)"
                             % (max_record_bytes, max_request_bytes))
        self.limits = Limits(max_entries=MAX_RECORDS_PER_REQUEST, max_values_per_entry=1,
                             max_request_bytes=max_request_bytes)

    def item(self, record: Mapping[str, Any]) -> Item:
        fields = Fields(record, _FIELDS)
        name = fields.string("stream_name", required=False, max_len=MAX_STREAM_NAME_LENGTH,
                             pattern=_STREAM_NAME)
        arn = fields.string("stream_arn", required=False, max_len=MAX_STREAM_ARN_LENGTH,
                            pattern=_STREAM_ARN)
        if (name is None) == (arn is None):
            raise fields.fail("InvalidRecord", "give exactly one of 'stream_name' and "
                              "'stream_arn'")
        scope = ("StreamName", name) if arn is None else ("StreamARN", arn)
        fields.resource = scope[1]
        key = fields.string("partition_key", max_len=MAX_PARTITION_KEY_LENGTH)
        hash_key = _hash_key(fields)
        data = fields.blob("data")
        size = len(data) + len(key.encode("utf-8"))
        if size > self.max_record_bytes:
            raise fields.fail("PayloadTooLarge", "data plus partition key is %d bytes, more "
                              "than max_record_bytes=%d" % (size, self.max_record_bytes))
        entry: Dict[str, Any] = {"Data": data, "PartitionKey": key}
        if hash_key is not None:
            entry["ExplicitHashKey"] = hash_key
        digest = hashlib.sha256(data).hexdigest()
        return Item(scope=scope, group=None, payload=entry, size=size,
                    sort_key="%s|%s|%s" % (key, hash_key or "", digest),
                    item_id=content_id(scope[1], key, hash_key, digest), resource=scope[1])

    def entry_id(self, group: Optional[str], items: Sequence[Item]) -> str:
        """The record's content id: PutRecords entries carry no id."""
        return items[0].item_id

    def build_request(self, scope: Tuple[str, ...], entries: Sequence[Entry]) -> dict:
        field, stream = scope
        return {field: stream, "Records": [item.payload for entry in entries
                                           for item in entry.items]}

    @staticmethod
    def _results(request: Request, response: Mapping[str, Any]) -> Optional[List[Any]]:
        """The response's results when there is one per record sent, else None."""
        results = response.get("Records")
        if isinstance(results, list) and len(results) == len(request.items):
            return results
        return None

    def failures(self, request: Request, response: Mapping[str, Any]
                 ) -> Iterable[Union[Failure, Unmatched]]:
        # Implementation note: results correlate with records by position only.
        # An answer with another number of results places none of them.
        results = self._results(request, response)
        items = request.items
        if results is None:
            found = response.get("Records")
            yield Unmatched(RESULT_COUNT_MISMATCH_CODE,
                            "the response holds %d results for %d records sent"
                            % (len(found) if isinstance(found, list) else 0, len(items)),
                            tuple(items))
            return
        for item, result in zip(items, results):
            if isinstance(result, Mapping) and result.get("ErrorCode"):
                yield Failure(item, str(result["ErrorCode"]),
                              str(result.get("ErrorMessage") or ""))

    def confirmed(self, request: Request, response: Mapping[str, Any]) -> Iterable[Item]:
        """The records whose result holds a sequence number."""
        results = self._results(request, response)
        for item, result in zip(request.items, results or ()):
            if isinstance(result, Mapping) and result.get("SequenceNumber"):
                yield item
