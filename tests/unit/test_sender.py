"""The sending loop: partial errors, retries, dead letters; no real sleeping."""

import logging

import pytest
from botocore.exceptions import EndpointConnectionError, ParamValidationError

from beam_batchput import ClientConfig, RequestFailedError, RetryConfig, Stage
from beam_batchput.core import prebuilt
from beam_batchput.core.packing import pack
from beam_batchput.core.sender import RequestSender
from beam_batchput.services.sitewise import SiteWiseService
from tests import fakes
from tests.clocks import FakeClock

NOW = 1_700_000_000


def sitewise():
    return SiteWiseService(clock=FakeClock(NOW))


def request_for(aliases, points=2):
    service = sitewise()
    items = [service.item({"property_alias": a, "value": float(n), "timestamp": NOW - n})
             for a in aliases for n in range(points)]
    (request,) = pack(items, service.limits, service.entry_id)
    return request


def sender(clock, **retry):
    return RequestSender(sitewise(), RetryConfig(**retry), clock=clock,
                         random=lambda: 1.0)


def test_partial_errors_retry_only_retryable_entries_and_dead_letter_the_rest():
    fakes.reset("partial")
    plan = {"/a": ["ThrottlingException"], "/b": ["ResourceNotFoundException"],
            "/c": ["InternalFailureException", "ServiceUnavailableException"]}
    client = fakes.FakeClient("partial", fakes.SiteWiseEntryErrors(plan))
    clock = FakeClock()
    outcome = sender(clock).send(client, request_for(["/a", "/b", "/c", "/d"]))
    calls = fakes.calls("partial")
    sent = [sorted(e["propertyAlias"] for e in c["kwargs"]["entries"]) for c in calls]
    assert sent == [["/a", "/b", "/c", "/d"], ["/a", "/c"], ["/c"]]
    written = sorted((s.item.resource, s.attempts) for s in outcome.written)
    assert written == [("/a", 2), ("/a", 2), ("/c", 3), ("/c", 3), ("/d", 1), ("/d", 1)]
    assert [(s.item.resource, s.code, s.stage, s.attempts) for s in outcome.failed] == [
        ("/b", "ResourceNotFoundException", Stage.ENTRY, 1)] * 2
    assert outcome.requests == 3
    assert outcome.retried_items == 6  # /a and /c once, /c again
    assert clock.sleeps == [0.1, 0.2]
    assert outcome.throttled_seconds == pytest.approx(0.1)


def test_retries_stop_at_the_attempt_budget():
    fakes.reset("always")
    plan = {"/a": ["ThrottlingException"] * 10}
    client = fakes.FakeClient("always", fakes.SiteWiseEntryErrors(plan))
    clock = FakeClock()
    outcome = sender(clock, max_attempts=3).send(client, request_for(["/a"], points=1))
    assert len(fakes.calls("always")) == 3
    assert [(s.item.resource, s.stage, s.attempts, s.code) for s in outcome.failed] == [
        ("/a", Stage.RETRIES_EXHAUSTED, 3, "ThrottlingException")]
    assert outcome.written == []
    # Throttled before each of the two retries: both waits count.
    assert clock.sleeps == [0.1, 0.2]
    assert outcome.throttled_seconds == pytest.approx(0.3)


def test_each_retry_is_logged_at_debug_with_its_fields(caplog):
    fakes.reset("logged")
    plan = {"/a": ["ThrottlingException"]}
    client = fakes.FakeClient("logged", fakes.SiteWiseEntryErrors(plan))
    with caplog.at_level(logging.DEBUG, logger="beam_batchput.core.sender"):
        sender(FakeClock()).send(client, request_for(["/a", "/b"], points=1))
    (retry,) = [r for r in caplog.records if getattr(r, "batchput_event", None) == "retry"]
    assert retry.levelno == logging.DEBUG
    assert retry.getMessage() == "iotsitewise: retrying 1 items in 0.100s (attempt 2)"
    assert (retry.batchput_service, retry.batchput_count, retry.batchput_attempt,
            retry.batchput_delay_seconds) == ("iotsitewise", 1, 2, 0.1)


def test_retries_stop_at_the_time_budget():
    fakes.reset("slow")
    client = fakes.FakeClient("slow", fakes.RaisingClient("ThrottlingException", 429))
    clock = FakeClock()
    outcome = sender(clock, max_attempts=100, initial_backoff_seconds=1.0,
                     max_backoff_seconds=8.0, max_retry_seconds=10.0).send(
        client, request_for(["/a"], points=1))
    assert sum(clock.sleeps) <= 10.0
    assert [s.stage for s in outcome.failed] == [Stage.RETRIES_EXHAUSTED]
    assert len(fakes.calls("slow")) == len(clock.sleeps) + 1


def test_transient_request_errors_are_retried_then_succeed():
    fakes.reset("flaky")
    client = fakes.FakeClient("flaky", fakes.RaisingClient("ServiceUnavailableException", 503,
                                                           times=2))
    outcome = sender(FakeClock()).send(client, request_for(["/a", "/b"]))
    assert len(outcome.written) == 4 and outcome.failed == []
    assert outcome.request_errors == 2


@pytest.mark.parametrize("code,status", [("AccessDeniedException", 403),
                                         ("ResourceNotFoundException", 404)])
def test_denied_and_not_found_requests_are_dead_lettered_whole_without_splitting(code, status):
    fakes.reset("fatal")
    client = fakes.FakeClient("fatal", fakes.RaisingClient(code, status))
    outcome = sender(FakeClock()).send(client, request_for(["/a", "/b"]))
    assert len(fakes.calls("fatal")) == 1
    assert {(s.stage, s.code) for s in outcome.failed} == {(Stage.REQUEST, code)}
    assert len(outcome.failed) == 4 and outcome.split_requests == 0


def test_a_validation_error_that_every_record_earns_dead_letters_each_after_halving():
    fakes.reset("fatal")
    client = fakes.FakeClient("fatal", fakes.RaisingClient("InvalidRequestException", 400))
    outcome = sender(FakeClock()).send(client, request_for(["/a", "/b"]))
    # Every half fails too: 4 records cost 1 + 2 + 4 requests, never more than 2n - 1.
    assert len(fakes.calls("fatal")) == 7
    assert {(s.stage, s.code) for s in outcome.failed} == {(Stage.REQUEST,
                                                            "InvalidRequestException")}
    assert len(outcome.failed) == 4 and outcome.written == []


def test_fail_fast_raises_naming_service_resource_and_code():
    fakes.reset("fast")
    client = fakes.FakeClient("fast", fakes.RaisingClient("AccessDeniedException", 403))
    fast = RequestSender(sitewise(), RetryConfig(), fail_fast=True, clock=FakeClock(NOW))
    with pytest.raises(RequestFailedError, match="iotsitewise.*/a.*AccessDeniedException"):
        fast.send(client, request_for(["/a"]))


def test_connection_errors_are_retried_and_param_errors_are_not():
    def connection_error(method, kwargs, number):
        if number == 1:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        return {"errorEntries": []}

    fakes.reset("conn")
    outcome = sender(FakeClock()).send(fakes.FakeClient("conn", connection_error),
                                       request_for(["/a"]))
    assert len(outcome.written) == 2

    def bad_params(method, kwargs, number):
        raise ParamValidationError(report="bad")

    fakes.reset("params")
    outcome = sender(FakeClock()).send(fakes.FakeClient("params", bad_params), request_for(["/a"]))
    assert [s.code for s in outcome.failed] == ["ParamValidationError"] * 2
    assert len(fakes.calls("params")) == 1


def test_a_replayed_request_is_identical():
    fakes.reset("replay")
    client = fakes.FakeClient("replay", fakes.accept_all)
    sender(FakeClock()).send(client, request_for(["/a", "/b"], points=5))
    sender(FakeClock()).send(client, request_for(["/b", "/a"], points=5))
    first, second = fakes.calls("replay")
    assert first["kwargs"] == second["kwargs"]


@pytest.mark.parametrize("prebuilt_body", [True, False], ids=["prebuilt", "botocore"])
def test_a_request_the_client_cannot_serialize_is_dead_lettered_not_raised(monkeypatch,
                                                                          prebuilt_body):
    # A real client without parameter validation: the serializer itself (the
    # service module's, or botocore's) meets a value it cannot encode (here a
    # set where a number belongs).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = ClientConfig(region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          botocore_max_attempts=1).create_client("iotsitewise")
    assert prebuilt.accepts(client)
    if not prebuilt_body:
        monkeypatch.setattr(prebuilt, "accepts", lambda client: False)
    request = request_for(["/a"])
    request.entries[0].items[0].payload = (NOW, 0, "GOOD", "doubleValue", {1.0})
    outcome = sender(FakeClock()).send(client, request)
    assert outcome.written == []
    assert [(s.code, s.stage) for s in outcome.failed] == [
        ("RequestSerializationError", Stage.REQUEST)] * 2
    assert "could not serialize" in outcome.failed[0].message
