"""Amazon Connect data tables over HTTP: BatchCreateDataTableValue and ListDataTableValues."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

CONFIG = {"connect": {"instances": {"inst-1": {"data_tables": {"routing": {"attributes": {
    "queue": {"type": "TEXT", "primary": True},
    "priority": {"type": "NUMBER"},
    "open": {"type": "BOOLEAN"},
    "Größe": {}}}}}}}}


def value(attribute="priority", text="5", queue="billing", **extra):
    return dict({"PrimaryValues": [{"AttributeName": "queue", "Value": queue}],
                 "AttributeName": attribute, "Value": text}, **extra)


@pytest.fixture
def connect(emulator_factory, aws_client):
    def build(**kwargs):
        emulator = emulator_factory(**kwargs)
        return emulator, aws_client("connect", emulator.endpoint_url)
    return build


def create(client, values, table="routing"):
    return client.batch_create_data_table_value(InstanceId="inst-1", DataTableId=table,
                                                Values=values)


def error_code(raised):
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"][
        "HTTPStatusCode"]


def test_created_values_succeed_per_value_and_are_listed_back(connect):
    emulator, client = connect(config=CONFIG)
    answer = create(client, [value(), value("open", "true"), value("Größe", "L", queue="sales")])
    assert answer["Failed"] == []
    assert [s["AttributeName"] for s in answer["Successful"]] == ["priority", "open", "Größe"]
    first = answer["Successful"][0]
    assert first["RecordId"] == answer["Successful"][1]["RecordId"]
    assert first["LockVersion"]["Value"] == "1"
    listed = client.list_data_table_values(
        InstanceId="inst-1", DataTableId="routing",
        PrimaryAttributeValues=[{"AttributeName": "queue", "Values": ["billing"]}])["Values"]
    assert sorted((v["AttributeName"], v["Value"], v["ValueType"]) for v in listed) == [
        ("open", "true", "BOOLEAN"), ("priority", "5", "NUMBER")]
    assert len(emulator.snapshot()["connect"]["values"]["inst-1/routing"]) == 3


def test_failed_values_are_listed_with_their_key_and_a_message(connect):
    emulator, client = connect(config=CONFIG)
    answer = create(client, [value(), value("colour", "red"), value("priority", "high"),
                             value(), value(PrimaryValues=[])])
    assert len(answer["Successful"]) == 1
    failed = [(f["AttributeName"], f["Message"].split(":")[0]) for f in answer["Failed"]]
    assert failed == [("colour", "ResourceNotFoundException"),
                      ("priority", "InvalidRequestException"),
                      ("priority", "InvalidRequestException"),
                      ("priority", "InvalidRequestException")]
    assert answer["Failed"][0]["PrimaryValues"] == [{"AttributeName": "queue",
                                                    "Value": "billing"}]


def test_with_a_config_an_unknown_table_fails_whole_with_not_found(connect):
    _, client = connect(config=CONFIG)
    with pytest.raises(ClientError) as raised:
        create(client, [value()], table="nope")
    assert error_code(raised) == ("ResourceNotFoundException", 404)
    assert raised.value.response["Error"]["Message"].startswith("Data table nope")


def test_replaying_a_value_succeeds_and_changing_it_needs_the_lock_version(connect):
    emulator, client = connect()
    first = create(client, [value(text="5")])["Successful"][0]
    replay = create(client, [value(text="5")])["Successful"][0]
    assert replay == first
    refused = create(client, [value(text="6")])
    assert refused["Failed"][0]["Message"].startswith("ConflictException")
    replaced = create(client, [value(text="6", LockVersion=first["LockVersion"])])
    assert replaced["Successful"][0]["LockVersion"]["Value"] == "2"
    assert replaced["Successful"][0]["RecordId"] == first["RecordId"]
    [stored] = emulator.snapshot()["connect"]["values"]["inst-1/routing"]
    assert stored["Value"] == "6"


def test_an_attribute_name_outside_the_pattern_fails_whole(connect):
    _, client = connect()
    with pytest.raises(ClientError) as raised:
        create(client, [value("a/b")])
    assert error_code(raised) == ("InvalidRequestException", 400)


@pytest.mark.parametrize("kind, prefixes", [
    ("retryable", {"ThrottlingException", "InternalServiceException"}),
    ("fatal", {"InvalidRequestException", "AccessDeniedException"}),
])
def test_injected_entry_errors_fail_values_with_a_named_message(connect, kind, prefixes):
    emulator, client = connect(faults={"connect": {"entry_%s_error_rate" % kind: 1.0,
                                                   "seed": 11}})
    answer = create(client, [value(queue="q%d" % i) for i in range(5)])
    assert answer["Successful"] == []
    assert {f["Message"].split(":")[0] for f in answer["Failed"]} <= prefixes
    assert not any(emulator.snapshot()["connect"].values())
