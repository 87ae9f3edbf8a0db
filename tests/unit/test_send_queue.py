"""The send step's queue bound, checked without timing: the wait is observed, not raced."""

from __future__ import annotations

import collections
import threading
import time

from beam_batchput.core import sendloop
from beam_batchput.core.config import RetryConfig, SendingConfig
from beam_batchput.core.packing import pack
from beam_batchput.core.sending import SendFn
from beam_batchput.services.sitewise import SiteWiseService
from tests import fakes
from tests.clocks import FakeClock

NOW = int(time.time())
# Requests' worth of items one send step holds per sending thread, as SendFn documents it.
_QUEUED_PER_SENDER = 4
# A full SiteWise request: 10 entries of 10 TQVs.
_FULL = 100


def _full_requests(service, count):
    records = [{"property_alias": "/q/%d/%d" % (r, p), "value": float(t),
                "timestamp": NOW - 60 + t}
               for r in range(count) for p in range(10) for t in range(10)]
    requests = pack([service.item(r) for r in records], service.limits, service.entry_id)
    assert [len(r.items) for r in requests] == [_FULL] * count
    return requests


def test_a_full_queue_holds_the_input_until_a_request_finishes(monkeypatch):
    service, max_in_flight = SiteWiseService(), 2
    bound = max_in_flight * _QUEUED_PER_SENDER * _FULL
    gate = threading.Event()

    def held(method, kwargs, number):
        assert gate.wait(60), "the test never opened the gate"
        return {"errorEntries": []}

    fn = SendFn(service, fakes.FakeClientFactory("queue", held), RetryConfig(), max_in_flight,
                fail_fast=False, clock=FakeClock(NOW),
                sending=SendingConfig(adaptive_concurrency=False))
    fakes.reset("queue")
    fn.setup()
    fn.start_bundle()
    waits = []
    real_wait = sendloop.concurrent.futures.wait

    def observed_wait(futures, **kwargs):
        waits.append(fn._loop._pending_items)
        gate.set()  # the service answers only once the step waits
        return real_wait(futures, **kwargs)

    monkeypatch.setattr(sendloop.concurrent.futures, "wait", observed_wait)
    out, peak = [], 0
    requests = _full_requests(service, 2 * max_in_flight * _QUEUED_PER_SENDER)
    try:
        for request in requests:
            out.extend(fn.process(request, window=None))
            peak = max(peak, fn._loop._pending_items)
        out.extend(fn.finish_bundle())
    finally:
        gate.set()
        fn.teardown()
    # The first wait came when one request more than the bound was pending, no sooner.
    assert waits[0] == bound + _FULL
    assert peak <= bound + _FULL
    # Every record got exactly one receipt.
    receipts = collections.Counter(v.value.item_id for v in out)
    assert set(receipts.values()) == {1}
    assert sorted(receipts) == sorted(item.item_id for r in requests for item in r.items)
