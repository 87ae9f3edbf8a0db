"""Streaming writers on the default DirectRunner, with Beam's splittable unbounded sources.

The route tested here is the offline one: Prism cannot start (``--prism_location``
names no binary, as when Beam cannot download it), so the DirectRunner falls back
to its portable engine, which runs ``PeriodicImpulse``.
"""

from __future__ import annotations

import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.testing import test_stream
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.window import IntervalWindow
from apache_beam.utils.timestamp import Timestamp

from beam_batchput import WriteToSiteWise
from beam_batchput.core import _runner_support
from beam_batchput.emulator import Emulator

OFFLINE = ["--streaming", "--prism_location=/nonexistent/beam-batchput-test/prism"]


def _ticks(pipeline, seconds, interval=0.25):
    start = time.time()
    return (pipeline
            | PeriodicImpulse(start_timestamp=start, stop_timestamp=start + seconds,
                              fire_interval=interval)
            | beam.Map(lambda t: {"property_alias": "/farm/t%d/power" % (int(t * 4) % 3),
                                  "value": float(t), "timestamp": t}))


def test_periodic_impulse_into_a_writer_runs_on_the_default_direct_runner(
        emulator_credentials, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no cached Prism binary either
    with Emulator() as emulator:
        pipeline = beam.Pipeline(options=PipelineOptions(OFFLINE))
        _ = _ticks(pipeline, 3.0) | WriteToSiteWise(
            region_name="us-east-1", endpoint_url=emulator.endpoint_url,
            max_buffering_seconds=0.5)
        result = pipeline.run()
        result.wait_until_finish()
        stored = emulator.snapshot()["iotsitewise"].get("values", {})
        requests = emulator.requests()
    # The portable engine ran it (the bundle-based engine cannot run PeriodicImpulse).
    assert "fn_api_runner" in type(result).__module__
    points = sum(len(rows) for rows in stored.values())
    assert points == 12, stored
    # Partial batches went out on the buffering bound, not all at the end.
    assert len(requests) > len(stored)


def test_domain_is_event_time_on_the_direct_runner_without_test_stream():
    pipeline = beam.Pipeline(options=PipelineOptions(["--streaming"]))
    records = _ticks(pipeline, 1.0)
    assert _runner_support.buffering_time_domain(records, "W") == TimeDomain.WATERMARK


def test_domain_stays_processing_time_with_a_test_stream():
    pipeline = beam.Pipeline(options=PipelineOptions(["--streaming"]))
    records = pipeline | test_stream.TestStream().add_elements([1]) | beam.Map(lambda x: x)
    assert _runner_support.buffering_time_domain(records, "W") == TimeDomain.REAL_TIME


def test_domain_stays_processing_time_on_other_runners():
    pipeline = beam.Pipeline(runner="FnApiRunner", options=PipelineOptions(["--streaming"]))
    assert _runner_support.buffering_time_domain(_ticks(pipeline, 1.0), "W") \
        == TimeDomain.REAL_TIME


def test_bundle_engine_with_a_splittable_source_fails_at_construction_naming_the_flag():
    pipeline = beam.Pipeline(runner=BundleBasedDirectRunner(),
                             options=PipelineOptions(["--streaming"]))
    with pytest.raises(ValueError, match=r"WriteToSiteWise cannot run here: the "
                       r"BundleBasedDirectRunner .*ImpulseSeqGenDoFn.*--runner=FnApiRunner"):
        _ = _ticks(pipeline, 1.0) | WriteToSiteWise(region_name="us-east-1")


def test_test_stream_with_a_splittable_source_fails_at_construction():
    pipeline = beam.Pipeline(options=PipelineOptions(["--streaming"]))
    both = ((_ticks(pipeline, 1.0), pipeline | test_stream.TestStream().add_elements([{}]))
            | beam.Flatten())
    with pytest.raises(ValueError, match="a TestStream makes the DirectRunner use its "
                       "bundle-based engine.*--runner=FnApiRunner"):
        _ = both | WriteToSiteWise(region_name="us-east-1")


def test_event_time_deadline_is_clamped_to_the_window_end():
    window = IntervalWindow(0, 10)
    assert _runner_support.buffering_deadline(
        TimeDomain.WATERMARK, time.time, 5, Timestamp(2), window) == Timestamp(7)
    assert _runner_support.buffering_deadline(
        TimeDomain.WATERMARK, time.time, 5, Timestamp(8), window) == window.max_timestamp()
    assert _runner_support.buffering_deadline(
        TimeDomain.REAL_TIME, lambda: 100.0, 5, Timestamp(8), window) == Timestamp(105)
