"""Settings the writers refuse, and what their display data shows of them."""

from __future__ import annotations

import pytest

from beam_batchput import SendingConfig, WriteToSiteWise
from beam_batchput.core.config import BatchingConfig, ClientConfig, RetryConfig
from beam_batchput.core.lineage import display_items
from beam_batchput.core.ratecap import RateCap
from beam_batchput.core.service import Request
from beam_batchput.core.verdict import settle_response
from beam_batchput.services.sitewise import SiteWiseService


def _display(client, sending=None):
    return display_items("iotsitewise", "BatchPutAssetPropertyValue", client, BatchingConfig(),
                         RetryConfig(), 4, False, None, None, sending)


@pytest.mark.parametrize("endpoint, shown", [
    ("https://user:secret@127.0.0.1:4599/x", "https://127.0.0.1:4599/x"),
    ("https://user:secret@example.invalid/x", "https://example.invalid/x"),
    ("https://example.invalid/x", "https://example.invalid/x"),
])
def test_display_data_drops_user_info_from_the_endpoint(endpoint, shown):
    items = _display(ClientConfig(region_name="eu-west-1", endpoint_url=endpoint))
    assert items["endpoint"] == shown
    assert "secret" not in repr(items)


def test_display_data_names_the_profile_and_the_rate_caps_that_are_set():
    items = _display(ClientConfig(region_name="eu-west-1", profile_name="writer"),
                     SendingConfig(adaptive_concurrency=False, max_requests_per_second=5.0))
    assert items["profile"] == "writer"
    assert items["adaptive_concurrency"] is False
    assert items["max_requests_per_second"] == 5.0
    assert "max_records_per_second" not in items


@pytest.mark.parametrize("name", ["max_requests_per_second", "max_records_per_second"])
@pytest.mark.parametrize("value", [0, -1.0])
def test_sending_config_refuses_a_rate_cap_that_is_not_positive(name, value):
    with pytest.raises(ValueError, match=name):
        SendingConfig(**{name: value})


def test_a_rate_cap_refuses_a_rate_that_is_not_positive():
    with pytest.raises(ValueError, match="rate must be positive"):
        RateCap(0.0)


def test_a_writer_refuses_sending_together_with_a_loose_rate_cap():
    with pytest.raises(ValueError, match="cannot be combined with max_requests_per_second"):
        WriteToSiteWise(region_name="eu-west-1", sending=SendingConfig(),
                        max_requests_per_second=1.0)


class _BrokenService(SiteWiseService):
    def failures(self, request, response):
        yield ("not", "a", "failure")


def test_a_service_reading_a_response_into_anything_else_fails_loudly():
    with pytest.raises(TypeError, match="not a Failure or Unmatched"):
        settle_response(_BrokenService(), Request(scope=(), entries=[]), {})


def test_a_send_step_torn_down_before_its_setup_does_nothing():
    # Beam may tear a DoFn down after its setup failed; that must not raise.
    from beam_batchput.core.sending import SendFn

    SendFn(SiteWiseService(), lambda: None, RetryConfig(), 1, False).teardown()


def test_split_requests_unmatched_errors_and_collisions_are_counted():
    from beam_batchput.core.metrics import WriterMetrics
    from beam_batchput.core.sender import SendOutcome

    class Tally:
        def __init__(self):
            self.total = 0

        def inc(self, n=1):
            self.total += n

    metrics = WriterMetrics("datazone")
    for name in ("split_requests", "unmatched_errors", "id_collisions"):
        setattr(metrics, name, Tally())
    metrics.record(SendOutcome(split_requests=3, unmatched_errors=2, collisions=1))
    metrics.record(SendOutcome())
    assert (metrics.split_requests.total, metrics.unmatched_errors.total,
            metrics.id_collisions.total) == (3, 2, 1)


def test_a_test_stream_reached_through_a_diamond_keeps_the_processing_time_bound():
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.test_stream import TestStream
    from apache_beam.transforms.timeutil import TimeDomain

    from beam_batchput.core import _runner_support

    p = beam.Pipeline(options=PipelineOptions(["--streaming"]))
    source = p | TestStream().add_elements([1])
    both = (source | "A" >> beam.Map(lambda x: x), source | "B" >> beam.Map(lambda x: x))
    merged = both | beam.Flatten()
    assert _runner_support.buffering_time_domain(merged, "W") == TimeDomain.REAL_TIME
