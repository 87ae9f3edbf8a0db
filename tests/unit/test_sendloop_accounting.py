"""The send loop's accounting: throttling botocore saw inside a call, item rate caps, the
in-flight limit and the retry budgets at their exact boundaries; fake clock."""

import concurrent.futures

import pytest

from beam_batchput import RetryConfig, Stage
from beam_batchput.core.botocore_throttling import ThrottleMeter
from beam_batchput.core.concurrency import AdaptiveConcurrency, FixedConcurrency
from beam_batchput.core.ratecap import RequestRateCaps
from beam_batchput.core.sender import RequestSender
from beam_batchput.core.sendloop import SendLoop
from tests import fakes
from tests.unit.test_sendloop import FakeClock, InlineExecutor, _requests, _service


class ScriptedMeter(ThrottleMeter):
    """What botocore's own retries saw during a call, as the test's client says."""

    def __init__(self, clock):
        super().__init__(clock)
        self.seen = (0, 0.0, 0)

    def take(self):
        seen, self.seen = self.seen, (0, 0.0, 0)
        return seen


class CountingExecutor(InlineExecutor):
    """Runs each call at once; counts the requests started and not yet harvested."""

    def __init__(self):
        self.outstanding = 0
        self.peak = 0

    def submit(self, fn, *args, **kwargs):
        inline = super().submit(fn, *args, **kwargs)
        executor = self

        class Harvested(concurrent.futures.Future):
            def result(self, timeout=None):
                executor.outstanding -= 1
                return inline.result(timeout)

        future = Harvested()
        future.set_running_or_notify_cancel()
        future.set_result(None)  # done, as the inline call is; result() reads the inline one
        self.outstanding += 1
        self.peak = max(self.peak, self.outstanding)
        return future


def _loop(name, behaviour, clock, *, concurrency=None, meter=None, caps=None,
          executor=None, **retry):
    service = _service()
    fakes.reset(name)
    retry = RetryConfig(**retry)
    return SendLoop(service, RequestSender(service, retry, clock=clock),
                    fakes.FakeClient(name, behaviour), executor or InlineExecutor(),
                    concurrency or FixedConcurrency(4), retry, caps=caps, clock=clock,
                    random=lambda: 1.0, max_pending_items=10_000, meter=meter)


def _run(loop, requests):
    outcomes = [o for request in requests for o, _ in loop.submit(request, "w")]
    outcomes += [o for o, _ in loop.drain()]
    assert loop.idle
    return outcomes


def _total(outcomes, field):
    return sum(getattr(o, field) for o in outcomes)


def test_throttling_inside_botocores_retries_is_counted_and_slows_the_writer_down():
    clock = FakeClock()
    meter = ScriptedMeter(clock)

    def accepted_after_one_hidden_throttle(method, kwargs, number):
        meter.seen = (1, 0.5, 1234)  # one throttled attempt, 0.5 s waited, 1,234 bytes sent
        return {"errorEntries": []}

    adaptive = AdaptiveConcurrency(8, clock=clock)
    loop = _loop("hidden", accepted_after_one_hidden_throttle, clock, concurrency=adaptive,
                 meter=meter)
    outcomes = _run(loop, _requests(_service(), 10, points_per_property=1))
    assert _total(outcomes, "throttled_requests") == 1
    assert _total(outcomes, "throttled_seconds") == pytest.approx(0.5)
    assert _total(outcomes, "bytes_sent") == 1234
    assert sum(len(o.written) for o in outcomes) == 10
    assert adaptive.decreases == 1


def test_a_request_refused_whole_for_throttling_counts_botocores_final_attempt_once():
    clock = FakeClock()
    meter = ScriptedMeter(clock)

    def throttled_three_times_then_accepted(method, kwargs, number):
        if number == 1:
            # botocore tried three times, each throttled, and gave up on the third
            # answer, which the writer settles itself: three throttled answers.
            meter.seen = (3, 0.5, 0)
            raise fakes.client_error("ThrottlingException", 429)
        return {"errorEntries": []}

    loop = _loop("hidden-whole", throttled_three_times_then_accepted, clock, meter=meter)
    outcomes = _run(loop, _requests(_service(), 10, points_per_property=1))
    assert _total(outcomes, "throttled_requests") == 3
    # 0.5 s inside botocore, then the writer's first backoff (0.1 s, jitter 1.0).
    assert _total(outcomes, "throttled_seconds") == pytest.approx(0.6)
    assert sum(len(o.written) for o in outcomes) == 10


def test_an_item_rate_cap_spaces_the_starts_by_the_items_each_request_carries():
    clock = FakeClock()
    sent_at = []

    def accept(method, kwargs, number):
        sent_at.append(clock.now)
        return {"errorEntries": []}

    loop = _loop("item-cap", accept, clock, caps=RequestRateCaps(None, 100.0, clock=clock))
    outcomes = _run(loop, _requests(_service(), 30))  # 3 requests of 100 points
    # A burst of one second's items (100), then 100 items a second.
    assert sent_at == [0.0, 1.0, 2.0]
    assert sum(len(o.written) for o in outcomes) == 300


def test_no_more_requests_are_in_flight_than_the_concurrency_limit():
    clock = FakeClock()
    executor = CountingExecutor()

    def unavailable_first(method, kwargs, number):
        if number <= 6:  # each of the six requests is refused once, whole
            raise fakes.client_error("ServiceUnavailableException", 503)
        return {"errorEntries": []}

    loop = _loop("in-flight", unavailable_first, clock, concurrency=FixedConcurrency(2),
                 executor=executor)
    # The six are due again together, after one backoff: two go out at a time.
    outcomes = _run(loop, _requests(_service(), 60))
    assert sum(len(o.written) for o in outcomes) == 600
    assert executor.peak == 2 and executor.outstanding == 0


def _always(code):
    return {"/p%03d" % p: [code] * 10 for p in range(10)}


def test_a_throttled_record_at_exactly_its_throttling_budget_is_retried_once_more():
    clock = FakeClock()
    # A full request (10 entries of 10 points), resent as soon as its backoff
    # passes. Backoffs 0.25, 0.5, 1.0 (binary fractions: no rounding): after the
    # second throttle each record has spent exactly 0.75 s, its budget, so it is
    # sent a third time; after the third it is past it.
    loop = _loop("throttle-edge", fakes.SiteWiseEntryErrors(_always("ThrottlingException")),
                 clock, initial_backoff_seconds=0.25, max_throttled_seconds=0.75)
    outcomes = _run(loop, _requests(_service(), 10))
    failed = [(s.attempts, s.code, s.stage) for o in outcomes for s in o.failed]
    assert failed == [(3, "ThrottlingException", Stage.RETRIES_EXHAUSTED)] * 100


def test_a_failing_record_at_exactly_its_retry_time_budget_is_retried_once_more():
    clock = FakeClock()
    # The same backoffs: 0.25 + 0.5 = 0.75 s of budget spent after the second
    # failure (the fake clock makes each send take no time): exactly the budget.
    loop = _loop("error-edge", fakes.SiteWiseEntryErrors(_always("InternalFailureException")),
                 clock, initial_backoff_seconds=0.25, max_attempts=100, max_retry_seconds=0.75)
    outcomes = _run(loop, _requests(_service(), 10))
    failed = [(s.attempts, s.code, s.stage) for o in outcomes for s in o.failed]
    assert failed == [(3, "InternalFailureException", Stage.RETRIES_EXHAUSTED)] * 100
