"""Beam metrics of a writer, per service and outcome."""

from __future__ import annotations

from apache_beam.metrics import Metrics

from beam_batchput.core.records import Stage
from beam_batchput.core.sender import SendOutcome

__all__ = ["WriterMetrics"]


class WriterMetrics:
    """Counters and distributions in the namespace ``beam_batchput.<service>``.

    Implementation note: Beam metric cells are bound to the bundle's thread, so
    worker threads return :class:`SendOutcome` values and the DoFn's own thread
    records them here.
    """

    def __init__(self, service_name: str) -> None:
        namespace = "beam_batchput.%s" % service_name
        self.records_in = Metrics.counter(namespace, "records_in")
        self.records_written = Metrics.counter(namespace, "records_written")
        self.dead_letters = {
            stage: Metrics.counter(namespace, "dead_letters_%s" % stage) for stage in Stage.ALL}
        self.requests_sent = Metrics.counter(namespace, "requests_sent")
        self.request_errors = Metrics.counter(namespace, "request_errors")
        self.retried_records = Metrics.counter(namespace, "retried_records")
        # Errors of a response that named no sent record the writer could place.
        self.unmatched_errors = Metrics.counter(namespace, "unmatched_errors")
        # Requests refused whole for their content and split to isolate records.
        self.split_requests = Metrics.counter(namespace, "split_requests")
        # Records refused because another record of the request has their
        # identity in the service (an IoT Events message id, a Connect value).
        self.id_collisions = Metrics.counter(namespace, "id_collisions")
        # The name Dataflow's autoscaler reads as time spent throttled.
        self.throttled_seconds = Metrics.counter(namespace, "cumulativeThrottlingSeconds")
        self.records_per_request = Metrics.distribution(namespace, "records_per_request")
        self._throttled_carry = 0.0

    def record(self, outcome: SendOutcome) -> None:
        """Adds one request's outcome."""
        self.records_written.inc(len(outcome.written))
        for settled in outcome.failed:
            self.dead_letters[settled.stage].inc()
        self.requests_sent.inc(outcome.requests)
        self.request_errors.inc(outcome.request_errors)
        self.retried_records.inc(outcome.retried_items)
        if outcome.unmatched_errors:
            self.unmatched_errors.inc(outcome.unmatched_errors)
        if outcome.split_requests:
            self.split_requests.inc(outcome.split_requests)
        if outcome.collisions:
            self.id_collisions.inc(outcome.collisions)
        if outcome.throttled_seconds:
            # Counters take integers: carry the fraction to the next outcome.
            self._throttled_carry += outcome.throttled_seconds
            whole = int(self._throttled_carry)
            if whole:
                self.throttled_seconds.inc(whole)
                self._throttled_carry -= whole
        for count in outcome.items_per_request:
            self.records_per_request.update(count)
