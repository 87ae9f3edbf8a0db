"""The reasons the shared field reader gives: code and message word for word, as every
service's dead letters carry them, with the record's target once it is known."""

import datetime
import re

import pytest

from beam_batchput.core.service import InvalidRecord
from beam_batchput.services._fields import Fields, to_epoch_nanos

ALLOWED = frozenset({"name", "when", "blob"})


def _reason(call):
    with pytest.raises(InvalidRecord) as raised:
        call()
    return raised.value.code, raised.value.message, raised.value.resource


def _fields(record):
    fields = Fields(record, ALLOWED)
    fields.resource = "target/1"
    return fields


def test_unknown_fields_are_named_sorted_with_every_allowed_one():
    assert _reason(lambda: Fields({"zz": 1, "name": "a", "aa": 2}, ALLOWED)) == (
        "UnknownField", "unknown field(s) aa, zz; expected some of blob, name, when", "")


_STRING_REFUSED = [
    ({}, {}, "MissingField", "field 'name' is required"),
    ({"name": 3}, {}, "InvalidType", "field 'name' must be a string, got int"),
    ({"name": ""}, {}, "InvalidLength", "field 'name' must have at least 1 characters"),
    ({"name": "ab"}, {"min_len": 3}, "InvalidLength",
     "field 'name' must have at least 3 characters"),
    ({"name": "abcd"}, {"max_len": 3}, "InvalidLength",
     "field 'name' has 4 characters, at most 3 allowed"),
    ({"name": "a\x7f"}, {"no_control": True}, "InvalidCharacters",
     "field 'name' contains control characters"),
    ({"name": "a b"}, {"pattern": re.compile(r"\w+")}, "InvalidPattern",
     "field 'name'='a b' does not match \\w+"),
    ({"name": "x" * 300}, {"pattern": re.compile(r"y+")}, "InvalidPattern",
     "field 'name'='%s' does not match y+" % ("x" * 200)),
    ({"name": "c"}, {"choices": ("b", "a")}, "InvalidValue",
     "field 'name'='c' must be one of a, b"),
    ({"name": "z" * 300}, {"choices": ("a",)}, "InvalidValue",
     "field 'name'='%s' must be one of a" % ("z" * 200)),
    ({"name": "a\ud800"}, {}, "InvalidEncoding",
     "field 'name' is text that is not valid UTF-8 (it holds lone surrogates)"),
]


@pytest.mark.parametrize("record, kwargs, code, message", _STRING_REFUSED)
def test_a_refused_string_names_the_field_the_limit_and_the_value(record, kwargs, code,
                                                                   message):
    assert _reason(lambda: _fields(record).string("name", **kwargs)) == (
        code, message, "target/1")


def test_a_string_at_its_length_limits_is_taken():
    assert _fields({"name": "abc"}).string("name", min_len=3, max_len=3) == "abc"
    assert _fields({"name": ""}).string("name", min_len=0) == ""


_BLOB_REFUSED = [
    ({}, "MissingField", "field 'blob' is required"),
    ({"blob": None}, "MissingField", "field 'blob' is required"),
    ({"blob": 5}, "InvalidType", "field 'blob' must be bytes, text, a dict or a list, got int"),
    ({"blob": "\udc80"}, "InvalidEncoding",
     "field 'blob' is text that is not valid UTF-8 (it holds lone surrogates)"),
    ({"blob": {"a": {1, 2}}}, "InvalidJson",
     "field 'blob' cannot be JSON: Object of type set is not JSON serializable"),
]


@pytest.mark.parametrize("record, code, message", _BLOB_REFUSED)
def test_a_refused_blob_names_the_field_and_why(record, code, message):
    assert _reason(lambda: _fields(record).blob("blob")) == (code, message, "target/1")


def test_a_blob_json_cannot_carry_is_named_with_json_s_reason():
    code, message, resource = _reason(lambda: _fields({"blob": [float("nan")]}).blob("blob"))
    # The json module's own words after the colon vary between Python versions.
    assert (code, resource) == ("InvalidJson", "target/1")
    assert message.startswith("field 'blob' cannot be JSON: Out of range float values ")


def test_a_blob_nested_too_deep_for_json_is_named():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    assert _reason(lambda: _fields({"blob": deep}).blob("blob")) == (
        "NestingTooDeep", "field 'blob' nests too deep to be serialized as JSON", "target/1")


def test_blobs_of_every_kind_are_their_bytes():
    assert _fields({"blob": bytearray(b"\x00\xff")}).blob("blob") == b"\x00\xff"
    assert _fields({"blob": memoryview(b"ab")}).blob("blob") == b"ab"
    assert _fields({"blob": "é"}).blob("blob") == "é".encode("utf-8")
    assert _fields({"blob": {"é": [2, 1]}}).blob("blob") == '{"é":[2,1]}'.encode("utf-8")
    assert _fields({"blob": ("a",)}).blob("blob") == b'["a"]'


class _Micros:
    micros = 1_500_000


_TIMESTAMP_REFUSED = [
    (True, "InvalidType", "field 'when' must be epoch seconds or a datetime, got bool"),
    (10 ** 12 + 1, "InvalidTimestamp", "field 'when'=1000000000001 is not epoch seconds"),
    (-10 ** 12 - 1, "InvalidTimestamp", "field 'when'=-1000000000001 is not epoch seconds"),
    (float("nan"), "InvalidTimestamp", "field 'when'=nan is not epoch seconds"),
    (-2e12, "InvalidTimestamp", "field 'when'=-2000000000000.0 is not epoch seconds"),
    (datetime.datetime(2023, 1, 1), "InvalidTimestamp",
     "field 'when' is a naive datetime; give it a timezone"),
    ("2023-11-14T22:13:20", "InvalidTimestamp",
     "field 'when'='2023-11-14T22:13:20' is not ISO-8601 with a timezone and at most 9 "
     "fraction digits"),
    ("x" * 100, "InvalidTimestamp",
     "field 'when'='%s' is not ISO-8601 with a timezone and at most 9 fraction digits"
     % ("x" * 64)),
    ([1], "InvalidType", "field 'when' must be epoch seconds or a datetime, got list"),
    (b"1", "InvalidType", "field 'when' must be epoch seconds or a datetime, got bytes"),
]


@pytest.mark.parametrize("value, code, message", _TIMESTAMP_REFUSED)
def test_a_refused_timestamp_names_the_field_and_the_value(value, code, message):
    assert _reason(lambda: _fields({"when": value}).timestamp_nanos("when")) == (
        code, message, "target/1")
    # Without a record to read it from, no target.
    assert _reason(lambda: to_epoch_nanos(value, "when")) == (code, message, "")


def test_a_missing_timestamp_is_named_unless_optional():
    assert _reason(lambda: _fields({}).timestamp_nanos("when")) == (
        "MissingField", "field 'when' is required", "target/1")
    assert _fields({}).timestamp_nanos("when", required=False) is None


@pytest.mark.parametrize("value, nanos", [
    (10 ** 12, 10 ** 21), (-10 ** 12, -10 ** 21), (1e12, 10 ** 21), (-1e12, -10 ** 21),
    (_Micros(), 1_500_000_000),
])
def test_timestamps_at_the_bounds_are_read(value, nanos):
    assert to_epoch_nanos(value, "when") == nanos
