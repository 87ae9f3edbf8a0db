"""A writer's Beam metrics: the documented names in ``beam_batchput.<service>``, and what one
request's outcome adds to each (throttled seconds carried until whole)."""

import pytest
from apache_beam.metrics.execution import MetricsContainer
from apache_beam.metrics.metricbase import MetricName
from apache_beam.runners.worker import statesampler
from apache_beam.utils import counters

from beam_batchput import Stage
from beam_batchput.core.metrics import WriterMetrics
from beam_batchput.core.sender import SendOutcome, Settled

NAMESPACE = "beam_batchput.iotsitewise"


@pytest.fixture
def container():
    """The metrics container of a step, current on this thread as in a bundle."""
    container = MetricsContainer("write")
    sampler = statesampler.StateSampler("stage", counters.CounterFactory())
    statesampler.set_current_tracker(sampler)
    state = sampler.scoped_state("write", "process", metrics_container=container)
    sampler.start()
    try:
        with state:
            yield container
    finally:
        sampler.stop()
        statesampler.set_current_tracker(None)


def _counter(container, name):
    return container.get_counter(MetricName(NAMESPACE, name)).get_cumulative()


def _distribution(container, name):
    data = container.get_distribution(MetricName(NAMESPACE, name)).get_cumulative()
    return data.sum, data.count, data.min, data.max


def _settled(stage):
    return Settled(object(), 1, "Code", "message", stage)


def test_one_outcome_adds_to_each_documented_metric(container):
    metrics = WriterMetrics("iotsitewise")
    metrics.records_in.inc(9)
    metrics.in_flight_limit.set(4)
    outcome = SendOutcome(
        written=[_settled(None)] * 5,
        failed=[_settled(Stage.ENTRY)] * 2 + [_settled(Stage.RETRIES_EXHAUSTED)],
        requests=3, items_per_request=[4, 2, 1], retried_items=6, request_errors=1,
        throttled_seconds=1.25, unmatched_errors=2, split_requests=1, collisions=1,
        throttled_requests=2, throttled_items=7, latencies=[0.05, 0.2], bytes_sent=1234)
    metrics.record(outcome)
    assert {name: _counter(container, name) for name in (
        "records_in", "records_written", "dead_letters_entry", "dead_letters_retries_exhausted",
        "dead_letters_validation", "dead_letters_request", "requests_sent", "request_errors",
        "retried_records", "unmatched_errors", "split_requests", "id_collisions",
        "cumulativeThrottlingSeconds", "throttled_requests", "throttled_records",
        "bytes_sent")} == {
        "records_in": 9, "records_written": 5, "dead_letters_entry": 2,
        "dead_letters_retries_exhausted": 1, "dead_letters_validation": 0,
        "dead_letters_request": 0, "requests_sent": 3, "request_errors": 1,
        "retried_records": 6, "unmatched_errors": 2, "split_requests": 1, "id_collisions": 1,
        "cumulativeThrottlingSeconds": 1, "throttled_requests": 2, "throttled_records": 7,
        "bytes_sent": 1234}
    assert _distribution(container, "records_per_request") == (7, 3, 1, 4)
    assert _distribution(container, "request_latency_ms") == (250, 2, 50, 200)
    gauge = container.get_gauge(MetricName(NAMESPACE, "requests_in_flight_limit"))
    assert gauge.get_cumulative().value == 4
    # The quarter second carried: three more quarters make the next whole second.
    metrics.record(SendOutcome(throttled_seconds=0.75))
    assert _counter(container, "cumulativeThrottlingSeconds") == 2
