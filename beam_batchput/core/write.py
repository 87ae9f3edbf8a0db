"""The public transform: prepare → batch → send, and the written and failed outputs.

The record's path, one module per step:

1. :mod:`beam_batchput.core.prepare`: records → items, keyed by scope and
   shard; malformed records become validation dead letters.
2. :mod:`beam_batchput.core.batching`: the stateful step that buffers items
   per key and window and packs them into requests.
3. :mod:`beam_batchput.core.sending`: sends requests (with retries, by
   :mod:`beam_batchput.core.sender`) and emits receipts and dead letters.
"""

from __future__ import annotations

import collections
import copy
import typing
import warnings
import weakref
import zlib
from typing import Any, Callable, Dict, Optional

import apache_beam as beam
from apache_beam.transforms.error_handling import ErrorHandler
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.window import WindowFn

from beam_batchput.core import _runner_support
from beam_batchput.core import coders as _coders  # noqa: F401 # registers the record coders
from beam_batchput.core.batching import batch_fn_class
from beam_batchput.core.clock import SYSTEM_CLOCK, CallableClock, Clock
from beam_batchput.core.config import (
    DEFAULT_MAX_IN_FLIGHT,
    BatchingConfig,
    ClientConfig,
    RetryConfig,
    SendingConfig,
    positive_int,
)
from beam_batchput.core.dead_letters import check_threshold, validate_threshold
from beam_batchput.core.lineage import display_items
from beam_batchput.core.prepare import FAILED, PrepareFn
from beam_batchput.core.records import DeadLetter, Receipt
from beam_batchput.core.sending import ClientFactory, SendFn
from beam_batchput.core.service import Service

__all__ = ["AwsBatchWrite", "RECEIPTS", "WriteResult"]

#: The values of ``receipts``: a Receipt per stored record, or none.
RECEIPTS = ("per_record", "none")

# Least seconds between two dead-letter summaries of one DoFn instance when the
# input is unbounded (bounded input: one summary per bundle at most).
_STREAMING_LOG_INTERVAL_SECONDS = 60.0

# Applications per (pipeline, service, label) so far: the state tag's counter.
_APPLIED: "weakref.WeakKeyDictionary[Any, collections.Counter]" = weakref.WeakKeyDictionary()


class WriteResult(typing.NamedTuple):
    """The outputs of a write transform.

    Attributes:
        written: :class:`Receipt` for every record the service accepted.
        failed: :class:`DeadLetter` for every record refused, with the reason.
    """

    written: beam.PCollection
    failed: beam.PCollection


class AwsBatchWrite(beam.PTransform):
    """Writes records to one AWS batch-put API; the base of every ``WriteTo…``.

    Where the pipeline may run on Prism (the DirectRunner, ``PrismRunner``, a
    ``PortableRunner``), applying a writer adds the experiment
    ``prism_disable_sdf_split`` to the pipeline's options: Prism loses state
    of a stateful step whose bundles it splits (see ``docs/RUNNERS.md``).

    Args:
        service: The service description (a :class:`Service`).
        region_name: AWS Region of the client.
        endpoint_url: A custom endpoint, e.g. a local emulator.
        profile_name: A named profile of the worker's AWS config.
        boto_config: A ``botocore.config.Config`` merged over the defaults.
        client: A full :class:`ClientConfig`; exclusive with the four above.
        client_factory: The extension point for how clients are made: a
            picklable callable taking no argument and returning a client (an
            object with the service's boto3 method), called once per DoFn
            instance on the worker; replaces ``client``. See
            :class:`~beam_batchput.core.sending.ClientFactory`, the default.
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
        clock: The :class:`~beam_batchput.core.clock.Clock` of retries, the
            buffering timer, ``failed_at`` and services' time-window checks;
            the system clock unless given (tests pass their own).
        receipts: ``"per_record"`` (the default): ``written`` holds a
            :class:`Receipt` per stored record. ``"none"``: ``written`` stays
            empty, for pipelines that do not read it; it saves the receipts'
            cost (about a sixth of the writer's CPU per record). Validation,
            packing, retries and a dead letter per refused record are the
            same; the ``records_written`` counter still counts what was stored.
        dead_letter_threshold: Fail the pipeline when, in some window, dead
            letters exceed this ratio of the records taken in (from 0 to 1; as
            Beam's ``with_exception_handling(threshold=...)``); None never fails.
        threshold_windowing: A ``WindowFn`` the threshold counts in, instead of
            the input's windows (needed for unbounded input in the global window).
        _sleep: Deprecated: pass ``clock``.
        _clock: Deprecated: pass ``clock``.

    With :meth:`with_error_handler`, the dead letters go to a Beam
    ``ErrorHandler`` and the transform returns the receipts only; otherwise it
    returns a :class:`WriteResult`.
    """

    def __init__(self, service: Service, *, region_name: Optional[str] = None,
                 endpoint_url: Optional[str] = None, profile_name: Optional[str] = None,
                 boto_config: Any = None, client: Optional[ClientConfig] = None,
                 client_factory: Optional[Callable[[], Any]] = None,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 max_buffering_seconds: Optional[float] = None,
                 batching: Optional[BatchingConfig] = None,
                 retry: Optional[RetryConfig] = None, fail_fast: bool = False,
                 adaptive_concurrency: Optional[bool] = None,
                 max_requests_per_second: Optional[float] = None,
                 max_records_per_second: Optional[float] = None,
                 sending: Optional[SendingConfig] = None,
                 clock: Optional[Clock] = None, receipts: str = "per_record",
                 dead_letter_threshold: Optional[float] = None,
                 threshold_windowing: Optional[WindowFn] = None,
                 _sleep: Optional[Callable[[float], None]] = None,
                 _clock: Optional[Callable[[], float]] = None) -> None:
        super().__init__()
        if not isinstance(service, Service):
            raise ValueError("service must be a Service, got %r" % (service,))
        positive_int("max_in_flight", max_in_flight)
        if not isinstance(fail_fast, bool):
            raise ValueError("fail_fast must be a bool, got %r" % (fail_fast,))
        if receipts not in RECEIPTS:
            raise ValueError("receipts must be one of %s, got %r"
                             % (", ".join(map(repr, RECEIPTS)), receipts))
        if clock is not None and not isinstance(clock, Clock):
            raise ValueError("clock must be a beam_batchput.core.clock.Clock, got %r" % (clock,))
        validate_threshold(dead_letter_threshold, threshold_windowing)
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
        if _sleep is not None or _clock is not None:
            warnings.warn("_sleep and _clock are deprecated; pass clock=Clock subclass",
                          DeprecationWarning, stacklevel=2)
            clock = CallableClock(clock or SYSTEM_CLOCK, sleep=_sleep, wall=_clock)
        if clock is not None:
            service = copy.copy(service)
            service.clock = clock
        loose_sending = dict(adaptive_concurrency=adaptive_concurrency,
                             max_requests_per_second=max_requests_per_second,
                             max_records_per_second=max_records_per_second)
        given = {k: v for k, v in loose_sending.items() if v is not None}
        if sending is not None and given:
            raise ValueError("sending=%r cannot be combined with %s"
                             % (sending, ", ".join(sorted(given))))
        self._sending = sending or SendingConfig(**given)
        self._service = service
        self._clock = clock or SYSTEM_CLOCK
        # Shown as display data; None when a custom factory builds the client.
        self._client_config = None if client_factory else client
        self._client_factory = client_factory or ClientFactory(client, service.name)
        self._batching = batching
        self._retry = retry or RetryConfig()
        self._max_in_flight = max_in_flight
        self._fail_fast = fail_fast
        self._receipts = receipts
        self._dead_letter_threshold = dead_letter_threshold
        self._threshold_windowing = threshold_windowing
        self._error_handler: Optional[ErrorHandler] = None

    def with_error_handler(self, error_handler: Optional[ErrorHandler]) -> "AwsBatchWrite":
        """This writer with its dead letters going to ``error_handler``.

        As ``ParDo.with_error_handler``: the dead letters (:class:`DeadLetter`)
        are added to the handler, which applies its consumer when closed, and
        the transform then returns the receipts only. The pipeline refuses to
        run while the handler is left unclosed. ``None`` returns the writer
        unchanged (dead letters in ``WriteResult.failed``).

        Args:
            error_handler: An ``apache_beam.transforms.error_handling.ErrorHandler``
                (or ``CollectingErrorHandler``), or None.
        """
        if error_handler is None:
            return self
        if not isinstance(error_handler, ErrorHandler):
            raise ValueError("error_handler must be an apache_beam ErrorHandler, got %r"
                             % (error_handler,))
        writer = copy.copy(self)
        writer._error_handler = error_handler
        return writer

    def display_data(self) -> Dict[str, Any]:
        return display_items(self._service.name, self._service.operation, self._client_config,
                             self._batching, self._retry, self._max_in_flight, self._fail_fast,
                             self._dead_letter_threshold, self._threshold_windowing,
                             self._sending)

    def _finish(self, records: beam.PCollection, written: beam.PCollection,
                failed: beam.PCollection) -> Any:
        """The threshold check and the error handler, then the outputs."""
        if self._dead_letter_threshold is not None:
            check_threshold(records, failed, self._service.name, self._dead_letter_threshold,
                            self._threshold_windowing)
        if self._error_handler is not None:
            self._error_handler.add_error_pcollection(failed)
            return written
        return WriteResult(written, failed)

    def _state_tag(self, records: beam.PCollection) -> str:
        """A short tag unique to this application of the transform, stable across runs.

        Implementation note: the service, the label and how many writers of
        that service and label this pipeline had before: two identical
        writers get tags of their own, and the same pipeline code gives the
        same tags on every run (as a streaming update needs).
        """
        applied = _APPLIED.setdefault(records.pipeline, collections.Counter())
        key = "%s|%s" % (self._service.name, self.label)
        number = applied[key]
        applied[key] += 1
        return "%08x" % zlib.crc32(("%s|%d" % (key, number)).encode("utf-8"))

    def expand(self, records: beam.PCollection) -> Any:
        service = self._service
        log_interval = 0.0 if records.is_bounded else _STREAMING_LOG_INTERVAL_SECONDS
        max_buffered = self._batching.max_buffered_records or service.limits.default_buffered_records
        prepared = records | "Prepare" >> beam.ParDo(
            PrepareFn(service, self._batching.num_shards or service.default_num_shards,
                      service.limits.max_items, self._clock, log_interval)
        ).with_output_types(
                typing.Tuple[typing.Tuple[str, int], typing.Tuple[int, bytes]]
        ).with_outputs(FAILED, main="items")
        # Prism loses state of stateful steps whose bundles it splits: see
        # _runner_support.keep_bundles_whole.
        _runner_support.keep_bundles_whole(records)
        tag = self._state_tag(records)
        batch_fn = batch_fn_class(bool(records.is_bounded), tag,
                                  TimeDomain.REAL_TIME if records.is_bounded else
                                  _runner_support.buffering_time_domain(records, self.label))
        requests = prepared["items"] | "Batch" >> beam.ParDo(
            batch_fn(service, max_buffered, self._batching.max_buffering_seconds, self._clock))
        sent = requests | "Send" >> beam.ParDo(SendFn(
            service, self._client_factory, self._retry, self._max_in_flight, self._fail_fast,
            self._clock, receipts=self._receipts == "per_record", sending=self._sending,
            caps_key=tag, log_interval_seconds=log_interval)
        ).with_output_types(Receipt).with_outputs(FAILED, main="written")
        written = sent["written"]
        failed = ((prepared[FAILED], sent[FAILED])
                  | "DeadLetters" >> beam.Flatten().with_output_types(DeadLetter))
        return self._finish(records, written, failed)
