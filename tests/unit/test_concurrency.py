"""Adaptive concurrency and rate caps: AIMD against throttling, caps that hold; fake clocks."""

import math

import pytest

from beam_batchput.core.clock import Clock
from beam_batchput.core.concurrency import AdaptiveConcurrency, FixedConcurrency
from beam_batchput.core.ratecap import RateCap, RequestRateCaps


class FakeClock(Clock):
    """Monotonic time that moves only when the test moves it."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now


def test_fixed_concurrency_keeps_max_in_flight_whatever_the_answers():
    fixed = FixedConcurrency(6)
    for _ in range(10):
        fixed.completed(fixed.ticket(), 0.05, throttled=True)
    assert (fixed.limit, fixed.next_start()) == (6, 0.0)


def test_adaptive_concurrency_is_unlimited_until_the_first_throttling():
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(8, clock=clock)
    for _ in range(50):
        clock.now += 0.01
        adaptive.completed(adaptive.ticket(), 0.05, throttled=False)
    assert adaptive.limit == 8 and math.isinf(adaptive.rate) and adaptive.next_start() == 0.0


def _run_against_quota(quota, seconds, clock, adaptive, latency=0.05):
    """Sends as fast as the limiter lets through a token-bucket service of ``quota``/s."""
    tokens, stamp, refused, accepted = quota, clock.now, 0, 0
    in_flight = []  # completion times
    end = clock.now + seconds
    while clock.now < end:
        in_flight = [t for t in in_flight if t > clock.now]
        if len(in_flight) < adaptive.limit and clock.now >= adaptive.next_start():
            ticket = adaptive.ticket()
            tokens = min(quota, tokens + (clock.now - stamp) * quota)
            stamp = clock.now
            ok = tokens >= 1
            tokens -= 1 if ok else 0
            accepted += ok
            refused += not ok
            in_flight.append(clock.now + latency)
            clock.now += 0.0005
            adaptive.completed(ticket, latency, throttled=not ok)
        else:
            clock.now += 0.001
    return accepted, refused


def test_adaptive_concurrency_settles_under_a_token_bucket_quota():
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(16, clock=clock)
    _run_against_quota(40.0, 10.0, clock, adaptive)  # warm up
    accepted, refused = _run_against_quota(40.0, 60.0, clock, adaptive)
    assert accepted / 60.0 >= 0.9 * 40.0
    assert refused / (accepted + refused) <= 0.05
    assert 1 <= adaptive.limit <= 16 and adaptive.decreases > 0


def test_a_burst_of_throttled_answers_of_one_round_decreases_once():
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(8, clock=clock)
    for _ in range(20):
        clock.now += 0.01
        adaptive.completed(adaptive.ticket(), 0.05, throttled=False)
    tickets = [adaptive.ticket() for _ in range(8)]
    for ticket in tickets:
        adaptive.completed(ticket, 0.05, throttled=True)
    assert adaptive.decreases == 1
    assert adaptive.throttled_requests == 8
    # 0.9 × the rate sent at (28 starts in 0.19 s), capped at the accepted rate / 0.75.
    assert adaptive.rate == pytest.approx(0.9 * min(28 / 0.19, 20 / 0.19 / 0.75))


def test_the_rate_never_drops_below_one_request_per_window():
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(4, clock=clock)
    for _ in range(200):
        clock.now += 1.0
        adaptive.completed(adaptive.ticket(), 0.05, throttled=True)
    assert adaptive.rate >= 0.5 and adaptive.limit == 1


@pytest.mark.parametrize("kwargs", [{"decrease": 1.0}, {"decrease": 0.0}, {"increase": 0.0}])
def test_bad_aimd_factors_are_refused(kwargs):
    with pytest.raises(ValueError):
        AdaptiveConcurrency(4, **kwargs)


def test_a_rate_cap_books_units_and_says_when_they_may_go():
    clock = FakeClock()
    cap = RateCap(10.0, burst=2.0, clock=clock)
    assert [cap.reserve(1) for _ in range(4)] == pytest.approx([0.0, 0.0, 0.1, 0.2])
    clock.now = 1.0
    assert cap.reserve(1) == pytest.approx(1.0)


def test_a_request_larger_than_the_burst_still_goes_after_its_wait():
    clock = FakeClock()
    caps = RequestRateCaps(None, 100.0, clock=clock)
    assert caps.reserve(100) == 0.0
    assert caps.reserve(250) == pytest.approx(2.5)


def test_request_caps_take_the_later_of_both_limits():
    clock = FakeClock()
    caps = RequestRateCaps(2.0, 1000.0, clock=clock)
    starts = [caps.reserve(10) for _ in range(5)]
    assert starts == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5])
    assert not RequestRateCaps(None, None)
