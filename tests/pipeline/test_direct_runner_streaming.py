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
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.testing import test_stream
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.window import IntervalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from beam_batchput import WriteToSiteWise
from beam_batchput.core import _runner_support
from beam_batchput.emulator import Emulator

OFFLINE = ["--streaming", "--prism_location=/nonexistent/beam-batchput-test/prism"]


def _power(t):
    return {"property_alias": "/farm/t%d/power" % (int(t * 4) % 3), "value": float(t),
            "timestamp": t}


def _ticks(pipeline, seconds, interval=0.25, start=None):
    start = time.time() if start is None else start
    return (pipeline
            | PeriodicImpulse(start_timestamp=start, stop_timestamp=start + seconds,
                              fire_interval=interval)
            | beam.Map(_power))


class _OneTickABundle(beam.DoFn, beam.transforms.core.RestrictionProvider):
    """An unbounded splittable source of ``count`` ticks ``interval`` seconds apart in
    event time, one a bundle, its watermark at the last tick: the watermark moves
    the same way however fast the machine is, unlike ``PeriodicImpulse``'s, which
    jumps over every tick that came due while the machine was busy."""

    def __init__(self, start, count, interval):
        self._start, self._count, self._interval = start, count, interval

    def initial_restriction(self, element):
        return OffsetRange(0, self._count)

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return restriction.size()

    @beam.DoFn.unbounded_per_element()
    def process(self, element, tracker=beam.DoFn.RestrictionParam(),
                watermark=beam.DoFn.WatermarkEstimatorParam(
                    ManualWatermarkEstimator.default_provider())):
        index = tracker.current_restriction().start
        if not tracker.try_claim(index):
            return
        tick = self._start + index * self._interval
        watermark.set_watermark(Timestamp.of(tick))
        yield TimestampedValue(tick, tick)
        tracker.defer_remainder()


def _write_on_the_default_direct_runner(ticks, tmp_path, monkeypatch):
    """Runs ``ticks(pipeline)`` into WriteToSiteWise (0.5 s buffering bound) offline
    on the default DirectRunner; returns its result, the stored values and the requests."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no cached Prism binary either
    with Emulator() as emulator:
        pipeline = beam.Pipeline(options=PipelineOptions(OFFLINE))
        _ = ticks(pipeline) | WriteToSiteWise(
            region_name="us-east-1", endpoint_url=emulator.endpoint_url,
            max_buffering_seconds=0.5)
        result = pipeline.run()
        result.wait_until_finish()
        stored = emulator.snapshot()["iotsitewise"].get("values", {})
        requests = emulator.requests()
    # The portable engine ran it (the bundle-based engine cannot run splittable sources).
    assert "fn_api_runner" in type(result).__module__
    return stored, requests


def test_periodic_impulse_into_a_writer_runs_on_the_default_direct_runner(
        emulator_credentials, tmp_path, monkeypatch):
    # Ticks of the last 3 s: all due at once, so the run takes no wall-clock time
    # and does not depend on how the machine spreads them.
    stored, _ = _write_on_the_default_direct_runner(
        lambda pipeline: _ticks(pipeline, 3.0, start=time.time() - 3.0), tmp_path, monkeypatch)
    assert sum(len(rows) for rows in stored.values()) == 12, stored


def test_partial_batches_go_out_as_the_watermark_passes_the_buffering_bound(
        emulator_credentials, tmp_path, monkeypatch):
    start = time.time()
    stored, requests = _write_on_the_default_direct_runner(
        lambda pipeline: (pipeline | beam.Impulse()
                          | beam.ParDo(_OneTickABundle(start, 12, 0.25)) | beam.Map(_power)),
        tmp_path, monkeypatch)
    assert sum(len(rows) for rows in stored.values()) == 12, stored
    # Event time 0.5 s a batch over 2.75 s of ticks: several partial batches, each
    # sent once the watermark passed its first tick plus the bound, not all at the end.
    assert len(requests) > len(stored), requests


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
