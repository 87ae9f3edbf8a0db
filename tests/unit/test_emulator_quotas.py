"""The emulator's quota model: token buckets per API, per account and per resource."""

import pytest

from beam_batchput.emulator.quotas import (DEFAULT_QUOTAS, QuotaConfig, Quotas,
                                           quota_configs_from_mapping)
from beam_batchput.emulator.resources import SERVICES


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _entry(entry_id, alias, points=1):
    return {"entryId": entry_id, "propertyAlias": alias, "propertyValues": [
        {"timestamp": {"timeInSeconds": 1_700_000_000 + i, "offsetInNanos": 0},
         "value": {"doubleValue": 1.0}} for i in range(points)]}


def _quotas(service, **fields):
    clock = FakeClock()
    quotas = Quotas(SERVICES, clock)
    quotas.set(service, QuotaConfig(**fields))
    return quotas, clock


def test_a_request_bucket_admits_its_burst_then_its_rate():
    quotas, clock = _quotas("iottwinmaker", requests_per_second=5.0, request_burst=5.0)
    admitted = [not quotas.admit("iottwinmaker", "BatchPutPropertyValues", {}).throttled
                for _ in range(8)]
    assert admitted == [True] * 5 + [False] * 3
    clock.now += 0.4  # two tokens come back
    admitted = [not quotas.admit("iottwinmaker", "BatchPutPropertyValues", {}).throttled
                for _ in range(3)]
    assert admitted == [True, True, False]
    stats = quotas.stats()["iottwinmaker"]
    assert (stats["admitted"], stats["throttled"]) == (7, 4)


def test_other_operations_and_unconfigured_services_are_not_throttled():
    quotas, _ = _quotas("iottwinmaker", requests_per_second=1.0)
    for _ in range(5):
        assert not quotas.admit("iottwinmaker", "GetPropertyValueHistory", {}).throttled
        assert not quotas.admit("datazone", "PostTimeSeriesDataPoints", {}).throttled


def test_sitewise_throttles_entries_of_a_busy_property_and_keeps_the_rest():
    quotas, clock = _quotas("iotsitewise", resource_items_per_second=2.0)
    params = {"entries": [_entry("a%d" % i, "/hot") for i in range(3)] + [_entry("b", "/cold")]}
    admission = quotas.admit("iotsitewise", "BatchPutAssetPropertyValue", params)
    assert not admission.throttled
    assert [e["entryId"] for e in admission.params["entries"]] == ["a0", "a1", "b"]
    answer = admission.answer({"errorEntries": []})
    assert answer["errorEntries"] == [{"entryId": "a2", "errors": [{
        "errorCode": "ThrottlingException", "errorMessage": "Rate exceeded",
        "timestamps": [{"timeInSeconds": 1_700_000_000, "offsetInNanos": 0}]}]}]
    assert len(params["entries"]) == 4, "the caller's input is left as it was"
    clock.now += 0.5
    again = quotas.admit("iotsitewise", "BatchPutAssetPropertyValue",
                         {"entries": [_entry("c%d" % i, "/hot") for i in range(2)]})
    assert [e["entryId"] for e in again.params["entries"]] == ["c0"]


def test_the_account_data_point_bucket_counts_points_not_entries():
    quotas, _ = _quotas("iotsitewise", items_per_second=25.0)
    params = {"entries": [_entry("e%d" % i, "/p%d" % i, points=10) for i in range(3)]}
    admission = quotas.admit("iotsitewise", "BatchPutAssetPropertyValue", params)
    assert [e["entryId"] for e in admission.params["entries"]] == ["e0", "e1"]
    assert [e["entryId"] for e in admission.throttled_entries] == ["e2"]


def test_iot_events_throttles_per_message():
    quotas, _ = _quotas("iotevents-data", items_per_second=1.0)
    params = {"messages": [{"messageId": "m1", "inputName": "i", "payload": b"{}"},
                           {"messageId": "m2", "inputName": "i", "payload": b"{}"}]}
    admission = quotas.admit("iotevents-data", "BatchPutMessage", params)
    answer = admission.answer({"BatchPutMessageErrorEntries": []})
    assert answer["BatchPutMessageErrorEntries"] == [
        {"messageId": "m2", "errorCode": "ThrottlingException", "errorMessage": "Rate exceeded"}]


def test_a_mapping_turns_on_documented_defaults_and_overrides_fields():
    configs = quota_configs_from_mapping(
        {"iotsitewise": {"requests_per_second": 7}, "*": {}, "connect": None}, SERVICES)
    assert configs["iotsitewise"].requests_per_second == 7
    assert configs["iotsitewise"].resource_items_per_second \
        == DEFAULT_QUOTAS["iotsitewise"].resource_items_per_second
    assert configs["datazone"] == DEFAULT_QUOTAS["datazone"]
    assert configs["connect"] is None


@pytest.mark.parametrize("document, message", [
    ({"nosuch": {}}, "unknown service"),
    ({"iotsitewise": {"requests_per_sec": 1}}, "unknown quota config field"),
    ({"iotsitewise": {"requests_per_second": 0}}, "requests_per_second"),
    ({"iotsitewise": {"request_burst": float("inf")}}, "request_burst"),
    ([], "must map service names"),
    ({"iotsitewise": 5}, "a quota config must be a mapping"),
])
def test_bad_quota_configs_are_refused_with_the_field(document, message):
    with pytest.raises(ValueError, match=message):
        quota_configs_from_mapping(document, SERVICES)
