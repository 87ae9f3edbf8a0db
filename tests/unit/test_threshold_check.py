"""The dead-letter threshold's check: exactly the ratio allowed passes, one more fails,
naming the window judged; its steps keep their names."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import IntervalWindow

from beam_batchput.core.dead_letters import _CheckRatio
from beam_batchput.core.errors import DeadLetterThresholdExceeded
from beam_batchput.core.write import AwsBatchWrite
from beam_batchput.services.sitewise import SiteWiseService


def test_dead_letters_at_the_ratio_allowed_pass_and_one_more_fails_naming_the_window():
    check = _CheckRatio("iotsitewise", 0.25)
    window = IntervalWindow(60, 120)
    assert list(check.process(1, 4, window=window)) == []
    with pytest.raises(DeadLetterThresholdExceeded) as raised:
        check.process(2, 4, window=window)
    assert str(raised.value).startswith(
        "iotsitewise: 2 of 4 records dead-lettered in window %s (0.5), more than the "
        "dead_letter_threshold 0.25 allows" % (window,))
    assert (raised.value.dead_letters, raised.value.records) == (2, 4)


def test_the_threshold_steps_keep_their_names():
    p = beam.Pipeline(options=PipelineOptions(flags=[]))
    _ = p | beam.Create([{}]) | "Write" >> AwsBatchWrite(SiteWiseService(),
                                                         dead_letter_threshold=0.1)
    labels = set()

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            labels.add(node.full_label)

        def visit_transform(self, node):
            labels.add(node.full_label)

    p.visit(Visitor())
    assert {"Write/CountRecords", "Write/CountDeadLetters", "Write/CheckThreshold"} <= labels


def test_a_threshold_windowing_that_is_no_window_fn_is_refused_with_its_value():
    with pytest.raises(ValueError,
                       match="^threshold_windowing must be None or a WindowFn, got 60$"):
        AwsBatchWrite(SiteWiseService(), dead_letter_threshold=0.5, threshold_windowing=60)


def test_the_threshold_error_says_what_to_look_at_and_carries_its_numbers():
    error = DeadLetterThresholdExceeded("iotsitewise", "W", 3, 4, 0.5)
    assert str(error) == (
        "iotsitewise: 3 of 4 records dead-lettered in window W (0.75), more than the "
        "dead_letter_threshold 0.5 allows; the first dead letters say why (a wrong Region, "
        "endpoint or role fails every record alike)")
    assert (error.service, error.dead_letters, error.records, error.threshold) == (
        "iotsitewise", 3, 4, 0.5)


def test_dead_letters_in_a_window_without_records_read_as_an_infinite_ratio():
    error = DeadLetterThresholdExceeded("kinesis", "W", 2, 0, 0.1)
    assert str(error).startswith("kinesis: 2 of 0 records dead-lettered in window W (inf), ")
