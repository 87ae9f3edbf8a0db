"""IoT TwinMaker over HTTP: BatchPutPropertyValues and GetPropertyValueHistory."""

from __future__ import annotations

import datetime

import pytest
from botocore.exceptions import ClientError

from beam_batchput.emulator import FaultConfig

CONFIG = {"iottwinmaker": {"workspaces": {"factory": {"entities": {
    "mixer-1": {"components": {"telemetry": ["temperature", "rpm"]}}}}}}}


def reference(entity="mixer-1", component="telemetry", prop="temperature"):
    return {"entityId": entity, "componentName": component, "propertyName": prop}


def entry(time="2024-05-01T12:00:00Z", value=21.5, **ref):
    return {"entityPropertyReference": reference(**ref),
            "propertyValues": [{"value": {"doubleValue": value}, "time": time}]}


@pytest.fixture
def twinmaker(emulator_factory, aws_client):
    def build(**kwargs):
        emulator = emulator_factory(**kwargs)
        return emulator, aws_client("iottwinmaker", emulator.endpoint_url)
    return build


def error_code(raised):
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"][
        "HTTPStatusCode"]


def test_values_written_with_time_are_read_back(twinmaker):
    emulator, client = twinmaker()
    answer = client.batch_put_property_values(workspaceId="factory", entries=[
        entry("2024-05-01T12:00:01.5Z", 2.0), entry("2024-05-01T14:00:00+02:00", 1.0)])
    assert answer["errorEntries"] == []
    history = client.get_property_value_history(
        workspaceId="factory", entityId="mixer-1", componentName="telemetry",
        selectedProperties=["temperature"], startTime="2024-05-01T00:00:00Z",
        endTime="2024-05-02T00:00:00Z")
    [series] = history["propertyValues"]
    assert series["entityPropertyReference"]["propertyName"] == "temperature"
    assert [(v["time"], v["value"]) for v in series["values"]] == [
        ("2024-05-01T14:00:00+02:00", {"doubleValue": 1.0}),
        ("2024-05-01T12:00:01.5Z", {"doubleValue": 2.0})]
    stored = emulator.snapshot()["iottwinmaker"]["values"]
    assert list(stored) == ["factory/mixer-1/telemetry/temperature"]


def test_deprecated_timestamp_field_is_still_accepted(twinmaker):
    emulator, client = twinmaker()
    moment = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
    client.batch_put_property_values(workspaceId="factory", entries=[{
        "entityPropertyReference": reference(),
        "propertyValues": [{"value": {"integerValue": 3}, "timestamp": moment}]}])
    [point] = emulator.snapshot()["iottwinmaker"]["values"]["factory/mixer-1/telemetry/temperature"]
    assert point == {"time": "2024-05-01T12:00:00.000000000Z", "value": {"integerValue": 3}}


def test_a_value_at_the_same_time_replaces_the_stored_one(twinmaker):
    emulator, client = twinmaker()
    for value in (1.0, 2.0):
        client.batch_put_property_values(workspaceId="factory", entries=[entry(value=value)])
    [point] = emulator.snapshot()["iottwinmaker"]["values"]["factory/mixer-1/telemetry/temperature"]
    assert point["value"] == {"doubleValue": 2.0}


@pytest.mark.parametrize("entries", [
    pytest.param([entry("2024-05-01T12:00:%02dZ" % i) for i in range(11)], id="11 entries"),
    pytest.param([{"entityPropertyReference": reference(), "propertyValues": [
        {"value": {"doubleValue": 1.0}, "time": "2024-05-01T12:00:%02dZ" % i}
        for i in range(11)]}], id="11 values"),
    pytest.param([entry("yesterday at noon, roughly")], id="time not ISO-8601"),
    pytest.param([entry(prop="bad name!")], id="propertyName pattern"),
    pytest.param([{"entityPropertyReference": reference(), "propertyValues": [
        {"value": {"doubleValue": 1.0}}]}], id="no time"),
])
def test_invalid_requests_fail_whole_with_validation_exception(twinmaker, entries):
    emulator, client = twinmaker()
    with pytest.raises(ClientError) as raised:
        client.batch_put_property_values(workspaceId="factory", entries=entries)
    assert error_code(raised) == ("ValidationException", 400)
    assert not any(emulator.snapshot()["iottwinmaker"].values())


def test_with_a_config_unknown_entities_fail_per_entry_echoing_the_entry(twinmaker):
    emulator, client = twinmaker(config=CONFIG)
    unknown = entry(entity="mixer-2")
    answer = client.batch_put_property_values(workspaceId="factory", entries=[
        entry(), unknown, entry(prop="pressure")])
    errors = [e["errors"][0] for e in answer["errorEntries"]]
    assert [e["errorCode"] for e in errors] == ["ResourceNotFoundException"] * 2
    assert errors[0]["entry"] == unknown
    assert errors[1]["entry"]["entityPropertyReference"]["propertyName"] == "pressure"
    assert list(emulator.snapshot()["iottwinmaker"]["values"]) == [
        "factory/mixer-1/telemetry/temperature"]


def test_with_a_config_an_unknown_workspace_fails_whole_with_not_found(twinmaker):
    _, client = twinmaker(config=CONFIG)
    with pytest.raises(ClientError) as raised:
        client.batch_put_property_values(workspaceId="office", entries=[entry()])
    assert error_code(raised) == ("ResourceNotFoundException", 404)


def test_two_entries_writing_different_values_at_one_time_conflict(twinmaker):
    _, client = twinmaker()
    answer = client.batch_put_property_values(workspaceId="factory", entries=[
        entry(value=1.0), entry(value=2.0), entry(value=1.0)])
    [failed] = answer["errorEntries"]
    assert failed["errors"][0]["errorCode"] == "409"
    assert failed["errors"][0]["entry"]["propertyValues"][0]["value"] == {"doubleValue": 2.0}


def test_injected_entry_errors_use_retryable_codes(twinmaker):
    emulator, client = twinmaker(faults={"iottwinmaker": FaultConfig(
        entry_retryable_error_rate=1.0, seed=5)})
    answer = client.batch_put_property_values(workspaceId="factory", entries=[
        entry("2024-05-01T12:00:0%dZ" % i) for i in range(4)])
    codes = {e["errors"][0]["errorCode"] for e in answer["errorEntries"]}
    assert len(answer["errorEntries"]) == 4
    assert codes <= {"ThrottlingException", "InternalServerException"}
    assert not any(emulator.snapshot()["iottwinmaker"].values())
