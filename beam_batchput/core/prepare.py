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

# Entries of the prepare step's caches of keys (per DoFn instance) and of
# window objects (per bundle), at most.
_KEY_CACHE_SIZE = 4096
_WINDOW_CACHE_SIZE = 64


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
        # Chunks per window (by value) and key; and, by the id of each window
        # object seen lately, that window and its chunks (held, so the id
        # cannot be reused meanwhile).
        self._chunks: Dict[Any, Dict[Tuple[str, int], List[Item]]] = {}
        self._window_ids: Dict[int, Tuple[Any, Dict[Tuple[str, int], List[Item]]]] = {}
        self._records_in = 0
        if getattr(self, "_keys", None) is None:
            # Shard key (or scope and shard key) → the item's key, for the
            # DoFn instance's life.
            self._keys: Dict[Any, Tuple[str, int]] = {}
            self._completes_items = (type(self._service).with_event_time
                                     is not Service.with_event_time)

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
        if self._completes_items:
            self._service.with_event_time(item)
        key = self._key(item)
        for window in windowed.windows:
            # Implementation note: windows hash and compare in Python; the id
            # of a window object met before finds its chunks without either.
            seen = self._window_ids.get(id(window))
            if seen is None or seen[0] is not window:
                seen = self._chunks_of(window)
            chunks = seen[1]
            chunk = chunks.get(key)
            if chunk is None:
                chunk = chunks[key] = []
            chunk.append(item)
            if len(chunk) >= self._chunk_size:
                del chunks[key]
                yield self._emit(key, window, chunk)

    def _key(self, item: Item) -> Tuple[str, int]:
        """The item's key: (scope as text, shard), a key coders can prove deterministic."""
        shard_key = self._service.shard_key(item)
        # A text and a tuple never compare equal: one dictionary holds both.
        cached = shard_key if not item.scope else (item.scope, shard_key)
        key = self._keys.get(cached)
        if key is None:
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            shard = zlib.crc32(shard_key.encode("utf-8")) % self._num_shards
            key = self._keys[cached] = ("\x1f".join(item.scope), shard)
        return key

    def _chunks_of(self, window: Any) -> Tuple[Any, Dict[Tuple[str, int], List[Item]]]:
        """``window`` and the chunks of its window (equal windows share them)."""
        chunks = self._chunks.get(window)
        if chunks is None:
            chunks = self._chunks[window] = {}
        if len(self._window_ids) >= _WINDOW_CACHE_SIZE:
            self._window_ids.clear()
        seen = self._window_ids[id(window)] = (window, chunks)
        return seen

    def finish_bundle(self) -> Iterator[Any]:
        # Counted once a bundle: a counter's update is a few calls deep. An
        # empty bundle (frequent in streaming) reports nothing, as before.
        if self._records_in:
            self._metrics.records_in.inc(self._records_in)
            self._records_in = 0
        self._log.flush()
        by_window, self._chunks, self._window_ids = self._chunks, {}, {}
        for window, chunks in by_window.items():
            for key, chunk in chunks.items():
                yield self._emit(key, window, chunk)

    def teardown(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None:
            log.flush(force=True)

    @staticmethod
    def _emit(key: Tuple[str, int], win: Any, chunk: List[Item]) -> WindowedValue:
        # A chunk travels pickled once, as (count, bytes), and is stored as is.
        earliest = min(item.event_time for item in chunk)
        packed = (len(chunk), pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
        return WindowedValue((key, packed), Timestamp(micros=earliest), (win,))
