"""Core behaviour seen from a pipeline: concurrency, metrics, pickling."""

import pickle
import threading
import time

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from beam_batchput import BatchingConfig, SendingConfig, WriteToSiteWise
from beam_batchput.core.sending import SendFn
from beam_batchput.services.sitewise import SiteWiseService
from tests import fakes
from tests.beam_helpers import pipeline
from tests.clocks import FakeClock

NOW = int(time.time())


class _ConcurrencyProbe:
    """Accepts everything; records the most calls in flight at once. The first
    calls wait (bounded) until ``hold_until`` are in flight together, so the
    peak does not depend on how the machine schedules the sending threads."""

    lock = threading.Condition()
    in_flight = 0
    peak = 0
    hold_until = 3

    def __call__(self, method, kwargs, number):
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)
            cls.lock.notify_all()
            cls.lock.wait_for(lambda: cls.peak >= cls.hold_until, timeout=60)
        time.sleep(0.01)  # a service's latency: a call beyond the bound would overlap
        with cls.lock:
            cls.in_flight -= 1
        return {"errorEntries": []}


def records(properties, points):
    return [{"property_alias": "/c/%d" % p, "value": float(n), "timestamp": NOW - 600 + n}
            for p in range(properties) for n in range(points)]


def test_requests_are_sent_concurrently_up_to_max_in_flight():
    fakes.reset("probe")
    _ConcurrencyProbe.peak = 0
    with pipeline() as p:
        result = (p | beam.Create(records(200, 10))
                  | WriteToSiteWise(max_in_flight=3, batching=BatchingConfig(num_shards=1),
                                    client_factory=fakes.FakeClientFactory("probe", _ConcurrencyProbe())))
        assert_that(result.written | beam.combiners.Count.Globally(), equal_to([2000]))
    assert len(fakes.calls("probe")) == 20
    assert _ConcurrencyProbe.peak == 3


def test_metrics_count_records_requests_and_dead_letters():
    fakes.reset("metrics")
    plan = {"/c/0": ["ResourceNotFoundException"], "/c/1": ["ThrottlingException"]}
    data = records(3, 10) + [{"property_alias": "/c/x", "value": 2 ** 40, "timestamp": NOW}]
    p = pipeline()
    _ = (p | beam.Create(data)
         | WriteToSiteWise(client_factory=fakes.FakeClientFactory(
             "metrics", fakes.SiteWiseEntryErrors(plan)), clock=FakeClock(NOW)))
    result = p.run()
    result.wait_until_finish()
    found = result.metrics().query(MetricsFilter().with_namespace("beam_batchput.iotsitewise"))
    counters = {c.key.metric.name: c.committed for c in found["counters"]}
    assert counters["records_in"] == 31
    assert counters["records_written"] == 20
    assert counters["dead_letters_entry"] == 10
    assert counters["dead_letters_validation"] == 1
    assert counters["retried_records"] == 10
    assert counters["requests_sent"] == len(fakes.calls("metrics"))
    (dist,) = [d for d in found["distributions"] if d.key.metric.name == "records_per_request"]
    assert dist.committed.sum == 40  # 30 points once, 10 of them again


def test_the_send_dofn_pickles_without_a_client():
    fn = SendFn(SiteWiseService(), fakes.FakeClientFactory("pickle", fakes.accept_all),
                 WriteToSiteWise()._retry, 4, False)
    clone = pickle.loads(pickle.dumps(fn))
    assert not hasattr(clone, "_client")
    clone.setup()
    try:
        # The client is the factory's, built on the worker, and it sends.
        assert isinstance(clone._client, fakes.FakeClient)
        fakes.reset("pickle")
        clone._client.batch_put_asset_property_value(entries=[])
        assert fakes.calls("pickle") == [{"method": "batch_put_asset_property_value",
                                          "kwargs": {"entries": []}}]
    finally:
        clone.teardown()


def test_the_whole_transform_pickles_with_its_configuration():
    transform = WriteToSiteWise(region_name="eu-west-1", endpoint_url="https://example.invalid")
    clone = pickle.loads(pickle.dumps(transform))
    assert clone._client_factory._config.region_name == "eu-west-1"


def _route_all_to_a(record):
    yield beam.pvalue.TaggedOutput("a", record)


def test_two_writers_fed_by_one_step_each_send_their_records():
    # Regression: stateful steps of one fused stage sharing timer names lost
    # their window-end flush on the portable runner; every writer now names
    # its state and timers apart.
    from beam_batchput import WriteToTwinMaker

    fakes.reset("fused-a")
    fakes.reset("fused-b")
    with pipeline() as p:
        routed = (p | beam.Create(records(5, 1))
                  | beam.ParDo(_route_all_to_a).with_outputs("a", "b"))
        _ = routed["a"] | "A" >> WriteToSiteWise(
            client_factory=fakes.FakeClientFactory("fused-a", fakes.accept_all))
        _ = routed["b"] | "B" >> WriteToTwinMaker(
            client_factory=fakes.FakeClientFactory("fused-b", fakes.accept_all))
    assert sum(len(c["kwargs"]["entries"]) for c in fakes.calls("fused-a")) == 5
    assert fakes.calls("fused-b") == []


def test_a_record_in_several_sliding_windows_is_written_once_per_window():
    # Sliding windows of 60 s every 20 s: each record belongs to three windows,
    # and a request never mixes windows, so each copy travels on its own.
    fakes.reset("sliding")
    data = records(2, 5)
    with pipeline() as p:
        stamped = (p | beam.Create(data)
                   | beam.Map(lambda r: beam.window.TimestampedValue(r, r["timestamp"]))
                   | beam.WindowInto(beam.window.SlidingWindows(60, 20)))
        result = stamped | WriteToSiteWise(
            client_factory=fakes.FakeClientFactory("sliding", fakes.accept_all))

        def per_window(receipt, window=beam.DoFn.WindowParam):
            yield (window.start.micros // 1_000_000, receipt.item_id)

        def starts(t):  # the windows [start, start + 60) that hold t
            return range(t - t % 20 - 40, t - t % 20 + 1, 20)

        assert_that(result.written | beam.ParDo(per_window), equal_to([
            (start, "/c/%d@%d.000000000" % (prop, NOW - 600 + n))
            for prop in range(2) for n in range(5) for start in starts(NOW - 600 + n)]))
    sent = [v["timestamp"]["timeInSeconds"] for call in fakes.calls("sliding")
            for entry in call["kwargs"]["entries"] for v in entry["propertyValues"]]
    assert sorted(sent) == sorted(NOW - 600 + n for _ in range(2) for n in range(5)
                                  for _copy in range(3))


def test_unplaced_errors_and_id_collisions_are_counted_and_never_receipts():
    from apache_beam.transforms.window import TimestampedValue

    from beam_batchput import WriteToIoTEvents

    def stranger_first(method, kwargs, number):
        errors = [{"messageId": "not-ours", "errorCode": "InternalFailureException",
                   "errorMessage": "?"}] if number == 1 else []
        return {"BatchPutMessageErrorEntries": errors}

    fakes.reset("unplaced")
    same = {"input_name": "in", "payload": {"v": 1}}
    data = [TimestampedValue(dict(same), NOW), TimestampedValue(dict(same), NOW),
            TimestampedValue(dict(same), NOW + 1)]
    p = pipeline()
    result = (p | beam.Create(data) | beam.Map(lambda r: r)
              | WriteToIoTEvents(client_factory=fakes.FakeClientFactory("unplaced",
                                                                        stranger_first),
                                 batching=BatchingConfig(num_shards=1), clock=FakeClock()))
    assert_that(result.written | beam.Map(lambda r: r.attempts), equal_to([2, 2]),
                label="written")
    assert_that(result.failed | beam.Map(lambda d: d.error_code),
                equal_to(["DuplicateMessage"]), label="failed")
    run = p.run()
    run.wait_until_finish()
    found = run.metrics().query(MetricsFilter().with_namespace("beam_batchput.iotevents-data"))
    counters = {c.key.metric.name: c.committed for c in found["counters"]}
    assert counters["unmatched_errors"] == 1
    assert counters["id_collisions"] == 1
    sent = [m["messageId"] for call in fakes.calls("unplaced")
            for m in call["kwargs"]["messages"]]
    assert len(set(sent)) == 2  # equal content, two element timestamps: two ids


def test_a_rate_cap_spaces_requests_on_the_writers_clock():
    # 60 entries of one point: 6 requests; at 2 requests per second the last
    # starts 2.5 s after the first, on the writer's clock. Caps read from another
    # clock than the send loop's would wait the difference of the two clocks.
    fakes.reset("capped")
    p = pipeline()
    _ = (p | beam.Create(records(60, 1))
         | WriteToSiteWise(batching=BatchingConfig(num_shards=1),
                           sending=SendingConfig(adaptive_concurrency=False,
                                                 max_requests_per_second=2.0),
                           client_factory=fakes.FakeClientFactory("capped", fakes.SiteWiseEntryErrors({})),
                           clock=FakeClock(NOW)))
    result = p.run()
    result.wait_until_finish()
    assert len(fakes.calls("capped")) == 6
    found = result.metrics().query(MetricsFilter().with_namespace("beam_batchput.iotsitewise"))
    counters = {c.key.metric.name: c.committed for c in found["counters"]}
    # Whole seconds are counted (the metric is an integer counter).
    assert 2 <= counters.get("cumulativeThrottlingSeconds", 0) <= 3
