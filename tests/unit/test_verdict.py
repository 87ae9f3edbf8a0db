"""The one rule of what a response proves written, on a service reduced to that rule."""

import logging

import pytest

from beam_batchput import RequestFailedError, RetryConfig, Stage
from beam_batchput.core.packing import pack
from beam_batchput.core.sender import UNMATCHED_ERROR_CODE, RequestSender, settle_response
from beam_batchput.core.service import Failure, Item, Limits, Service, Unmatched
from tests import fakes
from tests.clocks import FakeClock


class _Names(Service):
    """Items are names; a response lists ``errors`` as ``[name, code]`` pairs,
    ``unplaced`` codes no item can be told from, and ``odd`` values no service
    should yield."""

    name = "names"
    operation = "PutNames"
    method = "put_names"
    limits = Limits(max_entries=10)
    collision_codes = frozenset({"SameName"})

    def item(self, record):
        return Item(scope=("s",), group=None, payload=record, size=1, sort_key=record,
                    item_id=record, resource="/" + record)

    def build_request(self, scope, entries):
        return {"names": [item.payload for entry in entries for item in entry.items]}

    def failures(self, request, response):
        by_name = {item.payload: item for item in request.items}
        for name, code in response.get("errors", ()):
            yield Failure(by_name[name], code, "%s: %s" % (code, name))
        for code in response.get("unplaced", ()):
            yield Unmatched(code, "no name given", tuple(request.items))
        yield from response.get("odd", ())


def _request(*names):
    service = _Names()
    (request,) = pack([service.item(n) for n in names], service.limits, service.entry_id)
    return service, request


def _failed(verdict):
    return sorted((item.payload, code, message) for item, code, message in verdict.failed)


@pytest.mark.parametrize("errors", [
    [["a", "ThrottlingException"], ["a", "ValidationException"]],
    [["a", "ValidationException"], ["a", "ThrottlingException"]],
], ids=["retryable first", "retryable last"])
def test_an_item_named_by_two_errors_takes_the_one_not_worth_retrying(errors):
    service, request = _request("a", "b")
    verdict = settle_response(service, request, {"errors": errors})
    assert _failed(verdict) == [("a", "ValidationException", "ValidationException: a")]
    assert [item.payload for item in verdict.written] == ["b"]


def test_of_two_errors_worth_retrying_or_two_not_the_first_stands():
    service, request = _request("a", "b")
    verdict = settle_response(service, request, {"errors": [
        ["a", "ThrottlingException"], ["a", "InternalFailureException"],
        ["b", "ValidationException"], ["b", "AccessDeniedException"]]})
    assert _failed(verdict) == [("a", "ThrottlingException", "ThrottlingException: a"),
                                ("b", "ValidationException", "ValidationException: b")]


def test_a_placed_error_outweighs_an_unplaced_one_and_each_unplaced_error_is_counted():
    service, request = _request("a", "b")
    verdict = settle_response(service, request, {
        "errors": [["a", "ThrottlingException"]], "unplaced": ["Oops", "Again"]})
    assert verdict.unmatched_errors == 2
    (a, b) = sorted(verdict.failed, key=lambda f: f[0].payload)
    assert a[1:] == ("ThrottlingException", "ThrottlingException: a")
    assert b[1] == UNMATCHED_ERROR_CODE and "Oops: no name given" in b[2]
    assert verdict.written == []


def test_every_item_refused_for_sharing_an_identity_is_a_collision():
    service, request = _request("a", "b", "c")
    verdict = settle_response(service, request, {"errors": [["a", "SameName"],
                                                            ["b", "SameName"]]})
    assert verdict.collisions == 2
    assert [item.payload for item in verdict.written] == ["c"]


def test_a_service_yielding_anything_else_fails_loudly_naming_itself():
    service, request = _request("a")
    with pytest.raises(TypeError, match=r"_Names\.failures yielded 'odd', not a Failure"):
        settle_response(service, request, {"odd": ["odd"]})


def _sender(**kwargs):
    return RequestSender(_Names(), RetryConfig(**kwargs.pop("retry", {})), clock=FakeClock(),
                         random=lambda: 1.0, **kwargs)


def test_collisions_and_unplaced_errors_add_up_over_the_retries():
    def answers(method, kwargs, number):
        names = kwargs["names"]
        return {"errors": [[names[0], "SameName"], [names[-1], "ThrottlingException"]]
                if len(names) > 1 else [], "unplaced": ["Oops"] if number == 1 else []}

    fakes.reset("collisions")
    service, request = _request("a", "b", "c")
    outcome = _sender().send(fakes.FakeClient("collisions", answers), request)
    # Attempt 1: a collides, c throttled, b unplaced (retried); attempt 2: b collides.
    assert outcome.collisions == 2 and outcome.unmatched_errors == 1
    assert sorted((s.item.payload, s.code, s.attempts) for s in outcome.failed) == [
        ("a", "SameName", 1), ("b", "SameName", 2)]
    assert [(s.item.payload, s.attempts) for s in outcome.written] == [("c", 3)]


def test_a_request_refused_for_its_content_is_halved_and_logged_with_its_fields(caplog):
    fakes.reset("halves")
    client = fakes.FakeClient("halves", fakes.RaisingClient("ValidationException", 400))
    service, request = _request("a", "b", "c", "d")
    with caplog.at_level(logging.DEBUG, logger="beam_batchput.core.sender"):
        outcome = _sender().send(client, request)
    # 4 records, 2 halves, 4 alone: three splits, each record refused alone.
    assert outcome.split_requests == 3 and outcome.requests == 7
    assert sorted((s.item.payload, s.attempts, s.stage) for s in outcome.failed) == [
        (n, 1, Stage.REQUEST) for n in "abcd"]
    splits = [r for r in caplog.records if getattr(r, "batchput_event", None) == "split"]
    assert [(r.getMessage(), r.batchput_service, r.batchput_count, r.batchput_code)
            for r in splits] == [
        ("names: ValidationException on %d records; splitting the request" % n, "names", n,
         "ValidationException") for n in (4, 2, 2)]
    failed = [r for r in caplog.records
              if getattr(r, "batchput_event", None) == "request_failed"]
    assert [(r.levelno, r.getMessage(), r.batchput_service, r.batchput_count, r.batchput_code,
             r.batchput_resource) for r in failed] == [
        (logging.DEBUG, "names PutNames to /%s failed: ValidationException: injected; "
         "dead-lettering 1 records" % n, "names", 1, "ValidationException", "/" + n)
        for n in "abcd"]


def test_fail_fast_raises_on_an_entry_whose_resource_is_missing_naming_it():
    fakes.reset("entry-fast")
    client = fakes.FakeClient("entry-fast", lambda method, kwargs, number: {
        "errors": [["b", "ResourceNotFoundException"]]})
    service, request = _request("a", "b")
    with pytest.raises(RequestFailedError) as raised:
        _sender(fail_fast=True).send(client, request)
    error = raised.value
    assert (error.service, error.resource, error.code, error.message) == (
        "names", "/b", "ResourceNotFoundException", "ResourceNotFoundException: b")


def test_fail_fast_dead_letters_an_entry_refused_for_its_content():
    fakes.reset("entry-content")
    client = fakes.FakeClient("entry-content", lambda method, kwargs, number: {
        "errors": [["b", "ValidationException"]]})
    service, request = _request("a", "b")
    outcome = _sender(fail_fast=True).send(client, request)
    assert [(s.item.payload, s.code, s.stage) for s in outcome.failed] == [
        ("b", "ValidationException", Stage.ENTRY)]


def test_fail_fast_on_a_refused_request_carries_the_services_message():
    fakes.reset("request-fast")
    client = fakes.FakeClient("request-fast", fakes.RaisingClient("AccessDeniedException", 403))
    service, request = _request("a")
    with pytest.raises(RequestFailedError) as raised:
        _sender(fail_fast=True).send(client, request)
    assert (raised.value.resource, raised.value.code, raised.value.message) == (
        "/a", "AccessDeniedException", "injected")
