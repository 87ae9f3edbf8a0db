"""The emulator's model validation, one rule at a time.

A small service model written here carries one member per rule; each case
breaks exactly one rule of an otherwise valid request and expects exactly
that one problem, and each boundary value just inside a limit is accepted
unchanged (a validator that clamps instead of refusing fails both).
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any, Dict, List

import pytest
from botocore.model import ServiceModel

from beam_batchput.emulator.models import InvalidInput, parse_input

_MODEL = ServiceModel({
    "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01", "endpointPrefix": "toy",
                 "serviceId": "Toy", "signatureVersion": "v4"},
    "operations": {"Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/put/{Id}"},
                           "input": {"shape": "PutRequest"}}},
    "shapes": {
        "PutRequest": {"type": "structure", "required": ["Id", "Name"], "members": {
            "Id": {"shape": "Id", "location": "uri", "locationName": "Id"},
            "Limit": {"shape": "Count", "location": "querystring", "locationName": "limit"},
            "Verbose": {"shape": "Flag", "location": "header", "locationName": "X-Verbose"},
            "Name": {"shape": "Name"}, "Color": {"shape": "Color"}, "Count": {"shape": "Count"},
            "Big": {"shape": "Big"}, "Small": {"shape": "Small"}, "Ratio": {"shape": "Ratio"}, "Flag": {"shape": "Flag"},
            "When": {"shape": "When"}, "Data": {"shape": "Data"}, "Tags": {"shape": "Tags"},
            "Attrs": {"shape": "Attrs"}, "Inner": {"shape": "Inner"}}},
        "Id": {"type": "string", "min": 1, "max": 5, "pattern": "^[a-z]*$"},
        "Name": {"type": "string", "min": 2, "max": 4},
        "Color": {"type": "string", "enum": ["red", "blue"]},
        "Count": {"type": "integer", "min": 1, "max": 10},
        "Big": {"type": "long"},
        "Small": {"type": "integer"},
        "Ratio": {"type": "double", "min": 0, "max": 1},
        "Flag": {"type": "boolean"},
        "When": {"type": "timestamp"},
        "Data": {"type": "blob", "min": 1, "max": 3},
        "Tags": {"type": "list", "member": {"shape": "Name"}, "min": 1, "max": 2},
        "Attrs": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Color"},
                  "max": 2},
        "Inner": {"type": "structure", "required": ["Name"], "members": {
            "Name": {"shape": "Name"}}},
    },
})
_OPERATION = _MODEL.operation_model("Put")

_VALID_BODY: Dict[str, Any] = {
    "Name": "ab", "Color": "red", "Count": 1, "Big": 2 ** 40, "Ratio": 0.5, "Flag": True,
    "When": 1700000000, "Data": base64.b64encode(b"x").decode(), "Tags": ["ab"],
    "Attrs": {"ab": "blue"}, "Inner": {"Name": "abc"}}


def _parse(body: Dict[str, Any], uri_id: str = "abc", query=None, headers=None) -> Dict[str, Any]:
    return parse_input(_OPERATION, {"Id": uri_id}, query or {}, headers or {},
                       json.dumps(body).encode())


def _problems(**kwargs: Any) -> List[str]:
    with pytest.raises(InvalidInput) as raised:
        _parse(**kwargs)
    return raised.value.problems


def _with(member: str, value: Any) -> Dict[str, Any]:
    body = copy.deepcopy(_VALID_BODY)
    body[member] = value
    return body


def _rule(value: str, path: str, rule: str) -> str:
    return "Value %s at '%s' failed to satisfy constraint: Member must %s" % (value, path, rule)


def test_the_valid_request_passes_unchanged():
    value = _parse(_VALID_BODY)
    assert value == dict(_VALID_BODY, Id="abc", When=1700000000)


# (member, value, the one problem it must cause)
_BROKEN = [
    ("Name", "a", _rule("'a'", "Name", "have length greater than or equal to 2")),
    ("Name", "abcde", _rule("'abcde'", "Name", "have length less than or equal to 4")),
    ("Name", 12, _rule("'12'", "Name", "be a string")),
    ("Color", "green", _rule("'green'", "Color", "satisfy enum value set: [red, blue]")),
    ("Count", 0, _rule("'0'", "Count", "have value greater than or equal to 1")),
    ("Count", 11, _rule("'11'", "Count", "have value less than or equal to 10")),
    ("Count", 1.5, _rule("'1.5'", "Count", "be an integer")),
    ("Count", True, _rule("'True'", "Count", "be an integer")),
    ("Small", 2 ** 31, _rule("'2147483648'", "Small", "be a 32-bit integer")),
    ("Small", -2 ** 31 - 1, _rule("'-2147483649'", "Small", "be a 32-bit integer")),
    ("Big", 2 ** 63, _rule("'9223372036854775808'", "Big", "be a 64-bit integer")),
    ("Ratio", -0.1, _rule("'-0.1'", "Ratio", "have value greater than or equal to 0")),
    ("Ratio", 1.1, _rule("'1.1'", "Ratio", "have value less than or equal to 1")),
    ("Ratio", "half", _rule("'half'", "Ratio", "be a number")),
    ("Ratio", False, _rule("'False'", "Ratio", "be a number")),
    ("Flag", "true", _rule("'true'", "Flag", "be a boolean")),
    ("When", "yesterday", _rule("'yesterday'", "When", "be a timestamp")),
    ("Data", "not base64!", _rule("'not base64!'", "Data", "be base64 encoded")),
    ("Data", 5, _rule("null", "Data", "be base64 encoded")),
    ("Data", base64.b64encode(b"abcd").decode(),
     _rule("'YWJjZA=='", "Data", "have length less than or equal to 3")),
    ("Data", "", _rule("''", "Data", "have length greater than or equal to 1")),
    ("Tags", [], _rule("'[]'", "Tags", "have length greater than or equal to 1")),
    ("Tags", ["ab", "ab", "ab"],
     _rule("'[\"ab\", \"ab\", \"ab\"]'", "Tags", "have length less than or equal to 2")),
    ("Tags", "ab", _rule("'ab'", "Tags", "be a list")),
    ("Tags", ["ab", "a"], _rule("'a'", "Tags.2.member", "have length greater than or equal to 2")),
    ("Attrs", {"ab": "red", "cd": "red", "ef": "red"},
     _rule("'{\"ab\": \"red\", \"cd\": \"red\", \"ef\": \"red\"}'", "Attrs",
           "have length less than or equal to 2")),
    ("Attrs", {"a": "red"}, _rule("'a'", "Attrs.key", "have length greater than or equal to 2")),
    ("Attrs", {"ab": "pink"},
     _rule("'pink'", "Attrs.ab", "satisfy enum value set: [red, blue]")),
    ("Attrs", ["ab"], _rule("'[\"ab\"]'", "Attrs", "be a map")),
    ("Inner", {}, _rule("null", "Inner.Name", "not be null")),
    ("Inner", "ab", _rule("'ab'", "Inner", "be a structure")),
    ("Name", None, _rule("null", "Name", "not be null")),
]


@pytest.mark.parametrize("member, value, problem", _BROKEN,
                         ids=["%s=%r" % (m, v) for m, v, _ in _BROKEN])
def test_each_rule_refuses_on_its_own(member, value, problem):
    assert _problems(body=_with(member, value)) == [problem]


# Values just inside each limit: accepted and returned as sent.
_BOUNDARY = [
    ("Name", "ab"), ("Name", "abcd"), ("Color", "blue"), ("Count", 1), ("Count", 10),
    ("Big", 2 ** 63 - 1), ("Big", -2 ** 63), ("Small", 2 ** 31 - 1), ("Small", -2 ** 31), ("Ratio", 0), ("Ratio", 1), ("Ratio", "NaN"),
    ("Flag", False), ("Data", base64.b64encode(b"abc").decode()), ("Tags", ["ab", "abcd"]),
    ("Attrs", {"ab": "red", "cd": "blue"}),
]


@pytest.mark.parametrize("member, value", _BOUNDARY, ids=["%s=%r" % b for b in _BOUNDARY])
def test_each_limit_admits_its_boundary_unchanged(member, value):
    parsed = _parse(_with(member, value))
    if value == "NaN":
        assert parsed[member] != parsed[member]  # NaN, as the JSON protocol carries it
    else:
        assert parsed[member] == value and type(parsed[member]) is type(value)


@pytest.mark.parametrize("uri_id, problem", [
    ("", _rule("''", "Id", "have length greater than or equal to 1")),
    ("abcdef", _rule("'abcdef'", "Id", "have length less than or equal to 5")),
    ("ab1", _rule("'ab1'", "Id", "satisfy regular expression pattern: ^[a-z]*$")),
])
def test_a_uri_label_is_checked_like_a_body_member(uri_id, problem):
    assert _problems(body=_VALID_BODY, uri_id=uri_id) == [problem]


def test_query_and_header_text_become_the_members_type():
    parsed = _parse(_VALID_BODY, query={"limit": ["7"]}, headers={"x-verbose": "TRUE"})
    assert (parsed["Limit"], parsed["Verbose"]) == (7, True)


@pytest.mark.parametrize("query, headers, problem", [
    ({"limit": ["seven"]}, {},
     "Value 'seven' at 'Limit' failed to satisfy constraint: Member must be a number"),
    ({"limit": ["11"]}, {}, _rule("'11'", "Limit", "have value less than or equal to 10")),
    ({}, {"X-Verbose": "yes"},
     "Value 'yes' at 'Verbose' failed to satisfy constraint: Member must be true or false"),
])
def test_query_and_header_text_that_fails_its_type_or_bound(query, headers, problem):
    assert _problems(body=_VALID_BODY, query=query, headers=headers)[0] == problem


@pytest.mark.parametrize("body, problem", [
    (b"{not json", "The request body is not valid JSON"),
    (b"[1, 2]", "The request body must be a JSON object"),
])
def test_a_body_that_is_not_a_json_object(body, problem):
    with pytest.raises(InvalidInput) as raised:
        parse_input(_OPERATION, {"Id": "abc"}, {}, {}, body)
    assert raised.value.problems[0].startswith(problem)


def test_an_empty_body_lacks_the_required_members():
    with pytest.raises(InvalidInput) as raised:
        parse_input(_OPERATION, {"Id": "abc"}, {}, {}, b"  ")
    assert raised.value.problems == [_rule("null", "Name", "not be null")]


def test_many_problems_are_all_kept_and_the_message_shows_ten():
    body = _with("Tags", ["a"] * 2)
    body.update(Name="a", Color="x", Count=0, Ratio=2, Flag=1, When="x", Data="!",
                Attrs={"a": "x"})
    with pytest.raises(InvalidInput) as raised:
        _parse(body)
    problems = raised.value.problems
    assert len(problems) == 11
    assert str(raised.value).startswith("11 validation errors detected: ")
    assert str(raised.value).count("failed to satisfy constraint") == 10


def test_one_problem_is_reported_in_the_singular():
    with pytest.raises(InvalidInput) as raised:
        _parse(_with("Name", "a"))
    assert str(raised.value).startswith("1 validation error detected: ")


def test_members_bound_to_the_uri_query_or_headers_are_not_read_from_the_body():
    parsed = _parse(dict(_VALID_BODY, Limit=5, Verbose=True), uri_id="abc")
    assert "Limit" not in parsed and "Verbose" not in parsed
