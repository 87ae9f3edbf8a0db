"""The generic write transform: prepare, key, batch, send; written and failed out."""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import logging
import pickle  # nosec B403 # only this transform's own items: see _unpickle_all
import time
import typing
import zlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import apache_beam as beam
from apache_beam.coders import BooleanCoder, BytesCoder, VarIntCoder
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils import windowed_value
from apache_beam.utils.timestamp import Duration, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from beam_batchput.core.botocore_throttling import ThrottleMeter
from beam_batchput.core.concurrency import AdaptiveConcurrency, FixedConcurrency
from beam_batchput.core.config import BatchingConfig, ClientConfig, RetryConfig, SendingConfig
from beam_batchput.core.metrics import WriterMetrics
from beam_batchput.core.packing import pack, split_full
from beam_batchput.core.records import (
    DeadLetter,
    Receipt,
    Stage,
    record_as_mapping,
    record_to_json,
)
from beam_batchput.core.ratecap import shared_caps
from beam_batchput.core.sender import RequestSender, SendOutcome, Settled
from beam_batchput.core.sendloop import SendLoop
from beam_batchput.core.service import InvalidRecord, Item, Request, Service

__all__ = ["AwsBatchWrite", "WriteResult"]

_LOG = logging.getLogger(__name__)
_FAILED = "failed"
# Partial entries may wait up to this many times max_buffered_records.
_HARD_CAP_FACTOR = 4
# Requests a send step holds per worker thread, sending or waiting to.
_QUEUED_PER_SENDER = 4

# What a service module may raise on a malformed record besides InvalidRecord:
# the record is dead-lettered, its neighbours go on.
_RECORD_ERRORS = (InvalidRecord, TypeError, ValueError, KeyError, AttributeError,
                  OverflowError, UnicodeError, RecursionError)


class WriteResult(typing.NamedTuple):
    """The outputs of a write transform.

    Attributes:
        written: :class:`Receipt` for every record the service accepted.
        failed: :class:`DeadLetter` for every record refused, with the reason.
    """

    written: beam.PCollection
    failed: beam.PCollection


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def _dead_letter(service: Service, record: str, code: str, message: str, stage: str,
                 attempts: int, resource: str) -> DeadLetter:
    return DeadLetter(record=record, service=service.name, error_code=code,
                      error_message=message, stage=stage, attempts=attempts,
                      resource=resource, failed_at=_now_iso())


class _PrepareFn(beam.DoFn):
    """Record → items gathered per key and window, or a validation dead letter.

    Implementation note: items of one bundle are handed on in chunks per
    (key, window), not one by one, so the stateful step downstream pays its
    per-element state and timer costs once per chunk.
    """

    def __init__(self, service: Service, num_shards: int, chunk_size: int) -> None:
        self._service = service
        self._num_shards = num_shards
        self._chunk_size = chunk_size
        self._byte_limit = service.limits.max_request_bytes

    def setup(self) -> None:
        self._metrics = WriterMetrics(self._service.name)

    def start_bundle(self) -> None:
        self._chunks: Dict[Tuple[Any, Any], List[Item]] = {}
        self._records_in = 0

    def process(self, record: Any,
                windowed: WindowedValue = beam.DoFn.WindowedValueParam) -> Iterator[Any]:
        # Implementation note: the whole windowed value, not WindowParam and
        # TimestampParam, which make the runner fill arguments per element and
        # window, a third of this step's cost. A record in several windows
        # (sliding windows) joins the chunk of each.
        self._records_in += 1
        try:
            try:
                fields = record_as_mapping(record)
            except TypeError as error:
                raise InvalidRecord("InvalidRecordType", str(error)) from None
            item = self._service.item(fields)
            if self._byte_limit is not None and item.size > self._byte_limit:
                raise InvalidRecord(
                    "ItemTooLarge", "%d bytes, more than the %d bytes one request may carry"
                    % (item.size, self._byte_limit), item.resource)
        except _RECORD_ERRORS as error:
            code = getattr(error, "code", None) or "InvalidRecord"
            message = getattr(error, "message", None) or "%s: %s" % (type(error).__name__, error)
            self._metrics.dead_letters[Stage.VALIDATION].inc()
            yield TaggedOutput(_FAILED, _dead_letter(
                self._service, record_to_json(record), code, message, Stage.VALIDATION, 0,
                getattr(error, "resource", "")))
            return
        item.record = record_to_json(record)
        item.event_time = windowed.timestamp_micros
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
        chunks, self._chunks = self._chunks, {}
        for slot, chunk in chunks.items():
            yield self._emit(slot, chunk)

    @staticmethod
    def _emit(slot: Tuple[Any, Any], chunk: List[Item]) -> WindowedValue:
        # A chunk travels pickled once, as (count, bytes), and is stored as is.
        key, win = slot
        earliest = min(item.event_time for item in chunk)
        packed = (len(chunk), pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
        return WindowedValue((key, packed), Timestamp(micros=earliest), (win,))


def _unpickle_all(buffer: Any) -> List[Item]:
    # The bytes are items this transform pickled into its own Beam state: the
    # runner's, never outside input.
    return [item for stored in buffer.read()
            for item in pickle.loads(stored)]  # nosec B301 # our own state, see above


class _BatchFnBase(beam.DoFn):
    """Buffers items per key and window; emits packed requests.

    Sends the full requests among the buffered items once ``max_buffered``
    items wait, and everything when the window closes (and, in streaming,
    when the processing-time bound passes). On runners that hold the
    watermark for timers (Dataflow, Flink) window-end output is on time.
    The concrete classes come from :func:`_batch_fn_class`.
    """

    def __init__(self, service: Service, max_buffered: int, max_buffering_seconds: float,
                 clock: Optional[Callable[[], float]] = None) -> None:
        self._service = service
        self._max_buffered = max_buffered
        self._max_buffering_seconds = max_buffering_seconds
        self._clock = clock or time.time

    def _add(self, chunk: Tuple[int, bytes], window: Any, buffer: Any, count: Any,
             next_check: Any, window_end: Any) -> Iterator[Request]:
        window_end.set(window.max_timestamp())
        size, pickled = chunk
        buffer.add(pickled)
        buffered = (count.read() or 0) + size
        count.write(buffered)
        if buffered < (next_check.read() or self._max_buffered):
            return
        # Implementation note: send the full requests and keep partial entries
        # back for more of their kind; the next look comes max_buffered records
        # later, and past the hard cap everything goes, so memory stays bounded
        # by (_HARD_CAP_FACTOR + 1) * max_buffered records per key and window.
        limits, entry_id = self._service.limits, self._service.entry_id
        items = _unpickle_all(buffer)
        full, leftover = split_full(items, limits, entry_id)
        if len(leftover) >= _HARD_CAP_FACTOR * self._max_buffered:
            full, leftover = pack(items, limits, entry_id), []
        buffer.clear()
        if leftover:
            buffer.add(pickle.dumps(leftover, pickle.HIGHEST_PROTOCOL))
        count.write(len(leftover))
        next_check.write(len(leftover) + self._max_buffered)
        yield from full

    def _flush(self, buffer: Any, count: Any, next_check: Any) -> Iterator[Request]:
        items = _unpickle_all(buffer)
        buffer.clear()
        count.clear()
        next_check.clear()
        if items:
            yield from pack(items, self._service.limits, self._service.entry_id)


@functools.lru_cache(maxsize=None)
def _batch_fn_class(bounded: bool, tag: str) -> type:
    """The batching DoFn class, with state and timer names unique to ``tag``.

    Implementation note: Beam's portable runner mixes up the timers of two
    stateful steps of one stage that share timer names (records were silently
    left unsent), so every writer's batching step gets names of its own.
    Bounded input gets no processing-time timer: it does not need one, and one
    would keep the DirectRunner off its portable batch runner.
    """
    buffer_spec = BagStateSpec("buffer_" + tag, BytesCoder())
    count_spec = ReadModifyWriteStateSpec("count_" + tag, VarIntCoder())
    next_spec = ReadModifyWriteStateSpec("next_check_" + tag, VarIntCoder())
    window_spec = TimerSpec("window_end_" + tag, TimeDomain.WATERMARK)

    if bounded:
        class _BoundedBatchFn(_BatchFnBase):
            def process(self, element: Tuple[Any, Tuple[int, bytes]], window=beam.DoFn.WindowParam,
                        buffer=beam.DoFn.StateParam(buffer_spec),
                        count=beam.DoFn.StateParam(count_spec),
                        next_check=beam.DoFn.StateParam(next_spec),
                        window_end=beam.DoFn.TimerParam(window_spec)) -> Iterator[Request]:
                yield from self._add(element[1], window, buffer, count, next_check, window_end)

            @on_timer(window_spec)
            def _on_window_end(self, buffer=beam.DoFn.StateParam(buffer_spec),
                               count=beam.DoFn.StateParam(count_spec),
                               next_check=beam.DoFn.StateParam(next_spec)) -> Iterator[Request]:
                yield from self._flush(buffer, count, next_check)

        return _BoundedBatchFn

    timer_set_spec = ReadModifyWriteStateSpec("buffering_timer_set_" + tag, BooleanCoder())
    buffering_spec = TimerSpec("buffering_" + tag, TimeDomain.REAL_TIME)

    class _StreamingBatchFn(_BatchFnBase):
        def process(self, element: Tuple[Any, Tuple[int, bytes]], window=beam.DoFn.WindowParam,
                    buffer=beam.DoFn.StateParam(buffer_spec),
                    count=beam.DoFn.StateParam(count_spec),
                    next_check=beam.DoFn.StateParam(next_spec),
                    timer_set=beam.DoFn.StateParam(timer_set_spec),
                    window_end=beam.DoFn.TimerParam(window_spec),
                    buffering=beam.DoFn.TimerParam(buffering_spec)) -> Iterator[Request]:
            if not timer_set.read():
                buffering.set(Timestamp.of(self._clock())
                              + Duration.of(self._max_buffering_seconds))
                timer_set.write(True)
            yield from self._add(element[1], window, buffer, count, next_check, window_end)

        @on_timer(window_spec)
        def _on_window_end(self, buffer=beam.DoFn.StateParam(buffer_spec),
                           count=beam.DoFn.StateParam(count_spec),
                           next_check=beam.DoFn.StateParam(next_spec),
                           timer_set=beam.DoFn.StateParam(timer_set_spec)) -> Iterator[Request]:
            timer_set.clear()
            yield from self._flush(buffer, count, next_check)

        @on_timer(buffering_spec)
        def _on_buffering(self, buffer=beam.DoFn.StateParam(buffer_spec),
                          count=beam.DoFn.StateParam(count_spec),
                          next_check=beam.DoFn.StateParam(next_spec),
                          timer_set=beam.DoFn.StateParam(timer_set_spec)) -> Iterator[Request]:
            timer_set.clear()
            yield from self._flush(buffer, count, next_check)

    return _StreamingBatchFn


class _SendFn(beam.DoFn):
    """Sends requests through a :class:`SendLoop`; emits receipts and dead letters.

    Requests run in up to ``max_in_flight`` worker threads, as many at once as
    the concurrency strategy allows; entries to retry wait in the loop's pool
    and go out again packed together. The bundle's thread goes on batching
    while the workers send, waits while too much is pending (backpressure), and
    drains the loop in ``finish_bundle``, so nothing is in flight or waiting
    when a bundle commits.
    """

    def __init__(self, service: Service, client_factory: Callable[[], Any],
                 retry: RetryConfig, max_in_flight: int, fail_fast: bool,
                 sleep: Optional[Callable[[float], None]] = None,
                 sending: Optional[SendingConfig] = None, caps_key: str = "") -> None:
        self._service = service
        self._client_factory = client_factory
        self._retry = retry
        self._max_in_flight = max_in_flight
        self._fail_fast = fail_fast
        self._sleep = sleep
        self._sending = sending or SendingConfig()
        self._caps_key = caps_key

    def setup(self) -> None:
        self._client = self._client_factory()
        meter = ThrottleMeter()
        meter.attach(self._client)
        sleep = self._sleep or time.sleep
        self._sender = RequestSender(self._service, self._retry, fail_fast=self._fail_fast,
                                     sleep=sleep)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._max_in_flight,
            thread_name_prefix="beam_batchput-%s" % self._service.name)
        self._metrics = WriterMetrics(self._service.name)
        sending = self._sending
        concurrency = (AdaptiveConcurrency(self._max_in_flight) if sending.adaptive_concurrency
                       else FixedConcurrency(self._max_in_flight))
        caps = shared_caps("%s|%s" % (self._service.name, self._caps_key),
                           sending.max_requests_per_second, sending.max_records_per_second)
        self._loop = SendLoop(
            self._service, self._sender, self._client, self._executor, concurrency, self._retry,
            caps=caps, sleep=sleep, meter=meter,
            max_pending_items=self._max_in_flight * _QUEUED_PER_SENDER
            * self._service.limits.max_items)

    def start_bundle(self) -> None:
        self._windows: Dict[int, Any] = {}

    def process(self, request: Request, window=beam.DoFn.WindowParam) -> Iterator[Any]:
        yield from self._emit_all(self._loop.submit(request, window))

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._emit_all(self._loop.drain())

    def teardown(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _emit_all(self, outcomes: Iterator[Tuple[SendOutcome, Any]]) -> Iterator[Any]:
        for outcome, window in outcomes:
            self._metrics.record(outcome)
            self._metrics.in_flight_limit.set(self._loop.limit)
            yield from self._emit(outcome, window)

    def _emit(self, outcome: SendOutcome, window: Any) -> Iterator[Any]:
        name, windows = self._service.name, (window,)
        for settled in outcome.written:
            item = settled.item
            # One receipt per record: built from positional fields and the
            # timestamp in micros, without a Timestamp object per record.
            yield windowed_value.create(
                Receipt(name, item.resource, item.item_id, settled.attempts, item.record),
                item.event_time, windows)
        for settled in outcome.failed:
            yield TaggedOutput(_FAILED, self._dead_letter_value(settled, window))
        if outcome.failed:
            _LOG.warning("%s: %d records dead-lettered (first: %s %s)", name,
                         len(outcome.failed), outcome.failed[0].code,
                         outcome.failed[0].message[:200])

    def _dead_letter_value(self, settled: Settled, window: Any) -> WindowedValue:
        item = settled.item
        letter = _dead_letter(self._service, item.record, settled.code, settled.message,
                              settled.stage, settled.attempts, item.resource)
        return WindowedValue(letter, Timestamp(micros=item.event_time), (window,))


class _ClientFactory:
    """Picklable: builds a client from configuration on the worker."""

    def __init__(self, config: ClientConfig, service_name: str) -> None:
        self._config = config
        self._service_name = service_name

    def __call__(self) -> Any:
        return self._config.create_client(self._service_name)


class AwsBatchWrite(beam.PTransform):
    """Writes records to one AWS batch-put API; the base of every ``WriteTo…``.

    Args:
        service: The service description (a :class:`Service`).
        region_name: AWS Region of the client.
        endpoint_url: A custom endpoint, e.g. a local emulator.
        profile_name: A named profile of the worker's AWS config.
        boto_config: A ``botocore.config.Config`` merged over the defaults.
        client: A full :class:`ClientConfig`; exclusive with the four above.
        client_factory: A picklable callable returning a client, for tests
            and special setups; replaces ``client``.
        max_in_flight: Requests sent at once per DoFn instance.
        max_buffering_seconds: Processing-time bound on buffering a partial
            batch (shorthand for ``batching.max_buffering_seconds``).
        batching: A full :class:`BatchingConfig`.
        retry: A :class:`RetryConfig`.
        fail_fast: Raise on a non-transient whole-request error (access
            denied, resource not found...) instead of dead-lettering its records,
            and on an entry refused as not found or denied.
        adaptive_concurrency: Adapt the requests in flight to what the service
            accepts (see :class:`SendingConfig`); ``False`` keeps
            ``max_in_flight`` in flight.
        max_requests_per_second: A cap on requests started per second and
            worker process, to share a quota with other writers.
        max_records_per_second: A cap on records sent per second and worker
            process, for quotas that count data points.
        sending: A full :class:`SendingConfig`; exclusive with the three above.
    """

    def __init__(self, service: Service, *, region_name: Optional[str] = None,
                 endpoint_url: Optional[str] = None, profile_name: Optional[str] = None,
                 boto_config: Any = None, client: Optional[ClientConfig] = None,
                 client_factory: Optional[Callable[[], Any]] = None,
                 max_in_flight: int = 4, max_buffering_seconds: Optional[float] = None,
                 batching: Optional[BatchingConfig] = None,
                 retry: Optional[RetryConfig] = None, fail_fast: bool = False,
                 adaptive_concurrency: Optional[bool] = None,
                 max_requests_per_second: Optional[float] = None,
                 max_records_per_second: Optional[float] = None,
                 sending: Optional[SendingConfig] = None,
                 _sleep: Optional[Callable[[float], None]] = None,
                 _clock: Optional[Callable[[], float]] = None) -> None:
        super().__init__()
        if not isinstance(service, Service):
            raise ValueError("service must be a Service, got %r" % (service,))
        if not isinstance(max_in_flight, int) or isinstance(max_in_flight, bool) \
                or max_in_flight < 1:
            raise ValueError("max_in_flight must be a positive integer, got %r" % (max_in_flight,))
        if not isinstance(fail_fast, bool):
            raise ValueError("fail_fast must be a bool, got %r" % (fail_fast,))
        loose = dict(region_name=region_name, endpoint_url=endpoint_url,
                     profile_name=profile_name, boto_config=boto_config)
        if client is not None and any(v is not None for v in loose.values()):
            raise ValueError("client=%r cannot be combined with %s" % (
                client, ", ".join(k for k, v in loose.items() if v is not None)))
        if client is None:
            client = ClientConfig(max_pool_connections=max(16, max_in_flight), **loose)
        batching = batching or BatchingConfig()
        if max_buffering_seconds is not None:
            batching = BatchingConfig(max_buffering_seconds=max_buffering_seconds,
                                      max_buffered_records=batching.max_buffered_records,
                                      num_shards=batching.num_shards)
        loose_sending = dict(adaptive_concurrency=adaptive_concurrency,
                             max_requests_per_second=max_requests_per_second,
                             max_records_per_second=max_records_per_second)
        given = {k: v for k, v in loose_sending.items() if v is not None}
        if sending is not None and given:
            raise ValueError("sending=%r cannot be combined with %s"
                             % (sending, ", ".join(sorted(given))))
        self._sending = sending or SendingConfig(**given)
        self._service = service
        self._client_factory = client_factory or _ClientFactory(client, service.name)
        self._batching = batching
        self._retry = retry or RetryConfig()
        self._max_in_flight = max_in_flight
        self._fail_fast = fail_fast
        # Test seams: the retry sleep, and the processing-time clock of the
        # buffering timer (TestStream's processing time starts at 0).
        self._sleep = _sleep
        self._clock = _clock

    def _state_tag(self, records: beam.PCollection) -> str:
        """A short tag unique to this application of the transform, stable across runs."""
        current = getattr(records.pipeline, "_current_transform", None)
        label = current().full_label if callable(current) else self.label
        return "%08x" % zlib.crc32(("%s|%s" % (self._service.name, label)).encode("utf-8"))

    def expand(self, records: beam.PCollection) -> WriteResult:
        service = self._service
        max_buffered = self._batching.max_buffered_records or service.limits.default_buffered_records
        prepared = records | "Prepare" >> beam.ParDo(
            _PrepareFn(service, self._batching.num_shards or service.default_num_shards,
                       service.limits.max_items)
        ).with_output_types(
                typing.Tuple[typing.Tuple[str, int], typing.Tuple[int, bytes]]
        ).with_outputs(
                    _FAILED, main="items")
        batch_fn = _batch_fn_class(bool(records.is_bounded), self._state_tag(records))
        requests = prepared["items"] | "Batch" >> beam.ParDo(
            batch_fn(service, max_buffered, self._batching.max_buffering_seconds, self._clock))
        sent = requests | "Send" >> beam.ParDo(_SendFn(
            service, self._client_factory, self._retry, self._max_in_flight, self._fail_fast,
            self._sleep, self._sending, self._state_tag(records))
        ).with_output_types(Receipt).with_outputs(_FAILED, main="written")
        written = sent["written"]
        failed = ((prepared[_FAILED], sent[_FAILED])
                  | "DeadLetters" >> beam.Flatten().with_output_types(DeadLetter))
        return WriteResult(written, failed)
