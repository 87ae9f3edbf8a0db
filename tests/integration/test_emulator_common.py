"""What every emulated service shares: signatures, whole-request faults, the inspection
API, configuration, the command line and the AWS CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import botocore
import pytest
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

from beam_batchput.core.clock import Clock
from beam_batchput.emulator import Emulator, FaultConfig
from tests.clocks import HeldClock
from tests.integration.conftest import client_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sitewise_call():
    return "batch_put_asset_property_value", {"entries": [{
        "entryId": "e1", "propertyAlias": "/plant/t1/power", "propertyValues": [{
            "value": {"doubleValue": 1.0}, "timestamp": {"timeInSeconds": int(time.time())}}]}]}


# A minimal valid write per service.
CALLS = {
    "iotsitewise": _sitewise_call,
    "iottwinmaker": lambda: ("batch_put_property_values", {"workspaceId": "factory", "entries": [{
        "entityPropertyReference": {"entityId": "mixer-1", "componentName": "telemetry",
                                    "propertyName": "rpm"},
        "propertyValues": [{"value": {"integerValue": 900}, "time": "2024-05-01T12:00:00Z"}]}]}),
    "datazone": lambda: ("post_time_series_data_points", {
        "domainIdentifier": "dzd_abc123", "entityIdentifier": "asset01", "entityType": "ASSET",
        "forms": [{"formName": "quality", "typeIdentifier": "amazon.datazone.Form",
                   "timestamp": 1714564800, "content": "{}"}]}),
    "connect": lambda: ("batch_create_data_table_value", {
        "InstanceId": "inst-1", "DataTableId": "routing", "Values": [{
            "PrimaryValues": [{"AttributeName": "queue", "Value": "billing"}],
            "AttributeName": "priority", "Value": "5"}]}),
    "iotevents-data": lambda: ("batch_put_message", {"messages": [{
        "messageId": "m1", "inputName": "pressureInput", "payload": b"{}"}]}),
}
SERVICES = sorted(CALLS)
INTERNAL_ERROR_CODES = {"iotsitewise": "InternalFailureException",
                        "iottwinmaker": "InternalServerException",
                        "datazone": "InternalServerException",
                        "connect": "InternalServiceException",
                        "iotevents-data": "InternalFailureException"}


def call(client, service):
    operation, kwargs = CALLS[service]()
    return getattr(client, operation)(**kwargs)


def outcome(raised):
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def get_json(url, data=None):
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


# Signatures

@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("client_kwargs, code", [
    pytest.param({"config": client_config(signature_version=botocore.UNSIGNED)},
                 "MissingAuthenticationTokenException", id="unsigned"),
    pytest.param({"aws_secret_access_key": "wrong"}, "InvalidSignatureException",
                 id="wrong secret"),
    pytest.param({"aws_access_key_id": "AKIDUNKNOWN"}, "UnrecognizedClientException",
                 id="unknown key"),
])
def test_badly_signed_requests_are_refused_with_403(emulator, aws_client, service,
                                                    client_kwargs, code):
    client = aws_client(service, emulator.endpoint_url, **client_kwargs)
    with pytest.raises(ClientError) as raised:
        call(client, service)
    assert outcome(raised) == (code, 403)
    assert not any(emulator.snapshot()[service].values())


def test_configured_credentials_are_accepted_and_the_secret_never_echoed(emulator_factory,
                                                                        aws_client):
    secret = "s3cr3t-value-do-not-echo"
    emulator = emulator_factory(credentials={"AKIDEXAMPLE": secret})
    good = aws_client("iotsitewise", emulator.endpoint_url, aws_access_key_id="AKIDEXAMPLE",
                      aws_secret_access_key=secret)
    call(good, "iotsitewise")
    bad = aws_client("iotsitewise", emulator.endpoint_url, aws_access_key_id="AKIDEXAMPLE",
                     aws_secret_access_key="nope")
    with pytest.raises(ClientError) as raised:
        call(bad, "iotsitewise")
    assert secret not in json.dumps(raised.value.response, default=str)
    assert secret not in json.dumps(emulator.requests()) + json.dumps(emulator.snapshot())
    assert [r["status"] for r in emulator.requests()] == [200, 403]


# Whole-request faults

@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("field, code, status", [
    ("throttle_rate", "ThrottlingException", 429),
    ("server_error_rate", None, 500),
    ("unavailable_rate", "ServiceUnavailableException", 503),
])
def test_whole_request_faults_answer_with_the_service_error(emulator_factory, aws_client,
                                                            service, field, code, status):
    emulator = emulator_factory(faults={service: FaultConfig(**{field: 1.0})})
    with pytest.raises(ClientError) as raised:
        call(aws_client(service, emulator.endpoint_url), service)
    assert outcome(raised) == (code or INTERNAL_ERROR_CODES[service], status)
    assert not any(emulator.snapshot()[service].values())


@pytest.mark.parametrize("service", SERVICES)
def test_a_dropped_connection_is_a_botocore_connection_error(emulator_factory, aws_client,
                                                             service):
    emulator = emulator_factory(faults={service: FaultConfig(drop_connection_rate=1.0)})
    with pytest.raises((HTTPClientError, ConnectionError)):
        call(aws_client(service, emulator.endpoint_url), service)
    [record] = emulator.requests()
    assert (record["status"], record["errorCode"]) == (None, "ConnectionDropped")
    assert not any(emulator.snapshot()[service].values())


def test_a_slow_answer_times_the_client_out_after_the_write_happened(emulator_factory,
                                                                     aws_client):
    held = HeldClock()  # the slow answer waits for the test, not for the clock
    emulator = emulator_factory(clock=held, faults={"iotsitewise": FaultConfig(
        slow_response_rate=1.0, slow_response_ms=300)})
    client = aws_client("iotsitewise", emulator.endpoint_url,
                        config=client_config(read_timeout=0.1))
    try:
        with pytest.raises(ReadTimeoutError):
            call(client, "iotsitewise")
        # The answer is still held back, and the write already happened.
        assert held.wait_held(1)
        assert emulator.snapshot()["iotsitewise"]["values"]["/plant/t1/power"]
    finally:
        held.release()


def test_added_latency_delays_every_answer(emulator_factory, aws_client):
    emulator = emulator_factory(faults={"connect": FaultConfig(latency_ms=30)})
    client = aws_client("connect", emulator.endpoint_url)
    started = time.monotonic()
    call(client, "connect")
    assert time.monotonic() - started >= 0.03


def _outcomes(emulator, client, service, count=16):
    seen = []
    for _ in range(count):
        try:
            call(client, service)
            seen.append("ok")
        except ClientError as error:
            seen.append(error.response["Error"]["Code"])
    return seen


def test_the_same_seed_injects_the_same_faults(emulator_factory, aws_client):
    faults = FaultConfig(throttle_rate=0.3, server_error_rate=0.2, seed=42)
    runs = []
    for _ in range(2):
        emulator = emulator_factory(faults={"iotevents-data": faults})
        runs.append(_outcomes(emulator, aws_client("iotevents-data", emulator.endpoint_url),
                              "iotevents-data"))
    assert runs[0] == runs[1]
    assert {"ok", "ThrottlingException", "InternalFailureException"} <= set(runs[0])
    emulator.set_faults("iotevents-data", faults)  # a new config restarts the seed
    assert _outcomes(emulator, aws_client("iotevents-data", emulator.endpoint_url),
                     "iotevents-data") == runs[0]


@pytest.mark.parametrize("fields, name", [
    ({"throttle_rate": 1.5}, "throttle_rate"),
    ({"server_error_rate": -0.1}, "server_error_rate"),
    ({"latency_ms": -1}, "latency_ms"),
    ({"slow_response_ms": float("inf")}, "slow_response_ms"),
    ({"throttle_rate": 0.6, "drop_connection_rate": 0.6}, "drop_connection_rate"),
    ({"entry_retryable_error_rate": 0.7, "entry_fatal_error_rate": 0.7}, "entry_fatal"),
    ({"seed": "abc"}, "seed"),
    ({"throttle": 0.5}, "throttle"),
])
def test_fault_config_refuses_bad_values_naming_the_field(fields, name):
    with pytest.raises(ValueError, match=name):
        FaultConfig.from_dict(fields)


# Inspection API

def test_inspection_api_shows_store_and_log_and_resets(emulator, aws_client):
    url = emulator.endpoint_url
    client = aws_client("iotsitewise", url)
    call(client, "iotsitewise")
    with pytest.raises(ClientError):
        client.batch_put_asset_property_value(entries=[{"entryId": "bad id", "propertyAlias": "/a",
                                                        "propertyValues": []}])
    assert get_json(url + "/_emulator/store") == emulator.snapshot()
    assert set(get_json(url + "/_emulator/store")) == set(SERVICES)
    log = get_json(url + "/_emulator/requests")
    assert log == emulator.requests()
    assert [(r["service"], r["operation"], r["status"], r["errorCode"]) for r in log] == [
        ("iotsitewise", "BatchPutAssetPropertyValue", 200, None),
        ("iotsitewise", "BatchPutAssetPropertyValue", 400, "InvalidRequestException")]
    assert log[0]["request"]["entries"][0]["propertyAlias"] == "/plant/t1/power"
    get_json(url + "/_emulator/reset", data=b"")
    assert get_json(url + "/_emulator/requests") == []
    assert not any(emulator.snapshot()["iotsitewise"].values())


def test_faults_can_be_set_at_runtime_over_http(emulator, aws_client):
    url = emulator.endpoint_url
    body = json.dumps({"*": {"throttle_rate": 1.0, "seed": 1}, "connect": None}).encode()
    faults = get_json(url + "/_emulator/faults", data=body)
    assert faults["iotsitewise"]["throttle_rate"] == 1.0 and faults["connect"]["throttle_rate"] == 0
    with pytest.raises(ClientError) as raised:
        call(aws_client("datazone", url), "datazone")
    assert outcome(raised) == ("ThrottlingException", 429)
    call(aws_client("connect", url), "connect")
    with pytest.raises(urllib.error.HTTPError) as refused:
        get_json(url + "/_emulator/faults", data=b'{"connect": {"throttle_rat": 1}}')
    assert refused.value.code == 400


def test_unknown_paths_get_404(emulator):
    for path in ("/_emulator/nothing", "/no/such/operation"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            get_json(emulator.endpoint_url + path)
        assert refused.value.code == 404


def test_concurrent_writers_all_land(emulator, aws_client):
    clients = [aws_client("iotsitewise", emulator.endpoint_url) for _ in range(8)]

    def write(index, client):
        for n in range(5):
            client.batch_put_asset_property_value(entries=[{
                "entryId": "e", "propertyAlias": "/t%d/m%d" % (index, n), "propertyValues": [{
                    "value": {"integerValue": n},
                    "timestamp": {"timeInSeconds": int(time.time())}}]}])

    threads = [threading.Thread(target=write, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(emulator.snapshot()["iotsitewise"]["values"]) == 40
    assert [r["seq"] for r in emulator.requests()] == list(range(1, 41))


# Construction and configuration

@pytest.mark.parametrize("kwargs, name", [
    ({"host": "0.0.0.0"}, "host"),
    ({"host": "192.168.1.10"}, "host"),
    ({"port": 70000}, "port"),
    ({"config": {"s3": {}}}, "s3"),
    ({"config": {"datazone": {"domains": {"dzd_x": {"entities": {"a": "TABLE"}}}}}}, "TABLE"),
    ({"faults": {"kinesis": FaultConfig()}}, "kinesis"),
])
def test_bad_constructor_arguments_raise_value_error(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Emulator(**kwargs)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_resources_file_is_read_from_json_or_yaml(tmp_path, emulator_factory, aws_client, suffix):
    if suffix == ".yaml":
        yaml = pytest.importorskip("yaml")
        text = yaml.safe_dump({"iotevents-data": {"inputs": ["pressureInput"]}})
    else:
        text = json.dumps({"iotevents-data": {"inputs": ["pressureInput"]}})
    path = tmp_path / ("resources" + suffix)
    path.write_text(text)
    emulator = emulator_factory(config=str(path))
    client = aws_client("iotevents-data", emulator.endpoint_url)
    call(client, "iotevents-data")
    answer = client.batch_put_message(messages=[{"messageId": "m2", "inputName": "other",
                                                 "payload": b"{}"}])
    assert answer["BatchPutMessageErrorEntries"][0]["errorCode"] == "ResourceNotFoundException"


def test_ipv6_loopback_is_served(emulator_factory, aws_client):
    try:
        emulator = emulator_factory(host="::1")
    except OSError as error:
        pytest.skip("no IPv6 loopback here: %s" % error)
    assert emulator.endpoint_url.startswith("http://[::1]:")
    call(aws_client("connect", emulator.endpoint_url), "connect")


# Command line

def test_the_command_line_prints_its_url_and_stops_on_sigterm(tmp_path, aws_client):
    config = tmp_path / "resources.json"
    config.write_text(json.dumps({"iotsitewise": {"property_aliases": ["/plant/t1/power"]}}))
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"connect": {"throttle_rate": 1.0}}))
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen(
        [sys.executable, "-m", "beam_batchput.emulator", "--port", "0", "--config", str(config),
         "--faults", str(faults)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        call(aws_client("iotsitewise", url), "iotsitewise")
        with pytest.raises(ClientError) as raised:
            call(aws_client("connect", url), "connect")
        assert outcome(raised) == ("ThrottlingException", 429)
        assert "/plant/t1/power" in get_json(url + "/_emulator/store")["iotsitewise"]["values"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_can_call_the_emulator(emulator, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1", AWS_DISABLE_HOST_PREFIX_INJECTION="true",
               AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    _, kwargs = _sitewise_call()
    result = subprocess.run(
        ["aws", "iotsitewise", "batch-put-asset-property-value", "--endpoint-url",
         emulator.endpoint_url, "--cli-input-json", json.dumps(kwargs), "--output", "json"],
        capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"errorEntries": []}
    assert emulator.snapshot()["iotsitewise"]["values"]["/plant/t1/power"]


# Quotas


class _StoppedClock(Clock):
    """Wall time as the system's; monotonic time (the quotas' buckets) moves when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize("service", SERVICES)
def test_a_request_quota_answers_429_throttling_once_the_bucket_is_empty(
        emulator_factory, aws_client, service):
    clock = _StoppedClock()
    running = emulator_factory(quotas={service: {"requests_per_second": 3, "request_burst": 3}},
                               clock=clock)
    client = aws_client(service, running.endpoint_url)
    for _ in range(3):
        call(client, service)
    with pytest.raises(ClientError) as raised:
        call(client, service)
    assert outcome(raised) == ("ThrottlingException", 429)
    clock.now += 1.0
    call(client, service)
    assert [r["errorCode"] for r in running.requests()].count("ThrottlingException") == 1


def test_quotas_are_set_and_read_through_the_inspection_api(emulator):
    base = emulator.endpoint_url + "/_emulator/quotas"
    assert get_json(base)["iotsitewise"] is None
    answer = get_json(base, json.dumps({"iotsitewise": {"requests_per_second": 50}}).encode())
    assert answer["iotsitewise"]["requests_per_second"] == 50
    assert answer["iotsitewise"]["resource_items_per_second"] == 10.0  # the documented default
    with pytest.raises(urllib.error.HTTPError) as raised:
        get_json(base, json.dumps({"iotsitewise": {"bogus": 1}}).encode())
    assert raised.value.code == 400


def test_the_command_line_reads_a_quota_file(tmp_path):
    path = tmp_path / "quotas.json"
    path.write_text(json.dumps({"datazone": {"requests_per_second": 4}}))
    process = subprocess.Popen(
        [sys.executable, "-m", "beam_batchput.emulator", "--port", "0", "--quotas", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        endpoint = process.stdout.readline().strip()
        assert get_json(endpoint + "/_emulator/quotas")["datazone"]["requests_per_second"] == 4
    finally:
        process.terminate()
        process.wait(timeout=10)
