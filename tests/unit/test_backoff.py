"""Jittered exponential backoff with injected randomness."""

from beam_batchput.core.backoff import ExponentialBackoff


def test_delay_bound_doubles_up_to_the_cap():
    backoff = ExponentialBackoff(0.1, 1.0, random=lambda: 1.0)
    assert [round(backoff.delay(n), 6) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_delay_is_jittered_below_the_bound():
    draws = iter([0.0, 0.5, 0.25])
    backoff = ExponentialBackoff(1.0, 100.0, random=lambda: next(draws))
    assert [backoff.delay(n) for n in (1, 2, 3)] == [0.0, 1.0, 1.0]
