"""Writers against emulator quotas: throttled records are retried, never dead-lettered."""

from __future__ import annotations

import time

import apache_beam as beam
import botocore.exceptions
import pytest
from apache_beam.testing.util import assert_that, equal_to

from beam_batchput import ClientConfig, RetryConfig
from beam_batchput.core.botocore_throttling import take_retries_over
from beam_batchput.emulator import Emulator, FaultConfig
from beam_batchput.pipelines.options import pipeline_metrics
from beam_batchput.writers import WRITERS
from tests.beam_helpers import pipeline

pytestmark = pytest.mark.usefixtures("emulator_credentials")


def _entry():
    return [{"entryId": "a", "propertyAlias": "/x", "propertyValues": [
        {"value": {"doubleValue": 1.0}, "timestamp": {"timeInSeconds": int(time.time())}}]}]


def test_a_client_whose_retries_the_writer_took_over_sends_each_call_once():
    with Emulator(faults={"sitewise": FaultConfig(throttle_rate=1.0)}) as emulator:
        counts = []
        for take in (False, True):
            client = ClientConfig(region_name="us-east-1", endpoint_url=emulator.endpoint_url
                                  ).create_client("iotsitewise")
            assert not take or take_retries_over(client)
            emulator.reset()
            with pytest.raises(botocore.exceptions.ClientError):
                client.batch_put_asset_property_value(entries=_entry())
            counts.append(len(emulator.requests()))
    assert counts == [3, 1]  # botocore's three standard attempts, then the writer's one


@pytest.mark.parametrize("adaptive", [True, False])
def test_records_throttled_by_a_tight_quota_are_all_written_and_none_dead_lettered(adaptive):
    now = time.time() - 60
    records = [{"property_alias": "/q/p%02d" % (i % 20), "value": float(i),
                "timestamp": now + i / 1000.0} for i in range(2000)]
    quotas = {"sitewise": {"requests_per_second": 4, "request_burst": 2,
                           "items_per_second": None, "resource_items_per_second": None}}
    with Emulator(quotas=quotas) as emulator:
        p = pipeline()
        result = (p | beam.Create(records)
                  | WRITERS["iotsitewise"].writer(
                      client=emulator.client_config(), max_in_flight=8,
                      adaptive_concurrency=adaptive,
                      retry=RetryConfig(max_attempts=2, max_backoff_seconds=1.0)))
        assert_that(result.failed, equal_to([]), label="NoDeadLetters")
        assert_that(result.written | beam.combiners.Count.Globally(), equal_to([2000]),
                    label="AllWritten")
        outcome = p.run()
        outcome.wait_until_finish()
        stored = emulator.snapshot()["iotsitewise"]["values"]
        log = emulator.requests()
    assert sum(len(points) for points in stored.values()) == 2000
    assert any(entry["errorCode"] == "ThrottlingException" for entry in log)
    counters = {r.key.metric.name: r.committed
                for r in pipeline_metrics(outcome).query()["counters"]
                if r.key.metric.namespace == "beam_batchput.iotsitewise"}
    assert counters["throttled_requests"] >= 1
    assert counters["records_written"] == 2000
