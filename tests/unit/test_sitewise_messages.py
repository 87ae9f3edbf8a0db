"""The reasons SiteWise refusals give: each refused record's code, message and target,
word for word as a dead letter carries them, and the messages of errors the response
names that no value sent matches."""

import os
import warnings

import pytest

from beam_batchput.core.packing import pack
from beam_batchput.core.service import Failure, Unmatched
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock
from tests.refusals import refusal

NOW = 1_700_000_000
ASSET = "a1b2c3d4-0000-4000-8000-000000000001"
PROP = "a1b2c3d4-0000-4000-8000-000000000002"
ALIAS = "/farm/t1"
ID_PATTERN = ("(?!00000000-0000-0000-0000-000000000000)"
              "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _record(**fields):
    record = {"property_alias": ALIAS, "value": 1.5, "timestamp": NOW - 60}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


_REFUSED = [
    (_record(value=1e11),
     "ValueOutOfRange", "double 100000000000.0 is outside [-1e10, 1e10]", ALIAS),
    (_record(value=-2e10, value_type="DOUBLE"),
     "ValueOutOfRange", "double -20000000000.0 is outside [-1e10, 1e10]", ALIAS),
    (_record(value=...), "MissingField", "field 'value' is required", ALIAS),
    (_record(value=None), "InvalidValue", "a null value needs quality BAD or UNCERTAIN", ALIAS),
    (_record(value=None, quality="BAD"), "MissingField", "a null value needs a value_type",
     ALIAS),
    (_record(value=[1]),
     "InvalidType", "field 'value' must be bool, int, float or str, got list", ALIAS),
    (_record(value=b"x"),
     "InvalidType", "field 'value' must be bool, int, float or str, got bytes", ALIAS),
    (_record(value="yes", value_type="BOOLEAN"),
     "InvalidType", "value_type BOOLEAN needs a bool value", ALIAS),
    (_record(value=1.5, value_type="INTEGER"),
     "InvalidType", "value_type INTEGER needs an int value", ALIAS),
    (_record(value=2 ** 31),
     "ValueOutOfRange", "integer 2147483648 is outside the 32-bit range", ALIAS),
    (_record(value=-2 ** 31 - 1),
     "ValueOutOfRange", "integer -2147483649 is outside the 32-bit range", ALIAS),
    (_record(value="1", value_type="DOUBLE"), "InvalidType", "value_type DOUBLE needs a number",
     ALIAS),
    (_record(value="x" * 1025),
     "InvalidLength", "field 'value' has 1025 characters, at most 1024 allowed", ALIAS),
    (_record(value="a\nb"), "InvalidCharacters", "field 'value' contains control characters",
     ALIAS),
    (_record(timestamp=NOW - 8 * 86400), "TimestampOutOfRange",
     "timestamp 1699308800.000000000 is outside [now - 7 days, now + 10 minutes]", ALIAS),
    (_record(timestamp=NOW + 601.25), "TimestampOutOfRange",
     "timestamp 1700000601.250000000 is outside [now - 7 days, now + 10 minutes]", ALIAS),
    (_record(timestamp="yesterday"), "InvalidTimestamp",
     "field 'timestamp'='yesterday' is not ISO-8601 with a timezone and at most 9 fraction "
     "digits", ALIAS),
    (_record(timestamp=...), "MissingField", "field 'timestamp' is required", ALIAS),
    (_record(quality="OK"),
     "InvalidValue", "field 'quality'='OK' must be one of BAD, GOOD, UNCERTAIN", ALIAS),
    (_record(value_type="FLOAT"), "InvalidValue",
     "field 'value_type'='FLOAT' must be one of BOOLEAN, DOUBLE, INTEGER, STRING", ALIAS),
    # Which property is meant is not known yet: no target.
    (_record(asset_id=ASSET),
     "InvalidRecord", "give property_alias or asset_id + property_id, not both", ""),
    (_record(property_id=PROP),
     "InvalidRecord", "give property_alias or asset_id + property_id, not both", ""),
    (_record(property_alias=...),
     "MissingField", "property_alias or asset_id + property_id is required", ""),
    (_record(property_alias=..., asset_id="x", property_id=PROP),
     "InvalidPattern", "field 'asset_id'='x' does not match " + ID_PATTERN, ""),
    (_record(property_alias=..., asset_id=ASSET),
     "MissingField", "field 'property_id' is required", ""),
    (_record(property_alias=..., property_id=PROP),
     "MissingField", "field 'asset_id' is required", ""),
    (_record(property_alias="a\tb"), "InvalidPattern",
     "field 'property_alias'='a\\tb' does not match [^\\u0000-\\u001F\\u007F]+", ""),
    (_record(property_alias="p" * 2049),
     "InvalidLength", "field 'property_alias' has 2049 characters, at most 2048 allowed", ""),
    (_record(colour="red"), "UnknownField",
     "unknown field(s) colour; expected some of asset_id, property_alias, property_id, "
     "quality, timestamp, value, value_type", ""),
]


@pytest.mark.parametrize("record, code, message, resource", _REFUSED)
def test_each_refusal_names_its_field_limit_and_value(record, code, message, resource):
    service = SiteWiseService(clock=FakeClock(NOW))
    assert refusal(service, record) == (code, message, resource)


# Records of the common shape (float value and time, a quality) with a fifth field: the
# short path leaves them to the general one, which refuses them as it does any record.
_FIVE_FIELDS = [
    (dict(colour="red"), "UnknownField",
     "unknown field(s) colour; expected some of asset_id, property_alias, property_id, "
     "quality, timestamp, value, value_type", ""),
    (dict(asset_id=ASSET), "InvalidRecord",
     "give property_alias or asset_id + property_id, not both", ""),
]


@pytest.mark.parametrize("extra, code, message, resource", _FIVE_FIELDS)
def test_a_common_record_with_a_field_too_many_is_refused(extra, code, message, resource):
    service = SiteWiseService(clock=FakeClock(NOW))
    record = dict(_record(timestamp=NOW - 60.5, quality="GOOD"), **extra)
    assert refusal(service, record) == (code, message, resource)


def test_a_timestamp_before_the_epoch_is_refused_as_such():
    service = SiteWiseService(clock=FakeClock(100))
    assert refusal(service, _record(timestamp=0.5)) == (
        "TimestampOutOfRange", "timestamp must be after the epoch", ALIAS)


def test_a_partial_processing_setting_that_is_not_a_bool_is_refused_with_its_value():
    with pytest.raises(ValueError) as raised:
        SiteWiseService(enable_partial_entry_processing="yes")
    assert str(raised.value) == "enable_partial_entry_processing must be a bool, got 'yes'"


def test_a_callable_clock_warns_that_it_is_deprecated_and_is_still_used():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        service = SiteWiseService(clock=lambda: 100.0)
    (warning,) = caught
    assert warning.category is DeprecationWarning
    assert str(warning.message) == "clock as a callable is deprecated; pass a Clock"
    # Attributed to a caller, not to the line in this package that warns.
    assert os.path.basename(warning.filename) != "sitewise.py"
    assert service.clock.time() == 100.0


def test_an_item_not_made_by_the_service_is_refused_as_a_bug():
    service = SiteWiseService(clock=FakeClock(NOW))
    item = service.item(_record(value=2.5))
    item.payload = item.payload[:3] + ("integerValue", 2.5)
    (request,) = pack([item], service.limits, service.entry_id)
    with pytest.raises(TypeError) as raised:
        service.request_body(request.scope, request.entries)
    assert str(raised.value) == (
        "a SiteWise value (integerValue, 2.5) that is not a Variant member of its type")


def _request(partial=True, count=2):
    service = SiteWiseService(enable_partial_entry_processing=partial, clock=FakeClock(NOW))
    items = [service.item(_record(timestamp=NOW - n)) for n in range(count)]
    (request,) = pack(items, service.limits, service.entry_id)
    return service, request


def test_an_error_for_an_entry_id_not_sent_names_that_id_and_the_services_message():
    service, request = _request()
    response = {"errorEntries": [{"entryId": "nope", "errors": [
        {"errorCode": "InvalidRequestException", "errorMessage": "bad"}]}]}
    (unmatched,) = service.failures(request, response)
    assert unmatched == Unmatched("InvalidRequestException",
                                  "entryId 'nope' names no entry of the request: bad",
                                  tuple(request.items))


def test_an_error_for_an_entry_id_not_sent_without_errors_is_unknown():
    service, request = _request()
    (unmatched,) = service.failures(request, {"errorEntries": [{"entryId": "nope"}]})
    assert (unmatched.code, unmatched.message) == (
        "Unknown", "entryId 'nope' names no entry of the request: ")


def test_the_stray_timestamps_named_are_the_first_five():
    service, request = _request()
    (entry,) = request.entries
    stray = [{"timeInSeconds": NOW - 100 - n} for n in range(7)]
    response = {"errorEntries": [{"entryId": entry.entry_id, "errors": [
        {"errorCode": "InvalidRequestException", "errorMessage": "m", "timestamps": stray}]}]}
    (unmatched,) = service.failures(request, response)
    assert unmatched.message == (
        "entry %s: timestamps [(%d, 0), (%d, 0), (%d, 0), (%d, 0), (%d, 0)] match no value "
        "sent: m" % ((entry.entry_id,) + tuple(NOW - 100 - n for n in range(5))))


def test_timestamps_that_match_no_value_sent_are_named_with_the_entry():
    service, request = _request()
    (entry,) = request.entries
    stray = [{"timeInSeconds": NOW - 99, "offsetInNanos": 5}, {"timeInSeconds": NOW}]
    response = {"errorEntries": [{"entryId": entry.entry_id, "errors": [
        {"errorCode": "TimestampOutOfRangeException", "errorMessage": "too old",
         "timestamps": stray}]}]}
    results = list(service.failures(request, response))
    assert results == [
        Unmatched("TimestampOutOfRangeException",
                  "entry %s: timestamps [(%d, 5)] match no value sent: too old"
                  % (entry.entry_id, NOW - 99), tuple(entry.items)),
        Failure(entry.items[[i.payload[0] for i in entry.items].index(NOW)],
                "TimestampOutOfRangeException", "too old")]


def test_a_value_not_ingested_with_its_entry_says_why():
    service, request = _request(partial=False)
    (entry,) = request.entries
    refused, kept = sorted(entry.items, key=lambda i: i.payload[0])
    response = {"errorEntries": [{"entryId": entry.entry_id, "errors": [
        {"errorCode": "InvalidRequestException", "errorMessage": "bad value",
         "timestamps": [{"timeInSeconds": refused.payload[0], "offsetInNanos": 0}]}]}]}
    assert list(service.failures(request, response)) == [
        Failure(refused, "InvalidRequestException", "bad value"),
        Failure(kept, "EntryNotIngested", "not stored: another value of its entry was "
                "refused and partial entry processing is off")]
