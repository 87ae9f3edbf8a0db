"""The reasons IoT Events refusals give: each refused record's code, message and target,
word for word as a dead letter carries them, and the messages of duplicate messages in a
request and of errors naming no message sent."""

import pytest

from beam_batchput.core.packing import pack
from beam_batchput.core.service import Failure, Unmatched
from beam_batchput.services.iotevents import IoTEventsService
from tests.refusals import refusal


def _record(**fields):
    record = {"input_name": "in1", "payload": {"a": 1}}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


_REFUSED = [
    (_record(input_name="_x"), "InvalidPattern",
     "field 'input_name'='_x' does not match [a-zA-Z0-9][a-zA-Z0-9_.-]*", ""),
    (_record(input_name="i" * 129), "InvalidLength",
     "field 'input_name' has 129 characters, at most 128 allowed", ""),
    (_record(message_id="m m"), "InvalidPattern",
     "field 'message_id'='m m' does not match [a-zA-Z0-9_-]+", "in1"),
    (_record(message_id="m" * 65), "InvalidLength",
     "field 'message_id' has 65 characters, at most 64 allowed", "in1"),
    (_record(payload=b""), "InvalidLength", "field 'payload' is empty", "in1"),
    (_record(payload=""), "InvalidLength", "field 'payload' is empty", "in1"),
    (_record(payload=b"x" * 1025), "PayloadTooLarge",
     "field 'payload' has 1025 bytes; a request carries at most 1024 bytes of payload", "in1"),
    (_record(payload=5), "InvalidType",
     "field 'payload' must be bytes, text, a dict or a list, got int", "in1"),
    (_record(payload=...), "MissingField", "field 'payload' is required", "in1"),
    (_record(timestamp=0), "InvalidTimestamp", "timestamp 0 ms must be after the epoch", "in1"),
    (_record(timestamp=0.0004), "InvalidTimestamp", "timestamp 0 ms must be after the epoch",
     "in1"),
    (_record(timestamp=-5), "InvalidTimestamp", "timestamp -5000 ms must be after the epoch",
     "in1"),
    (_record(colour=1), "UnknownField",
     "unknown field(s) colour; expected some of input_name, message_id, payload, timestamp",
     ""),
]


@pytest.mark.parametrize("record, code, message, resource", _REFUSED)
def test_each_refusal_names_its_field_limit_and_value(record, code, message, resource):
    assert refusal(IoTEventsService(), record) == (code, message, resource)


def test_a_payload_of_exactly_the_request_budget_is_taken():
    assert IoTEventsService().item(_record(payload=b"x" * 1024)).size == 1024


def _request(*records):
    service = IoTEventsService()
    (request,) = pack([service.item(r) for r in records], service.limits, service.entry_id)
    return service, request


def test_an_identical_copy_of_a_message_says_it_was_sent_once():
    service, request = _request(_record(message_id="m1"), _record(message_id="m1"))
    assert list(service.failures(request, {})) == [Failure(
        request.items[1], "DuplicateMessage",
        "another record of the same request is the same message (messageId 'm1', same "
        "input, payload and timestamps); it was sent once, for that record")]


def test_another_message_under_the_same_id_says_it_was_not_sent():
    service, request = _request(_record(message_id="m1", payload="a"),
                                _record(message_id="m1", payload="b"))
    (sent,) = service.build_request(request.scope, request.entries)["messages"]
    (refused,) = [item for item in request.items if item.payload is not sent]
    assert list(service.failures(request, {})) == [Failure(
        refused, "DuplicateMessageId",
        "another message of the same request has messageId 'm1' with different content; "
        "this one was not sent")]


def test_an_error_naming_no_message_sent_names_the_id_and_the_services_message():
    service, request = _request(_record(message_id="m1"))
    response = {"BatchPutMessageErrorEntries": [
        {"messageId": "m9", "errorCode": "InvalidRequestException", "errorMessage": "bad"}]}
    assert list(service.failures(request, response)) == [Unmatched(
        "InvalidRequestException", "messageId 'm9' names no message sent: bad",
        tuple(request.items))]


def test_an_error_without_an_id_or_code_is_unknown_and_unmatched():
    service, request = _request(_record(message_id="m1"))
    response = {"BatchPutMessageErrorEntries": [{}]}
    assert list(service.failures(request, response)) == [Unmatched(
        "Unknown", "messageId None names no message sent: ", tuple(request.items))]
