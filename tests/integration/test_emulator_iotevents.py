"""IoT Events Data over HTTP: BatchPutMessage, with the package's own service description."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from beam_batchput._botocore import new_session
from beam_batchput.emulator import FaultConfig
from tests.integration.conftest import client_config


def message(message_id="m1", input_name="pressureInput", payload=b'{"psi": 42}', **extra):
    return dict({"messageId": message_id, "inputName": input_name, "payload": payload}, **extra)


@pytest.fixture
def iotevents(emulator_factory, aws_client):
    def build(**kwargs):
        emulator = emulator_factory(**kwargs)
        return emulator, aws_client("iotevents-data", emulator.endpoint_url)
    return build


def error_code(raised):
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"][
        "HTTPStatusCode"]


def test_a_client_from_new_session_sends_messages_that_are_stored(emulator):
    client = boto3.Session(botocore_session=new_session()).client(
        "iotevents-data", region_name="us-east-1", endpoint_url=emulator.endpoint_url,
        aws_access_key_id="testing", aws_secret_access_key="testing", config=client_config())
    answer = client.batch_put_message(messages=[
        message(),
        message("m2", payload=b'{"psi": 43}', timestamp={"timeInMillis": 1714564800000})])
    assert answer["BatchPutMessageErrorEntries"] == []
    stored = emulator.snapshot()["iotevents-data"]["messages"]["pressureInput"]
    assert [json.loads(m["payloadText"]) for m in stored] == [{"psi": 42}, {"psi": 43}]
    assert base64.b64decode(stored[0]["payload"]) == b'{"psi": 42}'
    assert stored[1]["timestamp"] == {"timeInMillis": 1714564800000}


def test_the_default_endpoint_is_the_aws_data_host():
    client = boto3.Session(botocore_session=new_session()).client(
        "iotevents-data", region_name="eu-west-1", aws_access_key_id="testing",
        aws_secret_access_key="testing")
    assert client.meta.endpoint_url == "https://data.iotevents.eu-west-1.amazonaws.com"


@pytest.mark.parametrize("messages", [
    pytest.param([message("m%d" % i, payload=b"{}") for i in range(11)], id="11 messages"),
    pytest.param([message("m1", payload=b"x" * 600), message("m2", payload=b"y" * 425)],
                 id="1025 payload bytes"),
    pytest.param([message("same"), message("same")], id="duplicate messageId"),
    pytest.param([message("has space")], id="messageId pattern"),
    pytest.param([message(input_name="-starts-with-dash")], id="inputName pattern"),
])
def test_requests_over_a_limit_fail_whole_with_invalid_request(iotevents, messages):
    emulator, client = iotevents()
    with pytest.raises(ClientError) as raised:
        client.batch_put_message(messages=messages)
    assert error_code(raised) == ("InvalidRequestException", 400)
    assert not any(emulator.snapshot()["iotevents-data"].values())


def test_ten_messages_of_exactly_1024_bytes_are_accepted(iotevents):
    _, client = iotevents()
    messages = [message("m%d" % i, payload=b"x" * (103 if i < 4 else 102)) for i in range(10)]
    assert sum(len(m["payload"]) for m in messages) == 1024
    assert client.batch_put_message(messages=messages)["BatchPutMessageErrorEntries"] == []


def test_with_a_config_an_unknown_input_fails_its_message(iotevents):
    emulator, client = iotevents(config={"iotevents-data": {"inputs": ["pressureInput"]}})
    answer = client.batch_put_message(messages=[message(), message("m2", "unknownInput")])
    assert answer["BatchPutMessageErrorEntries"] == [{
        "messageId": "m2", "errorCode": "ResourceNotFoundException",
        "errorMessage": "Input unknownInput not found."}]
    assert list(emulator.snapshot()["iotevents-data"]["messages"]) == ["pressureInput"]


def test_a_message_id_is_stored_once_across_batches(iotevents):
    emulator, client = iotevents()
    for _ in range(2):
        assert client.batch_put_message(messages=[message()])["BatchPutMessageErrorEntries"] == []
    assert len(emulator.snapshot()["iotevents-data"]["messages"]["pressureInput"]) == 1


def test_injected_entry_errors_name_each_failed_message(iotevents):
    emulator, client = iotevents(faults={"iotevents-data": FaultConfig(
        entry_retryable_error_rate=0.5, entry_fatal_error_rate=0.5, seed=2)})
    answer = client.batch_put_message(messages=[message("m%d" % i) for i in range(8)])
    entries = answer["BatchPutMessageErrorEntries"]
    assert sorted(e["messageId"] for e in entries) == ["m%d" % i for i in range(8)]
    assert {e["errorCode"] for e in entries} <= {
        "InternalFailureException", "ThrottlingException", "ServiceUnavailableException",
        "InvalidRequestException"}
    assert not any(emulator.snapshot()["iotevents-data"].values())
