"""The send loop: pooled retries in full requests, throttling budgets, backpressure; fake clock."""

import concurrent.futures

import pytest

from beam_batchput import RetryConfig, Stage
from beam_batchput.core.clock import Clock
from beam_batchput.core.concurrency import AdaptiveConcurrency, FixedConcurrency
from beam_batchput.core.packing import pack
from beam_batchput.core.ratecap import RequestRateCaps
from beam_batchput.core.sender import RequestSender
from beam_batchput.core.sendloop import SendLoop
from beam_batchput.services.sitewise import SiteWiseService
from tests import fakes

NOW = 1_700_000_000


class FakeClock(Clock):
    """Monotonic time that moves only by the sleeps."""

    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds

    def monotonic(self):
        return self.now


class InlineExecutor(concurrent.futures.Executor):
    """Runs each submitted call at once, on the caller's thread."""

    def submit(self, fn, *args, **kwargs):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # handed to the future, as a pool would
            future.set_exception(error)
        return future


def _service():
    return SiteWiseService(clock=lambda: NOW)


def _requests(service, properties, points_per_property=10):
    items = [service.item({"property_alias": "/p%03d" % p, "value": float(n),
                           "timestamp": NOW - n})
             for p in range(properties) for n in range(points_per_property)]
    return pack(items, service.limits, service.entry_id)


class FailOnce:
    """Fails each alias in ``aliases`` once with ``code``, then accepts it."""

    def __init__(self, aliases, code):
        self._left = set(aliases)
        self._code = code

    def __call__(self, method, kwargs, number):
        errors = []
        for entry in kwargs["entries"]:
            if entry["propertyAlias"] in self._left:
                self._left.discard(entry["propertyAlias"])
                errors.append({"entryId": entry["entryId"], "errors": [{
                    "errorCode": self._code, "errorMessage": "injected",
                    "timestamps": [v["timestamp"] for v in entry["propertyValues"]]}]})
        return {"errorEntries": errors}


def _loop(name, behaviour, clock, concurrency=None, **retry):
    service = _service()
    fakes.reset(name)
    retry = RetryConfig(**retry)
    sender = RequestSender(service, retry, clock=clock)
    return SendLoop(service, sender, fakes.FakeClient(name, behaviour), InlineExecutor(),
                    concurrency or FixedConcurrency(4), retry, clock=clock,
                    random=lambda: 1.0, max_pending_items=10_000)


def _run(loop, requests):
    outcomes = []
    for request in requests:
        outcomes += [o for o, _ in loop.submit(request, "w")]
    outcomes += [o for o, _ in loop.drain()]
    assert loop.idle
    return outcomes


def test_entries_failed_in_many_requests_are_retried_together_in_full_requests():
    clock = FakeClock()
    # 100 properties of 10 points: 10 full requests; one property in ten fails once.
    failing = ["/p%03d" % p for p in range(0, 100, 10)]
    loop = _loop("pooled", FailOnce(failing, "InternalFailureException"), clock)
    outcomes = _run(loop, _requests(_service(), 100))
    calls = fakes.calls("pooled")
    assert len(calls) == 11  # the first pass, then all ten failed entries in one request
    assert sorted(e["propertyAlias"] for e in calls[-1]["kwargs"]["entries"]) == failing
    written = [s for o in outcomes for s in o.written]
    assert len(written) == 1000 and not [s for o in outcomes for s in o.failed]
    assert {s.attempts for s in written if s.item.resource in failing} == {2}


def test_a_throttled_record_is_retried_past_max_attempts_while_its_budget_lasts():
    clock = FakeClock()
    plan = {"/p000": ["ThrottlingException"] * 6}
    loop = _loop("throttled", fakes.SiteWiseEntryErrors(plan), clock, max_attempts=2,
                 max_throttled_seconds=100.0)
    outcomes = _run(loop, _requests(_service(), 1))
    written = [s for o in outcomes for s in o.written]
    assert len(written) == 10 and {s.attempts for s in written} == {7}
    assert sum(o.throttled_items for o in outcomes) == 60
    assert sum(o.throttled_seconds for o in outcomes) > 0


def test_throttling_past_its_budget_dead_letters_with_the_throttling_code():
    clock = FakeClock()
    plan = {"/p000": ["ThrottlingException"] * 1000}
    loop = _loop("budget", fakes.SiteWiseEntryErrors(plan), clock, max_backoff_seconds=1.0,
                 max_throttled_seconds=5.0)
    outcomes = _run(loop, _requests(_service(), 1))
    failed = [s for o in outcomes for s in o.failed]
    assert {(s.stage, s.code) for s in failed} == {(Stage.RETRIES_EXHAUSTED, "ThrottlingException")}
    assert len(failed) == 10 and 4.0 <= clock.now <= 7.0


def test_other_retryable_errors_are_dead_lettered_after_max_attempts():
    clock = FakeClock()
    plan = {"/p000": ["InternalFailureException"] * 10}
    loop = _loop("attempts", fakes.SiteWiseEntryErrors(plan), clock, max_attempts=3)
    outcomes = _run(loop, _requests(_service(), 1))
    failed = [s for o in outcomes for s in o.failed]
    assert {(s.stage, s.attempts) for s in failed} == {(Stage.RETRIES_EXHAUSTED, 3)}
    assert len(fakes.calls("attempts")) == 3


def test_a_whole_request_throttled_is_retried_and_lowers_the_adaptive_limit():
    clock = FakeClock()

    def throttle_first_three(method, kwargs, number):
        if number <= 3:
            raise fakes.client_error("ThrottlingException", 429)
        return {"errorEntries": []}

    adaptive = AdaptiveConcurrency(8, clock=clock, random=lambda: 0.5)
    loop = _loop("whole", throttle_first_three, clock, adaptive)
    outcomes = _run(loop, _requests(_service(), 10))
    assert sum(len(o.written) for o in outcomes) == 100
    assert sum(o.throttled_requests for o in outcomes) == 3
    assert adaptive.decreases >= 1 and adaptive.rate < float("inf")


def test_submit_holds_the_caller_while_too_much_is_pending():
    clock = FakeClock()
    service = _service()
    plan = {"/p%03d" % p: ["ThrottlingException"] * 3 for p in range(50)}
    fakes.reset("backpressure")
    retry = RetryConfig()
    loop = SendLoop(service, RequestSender(service, retry),
                    fakes.FakeClient("backpressure", fakes.SiteWiseEntryErrors(plan)),
                    InlineExecutor(), FixedConcurrency(2), retry, clock=clock,
                    random=lambda: 1.0, max_pending_items=200)
    peak = 0
    for request in _requests(service, 50):
        list(loop.submit(request, "w"))
        peak = max(peak, loop._pending_items)
    list(loop.drain())
    assert loop.idle and peak <= 200 + service.limits.max_items


def test_a_fatal_whole_request_error_in_fail_fast_mode_propagates():
    clock = FakeClock()
    service = _service()
    retry = RetryConfig()

    def denied(method, kwargs, number):
        raise fakes.client_error("AccessDeniedException", 403)

    fakes.reset("fatal")
    loop = SendLoop(service, RequestSender(service, retry, fail_fast=True),
                    fakes.FakeClient("fatal", denied), InlineExecutor(), FixedConcurrency(2),
                    retry, clock=clock)
    with pytest.raises(Exception, match="AccessDenied"):
        _run(loop, _requests(service, 1))


def test_a_full_retry_and_a_partial_one_due_together_send_each_record_once():
    clock = FakeClock()
    # 15 properties (entries), 10 a request: the first ten fail twice, the last
    # five once. At 0.1 s the ten go out again, full, and the five wait for
    # company (0.1 s); at 0.2 s the ten are back and the five have waited:
    # both requests go out together.
    aliases = ["/p%03d" % p for p in range(15)]
    plan = {alias: ["InternalFailureException"] * (2 if n < 10 else 1)
            for n, alias in enumerate(aliases)}
    loop = _loop("together", fakes.SiteWiseEntryErrors(plan), clock, max_attempts=5,
                 initial_backoff_seconds=0.1, max_backoff_seconds=0.1)
    outcomes = _run(loop, _requests(_service(), 15))
    assert [len(c["kwargs"]["entries"]) for c in fakes.calls("together")] == [10, 5, 10, 10, 5]
    written = [s for o in outcomes for s in o.written]
    assert sorted(id(s.item) for s in written) == sorted({id(s.item) for s in written})
    assert len(written) == 150 and not [s for o in outcomes for s in o.failed]
    assert {(s.item.resource, s.attempts) for s in written} == {
        (alias, 3 if n < 10 else 2) for n, alias in enumerate(aliases)}


def test_requests_failed_whole_are_resent_as_they_were_after_their_backoff():
    clock = FakeClock()
    sent_at = []

    def unavailable_once(method, kwargs, number):
        sent_at.append(clock.now)
        if number <= 2:
            raise fakes.client_error("ServiceUnavailableException", 503)
        return {"errorEntries": []}

    loop = _loop("whole-again", unavailable_once, clock, initial_backoff_seconds=0.1,
                 max_backoff_seconds=0.1)
    service = _service()
    # Two requests of five entries: resent as two, not merged into one of ten,
    # so a replay keeps each request's content (and any token derived from it).
    requests = [request for half in (range(5), range(5, 10)) for request in pack(
        [service.item({"property_alias": "/p%03d" % p, "value": 1.0, "timestamp": NOW})
         for p in half], service.limits, service.entry_id)]
    outcomes = _run(loop, requests)
    bodies = [c["kwargs"] for c in fakes.calls("whole-again")]
    assert bodies == [bodies[0], bodies[1], bodies[0], bodies[1]] and bodies[0] != bodies[1]
    assert sent_at == [0.0, 0.0, 0.1, 0.1]
    assert sorted(s.item.resource for o in outcomes for s in o.written) == [
        "/p%03d" % p for p in range(10)]


def test_records_out_of_attempts_are_dead_lettered_with_their_error_and_nothing_stays_pending():
    clock = FakeClock()
    plan = {"/p000": ["InternalFailureException"] * 10}
    loop = _loop("exhausted", fakes.SiteWiseEntryErrors(plan), clock, max_attempts=2)
    outcomes = _run(loop, _requests(_service(), 2))
    assert sorted((s.item.resource, s.code, s.message, s.attempts, s.stage)
                  for o in outcomes for s in o.failed) == [
        ("/p000", "InternalFailureException", "injected InternalFailureException", 2,
         Stage.RETRIES_EXHAUSTED)] * 10
    assert {s.item.resource for o in outcomes for s in o.written} == {"/p001"}
    assert loop._pending_items == 0


@pytest.mark.parametrize("throttled, slows_down", [(5, True), (4, False)])
def test_half_of_a_requests_entries_throttled_slows_the_writer_down(throttled, slows_down):
    clock = FakeClock()
    plan = {"/p%03d" % p: ["ThrottlingException"] for p in range(throttled)}
    adaptive = AdaptiveConcurrency(8, clock=clock, random=lambda: 0.5)
    loop = _loop("share-%d" % throttled, fakes.SiteWiseEntryErrors(plan), clock, adaptive)
    outcomes = _run(loop, _requests(_service(), 10, points_per_property=1))
    assert sum(len(o.written) for o in outcomes) == 10
    assert (adaptive.decreases > 0) is slows_down


def _one_point_each(service, properties):
    return pack([service.item({"property_alias": "/p%03d" % p, "value": 1.0,
                               "timestamp": NOW}) for p in range(properties)],
                service.limits, service.entry_id)


def test_a_request_failed_whole_sends_on_the_records_with_budget_left_and_settles_the_rest():
    clock = FakeClock()

    def answers(method, kwargs, number):
        if number == 1:  # /p000 fails, /p001 is throttled (not counted as an attempt)
            return {"errorEntries": [
                {"entryId": e["entryId"], "errors": [{
                    "errorCode": code, "errorMessage": "injected",
                    "timestamps": [v["timestamp"] for v in e["propertyValues"]]}]}
                for e, code in zip(kwargs["entries"],
                                   ["InternalFailureException", "ThrottlingException"])]}
        if number == 2:  # both again, in one request, refused whole
            raise fakes.client_error("ServiceUnavailableException", 503)
        return {"errorEntries": []}

    loop = _loop("budgets", answers, clock, max_attempts=2)
    outcomes = _run(loop, _one_point_each(_service(), 2))
    assert [(s.item.resource, s.attempts, s.code, s.stage)
            for o in outcomes for s in o.failed] == [
        ("/p000", 2, "ServiceUnavailableException", Stage.RETRIES_EXHAUSTED)]
    assert [(s.item.resource, s.attempts) for o in outcomes for s in o.written] == [
        ("/p001", 3)]
    assert [sorted(e["propertyAlias"] for e in c["kwargs"]["entries"])
            for c in fakes.calls("budgets")] == [["/p000", "/p001"]] * 2 + [["/p001"]]


def test_throttled_retries_back_off_exponentially_and_are_counted():
    clock = FakeClock()
    clock.now = 100.0  # the throttling budget counts from the first throttle, not from 0
    sent_at = []
    plan = {"/p%03d" % p: ["ThrottlingException"] * 3 for p in range(10)}
    throttling = fakes.SiteWiseEntryErrors(plan)

    def timed(method, kwargs, number):
        sent_at.append(clock.now)
        return throttling(method, kwargs, number)

    # Ten entries of ten points: a full request, resent as soon as its backoff passed.
    loop = _loop("backoff", timed, clock, max_throttled_seconds=1.0)
    outcomes = _run(loop, _requests(_service(), 10))
    assert [round(t - 100.0, 6) for t in sent_at] == [0.0, 0.1, 0.3, 0.7]
    assert {s.attempts for o in outcomes for s in o.written} == {4}
    assert sum(len(o.written) for o in outcomes) == 100
    assert sum(o.retried_items for o in outcomes) == 300
    assert sum(o.throttled_items for o in outcomes) == 300
    assert sum(o.throttled_seconds for o in outcomes) == pytest.approx(0.1 + 0.2 + 0.4)
    assert sum(o.bytes_sent for o in outcomes) == 4 * sum(
        item.size for r in _requests(_service(), 10) for item in r.items)


def test_other_errors_stop_at_the_time_budget_of_their_backoffs():
    clock = FakeClock()
    clock.now = 100.0
    plan = {"/p%03d" % p: ["InternalFailureException"] * 100 for p in range(10)}
    # Backoffs 0.1, 0.2, 0.4: past 0.5 s of budget at the third failure.
    loop = _loop("error-budget", fakes.SiteWiseEntryErrors(plan), clock, max_attempts=100,
                 max_retry_seconds=0.5)
    outcomes = _run(loop, _requests(_service(), 10))
    assert {(s.attempts, s.stage) for o in outcomes for s in o.failed} == {
        (3, Stage.RETRIES_EXHAUSTED)}
    assert len(fakes.calls("error-budget")) == 3


def test_a_rate_cap_spaces_the_starts_and_the_wait_counts_as_throttled():
    clock = FakeClock()
    service = _service()
    fakes.reset("capped")
    sent_at = []

    def accept(method, kwargs, number):
        sent_at.append(clock.now)
        return {"errorEntries": []}

    retry = RetryConfig()
    loop = SendLoop(service, RequestSender(service, retry, clock=clock),
                    fakes.FakeClient("capped", accept), InlineExecutor(), FixedConcurrency(4),
                    retry, caps=RequestRateCaps(2.0, None, clock=clock), clock=clock,
                    random=lambda: 1.0, max_pending_items=10_000)
    outcomes = _run(loop, _requests(service, 50))  # 5 requests
    # A burst of two, then one every half second.
    assert sent_at == [0.0, 0.0, 0.5, 1.0, 1.5]
    assert sum(len(o.written) for o in outcomes) == 500
    assert sum(o.throttled_seconds for o in outcomes) == pytest.approx(1.5)
