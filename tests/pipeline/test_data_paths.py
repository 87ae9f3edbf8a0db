"""The record's whole path where records could be lost, record by record.

175 records through the batching step with a small ``max_buffered_records``:
mid-window looks that send full requests and keep partial entries back, a
retried entry among them, the rest at the window's end. The ledger is each
record's identity in the receipts, never a count.
"""

import collections
import json
import time

import apache_beam as beam
from apache_beam.testing.util import assert_that

from beam_batchput import BatchingConfig, RetryConfig, WriteToSiteWise
from tests import fakes
from tests.beam_helpers import Collect, pipeline
from tests.clocks import FakeClock

NOW = int(time.time())


def _records(properties, points):
    # Round-robin over the properties, so a chunk holds partial entries of each.
    return [{"property_alias": "/l/%d" % (n % properties), "value": float(n),
             "timestamp": NOW - 600 + n} for n in range(properties * points)]


def _ledger(receipts):
    return collections.Counter(
        (json.loads(r.record)["property_alias"], json.loads(r.record)["value"]) for r in receipts)


def test_leftovers_kept_back_at_a_mid_window_look_and_a_retry_lose_nothing():
    records = _records(7, 25)
    fakes.reset("paths")
    plan = {"/l/3": ["ThrottlingException"]}  # the first entry of /l/3 is retried once
    with pipeline() as p:
        result = (p | beam.Create(records)
                  | WriteToSiteWise(
                      batching=BatchingConfig(max_buffered_records=20, num_shards=1),
                      retry=RetryConfig(initial_backoff_seconds=0.01),
                      client_factory=fakes.FakeClientFactory("paths",
                                                             fakes.SiteWiseEntryErrors(plan)),
                      clock=FakeClock(NOW)))
        assert_that(result.written | beam.Map(lambda r: r), Collect("paths-written"),
                    label="written")
        assert_that(result.failed, Collect("paths-failed"), label="failed")
    written, failed = Collect.pop("paths-written"), Collect.pop("paths-failed")
    assert failed == []
    ledger = _ledger(written)
    assert set(ledger.values()) == {1}, "written twice: %s" % [k for k, n in ledger.items() if n > 1]
    assert sorted(ledger) == sorted((r["property_alias"], r["value"]) for r in records)
    retried = [r for r in written if r.attempts == 2]
    assert len(retried) == 10 and {json.loads(r.record)["property_alias"] for r in retried} == {
        "/l/3"}
    # What the service was sent: each point once, plus the retried entry's ten.
    sent = collections.Counter(
        (e["propertyAlias"], v["value"]["doubleValue"])
        for call in fakes.calls("paths") for e in call["kwargs"]["entries"]
        for v in e["propertyValues"])
    assert sum(sent.values()) == 175 + 10
    # A mid-window look sent a full request before the window's end sent the rest.
    sizes = [len(call["kwargs"]["entries"]) for call in fakes.calls("paths")]
    assert sizes[0] == 10 and len(sizes) >= 3
