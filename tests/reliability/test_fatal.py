"""Fatal conditions: dead letters (or, fail-fast, an exception) that name service, resource
and code; every retry loop ends within its attempt and time budget."""

from __future__ import annotations

import collections
import time
from typing import Any, List

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that

from beam_batchput import ClientConfig, RetryConfig
from beam_batchput.emulator import Emulator, FaultConfig
from beam_batchput.writers import WRITERS
from tests import fakes
from tests.beam_helpers import Collect, pipeline
from tests.clocks import HeldClock
from tests.reliability import harness

SERVICES = harness.SERVICES
# Every service declares one resource the records below do not name.
_DECLARED = {
    "iotsitewise": {"property_aliases": ["/declared/p"]},
    "iottwinmaker": {"workspaces": {"declared": {"entities": {}}}},
    "datazone": {"domains": {"dzd_declared": {"entities": {}}}},
    "connect": {"instances": {harness.CONNECT_INSTANCE: {"data_tables": {"declared": {}}}}},
    "iotevents-data": {"inputs": ["declaredInput"]},
}
# The resource each service's dead letter names for record n (see harness.make_record).
_RESOURCE = {
    "iotsitewise": lambda r: r["property_alias"],
    "iottwinmaker": lambda r: "rel/%s/c/p" % r["entity_id"],
    "datazone": lambda r: "dzd_rel/ASSET/%s/f" % r["entity_id"],
    "connect": lambda r: "%s/%s" % (r["instance_id"], r["data_table_id"]),
    "iotevents-data": lambda r: r["input_name"],
}
_FAST_RETRY = RetryConfig(max_attempts=3, initial_backoff_seconds=0.01, max_backoff_seconds=0.02)


@pytest.fixture(autouse=True)
def _credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # No credential source beyond the environment: no files, no instance metadata.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _records(count: int) -> List[Any]:
    return harness.tagged_records(count, time.time() - 600)


def _run(records, key: str, **writer_kwargs: Any) -> None:
    """The five writers; dead letters' (service, resource, stage, code, attempts) in Collect."""
    with pipeline() as p:
        results = harness.write_each(p | beam.Create(records),
                                     lambda service: WRITERS[service].writer(**writer_kwargs))
        failed = tuple(result.failed for result in results.values())
        assert_that(failed | beam.Flatten() | beam.Map(
            lambda d: (d.service, d.resource, d.stage, d.error_code, d.attempts)), Collect(key))


def _expected_letters(records, stage_of, code: str, attempts: int) -> "collections.Counter":
    return collections.Counter((s, _RESOURCE[s](r), stage_of(s), code, attempts)
                               for s, r in records)


def test_unknown_resources_dead_letter_every_record_naming_service_resource_and_code():
    records = _records(40)
    with Emulator(config=_DECLARED) as emulator:
        _run(records, "unknown", region_name="us-east-1", endpoint_url=emulator.endpoint_url,
             retry=_FAST_RETRY)
    # Workspaces, domains and tables are checked per request; properties and inputs per entry.
    per_entry = {"iotsitewise", "iotevents-data"}
    assert collections.Counter(Collect.pop("unknown")) == _expected_letters(
        records, lambda s: "entry" if s in per_entry else "request",
        "ResourceNotFoundException", 1)


@pytest.mark.parametrize("secret, code", [("wrong-secret", "InvalidSignatureException")],
                         ids=["wrong secret"])
def test_wrong_credentials_dead_letter_every_record_naming_the_code(monkeypatch, secret, code):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    records = _records(20)
    with Emulator() as emulator:
        _run(records, "credentials", region_name="us-east-1",
             endpoint_url=emulator.endpoint_url, retry=_FAST_RETRY)
        assert {entry["status"] for entry in emulator.requests()} == {403}
    assert collections.Counter(Collect.pop("credentials")) == _expected_letters(
        records, lambda s: "request", code, 1)


def test_an_unknown_access_key_dead_letters_every_record(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY")
    records = _records(10)
    with Emulator() as emulator:
        _run(records, "unknown-key", region_name="us-east-1",
             endpoint_url=emulator.endpoint_url, retry=_FAST_RETRY)
    assert collections.Counter(Collect.pop("unknown-key")) == _expected_letters(
        records, lambda s: "request", "UnrecognizedClientException", 1)


def test_no_credentials_at_all_dead_letter_every_record_without_waiting(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    records = _records(10)
    with Emulator() as emulator:
        _run(records, "none", region_name="us-east-1", endpoint_url=emulator.endpoint_url,
             retry=_FAST_RETRY)
        assert emulator.requests() == []
    assert collections.Counter(Collect.pop("none")) == _expected_letters(
        records, lambda s: "request", "NoCredentialsError", 1)


def test_access_denied_dead_letters_every_record_naming_service_and_resource():
    records = _records(20)
    denied = fakes.FakeClientFactory("denied", fakes.RaisingClient("AccessDeniedException", 403))
    _run(records, "denied", client_factory=denied, retry=_FAST_RETRY)
    assert collections.Counter(Collect.pop("denied")) == _expected_letters(
        records, lambda s: "request", "AccessDeniedException", 1)


@pytest.mark.parametrize("service", SERVICES)
def test_fail_fast_on_an_unknown_resource_raises_naming_service_resource_and_code(service):
    [(_, record)] = [r for r in _records(5) if r[0] == service]
    with Emulator(config=_DECLARED) as emulator:
        with pytest.raises(Exception) as raised:
            with pipeline() as p:
                _ = (p | beam.Create([record]) | WRITERS[service].writer(
                    region_name="us-east-1", endpoint_url=emulator.endpoint_url,
                    retry=_FAST_RETRY, fail_fast=True))
    message = str(raised.value)
    assert "%s request to %s failed: ResourceNotFoundException" % (
        service, _RESOURCE[service](record)) in message


def test_fail_fast_with_wrong_credentials_raises_naming_the_code(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    [(_, record)] = [r for r in _records(5) if r[0] == "datazone"]
    with Emulator() as emulator:
        with pytest.raises(Exception, match="datazone request to dzd_rel/ASSET/a0/f failed: "
                                            "InvalidSignatureException"):
            with pipeline() as p:
                _ = (p | beam.Create([record]) | WRITERS["datazone"].writer(
                    region_name="us-east-1", endpoint_url=emulator.endpoint_url,
                    retry=_FAST_RETRY, fail_fast=True))


@pytest.mark.parametrize("faults, read_timeout, codes", [
    # The read timeout is generous where the server closes the connection: a
    # loaded machine may take a while to close it, and only closing may end the
    # attempt. A server busy closing connections may also let a connect time out.
    (FaultConfig(drop_connection_rate=1.0), 10.0,
     {"ConnectionClosedError", "ConnectTimeoutError"}),
    # Answers are held until the test ends: only the read timeout can end these.
    (FaultConfig(latency_ms=1), 0.05, {"ReadTimeoutError"}),
], ids=["every connection dropped", "every answer late"])
def test_a_service_that_never_answers_is_given_up_within_the_retry_budget(faults, read_timeout,
                                                                          codes):
    # Attempts are all but unbounded: the time budget has to end the retries.
    retry = RetryConfig(max_attempts=10_000, initial_backoff_seconds=0.01,
                        max_backoff_seconds=0.02, max_retry_seconds=0.3)
    records = _records(10)
    held = HeldClock()
    with Emulator(faults={"*": faults}, clock=held) as emulator:
        # The connect timeout is generous: under load a connect may be slow, and
        # only the read (never answered) may time out here.
        client = ClientConfig(region_name="us-east-1", endpoint_url=emulator.endpoint_url,
                              read_timeout=read_timeout, connect_timeout=10,
                              botocore_max_attempts=2)
        started = time.monotonic()
        try:
            _run(records, "budget", client=client, retry=retry)
        finally:
            held.release()
        elapsed = time.monotonic() - started
    letters = Collect.pop("budget")
    assert sorted(s for s, *_ in letters) == sorted(s for s, _ in records)
    assert {(stage, code in codes) for _, _, stage, code, _ in letters} == {
        ("retries_exhausted", True)}
    assert all(attempts < 100 for *_, attempts in letters), letters
    # Pipeline start-up and teardown included; the budget itself is 0.3 s per request.
    assert elapsed < 30
