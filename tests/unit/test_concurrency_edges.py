"""The adaptive limit at its edges: refused settings named with their values, the half-window
spacing of cuts, the burst after a pause, answers of an earlier round, light throttling, the
latency the limit follows, and cuts when little or nothing was accepted. Fake clocks."""

from __future__ import annotations

import math
import re

import pytest

from beam_batchput.core.concurrency import AdaptiveConcurrency
from tests.unit.test_concurrency import _EVEN, FakeClock, _cut_from, _send_for


@pytest.mark.parametrize("kwargs, message", [
    ({"decrease": 1.0}, "decrease must lie in (0, 1), got 1.0"),
    ({"decrease": 0}, "decrease must lie in (0, 1), got 0"),
    ({"increase": 0.0}, "increase must be positive, got 0.0"),
    ({"cubic": -1}, "cubic must be positive, got -1"),
    ({"min_rate": 0}, "min_rate must be positive, got 0"),
])
def test_a_refused_setting_is_named_with_its_value(kwargs, message):
    with pytest.raises(ValueError, match="^%s$" % re.escape(message)):
        AdaptiveConcurrency(4, **kwargs)


def _send_then_hold(rate, clock, adaptive, held):
    """``rate`` requests a second for 3 s, all accepted, the next always waiting; then
    ``held`` requests started at t = 3, returned unanswered."""
    adaptive.next_start()
    for k in range(3 * rate):
        clock.now = k / rate
        adaptive.completed(adaptive.ticket(), 0.05, throttled=False)
        adaptive.next_start()
    clock.now = 3.0
    return [adaptive.ticket() for _ in range(held)]


def _cut_to_nine(**kwargs):
    """10 requests a second for 3 s, then one throttled: a cut to 9 a second at t = 3."""
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(kwargs.pop("max_in_flight", 8), clock=clock, random=_EVEN,
                                   **kwargs)
    _cut_from(10, clock, adaptive)
    assert adaptive.decreases == 1 and adaptive.rate == pytest.approx(9.0)
    return clock, adaptive


def test_the_first_start_after_a_cut_waits_one_over_the_new_rate():
    clock, adaptive = _cut_to_nine()
    assert adaptive.next_start() == pytest.approx(3.0 + 1.0 / 9.0)


def test_another_round_cuts_again_only_half_a_window_after_the_last_cut():
    clock, adaptive = _cut_to_nine()  # window_seconds 2 by default: a second apart
    early, on_time = adaptive.ticket(), adaptive.ticket()
    clock.now = 3.0 + 0.99
    adaptive.completed(early, 0.05, throttled=True)
    assert adaptive.decreases == 1  # 5 % off instead
    assert adaptive.rate == pytest.approx(9.0 * 0.95)
    clock.now = 4.0
    adaptive.completed(on_time, 0.05, throttled=True)
    assert adaptive.decreases == 2


def test_an_answer_to_a_request_started_before_the_cut_never_cuts_again():
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(8, clock=clock, random=_EVEN)
    first, last = _send_then_hold(10, clock, adaptive, 2)
    adaptive.completed(first, 0.05, throttled=True)
    assert adaptive.decreases == 1
    cut = adaptive.rate
    clock.now = 8.0  # long past half a window
    adaptive.completed(last, 0.05, throttled=True)
    assert adaptive.decreases == 1 and adaptive.rate == pytest.approx(cut * 0.95)


def test_light_throttling_within_half_a_window_does_not_cut_again():
    clock, adaptive = _cut_to_nine()
    tickets = [adaptive.ticket() for _ in range(10)]
    for n, ticket in enumerate(tickets):  # 2 of 10 refused: not heavy
        clock.now = 3.05 + 0.01 * n
        adaptive.completed(ticket, 0.05, throttled=n >= 8)
    assert adaptive.decreases == 1


@pytest.mark.parametrize("burst_seconds, starts", [(1.0, 9), (2.0, 18)])
def test_after_a_pause_the_bursts_worth_of_starts_goes_at_once(burst_seconds, starts):
    clock, adaptive = _cut_to_nine(burst_seconds=burst_seconds)
    clock.now += 100.0
    assert adaptive.next_start() == clock.now
    at_once = 0
    while adaptive.next_start() <= clock.now:
        adaptive.ticket()
        at_once += 1
    assert at_once == starts
    assert adaptive.next_start() == pytest.approx(clock.now + 1.0 / 9.0)


def test_the_default_burst_is_a_second_of_the_rate():
    clock, adaptive = _cut_to_nine()
    clock.now += 100.0
    at_once = 0
    while adaptive.next_start() <= clock.now:
        adaptive.ticket()
        at_once += 1
    assert at_once == 9


def test_the_limit_follows_the_mean_latency_not_the_last_answer():
    clock, adaptive = _cut_to_nine(max_in_flight=64)
    assert adaptive.limit == math.ceil(2 * 9.0 * 0.05)
    clock.now = 3.2
    adaptive.completed(adaptive.ticket(), 0.55, throttled=False)
    slow_alone = math.ceil(2 * adaptive.rate * 0.55)
    assert 1 < adaptive.limit < slow_alone


def test_a_tenth_of_a_second_after_a_cut_the_rate_wins_back_little():
    clock, adaptive = _cut_to_nine()
    clock.now = 3.05
    first, second = adaptive.ticket(), adaptive.ticket()
    clock.now = 3.1
    adaptive.completed(first, 0.05, throttled=False)  # the other still in flight
    assert 9.0 < adaptive.rate < 9.5


def test_a_writer_accepted_less_than_one_request_a_second_is_cut_to_what_it_was_accepted():
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(8, clock=clock, random=_EVEN)
    _cut_from(0.5, clock, adaptive)  # 1 accepted in 3 s of sending
    assert adaptive.rate == pytest.approx(0.9 / 3.0)


def test_with_nothing_accepted_the_cut_is_to_half_the_rate_sent():
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(8, clock=clock, random=_EVEN)
    adaptive.next_start()
    tickets = []
    for k in range(4):  # 4 starts in 0.4 s of waiting and sending: 10 a second
        clock.now = 0.1 * k
        tickets.append(adaptive.ticket())
    clock.now = 0.4
    adaptive.completed(tickets[0], 0.01, throttled=True)
    assert adaptive.rate == pytest.approx(0.5 * 10.0)


def test_a_busy_writer_measures_its_accepted_rate_over_exactly_the_last_window():
    # 50 requests a second for 4 s, each answered 5 ms after its start, the next one
    # always waiting: busy throughout. Over the last 2 s (more than 50 requests in them)
    # 100 were accepted: 50 a second, cut to 45.
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(8, clock=clock, random=_EVEN)
    adaptive.next_start()
    for k in range(200):
        clock.now = 0.01 + 0.02 * k
        ticket = adaptive.ticket()
        clock.now += 0.005
        adaptive.completed(ticket, 0.005, throttled=False)
        adaptive.next_start()
    clock.now = 4.0
    adaptive.completed(adaptive.ticket(), 0.005, throttled=True)
    assert adaptive.rate == pytest.approx(0.9 * 100 / 2.0, rel=1e-4)


def _cut_from_100(clock, adaptive, same_round_refusals=0):
    """100 requests a second for 3 s, then a throttled answer (a cut to 90) and as many
    throttled answers of requests started before it."""
    for ticket in _send_then_hold(100, clock, adaptive, 1 + same_round_refusals):
        adaptive.completed(ticket, 0.05, throttled=True)


@pytest.mark.parametrize("same_round_refusals, back_at", [(0, 100.0), (1, 95.0)])
def test_the_cubic_brings_the_rate_back_to_where_the_cut_came_from(same_round_refusals, back_at):
    # Cut from 100 to 90; the cubic returns to 100 after (10 / 0.03) ** (1 / 3) = 6.93 s of
    # sending (each refusal of the same round takes 5 % off that rate too). The line alone
    # would be at 90 + 0.3 * 6.93 = 92.
    clock = FakeClock()
    adaptive = AdaptiveConcurrency(64, clock=clock, random=_EVEN)
    _cut_from_100(clock, adaptive, same_round_refusals)
    assert adaptive.decreases == 1
    _send_for(6.93, clock, adaptive)
    assert adaptive.rate == pytest.approx(back_at, rel=0.01)
