"""Beam's own conventions: error handlers, the dead-letter threshold, display data,
lineage and the volume of the writers' logs."""

from __future__ import annotations

import logging
import time

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import Lineage
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.error_handling import CollectingErrorHandler, ErrorHandler
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from beam_batchput import (
    BatchingConfig,
    DeadLetterThresholdExceeded,
    WriteToIoTEvents,
    WriteToSiteWise,
)
from tests import fakes
from tests.beam_helpers import pipeline
from tests.clocks import FakeClock

NOW = int(time.time())
MISSING = "/native/missing"


def points(aliases, count, start=0):
    return [{"property_alias": alias, "value": float(n), "timestamp": NOW - 600 + n}
            for alias in aliases for n in range(start, start + count)]


def sitewise(name, missing=(MISSING,), **kwargs):
    """A SiteWise writer on a fake that refuses the ``missing`` aliases' points."""
    fakes.reset(name)
    plan = {alias: ["ResourceNotFoundException"] * 1000 for alias in missing}
    return WriteToSiteWise(client_factory=fakes.FakeClientFactory(
        name, fakes.SiteWiseEntryErrors(plan)), clock=FakeClock(NOW), **kwargs)


def letter_keys(letters):
    return letters | "Keys" >> beam.Map(lambda d: (d.resource, d.stage, d.error_code))


class _AssertDeadLetters(beam.PTransform):
    """An error handler's consumer: asserts what reached it."""

    def __init__(self, expected):
        super().__init__()
        self._expected = expected

    def expand(self, letters):
        assert_that(letter_keys(letters), equal_to(self._expected), label="CheckHandled")
        return letters


# ---- error handlers

def test_error_handler_consumes_the_dead_letters_and_the_writer_returns_receipts():
    good = points(["/native/a", "/native/b"], 5)
    bad = points([MISSING], 2) + [{"property_alias": "/native/a", "value": 5e12,
                                   "timestamp": NOW}]
    with pipeline() as p:
        with ErrorHandler(_AssertDeadLetters(
                [(MISSING, "entry", "ResourceNotFoundException")] * 2
                + [("/native/a", "validation", "ValueOutOfRange")])) as handler:
            written = (p | beam.Create(good + bad)
                       | sitewise("handler").with_error_handler(handler))
        assert isinstance(written, beam.PCollection)
        assert_that(written | beam.Map(lambda r: r.resource) | beam.combiners.Count.PerElement(),
                    equal_to([("/native/a", 5), ("/native/b", 5)]), label="CheckWritten")


def test_collecting_error_handler_gathers_two_writers_dead_letters():
    with pipeline() as p:
        with CollectingErrorHandler() as handler:
            points_written = (p | "Points" >> beam.Create(points(["/native/a", MISSING], 3))
                              | "SiteWise" >> sitewise("collect").with_error_handler(handler))
            messages_written = (
                p | "Messages" >> beam.Create([{"input_name": "in", "payload": "{}"},
                                               {"input_name": "", "payload": "{}"}])
                | "IoTEvents" >> WriteToIoTEvents(client_factory=fakes.FakeClientFactory(
                    "collect-events", lambda m, k, n: {"BatchPutMessageErrorEntries": []}))
                .with_error_handler(handler))
        assert_that(points_written | "CountPoints" >> beam.combiners.Count.Globally(),
                    equal_to([3]), label="CheckPoints")
        assert_that(messages_written | "CountMessages" >> beam.combiners.Count.Globally(),
                    equal_to([1]), label="CheckMessages")
        assert_that(handler.output() | beam.Map(lambda d: (d.service, d.stage)),
                    equal_to([("iotsitewise", "entry")] * 3
                             + [("iotevents-data", "validation")]), label="CheckCollected")


def test_an_unclosed_error_handler_refuses_to_run():
    p = pipeline()
    handler = ErrorHandler(beam.Map(print))
    _ = p | beam.Create(points([MISSING], 1)) | sitewise("unclosed").with_error_handler(handler)
    with pytest.raises(RuntimeError, match="Unclosed error handler"):
        p.run()
    assert fakes.calls("unclosed") == []


def test_a_collecting_handler_whose_output_is_not_read_refuses_to_run():
    p = pipeline()
    with CollectingErrorHandler() as handler:
        _ = p | beam.Create(points([MISSING], 1)) | sitewise("unread").with_error_handler(handler)
    with pytest.raises(RuntimeError, match="requires the output to be retrieved"):
        p.run()


def test_without_a_handler_the_result_keeps_written_and_failed():
    writer = sitewise("no-handler")
    assert writer.with_error_handler(None) is writer
    with pipeline() as p:
        result = p | beam.Create(points(["/native/a", MISSING], 2)) | writer
        assert_that(result.written | beam.combiners.Count.Globally(), equal_to([2]),
                    label="CheckWritten")
        assert_that(letter_keys(result.failed),
                    equal_to([(MISSING, "entry", "ResourceNotFoundException")] * 2),
                    label="CheckFailed")


def test_with_error_handler_refuses_what_is_not_an_error_handler():
    with pytest.raises(ValueError, match="error_handler must be an apache_beam ErrorHandler"):
        WriteToSiteWise().with_error_handler(beam.Map(print))


# ---- the dead-letter threshold

def test_threshold_fails_the_pipeline_when_dead_letters_outweigh_it():
    # 4 of 10 records refused, 0.25 allowed: the run fails, naming the counts.
    data = points(["/native/a"], 6) + points([MISSING], 4)
    p = pipeline()
    _ = p | beam.Create(data) | sitewise("trip", dead_letter_threshold=0.25)
    with pytest.raises(Exception, match=r"4 of 10 records dead-lettered.*0\.25") as raised:
        p.run().wait_until_finish()
    assert "DeadLetterThresholdExceeded" in repr(raised.value) or isinstance(
        raised.value, DeadLetterThresholdExceeded)


def test_threshold_lets_the_pipeline_succeed_at_or_under_the_ratio():
    data = points(["/native/a"], 6) + points([MISSING], 4)
    with pipeline() as p:
        result = p | beam.Create(data) | sitewise("no-trip", dead_letter_threshold=0.4)
        assert_that(result.failed | beam.combiners.Count.Globally(), equal_to([4]))


def test_threshold_judges_each_window_of_its_windowing():
    # Window [0, 60): 1 of 10 refused; window [60, 120): 5 of 5. Judged together
    # (0.4) the input passes a 0.5 threshold; judged per minute it fails.
    def at(event_seconds, alias, count):
        return [TimestampedValue(dict(r, timestamp=NOW - 600), event_seconds)
                for r in points([alias], count)]

    stamped = at(10, "/native/a", 9) + at(10, MISSING, 1) + at(70, MISSING, 5)
    with pipeline() as p:
        _ = (p | "Together" >> beam.Create(stamped)
             | "Whole" >> sitewise("whole", dead_letter_threshold=0.5))
    p = pipeline()
    _ = (p | "PerMinute" >> beam.Create(stamped)
         | sitewise("windowed", dead_letter_threshold=0.5,
                    threshold_windowing=FixedWindows(60)))
    with pytest.raises(Exception, match=r"5 of 5 records dead-lettered in window \[60"):
        p.run().wait_until_finish()


@pytest.mark.parametrize("kwargs,message", [
    (dict(dead_letter_threshold=1.5), "dead_letter_threshold must be None or a ratio"),
    (dict(dead_letter_threshold="0.1"), "dead_letter_threshold must be None or a ratio"),
    (dict(dead_letter_threshold=True), "dead_letter_threshold must be None or a ratio"),
    (dict(dead_letter_threshold=0.1, threshold_windowing=60), "threshold_windowing must be"),
    (dict(threshold_windowing=FixedWindows(60)), "needs a dead_letter_threshold"),
])
def test_bad_threshold_settings_are_refused_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WriteToSiteWise(**kwargs)


# ---- display data and lineage

def _display_data_of(proto, label_part):
    """key -> value of the display data of the transform whose label ends with label_part."""
    from apache_beam.portability.api import beam_runner_api_pb2

    for transform in proto.components.transforms.values():
        if transform.unique_name.endswith(label_part):
            items = {}
            for item in transform.display_data:
                payload = beam_runner_api_pb2.LabelledPayload.FromString(item.payload)
                items[payload.key] = payload.WhichOneof("value") and getattr(
                    payload, payload.WhichOneof("value"))
            return items
    raise AssertionError("no transform named *%s" % label_part)


def test_display_data_names_service_region_endpoint_and_settings_but_no_credentials():
    p = pipeline()
    _ = (p | beam.Create([{"input_name": "in", "payload": "{}"}])
         | "Alarms" >> WriteToIoTEvents(
             region_name="eu-west-1", endpoint_url="http://user:s3cr3t@127.0.0.1:4599",
             max_in_flight=7, max_buffering_seconds=2.5, dead_letter_threshold=0.01))
    items = _display_data_of(p.to_runner_api(), "Alarms")
    assert items["service"] == "iotevents-data"
    assert items["operation"] == "BatchPutMessage"
    assert items["region"] == "eu-west-1"
    assert items["endpoint"] == "http://127.0.0.1:4599"
    assert items["max_in_flight"] == 7
    assert items["max_buffering_seconds"] == 2.5
    assert items["max_attempts"] == 5
    assert items["dead_letter_threshold"] == 0.01
    assert items["fail_fast"] is False
    assert not any("s3cr3t" in str(v) or "user" in str(v) for v in items.values())


@pytest.mark.parametrize("receipts", ["per_record", "none"])
def test_lineage_reports_each_written_resource_with_service_and_region(emulator_free_region,
                                                                       receipts):
    p = pipeline()
    _ = (p | beam.Create(points(["/native/a", "/native/b.c", MISSING], 3))
         | sitewise("lineage-" + receipts, receipts=receipts))
    result = p.run()
    result.wait_until_finish()
    assert Lineage.query(result.metrics(), Lineage.SINK) == {
        "iotsitewise:%s./native/a" % emulator_free_region,
        "iotsitewise:%s.`/native/b.c`" % emulator_free_region}


@pytest.fixture
def emulator_free_region():
    """The Region the fake client reports: a fake has none, so lineage says so."""
    from beam_batchput.core.lineage import UNKNOWN_REGION

    return UNKNOWN_REGION


class _Meta:
    region_name = "eu-west-1"


class _ClientInRegion(fakes.FakeClient):
    meta = _Meta()


class _InRegionFactory(fakes.FakeClientFactory):
    def __call__(self):
        return _ClientInRegion(self.name, self._behaviour)


def test_lineage_names_the_region_the_client_signs_for():
    p = pipeline()
    _ = (p | beam.Create(points(["/native/a"], 2))
         | WriteToSiteWise(client_factory=_InRegionFactory("region", fakes.accept_all)))
    result = p.run()
    result.wait_until_finish()
    assert Lineage.query(result.metrics(), Lineage.SINK) == {"iotsitewise:eu-west-1./native/a"}


# ---- quiet logs

def test_many_dead_letters_log_one_warning_per_step_and_bundle_with_structured_fields(caplog):
    # 3,000 records in 30 requests, 2,000 of them refused, 1 invalid: one summary
    # from the validating step and one from the sending step, not one per request.
    # Everything is buffered to the window's end, so the sending step runs one
    # bundle (the DirectRunner gives timer output a bundle of its own).
    data = points(["/native/a"], 1000) + points([MISSING, "/native/m2"], 1000) + [
        {"property_alias": "/native/a", "value": 5e12, "timestamp": NOW}]
    caplog.set_level(logging.DEBUG, logger="beam_batchput")
    with pipeline() as p:
        result = (p | beam.Create(data)
                  | sitewise("quiet", missing=(MISSING, "/native/m2"),
                             batching=BatchingConfig(max_buffered_records=10_000)))
        assert_that(result.failed | beam.combiners.Count.Globally(), equal_to([2001]))
    ours = [r for r in caplog.records if r.name.startswith("beam_batchput")]
    warnings = [r for r in ours if r.levelno >= logging.WARNING]
    assert len(fakes.calls("quiet")) == 30
    per_request = [r for r in ours if r.levelno == logging.DEBUG
                   and r.batchput_event == "request_dead_letters"]
    assert len(per_request) >= 20 and sum(r.batchput_count for r in per_request) == 2000
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    by_count = sorted(warnings, key=lambda r: r.batchput_count)
    assert by_count[0].batchput_counts == {"validation/ValueOutOfRange": 1}
    assert by_count[1].batchput_counts == {"entry/ResourceNotFoundException": 2000}
    assert by_count[1].batchput_event == "dead_letters"
    assert by_count[1].batchput_service == "iotsitewise"
    assert by_count[1].batchput_example["resource"] in (MISSING, "/native/m2")
    assert "entry/ResourceNotFoundException 2000" in by_count[1].getMessage()


# ---- schemas other SDKs can read

@pytest.mark.parametrize("record_type", ["Receipt", "DeadLetter"])
def test_receipts_and_dead_letters_have_typed_row_schemas(record_type):
    # Opaque Python types (what postponed annotations give) cannot be decoded in Java.
    import beam_batchput
    from apache_beam.portability.api import schema_pb2

    coder = beam.coders.registry.get_coder(getattr(beam_batchput, record_type))
    assert isinstance(coder, beam.coders.RowCoder)
    types = {field.name: field.type.atomic_type for field in coder.schema.fields}
    assert types["attempts"] == schema_pb2.INT64
    assert {t for name, t in types.items() if name != "attempts"} == {schema_pb2.STRING}
