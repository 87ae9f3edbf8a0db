"""Step 3 of the record's path: the send step, and the client factory it calls on the worker."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any, Callable, Iterator, List, Optional, Tuple

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils import windowed_value
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from beam_batchput.core.clock import Clock
from beam_batchput.core.config import ClientConfig, RetryConfig
from beam_batchput.core.lineage import SinkLineage, region_of
from beam_batchput.core.logs import DeadLetterLog, log_fields
from beam_batchput.core.metrics import WriterMetrics
from beam_batchput.core.prepare import FAILED, dead_letter
from beam_batchput.core.records import Receipt
from beam_batchput.core.sender import RequestSender, SendOutcome, Settled
from beam_batchput.core.service import Request, Service

__all__ = ["ClientFactory", "SendFn"]

_LOG = logging.getLogger(__name__)
# Requests a send step holds per worker thread, sending or waiting to.
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
    """Sends requests, up to ``max_in_flight`` at once; emits receipts and dead letters.

    Each request, with its retries, runs in one of ``max_in_flight`` worker
    threads; up to ``_QUEUED_PER_SENDER`` times as many wait their turn, so the
    bundle's thread goes on batching while the workers send. Results are
    harvested on the bundle's thread, as requests complete and at the end of
    the bundle, so nothing is in flight when a bundle commits.
    """

    def __init__(self, service: Service, client_factory: Callable[[], Any],
                 retry: RetryConfig, max_in_flight: int, fail_fast: bool,
                 clock: Optional[Clock] = None, receipts: bool = True,
                 log_interval_seconds: float = 0.0) -> None:
        self._service = service
        self._client_factory = client_factory
        self._retry = retry
        self._max_in_flight = max_in_flight
        self._fail_fast = fail_fast
        self._clock = clock or Clock()
        self._receipts = receipts
        self._log_interval_seconds = log_interval_seconds

    def setup(self) -> None:
        self._client = self._client_factory()
        self._sender = RequestSender(self._service, self._retry, fail_fast=self._fail_fast,
                                     clock=self._clock)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._max_in_flight,
            thread_name_prefix="beam_batchput-%s" % self._service.name)
        self._metrics = WriterMetrics(self._service.name)
        self._pending: List[Tuple[concurrent.futures.Future, Any]] = []
        self._log = DeadLetterLog(_LOG, self._service.name, self._log_interval_seconds,
                                  self._clock.monotonic)
        self._lineage = SinkLineage(self._service.name, region_of(self._client))

    def start_bundle(self) -> None:
        self._pending = []

    def process(self, request: Request, window=beam.DoFn.WindowParam) -> Iterator[Any]:
        if len(self._pending) >= self._max_in_flight * _QUEUED_PER_SENDER:
            yield from self._harvest(concurrent.futures.FIRST_COMPLETED)
        future = self._executor.submit(self._sender.send, self._client, request)
        self._pending.append((future, window))
        if any(f.done() for f, _ in self._pending):
            yield from self._harvest(None)

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._harvest(concurrent.futures.ALL_COMPLETED)
        self._lineage.report()
        self._log.flush()

    def teardown(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None:
            log.flush(force=True)
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _harvest(self, wait_for: Optional[str]) -> Iterator[Any]:
        if wait_for is not None and self._pending:
            concurrent.futures.wait([f for f, _ in self._pending], return_when=wait_for)
        done = [(f, w) for f, w in self._pending if f.done()]
        self._pending = [(f, w) for f, w in self._pending if not f.done()]
        for future, window in done:
            outcome: SendOutcome = future.result()
            self._metrics.record(outcome)
            yield from self._emit(outcome, window)

    def _emit(self, outcome: SendOutcome, window: Any) -> Iterator[Any]:
        name, windows = self._service.name, (window,)
        for settled in outcome.written if self._receipts else ():
            item = settled.item
            self._lineage.note(item.resource)
            # One receipt per record: built from positional fields and the
            # timestamp in micros, without a Timestamp object per record.
            yield windowed_value.create(
                Receipt(name, item.resource, item.item_id, settled.attempts, item.record),
                item.event_time, windows)
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
