"""The writer transform's construction: each argument refused by name and value, the settings
it passes on to its steps, its display data, and what a small pipeline gets out of it."""

from __future__ import annotations

import re

import botocore.config

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.error_handling import ErrorHandler
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import get_dofn_specs
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from beam_batchput.core.batching import _BatchFnBase
from beam_batchput.core.clock import Clock
from beam_batchput.core.config import BatchingConfig, ClientConfig, RetryConfig, SendingConfig
from beam_batchput.core.errors import DeadLetterThresholdExceeded
from beam_batchput.core.prepare import PrepareFn
from beam_batchput.core.records import DeadLetter, Receipt
from beam_batchput.core.sending import ClientFactory, SendFn
from beam_batchput.core.write import AwsBatchWrite, WriteResult
from beam_batchput.services.sitewise import SiteWiseService
from tests import fakes
from tests.clocks import FakeClock

NOW = 1_700_000_000
GOOD = [{"property_alias": "/w/%d" % n, "value": float(n), "timestamp": NOW} for n in range(3)]
BAD = {"property_alias": "/w/bad", "timestamp": NOW}  # no value: a validation dead letter


def _writer(**kwargs) -> AwsBatchWrite:
    return AwsBatchWrite(SiteWiseService(), **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_in_flight": 0}, "max_in_flight must be a positive integer, got 0"),
    ({"max_in_flight": True}, "max_in_flight must be a positive integer, got True"),
    ({"fail_fast": "yes"}, "fail_fast must be a bool, got 'yes'"),
    ({"receipts": "all"}, "receipts must be one of 'per_record', 'none', got 'all'"),
    ({"clock": 12.5}, "clock must be a beam_batchput.core.clock.Clock, got 12.5"),
    ({"dead_letter_threshold": 1.5}, "dead_letter_threshold must be None or a ratio from 0 to 1, "
                                     "got 1.5"),
    ({"threshold_windowing": FixedWindows(60)}, "threshold_windowing=.* needs a "
                                                "dead_letter_threshold"),
])
def test_an_argument_is_refused_naming_it_and_its_value(kwargs, message):
    with pytest.raises(ValueError, match="^%s" % message):
        _writer(**kwargs)


def test_a_service_that_is_not_a_service_is_refused_with_its_value():
    with pytest.raises(ValueError, match="^service must be a Service, got 'iotsitewise'$"):
        AwsBatchWrite("iotsitewise")


def test_a_client_config_refused_with_every_loose_client_setting_given_beside_it():
    with pytest.raises(ValueError, match=r"cannot be combined with region_name, endpoint_url, "
                                         r"profile_name, boto_config$"):
        _writer(client=ClientConfig(), region_name="eu-west-1", endpoint_url="https://e.invalid",
                profile_name="p", boto_config=botocore.config.Config())
    with pytest.raises(ValueError, match=r"cannot be combined with profile_name$"):
        _writer(client=ClientConfig(), profile_name="p")


def test_a_sending_config_refused_with_the_loose_sending_settings_given_beside_it():
    with pytest.raises(ValueError, match=r"^sending=.* cannot be combined with "
                                         r"adaptive_concurrency, max_records_per_second$"):
        _writer(sending=SendingConfig(), max_records_per_second=10.0, adaptive_concurrency=False)


def test_fail_fast_is_off_unless_asked_for():
    assert _writer()._fail_fast is False


@pytest.mark.parametrize("seams", [{"_sleep": "sleep"}, {"_clock": "wall"},
                                   {"_sleep": "sleep", "_clock": "wall"}])
def test_each_deprecated_seam_warns_and_goes_into_the_clock_over_the_given_one(seams):
    slept = []
    given = {"_sleep": slept.append, "_clock": lambda: 42.0}
    base = FakeClock(NOW)
    with pytest.warns(DeprecationWarning) as warned:
        writer = AwsBatchWrite(SiteWiseService(), clock=base,
                               **{name: given[name] for name in seams})
    assert [str(w.message) for w in warned] == [
        "_sleep and _clock are deprecated; pass clock=Clock subclass"]
    clock = writer._clock
    assert writer._service.clock is clock
    assert clock.time() == (42.0 if "_clock" in seams else NOW)
    clock.sleep(3)
    assert slept == ([3] if "_sleep" in seams else [])
    assert base.sleeps == ([] if "_sleep" in seams else [3])
    assert clock.monotonic() == base.monotonic()


def test_a_deprecated_seam_without_a_clock_falls_back_to_the_system_clock():
    import time

    with pytest.warns(DeprecationWarning):
        writer = _writer(_clock=lambda: 42.0)
    assert writer._clock.time() == 42.0
    assert abs(writer._clock.monotonic() - time.monotonic()) < 60


def test_every_valid_value_is_accepted():
    writer = _writer(max_in_flight=1, fail_fast=True, receipts="none", clock=FakeClock(NOW),
                     dead_letter_threshold=0.0, threshold_windowing=FixedWindows(60))
    assert (writer._max_in_flight, writer._fail_fast, writer._receipts) == (1, True, "none")
    assert writer._dead_letter_threshold == 0.0
    assert _writer(dead_letter_threshold=1)._dead_letter_threshold == 1


@pytest.mark.parametrize("max_in_flight, pool", [(1, 16), (16, 16), (17, 17), (40, 40)])
def test_the_default_client_has_a_connection_per_request_in_flight_and_at_least_16(
        max_in_flight, pool):
    writer = _writer(max_in_flight=max_in_flight, region_name="eu-west-1")
    assert writer._client_config == ClientConfig(region_name="eu-west-1", max_pool_connections=pool)


def test_the_loose_client_settings_make_the_client_config_and_its_factory():
    boto = botocore.config.Config(connect_timeout=3)
    writer = _writer(region_name="eu-west-1", endpoint_url="https://e.invalid", profile_name="p",
                     boto_config=boto)
    expected = ClientConfig(region_name="eu-west-1", endpoint_url="https://e.invalid",
                            profile_name="p", boto_config=boto)
    assert writer._client_config == expected
    factory = writer._client_factory
    assert isinstance(factory, ClientFactory)
    assert (factory._config, factory._service_name) == (expected, "iotsitewise")


def test_a_client_config_given_whole_is_used_as_given():
    client = ClientConfig(region_name="us-east-1", max_pool_connections=3)
    writer = _writer(client=client, max_in_flight=50)
    assert writer._client_config is client and writer._client_factory._config is client


def test_a_custom_client_factory_replaces_the_client_and_is_displayed_as_such():
    factory = fakes.FakeClientFactory("custom", fakes.accept_all)
    writer = _writer(client_factory=factory, region_name="eu-west-1")
    assert writer._client_factory is factory and writer._client_config is None
    assert writer.display_data()["client"] == "custom client factory"
    assert "region" not in writer.display_data()


def test_max_buffering_seconds_overrides_the_bound_and_keeps_the_other_batching_settings():
    writer = _writer(max_buffering_seconds=2.5,
                     batching=BatchingConfig(max_buffering_seconds=9.0, max_buffered_records=70,
                                             num_shards=3))
    assert writer._batching == BatchingConfig(max_buffering_seconds=2.5, max_buffered_records=70,
                                              num_shards=3)
    assert _writer(max_buffering_seconds=0.5)._batching == BatchingConfig(
        max_buffering_seconds=0.5)
    batching = BatchingConfig(max_buffered_records=5)
    assert _writer(batching=batching)._batching is batching
    assert _writer()._batching == BatchingConfig()


def test_the_loose_sending_settings_make_the_sending_config():
    writer = _writer(adaptive_concurrency=False, max_requests_per_second=4.0,
                     max_records_per_second=100.0)
    assert writer._sending == SendingConfig(adaptive_concurrency=False,
                                            max_requests_per_second=4.0,
                                            max_records_per_second=100.0)
    assert _writer()._sending == SendingConfig()
    sending = SendingConfig(max_requests_per_second=1.0)
    assert _writer(sending=sending)._sending is sending


def test_the_retry_settings_are_kept_or_default():
    retry = RetryConfig(max_attempts=2)
    assert _writer(retry=retry)._retry is retry
    assert _writer()._retry == RetryConfig()


def test_a_clock_goes_to_a_copy_of_the_service_and_leaves_the_given_service_alone():
    service = SiteWiseService()
    before = service.clock
    clock = FakeClock(NOW)
    writer = AwsBatchWrite(service, clock=clock)
    assert writer._clock is clock and writer._service.clock is clock
    assert writer._service is not service and service.clock is before
    plain = AwsBatchWrite(service)
    assert plain._service is service and isinstance(plain._clock, Clock)


def test_an_error_handler_goes_to_a_copy_of_the_writer():
    writer = _writer()
    assert writer.with_error_handler(None) is writer
    handler = ErrorHandler(beam.Map(lambda x: x))
    handled = writer.with_error_handler(handler)
    assert handled is not writer and handled._error_handler is handler
    assert writer._error_handler is None
    with pytest.raises(ValueError, match="^error_handler must be an apache_beam ErrorHandler, "
                                         "got 'dead letters'$"):
        writer.with_error_handler("dead letters")


def test_the_display_data_shows_the_writers_settings():
    writer = _writer(region_name="eu-west-1", endpoint_url="https://u:secret@e.invalid/x",
                     max_in_flight=7, fail_fast=True, retry=RetryConfig(max_attempts=3),
                     batching=BatchingConfig(max_buffering_seconds=4.0, num_shards=2),
                     max_requests_per_second=9.0, dead_letter_threshold=0.25)
    items = writer.display_data()
    assert items["service"] == "iotsitewise"
    assert items["operation"] == "BatchPutAssetPropertyValue"
    assert items["region"] == "eu-west-1" and items["endpoint"] == "https://e.invalid/x"
    assert (items["max_in_flight"], items["fail_fast"], items["max_attempts"]) == (7, True, 3)
    assert (items["max_buffering_seconds"], items["num_shards"]) == (4.0, "2")
    assert items["max_requests_per_second"] == 9.0
    assert items["dead_letter_threshold"] == 0.25
    assert items["threshold_windowing"] == "the input's"
    assert "secret" not in repr(items)
    windowing = FixedWindows(60)
    shown = _writer(dead_letter_threshold=0.5, threshold_windowing=windowing).display_data()
    assert shown["threshold_windowing"] == str(windowing)


def _parts(pipeline: beam.Pipeline) -> dict:
    """The applied transforms of a pipeline by full label."""
    found = {}

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            found[node.full_label] = node.transform

        def enter_composite_transform(self, node):
            found[node.full_label] = node.transform

    pipeline.visit(Visitor())
    return found


def _applied(writer: AwsBatchWrite, streaming: bool = False, label: str = "Write"):
    p = beam.Pipeline(options=PipelineOptions(flags=[], streaming=streaming))
    records = p | beam.Create(GOOD)
    if streaming:
        records = p | beam.io.ReadFromPubSub(topic="projects/project/topics/records")
    result = records | label >> writer
    return p, result, _parts(p)


def _dofn(parts: dict, label: str):
    transform = parts[label]
    return getattr(transform, "_do_transform", transform).dofn


def test_the_steps_get_the_service_limits_and_the_writers_settings():
    clock = FakeClock(NOW)
    sending = SendingConfig(max_requests_per_second=3.0)
    p, result, parts = _applied(_writer(max_in_flight=3, fail_fast=True, clock=clock,
                                        receipts="none", sending=sending,
                                        batching=BatchingConfig(max_buffered_records=77,
                                                                num_shards=5,
                                                                max_buffering_seconds=1.5)))
    assert isinstance(result, WriteResult)
    prepare, batch, send = (_dofn(parts, "Write/" + s) for s in ("Prepare", "Batch", "Send"))
    assert isinstance(prepare, PrepareFn) and isinstance(batch, _BatchFnBase)
    assert isinstance(send, SendFn)
    assert (prepare._num_shards, prepare._chunk_size) == (5, 100)  # 10 entries of 10 values a request
    assert prepare._clock is clock and prepare._log_interval_seconds == 0.0
    assert (batch._max_buffered, batch._max_buffering_seconds, batch._clock) == (77, 1.5, clock)
    assert (send._max_in_flight, send._fail_fast, send._receipts) == (3, True, False)
    assert send._clock is clock and send._log_interval_seconds == 0.0
    assert send._sending is sending
    # Typed outputs: the records' row coder applies to both.
    assert (result.written.element_type, result.failed.element_type) == (Receipt, DeadLetter)
    assert "Write/DeadLetters" in parts  # step names stay, for pipeline updates
    assert re.fullmatch("[0-9a-f]{8}", send._caps_key)
    # Bounded input: only the window's end bounds a partial batch, no processing-time timer.
    assert _timers(batch, send._caps_key) == [TimeDomain.WATERMARK]


def _timers(batch, tag: str) -> list:
    """The time domains of the batching step's timers; the names of its state and timers
    carry the writer's tag (two writers in one stage must not share them)."""
    states, timers = get_dofn_specs(batch)
    assert states and all(spec.name.endswith("_" + tag) for spec in states | timers)
    return sorted(spec.time_domain for spec in timers)


def test_streaming_on_the_direct_runner_bounds_partial_batches_in_event_time():
    _, _, parts = _applied(_writer(), streaming=True)
    tag = _dofn(parts, "Write/Send")._caps_key
    assert _timers(_dofn(parts, "Write/Batch"), tag) == [TimeDomain.WATERMARK] * 2


def test_a_streaming_writer_the_bundle_engine_cannot_run_is_refused_by_its_label():
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
    from apache_beam.transforms.periodicsequence import PeriodicImpulse

    p = beam.Pipeline(runner=BundleBasedDirectRunner(),
                      options=PipelineOptions(flags=[], streaming=True))
    impulses = p | PeriodicImpulse(fire_interval=1.0) | beam.Map(lambda _: GOOD[0])
    with pytest.raises(ValueError, match="^PowerWriter cannot run here: the "
                                         "BundleBasedDirectRunner was asked for"):
        _ = impulses | "PowerWriter" >> _writer()


def test_streaming_on_another_runner_bounds_partial_batches_in_processing_time():
    p = beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(flags=[], streaming=True))
    p | beam.io.ReadFromPubSub(topic="projects/project/topics/records") | "Write" >> _writer()
    parts = _parts(p)
    tag = _dofn(parts, "Write/Send")._caps_key
    assert _timers(_dofn(parts, "Write/Batch"), tag) == sorted(
        [TimeDomain.WATERMARK, TimeDomain.REAL_TIME])


def test_without_batching_settings_the_steps_use_the_service_defaults():
    _, _, parts = _applied(_writer())
    prepare, batch = _dofn(parts, "Write/Prepare"), _dofn(parts, "Write/Batch")
    service = SiteWiseService()
    assert prepare._num_shards == service.default_num_shards
    assert batch._max_buffered == 2000  # SiteWise's documented default
    assert _dofn(parts, "Write/Send")._receipts is True


def test_streaming_input_logs_dead_letters_at_most_once_a_minute():
    _, _, parts = _applied(_writer(), streaming=True)
    assert _dofn(parts, "Write/Prepare")._log_interval_seconds == 60.0
    assert _dofn(parts, "Write/Send")._log_interval_seconds == 60.0


def test_applying_a_writer_on_the_direct_runner_keeps_prisms_bundles_whole():
    p, _, _ = _applied(_writer())
    assert "prism_disable_sdf_split" in p.options.view_as(DebugOptions).experiments


def test_each_application_gets_a_state_tag_of_its_own_and_the_same_one_on_every_run():
    def tags():
        p = beam.Pipeline(options=PipelineOptions(flags=[]))
        records = p | beam.Create(GOOD)
        applied = [records | "W%d" % (n % 2) >> _writer() for n in range(2)]
        applied.append(records | "W2" >> AwsBatchWrite(SiteWiseService(),
                                                       region_name="eu-west-1"))
        parts = _parts(p)
        assert applied
        return [_dofn(parts, "W%d/Send" % n)._caps_key for n in range(3)]

    first = tags()
    assert len(set(first)) == 3
    assert tags() == first


class _Nested(beam.PTransform):
    def expand(self, records):
        return records | "Write" >> _writer()


def _tags_of(labels) -> dict:
    """The state tags of writers labelled "Write" inside composites of the given labels."""
    p = beam.Pipeline(options=PipelineOptions(flags=[]))
    records = p | beam.Create(GOOD)
    for label in labels:
        _ = records | label >> _Nested()
    parts = _parts(p)
    return {label: _dofn(parts, "%s/Write/Send" % label)._caps_key for label in labels}


def test_writers_of_one_label_in_composites_get_tags_of_their_own():
    tags = _tags_of(["A", "B", "C"])
    assert len(set(tags.values())) == 3
    assert _tags_of(["A", "B", "C"]) == tags


def test_a_writers_tag_does_not_change_when_a_writer_of_another_label_comes_before_it():
    alone = _tags_of(["A"])["A"]
    p = beam.Pipeline(options=PipelineOptions(flags=[]))
    records = p | beam.Create(GOOD)
    _ = records | "Other" >> _writer()
    _ = records | "A" >> _Nested()
    assert _dofn(_parts(p), "A/Write/Send")._caps_key == alone
    writer = _writer()
    p = beam.Pipeline(options=PipelineOptions(flags=[]))
    records = p | beam.Create(GOOD)
    assert writer._state_tag(records) != writer._state_tag(records)


def _run(writer: AwsBatchWrite, records, name: str, written=("/w/0", "/w/1", "/w/2")):
    fakes.reset(name)
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(flags=[])) as p:
        result = p | beam.Create(records) | writer
        if isinstance(result, WriteResult):
            assert_that(result.written | "Aliases" >> beam.Map(lambda r: r.resource),
                        equal_to(list(written)), label="Written")
            assert_that(result.failed | "Codes" >> beam.Map(lambda d: (d.resource, d.error_code)),
                        equal_to([("/w/bad", "MissingField")]), label="Failed")
        else:
            assert_that(result | "Count" >> beam.combiners.Count.Globally(), equal_to([0]))
    return fakes.calls(name)


def test_a_pipeline_writes_the_good_records_and_dead_letters_the_bad_one():
    sent = _run(_writer(client_factory=fakes.FakeClientFactory("w-all", fakes.accept_all),
                        clock=FakeClock(NOW)), GOOD + [BAD], "w-all")
    entries = [e for call in sent for e in call["kwargs"]["entries"]]
    assert sorted(e["propertyAlias"] for e in entries) == ["/w/0", "/w/1", "/w/2"]


def test_without_receipts_nothing_is_written_out_but_every_record_is_sent():
    sent = _run(_writer(client_factory=fakes.FakeClientFactory("w-none", fakes.accept_all),
                        clock=FakeClock(NOW), receipts="none",
                        dead_letter_threshold=0.5), GOOD + [BAD], "w-none", written=())
    assert sum(len(call["kwargs"]["entries"]) for call in sent) == 3


def test_dead_letters_over_the_threshold_fail_the_pipeline():
    writer = _writer(client_factory=fakes.FakeClientFactory("w-bad", fakes.accept_all),
                     clock=FakeClock(NOW), dead_letter_threshold=0.2)
    with pytest.raises(Exception, match="iotsitewise") as raised:
        _run(writer, GOOD + [BAD], "w-bad")
    assert DeadLetterThresholdExceeded.__name__ in repr(raised.value) or \
        "threshold" in str(raised.value)


def test_with_an_error_handler_the_dead_letters_go_to_it_and_the_receipts_come_out():
    fakes.reset("w-handler")
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(flags=[])) as p:
        with ErrorHandler(beam.Map(lambda d: (d.resource, d.error_code))) as handler:
            written = p | beam.Create(GOOD + [BAD]) | _writer(
                client_factory=fakes.FakeClientFactory("w-handler", fakes.accept_all),
                clock=FakeClock(NOW)).with_error_handler(handler)
        assert not isinstance(written, WriteResult)
        assert_that(written | beam.Map(lambda r: r.resource),
                    equal_to(["/w/0", "/w/1", "/w/2"]), label="Written")
        assert_that(handler.output(), equal_to([("/w/bad", "MissingField")]), label="Failed")


def test_the_threshold_is_judged_in_its_own_windows_when_given():
    # 3 bad records in the first minute, 10 good ones in the third: a fifth of all the
    # records, but every record of the first minute.
    records = ([TimestampedValue(BAD, 10) for _ in range(3)]
               + [TimestampedValue(dict(r, property_alias="/w/%d" % n), 130)
                  for n, r in enumerate(GOOD * 4) if n < 10])

    def run(**kwargs):
        with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(flags=[])) as p:
            _ = (p | beam.Create(records) | _writer(
                client_factory=fakes.FakeClientFactory("w-windows", fakes.accept_all),
                clock=FakeClock(NOW), dead_letter_threshold=0.5, **kwargs))

    run()  # judged over the whole input: 3 of 13
    with pytest.raises(Exception, match="iotsitewise"):
        run(threshold_windowing=FixedWindows(60))
    # One of the third minute's eleven records bad: under the threshold in every window.
    records[:3] = [TimestampedValue(BAD, 130)]
    run(threshold_windowing=FixedWindows(60))


def _refuse_w1(method, kwargs, number):
    """SiteWise's answer refusing the entry of /w/1, accepting the others."""
    return {"errorEntries": [
        {"entryId": e["entryId"], "errors": [{
            "errorCode": "InvalidRequestException", "errorMessage": "no",
            "timestamps": [v["timestamp"] for v in e["propertyValues"]]}]}
        for e in kwargs["entries"] if e["propertyAlias"] == "/w/1"]}


def test_receipts_and_the_services_refusals_carry_every_field():
    from apache_beam.transforms.window import IntervalWindow

    fakes.reset("w-fields")
    records = [TimestampedValue(r, NOW) for r in GOOD]
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(flags=[])) as p:
        result = (p | beam.Create(records) | beam.WindowInto(FixedWindows(60))
                  | _writer(client_factory=fakes.FakeClientFactory("w-fields", _refuse_w1),
                            clock=FakeClock(NOW)))
        window = IntervalWindow(NOW - NOW % 60, NOW - NOW % 60 + 60)

        def stamped(value, timestamp=beam.DoFn.TimestampParam, win=beam.DoFn.WindowParam):
            return value, timestamp == NOW, win == window

        receipts = [(Receipt("iotsitewise", "/w/%d" % n, "/w/%d@%d.000000000" % (n, NOW), 1,
                             '{"property_alias": "/w/%d", "timestamp": %d, "value": %.1f}'
                             % (n, NOW, n)), True, True) for n in (0, 2)]
        assert_that(result.written | "R" >> beam.Map(stamped), equal_to(receipts),
                    label="Receipts")
        letter = DeadLetter('{"property_alias": "/w/1", "timestamp": %d, "value": 1.0}' % NOW,
                            "iotsitewise", "InvalidRequestException", "no", "entry", 1, "/w/1",
                            "2023-11-14T22:13:20+00:00")
        assert_that(result.failed | "D" >> beam.Map(stamped), equal_to([(letter, True, True)]),
                    label="Refused")
