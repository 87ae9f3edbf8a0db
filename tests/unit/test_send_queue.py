"""The send step's queue bound, checked without timing: the wait is observed, not raced."""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time

from beam_batchput.core import sending
from beam_batchput.core.config import RetryConfig
from beam_batchput.core.packing import pack
from beam_batchput.core.sending import SendFn
from beam_batchput.services.sitewise import SiteWiseService
from tests import fakes
from tests.clocks import FakeClock

NOW = int(time.time())
# Requests one send step holds per sending thread, as SendFn documents it.
_QUEUED_PER_SENDER = 4


def _requests(service, count):
    records = [{"property_alias": "/q/%d" % n, "value": float(n), "timestamp": NOW - 60}
               for n in range(count * 10)]
    # One property per entry and 10 entries a request: ``count`` requests.
    requests = pack([service.item(r) for r in records], service.limits, service.entry_id)
    assert len(requests) == count
    return requests


def test_a_full_queue_waits_for_a_request_to_finish_before_taking_another(monkeypatch):
    service, max_in_flight = SiteWiseService(), 2
    bound = max_in_flight * _QUEUED_PER_SENDER
    gate = threading.Event()

    def held(method, kwargs, number):
        assert gate.wait(60), "the test never opened the gate"
        return {"errorEntries": []}

    fn = SendFn(service, fakes.FakeClientFactory("queue", held), RetryConfig(), max_in_flight,
                fail_fast=False, clock=FakeClock(NOW))
    fakes.reset("queue")
    fn.setup()
    fn.start_bundle()
    waits = []
    real_wait = concurrent.futures.wait

    def observed_wait(futures, return_when):
        waits.append((len(fn._pending), return_when))
        gate.set()  # the service answers only once the step waits
        return real_wait(futures, return_when=return_when)

    monkeypatch.setattr(sending.concurrent.futures, "wait", observed_wait)
    out, peak = [], 0
    requests = _requests(service, bound + 3)
    try:
        for request in requests:
            out.extend(fn.process(request, window=None))
            peak = max(peak, len(fn._pending))
        out.extend(fn.finish_bundle())
    finally:
        gate.set()
        fn.teardown()
    # The first wait came when the queue held exactly its bound, no sooner or later.
    assert waits[0] == (bound, concurrent.futures.FIRST_COMPLETED)
    assert peak <= bound
    assert waits[-1][1] == concurrent.futures.ALL_COMPLETED
    # Every record got exactly one receipt.
    receipts = collections.Counter(v.value.item_id for v in out)
    assert set(receipts.values()) == {1}
    assert sorted(receipts) == sorted(item.item_id for r in requests for item in r.items)
