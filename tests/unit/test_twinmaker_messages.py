"""The reasons TwinMaker refusals give: each refused record's code, message and target,
word for word as a dead letter carries them, and the messages of errors whose echoed
entry matches nothing sent."""

import pytest

from beam_batchput.core.packing import pack
from beam_batchput.core.service import Unmatched
from beam_batchput.services.twinmaker import TwinMakerService
from tests.refusals import refusal

TARGET = "ws1/pump-1/telemetry/rpm"


def _record(**fields):
    record = {"workspace_id": "ws1", "entity_id": "pump-1", "component_name": "telemetry",
              "property_name": "rpm", "value": 1.5, "timestamp": 1_700_000_000}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


def _nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


_REFUSED = [
    (_record(workspace_id="-x"), "InvalidPattern",
     "field 'workspace_id'='-x' does not match [a-zA-Z_0-9][a-zA-Z_\\-0-9]*[a-zA-Z0-9]+", ""),
    (_record(workspace_id="w" * 129), "InvalidLength",
     "field 'workspace_id' has 129 characters, at most 128 allowed", ""),
    (_record(entity_id="e" * 129), "InvalidLength",
     "field 'entity_id' has 129 characters, at most 128 allowed", "ws1"),
    (_record(entity_id="bad id"), "InvalidPattern",
     "field 'entity_id'='bad id' does not match [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
     "[0-9a-f]{4}-[0-9a-f]{12}|[a-zA-Z0-9][a-zA-Z_\\-0-9.:]*[a-zA-Z0-9]+", "ws1"),
    (_record(component_path="a/b"), "InvalidRecord",
     "give component_name or component_path, not both", "ws1"),
    (_record(component_name=...), "MissingField",
     "component_name or component_path is required", "ws1"),
    (_record(component_name="a b"), "InvalidPattern",
     "field 'component_name'='a b' does not match [a-zA-Z_\\-0-9]+", "ws1"),
    (_record(component_name="c" * 257), "InvalidLength",
     "field 'component_name' has 257 characters, at most 256 allowed", "ws1"),
    (_record(component_name=..., component_path="a b"), "InvalidPattern",
     "field 'component_path'='a b' does not match [a-zA-Z_\\-0-9/]+", "ws1"),
    (_record(component_name=..., component_path="p" * 2049), "InvalidLength",
     "field 'component_path' has 2049 characters, at most 2048 allowed", "ws1"),
    (_record(property_name="r m"), "InvalidPattern",
     "field 'property_name'='r m' does not match [a-zA-Z_\\-0-9]+", "ws1"),
    (_record(property_name="r" * 257), "InvalidLength",
     "field 'property_name' has 257 characters, at most 256 allowed", "ws1"),
    (_record(value=...), "MissingField", "field 'value' is required", TARGET),
    (_record(value=None), "InvalidValue",
     "field 'value' is null; TwinMaker values cannot be null", TARGET),
    (_record(value_type="FLOAT"), "InvalidValue",
     "field 'value_type'='FLOAT' must be one of BOOLEAN, DOUBLE, INTEGER, LIST, LONG, MAP, "
     "STRING", TARGET),
    (_record(value=b"x"), "InvalidType",
     "field 'value' must be bool, int, float, str, list or dict, got bytes", TARGET),
    (_record(value=1, value_type="BOOLEAN"), "InvalidType",
     "field 'value' must be a bool for BOOLEAN", TARGET),
    (_record(value=1.5, value_type="INTEGER"), "InvalidType",
     "field 'value' must be an int for INTEGER", TARGET),
    (_record(value=True, value_type="LONG"), "InvalidType",
     "field 'value' must be an int for LONG", TARGET),
    (_record(value=2 ** 31, value_type="INTEGER"), "ValueOutOfRange",
     "field 'value'=2147483648 is outside the INTEGER range", TARGET),
    (_record(value=-2 ** 31 - 1, value_type="INTEGER"), "ValueOutOfRange",
     "field 'value'=-2147483649 is outside the INTEGER range", TARGET),
    (_record(value=2 ** 63), "ValueOutOfRange",
     "field 'value'=9223372036854775808 is outside the LONG range", TARGET),
    (_record(value=-2 ** 63 - 1), "ValueOutOfRange",
     "field 'value'=-9223372036854775809 is outside the LONG range", TARGET),
    (_record(value="1", value_type="DOUBLE"), "InvalidType",
     "field 'value' must be a number for DOUBLE", TARGET),
    (_record(value=float("-inf")), "ValueOutOfRange",
     "field 'value'=-inf is not a finite double", TARGET),
    (_record(value=10 ** 309, value_type="DOUBLE"), "ValueOutOfRange",
     "field 'value'=1%s is not a finite double" % ("0" * 309), TARGET),
    (_record(value=1, value_type="STRING"), "InvalidType",
     "field 'value' must be a str for STRING", TARGET),
    (_record(value=""), "InvalidLength", "field 'value' has 0 characters; 1-256 allowed",
     TARGET),
    (_record(value="x" * 257), "InvalidLength",
     "field 'value' has 257 characters; 1-256 allowed", TARGET),
    (_record(value="a\x00"), "InvalidCharacters", "field 'value' contains control characters",
     TARGET),
    (_record(value="\ud800"), "InvalidEncoding",
     "field 'value' is text that is not valid UTF-8 (it holds lone surrogates)", TARGET),
    (_record(value="a", value_type="LIST"), "InvalidType",
     "field 'value' must be a list for LIST", TARGET),
    (_record(value=[1], value_type="MAP"), "InvalidType",
     "field 'value' must be a dict for MAP", TARGET),
    (_record(value=list(range(51))), "TooManyElements",
     "field 'value' has 51 elements; at most 50 allowed", TARGET),
    (_record(value={str(n): n for n in range(51)}), "TooManyElements",
     "field 'value' has 51 elements; at most 50 allowed", TARGET),
    (_record(value=_nested(11)), "NestingTooDeep",
     "field 'value'[0][0][0][0][0][0][0][0][0][0] nests lists and maps more than 10 deep",
     TARGET),
    (_record(value={"k": None}), "InvalidValue",
     "field 'value'['k'] is null; TwinMaker values cannot be null", TARGET),
    (_record(value=[[None]]), "InvalidValue",
     "field 'value'[0][0] is null; TwinMaker values cannot be null", TARGET),
    (_record(value={"k" * 100: None}), "InvalidValue",
     "field 'value'['%s'] is null; TwinMaker values cannot be null" % ("k" * 64), TARGET),
    (_record(value={1: 2}), "InvalidType",
     "field 'value' has a key of type int; keys must be str", TARGET),
    (_record(value={"": 1}), "InvalidLength",
     "a key of field 'value' has 0 characters; 1-256 allowed", TARGET),
    (_record(value={"k" * 257: 1}), "InvalidLength",
     "a key of field 'value' has 257 characters; 1-256 allowed", TARGET),
    (_record(value={"a\n": 1}), "InvalidCharacters",
     "a key of field 'value' contains control characters", TARGET),
    (_record(value=[{"k": [1, "x" * 300]}]), "InvalidLength",
     "field 'value'[0]['k'][1] has 300 characters; 1-256 allowed", TARGET),
    (_record(timestamp=-63_000_000_000), "InvalidTimestamp",
     "timestamp -63000000000.000000000 s is outside the years 0001-9999", TARGET),
    (_record(timestamp=300_000_000_000), "InvalidTimestamp",
     "timestamp 300000000000.000000000 s is outside the years 0001-9999", TARGET),
    (_record(timestamp=...), "MissingField", "field 'timestamp' is required", TARGET),
    (_record(colour=1), "UnknownField",
     "unknown field(s) colour; expected some of component_name, component_path, entity_id, "
     "property_name, timestamp, value, value_type, workspace_id", ""),
]


@pytest.mark.parametrize("record, code, message, resource", _REFUSED)
def test_each_refusal_names_its_field_limit_and_value(record, code, message, resource):
    assert refusal(TwinMakerService(), record) == (code, message, resource)


@pytest.mark.parametrize("value", [_nested(10), "x" * 256, list(range(50)), 2 ** 63 - 1,
                                   -2 ** 63])
def test_values_at_the_limits_are_taken(value):
    assert TwinMakerService().item(_record(value=value)).payload["value"]


def _request():
    service = TwinMakerService()
    items = [service.item(_record(timestamp=1_700_000_000 + n)) for n in range(2)]
    (request,) = pack(items, service.limits, service.entry_id)
    return service, request


def test_an_echoed_entry_naming_another_property_is_unmatched_with_the_services_message():
    service, request = _request()
    echoed = {"entityId": "pump-2", "propertyName": "rpm"}
    response = {"errorEntries": [{"errors": [{
        "errorCode": "ResourceNotFoundException", "errorMessage": "no such entity",
        "entry": {"entityPropertyReference": echoed}}]}]}
    assert list(service.failures(request, response)) == [Unmatched(
        "ResourceNotFoundException",
        "the echoed entry {'entityId': 'pump-2', 'propertyName': 'rpm'} names no entry sent: "
        "no such entity", tuple(request.items))]


def test_echoed_values_at_a_time_not_sent_are_unmatched_on_that_property():
    service, request = _request()
    echoed = {"entityId": "pump-1", "componentName": "telemetry", "propertyName": "rpm"}
    response = {"errorEntries": [{"errors": [{
        "errorCode": "ValidationException", "errorMessage": "bad time",
        "entry": {"entityPropertyReference": echoed,
                  "propertyValues": [{"time": "2020-01-01T00:00:00Z"}]}}]}]}
    assert list(service.failures(request, response)) == [Unmatched(
        "ValidationException",
        "the echoed values of {'entityId': 'pump-1', 'componentName': 'telemetry', "
        "'propertyName': 'rpm'} match no value sent: bad time", tuple(request.items))]


def test_an_error_without_code_message_or_entry_is_unknown_and_unmatched():
    service, request = _request()
    response = {"errorEntries": [{"errors": [{}]}]}
    assert list(service.failures(request, response)) == [Unmatched(
        "Unknown", "the echoed entry {} names no entry sent: ", tuple(request.items))]


_OURS = {"entityId": "pump-1", "componentName": "telemetry", "propertyName": "rpm"}


def _refused(values):
    service, request = _request()
    response = {"errorEntries": [{"errors": [{
        "errorCode": "409", "errorMessage": "conflict",
        "entry": {"entityPropertyReference": _OURS, "propertyValues": values}}]}]}
    return [(f.item.item_id, f.code, f.message) for f in service.failures(request, response)]


def test_an_echoed_time_finer_than_the_one_sent_names_the_value_sent():
    assert _refused([{"time": "2023-11-14T22:13:20.4Z"}]) == [
        ("pump-1/telemetry/rpm@2023-11-14T22:13:20Z", "409", "conflict")]


@pytest.mark.parametrize("values", [
    [{"value": {"doubleValue": 1.5}}],
    # A time that is no instant names no value: the error falls on every value echoed.
    [{"time": float("inf"), "value": {"doubleValue": 1.5}}],
])
def test_an_echoed_value_without_a_usable_time_names_every_value_it_could_be(values):
    assert _refused(values) == [
        ("pump-1/telemetry/rpm@2023-11-14T22:13:20Z", "409", "conflict"),
        ("pump-1/telemetry/rpm@2023-11-14T22:13:21Z", "409", "conflict")]
