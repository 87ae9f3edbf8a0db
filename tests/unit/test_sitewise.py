"""SiteWise records: validation, payloads, error mapping (cases from the API reference)."""

import datetime
import math
import pickle
import types

import botocore.serialize
import botocore.session
import botocore.validate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beam_batchput.core.packing import pack
from beam_batchput.core.records import record_to_json
from beam_batchput.core.service import InvalidRecord
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock

NOW = 1_700_000_000
ASSET = "a1b2c3d4-0000-4000-8000-000000000001"
PROP = "a1b2c3d4-0000-4000-8000-000000000002"
MODEL = botocore.session.get_session().get_service_model("iotsitewise")


def service():
    return SiteWiseService(clock=FakeClock(NOW))


def point(**fields):
    record = {"property_alias": "/farm/t1/power", "value": 1.5, "timestamp": NOW}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


@pytest.mark.parametrize("fields,variant", [
    ({"value": 1.5}, {"doubleValue": 1.5}),
    ({"value": 7}, {"integerValue": 7}),
    ({"value": True}, {"booleanValue": True}),
    ({"value": "on"}, {"stringValue": "on"}),
    # The documented pattern ^$|[^\u0000-\u001F\u007F]+ admits the empty string.
    ({"value": ""}, {"stringValue": ""}),
    ({"value": "", "value_type": "STRING"}, {"stringValue": ""}),
    ({"value": 7, "value_type": "DOUBLE"}, {"doubleValue": 7.0}),
    ({"value": None, "value_type": "STRING", "quality": "BAD"}, {"nullValue": {"valueType": "S"}}),
    ({"value": 2 ** 31 - 1}, {"integerValue": 2 ** 31 - 1}),
    ({"value": -1e10}, {"doubleValue": -1e10}),
])
def test_values_map_to_the_variant(fields, variant):
    item = service().item(point(**fields))
    assert SiteWiseService.tqv(item)["value"] == variant


def test_nan_is_allowed_as_a_double():
    item = service().item(point(value=float("nan")))
    assert math.isnan(SiteWiseService.tqv(item)["value"]["doubleValue"])


@pytest.mark.parametrize("timestamp,expected", [
    (NOW, (NOW, 0)),
    (NOW + 0.25, (NOW, 250_000_000)),
    (datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc), (NOW, 0)),
    ("2023-11-14T22:13:20.5Z", (NOW, 500_000_000)),
])
def test_timestamps_split_into_seconds_and_nanos(timestamp, expected):
    ts = SiteWiseService.tqv(service().item(point(timestamp=timestamp)))["timestamp"]
    assert (ts["timeInSeconds"], ts["offsetInNanos"]) == expected


@pytest.mark.parametrize("fields,code", [
    ({"property_alias": ...}, "MissingField"),
    ({"value": ...}, "MissingField"),
    ({"timestamp": ...}, "MissingField"),
    ({"extra": 1}, "UnknownField"),
    ({"value": 2 ** 31}, "ValueOutOfRange"),
    ({"value": 1e10 + 1}, "ValueOutOfRange"),
    ({"value": float("inf")}, "ValueOutOfRange"),
    ({"value": "x" * 1025}, "InvalidLength"),
    ({"value": "a\x07b"}, "InvalidCharacters"),
    ({"value": [1, 2]}, "InvalidType"),
    ({"value": None}, "InvalidValue"),
    ({"value": None, "quality": "BAD"}, "MissingField"),
    ({"value": "1", "value_type": "INTEGER"}, "InvalidType"),
    ({"value_type": "LONG"}, "InvalidValue"),
    ({"quality": "OK"}, "InvalidValue"),
    ({"timestamp": NOW - 8 * 86400}, "TimestampOutOfRange"),
    ({"timestamp": NOW + 11 * 60}, "TimestampOutOfRange"),
    ({"timestamp": datetime.datetime(2023, 11, 14)}, "InvalidTimestamp"),
    ({"timestamp": "yesterday"}, "InvalidTimestamp"),
    ({"timestamp": True}, "InvalidType"),
    ({"property_alias": "/a\nb"}, "InvalidPattern"),
    ({"property_alias": "x" * 2049}, "InvalidLength"),
    ({"property_alias": 5}, "InvalidType"),
    ({"property_alias": ..., "asset_id": ASSET}, "MissingField"),
    ({"property_alias": ..., "asset_id": "not-a-uuid", "property_id": PROP}, "InvalidPattern"),
    ({"asset_id": ASSET, "property_id": PROP}, "InvalidRecord"),
])
def test_invalid_records_are_refused_with_a_specific_code(fields, code):
    with pytest.raises(InvalidRecord) as raised:
        service().item(point(**fields))
    assert raised.value.code == code


def build(records):
    s = service()
    items = [s.item(r) for r in records]
    (request,) = pack(items, s.limits, s.entry_id)
    return s, request, s.build_request(request.scope, request.entries)


def test_requests_validate_against_the_botocore_model():
    records = [point(property_alias="/p/%d" % p, timestamp=NOW - n) for p in range(3) for n in range(4)]
    records.append(point(property_alias=..., asset_id=ASSET, property_id=PROP))
    _, _, kwargs = build(records)
    shape = MODEL.operation_model("BatchPutAssetPropertyValue").input_shape
    report = botocore.validate.ParamValidator().validate(kwargs, shape)
    assert not report.has_errors(), report.generate_report()
    assert kwargs["enablePartialEntryProcessing"] is True
    by_alias = {e.get("propertyAlias", e.get("assetId")): e for e in kwargs["entries"]}
    assert by_alias[ASSET]["propertyId"] == PROP
    assert len(by_alias["/p/0"]["propertyValues"]) == 4
    for entry in kwargs["entries"]:
        assert 1 <= len(entry["entryId"]) <= 64


def test_error_timestamps_name_exactly_the_failed_points():
    s, request, kwargs = build([point(timestamp=NOW - n) for n in range(3)])
    entry = kwargs["entries"][0]
    response = {"errorEntries": [{"entryId": entry["entryId"], "errors": [{
        "errorCode": "TimestampOutOfRangeException", "errorMessage": "old",
        "timestamps": [{"timeInSeconds": NOW - 1, "offsetInNanos": 0}]}]}]}
    failures = list(s.failures(request, response))
    assert [(SiteWiseService.tqv(f.item)["timestamp"]["timeInSeconds"], f.code)
            for f in failures] == [
        (NOW - 1, "TimestampOutOfRangeException")]


@pytest.mark.parametrize("code,retryable", [
    ("ThrottlingException", True), ("InternalFailureException", True),
    ("ServiceUnavailableException", True), ("LimitExceededException", True),
    ("ConflictingOperationException", True),
    ("ResourceNotFoundException", False), ("InvalidRequestException", False),
    ("TimestampOutOfRangeException", False), ("AccessDeniedException", False),
])
def test_retry_table(code, retryable):
    assert service().is_retryable(code) is retryable


# The request body the service module writes, and its short path for common records

SERIALIZER = botocore.serialize.create_serializer("rest-json")
OPERATION = MODEL.operation_model("BatchPutAssetPropertyValue")


def _botocore_body(s, request):
    kwargs = s.build_request(request.scope, request.entries)
    report = botocore.validate.ParamValidator().validate(kwargs, OPERATION.input_shape)
    assert not report.has_errors(), report.generate_report()
    return SERIALIZER.serialize_to_request(kwargs, OPERATION)["body"]


@pytest.mark.parametrize("partial", [True, False])
def test_the_request_body_is_what_botocore_serializes_for_every_kind_of_value(partial):
    s = SiteWiseService(enable_partial_entry_processing=partial, clock=FakeClock(NOW))
    records = [point(value=v, timestamp=NOW - n / 3) for n, v in enumerate(
        [1.5, -0.0, 1e-300, -1e10, 1e10, float("nan"), 7, -2 ** 31, 2 ** 31 - 1, True, False,
         "", "on", "ünï\u2028\"\\/", "x" * 1024])]
    records += [point(value=None, value_type=t, quality="BAD", timestamp=NOW - 9)
                for t in ("DOUBLE", "INTEGER", "STRING", "BOOLEAN")]
    records += [point(value=3, value_type="DOUBLE", quality="UNCERTAIN"),
                point(property_alias="/é/\"q\"", timestamp=NOW - 0.000001),
                point(property_alias=..., asset_id=ASSET, property_id=PROP)]
    items = [s.item(r) for r in records]
    for request in pack(items, s.limits, s.entry_id):
        assert s.request_body(request.scope, request.entries) == _botocore_body(s, request)


def test_an_item_that_is_not_a_variant_of_its_type_cannot_be_serialized():
    s = service()
    (request,) = pack([s.item(point())], s.limits, s.entry_id)
    item = request.entries[0].items[0]
    for bad in [("doubleValue", "1.5"), ("integerValue", 1.5), ("booleanValue", 1),
                ("stringValue", b"x"), ("nullValue", "X")]:
        item.payload = item.payload[:3] + bad
        with pytest.raises(TypeError, match="not a Variant member"):
            s.request_body(request.scope, request.entries)


finite = st.floats(min_value=-1e10, max_value=1e10, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(finite, st.just(float("nan"))),
       offset=st.floats(min_value=-7 * 86400 + 1, max_value=599, allow_nan=False),
       quality=st.sampled_from([None, "GOOD", "BAD", "UNCERTAIN"]),
       alias=st.text(min_size=1, max_size=40))
def test_the_short_path_gives_the_general_path_item_and_record_json(value, offset, quality,
                                                                    alias):
    record = {"property_alias": alias, "value": value, "timestamp": NOW + offset}
    if quality is not None:
        record["quality"] = quality
    general, short = service(), service()
    try:
        # A mapping that is not a dict takes the general path.
        expected = general.item(types.MappingProxyType(record))
    except InvalidRecord as error:
        with pytest.raises(InvalidRecord) as raised:
            short.item(record)
        assert (raised.value.code, raised.value.message) == (error.code, error.message)
        return
    got = short.item(record)
    for name in ("scope", "group", "size", "sort_key", "item_id", "resource"):
        assert getattr(got, name) == getattr(expected, name)
    assert got.payload[:4] == expected.payload[:4]
    assert got.payload[4] == expected.payload[4] or value != value
    # ASCII aliases take the short path, which writes the record's JSON.
    assert got.record == (record_to_json(record) if alias.isascii() else "")
    assert expected.record == ""


def test_the_short_path_writes_the_record_json_and_caches_only_in_its_process():
    s = service()
    record = point(value=float("nan"), quality="BAD", timestamp=NOW + 0.5)
    assert s.item(record).record == record_to_json(record)
    # Other records take the general path; the core writes their JSON.
    assert s.item(point(property_alias="/é", timestamp=NOW + 0.5)).record == ""
    assert s.item(point()).record == ""  # an int timestamp
    assert "_aliases" in s.__dict__
    assert "_aliases" not in pickle.loads(pickle.dumps(s)).__dict__
    # The cache stays bounded.
    for n in range(5000):
        s.item(point(property_alias="/p/%d" % n, timestamp=NOW + 0.5))
    assert len(s.__dict__["_aliases"]) <= 4096


@pytest.mark.parametrize("fields", [
    {"value": 1e11}, {"value": float("inf")}, {"timestamp": 1e13}, {"timestamp": float("nan")},
    {"timestamp": NOW - 8 * 86400.0}, {"timestamp": NOW + 3600.0}, {"quality": "OK"},
    {"quality": 1}, {"quality": None}, {"extra": 1.0}, {"value": 2.0, "value_type": "DOUBLE"},
    {"property_alias": "/a\x01"}, {"property_alias": ""}, {"property_alias": "/" * 2049},
    {"property_alias": "/é"}, {"value": 3}, {"timestamp": NOW},
])
def test_records_off_the_short_path_read_as_the_general_path_reads_them(fields):
    record = point(timestamp=NOW - 0.5)
    record.update(fields)
    try:
        expected = service().item(types.MappingProxyType(record))
    except InvalidRecord as error:
        with pytest.raises(InvalidRecord) as raised:
            service().item(record)
        assert (raised.value.code, raised.value.message) == (error.code, error.message)
        return
    got = service().item(record)
    assert (got.group, got.payload, got.sort_key, got.item_id, got.record) == (
        expected.group, expected.payload, expected.sort_key, expected.item_id, "")
