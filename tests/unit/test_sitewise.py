"""SiteWise records: validation, payloads, error mapping (cases from the API reference)."""

import datetime
import math

import botocore.session
import botocore.validate
import pytest

from beam_batchput.core.packing import pack
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
