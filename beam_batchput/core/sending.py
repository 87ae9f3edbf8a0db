"""Step 3 of the record's path: the send step, and the client factory it calls on the worker."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any, Callable, Iterator, Optional, Tuple

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils import windowed_value
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from beam_batchput.core.botocore_throttling import ThrottleMeter, take_retries_over
from beam_batchput.core.clock import Clock
from beam_batchput.core.concurrency import AdaptiveConcurrency, FixedConcurrency
from beam_batchput.core.config import ClientConfig, RetryConfig, SendingConfig
from beam_batchput.core.lineage import SinkLineage, region_of
from beam_batchput.core.logs import DeadLetterLog, log_fields
from beam_batchput.core.metrics import WriterMetrics
from beam_batchput.core.prepare import FAILED, dead_letter
from beam_batchput.core.ratecap import shared_caps
from beam_batchput.core.records import Receipt
from beam_batchput.core.sender import RequestSender, SendOutcome, Settled
from beam_batchput.core.sendloop import SendLoop
from beam_batchput.core.service import Request, Service

__all__ = ["ClientFactory", "SendFn"]

_LOG = logging.getLogger(__name__)
# Requests' worth of items a send step holds per worker thread: queued, in
# flight or waiting for a retry; past it the input waits.
_QUEUED_PER_SENDER = 4


class ClientFactory:
    """The default ``client_factory``: builds a boto3 client from configuration on the worker.

    ``client_factory`` is an extension point of every writer: any picklable
    callable taking no argument and returning an object with the service's
    boto3 method (e.g. ``batch_put_asset_property_value``) may replace it. It
    is called once per DoFn instance, in ``setup``, on the worker; the client
    it returns is shared by that instance's sending threads, as boto3 clients
    allow.

    Args:
        config: How to build the client.
        service_name: The botocore service name.
    """

    def __init__(self, config: ClientConfig, service_name: str) -> None:
        self._config = config
        self._service_name = service_name

    def __call__(self) -> Any:
        return self._config.create_client(self._service_name)


class SendFn(beam.DoFn):
    """Sends requests through a :class:`~beam_batchput.core.sendloop.SendLoop`; emits
    receipts and dead letters.

    Requests run in up to ``max_in_flight`` worker threads, as many at once as
    the concurrency strategy allows (adaptive unless ``sending`` says
    otherwise); entries to retry wait in the loop's pool and go out again
    packed together. The bundle's thread goes on batching while the workers
    send, waits while too much is pending (backpressure: the input is held,
    memory stays bounded), and drains the loop in ``finish_bundle``, so nothing
    is in flight or waiting when a bundle commits.
    """

    def __init__(self, service: Service, client_factory: Callable[[], Any],
                 retry: RetryConfig, max_in_flight: int, fail_fast: bool,
                 clock: Optional[Clock] = None, receipts: bool = True,
                 sending: Optional[SendingConfig] = None, caps_key: str = "",
                 log_interval_seconds: float = 0.0) -> None:
        self._service = service
        self._client_factory = client_factory
        self._retry = retry
        self._max_in_flight = max_in_flight
        self._fail_fast = fail_fast
        self._clock = clock or Clock()
        self._sending = sending or SendingConfig()
        self._caps_key = caps_key
        self._receipts = receipts
        self._log_interval_seconds = log_interval_seconds

    def setup(self) -> None:
        self._client = self._client_factory()
        meter = ThrottleMeter(self._clock)
        meter.attach(self._client)
        self._sender = RequestSender(self._service, self._retry, fail_fast=self._fail_fast,
                                     clock=self._clock)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._max_in_flight,
            thread_name_prefix="beam_batchput-%s" % self._service.name)
        self._metrics = WriterMetrics(self._service.name)
        self._log = DeadLetterLog(_LOG, self._service.name, self._log_interval_seconds,
                                  self._clock.monotonic)
        self._lineage = SinkLineage(self._service.name, region_of(self._client))
        sending = self._sending
        if sending.adaptive_concurrency:
            take_retries_over(self._client)
            concurrency: FixedConcurrency = AdaptiveConcurrency(self._max_in_flight,
                                                                clock=self._clock)
        else:
            concurrency = FixedConcurrency(self._max_in_flight)
        caps = shared_caps("%s|%s" % (self._service.name, self._caps_key),
                           sending.max_requests_per_second, sending.max_records_per_second,
                           clock=self._clock)
        self._loop = SendLoop(
            self._service, self._sender, self._client, self._executor, concurrency, self._retry,
            caps=caps, clock=self._clock, meter=meter,
            max_pending_items=self._max_in_flight * _QUEUED_PER_SENDER
            * self._service.limits.max_items)

    def process(self, request: Request, window=beam.DoFn.WindowParam) -> Iterator[Any]:
        yield from self._emit_all(self._loop.submit(request, window))

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._emit_all(self._loop.drain())
        self._lineage.report()
        self._log.flush()

    def teardown(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None:
            log.flush(force=True)
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
        if self._receipts:
            note = self._lineage.note
            for settled in outcome.written:
                item = settled.item
                note(item.resource)
                # One receipt per record: built from positional fields and the
                # timestamp in micros, without a Timestamp object per record.
                yield windowed_value.create(
                    Receipt(name, item.resource, item.item_id, settled.attempts, item.record),
                    item.event_time, windows)
        elif outcome.written:
            self._lineage.note_all({settled.item.resource for settled in outcome.written})
        for settled in outcome.failed:
            self._log.note(settled.stage, settled.code, settled.item.resource,
                           settled.attempts, settled.message)
            yield TaggedOutput(FAILED, self._dead_letter_value(settled, window))
        if outcome.failed:
            # Per request at DEBUG; the bundle's summary is the WARNING.
            first = outcome.failed[0]
            _LOG.debug("%s: %d records of a request dead-lettered (first: %s %s at %s)", name,
                       len(outcome.failed), first.stage, first.code, first.item.resource,
                       extra=log_fields("request_dead_letters", name, len(outcome.failed),
                                        code=first.code, resource=first.item.resource))

    def _dead_letter_value(self, settled: Settled, window: Any) -> WindowedValue:
        item = settled.item
        letter = dead_letter(self._service, self._clock, item.record, settled.code,
                             settled.message, settled.stage, settled.attempts, item.resource)
        return WindowedValue(letter, Timestamp(micros=item.event_time), (window,))
