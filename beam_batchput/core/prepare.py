"""Step 1 of the record's path: records → items, keyed and chunked, or validation dead letters."""

from __future__ import annotations

import logging
import pickle  # nosec B403 # only this transform's own items: see batching.unpickle_all
import zlib
from typing import Any, Dict, Iterator, List, Tuple

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from beam_batchput.core.clock import Clock
from beam_batchput.core.logs import DeadLetterLog
from beam_batchput.core.metrics import WriterMetrics
from beam_batchput.core.records import DeadLetter, Stage, record_as_mapping, record_to_json
from beam_batchput.core.service import InvalidRecord, Item, Service

__all__ = ["FAILED", "RECORD_ERRORS", "PrepareFn", "dead_letter"]

_LOG = logging.getLogger(__name__)

#: The tag of the dead-letter outputs of the prepare and send steps.
FAILED = "failed"

#: What a service module raises on a malformed record: the record is
#: dead-lettered with the error's code, its neighbours go on. Anything else a
#: service raises is a bug and fails the bundle.
RECORD_ERRORS = (InvalidRecord,)


def dead_letter(service: Service, clock: Clock, record: str, code: str, message: str,
                stage: str, attempts: int, resource: str) -> DeadLetter:
    """A dead letter of ``service``, stamped with the clock's wall time."""
    return DeadLetter(record=record, service=service.name, error_code=code,
                      error_message=message, stage=stage, attempts=attempts,
                      resource=resource, failed_at=clock.now_iso())


class PrepareFn(beam.DoFn):
    """Record → items gathered per key and window, or a validation dead letter.

    Implementation note: items of one bundle are handed on in chunks per
    (key, window), not one by one, so the stateful step downstream pays its
    per-element state and timer costs once per chunk.
    """

    def __init__(self, service: Service, num_shards: int, chunk_size: int,
                 clock: Clock, log_interval_seconds: float = 0.0) -> None:
        self._service = service
        self._num_shards = num_shards
        self._chunk_size = chunk_size
        self._clock = clock
        self._byte_limit = service.limits.max_request_bytes
        self._log_interval_seconds = log_interval_seconds

    def setup(self) -> None:
        self._metrics = WriterMetrics(self._service.name)
        self._log = DeadLetterLog(_LOG, self._service.name, self._log_interval_seconds,
                                  self._clock.monotonic)

    def start_bundle(self) -> None:
        self._chunks: Dict[Tuple[Any, Any], List[Item]] = {}
        self._records_in = 0

    def _item(self, record: Any) -> Item:
        """The record's item; raises InvalidRecord for a malformed record."""
        try:
            fields = record_as_mapping(record)
        except TypeError as error:
            raise InvalidRecord("InvalidRecordType", str(error)) from None
        item = self._service.item(fields)
        if self._byte_limit is not None and item.size > self._byte_limit:
            raise InvalidRecord(
                "ItemTooLarge", "%d bytes, more than the %d bytes one request may carry"
                % (item.size, self._byte_limit), item.resource)
        return item

    def process(self, record: Any,
                windowed: WindowedValue = beam.DoFn.WindowedValueParam) -> Iterator[Any]:
        # Implementation note: the whole windowed value, not WindowParam and
        # TimestampParam, which make the runner fill arguments per element and
        # window, a third of this step's cost. A record in several windows
        # (sliding windows) joins the chunk of each.
        self._records_in += 1
        try:
            item = self._item(record)
        except RECORD_ERRORS as error:
            self._metrics.dead_letters[Stage.VALIDATION].inc()
            self._log.note(Stage.VALIDATION, error.code, error.resource, 0, error.message)
            yield TaggedOutput(FAILED, dead_letter(
                self._service, self._clock, record_to_json(record), error.code, error.message,
                Stage.VALIDATION, 0, error.resource))
            return
        if not item.record:  # a service module may have written it already
            item.record = record_to_json(record)
        item.event_time = windowed.timestamp_micros
        self._service.with_event_time(item)
        shard = zlib.crc32(self._service.shard_key(item).encode("utf-8")) % self._num_shards
        # The key is (scope as text, shard): a key coders can prove deterministic.
        key = ("\x1f".join(item.scope), shard)
        for window in windowed.windows:
            slot = (key, window)
            chunk = self._chunks.setdefault(slot, [])
            chunk.append(item)
            if len(chunk) >= self._chunk_size:
                yield self._emit(slot, self._chunks.pop(slot))

    def finish_bundle(self) -> Iterator[Any]:
        # Counted once a bundle: a counter's update is a few calls deep. An
        # empty bundle (frequent in streaming) reports nothing, as before.
        if self._records_in:
            self._metrics.records_in.inc(self._records_in)
            self._records_in = 0
        self._log.flush()
        chunks, self._chunks = self._chunks, {}
        for slot, chunk in chunks.items():
            yield self._emit(slot, chunk)

    def teardown(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None:
            log.flush(force=True)

    @staticmethod
    def _emit(slot: Tuple[Any, Any], chunk: List[Item]) -> WindowedValue:
        # A chunk travels pickled once, as (count, bytes), and is stored as is.
        key, win = slot
        earliest = min(item.event_time for item in chunk)
        packed = (len(chunk), pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
        return WindowedValue((key, packed), Timestamp(micros=earliest), (win,))
