"""The reasons Connect data-table refusals give: each refused record's code, message and
target, word for word as a dead letter carries them, and the messages of a duplicate in a
request and of a Failed entry naming no value sent."""

import pytest

from beam_batchput.core.packing import pack
from beam_batchput.core.service import Failure, Unmatched
from beam_batchput.services.connect import ConnectDataTableService
from tests.refusals import refusal

TABLE = "inst-1/tbl-1"
NAME_PATTERN = "^[\\p{L}\\p{Z}\\p{N}\\-_.:=@'|]+$"


def _record(**fields):
    record = {"instance_id": "inst-1", "data_table_id": "tbl-1", "attribute_name": "colour",
              "value": "red"}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


_REFUSED = [
    (_record(instance_id=...), "MissingField", "field 'instance_id' is required", ""),
    (_record(instance_id="i" * 101), "InvalidLength",
     "field 'instance_id' has 101 characters, at most 100 allowed", ""),
    (_record(instance_id="a\tb"), "InvalidCharacters",
     "field 'instance_id' contains control characters", ""),
    (_record(data_table_id="t" * 257), "InvalidLength",
     "field 'data_table_id' has 257 characters, at most 256 allowed", ""),
    (_record(data_table_id="a\nb"), "InvalidCharacters",
     "field 'data_table_id' contains control characters", ""),
    (_record(attribute_name=...), "MissingField", "field 'attribute_name' is required", TABLE),
    (_record(attribute_name=None), "MissingField", "field 'attribute_name' is required", TABLE),
    (_record(attribute_name=5), "InvalidType",
     "field 'attribute_name' must be a string, got int", TABLE),
    (_record(attribute_name=""), "InvalidLength",
     "field 'attribute_name' has 0 characters, 1 to 127 allowed", TABLE),
    (_record(attribute_name="a" * 128), "InvalidLength",
     "field 'attribute_name' has 128 characters, 1 to 127 allowed", TABLE),
    (_record(attribute_name="a/b"), "InvalidPattern",
     "field 'attribute_name'='a/b' does not match " + NAME_PATTERN, TABLE),
    (_record(attribute_name="a" * 100 + "/"), "InvalidPattern",
     "field 'attribute_name'='%s/' does not match %s" % ("a" * 100, NAME_PATTERN), TABLE),
    (_record(value=...), "MissingField", "field 'value' is required", TABLE),
    (_record(value=5), "InvalidType", "field 'value' must be a string, got int", TABLE),
    (_record(value="\udc00"), "InvalidEncoding",
     "field 'value' is text that is not valid UTF-8 (it holds lone surrogates)", TABLE),
    (_record(primary_values=5), "InvalidType",
     "field 'primary_values' must be a dict or a list of [name, value] pairs, got int", TABLE),
    (_record(primary_values=["ab"]), "InvalidPrimaryValues",
     "primary_values must hold [attribute name, value] pairs, got 'ab'", TABLE),
    (_record(primary_values=[("a",)]), "InvalidPrimaryValues",
     "primary_values must hold [attribute name, value] pairs, got ('a',)", TABLE),
    (_record(primary_values=[["a", "b", "c"]]), "InvalidPrimaryValues",
     "primary_values must hold [attribute name, value] pairs, got ['a', 'b', 'c']", TABLE),
    (_record(primary_values=[5]), "InvalidPrimaryValues",
     "primary_values must hold [attribute name, value] pairs, got 5", TABLE),
    (_record(primary_values={"id": 5}), "InvalidType",
     "primary value 'id' must be a string, got int", TABLE),
    (_record(primary_values={3: "x"}), "InvalidType",
     "a primary_values attribute name must be a string, got int", TABLE),
    (_record(primary_values={"i d/": "x"}), "InvalidPattern",
     "a primary_values attribute name='i d/' does not match " + NAME_PATTERN, TABLE),
    (_record(primary_values=[["id", "1"], ["id", "2"]]), "InvalidPrimaryValues",
     "primary_values names attribute 'id' twice", TABLE),
    (_record(primary_values={"id": "\ud800"}), "InvalidEncoding",
     "primary value 'id' is text that is not valid UTF-8 (it holds lone surrogates)", TABLE),
    (_record(lock_version=5), "InvalidType", "field 'lock_version' must be a dict, got int",
     TABLE),
    (_record(lock_version={"Foo": "1"}), "InvalidValue",
     "lock_version key 'Foo' must be one of Attribute, DataTable, PrimaryValues, Value", TABLE),
    (_record(lock_version={"value": "1", "Value": "2"}), "InvalidValue",
     "lock_version names Value twice", TABLE),
    (_record(lock_version={"attribute": 1.5}), "InvalidType",
     "lock_version Attribute must be a string, got float", TABLE),
    (_record(lock_version={"Value": True}), "InvalidType",
     "lock_version Value must be a string, got bool", TABLE),
    (_record(colour=1), "UnknownField",
     "unknown field(s) colour; expected some of attribute_name, data_table_id, instance_id, "
     "lock_version, primary_values, value", ""),
]


@pytest.mark.parametrize("record, code, message, resource", _REFUSED)
def test_each_refusal_names_its_field_limit_and_value(record, code, message, resource):
    assert refusal(ConnectDataTableService(), record) == (code, message, resource)


@pytest.mark.parametrize("count", [0, -1, True, 1.5, "3", None])
def test_a_request_size_that_is_not_a_positive_integer_is_refused_with_its_value(count):
    with pytest.raises(ValueError) as raised:
        ConnectDataTableService(max_values_per_request=count)
    assert str(raised.value) == (
        "max_values_per_request must be a positive integer, got %r" % (count,))


def test_lock_versions_in_either_spelling_are_sent_as_text():
    item = ConnectDataTableService().item(_record(lock_version={
        "data_table": 3, "Attribute": "a1", "primary_values": None, "value": "v"}))
    assert item.payload["LockVersion"] == {"DataTable": "3", "Attribute": "a1", "Value": "v"}


def _request(*records):
    service = ConnectDataTableService()
    (request,) = pack([service.item(r) for r in records], service.limits, service.entry_id)
    return service, request


def test_a_second_value_for_the_same_identity_says_which_value_was_sent_instead():
    service, request = _request(
        _record(primary_values={"id": "7"}, value="red"),
        _record(primary_values={"id": "7"}, value="blue"))
    # Packing orders by sort key: "blue" comes first and is the one sent.
    (other,) = [item for item in request.items if item.payload["Value"] == "red"]
    assert list(service.failures(request, {})) == [Failure(
        other, "DuplicateValueInRequest",
        "another record of the same request sets primary values {'id': '7'}, attribute "
        "'colour' to 'blue'; this one ('red') was not sent")]


def test_a_failed_entry_naming_no_value_sent_names_its_identity_and_message():
    service, request = _request(_record(primary_values={"id": "7"}))
    response = {"Failed": [{"PrimaryValues": [{"AttributeName": "id", "Value": "8"}],
                            "AttributeName": "colour",
                            "Message": "ThrottlingException: slow down"}]}
    assert list(service.failures(request, response)) == [Unmatched(
        "ThrottlingException",
        "a Failed entry for primary values [{'AttributeName': 'id', 'Value': '8'}], attribute "
        "'colour' names no value sent: ThrottlingException: slow down", tuple(request.items))]


@pytest.mark.parametrize("message, code", [
    ("AccessDeniedException: no", "AccessDeniedException"),
    ("  ConflictException stale lock", "ConflictException"),
    ("Rate exceeded", "ThrottlingException"),
    ("too many requests, try later", "ThrottlingException"),
    ("Internal server error", "InternalServiceException"),
    ("internalfailure", "InternalServiceException"),
    ("Service Unavailable", "ServiceUnavailableException"),
    ("temporarily unavailable", "ServiceUnavailableException"),
    ("the value is not valid", "Failed"),
    ("", "Failed"),
])
def test_a_failed_entrys_code_is_read_from_its_message(message, code):
    service, request = _request(_record())
    response = {"Failed": [{"AttributeName": "colour", "Message": message}]}
    (failure,) = service.failures(request, response)
    assert (failure.code, failure.message) == (code, message)


def test_the_duplicate_message_cuts_long_values_to_200_characters():
    service, request = _request(_record(value="a" * 300), _record(value="b" * 300))
    (refused,) = [item for item in request.items if item.payload["Value"][0] == "b"]
    assert list(service.failures(request, {})) == [Failure(
        refused, "DuplicateValueInRequest",
        "another record of the same request sets primary values {}, attribute 'colour' to "
        "'%s'; this one ('%s') was not sent" % ("a" * 200, "b" * 200))]


def test_an_unmatched_failed_entry_cuts_the_services_message_to_500_characters():
    service, request = _request(_record())
    response = {"Failed": [{"AttributeName": "other", "Message": "x" * 600}]}
    (unmatched,) = service.failures(request, response)
    assert unmatched.message == (
        "a Failed entry for primary values None, attribute 'other' names no value sent: "
        + "x" * 500)


def test_a_values_size_is_its_compact_json_in_utf8():
    # {"AttributeName":"colour","Value":"é"}: 38 characters, "é" two bytes in UTF-8.
    assert ConnectDataTableService().item(_record(value="é")).size == 39
