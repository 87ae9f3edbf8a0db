"""The Dataflow template's AWS web identity federation, against local fakes of
Google's metadata server and of AWS STS on loopback HTTP."""

from __future__ import annotations

import datetime
import http.server
import json
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import urllib.parse
from typing import Any, Dict, Iterator, List, Tuple

import boto3
import fastavro
import pytest

from beam_batchput.avro import load_schema
from templates.dataflow import gcp_web_identity as gwi
from templates.dataflow import launch

ROLE = "arn:aws:iam::123456789012:role/beam-batchput-writer"
SCRIPT = gwi.__file__


class _Fake:
    """A loopback HTTP server answering with ``self.answer(handler, body)``."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append({"method": self.command, "path": self.path,
                                      "headers": dict(self.headers), "body": body})
                status, payload = fake.answer(self, body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return "127.0.0.1:%d" % self._server.server_address[1]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FakeMetadata(_Fake):
    """Google's metadata server: a new ID token on every identity request."""

    def answer(self, handler: Any, body: bytes) -> Tuple[int, bytes]:
        if handler.headers.get("Metadata-Flavor") != "Google":
            return 403, b"missing Metadata-Flavor"
        return 200, ("google-id-token-%d" % len(self.requests)).encode()

    def queries(self) -> List[Dict[str, List[str]]]:
        return [urllib.parse.parse_qs(urllib.parse.urlsplit(r["path"]).query)
                for r in self.requests]


class FakeSts(_Fake):
    """STS AssumeRoleWithWebIdentity (query protocol, XML answers).

    ``failures`` is a list of (status, code) answered before succeeding;
    credentials expire ``DurationSeconds`` after ``now()``.
    """

    def __init__(self, now=time.time) -> None:
        self.failures: List[Tuple[int, str]] = []
        self.now = now
        super().__init__()

    def forms(self) -> List[Dict[str, str]]:
        return [dict(urllib.parse.parse_qsl(r["body"].decode())) for r in self.requests]

    def answer(self, handler: Any, body: bytes) -> Tuple[int, bytes]:
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if self.failures:
            status, code = self.failures.pop(0)
            return status, ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                            '<Error><Type>Sender</Type><Code>%s</Code><Message>refused</Message>'
                            '</Error></ErrorResponse>' % code).encode()
        n = len(self.requests)
        expires = datetime.datetime.fromtimestamp(self.now() + int(form["DurationSeconds"]),
                                                  datetime.timezone.utc)
        return 200, (
            '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleWithWebIdentityResult><Credentials>"
            "<AccessKeyId>ASIAFAKE%d</AccessKeyId><SecretAccessKey>secret-%d</SecretAccessKey>"
            "<SessionToken>session-token-%d</SessionToken><Expiration>%s</Expiration>"
            "</Credentials></AssumeRoleWithWebIdentityResult>"
            "</AssumeRoleWithWebIdentityResponse>"
            % (n, n, n, expires.strftime("%Y-%m-%dT%H:%M:%SZ"))).encode()


@pytest.fixture
def metadata() -> Iterator[FakeMetadata]:
    server = FakeMetadata()
    yield server
    server.stop()


@pytest.fixture
def clock() -> List[float]:
    return [1_800_000_000.0]


@pytest.fixture
def sts(clock) -> Iterator[FakeSts]:
    server = FakeSts(now=lambda: clock[0])
    yield server
    server.stop()


def config(metadata, sts, **kwargs) -> gwi.WebIdentityConfig:
    return gwi.WebIdentityConfig(role_arn=ROLE, region_name="eu-west-1",
                                 metadata_host=metadata.host,
                                 sts_endpoint_url="http://%s/" % sts.host, **kwargs)


def secrets_of(sts: FakeSts, metadata: FakeMetadata) -> List[str]:
    """Every token and secret the fakes handed out."""
    tokens = ["google-id-token-%d" % i for i in range(1, len(metadata.requests) + 1)]
    issued = ["secret-%d" % i for i in range(1, len(sts.requests) + 1)]
    return tokens + issued + ["session-token-%d" % i for i in range(1, len(sts.requests) + 1)]


def test_default_endpoint_is_the_regions_own_never_the_global_one():
    plain = gwi.WebIdentityConfig(role_arn=ROLE, region_name="eu-west-1")
    assert plain.endpoint == "https://sts.eu-west-1.amazonaws.com/"
    assert gwi.sts_endpoint("cn-north-1") == "https://sts.cn-north-1.amazonaws.com.cn/"
    with pytest.raises(ValueError, match="region_name"):
        gwi.WebIdentityConfig(role_arn=ROLE, region_name="")


def test_token_is_asked_for_the_encoded_audience_in_standard_format(metadata, sts, clock):
    audience = "https://sts.amazonaws.com/?tenant=a&b"
    session = gwi.WebIdentitySession(config(metadata, sts, audience=audience),
                                     clock=lambda: clock[0])
    session.credentials()
    request = metadata.requests[0]
    assert request["path"].startswith(
        "/computeMetadata/v1/instance/service-accounts/default/identity?")
    assert "audience=https%3A%2F%2Fsts.amazonaws.com%2F%3Ftenant%3Da%26b" in request["path"]
    assert metadata.queries()[0] == {"audience": [audience], "format": ["standard"]}
    assert request["headers"]["Metadata-Flavor"] == "Google"


def test_the_exchange_sends_the_token_to_sts_and_reads_the_credentials(metadata, sts, clock):
    session = gwi.WebIdentitySession(config(metadata, sts, session_name="job-42",
                                            duration_seconds=1800), clock=lambda: clock[0])
    got = session.credentials()
    assert sts.forms() == [{"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                            "RoleArn": ROLE, "RoleSessionName": "job-42",
                            "DurationSeconds": "1800", "WebIdentityToken": "google-id-token-1"}]
    assert sts.requests[0]["method"] == "POST"
    assert (got.access_key_id, got.secret_access_key, got.session_token) == (
        "ASIAFAKE1", "secret-1", "session-token-1")
    assert got.expiration.timestamp() == clock[0] + 1800


def test_credentials_are_cached_and_renewed_only_near_expiry(metadata, sts, clock):
    session = gwi.WebIdentitySession(config(metadata, sts, refresh_margin_seconds=1200),
                                     clock=lambda: clock[0])
    first = session.credentials()
    clock[0] += 3600 - 1200 - 1          # 1,201 s left: still fresh
    assert session.credentials() is first
    assert len(sts.requests) == len(metadata.requests) == 1
    clock[0] += 2                        # 1,199 s left: inside the margin
    second = session.credentials()
    assert second.access_key_id == "ASIAFAKE2"
    assert sts.forms()[1]["WebIdentityToken"] == "google-id-token-2"  # a new token, too
    assert second.expiration.timestamp() == clock[0] + 3600


def test_one_exchange_per_process_for_concurrent_callers(metadata, sts):
    identity = config(metadata, sts, session_name="concurrent")
    sessions = []
    threads = [threading.Thread(target=lambda: sessions.append(
        gwi.shared_session(identity).credentials())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(sessions) == 8 and len({c.access_key_id for c in sessions}) == 1
    assert len(sts.requests) == 1
    assert gwi.shared_session(identity) is gwi.shared_session(
        config(metadata, sts, session_name="concurrent"))


def test_writer_clients_sign_with_the_exchanged_credentials_and_share_them(metadata, sts,
                                                                           emulator_factory):
    # The emulator verifies SigV4 with the secret STS handed out: a request it
    # accepts was signed with the exchanged credentials.
    emulator = emulator_factory(credentials={"ASIAFAKE1": "secret-1"})
    identity = config(metadata, sts, session_name="writers")
    client_config = launch.WebIdentityClientConfig(
        region_name="eu-west-1", endpoint_url=emulator.endpoint_url, identity=identity)
    clients = [pickle.loads(pickle.dumps(client_config)).create_client("iotsitewise")
               for _ in range(3)]
    now = int(time.time())
    for n, client in enumerate(clients):
        answer = client.batch_put_asset_property_value(entries=[{
            "entryId": "e%d" % n, "propertyAlias": "/wind/t1/power", "propertyValues": [{
                "value": {"doubleValue": float(n)}, "quality": "GOOD",
                "timestamp": {"timeInSeconds": now - n, "offsetInNanos": 0}}]}])
        assert answer["errorEntries"] == []
    assert len(emulator.snapshot()["iotsitewise"]["values"]["/wind/t1/power"]) == 3
    assert len(sts.requests) == 1  # three clients, one exchange in this process


def test_transient_refusals_are_retried_and_final_ones_raise(metadata, sts, clock):
    waits: List[float] = []
    sts.failures = [(503, "ServiceUnavailable"), (400, "IDPCommunicationError")]
    session = gwi.WebIdentitySession(config(metadata, sts), clock=lambda: clock[0],
                                     sleep=waits.append)
    assert session.credentials().access_key_id == "ASIAFAKE3"
    assert waits == [1.0, 2.0]
    sts.failures = [(403, "AccessDenied")]
    clock[0] += 3600
    with pytest.raises(gwi.StsError, match="AccessDenied") as raised:
        session.credentials()
    assert not raised.value.retryable and waits == [1.0, 2.0]


def test_the_metadata_server_is_never_reached_through_a_proxy(metadata, sts, clock,
                                                             monkeypatch):
    # A proxy that does not exist, bypassed for the fake STS only: the token
    # request would fail if it tried the proxy.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", sts.host)
    gwi.WebIdentitySession(config(metadata, sts), clock=lambda: clock[0]).credentials()
    assert len(metadata.requests) == len(sts.requests) == 1
    monkeypatch.setenv("no_proxy", "")   # and the STS call does honour the proxy
    with pytest.raises(gwi.StsError, match="StsUnreachable"):
        gwi.WebIdentitySession(config(metadata, sts), clock=lambda: clock[0],
                               sleep=lambda s: None).credentials()


def test_a_malformed_sts_answer_is_a_clear_error(metadata, sts, clock, monkeypatch):
    monkeypatch.setattr(sts, "answer", lambda handler, body: (200, b"not xml"))
    with pytest.raises(gwi.StsError, match="MalformedResponse"):
        gwi.WebIdentitySession(config(metadata, sts), clock=lambda: clock[0]).credentials()


def test_an_unreachable_metadata_server_is_a_clear_error(sts, clock):
    identity = gwi.WebIdentityConfig(role_arn=ROLE, region_name="eu-west-1",
                                     metadata_host="127.0.0.1:9", timeout_seconds=2,
                                     max_attempts=2, sts_endpoint_url="http://%s/" % sts.host)
    waits: List[float] = []
    with pytest.raises(gwi.StsError, match="MetadataUnreachable"):
        gwi.WebIdentitySession(identity, sleep=waits.append).credentials()
    assert waits == [1.0] and sts.requests == []


def run_process(metadata, sts, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GCE_METADATA_HOST=metadata.host,
               AWS_ENDPOINT_URL_STS="http://%s/" % sts.host, AWS_REGION="eu-west-1")
    return subprocess.run([sys.executable, SCRIPT, *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_credential_process_prints_the_documented_json(metadata, sts):
    done = run_process(metadata, sts, "--role-arn", ROLE)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken",
                           "Expiration"}
    assert answer["Version"] == 1 and answer["AccessKeyId"] == "ASIAFAKE1"
    datetime.datetime.strptime(answer["Expiration"], "%Y-%m-%dT%H:%M:%SZ")


def test_botocore_reads_the_credential_process_output(metadata, sts, tmp_path, monkeypatch):
    config_file = tmp_path / "config"
    config_file.write_text("[profile fed]\ncredential_process = %s %s --role-arn %s\n"
                           % (sys.executable, SCRIPT, ROLE))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("GCE_METADATA_HOST", metadata.host)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://%s/" % sts.host)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    frozen = boto3.Session(profile_name="fed").get_credentials().get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        "ASIAFAKE1", "secret-1", "session-token-1")


def test_nothing_secret_is_logged_printed_or_raised(metadata, sts, clock, caplog):
    caplog.set_level(logging.DEBUG)
    seen: List[str] = []
    sts.failures = [(503, "ServiceUnavailable")]
    session = gwi.WebIdentitySession(config(metadata, sts), clock=lambda: clock[0],
                                     sleep=lambda s: None)
    seen.append(repr(session.credentials()))
    seen.append(repr(launch.WebIdentityClientConfig(region_name="eu-west-1",
                                                    identity=session.config)))
    sts.failures = [(403, "AccessDenied")]
    clock[0] += 3600
    with pytest.raises(gwi.StsError) as raised:
        session.credentials()
    seen.append(str(raised.value))
    sts.failures = [(403, "AccessDenied")]
    refused = run_process(metadata, sts, "--role-arn", ROLE)
    assert refused.returncode == 1 and "AccessDenied" in refused.stderr
    seen.append(refused.stderr)
    text = caplog.text + "\n".join(seen)
    assert "obtained, valid until" in caplog.text   # the log is there, without secrets
    leaked = [secret for secret in secrets_of(sts, metadata) if secret in text]
    assert leaked == []


def test_the_template_launcher_gives_the_writers_web_identity_credentials(metadata, sts,
                                                                          emulator_factory,
                                                                          tmp_path):
    # The launcher's own path on the DirectRunner: flags as Dataflow passes
    # them, the pipeline named by the image, the role from the image's
    # environment. The emulator accepts only the credentials STS issued.
    emulator = emulator_factory(credentials={"ASIAFAKE1": "secret-1"})
    now = int(time.time())
    records = [{"property_alias": "/wind/t%d/power" % (n % 3), "value": float(n),
                "timestamp": datetime.datetime.fromtimestamp(now - n, datetime.timezone.utc)}
               for n in range(9)]
    with open(tmp_path / "in.avro", "wb") as handle:
        fastavro.writer(handle, load_schema("sitewise_record"), records)
    environ = {"BEAM_BATCHPUT_PIPELINE": "avro_to_service", "BEAM_BATCHPUT_AWS_ROLE_ARN": ROLE,
               "BEAM_BATCHPUT_AWS_SESSION_NAME": "launcher-test",
               "GCE_METADATA_HOST": metadata.host, "AWS_ENDPOINT_URL_STS": "http://%s/" % sts.host}
    result = launch.launch([
        "--runner=DirectRunner", "--avro_input=%s" % (tmp_path / "in.avro"),
        "--service=sitewise", "--dead_letter_output=%s" % (tmp_path / "dlq"),
        "--region_name=eu-west-1", "--endpoint_url=%s" % emulator.endpoint_url], environ)
    result.wait_until_finish()
    stored = emulator.snapshot()["iotsitewise"]["values"]
    assert sum(len(points) for points in stored.values()) == 9
    assert len(sts.requests) == 1
