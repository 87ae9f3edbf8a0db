"""WriteToSiteWise in pipelines: both outputs asserted, batch and streaming."""

import json
import time

import apache_beam as beam
import pytest
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from beam_batchput import BatchingConfig, DeadLetter, Receipt, WriteToSiteWise
from tests import fakes
from tests.beam_helpers import pipeline
from tests.clocks import FakeClock

NOW = int(time.time())


def tqv(alias, n, **extra):
    record = {"property_alias": alias, "value": float(n), "timestamp": NOW - 600 + n}
    record.update(extra)
    return record


def receipt_ids(pcoll, label):
    return pcoll | label >> beam.Map(lambda r: r.item_id)


def failure_keys(pcoll, label):
    return pcoll | label >> beam.Map(
        lambda d: (json.loads(d.record)["property_alias"], d.stage, d.error_code))


def expected_id(alias, n):
    return "%s@%d.%09d" % (alias, NOW - 600 + n, 0)


def test_batch_writes_valid_records_and_dead_letters_the_rest():
    fakes.reset("batch")
    plan = {"/t/1": ["ThrottlingException"], "/t/missing": ["ResourceNotFoundException"]}
    records = [tqv("/t/%d" % p, n) for p in range(4) for n in range(15)]
    records += [tqv("/t/missing", 0), tqv("/t/bad", 0, value=1e11), {"value": 1}]
    with pipeline() as p:
        result = (p | beam.Create(records)
                  | WriteToSiteWise(client_factory=fakes.FakeClientFactory(
                      "batch", fakes.SiteWiseEntryErrors(plan)), clock=FakeClock(NOW)))
        assert_that(receipt_ids(result.written, "ids"),
                    equal_to([expected_id("/t/%d" % p, n) for p in range(4) for n in range(15)]),
                    label="written")
        assert_that(result.failed | beam.Map(lambda d: (d.stage, d.error_code)),
                    equal_to([("entry", "ResourceNotFoundException"),
                              ("validation", "ValueOutOfRange"),
                              ("validation", "MissingField")]), label="failed")
    calls = fakes.calls("batch")
    sent_points = sum(len(e["propertyValues"]) for c in calls for e in c["kwargs"]["entries"])
    # 61 valid points sent once, plus the throttled alias's 10-point entry... its points once more.
    throttled = [e for c in calls[:-1] for e in c["kwargs"]["entries"] if e["propertyAlias"] == "/t/1"]
    assert sent_points == 61 + len(throttled[0]["propertyValues"])


def test_dead_letters_are_schema_records_with_the_original_record():
    fakes.reset("schema")
    with pipeline() as p:
        result = (p | beam.Create([tqv("/t/x", 1, quality="MEDIUM")])
                  | WriteToSiteWise(client_factory=fakes.FakeClientFactory("schema", fakes.accept_all)))
        assert_that(result.failed | beam.Map(lambda d: (type(d).__name__, json.loads(d.record),
                                                         d.service, d.attempts)),
                    equal_to([("DeadLetter", tqv("/t/x", 1, quality="MEDIUM"), "iotsitewise", 0)]))
    assert result.failed.element_type is DeadLetter
    assert result.written.element_type is Receipt
    assert fakes.calls("schema") == []


def test_batches_never_mix_windows_and_outputs_keep_their_windows():
    fakes.reset("windows")
    records = [window.TimestampedValue(tqv("/w/%d" % (n % 3), n), n) for n in range(120)]
    with pipeline() as p:
        result = (p | beam.Create(records) | beam.WindowInto(window.FixedWindows(60))
                  | WriteToSiteWise(client_factory=fakes.FakeClientFactory("windows", fakes.accept_all)))
        starts = result.written | beam.Map(
            lambda r, w=beam.DoFn.WindowParam: (int(w.start), json.loads(r.record)["value"] // 60))
        assert_that(starts | beam.Map(lambda pair: pair[0] // 60 == pair[1]),
                    equal_to([True] * 120), label="windows kept")
    for call in fakes.calls("windows"):
        minutes = {(v["timestamp"]["timeInSeconds"] - (NOW - 600)) // 60
                   for e in call["kwargs"]["entries"] for v in e["propertyValues"]}
        assert len(minutes) == 1, minutes


def test_fail_fast_raises_on_a_fatal_request_error():
    with pytest.raises(Exception, match="AccessDeniedException"):
        with pipeline() as p:
            _ = (p | beam.Create([tqv("/t/1", 1)])
                 | WriteToSiteWise(fail_fast=True, client_factory=fakes.FakeClientFactory(
                     "fast", fakes.RaisingClient("AccessDeniedException", 403))))


def test_by_default_a_fatal_request_error_dead_letters_the_batch():
    with pipeline() as p:
        result = (p | beam.Create([tqv("/t/%d" % n, n) for n in range(5)])
                  | WriteToSiteWise(client_factory=fakes.FakeClientFactory(
                      "denied", fakes.RaisingClient("AccessDeniedException", 403))))
        assert_that(result.failed | beam.Map(lambda d: (d.stage, d.error_code, d.attempts)),
                    equal_to([("request", "AccessDeniedException", 1)] * 5), label="failed")
        assert_that(result.written, equal_to([]), label="written")


def test_streaming_partial_batch_is_flushed_by_the_time_bound():
    fakes.reset("stream")
    # The clock's wall time is the processing time TestStream starts at.
    stream = (TestStream()
              .advance_processing_time(NOW)
              .advance_watermark_to(0)
              .add_elements([window.TimestampedValue(tqv("/s/%d" % n, n), 10) for n in range(7)])
              .advance_processing_time(6)      # past the 5 s buffering bound
              .add_elements([window.TimestampedValue(tqv("/s/late", 1), 20)])
              .advance_processing_time(6)
              .advance_watermark_to_infinity())
    with pipeline(streaming=True) as p:
        result = (p | stream | beam.WindowInto(window.FixedWindows(3600))
                  | WriteToSiteWise(batching=BatchingConfig(max_buffering_seconds=5.0, num_shards=1),
                                    client_factory=fakes.FakeClientFactory("stream", fakes.accept_all),
                                    clock=FakeClock(NOW)))
        assert_that(receipt_ids(result.written, "ids"),
                    equal_to([expected_id("/s/%d" % n, n) for n in range(7)]
                             + [expected_id("/s/late", 1)]), label="written")
        assert_that(result.failed, equal_to([]), label="failed")
    # Two flushes by the time bound (the window ends only at the end): 7 points, then 1.
    sizes = [sum(len(e["propertyValues"]) for e in c["kwargs"]["entries"])
             for c in fakes.calls("stream")]
    assert sizes == [7, 1]


def test_streaming_full_batches_are_sent_without_waiting():
    fakes.reset("full")
    stream = (TestStream()
              .advance_processing_time(NOW)
              .advance_watermark_to(0)
              .add_elements([window.TimestampedValue(tqv("/f/%d" % (n % 10), n), 10)
                             for n in range(100)])
              .advance_watermark_to_infinity())
    with pipeline(streaming=True) as p:
        result = (p | stream | beam.WindowInto(window.FixedWindows(3600))
                  | WriteToSiteWise(batching=BatchingConfig(max_buffered_records=100, num_shards=1),
                                    client_factory=fakes.FakeClientFactory("full", fakes.accept_all),
                                    clock=FakeClock(NOW)))
        assert_that(result.written | beam.combiners.Count.Globally().without_defaults(),
                    equal_to([100]))
    sizes = [sum(len(e["propertyValues"]) for e in c["kwargs"]["entries"])
             for c in fakes.calls("full")]
    assert sizes == [100]
