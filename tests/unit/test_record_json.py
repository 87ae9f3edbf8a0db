"""The record text of receipts and dead letters: every kind of record, and the ones JSON cannot
carry, which still come back as text (a dead letter never loses its record)."""

import datetime
import decimal
import json
import types
import typing

import apache_beam as beam
import pytest

from beam_batchput.core.records import record_as_mapping, record_to_json


class Point(typing.NamedTuple):
    alias: str
    value: float


def test_dicts_and_other_mappings_are_their_own_fields():
    record = {"a": 1}
    assert record_as_mapping(record) is record
    proxy = types.MappingProxyType({"a": 1})
    assert record_as_mapping(proxy) is proxy


@pytest.mark.parametrize("record", [Point("/p", 1.5), beam.Row(alias="/p", value=1.5)])
def test_named_tuples_and_rows_read_as_their_fields(record):
    assert dict(record_as_mapping(record)) == {"alias": "/p", "value": 1.5}
    assert json.loads(record_to_json(record)) == {"alias": "/p", "value": 1.5}


def test_a_record_of_another_kind_is_refused_naming_its_type():
    with pytest.raises(TypeError,
                       match="^a record must be a dict, a NamedTuple or a beam.Row, not list$"):
        record_as_mapping([1, 2])


def test_values_json_has_no_type_for_are_written_as_documented():
    record = {"b": b"\x00\xff", "t": datetime.datetime(2023, 11, 14, 22, 13, 20),
              "d": decimal.Decimal("1.10"), "s": {3}, "r": beam.Row(alias="/p", value=2.0)}
    assert record_to_json(record) == (
        '{"b": {"$base64": "AP8="}, "d": "1.10", "r": {"alias": "/p", "value": 2.0}, '
        '"s": [3], "t": "2023-11-14T22:13:20"}')


def test_a_record_json_cannot_carry_comes_back_as_its_text_cut_to_4096_characters():
    assert json.loads(record_to_json({(1, 2): "tuple key"})) == {
        "$repr": "{(1, 2): 'tuple key'}"}
    long = {(1,): "x" * 5000}
    assert json.loads(record_to_json(long)) == {"$repr": repr(long)[:4096]}
    assert len(repr(long)) > 4096


def test_a_record_nested_deeper_than_repr_goes_comes_back_as_a_short_text():
    record = []
    for _ in range(100_000):
        record = [record]
    text = json.loads(record_to_json({"deep": record}))["$repr"]
    assert text.startswith("{'deep': [[") and len(text) < 100


def test_a_record_of_another_kind_is_written_as_itself():
    assert record_to_json([1, "a"]) == '[1, "a"]'
