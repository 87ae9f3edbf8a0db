"""IoT Events records: validation, message ids, byte-bounded packing, error mapping."""

import base64
import datetime
import json
import os
import random
import re

import botocore.exceptions
import botocore.validate
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from beam_batchput import _botocore
from beam_batchput.core.packing import pack
from beam_batchput.core.sender import settle_response
from beam_batchput.core.service import Failure, InvalidRecord, Unmatched
from beam_batchput.services.iotevents import (
    DUPLICATE_MESSAGE_CODE,
    DUPLICATE_MESSAGE_ID_CODE,
    MAX_MESSAGES_PER_REQUEST,
    MAX_PAYLOAD_BYTES_PER_REQUEST,
    IoTEventsService,
)
from tests import fakes
from tests.model_checks import constraint_violations

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
NOW_MS = NOW * 1000
_BUNDLED = os.path.join(os.path.dirname(_botocore.__file__), "_data", "iotevents-data")


def _operation_model():
    try:
        return _botocore.service_model("iotevents-data").operation_model("BatchPutMessage")
    except botocore.exceptions.UnknownServiceError:
        return None


OPERATION = _operation_model()
needs_model = pytest.mark.skipif(
    OPERATION is None, reason="no iotevents-data model: botocore lacks it and the bundled "
    "description is not in %s" % _BUNDLED)


def assert_valid_request(kwargs):
    """Within the model (botocore's checks and the ones it skips) and the request limits."""
    shape = OPERATION.input_shape
    report = botocore.validate.ParamValidator().validate(kwargs, shape)
    assert not report.has_errors(), report.generate_report()
    assert constraint_violations(kwargs, shape) == []
    messages = kwargs["messages"]
    assert len(messages) <= MAX_MESSAGES_PER_REQUEST
    assert sum(len(m["payload"]) for m in messages) <= MAX_PAYLOAD_BYTES_PER_REQUEST
    ids = [m["messageId"] for m in messages]
    assert len(set(ids)) == len(ids)


def record(**fields):
    base = {"input_name": "pressureInput", "payload": {"motorid": "Fulton-A32", "pressure": 80}}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def build(records, service=None):
    service = service or IoTEventsService()
    requests = pack([service.item(r) for r in records], service.limits, service.entry_id)
    return service, requests, [service.build_request(r.scope, r.entries) for r in requests]


def derived_id(input_name, payload, millis, event_time=0):
    """The documented derivation, written independently of the module."""
    import hashlib
    parts = [input_name, hashlib.sha256(payload).hexdigest(), millis, event_time]
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# The API reference's example message: a JSON payload for the input pressureInput.
PRESSURE = b'{"motorid":"Fulton-A32","pressure":80}'


@pytest.mark.parametrize("fields,message", [
    ({}, {"messageId": derived_id("pressureInput", PRESSURE, None),
          "inputName": "pressureInput", "payload": PRESSURE}),
    ({"message_id": "00001", "payload": PRESSURE},
     {"messageId": "00001", "inputName": "pressureInput", "payload": PRESSURE}),
    ({"message_id": "m_1-A", "payload": '{"pressure": 80}'},
     {"messageId": "m_1-A", "inputName": "pressureInput", "payload": b'{"pressure": 80}'}),
    ({"message_id": "x", "payload": {"b": [1, 2.5, None], "a": "Grüße"}},
     {"messageId": "x", "inputName": "pressureInput",
      "payload": '{"a":"Grüße","b":[1,2.5,null]}'.encode("utf-8")}),
    ({"message_id": "x", "payload": [1, {"z": 1, "y": True}]},
     {"messageId": "x", "inputName": "pressureInput", "payload": b'[1,{"y":true,"z":1}]'}),
    ({"message_id": "x", "payload": bytearray(b"\x00\xff")},
     {"messageId": "x", "inputName": "pressureInput", "payload": b"\x00\xff"}),
    ({"message_id": "x", "timestamp": NOW},
     {"messageId": "x", "inputName": "pressureInput", "payload": PRESSURE,
      "timestamp": {"timeInMillis": NOW_MS}}),
    ({"message_id": "x", "timestamp": NOW + 0.001},
     {"messageId": "x", "inputName": "pressureInput", "payload": PRESSURE,
      "timestamp": {"timeInMillis": NOW_MS + 1}}),
    ({"message_id": "x", "timestamp": datetime.datetime(2023, 11, 14, 23, 13, 20, 250000,
                                                        datetime.timezone(
                                                            datetime.timedelta(hours=1)))},
     {"messageId": "x", "inputName": "pressureInput", "payload": PRESSURE,
      "timestamp": {"timeInMillis": NOW_MS + 250}}),
    ({"message_id": "x", "timestamp": "2023-11-14T22:13:20.123456Z"},
     {"messageId": "x", "inputName": "pressureInput", "payload": PRESSURE,
      "timestamp": {"timeInMillis": NOW_MS + 123}}),
    ({"message_id": "x", "timestamp": None},
     {"messageId": "x", "inputName": "pressureInput", "payload": PRESSURE}),
    ({"message_id": None, "input_name": "a.b-c_D9"},
     {"messageId": derived_id("a.b-c_D9", PRESSURE, None), "inputName": "a.b-c_D9",
      "payload": PRESSURE}),
])
def test_a_record_becomes_one_message(fields, message):
    _, _, (kwargs,) = build([record(**fields)])
    assert kwargs == {"messages": [message]}
    if OPERATION is not None:
        assert_valid_request(kwargs)


def test_item_is_named_by_its_message_id_and_sized_by_its_payload():
    item = IoTEventsService().item(record(message_id="m1", payload=b"x" * 60))
    assert (item.item_id, item.resource, item.size, item.scope, item.group) == (
        "m1", "pressureInput", 60, (), None)


def test_derived_ids_follow_the_content_and_nothing_else():
    service = IoTEventsService()
    base = service.item(record(timestamp=NOW)).item_id
    assert base == derived_id("pressureInput", PRESSURE, NOW_MS)
    assert re.fullmatch(r"[0-9a-f]{32}", base)
    # Same content in another form, another dict order: the same id.
    assert service.item(record(payload=PRESSURE, timestamp=float(NOW))).item_id == base
    assert service.item(record(payload={"pressure": 80, "motorid": "Fulton-A32"},
                               timestamp="2023-11-14T22:13:20Z")).item_id == base
    changed = [record(input_name="other", timestamp=NOW),
               record(payload={"motorid": "Fulton-A32", "pressure": 81}, timestamp=NOW),
               record(timestamp=NOW + 1), record()]
    ids = {service.item(r).item_id for r in changed}
    assert len(ids) == 4 and base not in ids


@pytest.mark.parametrize("fields,code", [
    ({"input_name": ...}, "MissingField"),
    ({"payload": ...}, "MissingField"),
    ({"payload": None}, "MissingField"),
    ({"extra": 1}, "UnknownField"),
    ({"input_name": 5}, "InvalidType"),
    ({"input_name": ""}, "InvalidLength"),
    ({"input_name": "a" * 129}, "InvalidLength"),
    ({"input_name": "-pressure"}, "InvalidPattern"),
    ({"input_name": "_pressure"}, "InvalidPattern"),
    ({"input_name": "pressure input"}, "InvalidPattern"),
    ({"input_name": "pressure/input"}, "InvalidPattern"),
    ({"input_name": "pressure\n"}, "InvalidPattern"),
    ({"input_name": "Druck\u00fc"}, "InvalidPattern"),
    ({"message_id": ""}, "InvalidLength"),
    ({"message_id": "m" * 65}, "InvalidLength"),
    ({"message_id": "m.1"}, "InvalidPattern"),
    ({"message_id": "m 1"}, "InvalidPattern"),
    ({"message_id": "m\x001"}, "InvalidPattern"),
    ({"message_id": 1}, "InvalidType"),
    ({"payload": b"x" * 1025}, "PayloadTooLarge"),
    ({"payload": "é" * 513}, "PayloadTooLarge"),  # 513 characters, 1,026 bytes
    ({"payload": {"data": "x" * 1020}}, "PayloadTooLarge"),
    ({"payload": b""}, "InvalidLength"),
    ({"payload": ""}, "InvalidLength"),
    ({"payload": "\udcff"}, "InvalidEncoding"),  # undecodable bytes kept by surrogateescape
    ({"payload": {"text": "\ud800"}}, "InvalidEncoding"),
    ({"payload": {"pressure": float("nan")}}, "InvalidJson"),
    ({"payload": {"pressure": {1, 2}}}, "InvalidJson"),
    ({"payload": 80}, "InvalidType"),
    ({"payload": True}, "InvalidType"),
    ({"timestamp": datetime.datetime(2023, 11, 14)}, "InvalidTimestamp"),  # naive
    ({"timestamp": "yesterday"}, "InvalidTimestamp"),
    ({"timestamp": NOW_MS}, "InvalidTimestamp"),  # milliseconds given as seconds
    ({"timestamp": 0}, "InvalidTimestamp"),
    ({"timestamp": -1}, "InvalidTimestamp"),
    ({"timestamp": True}, "InvalidType"),
    ({"timestamp": [NOW]}, "InvalidType"),
])
def test_invalid_records_are_refused_with_a_specific_code(fields, code):
    with pytest.raises(InvalidRecord) as raised:
        IoTEventsService().item(record(**fields))
    assert raised.value.code == code


def test_a_payload_of_exactly_1_kib_is_accepted_alone():
    service, requests, calls = build([record(message_id="m%d" % n, payload=b"x" * 1024)
                                      for n in range(3)])
    assert [len(c["messages"]) for c in calls] == [1, 1, 1]


def test_refusals_name_the_input_once_it_is_known():
    with pytest.raises(InvalidRecord) as raised:
        IoTEventsService().item(record(payload=b"x" * 2000))
    assert raised.value.resource == "pressureInput"
    assert "2000" in raised.value.message


@needs_model
def test_requests_validate_against_the_model():
    records = [record(input_name="input%d" % (n % 3), payload={"n": n},
                      timestamp=NOW + n / 10) for n in range(40)]
    _, _, calls = build(records)
    assert sum(len(c["messages"]) for c in calls) == 40
    for kwargs in calls:
        assert_valid_request(kwargs)


@needs_model
def test_the_bundled_model_carries_the_documented_constraints():
    message = OPERATION.input_shape.members["messages"].member
    assert message.required_members == ["messageId", "inputName", "payload"]
    assert (message.members["messageId"].metadata["max"],
            message.members["inputName"].metadata["max"]) == (64, 128)
    assert message.members["messageId"].metadata["pattern"] == "^[a-zA-Z0-9_-]+$"
    assert message.members["inputName"].metadata["pattern"] == "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"


# Packing: at most 10 messages and 1,024 bytes of payload per request.

def test_small_payloads_fill_requests_of_ten():
    records = [record(message_id="m%02d" % n, payload=b"p" * 60) for n in range(35)]
    _, requests, calls = build(records)
    assert [len(c["messages"]) for c in calls] == [10, 10, 10, 5]
    assert sorted(m["messageId"] for c in calls for m in c["messages"]) == [
        "m%02d" % n for n in range(35)]


def test_large_payloads_are_bounded_by_bytes():
    records = [record(message_id="m%02d" % n, payload=b"p" * 300) for n in range(10)]
    _, _, calls = build(records)
    assert [len(c["messages"]) for c in calls] == [3, 3, 3, 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=1024), min_size=1, max_size=60))
@example([1024])                 # one payload at the byte limit
@example([1024, 1])              # one byte past it together
@example([512, 512, 1])          # two that fill a request exactly, one more
@example([1] * 10 + [1])         # the count limit, and one more
@example([102] * 10 + [4])       # 1,020 bytes in 10 messages, then 4 more bytes
def test_mixed_sizes_never_exceed_either_limit(sizes):
    records = [record(message_id="m%d" % n, payload=b"x" * size) for n, size in enumerate(sizes)]
    _, requests, calls = build(records)
    for kwargs in calls:
        assert len(kwargs["messages"]) <= MAX_MESSAGES_PER_REQUEST
        assert sum(len(m["payload"]) for m in kwargs["messages"]) <= MAX_PAYLOAD_BYTES_PER_REQUEST
    assert sorted(m["messageId"] for c in calls for m in c["messages"]) == sorted(
        "m%d" % n for n in range(len(sizes)))
    assert len(calls) >= -(-sum(sizes) // MAX_PAYLOAD_BYTES_PER_REQUEST)
    assert len(calls) >= -(-len(sizes) // MAX_MESSAGES_PER_REQUEST)


def test_packing_and_derived_ids_are_deterministic_under_shuffling():
    rng = random.Random(7)
    records = [record(input_name="input%d" % (n % 4), payload={"v": "x" * rng.randrange(200)},
                      timestamp=NOW + n) for n in range(50)]
    _, _, first = build(records)
    for seed in range(5):
        shuffled = list(records)
        random.Random(seed).shuffle(shuffled)
        assert build(shuffled)[2] == first


# Duplicate message ids: never two in one request.

def test_identical_messages_are_sent_once_and_the_copy_is_a_visible_collision():
    service, (request,), (kwargs,) = build([record(), record(), record(payload={"other": 1})])
    assert len(request.items) == 3
    assert len(kwargs["messages"]) == 2
    verdict = settle_response(service, request, {"BatchPutMessageErrorEntries": []})
    assert len(verdict.written) == 2 and verdict.collisions == 1
    ((copy, code, message),) = verdict.failed
    assert code == DUPLICATE_MESSAGE_CODE and copy.item_id in message
    assert not service.is_retryable(code)
    duplicated = service.item(record()).item_id
    response = {"BatchPutMessageErrorEntries": [
        {"messageId": duplicated, "errorCode": "ThrottlingException", "errorMessage": "slow"}]}
    failures = {(f.item.item_id, f.code) for f in service.failures(request, response)}
    assert failures == {(duplicated, "ThrottlingException"), (duplicated, DUPLICATE_MESSAGE_CODE)}


def stamped(service, fields, event_time):
    item = service.item(record(**fields))
    item.event_time = event_time
    return service.with_event_time(item)


def test_the_element_timestamp_keeps_records_of_equal_content_distinct():
    service = IoTEventsService()
    first, second = (stamped(service, {}, t) for t in (1_000_000, 2_000_000))
    assert first.item_id != second.item_id
    assert first.item_id == derived_id("pressureInput", PRESSURE, None, 1_000_000)
    assert first.payload["messageId"] == first.item_id
    # A replayed record (same content, same element timestamp) keeps its id.
    assert stamped(service, {}, 1_000_000).item_id == first.item_id
    # Both travel in one request, as two messages.
    (request,) = pack([first, second], service.limits, service.entry_id)
    kwargs = service.build_request(request.scope, request.entries)
    assert len(kwargs["messages"]) == 2
    verdict = settle_response(service, request, {"BatchPutMessageErrorEntries": []})
    assert len(verdict.written) == 2 and verdict.collisions == 0


def test_a_given_message_id_is_kept_whatever_the_element_timestamp():
    service = IoTEventsService()
    assert stamped(service, {"message_id": "m-1"}, 5_000_000).item_id == "m-1"


def test_a_reused_message_id_with_other_content_fails_without_being_sent():
    records = [record(message_id="reading-1", payload=b"1"),
               record(message_id="reading-1", payload=b"2")]
    outcomes = set()
    for order in (records, records[::-1]):
        service, (request,), (kwargs,) = build(order)
        assert len(kwargs["messages"]) == 1
        (failure,) = service.failures(request, {"BatchPutMessageErrorEntries": []})
        assert failure.code == DUPLICATE_MESSAGE_ID_CODE
        assert "reading-1" in failure.message
        assert not service.is_retryable(failure.code)
        outcomes.add((kwargs["messages"][0]["payload"], failure.item.payload["payload"]))
    assert outcomes == {(b"1", b"2")}  # the same one is sent, whatever the arrival order


def test_messages_with_one_id_share_a_shard():
    service = IoTEventsService()
    keys = {service.shard_key(service.item(record(message_id="a", payload=p)))
            for p in (b"1", b"2")}
    assert len(keys) == 1
    assert service.shard_key(service.item(record(message_id="b"))) not in keys


# Error entries map back by messageId.

def test_error_entries_map_to_exactly_their_messages():
    records = [record(message_id="m%d" % n, payload={"n": n}) for n in range(5)]
    service, (request,), _ = build(records)
    response = {"BatchPutMessageErrorEntries": [
        {"messageId": "m1", "errorCode": "ResourceNotFoundException",
         "errorMessage": "Input pressureInput not found."},
        {"messageId": "m3", "errorCode": "ThrottlingException", "errorMessage": "Rate exceeded"},
        {"messageId": "unknown", "errorCode": "InvalidRequestException", "errorMessage": "?"},
    ]}
    outcomes = list(service.failures(request, response))
    found = {f.item.item_id: (f.code, f.message) for f in outcomes if isinstance(f, Failure)}
    assert found == {"m1": ("ResourceNotFoundException", "Input pressureInput not found."),
                     "m3": ("ThrottlingException", "Rate exceeded")}
    (unplaced,) = [f for f in outcomes if isinstance(f, Unmatched)]
    assert unplaced.code == "InvalidRequestException" and "'unknown'" in unplaced.message
    assert len(unplaced.candidates) == 5


def test_a_response_without_errors_settles_nothing():
    service, (request,), _ = build([record()])
    assert list(service.failures(request, {})) == []
    assert list(service.failures(request, {"BatchPutMessageErrorEntries": []})) == []


@pytest.mark.parametrize("code,retryable", [
    ("InternalFailureException", True), ("InternalFailure", True),
    ("ServiceUnavailableException", True), ("ServiceUnavailable", True),
    ("ThrottlingException", True), ("Throttling", True),
    ("ResourceNotFoundException", False), ("ResourceNotFound", False),
    ("InvalidRequestException", False), ("InvalidRequest", False),
    (DUPLICATE_MESSAGE_ID_CODE, False), ("Unknown", False),
])
def test_retry_table(code, retryable):
    assert IoTEventsService().is_retryable(code) is retryable


def test_throttling_is_counted_as_throttling():
    service = IoTEventsService()
    assert service.is_throttling("ThrottlingException")
    assert not service.is_throttling("ServiceUnavailableException")


@needs_model
def test_every_modelled_error_code_is_classified():
    entry = OPERATION.output_shape.members["BatchPutMessageErrorEntries"].member
    codes = set(entry.members["errorCode"].enum) | {s.name for s in OPERATION.error_shapes}
    service = IoTEventsService()
    assert {c for c in codes if service.is_retryable(c)} == {
        "InternalFailureException", "ServiceUnavailableException", "ThrottlingException"}


def test_service_names_its_operation_and_limits():
    service = IoTEventsService()
    assert (service.name, service.operation, service.method) == (
        "iotevents-data", "BatchPutMessage", "batch_put_message")
    limits = service.limits
    assert (limits.max_entries, limits.max_values_per_entry, limits.max_request_bytes) == (
        10, 1, 1024)


@needs_model
def test_botocore_sends_the_payload_as_base64():
    """A real client, answered in its before-send hook: nothing leaves the process."""
    _, _, (kwargs,) = build([record(message_id="m1", payload=b"\x00\xffbinary",
                                    timestamp=NOW)])
    client = _botocore.new_session().create_client(
        "iotevents-data", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="test", aws_secret_access_key="test")
    sent = fakes.answer_in_process(client, 200, b'{"BatchPutMessageErrorEntries": []}')
    assert client.batch_put_message(**kwargs)["BatchPutMessageErrorEntries"] == []
    assert sent[0].url == "http://127.0.0.1:9/inputs/messages"
    (message,) = json.loads(sent[0].body)["messages"]
    assert base64.b64decode(message["payload"]) == b"\x00\xffbinary"
    assert message["timestamp"] == {"timeInMillis": NOW_MS}
