"""TwinMaker: echoes that name no property, the service's message on a dead letter, and the
read-back request (GetPropertyValueHistory) checked against the botocore model."""

import botocore.session

from beam_batchput.core.sender import UNMATCHED_ERROR_CODE, settle_response
from tests.unit.test_twinmaker import (
    THREE,
    assert_valid_request,
    build,
    echo,
    entry_for,
    error,
    failed,
    record,
)

HISTORY = botocore.session.get_session().get_service_model("iottwinmaker").operation_model(
    "GetPropertyValueHistory").input_shape


def test_an_echo_with_an_empty_reference_is_placed_on_no_one_property():
    service, (request,), (kwargs,) = build(THREE)
    nameless = echo(entry_for(kwargs, "flow"), entityPropertyReference={})
    response = {"errorEntries": [{"errors": [error(nameless, "409")]}]}
    found = failed(service, request, response)
    assert len(found) == len(THREE) and {code for _, code in found} == {UNMATCHED_ERROR_CODE}


def test_a_refused_value_carries_the_services_message():
    service, (request,), (kwargs,) = build(THREE)
    response = {"errorEntries": [{"errors": [
        error(echo(entry_for(kwargs, "pressure")), "ValidationException", "value too large")]}]}
    verdict = settle_response(service, request, response)
    assert sorted((code, message) for _, code, message in verdict.failed) == [
        ("ValidationException", "value too large")] * 2


class PagedHistory:
    """Answers GetPropertyValueHistory in two pages, recording each request."""

    def __init__(self):
        self.requests = []

    def get_property_value_history(self, **kwargs):
        self.requests.append(kwargs)
        if len(self.requests) == 1:
            return {"propertyValues": [], "nextToken": "page-2"}
        return {"propertyValues": []}


def test_the_read_back_requests_are_valid_and_follow_the_next_token():
    records = [record(value=float(n), timestamp=1_700_000_000 + n) for n in range(3)]
    service, (request,), _ = build(records)
    client = PagedHistory()
    assert list(service.held(client, request.items)) == []  # nothing held: nothing to say
    assert len(client.requests) == 2
    for kwargs in client.requests:
        assert_valid_request(kwargs, HISTORY)
    first, second = client.requests
    assert "nextToken" not in first and second == dict(first, nextToken="page-2")
    assert (first["startTime"], first["endTime"]) == (
        "2023-11-14T22:13:20Z", "2023-11-14T22:13:22Z")
