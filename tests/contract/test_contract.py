"""The contract every writer passes: limits, conservation, windows, retries, replay."""

import json
import random

import apache_beam as beam
import botocore.serialize
import botocore.validate
import pytest
from apache_beam.testing.util import assert_that
from apache_beam.transforms import window

from beam_batchput import _botocore
from beam_batchput.core.packing import pack
from tests import fakes
from tests.beam_helpers import Collect, pipeline
from tests.clocks import FakeClock
from tests.contract.cases import CASES, NOW, FailFirstCalls

WINDOW = 60
BASE = NOW - 1800  # inside every service's accepted time range


def _timestamped(case, count):
    return [window.TimestampedValue(case.valid(i, BASE + (i % 2) * WINDOW), BASE + (i % 2) * WINDOW)
            for i in range(count)]


def _with_window(record, w=beam.DoFn.WindowParam):
    return json.dumps(record._asdict(), sort_keys=True), int(w.start)


def _run(case, name, records, behaviour, **kwargs):
    """Runs the writer on windowed records; returns (receipts, dead letters) as
    (JSON text, window start) pairs."""
    fakes.reset(name)
    with pipeline() as p:
        result = (p | beam.Create(records) | beam.WindowInto(window.FixedWindows(WINDOW))
                  | case.writer(client_factory=fakes.FakeClientFactory(name, behaviour),
                                clock=FakeClock(NOW), **kwargs))
        assert_that(result.written | "w" >> beam.Map(_with_window), Collect(name + "written"),
                    label="written")
        assert_that(result.failed | "f" >> beam.Map(_with_window), Collect(name + "failed"),
                    label="failed")
    return Collect.pop(name + "written"), Collect.pop(name + "failed")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_requests_respect_every_limit_and_the_model(case):
    service = case.writer()._service
    items = [service.item(case.valid(i, BASE)) for i in range(257)]
    requests = pack(items, service.limits, service.entry_id)
    shape = _botocore.service_model(service.name).operation_model(service.operation).input_shape
    assert sum(len(r.items) for r in requests) == 257
    for request in requests:
        assert len(request.entries) <= service.limits.max_entries
        assert all(len(e.items) <= service.limits.max_values_per_entry for e in request.entries)
        if service.limits.max_request_bytes:
            assert sum(it.size for it in request.items) <= service.limits.max_request_bytes
        kwargs = service.build_request(request.scope, request.entries)
        report = botocore.validate.ParamValidator().validate(kwargs, shape)
        assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_prebuilt_body_is_byte_for_byte_what_botocore_serializes(case):
    service = case.writer()._service
    model = _botocore.service_model(service.name)
    serializer = botocore.serialize.create_serializer(model.metadata["protocol"])
    operation = model.operation_model(service.operation)
    items = [service.item(case.valid(i, BASE)) for i in range(257)]
    for request in pack(items, service.limits, service.entry_id):
        body = service.request_body(request.scope, request.entries)
        if body is None:  # botocore serializes this service's requests itself
            continue
        kwargs = service.build_request(request.scope, request.entries)
        assert body == serializer.serialize_to_request(kwargs, operation)["body"]
        placeholder = service.build_request(request.scope, [])
        assert json.dumps(placeholder).encode() == serializer.serialize_to_request(
            placeholder, operation)["body"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_record_ends_in_exactly_one_output_in_its_window(case):
    records = _timestamped(case, 60) + [window.TimestampedValue(r, BASE) for r in case.invalid]
    written, failed = _run(case, case.name + "-conservation", records, case.accept)
    letters = [json.loads(f) for f, _ in failed]
    assert sorted(l["record"] for l in letters) == sorted(
        json.dumps(r, sort_keys=True) for r in case.invalid)
    assert {l["stage"] for l in letters} == {"validation"}
    sent = sorted(i for c in fakes.calls(case.name + "-conservation") for i in case.indices(c["kwargs"]))
    assert sent == list(range(60))
    expected = {json.dumps(case.valid(i, BASE + (i % 2) * WINDOW), sort_keys=True):
                BASE + (i % 2) * WINDOW - (BASE + (i % 2) * WINDOW) % WINDOW for i in range(60)}
    got = {json.loads(w)["record"]: start for w, start in written}
    assert len(written) == 60
    assert got == expected  # every valid record once, in its own window


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_requests_never_mix_windows(case):
    _run(case, case.name + "-windows", _timestamped(case, 40), case.accept)
    calls = fakes.calls(case.name + "-windows")
    per_request = [{i % 2 for i in case.indices(c["kwargs"])} for c in calls]
    assert sorted(i for c in calls for i in case.indices(c["kwargs"])) == list(range(40))
    assert all(len(windows) == 1 for windows in per_request), per_request


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_retryable_failures_are_retried_until_written(case):
    records = _timestamped(case, 30)
    written, failed = _run(case, case.name + "-retry", records,
                           FailFirstCalls(case, case.retryable_code, times=1))
    assert failed == []
    attempts = sorted(json.loads(w)["attempts"] for w, _ in written)
    assert len(attempts) == 30 and attempts[-1] == 2 and attempts[0] >= 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fatal_failures_are_dead_lettered_with_code_and_stage(case):
    records = _timestamped(case, 30)
    written, failed = _run(case, case.name + "-fatal", records,
                           FailFirstCalls(case, case.fatal_code, times=10 ** 6))
    assert written == []
    letters = [json.loads(f) for f, _ in failed]
    assert len(letters) == 30
    assert {(l["stage"], l["error_code"], l["service"]) for l in letters} == {
        (case.fatal_stage, case.fatal_code, case.service_name)}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_replay_sends_identical_requests(case):
    records = _timestamped(case, 50)
    shuffled = list(records)
    random.Random(5).shuffle(shuffled)
    _run(case, case.name + "-replay-1", records, case.accept)
    _run(case, case.name + "-replay-2", shuffled, case.accept)
    canonical = lambda name: sorted(json.dumps(c["kwargs"], sort_keys=True, default=str)
                                    for c in fakes.calls(name))
    assert canonical(case.name + "-replay-1") == canonical(case.name + "-replay-2")
