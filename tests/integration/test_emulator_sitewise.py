"""IoT SiteWise over HTTP: BatchPutAssetPropertyValue and GetAssetPropertyValueHistory."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from beam_batchput.emulator import FaultConfig
from tests.clocks import FakeClock

NOW = 1_714_564_800  # a fixed clock: 2024-05-01T12:00:00Z
DAY = 86400
ASSET = "1b7e8f6a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
PROPERTY = "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f"


def tqv(value=None, seconds=NOW, nanos=0, quality="GOOD", **variant):
    return {"value": variant or {"doubleValue": 1.0 if value is None else value},
            "timestamp": {"timeInSeconds": seconds, "offsetInNanos": nanos}, "quality": quality}


def entry(entry_id="e1", alias="/plant/t1/power", values=None):
    return {"entryId": entry_id, "propertyAlias": alias, "propertyValues": values or [tqv()]}


@pytest.fixture
def sitewise(emulator_factory, aws_client):
    def build(**kwargs):
        emulator = emulator_factory(clock=FakeClock(NOW), **kwargs)
        return emulator, aws_client("iotsitewise", emulator.endpoint_url)
    return build


def error_code(raised):
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"][
        "HTTPStatusCode"]


def test_values_written_are_read_back_and_stored_by_alias(sitewise):
    emulator, client = sitewise()
    answer = client.batch_put_asset_property_value(entries=[entry(values=[
        tqv(1.5, NOW - 2), tqv(seconds=NOW - 1, integerValue=7, quality="UNCERTAIN")])])
    assert answer["errorEntries"] == []
    history = client.get_asset_property_value_history(
        propertyAlias="/plant/t1/power", startDate=NOW - 10, endDate=NOW)
    assert [(h["timestamp"]["timeInSeconds"], h["value"], h["quality"])
            for h in history["assetPropertyValueHistory"]] == [
        (NOW - 2, {"doubleValue": 1.5}, "GOOD"), (NOW - 1, {"integerValue": 7}, "UNCERTAIN")]
    assert emulator.snapshot()["iotsitewise"]["values"]["/plant/t1/power"][0] == {
        "timeInSeconds": NOW - 2, "offsetInNanos": 0, "quality": "GOOD",
        "value": {"doubleValue": 1.5}}


def test_values_by_asset_and_property_id_are_stored_under_both_ids(sitewise):
    emulator, client = sitewise()
    client.batch_put_asset_property_value(entries=[
        {"entryId": "e1", "assetId": ASSET, "propertyId": PROPERTY, "propertyValues": [tqv()]}])
    history = client.get_asset_property_value_history(assetId=ASSET, propertyId=PROPERTY)
    assert len(history["assetPropertyValueHistory"]) == 1
    assert list(emulator.snapshot()["iotsitewise"]["values"]) == ["%s/%s" % (ASSET, PROPERTY)]


@pytest.mark.parametrize("entries", [
    pytest.param([entry("e%d" % i) for i in range(11)], id="11 entries"),
    pytest.param([entry(values=[tqv(seconds=NOW - i) for i in range(11)])], id="11 values"),
    pytest.param([entry("same"), entry("same", alias="/other")], id="duplicate entryId"),
    pytest.param([entry("not valid")], id="entryId pattern"),
    pytest.param([entry(alias="/a\x01b")], id="alias pattern"),
    pytest.param([{"entryId": "e1", "assetId": ASSET.upper(), "propertyId": PROPERTY,
                   "propertyValues": [tqv()]}], id="assetId pattern"),
])
def test_requests_over_a_limit_fail_whole_with_invalid_request(sitewise, entries):
    emulator, client = sitewise()
    with pytest.raises(ClientError) as raised:
        client.batch_put_asset_property_value(entries=entries)
    assert error_code(raised) == ("InvalidRequestException", 400)
    assert not any(emulator.snapshot()["iotsitewise"].values())


@pytest.mark.parametrize("bad", [
    pytest.param(tqv(stringValue="x" * 1025), id="string over 1024"),
    pytest.param(tqv(stringValue="ok\x00"), id="control character"),
    pytest.param(tqv(5e12), id="double over 1e10"),
    pytest.param(tqv(-1e10 - 1), id="double under -1e10"),
    pytest.param(tqv(nullValue={"valueType": "D"}), id="null value with GOOD"),
    pytest.param(tqv(doubleValue=1.0, integerValue=1), id="two variant members"),
])
def test_an_invalid_value_fails_its_entry_naming_its_timestamp(sitewise, bad):
    emulator, client = sitewise()
    bad["timestamp"]["timeInSeconds"] = NOW - 5
    answer = client.batch_put_asset_property_value(entries=[
        entry("bad", values=[tqv(seconds=NOW - 6), bad]), entry("good", alias="/good")])
    assert answer["errorEntries"] == [{"entryId": "bad", "errors": [{
        "errorCode": "InvalidRequestException", "errorMessage": answer["errorEntries"][0][
            "errors"][0]["errorMessage"], "timestamps": [{"timeInSeconds": NOW - 5,
                                                          "offsetInNanos": 0}]}]}]
    assert list(emulator.snapshot()["iotsitewise"]["values"]) == ["/good"]


def test_limit_values_themselves_are_accepted(sitewise):
    _, client = sitewise()
    answer = client.batch_put_asset_property_value(entries=[
        entry("e%d" % i, alias="/a%d" % i, values=[tqv(seconds=NOW - j) for j in range(10)])
        for i in range(10)])
    assert answer["errorEntries"] == []
    extremes = [tqv(1e10, NOW - 1), tqv(-1e10, NOW - 2), tqv(float("nan"), NOW - 3),
                tqv(seconds=NOW - 4, stringValue="x" * 1024),
                tqv(seconds=NOW - 5, quality="BAD", nullValue={"valueType": "S"})]
    assert client.batch_put_asset_property_value(
        entries=[entry(values=extremes)])["errorEntries"] == []


def test_the_empty_string_is_a_string_value(sitewise):
    # The documented pattern ^$|[^\u0000-\u001F\u007F]+ admits it.
    emulator, client = sitewise()
    answer = client.batch_put_asset_property_value(entries=[entry(values=[
        tqv(stringValue="")])])
    assert answer["errorEntries"] == []
    [point] = emulator.snapshot()["iotsitewise"]["values"]["/plant/t1/power"]
    assert point["value"] == {"stringValue": ""}


def test_timestamps_outside_the_window_fail_with_timestamp_out_of_range(sitewise):
    emulator, client = sitewise()
    times = [NOW - 7 * DAY - 1, NOW - 7 * DAY, NOW + 600, NOW + 601]
    answer = client.batch_put_asset_property_value(
        enablePartialEntryProcessing=True, entries=[entry(values=[tqv(seconds=t) for t in times])])
    [error] = answer["errorEntries"][0]["errors"]
    assert error["errorCode"] == "TimestampOutOfRangeException"
    assert [t["timeInSeconds"] for t in error["timestamps"]] == [NOW - 7 * DAY - 1, NOW + 601]
    stored = emulator.snapshot()["iotsitewise"]["values"]["/plant/t1/power"]
    assert [p["timeInSeconds"] for p in stored] == [NOW - 7 * DAY, NOW + 600]


@pytest.mark.parametrize("partial, stored", [(True, [NOW - 1]), (False, [])])
def test_partial_entry_processing_decides_whether_valid_values_of_a_failed_entry_land(
        sitewise, partial, stored):
    emulator, client = sitewise()
    answer = client.batch_put_asset_property_value(
        enablePartialEntryProcessing=partial,
        entries=[entry(values=[tqv(seconds=NOW - 1), tqv(seconds=NOW - 30 * DAY)])])
    assert [t["timeInSeconds"] for t in answer["errorEntries"][0]["errors"][0]["timestamps"]] == [
        NOW - 30 * DAY]
    points = emulator.snapshot()["iotsitewise"].get("values", {}).get("/plant/t1/power", [])
    assert [p["timeInSeconds"] for p in points] == stored


def test_same_timestamp_overwrites_unless_quality_differs(sitewise):
    emulator, client = sitewise()
    for value, quality in [(1.0, "GOOD"), (2.0, "GOOD"), (3.0, "BAD")]:
        client.batch_put_asset_property_value(entries=[entry(values=[tqv(value,
                                                                         quality=quality)])])
    [point] = emulator.snapshot()["iotsitewise"]["values"]["/plant/t1/power"]
    assert (point["value"], point["quality"]) == ({"doubleValue": 2.0}, "GOOD")


def test_with_a_config_an_undeclared_property_fails_its_entry_with_resource_not_found(sitewise):
    config = {"iotsitewise": {"property_aliases": ["/known"], "properties": [
        {"assetId": ASSET, "propertyId": PROPERTY, "alias": "/linked"}]}}
    emulator, client = sitewise(config=config)
    answer = client.batch_put_asset_property_value(entries=[
        entry("a", alias="/known"),
        entry("b", alias="/unknown", values=[tqv(), tqv(seconds=NOW - 1)]),
        {"entryId": "c", "assetId": ASSET, "propertyId": PROPERTY, "propertyValues": [tqv()]}])
    [failed] = answer["errorEntries"]
    assert failed["entryId"] == "b"
    assert failed["errors"][0]["errorCode"] == "ResourceNotFoundException"
    assert len(failed["errors"][0]["timestamps"]) == 2
    assert sorted(emulator.snapshot()["iotsitewise"]["values"]) == ["/known", "/linked"]
    with pytest.raises(ClientError) as raised:
        client.get_asset_property_value_history(propertyAlias="/unknown")
    assert error_code(raised) == ("ResourceNotFoundException", 404)


def test_declared_data_type_rejects_other_value_types(sitewise):
    _, client = sitewise(config={"iotsitewise": {"properties": [
        {"alias": "/rpm", "dataType": "INTEGER"}]}})
    answer = client.batch_put_asset_property_value(entries=[
        entry(alias="/rpm", values=[tqv(seconds=NOW - 1, integerValue=5), tqv(2.5)])])
    assert answer["errorEntries"][0]["errors"][0]["errorCode"] == "InvalidRequestException"


def test_history_pages_and_orders(sitewise):
    _, client = sitewise()
    client.batch_put_asset_property_value(entries=[entry(values=[tqv(seconds=NOW - i)
                                                                  for i in range(5)])])
    first = client.get_asset_property_value_history(propertyAlias="/plant/t1/power",
                                                    maxResults=3, timeOrdering="DESCENDING")
    second = client.get_asset_property_value_history(propertyAlias="/plant/t1/power",
                                                     maxResults=3, timeOrdering="DESCENDING",
                                                     nextToken=first["nextToken"])
    times = [h["timestamp"]["timeInSeconds"] for h in
             first["assetPropertyValueHistory"] + second["assetPropertyValueHistory"]]
    assert times == [NOW - i for i in range(5)] and "nextToken" not in second


@pytest.mark.parametrize("kind, codes", [
    ("retryable", {"ThrottlingException", "InternalFailureException"}),
    ("fatal", {"InvalidRequestException", "AccessDeniedException"}),
])
def test_injected_entry_errors_fail_every_value_of_the_entry(sitewise, kind, codes):
    emulator, client = sitewise(faults={"iotsitewise": FaultConfig(
        seed=3, **{"entry_%s_error_rate" % kind: 1.0})})
    answer = client.batch_put_asset_property_value(entries=[
        entry("e%d" % i, values=[tqv(seconds=NOW - 1), tqv(seconds=NOW - 2)]) for i in range(6)])
    assert len(answer["errorEntries"]) == 6
    for failed in answer["errorEntries"]:
        [error] = failed["errors"]
        assert error["errorCode"] in codes and len(error["timestamps"]) == 2
    assert not any(emulator.snapshot()["iotsitewise"].values())
