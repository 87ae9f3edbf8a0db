"""TwinMaker: echoes that name no property of ours, errors without a code, every error of an
entry read, echoed times as botocore parses them, and the read-back request
(GetPropertyValueHistory) checked against the botocore model."""

import datetime

import botocore.session
import pytest

from beam_batchput.core.sender import UNMATCHED_ERROR_CODE, settle_response
from beam_batchput.core.service import InvalidRecord
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
    assert (first["entityId"], first["componentName"], first["selectedProperties"]) == (
        "pump-01", "telemetry", ["temperature"])


def test_the_read_back_of_a_component_path_names_the_path():
    service, (request,), _ = build([record(component_name=..., component_path="telemetry/a")])
    client = PagedHistory()
    list(service.held(client, request.items))
    assert client.requests[0]["componentPath"] == "telemetry/a"
    assert "componentName" not in client.requests[0]


def test_an_echo_naming_another_component_is_placed_on_no_one_property():
    service, (request,), (kwargs,) = build(THREE)
    reference = dict(entry_for(kwargs, "flow")["entityPropertyReference"], componentName="other")
    response = {"errorEntries": [{"errors": [
        error(echo(entry_for(kwargs, "flow"), entityPropertyReference=reference))]}]}
    found = failed(service, request, response)
    assert len(found) == len(THREE) and {code for _, code in found} == {UNMATCHED_ERROR_CODE}


def test_an_echo_naming_another_component_path_is_placed_on_no_one_property():
    records = [record(component_name=..., component_path="telemetry/a")]
    service, (request,), (kwargs,) = build(records)
    (entry,) = kwargs["entries"]
    reference = dict(entry["entityPropertyReference"], componentPath="telemetry/b")
    response = {"errorEntries": [{"errors": [
        error(echo(entry, entityPropertyReference=reference))]}]}
    assert failed(service, request, response) == [
        (request.items[0].item_id, UNMATCHED_ERROR_CODE)]


# Two values of one property, equal but for their time.
TWICE = [record(value=5.0, timestamp=1_700_000_000 + n) for n in range(2)]


def test_an_echoed_timestamp_as_botocore_parses_it_or_as_epoch_seconds_names_its_value():
    later = datetime.datetime(2023, 11, 14, 22, 13, 21, tzinfo=datetime.timezone.utc)
    for moment in (later, 1_700_000_001, 1_700_000_001.0):
        service, (request,), (kwargs,) = build(TWICE)
        (entry,) = kwargs["entries"]
        values = [{"timestamp": moment, "value": {"doubleValue": 5.0}}]
        response = {"errorEntries": [{"errors": [error(echo(entry, propertyValues=values))]}]}
        assert failed(service, request, response) == [
            ("pump-01/telemetry/temperature@2023-11-14T22:13:21Z", "409")], moment


def _failures(service, request, response):
    return list(service.failures(request, response))


def test_errors_without_a_code_fail_as_unknown_and_unplaced_ones_keep_their_code():
    service, (request,), (kwargs,) = build(THREE)
    flow = entry_for(kwargs, "flow")
    stranger = echo(flow, entityPropertyReference=dict(flow["entityPropertyReference"],
                                                       entityId="other"))
    never_sent = echo(flow, propertyValues=[{"time": "2030-01-01T00:00:00Z",
                                             "value": {"doubleValue": 1.0}}])
    response = {"errorEntries": [{"errors": [
        {"errorMessage": "no code", "entry": echo(entry_for(kwargs, "pressure"))},
        error(stranger, "500"), error(never_sent, "ValidationException"),
        error(echo(entry_for(kwargs, "temperature")), "409")]}]}
    found = _failures(service, request, response)
    # Every error of the entry is read, in order: an unplaced one does not end the list.
    assert [(type(f).__name__, f.code) for f in found] == [
        ("Failure", "Unknown"), ("Failure", "Unknown"), ("Unmatched", "500"),
        ("Unmatched", "ValidationException"), ("Failure", "409"), ("Failure", "409")]
    assert all(f.message for f in found)


def test_a_value_named_by_two_errors_fails_once_with_the_first():
    service, (request,), (kwargs,) = build(THREE)
    flow = echo(entry_for(kwargs, "flow"))
    found = _failures(service, request, {"errorEntries": [
        {"errors": [error(flow, "409"), error(flow, "500")]}]})
    assert sorted((f.item.item_id, f.code) for f in found) == [
        ("pump-01/telemetry/flow@2023-11-14T22:13:20Z", "409"),
        ("pump-01/telemetry/flow@2023-11-14T22:13:21Z", "409")]


def _maps(depth):
    value = 1
    for _ in range(depth):
        value = {"k": value}
    return value


def test_maps_nest_up_to_the_documented_depth_and_no_further():
    # TwinMaker's DataValue nests lists and maps 10 levels deep at most.
    service, _, _ = build([record()])
    value = service.item(record(value=_maps(10))).payload["value"]
    for _ in range(10):
        value = value["mapValue"]["k"]
    assert value == {"integerValue": 1}
    with pytest.raises(InvalidRecord) as raised:
        service.item(record(value=_maps(11)))
    assert raised.value.code == "NestingTooDeep"
