"""TwinMaker records: validation, payloads, packing, error mapping (API reference cases)."""

import datetime
import json
import random
import re

import botocore.session
import botocore.validate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from botocore import parsers, serialize

from beam_batchput.core.packing import pack
from beam_batchput.core.sender import UNMATCHED_ERROR_CODE, settle_response
from beam_batchput.core.service import Entry, InvalidRecord
from beam_batchput.services.twinmaker import MAX_NESTING_DEPTH, TwinMakerService

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
NOW_TEXT = "2023-11-14T22:13:20Z"
MODEL = botocore.session.get_session().get_service_model("iottwinmaker")
SHAPE = MODEL.operation_model("BatchPutPropertyValues").input_shape
UUID = "a1b2c3d4-0000-4000-8000-000000000001"


def model_violations(value, shape, path="$"):
    """What botocore leaves unchecked: max lengths and sizes, patterns, enums, int widths."""
    found = []
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        for key, member in value.items():
            if key not in shape.members:
                found.append("%s.%s: not in the model" % (path, key))
            else:
                found += model_violations(member, shape.members[key], "%s.%s" % (path, key))
    elif kind in ("list", "map", "string"):
        if "max" in meta and len(value) > meta["max"]:
            found.append("%s: %d > max %d" % (path, len(value), meta["max"]))
        if "min" in meta and len(value) < meta["min"]:
            found.append("%s: %d < min %d" % (path, len(value), meta["min"]))
        if kind == "list":
            for i, member in enumerate(value):
                found += model_violations(member, shape.member, "%s[%d]" % (path, i))
        elif kind == "map":
            for key, member in value.items():
                found += model_violations(key, shape.key, "%s key" % path)
                found += model_violations(member, shape.value, "%s[%r]" % (path, key))
        else:
            if "pattern" in meta and not re.fullmatch(meta["pattern"], value, re.ASCII):
                found.append("%s: %r does not match %s" % (path, value[:50], meta["pattern"]))
            if shape.enum and value not in shape.enum:
                found.append("%s: %r not in %s" % (path, value, shape.enum))
    elif kind in ("integer", "long"):
        bits = 31 if kind == "integer" else 63
        if not -(2 ** bits) <= value < 2 ** bits:
            found.append("%s: %d overflows %s" % (path, value, kind))
    return found


def assert_valid_request(kwargs, shape):
    """Passes botocore's own validation and the constraints it skips."""
    report = botocore.validate.ParamValidator().validate(kwargs, shape)
    assert not report.has_errors(), report.generate_report()
    assert model_violations(kwargs, shape) == []


def record(**fields):
    base = {"workspace_id": "factory-ws", "entity_id": "pump-01", "component_name": "telemetry",
            "property_name": "temperature", "value": 21.5, "timestamp": NOW}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def nested(depth, leaf=1):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("fields,data_value", [
    ({"value": True}, {"booleanValue": True}),
    ({"value": 7}, {"integerValue": 7}),
    ({"value": 2 ** 31 - 1}, {"integerValue": 2 ** 31 - 1}),
    ({"value": -(2 ** 31)}, {"integerValue": -(2 ** 31)}),
    ({"value": 2 ** 31}, {"longValue": 2 ** 31}),
    ({"value": -(2 ** 31) - 1}, {"longValue": -(2 ** 31) - 1}),
    ({"value": 2 ** 63 - 1}, {"longValue": 2 ** 63 - 1}),
    ({"value": 21.5}, {"doubleValue": 21.5}),
    ({"value": "RUNNING"}, {"stringValue": "RUNNING"}),
    ({"value": "x" * 256}, {"stringValue": "x" * 256}),
    ({"value": [1, "a", False]},
     {"listValue": [{"integerValue": 1}, {"stringValue": "a"}, {"booleanValue": False}]}),
    ({"value": (1.5,)}, {"listValue": [{"doubleValue": 1.5}]}),
    ({"value": {"rpm": 1200, "state": "ok"}},
     {"mapValue": {"rpm": {"integerValue": 1200}, "state": {"stringValue": "ok"}}}),
    ({"value": {"axes": [0.1, 0.2]}},
     {"mapValue": {"axes": {"listValue": [{"doubleValue": 0.1}, {"doubleValue": 0.2}]}}}),
    ({"value": [], "value_type": "LIST"}, {"listValue": []}),
    ({"value": {}, "value_type": "MAP"}, {"mapValue": {}}),
    ({"value": 7, "value_type": "LONG"}, {"longValue": 7}),
    ({"value": 7, "value_type": "DOUBLE"}, {"doubleValue": 7.0}),
    ({"value": 7, "value_type": "INTEGER"}, {"integerValue": 7}),
    ({"value": False, "value_type": "BOOLEAN"}, {"booleanValue": False}),
    ({"value": "7", "value_type": "STRING"}, {"stringValue": "7"}),
    ({"value": list(range(50))}, {"listValue": [{"integerValue": n} for n in range(50)]}),
])
def test_values_map_to_the_data_value(fields, data_value):
    assert TwinMakerService().item(record(**fields)).payload["value"] == data_value


def test_lists_and_maps_nest_up_to_the_documented_depth():
    value = TwinMakerService().item(record(value=nested(MAX_NESTING_DEPTH))).payload["value"]
    for _ in range(MAX_NESTING_DEPTH):
        value = value["listValue"][0]
    assert value == {"integerValue": 1}


@pytest.mark.parametrize("timestamp,time", [
    (NOW, NOW_TEXT),
    (NOW + 0.25, "2023-11-14T22:13:20.250000000Z"),
    (NOW + 0.001, "2023-11-14T22:13:20.001000000Z"),  # float noise rounded to microseconds
    (datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc), NOW_TEXT),
    (datetime.datetime(2023, 11, 15, 0, 13, 20, 123456,
                       tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     "2023-11-14T22:13:20.123456000Z"),
    ("2023-11-14T22:13:20.5Z", "2023-11-14T22:13:20.500000000Z"),
    ("2023-11-14T23:13:20+01:00", NOW_TEXT),
    (0, "1970-01-01T00:00:00Z"),
])
def test_timestamps_become_the_iso_time_field(timestamp, time):
    payload = TwinMakerService().item(record(timestamp=timestamp)).payload
    assert payload["time"] == time
    assert 20 <= len(payload["time"]) <= 35
    assert "timestamp" not in payload  # deprecated in the model


def test_item_names_its_property_and_time():
    item = TwinMakerService().item(record())
    assert item.scope == ("factory-ws",)
    assert item.item_id == "pump-01/telemetry/temperature@" + NOW_TEXT
    assert item.resource == "factory-ws/pump-01/telemetry/temperature"
    assert item.size == len(b'{"time":"2023-11-14T22:13:20Z","value":{"doubleValue":21.5}}')


def test_component_name_and_path_make_different_groups():
    service = TwinMakerService()
    by_name = service.item(record())
    by_path = service.item(record(component_name=..., component_path="telemetry"))
    assert by_name.group != by_path.group


def test_avro_style_nulls_for_absent_optional_fields_are_accepted():
    item = TwinMakerService().item(record(component_path=None, value_type=None))
    assert item.payload["value"] == {"doubleValue": 21.5}


@pytest.mark.parametrize("fields,code", [
    ({"workspace_id": ...}, "MissingField"),
    ({"entity_id": ...}, "MissingField"),
    ({"property_name": ...}, "MissingField"),
    ({"value": ...}, "MissingField"),
    ({"timestamp": ...}, "MissingField"),
    ({"component_name": ...}, "MissingField"),
    ({"component_path": "telemetry"}, "InvalidRecord"),
    ({"extra": 1}, "UnknownField"),
    ({"workspace_id": 5}, "InvalidType"),
    ({"workspace_id": "w"}, "InvalidPattern"),  # the pattern needs two characters
    ({"workspace_id": "my ws"}, "InvalidPattern"),
    ({"workspace_id": "ws-"}, "InvalidPattern"),
    ({"workspace_id": "w" * 129}, "InvalidLength"),
    ({"entity_id": "-pump"}, "InvalidPattern"),
    ({"entity_id": "pump/1"}, "InvalidPattern"),
    ({"entity_id": "p" * 129}, "InvalidLength"),
    ({"component_name": "tele metry"}, "InvalidPattern"),
    ({"component_name": "c" * 257}, "InvalidLength"),
    ({"component_name": ..., "component_path": "a/b c"}, "InvalidPattern"),
    ({"component_name": ..., "component_path": "a/" * 1025}, "InvalidLength"),
    ({"property_name": "temp.c"}, "InvalidPattern"),
    ({"property_name": "p" * 257}, "InvalidLength"),
    ({"property_name": ""}, "InvalidLength"),
    ({"value": None}, "InvalidValue"),
    ({"value_type": "FLOAT"}, "InvalidValue"),
    ({"value": b"raw"}, "InvalidType"),
    ({"value": {1, 2}}, "InvalidType"),
    ({"value": "1", "value_type": "INTEGER"}, "InvalidType"),
    ({"value": 1.0, "value_type": "LONG"}, "InvalidType"),
    ({"value": True, "value_type": "DOUBLE"}, "InvalidType"),
    ({"value": 1, "value_type": "BOOLEAN"}, "InvalidType"),
    ({"value": 1, "value_type": "STRING"}, "InvalidType"),
    ({"value": [1], "value_type": "MAP"}, "InvalidType"),
    ({"value": {"a": 1}, "value_type": "LIST"}, "InvalidType"),
    ({"value": 2 ** 31, "value_type": "INTEGER"}, "ValueOutOfRange"),
    ({"value": 2 ** 63}, "ValueOutOfRange"),
    ({"value": -(2 ** 63) - 1, "value_type": "LONG"}, "ValueOutOfRange"),
    ({"value": float("nan")}, "ValueOutOfRange"),
    ({"value": float("inf")}, "ValueOutOfRange"),
    ({"value": float("-inf")}, "ValueOutOfRange"),
    ({"value": 10 ** 400, "value_type": "DOUBLE"}, "ValueOutOfRange"),
    ({"value": ""}, "InvalidLength"),
    ({"value": "x" * 257}, "InvalidLength"),
    ({"value": "a\nb"}, "InvalidCharacters"),
    ({"value": "del\x7f"}, "InvalidCharacters"),
    ({"value": list(range(51))}, "TooManyElements"),
    ({"value": {"k%d" % n: n for n in range(51)}}, "TooManyElements"),
    ({"value": nested(MAX_NESTING_DEPTH + 1)}, "NestingTooDeep"),
    ({"value": {"a": nested(MAX_NESTING_DEPTH)}}, "NestingTooDeep"),
    ({"value": [1, None]}, "InvalidValue"),
    ({"value": [float("nan")]}, "ValueOutOfRange"),
    ({"value": ["x" * 257]}, "InvalidLength"),
    ({"value": {"k": "tab\there"}}, "InvalidCharacters"),
    ({"value": {1: "a"}}, "InvalidType"),
    ({"value": {"": "a"}}, "InvalidLength"),
    ({"value": {"k" * 257: "a"}}, "InvalidLength"),
    ({"value": {"line\nbreak": "a"}}, "InvalidCharacters"),
    ({"timestamp": datetime.datetime(2023, 11, 14)}, "InvalidTimestamp"),
    ({"timestamp": "yesterday"}, "InvalidTimestamp"),
    ({"timestamp": 3e11}, "InvalidTimestamp"),  # after the year 9999
    ({"timestamp": True}, "InvalidType"),
])
def test_invalid_records_are_refused_with_a_specific_code(fields, code):
    with pytest.raises(InvalidRecord) as raised:
        TwinMakerService().item(record(**fields))
    assert raised.value.code == code


def test_refusals_name_the_target_once_it_is_known():
    with pytest.raises(InvalidRecord) as raised:
        TwinMakerService().item(record(value=float("nan")))
    assert raised.value.resource == "factory-ws/pump-01/telemetry/temperature"


def build(records, service=None):
    service = service or TwinMakerService()
    items = [service.item(r) for r in records]
    requests = pack(items, service.limits, service.entry_id)
    return service, requests, [service.build_request(r.scope, r.entries) for r in requests]


def test_requests_validate_against_the_botocore_model():
    values = [True, -3, 2 ** 40, 2.5, "idle", ["a", 1], {"m": {"n": [1.5]}}]
    records = [record(property_name="p%d" % i, value=v, timestamp=NOW - n)
               for i, v in enumerate(values) for n in range(3)]
    records.append(record(entity_id=UUID, component_name=..., component_path="arm/joint_1"))
    _, _, (kwargs,) = build(records)
    assert_valid_request(kwargs, SHAPE)
    assert kwargs["workspaceId"] == "factory-ws"
    refs = [e["entityPropertyReference"] for e in kwargs["entries"]]
    assert {"entityId": UUID, "componentPath": "arm/joint_1", "propertyName": "temperature"} in refs
    assert {"entityId": "pump-01", "componentName": "telemetry", "propertyName": "p0"} in refs
    for entry in kwargs["entries"]:
        for value in entry["propertyValues"]:
            assert set(value) == {"value", "time"}


def test_a_hundred_values_of_one_property_fill_one_request():
    _, requests, (kwargs,) = build([record(timestamp=NOW - n) for n in range(100)])
    assert [len(e["propertyValues"]) for e in kwargs["entries"]] == [10] * 10
    assert_valid_request(kwargs, SHAPE)


def test_packing_respects_the_limits_and_never_mixes_workspaces():
    records = [record(workspace_id="ws-%d" % (n % 3), property_name="p%d" % (n % 13),
                      value=float(n), timestamp=NOW - n) for n in range(257)]
    service, requests, requests_kwargs = build(records)
    assert sum(len(r.items) for r in requests) == 257
    for request, kwargs in zip(requests, requests_kwargs):
        assert_valid_request(kwargs, SHAPE)
        assert len(kwargs["entries"]) <= 10
        assert all(len(e["propertyValues"]) <= 10 for e in kwargs["entries"])
        assert {item.scope for item in request.items} == {(kwargs["workspaceId"],)}
        for entry in request.entries:
            assert len({item.group for item in entry.items}) == 1


def test_packing_is_deterministic_under_shuffling():
    records = [record(property_name="p%d" % (n % 7), value=n, timestamp=NOW - n)
               for n in range(120)]
    _, _, first = build(records)
    for seed in range(5):
        shuffled = list(records)
        random.Random(seed).shuffle(shuffled)
        assert build(shuffled)[2] == first


# Three entries (three properties, two values each); the service echoes entries whole.
THREE = [record(property_name=name, value=float(n), timestamp=NOW + n)
         for name in ("flow", "pressure", "temperature") for n in range(2)]


def echo(entry, **change):
    """An echoed error entry, as botocore parses it, with some fields changed."""
    echoed = {"entityPropertyReference": dict(entry["entityPropertyReference"]),
              "propertyValues": [dict(v) for v in entry["propertyValues"]]}
    echoed.update(change)
    return echoed


def error(entry, code="409", message="conflicting value"):
    return {"errorCode": code, "errorMessage": message, "entry": entry}


def entry_for(kwargs, prop):
    return next(e for e in kwargs["entries"]
                if e["entityPropertyReference"]["propertyName"] == prop)


def failed(service, request, response):
    """(item id, code) of every value the core's rule settles as not written."""
    verdict = settle_response(service, request, response)
    return sorted((item.item_id, code) for item, code, _ in verdict.failed)


def test_an_echoed_entry_fails_exactly_its_values():
    service, (request,), (kwargs,) = build(THREE)
    response = {"errorEntries": [{"errors": [error(echo(entry_for(kwargs, "pressure")))]}]}
    assert failed(service, request, response) == [
        ("pump-01/telemetry/pressure@2023-11-14T22:13:20Z", "409"),
        ("pump-01/telemetry/pressure@2023-11-14T22:13:21Z", "409")]


def test_an_echo_naming_one_value_fails_only_that_value():
    service, (request,), (kwargs,) = build(THREE)
    entry = entry_for(kwargs, "flow")
    response = {"errorEntries": [{"errors": [
        error(echo(entry, propertyValues=entry["propertyValues"][1:]), "ValidationException")]}]}
    assert failed(service, request, response) == [
        ("pump-01/telemetry/flow@2023-11-14T22:13:21Z", "ValidationException")]


@pytest.mark.parametrize("echoed_value", [
    {"time": "2023-11-14T22:13:21.000Z"},
    {"time": "2023-11-14T23:13:21+01:00"},
    {"time": "2023-11-14T22:13:21.000000000Z"},
    {"timestamp": datetime.datetime(2023, 11, 14, 22, 13, 21, tzinfo=datetime.timezone.utc)},
    {"timestamp": datetime.datetime(2023, 11, 14, 22, 13, 21)},
    {"timestamp": NOW + 1.0},
    {"timestamp": "2023-11-14T22:13:21Z"},
    {"time": "not a time", "timestamp": NOW + 1},
])
def test_echoed_times_are_normalised_before_matching(echoed_value):
    service, (request,), (kwargs,) = build(THREE)
    entry = entry_for(kwargs, "temperature")
    echoed_value = dict(echoed_value, value={"doubleValue": 1.0})
    response = {"errorEntries": [{"errors": [error(echo(entry, propertyValues=[echoed_value]))]}]}
    assert failed(service, request, response) == [
        ("pump-01/telemetry/temperature@2023-11-14T22:13:21Z", "409")]


def test_an_echoed_time_cut_to_milliseconds_still_finds_its_value():
    micros = datetime.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=datetime.timezone.utc)
    service, (request,), (kwargs,) = build([record(timestamp=micros), record(timestamp=NOW + 0.5)])
    echoed = {"time": "2023-11-14T22:13:20.123Z", "value": {"doubleValue": 21.5}}
    response = {"errorEntries": [{"errors": [
        error(echo(kwargs["entries"][0], propertyValues=[echoed]))]}]}
    assert failed(service, request, response) == [
        ("pump-01/telemetry/temperature@2023-11-14T22:13:20.123456000Z", "409")]


def test_the_echoed_value_picks_among_values_at_the_same_time():
    service, (request,), (kwargs,) = build([record(value=1.0), record(value=2.0)])
    echoed = {"time": NOW_TEXT, "value": {"doubleValue": 2.0}}
    response = {"errorEntries": [{"errors": [
        error(echo(kwargs["entries"][0], propertyValues=[echoed]))]}]}
    assert [f.item.payload["value"] for f in service.failures(request, response)] == [
        {"doubleValue": 2.0}]


def test_an_echo_matching_several_entries_fails_every_value_it_names():
    # 15 values of one property pack into two entries of one request.
    service, (request,), (kwargs,) = build([record(timestamp=NOW + n) for n in range(15)])
    assert len(kwargs["entries"]) == 2
    named = [{"time": "2023-11-14T22:13:20Z"}, {"time": "2023-11-14T22:13:34Z"}]
    response = {"errorEntries": [{"errors": [
        error(echo(kwargs["entries"][0], propertyValues=named))]}]}
    assert failed(service, request, response) == [
        ("pump-01/telemetry/temperature@2023-11-14T22:13:20Z", "409"),
        ("pump-01/telemetry/temperature@2023-11-14T22:13:34Z", "409")]


def test_an_echo_without_values_fails_every_value_of_its_property():
    service, (request,), (kwargs,) = build(THREE)
    response = {"errorEntries": [{"errors": [
        error(echo(entry_for(kwargs, "flow"), propertyValues=[]), "ResourceNotFoundException")]}]}
    assert [code for _, code in failed(service, request, response)] == [
        "ResourceNotFoundException"] * 2


def test_an_echoed_time_we_never_sent_fails_every_value_of_its_property():
    service, (request,), (kwargs,) = build(THREE)
    echoed = [{"time": "2001-01-01T00:00:00Z"}]
    response = {"errorEntries": [{"errors": [
        error(echo(entry_for(kwargs, "flow"), propertyValues=echoed))]}]}
    found = failed(service, request, response)
    assert len(found) == 2 and {code for _, code in found} == {UNMATCHED_ERROR_CODE}
    assert settle_response(service, request, response).unmatched_errors == 1


def test_an_echo_naming_no_entry_of_ours_fails_the_whole_request():
    service, (request,), (kwargs,) = build(THREE)
    stranger = echo(entry_for(kwargs, "flow"),
                    entityPropertyReference={"entityId": "other", "componentName": "telemetry",
                                             "propertyName": "flow"})
    response = {"errorEntries": [{"errors": [error(stranger, "500")]}]}
    found = failed(service, request, response)
    assert len(found) == len(THREE) and {code for _, code in found} == {UNMATCHED_ERROR_CODE}


def test_each_item_fails_once_even_when_named_twice():
    service, (request,), (kwargs,) = build(THREE)
    entry = echo(entry_for(kwargs, "flow"))
    response = {"errorEntries": [{"errors": [error(entry, "409")]},
                                 {"errors": [error(entry, "500")]}]}
    assert [code for _, code in failed(service, request, response)] == ["409", "409"]


def test_no_error_entries_means_every_value_was_written():
    service, (request,), _ = build(THREE)
    assert list(service.failures(request, {"errorEntries": []})) == []
    assert list(service.failures(request, {})) == []
    assert len(settle_response(service, request, {}).written) == len(THREE)


@pytest.mark.parametrize("code,retryable", [
    ("ThrottlingException", True), ("InternalServerException", True),
    ("ServiceUnavailableException", True), ("429", True), ("500", True), ("503", True),
    ("409", False), ("400", False), ("404", False), ("ConflictException", False),
    ("ValidationException", False), ("ResourceNotFoundException", False),
    ("AccessDeniedException", False), ("SomethingElse", False),
])
def test_retry_table(code, retryable):
    assert TwinMakerService().is_retryable(code) is retryable


@pytest.mark.parametrize("code,throttling", [
    ("ThrottlingException", True), ("429", True), ("500", False), ("409", False)])
def test_throttling_table(code, throttling):
    assert TwinMakerService().is_throttling(code) is throttling


def test_service_names_its_operation_and_limits():
    service = TwinMakerService()
    assert (service.name, service.operation, service.method) == (
        "iottwinmaker", "BatchPutPropertyValues", "batch_put_property_values")
    entries = SHAPE.members["entries"]
    assert service.limits.max_entries == entries.metadata["max"]
    assert service.limits.max_values_per_entry == (
        entries.member.members["propertyValues"].metadata["max"])


def test_a_response_parsed_by_botocore_maps_back_to_our_values():
    service, (request,), (kwargs,) = build(THREE)
    operation = MODEL.operation_model("BatchPutPropertyValues")
    body = serialize.create_serializer("rest-json").serialize_to_request(kwargs, operation)["body"]
    sent = json.loads(body)
    echoed = {"entityPropertyReference": sent["entries"][0]["entityPropertyReference"],
              "propertyValues": [{"timestamp": NOW + 1, "value": {"doubleValue": 1.0}}]}
    raw = {"status_code": 200, "headers": {}, "body": json.dumps({"errorEntries": [{"errors": [
        {"errorCode": "409", "errorMessage": "conflict", "entry": echoed}]}]}).encode()}
    response = parsers.create_parser("rest-json").parse(raw, operation.output_shape)
    assert isinstance(response["errorEntries"][0]["errors"][0]["entry"]["propertyValues"][0][
        "timestamp"], datetime.datetime)
    prop = sent["entries"][0]["entityPropertyReference"]["propertyName"]
    assert failed(service, request, response) == [
        ("pump-01/telemetry/%s@2023-11-14T22:13:21Z" % prop, "409")]


_SCALARS = (st.booleans() | st.integers(min_value=-(2 ** 64), max_value=2 ** 64)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=300)
            | st.none())
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=60)
                       | st.dictionaries(st.text(max_size=300), inner, max_size=60), max_leaves=80)


# Values at each documented bound: strings of 256 characters, collections of 50
# members, 10 levels of nesting, and one past each.
_BOUNDARY_VALUES = ["s" * 256, "s" * 257, [1.0] * 50, [1.0] * 51, {"k%d" % n: 1 for n in range(50)},
                    {"k%d" % n: 1 for n in range(51)}, 2 ** 63 - 1, 2 ** 63, -(2 ** 63),
                    float("nan"), float("inf"), "", [], {}]


def test_any_value_is_refused_or_sent_within_the_model():
    outcomes = {"accepted": 0, "refused": 0}

    def check(value):
        try:
            item = TwinMakerService().item(record(value=value))
        except InvalidRecord:
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        kwargs = TwinMakerService().build_request(item.scope, [Entry("e", item.group, [item])])
        assert_valid_request(kwargs, SHAPE)

    examples = _BOUNDARY_VALUES + [nested(MAX_NESTING_DEPTH), nested(MAX_NESTING_DEPTH + 1)]
    for value in examples:
        check(value)
    settings(max_examples=200, deadline=None, database=None)(given(value=_VALUES)(check))()
    # Both branches ran often enough to mean something: an early return may not
    # stand in for the check.
    assert outcomes["accepted"] >= 40 and outcomes["refused"] >= 20, outcomes
