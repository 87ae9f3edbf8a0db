"""SiteWise at its documented edges: the double range and time window inclusive, the code and
target of a refused record, errors that fail a whole entry, and aliases holding colons."""

import pickle

import pytest

from beam_batchput.core.packing import pack
from beam_batchput.core.service import Failure, InvalidRecord, Unmatched
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock

NOW = 1_700_000_000
ASSET = "a1b2c3d4-0000-4000-8000-000000000001"
PROP = "a1b2c3d4-0000-4000-8000-000000000002"


def _service(now=NOW, partial=True):
    return SiteWiseService(enable_partial_entry_processing=partial, clock=FakeClock(now))


def _variant(record):
    return SiteWiseService.tqv(_service().item(record))["value"]


@pytest.mark.parametrize("target", [{"property_alias": "/farm/t1/power"},
                                    {"asset_id": ASSET, "property_id": PROP}])
@pytest.mark.parametrize("value", [1e10, -1e10])
@pytest.mark.parametrize("typed", [False, True])
def test_doubles_at_either_end_of_the_documented_range_are_accepted(target, value, typed):
    # doubleValue: -1e10 ... 1e10, both ends included.
    record = dict(target, value=value, timestamp=NOW)
    if typed:
        record["value_type"] = "DOUBLE"
    assert _variant(record) == {"doubleValue": value}


@pytest.mark.parametrize("offset", [-7 * 24 * 3600, 10 * 60])
def test_timestamps_at_either_end_of_the_time_window_are_accepted(offset):
    # [now - 7 days, now + 10 minutes], both ends included, on either path.
    for record in ({"property_alias": "/p", "value": 1.5, "timestamp": float(NOW + offset)},
                   {"asset_id": ASSET, "property_id": PROP, "value": 1.5,
                    "timestamp": NOW + offset}):
        assert SiteWiseService.tqv(_service().item(record))["timestamp"] == {
            "timeInSeconds": NOW + offset, "offsetInNanos": 0}


def test_a_timestamp_before_the_first_second_of_the_epoch_is_out_of_range():
    # Only reachable with a clock near the epoch: the window check comes first otherwise.
    with pytest.raises(InvalidRecord) as raised:
        _service(now=100).item({"property_alias": "/p", "value": 1, "timestamp": 0.5})
    assert raised.value.code == "TimestampOutOfRange"


@pytest.mark.parametrize("target, resource", [
    ({"property_alias": "/farm/t1/power"}, "/farm/t1/power"),
    ({"asset_id": ASSET, "property_id": PROP}, "%s/%s" % (ASSET, PROP)),
])
def test_a_refused_record_names_the_property_it_targets(target, resource):
    with pytest.raises(InvalidRecord) as raised:
        _service().item(dict(target, value=1.5, timestamp=NOW, quality="SO-SO"))
    assert (raised.value.code, raised.value.resource) == ("InvalidValue", resource)


def test_a_property_id_that_is_not_an_id_is_refused():
    with pytest.raises(InvalidRecord) as raised:
        _service().item({"asset_id": ASSET, "property_id": "not an id", "value": 1.5,
                         "timestamp": NOW})
    assert raised.value.code == "InvalidPattern"


def _entry_of_three(partial):
    service = _service(partial=partial)
    items = [service.item({"property_alias": "/p", "value": 1.5, "timestamp": NOW - n})
             for n in range(3)]
    (request,) = pack(items, service.limits, service.entry_id)
    return service, request


def test_an_error_naming_no_timestamp_fails_every_value_of_its_entry():
    service, request = _entry_of_three(partial=True)
    (entry,) = request.entries
    response = {"errorEntries": [{"entryId": entry.entry_id, "errors": [{
        "errorCode": "ResourceNotFoundException", "errorMessage": "no such property"}]}]}
    failures = list(service.failures(request, response))
    assert sorted(f.item.payload[0] for f in failures) == [NOW - 2, NOW - 1, NOW]
    assert {(f.code, f.message) for f in failures} == {
        ("ResourceNotFoundException", "no such property")}


def test_without_partial_processing_each_value_of_a_refused_entry_fails_once():
    service, request = _entry_of_three(partial=False)
    (entry,) = request.entries
    response = {"errorEntries": [{"entryId": entry.entry_id, "errors": [{
        "errorCode": "InvalidRequestException", "errorMessage": "bad value",
        "timestamps": [{"timeInSeconds": NOW - 1, "offsetInNanos": 0}]}]}]}
    failures = list(service.failures(request, response))
    assert sorted((f.item.payload[0], f.code) for f in failures) == [
        (NOW - 2, "EntryNotIngested"), (NOW - 1, "InvalidRequestException"),
        (NOW, "EntryNotIngested")]


def test_a_partial_processing_setting_that_is_not_a_bool_is_named_in_the_error():
    with pytest.raises(ValueError, match="enable_partial_entry_processing"):
        SiteWiseService(enable_partial_entry_processing="yes")


@pytest.mark.parametrize("value", [2e10, -2e10, 20_000_000_000])
def test_a_typed_double_outside_the_range_is_refused(value):
    with pytest.raises(InvalidRecord) as raised:
        _service().item({"property_alias": "/p", "value": value, "value_type": "DOUBLE",
                         "timestamp": NOW})
    assert raised.value.code == "ValueOutOfRange" and "1e10" in raised.value.message


class Double(float):
    """A float subclass, as numpy's float64 is."""


def test_a_float_subclass_value_is_sent_as_a_double():
    assert _variant({"property_alias": "/p", "value": Double(2.5), "timestamp": NOW}) == {
        "doubleValue": 2.5}


def test_an_error_without_a_code_or_message_fails_its_values_as_unknown():
    service, request = _entry_of_three(partial=True)
    (entry,) = request.entries
    response = {"errorEntries": [{"entryId": entry.entry_id, "errors": [{}]}]}
    failures = list(service.failures(request, response))
    assert len(failures) == 3 and {(f.code, f.message) for f in failures} == {("Unknown", "")}


def test_a_service_that_never_read_a_record_pickles():
    service = pickle.loads(pickle.dumps(_service()))
    assert service.item({"property_alias": "/p", "value": 1.5, "timestamp": float(NOW)})


@pytest.mark.parametrize("timestamp", [NOW + 600.5, NOW - 7 * 24 * 3600 - 0.5])
def test_half_a_second_past_either_end_of_the_window_is_refused(timestamp):
    for target in ({"property_alias": "/p"}, {"asset_id": ASSET, "property_id": PROP}):
        with pytest.raises(InvalidRecord) as raised:
            _service().item(dict(target, value=1.5, timestamp=timestamp))
        assert raised.value.code == "TimestampOutOfRange"


def test_the_first_second_after_the_epoch_is_a_valid_timestamp():
    item = _service(now=100).item({"property_alias": "/p", "value": 1, "timestamp": 1})
    assert SiteWiseService.tqv(item)["timestamp"] == {"timeInSeconds": 1, "offsetInNanos": 0}


def _response(*error_entries):
    return {"errorEntries": [{"entryId": entry_id, "errors": errors}
                             for entry_id, errors in error_entries]}


def test_an_error_entry_naming_no_entry_sent_keeps_its_code_and_the_next_entry_is_read():
    service, request = _entry_of_three(partial=True)
    (entry,) = request.entries
    failures = list(service.failures(request, _response(
        ("no-such-entry", [{"errorCode": "InternalFailureException", "errorMessage": "x"}]),
        (entry.entry_id, [{"errorCode": "ResourceNotFoundException", "errorMessage": "y"}]))))
    assert [u.code for u in failures if isinstance(u, Unmatched)] == [
        "InternalFailureException"]
    assert sorted(f.code for f in failures if isinstance(f, Failure)) == [
        "ResourceNotFoundException"] * 3


def test_an_error_naming_a_timestamp_never_sent_keeps_its_code():
    service, request = _entry_of_three(partial=True)
    (entry,) = request.entries
    failures = list(service.failures(request, _response((entry.entry_id, [{
        "errorCode": "InvalidRequestException", "errorMessage": "bad",
        "timestamps": [{"timeInSeconds": NOW - 100, "offsetInNanos": 0}]}]))))
    assert [(type(f), f.code) for f in failures] == [(Unmatched, "InvalidRequestException")]


@pytest.mark.parametrize("alias", ["/farm:t1/power", "opc:tcp://plant/a:b"])
def test_an_alias_holding_colons_is_sent_whole(alias):
    service = _service()
    (request,) = pack([service.item({"property_alias": alias, "value": 1.5, "timestamp": NOW})],
                      service.limits, service.entry_id)
    (entry,) = service.build_request(request.scope, request.entries)["entries"]
    assert entry["propertyAlias"] == alias and "assetId" not in entry
    assert ('"propertyAlias": "%s"' % alias).encode() in service.request_body(
        request.scope, request.entries)
