"""Bad input: every malformed record is a dead letter with a specific code; neighbours go on."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import time
from typing import Any, Callable, Dict, FrozenSet, List, Tuple

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beam_batchput import ClientConfig, RetryConfig
from beam_batchput.core.records import record_to_json
from beam_batchput.core.service import InvalidRecord
from beam_batchput.core.clock import SYSTEM_CLOCK
from beam_batchput.core.prepare import PrepareFn
from beam_batchput.emulator import Emulator
from beam_batchput.writers import WRITERS
from tests.beam_helpers import Collect, pipeline
from tests.reliability import harness

pytestmark = pytest.mark.usefixtures("emulator_credentials")

SW, TM, DZ, CN, IE = harness.SERVICES
ALL = harness.SERVICES
MODELS = harness._SERVICE_MODELS
GENERIC_CODES = frozenset({"InvalidRecord", "Unknown", ""})

Mutation = Callable[[str, Dict[str, Any], st.DataObject], Tuple[Dict[str, Any], FrozenSet[str]]]


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of malformation: which services it applies to and how to apply it."""

    name: str
    services: Tuple[str, ...]
    mutate: Mutation
    in_pipeline: bool = True


def _with(record: Dict[str, Any], **changes: Any) -> Dict[str, Any]:
    copy = dict(record)
    copy.update(changes)
    return copy


def _codes(*codes: str) -> FrozenSet[str]:
    return frozenset(codes)


def _deep(depth: int, leaf: Any, as_map: bool) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"k": value} if as_map else [value]
    return value


_ID_FIELD = {SW: "property_alias", TM: "entity_id", DZ: "entity_id", CN: "data_table_id",
             IE: "input_name"}
_MAX_ID = {SW: ("property_alias", 2048), TM: ("entity_id", 128), DZ: ("form_name", 128),
           CN: ("instance_id", 100), IE: ("input_name", 128)}
_REQUIRED = {SW: ("property_alias", "value", "timestamp"),
             TM: ("workspace_id", "entity_id", "property_name", "value", "timestamp"),
             DZ: ("domain_id", "entity_type", "entity_id", "form_name", "type_identifier",
                  "timestamp"),
             CN: ("instance_id", "data_table_id", "attribute_name", "value"),
             IE: ("input_name", "payload")}
_VALUE_FIELD = {SW: "value", TM: "value", DZ: "content", CN: "value", IE: "payload"}
_TEXT_FIELD = {SW: "value", TM: "value", DZ: "form_name", CN: "value", IE: "payload"}
_letters = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
_control = st.sampled_from(["\x00", "\x01", "\n", "\t", "\x1b", "\x7f"])


def _extra_field(service, record, data):
    name = data.draw(_letters.filter(lambda n: n not in record), label="extra")
    return _with(record, **{"x_" + name: data.draw(st.integers())}), _codes("UnknownField")


def _missing_field(service, record, data):
    name = data.draw(st.sampled_from(_REQUIRED[service]), label="missing")
    copy = dict(record)
    del copy[name]
    return copy, _codes("MissingField")


def _wrong_type_id(service, record, data):
    value = data.draw(st.one_of(st.integers(), st.floats(), st.booleans(), st.binary(min_size=1),
                                st.lists(st.integers(), max_size=2)), label="id")
    return _with(record, **{_ID_FIELD[service]: value}), _codes("InvalidType")


def _over_long_id(service, record, data):
    field, limit = _MAX_ID[service]
    extra = data.draw(st.integers(1, 64), label="extra")
    return _with(record, **{field: "a" * (limit + extra)}), _codes("InvalidLength")


def _empty_id(service, record, data):
    return _with(record, **{_ID_FIELD[service]: ""}), _codes("InvalidLength")


def _control_chars(service, record, data):
    field = {SW: "property_alias", TM: "entity_id", DZ: "form_name", CN: "instance_id",
             IE: "input_name"}[service]
    char, at = data.draw(_control), data.draw(st.integers(1, 3))
    text = record[field]
    return (_with(record, **{field: text[:at] + char + text[at:]}),
            _codes("InvalidPattern", "InvalidCharacters"))


def _bad_id_pattern(service, record, data):
    # Connect's names take Unicode separators (spaces) but no symbols.
    bad = data.draw(st.sampled_from(["#", "$", "*", "?", "!", "~"] + [" "] * (service != CN)),
                    label="char")
    if service == SW:
        copy = dict(record)
        del copy["property_alias"]
        copy.update(asset_id="not-a-uuid" + bad, property_id="4b9f5c2e-0d1a-4e3b-9c8d-7f6e5d4c3b2a")
        return copy, _codes("InvalidPattern")
    field = {TM: "entity_id", DZ: "domain_id", CN: "attribute_name", IE: "message_id"}[service]
    return _with(record, **{field: "id" + bad + "x"}), _codes("InvalidPattern")


def _lone_surrogate(service, record, data):
    char = chr(data.draw(st.integers(0xD800, 0xDFFF), label="surrogate"))
    return (_with(record, **{_TEXT_FIELD[service]: "text" + char}), _codes("InvalidEncoding"))


def _invalid_utf8_bytes(service, record, data):
    junk = data.draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]))
    return _with(record, **{_VALUE_FIELD[service]: junk}), _codes("InvalidType")


def _nan_value(service, record, data):
    if service in (DZ, IE):
        return (_with(record, **{_VALUE_FIELD[service]: {"x": float("nan")}}),
                _codes("InvalidJson"))
    return _with(record, value=float("nan")), _codes(
        {TM: "ValueOutOfRange", CN: "InvalidType"}[service])


def _infinite_value(service, record, data):
    inf = data.draw(st.sampled_from([float("inf"), float("-inf")]))
    if service in (DZ, IE):
        return _with(record, **{_VALUE_FIELD[service]: {"x": inf}}), _codes("InvalidJson")
    return _with(record, value=inf), _codes(
        {SW: "ValueOutOfRange", TM: "ValueOutOfRange", CN: "InvalidType"}[service])


def _out_of_range_number(service, record, data):
    if service == SW:
        value = data.draw(st.one_of(
            st.floats(min_value=1e10, exclude_min=True, allow_infinity=False),
            st.floats(max_value=-1e10, exclude_max=True, allow_infinity=False),
            st.integers(min_value=2 ** 31), st.integers(max_value=-(2 ** 31) - 1)))
    else:
        value = data.draw(st.one_of(st.integers(min_value=2 ** 63),
                                    st.integers(max_value=-(2 ** 63) - 1)))
    return _with(record, value=value), _codes("ValueOutOfRange")


def _timestamp_too_old(service, record, data):
    if service == SW:
        days = data.draw(st.floats(7.01, 3000))
        return _with(record, timestamp=time.time() - days * 86400), _codes("TimestampOutOfRange")
    if service == IE:
        return _with(record, timestamp=data.draw(st.integers(-10 ** 9, 0))), _codes(
            "InvalidTimestamp")
    seconds = data.draw(st.integers(-10 ** 12, -62135596801))   # before the year 1
    return _with(record, timestamp=seconds), _codes("InvalidTimestamp")


def _timestamp_too_late(service, record, data):
    if service == SW:
        minutes = data.draw(st.floats(10.5, 10 ** 6))
        return (_with(record, timestamp=time.time() + minutes * 60),
                _codes("TimestampOutOfRange"))
    seconds = data.draw(st.integers(253402300800, 10 ** 12))    # after the year 9999
    return _with(record, timestamp=seconds), _codes("InvalidTimestamp")


def _timestamp_not_finite(service, record, data):
    value = data.draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
    return _with(record, timestamp=value), _codes("InvalidTimestamp")


def _timestamp_naive(service, record, data):
    moment = data.draw(st.datetimes(min_value=datetime.datetime(2000, 1, 1)))
    return _with(record, timestamp=moment), _codes("InvalidTimestamp")


def _timestamp_text(service, record, data):
    return _with(record, timestamp=data.draw(_letters)), _codes("InvalidTimestamp")


def _timestamp_wrong_type(service, record, data):
    value = data.draw(st.one_of(st.booleans(), st.binary(), st.lists(st.integers(), max_size=2)))
    return _with(record, timestamp=value), _codes("InvalidType")


def _timestamp_in_millis(service, record, data):
    return (_with(record, timestamp=data.draw(st.integers(10 ** 12 + 1, 10 ** 15))),
            _codes("InvalidTimestamp"))


def _oversize(service, record, data):
    extra = data.draw(st.integers(1, 100))
    if service == IE:
        return _with(record, payload="p" * (1024 + extra)), _codes("PayloadTooLarge")
    if service == DZ:
        return _with(record, content='"%s"' % ("c" * (500_000 + extra))), _codes("InvalidLength")
    limit = {SW: 1024, TM: 256}[service]
    return _with(record, value="s" * (limit + extra)), _codes("InvalidLength")


def _too_deep(service, record, data):
    as_map = data.draw(st.booleans())
    if service == TM:
        return (_with(record, value=_deep(data.draw(st.integers(11, 40)), 1.0, as_map)),
                _codes("NestingTooDeep"))
    depth = data.draw(st.integers(3000, 5000))
    return (_with(record, **{_VALUE_FIELD[service]: _deep(depth, 1, as_map)}),
            _codes("NestingTooDeep"))


def _too_many_elements(service, record, data):
    count = data.draw(st.integers(51, 120))
    return _with(record, value=[1.0] * count), _codes("TooManyElements")


def _null_value(service, record, data):
    if service == TM:
        value = data.draw(st.sampled_from([None, [1.0, None], {"k": None}]))
        return _with(record, value=value), _codes("InvalidValue")
    if service == SW:
        return _with(record, value=None), _codes("InvalidValue")
    return _with(record, **{_VALUE_FIELD[service]: None}), _codes("MissingField")


def _bad_enum(service, record, data):
    word = data.draw(_letters.map(str.upper))
    field = {SW: data.draw(st.sampled_from(["quality", "value_type"])), TM: "value_type",
             DZ: "entity_type"}[service]
    return _with(record, **{field: "X" + word}), _codes("InvalidValue")


def _declared_type_mismatch(service, record, data):
    if service == SW:
        value_type, value = data.draw(st.sampled_from(
            [("INTEGER", "12"), ("BOOLEAN", 1), ("DOUBLE", "1.5"), ("INTEGER", 1.5),
             ("DOUBLE", True)]))
    else:
        value_type, value = data.draw(st.sampled_from(
            [("BOOLEAN", 1), ("INTEGER", 1.5), ("STRING", 3), ("LIST", {"a": 1}),
             ("MAP", [1])]))
    return _with(record, value_type=value_type, value=value), _codes("InvalidType")


def _malformed_structure(service, record, data):
    if service == CN:
        choice = data.draw(st.sampled_from([
            ({"id": 5}, "InvalidType"), ([["id"]], "InvalidPrimaryValues"),
            ([["id", "a"], ["id", "b"]], "InvalidPrimaryValues"), ("id=a", "InvalidType"),
            ({"has#hash": "a"}, "InvalidPattern")]))
        return _with(record, primary_values=choice[0]), _codes(choice[1])
    key = data.draw(st.one_of(st.integers(), st.none(), st.tuples(st.integers())))
    return _with(record, value={key: 1.0}), _codes("InvalidType")


def _bad_lock_version(service, record, data):
    lock = data.draw(st.sampled_from([({"Colour": "1"}, "InvalidValue"),
                                      ({"Value": 1.5}, "InvalidType"),
                                      ("1", "InvalidType"),
                                      ({"Value": "1", "value": "2"}, "InvalidValue")]))
    return _with(record, lock_version=lock[0]), _codes(lock[1])


def _not_json(service, record, data):
    text = data.draw(st.sampled_from(["{", "{'a': 1}", "[1,", "nope", "{\"a\": }"]))
    return _with(record, content=text), _codes("InvalidJson")


def _empty_payload(service, record, data):
    return _with(record, payload=data.draw(st.sampled_from([b"", ""]))), _codes("InvalidLength")


def _non_string_key(service, record, data):
    copy = dict(record)
    copy[data.draw(st.integers())] = "x"
    return copy, _codes("UnknownField")


KINDS: List[Kind] = [
    Kind("extra field", ALL, _extra_field),
    Kind("missing required field", ALL, _missing_field),
    Kind("id of the wrong type", ALL, _wrong_type_id),
    Kind("over-long id", ALL, _over_long_id),
    Kind("empty id", ALL, _empty_id),
    Kind("control characters", ALL, _control_chars),
    Kind("bad id pattern", ALL, _bad_id_pattern),
    Kind("lone surrogate (no UTF-8 form)", ALL, _lone_surrogate, in_pipeline=False),
    Kind("invalid UTF-8 bytes as text", (SW, TM, DZ, CN), _invalid_utf8_bytes),
    Kind("NaN", (TM, DZ, CN, IE), _nan_value),
    Kind("infinity", ALL, _infinite_value),
    Kind("number out of range", (SW, TM), _out_of_range_number),
    Kind("timestamp before the allowed window", (SW, TM, DZ, IE), _timestamp_too_old),
    Kind("timestamp after the allowed window", (SW, TM, DZ), _timestamp_too_late),
    Kind("timestamp NaN or infinite", (SW, TM, DZ, IE), _timestamp_not_finite),
    Kind("naive datetime", (SW, TM, DZ, IE), _timestamp_naive),
    Kind("timestamp text not ISO-8601", (SW, TM, DZ, IE), _timestamp_text),
    Kind("timestamp of the wrong type", (SW, TM, DZ, IE), _timestamp_wrong_type),
    Kind("timestamp in milliseconds", (SW, TM, DZ, IE), _timestamp_in_millis),
    Kind("over-size value or payload", (SW, TM, DZ, IE), _oversize),
    Kind("lists or maps nested too deep", (TM, DZ, IE), _too_deep, in_pipeline=False),
    Kind("too many list elements", (TM,), _too_many_elements),
    Kind("null value", (SW, TM, CN, IE), _null_value),
    Kind("value outside the enum", (SW, TM, DZ), _bad_enum),
    Kind("value not of its declared type", (SW, TM), _declared_type_mismatch),
    Kind("malformed structured field", (TM, CN), _malformed_structure),
    Kind("malformed lock version", (CN,), _bad_lock_version),
    Kind("content that is not JSON", (DZ,), _not_json),
    Kind("empty payload", (IE,), _empty_payload),
    Kind("non-string field name", ALL, _non_string_key),
]


def _valid(service: str, data: st.DataObject) -> Dict[str, Any]:
    n = data.draw(st.integers(0, 10 ** 5), label="n") * 5 + ALL.index(service)
    return harness.make_record(service, n, time.time() - 3600)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_malformed_record_is_refused_with_its_specific_code(kind, data):
    service = data.draw(st.sampled_from(kind.services), label="service")
    record = _valid(service, data)
    MODELS[service].item(record)  # the record was valid before the malformation
    bad, codes = kind.mutate(service, record, data)
    with pytest.raises(InvalidRecord) as refused:
        MODELS[service].item(bad)
    assert refused.value.code in codes and refused.value.code not in GENERIC_CODES
    assert refused.value.message
    json.loads(record_to_json(bad))  # the dead letter can always carry the record


@pytest.mark.parametrize("record", [None, 5, "text", ["a", "b"], 1.5, b"bytes"])
def test_a_record_that_is_not_a_mapping_is_a_validation_dead_letter(record):
    fn = PrepareFn(MODELS[SW], num_shards=1, chunk_size=100, clock=SYSTEM_CLOCK)
    fn.setup()
    fn.start_bundle()
    [output] = list(fn.process(record, WindowedValue(record, Timestamp(0), (GlobalWindow(),))))
    letter = output.value
    assert (letter.stage, letter.error_code) == ("validation", "InvalidRecordType")
    json.loads(letter.record)


def test_a_record_nested_too_deep_for_repr_still_makes_a_dead_letter():
    record = {"payload": _deep(100_000, 1, as_map=False)}
    text = json.loads(record_to_json(record))["$repr"]
    assert text.startswith("{'payload': [[")


# The pipeline: a few batches of good and bad records through the five writers.

_PIPELINE_KINDS = [kind for kind in KINDS if kind.in_pipeline]


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None)
@given(data=st.data())
def test_batches_mixing_good_and_bad_records_write_the_good_and_dead_letter_the_bad(data):
    t0 = time.time() - 3600
    good = [(s, harness.make_record(s, n, t0)) for n in range(100) for s in [ALL[n % len(ALL)]]]
    bad: List[Tuple[str, Dict[str, Any], FrozenSet[str]]] = []
    for kind in _PIPELINE_KINDS:
        for service in kind.services:
            record, codes = kind.mutate(service, harness.make_record(service, 10 ** 6, t0), data)
            bad.append((service, record, codes))
    # Pairs that may not share a request: one of each is written, the other refused.
    message = dict(harness.make_record(IE, 10 ** 6 + 4, t0), message_id="dup-1")
    value = harness.make_record(CN, 10 ** 6 + 3, t0)
    duplicates = [(IE, message, dict(message, payload={"n": 2 * 10 ** 6 + 4}),
                   "DuplicateMessageId"),
                  (CN, value, dict(value, value="v%d" % (2 * 10 ** 6 + 3)),
                   "DuplicateValueInRequest")]
    mixed = data.draw(st.permutations(
        good + [(s, r) for s, r, _ in bad]
        + [(s, r) for s, a, b, _ in duplicates for r in (a, b)]), label="order")
    with Emulator() as emulator:
        kwargs = dict(client=ClientConfig(region_name="us-east-1",
                                          endpoint_url=emulator.endpoint_url),
                      retry=RetryConfig(max_attempts=2, initial_backoff_seconds=0.01,
                                        max_backoff_seconds=0.02))
        with pipeline() as p:
            results = harness.write_each(p | beam.Create(mixed, reshuffle=False),
                                         lambda service: WRITERS[service].writer(**kwargs))
            outputs = []
            for service, result in results.items():
                info = WRITERS[service]
                outputs += [result.written | "W-%s" % info.short_name >> beam.Map(
                                lambda r: ("written", r.service, r.record, "", "")),
                            result.failed | "F-%s" % info.short_name >> beam.Map(
                                lambda d: ("failed", d.service, d.record, d.stage,
                                           d.error_code))]
            assert_that(tuple(outputs) | beam.Flatten(), Collect("mixed"))
        snapshot = emulator.snapshot()
    seen = Collect.pop("mixed")
    written = collections.Counter((s, record) for kind, s, record, _, _ in seen
                                  if kind == "written")
    failed = collections.Counter((s, record, stage, code) for kind, s, record, stage, code
                                 in seen if kind == "failed")
    winners = []
    for service, first, second, code in duplicates:
        sent = [r for r in (first, second) if written.pop((service, record_to_json(r)), 0)]
        refused = [r for r in (first, second) if failed.pop(
            (service, record_to_json(r), "entry", code), 0)]
        assert len(sent) == len(refused) == 1 and sent != refused
        winners.append((service, sent[0]))
    assert written == collections.Counter((s, record_to_json(r)) for s, r in good)
    expected_failed = collections.Counter()
    for service, record, codes in bad:
        [match] = [key for key in failed if key[:2] == (service, record_to_json(record))
                   and key[3] in codes]
        expected_failed[match] += 1
        assert match[2] in ("validation", "entry")
    assert failed == expected_failed
    for service in ALL:
        stored = sorted(n for n, _ in harness._stored(service, snapshot))
        assert stored == sorted(harness.number_of(service, record_to_json(r))
                                for s, r in good + winners if s == service)
