"""The field reader and the time parsing every service module shares."""

import datetime
import re

import pytest

from beam_batchput.core.service import InvalidRecord
from beam_batchput.services._fields import (
    Fields,
    epoch_nanos,
    format_iso,
    parse_iso_nanos,
    split_nanos,
    to_epoch_nanos,
)

ALLOWED = frozenset({"name", "when", "blob"})
UTC = datetime.timezone.utc


def code_of(call):
    with pytest.raises(InvalidRecord) as caught:
        call()
    return caught.value.code


def test_unknown_fields_are_refused_naming_them():
    with pytest.raises(InvalidRecord, match="unknown field.*zzz") as caught:
        Fields({"name": "a", "zzz": 1}, ALLOWED)
    assert caught.value.code == "UnknownField"


def test_failures_carry_the_resource_once_known():
    fields = Fields({"name": 3}, ALLOWED)
    fields.resource = "/r"
    with pytest.raises(InvalidRecord) as caught:
        fields.string("name")
    assert (caught.value.code, caught.value.resource) == ("InvalidType", "/r")


@pytest.mark.parametrize("record, kwargs, code", [
    ({}, {}, "MissingField"),
    ({"name": ""}, {}, "InvalidLength"),
    ({"name": "abcdef"}, {"max_len": 3}, "InvalidLength"),
    ({"name": "a\x01"}, {"no_control": True}, "InvalidCharacters"),
    ({"name": "a b"}, {"pattern": re.compile(r"\w+")}, "InvalidPattern"),
    ({"name": "c"}, {"choices": ("a", "b")}, "InvalidValue"),
    ({"name": "\ud800"}, {}, "InvalidEncoding"),
])
def test_string_checks_name_their_code(record, kwargs, code):
    assert code_of(lambda: Fields(record, ALLOWED).string("name", **kwargs)) == code


def test_string_returns_the_value_or_none_when_optional():
    assert Fields({"name": "ok"}, ALLOWED).string("name", choices=("ok",)) == "ok"
    assert Fields({}, ALLOWED).string("name", required=False) is None


def test_presence_and_raw_access():
    fields = Fields({"name": None, "blob": 2}, ALLOWED)
    assert fields.has("name") and not fields.present("name") and fields.present("blob")
    assert fields.raw("blob") == 2 and fields.raw("when") is None


def test_json_text_is_compact_sorted_and_refuses_what_json_cannot_carry():
    fields = Fields({}, ALLOWED)
    assert fields.json_text("blob", {"b": 1, "a": [1.5]}) == '{"a":[1.5],"b":1}'
    assert code_of(lambda: fields.json_text("blob", {"a": float("nan")})) == "InvalidJson"
    assert code_of(lambda: fields.json_text("blob", {"a": object()})) == "InvalidJson"
    deep = []
    for _ in range(100_000):
        deep = [deep]
    assert code_of(lambda: fields.json_text("blob", deep)) == "NestingTooDeep"


@pytest.mark.parametrize("value, nanos", [
    (1_700_000_000, 1_700_000_000 * 10 ** 9),
    (1_700_000_000.25, 1_700_000_000_250_000_000),
    (datetime.datetime(2023, 11, 14, 22, 13, 20, 5, tzinfo=UTC), 1_700_000_000_000_005_000),
    ("2023-11-14T22:13:20.123456789Z", 1_700_000_000_123_456_789),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000 * 10 ** 9),
])
def test_timestamps_of_every_accepted_kind(value, nanos):
    assert Fields({"when": value}, ALLOWED).timestamp_nanos("when") == nanos


@pytest.mark.parametrize("value, code", [
    (True, "InvalidType"),
    (10 ** 13, "InvalidTimestamp"),
    (float("inf"), "InvalidTimestamp"),
    (datetime.datetime(2023, 1, 1), "InvalidTimestamp"),
    ("2023-11-14T22:13:20", "InvalidTimestamp"),
    ("2023-11-14T22:13:20.1234567891Z", "InvalidTimestamp"),
    ("yesterday", "InvalidTimestamp"),
    ([1], "InvalidType"),
])
def test_bad_timestamps_name_their_code(value, code):
    assert code_of(lambda: to_epoch_nanos(value, "when")) == code


def test_parse_iso_nanos_reads_echoed_times_and_returns_none_for_the_rest():
    assert parse_iso_nanos("2023-11-14T22:13:20Z") == 1_700_000_000 * 10 ** 9
    assert parse_iso_nanos("2023-11-14 22:13:20") == 1_700_000_000 * 10 ** 9  # no zone: UTC
    assert parse_iso_nanos("2023-11-14T17:13:20-0500") == 1_700_000_000 * 10 ** 9
    assert parse_iso_nanos("2023-02-30T00:00:00Z") is None
    assert parse_iso_nanos("not a time") is None


def test_format_iso_round_trips_and_cuts_to_the_digits_asked():
    nanos = 1_700_000_000_123_456_789
    assert format_iso(nanos) == "2023-11-14T22:13:20.123456789Z"
    assert parse_iso_nanos(format_iso(nanos)) == nanos
    assert format_iso(1_700_000_000 * 10 ** 9) == "2023-11-14T22:13:20Z"
    assert format_iso(nanos, fraction_digits=3) == "2023-11-14T22:13:20.123Z"
    assert format_iso(1_700_000_000 * 10 ** 9, fraction_digits=3) == "2023-11-14T22:13:20.000Z"
    assert format_iso(-63_000_000_000 * 10 ** 9) is None  # before year 1
    assert format_iso(10 ** 30) is None


def test_epoch_nanos_and_split_nanos():
    assert epoch_nanos(datetime.datetime(1970, 1, 1, 0, 0, 1)) == 10 ** 9  # naive: UTC
    assert split_nanos(-1) == (-1, 999_999_999)
