"""Runner detection: where a writer's pipeline may run on Prism (its bundles kept whole), which
time domain bounds a streaming writer's partial batches, and which pipelines are refused."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner, DirectRunner
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.portability.flink_runner import FlinkRunner
from apache_beam.runners.portability.portable_runner import PortableRunner
from apache_beam.runners.portability.prism_runner import PrismRunner
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.window import GlobalWindow, IntervalWindow
from apache_beam.utils.timestamp import Timestamp

from beam_batchput.core import _runner_support as support

EXPERIMENT = "prism_disable_sdf_split"


def _pipeline(runner=None, streaming: bool = True) -> beam.Pipeline:
    options = PipelineOptions(flags=[], streaming=streaming)
    return beam.Pipeline(runner=runner, options=options) if runner else beam.Pipeline(
        options=options)


def _experiments(p: beam.Pipeline) -> list:
    return p.options.view_as(DebugOptions).experiments or []


@pytest.mark.parametrize("runner, kind", [
    (None, "direct"),  # the default: the DirectRunner, which switches engines
    (DirectRunner(), "direct"),
    (BundleBasedDirectRunner(), "bundle"),
    (FnApiRunner(), "other"),
    (PrismRunner(), "other"),
    (PortableRunner(), "other"),
])
def test_the_runner_kind_tells_the_direct_runner_and_its_bundle_engine_apart(runner, kind):
    p = _pipeline(runner)
    assert support._runner_kind(p | beam.Create([1])) == kind


@pytest.mark.parametrize("runner, may", [
    (None, True),
    (DirectRunner(), True),
    (PrismRunner(), True),
    (PortableRunner(), True),  # a job service that may be Prism's
    (FlinkRunner(), False),  # a portable runner of another engine
    (BundleBasedDirectRunner(), False),
    (FnApiRunner(), False),
])
def test_bundles_are_kept_whole_only_where_the_pipeline_may_run_on_prism(runner, may):
    p = _pipeline(runner)
    records = p | beam.Create([1])
    assert support.keep_bundles_whole(records) is may
    assert (EXPERIMENT in _experiments(p)) is may
    if may:  # a second writer asks again: still once
        assert support.keep_bundles_whole(records) is True
        assert _experiments(p).count(EXPERIMENT) == 1


def test_a_pipeline_without_options_is_left_alone():
    p = _pipeline()
    records = p | beam.Create([1])
    p._options = None
    assert support.keep_bundles_whole(records) is False


def test_every_transform_upstream_is_found_once_through_a_diamond():
    p = _pipeline(FnApiRunner())
    source = p | "Source" >> beam.Create([1])
    left = source | "Left" >> beam.Map(lambda x: x)
    right = source | "Right" >> beam.Map(lambda x: x)
    merged = (left, right) | "Merge" >> beam.Flatten()
    labels = [applied.full_label for applied in support._upstream(merged)]
    assert sorted(labels) == sorted(set(labels))
    assert {"Merge", "Left", "Right"} <= set(labels)
    assert any(label.startswith("Source") for label in labels)
    assert len([label for label in labels if label in ("Left", "Right")]) == 2


def test_only_a_test_stream_is_a_test_stream():
    assert support._is_test_stream(TestStream()) is True
    assert support._is_test_stream(beam.Map(lambda x: x)) is False


def _splittable(p: beam.Pipeline):
    impulses = p | PeriodicImpulse(fire_interval=1.0)
    return [applied.transform for applied in support._upstream(impulses)]


def test_a_periodic_impulse_is_an_unbounded_splittable_source_and_a_map_is_not():
    found = [t for t in _splittable(_pipeline(FnApiRunner()))
             if support._is_unbounded_splittable(t)]
    assert len(found) == 1 and isinstance(found[0], beam.ParDo)
    assert support._is_unbounded_splittable(beam.Map(lambda x: x)) is False
    assert support._is_unbounded_splittable(beam.Create([1])) is False


class _Offsets(beam.transforms.core.RestrictionProvider):
    def initial_restriction(self, element):
        return OffsetRange(0, element)

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return restriction.size()


class _BoundedSplittable(beam.DoFn):
    def process(self, element, tracker=beam.DoFn.RestrictionParam(_Offsets())):
        position = tracker.current_restriction().start
        while tracker.try_claim(position):
            yield position
            position += 1


def test_a_bounded_splittable_source_is_not_an_unbounded_one():
    assert support._is_unbounded_splittable(beam.ParDo(_BoundedSplittable())) is False


def test_a_runner_that_is_not_the_direct_runner_bounds_batches_in_processing_time():
    for runner in (FnApiRunner(), PrismRunner(), FlinkRunner()):
        p = _pipeline(runner)
        records = p | PeriodicImpulse(fire_interval=1.0)
        assert support.buffering_time_domain(records, "W") == TimeDomain.REAL_TIME


def test_the_direct_runner_without_a_test_stream_bounds_batches_in_event_time():
    p = _pipeline()
    records = p | PeriodicImpulse(fire_interval=1.0)
    assert support.buffering_time_domain(records, "W") == TimeDomain.WATERMARK
    assert support.buffering_time_domain(_pipeline() | beam.Create([1]), "W") == \
        TimeDomain.WATERMARK


def test_the_direct_runner_with_a_test_stream_bounds_batches_in_processing_time():
    p = _pipeline()
    records = p | TestStream().add_elements([1]) | beam.Map(lambda x: x)
    assert support.buffering_time_domain(records, "W") == TimeDomain.REAL_TIME


def test_the_bundle_engine_without_splittable_sources_bounds_batches_in_processing_time():
    p = _pipeline(BundleBasedDirectRunner())
    assert support.buffering_time_domain(p | beam.Create([1]), "W") == TimeDomain.REAL_TIME


def test_a_test_stream_beside_a_splittable_source_is_refused_naming_the_writer_and_cause():
    p = _pipeline()
    stream = p | TestStream().add_elements([1])
    impulses = p | PeriodicImpulse(fire_interval=1.0)
    both = (stream, impulses) | beam.Flatten()
    with pytest.raises(ValueError) as raised:
        support.buffering_time_domain(both, "WriteToSiteWise")
    assert str(raised.value) == (
        "WriteToSiteWise cannot run here: a TestStream makes the DirectRunner use its "
        "bundle-based engine, which cannot run splittable unbounded sources such as "
        "ImpulseSeqGenDoFn; run the pipeline with --runner=FnApiRunner (or the default "
        "DirectRunner, without TestStream) instead")


def test_the_bundle_engine_asked_for_with_a_splittable_source_is_refused():
    p = _pipeline(BundleBasedDirectRunner())
    records = p | PeriodicImpulse(fire_interval=1.0)
    with pytest.raises(ValueError, match="^W cannot run here: the BundleBasedDirectRunner was "
                                         "asked for, which cannot run splittable unbounded "
                                         "sources such as ImpulseSeqGenDoFn"):
        support.buffering_time_domain(records, "W")


def test_a_processing_time_deadline_is_the_bound_from_now():
    deadline = support.buffering_deadline(TimeDomain.REAL_TIME, lambda: 1000.5, 2.0,
                                          Timestamp(5), GlobalWindow())
    assert deadline == Timestamp(1002.5)


def test_an_event_time_deadline_is_the_bound_after_the_record_within_its_window():
    window = IntervalWindow(0, 60)
    assert support.buffering_deadline(TimeDomain.WATERMARK, lambda: 1e9, 5.0, Timestamp(10),
                                      window) == Timestamp(15)
    # Past the window's end, the window's last instant.
    assert support.buffering_deadline(TimeDomain.WATERMARK, lambda: 1e9, 5.0, Timestamp(58),
                                      window) == window.max_timestamp()
