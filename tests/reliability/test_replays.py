"""Replays: requests sent again after they succeeded leave no duplicate data."""

from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Set, Tuple

import apache_beam as beam
import pytest
from apache_beam.testing.test_stream import TestStream as Stream
from apache_beam.testing.util import assert_that
from apache_beam.transforms import window

from beam_batchput import ClientConfig, RetryConfig
from beam_batchput.emulator import Emulator
from beam_batchput.writers import WRITERS
from tests.beam_helpers import Collect, pipeline
from tests.clocks import FakeClock
from tests.reliability import harness

SERVICES = harness.SERVICES
_T0 = time.time() - 600
_NOW = int(_T0) + 600  # whole seconds: TestStream advances in whole milliseconds
_RETRY = RetryConfig(max_attempts=3, initial_backoff_seconds=0.01, max_backoff_seconds=0.02)


pytestmark = pytest.mark.usefixtures("emulator_credentials")


def _records(count: int) -> List[Any]:
    return harness.tagged_records(count, _T0)


def _bodies(log: List[Dict[str, Any]]) -> "collections.Counter[str]":
    return collections.Counter(json.dumps([e["service"], e["request"]], sort_keys=True)
                               for e in log)


def _write_all(records, client_for: Callable[[str], Dict[str, Any]], key: str,
               streaming: bool = False, source: Any = None) -> None:
    """Runs the five writers on ``records``; receipts' (service, number) land in Collect(key)."""
    with pipeline(streaming=streaming) as p:
        tagged = p | (source if source is not None else beam.Create(records))
        results = harness.write_each(
            tagged, lambda service: WRITERS[service].writer(**client_for(service)),
            window.FixedWindows(3600))
        written = tuple(result.written for result in results.values())
        assert_that(written | beam.Flatten()
                    | beam.Map(lambda r: (r.service, harness.number_of(r.service, r.record))),
                    Collect(key))


def test_the_same_records_written_twice_send_identical_requests_and_store_nothing_new():
    records = _records(150)
    with Emulator() as emulator:
        kwargs = dict(client=ClientConfig(region_name="us-east-1",
                                          endpoint_url=emulator.endpoint_url), retry=_RETRY)
        _write_all(records, lambda s: kwargs, "first")
        first_log, first_store = emulator.requests(), emulator.snapshot()
        _write_all(records, lambda s: kwargs, "again")
        second_log = emulator.requests()[len(first_log):]
        second_store = emulator.snapshot()
    assert sorted(Collect.pop("first")) == sorted(Collect.pop("again")) == sorted(
        (s, n) for n, (s, _) in enumerate(records))
    # Same entry ids, message ids and client tokens, request for request.
    assert _bodies(second_log) == _bodies(first_log)
    assert {e["service"] for e in first_log} == set(SERVICES)
    assert second_store == first_store
    for service in SERVICES:
        stored = [n for n, _ in harness._stored(service, second_store)]
        assert sorted(stored) == [n for n in range(150) if SERVICES[n % len(SERVICES)] == service]


# A worker that dies after its requests succeeded: the runner retries the bundle.

# (run, service) of every crash so far in this process; each run of a test
# names itself afresh, so a second run in one process crashes again.
_CRASHED: Set[Tuple[str, str]] = set()
_CRASHED_LOCK = threading.Lock()


class _CrashingClient:
    """A real client whose first successful call per service is followed by a crash."""

    def __init__(self, client: Any, service: str, run: str) -> None:
        self._client, self._service, self._run = client, service, run

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name.startswith("_") or not callable(method):
            return method

        def call(**kwargs: Any) -> Any:
            answer = method(**kwargs)
            with _CRASHED_LOCK:
                first = (self._run, self._service) not in _CRASHED
                _CRASHED.add((self._run, self._service))
            if first:
                raise RuntimeError("worker lost after a successful %s call" % name)
            return answer

        return call


class _CrashingClientFactory:
    def __init__(self, config: ClientConfig, service: str, run: str) -> None:
        self._config, self._service, self._run = config, service, run

    def __call__(self) -> _CrashingClient:
        return _CrashingClient(self._config.create_client(self._service), self._service,
                               self._run)


def test_a_bundle_retried_after_its_requests_succeeded_stores_no_duplicate():
    records = _records(100)
    # The clock's wall time is the processing time the stream starts at.
    stream = (Stream()
              .advance_processing_time(_NOW)
              .advance_watermark_to(0)
              .add_elements([window.TimestampedValue(r, 10) for r in records])
              .advance_processing_time(10)     # past the buffering bound: flush before window end
              .advance_watermark_to_infinity())
    run = "bundle-%s" % uuid.uuid4().hex
    with Emulator() as emulator:
        config = ClientConfig(region_name="us-east-1", endpoint_url=emulator.endpoint_url)

        def client_for(service: str) -> Dict[str, Any]:
            return dict(client_factory=_CrashingClientFactory(config, service, run),
                        retry=_RETRY, clock=FakeClock(_NOW))

        _write_all(records, client_for, "replayed", streaming=True, source=stream)
        log, snapshot = emulator.requests(), emulator.snapshot()
    assert {run_service[1] for run_service in _CRASHED if run_service[0] == run} == set(
        SERVICES)
    # Each service's crashed request reached the emulator twice, unchanged.
    bodies = _bodies(log)
    for service in SERVICES:
        assert any(count >= 2 and json.loads(body)[0] == service
                   for body, count in bodies.items()), service
    # Receipts once each (the failed bundle's output was discarded), data stored once.
    assert sorted(Collect.pop("replayed")) == sorted((s, n) for n, (s, _) in enumerate(records))
    for service in SERVICES:
        stored = [n for n, _ in harness._stored(service, snapshot)]
        assert sorted(stored) == [n for n in range(100) if SERVICES[n % len(SERVICES)] == service]
