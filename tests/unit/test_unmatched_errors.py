"""Errors the writer cannot place are never successes: one rule in the core, every service.

Each response is JSON text parsed by botocore's own rest-json parser against the
operation's output shape, as a real answer would be.
"""

import json
import time

import pytest
from botocore import parsers

from beam_batchput import RetryConfig, Stage
from beam_batchput._botocore import service_model
from beam_batchput.core.packing import pack
from beam_batchput.core.sender import (
    NOT_CONFIRMED_CODE,
    UNMATCHED_ERROR_CODE,
    RequestSender,
    settle_response,
)
from beam_batchput.services.connect import ConnectDataTableService
from beam_batchput.services.iotevents import IoTEventsService
from beam_batchput.services.sitewise import ENTRY_NOT_INGESTED_CODE, SiteWiseService
from beam_batchput.services.twinmaker import TwinMakerService
from tests.clocks import FakeClock
from tests import fakes

NOW = int(time.time())
INSTANCE = "a1b2c3d4-0000-4000-8000-000000000001"


def parsed(service, body):
    """``body`` as botocore reads it from a 200 answer of the service's operation."""
    operation = service_model(service.name).operation_model(service.operation)
    parser = parsers.create_parser("rest-json")
    answer = parser.parse({"status_code": 200, "headers": {},
                           "body": json.dumps(body).encode()}, operation.output_shape)
    answer.pop("ResponseMetadata", None)
    return answer


def one_request(service, records):
    (request,) = pack([service.item(r) for r in records], service.limits, service.entry_id)
    return request, service.build_request(request.scope, request.entries)


def verdict_of(service, request, body):
    verdict = settle_response(service, request, parsed(service, body))
    return ({item.item_id for item in verdict.written},
            {item.item_id: code for item, code, _ in verdict.failed}, verdict.unmatched_errors)


# IoT SiteWise

def sitewise_records(aliases=("/a", "/b"), points=3):
    return [{"property_alias": a, "value": float(n), "timestamp": NOW - n}
            for a in aliases for n in range(points)]


def stamp(seconds, nanos=0):
    return {"timeInSeconds": seconds, "offsetInNanos": nanos}


def sitewise_error(entry_id, code, stamps):
    return {"errorEntries": [{"entryId": entry_id, "errors": [
        {"errorCode": code, "errorMessage": "refused", "timestamps": stamps}]}]}


def entry_of(kwargs, alias):
    (entry,) = [e for e in kwargs["entries"] if e["propertyAlias"] == alias]
    return entry["entryId"]


def test_sitewise_an_unknown_entry_id_fails_every_value_of_the_request():
    service = SiteWiseService(clock=lambda: NOW)
    request, _ = one_request(service, sitewise_records())
    written, failed, unmatched = verdict_of(
        service, request, sitewise_error("not-ours", "InvalidRequestException", [stamp(NOW)]))
    assert written == set() and unmatched == 1
    assert set(failed.values()) == {UNMATCHED_ERROR_CODE} and len(failed) == 6


def test_sitewise_a_timestamp_matching_no_value_fails_its_entry_only():
    service = SiteWiseService(clock=lambda: NOW)
    request, kwargs = one_request(service, sitewise_records())
    body = sitewise_error(entry_of(kwargs, "/a"), "InvalidRequestException",
                          [stamp(NOW - 99)])
    written, failed, unmatched = verdict_of(service, request, body)
    assert unmatched == 1
    assert {i for i, code in failed.items() if code == UNMATCHED_ERROR_CODE} == {
        "/a@%d.000000000" % (NOW - n) for n in range(3)}
    assert written == {"/b@%d.000000000" % (NOW - n) for n in range(3)}


def test_sitewise_a_nanosecond_offset_that_differs_is_not_a_match():
    service = SiteWiseService(clock=lambda: NOW)
    request, kwargs = one_request(service, sitewise_records(("/a",), 1))
    body = sitewise_error(entry_of(kwargs, "/a"), "InvalidRequestException", [stamp(NOW, 1)])
    written, failed, unmatched = verdict_of(service, request, body)
    assert written == set() and failed == {"/a@%d.000000000" % NOW: UNMATCHED_ERROR_CODE}


@pytest.mark.parametrize("partial, mates", [(True, "written"), (False, ENTRY_NOT_INGESTED_CODE)])
def test_sitewise_entry_mates_of_an_invalid_value_follow_partial_processing(partial, mates):
    service = SiteWiseService(enable_partial_entry_processing=partial, clock=lambda: NOW)
    request, kwargs = one_request(service, sitewise_records())
    body = sitewise_error(entry_of(kwargs, "/a"), "InvalidRequestException", [stamp(NOW - 1)])
    written, failed, unmatched = verdict_of(service, request, body)
    assert unmatched == 0
    assert failed["/a@%d.000000000" % (NOW - 1)] == "InvalidRequestException"
    for n in (0, 2):
        item_id = "/a@%d.000000000" % (NOW - n)
        assert (item_id in written) if mates == "written" else failed[item_id] == mates
    assert {"/b@%d.000000000" % (NOW - n) for n in range(3)} <= written


def test_sitewise_entry_mates_are_retried_and_then_stored_without_the_invalid_value():
    service = SiteWiseService(enable_partial_entry_processing=False, clock=lambda: NOW)
    request, kwargs = one_request(service, sitewise_records(("/a",)))

    def answer(method, sent, number):
        errors = [{"entryId": e["entryId"], "errors": [{
            "errorCode": "InvalidRequestException", "errorMessage": "bad",
            "timestamps": [v["timestamp"] for v in e["propertyValues"]
                           if v["timestamp"]["timeInSeconds"] == NOW - 1]}]}
            for e in sent["entries"]
            if any(v["timestamp"]["timeInSeconds"] == NOW - 1 for v in e["propertyValues"])]
        return {"errorEntries": errors}

    fakes.reset("mates")
    sender = RequestSender(service, RetryConfig(), clock=FakeClock())
    outcome = sender.send(fakes.FakeClient("mates", answer), request)
    assert sorted(s.item.item_id for s in outcome.written) == sorted(
        "/a@%d.000000000" % (NOW - n) for n in (0, 2))
    assert [(s.code, s.stage) for s in outcome.failed] == [("InvalidRequestException",
                                                            Stage.ENTRY)]
    assert len(fakes.calls("mates")) == 2


# Amazon Connect data tables

def connect_records():
    return [{"instance_id": INSTANCE, "data_table_id": "routing", "attribute_name": attribute,
             "value": "5", "primary_values": {"queue": queue, "region": "eu"}}
            for queue in ("billing", "Sales") for attribute in ("priority", "hours")]


def pv(queue, region="eu"):
    return [{"AttributeName": "queue", "Value": queue}, {"AttributeName": "region",
                                                          "Value": region}]


def successful(values):
    return [{"PrimaryValues": v.get("PrimaryValues", []), "AttributeName": v["AttributeName"],
             "RecordId": "rec-1", "LockVersion": {"Value": "1"}} for v in values]


@pytest.mark.parametrize("primary, attribute", [
    (pv("sales"), "priority"),         # case differs
    (pv("Sales "), "priority"),        # whitespace differs
    (pv("Sales"), "Priority"),         # the attribute's case differs
    (pv("Sales", "us"), "priority"),   # another record
], ids=["case", "whitespace", "attribute", "other-record"])
def test_connect_a_failed_entry_naming_no_value_sent_fails_every_unconfirmed_value(
        primary, attribute):
    service = ConnectDataTableService()
    request, kwargs = one_request(service, connect_records())
    confirmed = [v for v in kwargs["Values"] if v["PrimaryValues"][0]["Value"] == "billing"]
    body = {"Successful": successful(confirmed), "Failed": [
        {"PrimaryValues": primary, "AttributeName": attribute, "Message": "Value is invalid"}]}
    written, failed, unmatched = verdict_of(service, request, body)
    assert unmatched == 1
    assert written == {"routing/queue=billing,region=eu/priority",
                       "routing/queue=billing,region=eu/hours"}
    assert failed == {"routing/queue=Sales,region=eu/priority": UNMATCHED_ERROR_CODE,
                      "routing/queue=Sales,region=eu/hours": UNMATCHED_ERROR_CODE}


def test_connect_primary_values_in_another_order_still_match():
    service = ConnectDataTableService()
    request, kwargs = one_request(service, connect_records())
    reordered = list(reversed(pv("Sales")))
    billing = [v for v in kwargs["Values"] if v["PrimaryValues"][0]["Value"] == "billing"]
    body = {"Successful": successful(billing), "Failed": [
        {"PrimaryValues": reordered, "AttributeName": "hours",
         "Message": "ThrottlingException: slow down"},
        {"PrimaryValues": reordered, "AttributeName": "priority", "Message": "bad value"}]}
    written, failed, unmatched = verdict_of(service, request, body)
    assert unmatched == 0 and len(written) == 2
    assert failed == {"routing/queue=Sales,region=eu/hours": "ThrottlingException",
                      "routing/queue=Sales,region=eu/priority": "Failed"}


def test_connect_a_value_missing_from_both_lists_is_not_written():
    service = ConnectDataTableService()
    request, kwargs = one_request(service, connect_records())
    body = {"Successful": successful(kwargs["Values"][1:]), "Failed": []}
    written, failed, unmatched = verdict_of(service, request, body)
    assert len(written) == 3 and unmatched == 0
    assert list(failed.values()) == [NOT_CONFIRMED_CODE]


def test_connect_an_empty_answer_confirms_nothing():
    service = ConnectDataTableService()
    request, _ = one_request(service, connect_records())
    written, failed, _ = verdict_of(service, request, {})
    assert written == set() and set(failed.values()) == {NOT_CONFIRMED_CODE}


# AWS IoT Events

def test_iotevents_an_unknown_message_id_fails_every_message_of_the_request():
    service = IoTEventsService()
    request, kwargs = one_request(service, [
        {"input_name": "pressureInput", "payload": {"n": n}, "message_id": "m%d" % n}
        for n in range(3)])
    body = {"BatchPutMessageErrorEntries": [
        {"messageId": "M1", "errorCode": "InvalidRequestException", "errorMessage": "bad"}]}
    written, failed, unmatched = verdict_of(service, request, body)
    assert written == set() and unmatched == 1
    assert failed == {"m0": UNMATCHED_ERROR_CODE, "m1": UNMATCHED_ERROR_CODE,
                      "m2": UNMATCHED_ERROR_CODE}


# AWS IoT TwinMaker

def twinmaker_records():
    return [{"workspace_id": "ws", "entity_id": "pump", "component_name": "telemetry",
             "property_name": prop, "value": float(n), "timestamp": NOW - n}
            for prop in ("flow", "pressure") for n in range(2)]


def twinmaker_error(kwargs, prop, **changes):
    (entry,) = [e for e in kwargs["entries"]
                if e["entityPropertyReference"]["propertyName"] == prop]
    echoed = dict(entry, **changes)
    return {"errorEntries": [{"errors": [{"errorCode": "ValidationException",
                                          "errorMessage": "refused", "entry": echoed}]}]}


def test_twinmaker_an_echoed_reference_naming_no_entry_fails_the_request():
    service = TwinMakerService()
    request, kwargs = one_request(service, twinmaker_records())
    body = twinmaker_error(kwargs, "flow", entityPropertyReference={
        "entityId": "PUMP", "componentName": "telemetry", "propertyName": "flow"})
    written, failed, unmatched = verdict_of(service, request, body)
    assert written == set() and unmatched == 1 and len(failed) == 4


def test_twinmaker_an_echoed_time_matching_no_value_fails_its_entry():
    service = TwinMakerService()
    request, kwargs = one_request(service, twinmaker_records())
    body = twinmaker_error(kwargs, "flow", propertyValues=[
        {"value": {"doubleValue": 0.0}, "time": "2001-01-01T00:00:00Z"}])
    written, failed, unmatched = verdict_of(service, request, body)
    assert unmatched == 1 and len(written) == 2
    assert {i.split("@")[0] for i in failed} == {"pump/telemetry/flow"}


# The sending loop

def test_unplaced_errors_are_retried_then_dead_lettered_and_counted():
    service = IoTEventsService()
    request, _ = one_request(service, [{"input_name": "in", "payload": "x", "message_id": "m"}])

    def stranger(method, kwargs, number):
        return {"BatchPutMessageErrorEntries": [
            {"messageId": "other", "errorCode": "InternalFailureException",
             "errorMessage": "?"}]}

    fakes.reset("stranger")
    sender = RequestSender(service, RetryConfig(max_attempts=3), clock=FakeClock())
    outcome = sender.send(fakes.FakeClient("stranger", stranger), request)
    assert outcome.written == [] and len(fakes.calls("stranger")) == 3
    (letter,) = outcome.failed
    assert (letter.code, letter.stage, letter.attempts) == (
        UNMATCHED_ERROR_CODE, Stage.RETRIES_EXHAUSTED, 3)
    assert "InternalFailureException" in letter.message and "'other'" in letter.message
    assert outcome.unmatched_errors == 3


def test_an_unplaced_error_that_goes_away_lets_the_retry_write():
    service = IoTEventsService()
    request, _ = one_request(service, [{"input_name": "in", "payload": "x", "message_id": "m"}])

    def once(method, kwargs, number):
        return {"BatchPutMessageErrorEntries": [
            {"messageId": "other", "errorCode": "InvalidRequestException",
             "errorMessage": "?"}] if number == 1 else []}

    fakes.reset("once")
    outcome = RequestSender(service, RetryConfig(), clock=FakeClock()).send(
        fakes.FakeClient("once", once), request)
    assert [s.attempts for s in outcome.written] == [2] and outcome.failed == []
