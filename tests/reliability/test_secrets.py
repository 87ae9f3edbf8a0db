"""Secrets: the secret key never leaks; requests must be signed; TLS is verified."""

from __future__ import annotations

import http.server
import json
import logging
import shutil
import ssl
import subprocess
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from typing import Any, Iterator, List

import apache_beam as beam
import boto3
import pytest
from apache_beam.internal import pickler
from apache_beam.testing.util import assert_that
from botocore.config import Config
from botocore.exceptions import ClientError

from beam_batchput import ClientConfig, RetryConfig
from beam_batchput._botocore import new_session
from beam_batchput.emulator import Emulator
from beam_batchput.writers import WRITERS
from tests.beam_helpers import Collect, pipeline
from tests.reliability import harness

SERVICES = harness.SERVICES
ACCESS_KEY = "AKIACANARYTEST000001"
CANARY = "canary-secret-%s" % uuid.uuid4().hex
_RETRY = RetryConfig(max_attempts=2, initial_backoff_seconds=0.01, max_backoff_seconds=0.02)


@pytest.fixture(autouse=True)
def _canary_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _records() -> List[Any]:
    """Good records, one malformed record and one unknown resource per service."""
    t0 = time.time() - 600
    records = harness.tagged_records(50, t0)
    for service in SERVICES:
        records.append((service, dict(harness.make_record(service, 1, t0), surplus=1)))
    records.append(("iotevents-data", dict(harness.make_record("iotevents-data", 9, t0),
                                           input_name="undeclared")))
    return records


def _writers(endpoint_url: str, **kwargs: Any) -> List[Any]:
    return [WRITERS[s].writer(region_name="us-east-1", endpoint_url=endpoint_url, retry=_RETRY,
                              **kwargs) for s in SERVICES]


def _leaks(text: str) -> bool:
    return CANARY in text


def test_the_secret_key_appears_in_no_log_output_or_pickled_transform(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "urllib3", "beam_batchput", "apache_beam"):
        caplog.set_level(logging.DEBUG, logger=name)
    config = {"iotevents-data": {"inputs": ["relInput0", "relInput1"]}}
    with Emulator(config=config, credentials={ACCESS_KEY: CANARY}) as emulator:
        writers = _writers(emulator.endpoint_url)
        with pipeline() as p:
            results = harness.write_each(p | beam.Create(_records()),
                                         dict(zip(SERVICES, writers)).__getitem__)
            outputs = [pc for result in results.values() for pc in result]
            assert_that(tuple(outputs) | beam.Flatten() | beam.Map(repr), Collect("outputs"))
            graph = p.to_runner_api().SerializeToString()
        stored, log = json.dumps(emulator.snapshot()), json.dumps(emulator.requests())
    outputs = Collect.pop("outputs")
    assert any("DeadLetter(" in o for o in outputs) and any("Receipt(" in o for o in outputs)
    assert not any(_leaks(o) for o in outputs)
    # The capture saw botocore's signing at DEBUG: the key id is there, the secret is not.
    logged = caplog.text + "".join("%s %r" % (r.getMessage(), r.args) for r in caplog.records)
    assert any(r.name.startswith("botocore") and r.levelno == logging.DEBUG
               for r in caplog.records)
    assert ACCESS_KEY in logged and not _leaks(logged)
    for writer in writers:
        assert not _leaks(repr(pickler.dumps(writer))) and CANARY.encode() not in pickler.dumps(
            writer)
    assert CANARY.encode() not in graph
    assert not _leaks(stored) and not _leaks(log)


def _raised(writer: Any, record: Any) -> BaseException:
    with pytest.raises(Exception) as raised:
        with pipeline() as p:
            _ = p | beam.Create([record]) | writer
    return raised.value


def test_the_secret_key_appears_in_no_exception_message(monkeypatch):
    record = harness.make_record("datazone", 2, time.time() - 600)
    config = {"datazone": {"domains": {}}}
    with Emulator(config=config, credentials={ACCESS_KEY: CANARY}) as emulator:
        not_found = _raised(WRITERS["datazone"].writer(
            region_name="us-east-1", endpoint_url=emulator.endpoint_url, retry=_RETRY,
            fail_fast=True), record)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY + "-wrong")
        bad_signature = _raised(WRITERS["datazone"].writer(
            region_name="us-east-1", endpoint_url=emulator.endpoint_url, retry=_RETRY,
            fail_fast=True), record)
    for error, code in ((not_found, "ResourceNotFoundException"),
                        (bad_signature, "InvalidSignatureException")):
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        assert code in str(error) and not _leaks(text)


def _client(endpoint_url: str, secret: str) -> Any:
    session = boto3.Session(botocore_session=new_session())
    return session.client("iotsitewise", region_name="us-east-1", endpoint_url=endpoint_url,
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret,
                          config=Config(inject_host_prefix=False,
                                        retries={"total_max_attempts": 1}))


_ENTRY = {"entryId": "e1", "propertyAlias": "/secrets/p",
          "propertyValues": [{"value": {"doubleValue": 1.0},
                              "timestamp": {"timeInSeconds": int(time.time()) - 60}}]}


def test_the_emulator_rejects_unsigned_wrongly_signed_and_tampered_requests():
    with Emulator(credentials={ACCESS_KEY: CANARY}) as emulator:
        unsigned = urllib.request.Request(
            emulator.endpoint_url + "/properties", method="POST",
            data=json.dumps({"entries": [_ENTRY]}).encode(),
            headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(unsigned, timeout=5)
        assert raised.value.code == 403
        assert json.loads(raised.value.read())["message"] == "Missing Authentication Token"

        with pytest.raises(ClientError) as wrong:
            _client(emulator.endpoint_url, "not-the-secret").batch_put_asset_property_value(
                entries=[_ENTRY])
        assert wrong.value.response["Error"]["Code"] == "InvalidSignatureException"

        tampering = _client(emulator.endpoint_url, CANARY)
        tampering.meta.events.register(
            "before-send", lambda request, **_: setattr(
                request, "body", request.body.replace(b"1.0", b"9.0")))
        with pytest.raises(ClientError) as tampered:
            tampering.batch_put_asset_property_value(entries=[_ENTRY])
        assert tampered.value.response["Error"]["Code"] == "InvalidSignatureException"

        _client(emulator.endpoint_url, CANARY).batch_put_asset_property_value(entries=[_ENTRY])
        assert [r["status"] for r in emulator.requests()] == [403, 403, 403, 200]
        assert emulator.snapshot()["iotsitewise"]["values"]["/secrets/p"][0]["value"] == {
            "doubleValue": 1.0}


def test_tls_verification_cannot_be_turned_off():
    with pytest.raises(ValueError, match="verify must be True or a CA bundle path, got False"):
        ClientConfig(verify=False)
    assert ClientConfig().verify is True


@pytest.fixture
def self_signed_server(tmp_path) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate no CA vouches for."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    served: List[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (stdlib name)
            served.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield "https://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    assert served == []  # no request ever got past the handshake


def test_an_endpoint_with_an_unverifiable_certificate_is_refused_not_retried(self_signed_server):
    record = harness.make_record("iotsitewise", 0, time.time() - 600)
    client = ClientConfig(region_name="us-east-1", endpoint_url=self_signed_server,
                          connect_timeout=2, read_timeout=2)
    with pipeline() as p:
        result = p | beam.Create([record]) | WRITERS["iotsitewise"].writer(client=client,
                                                                            retry=_RETRY)
        assert_that(result.failed | beam.Map(lambda d: (d.stage, d.error_code, d.attempts)),
                    Collect("tls"))
    [(stage, code, attempts)] = Collect.pop("tls")
    assert (stage, code, attempts) == ("request", "SSLError", 1)
