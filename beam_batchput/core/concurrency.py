"""How many requests a send step keeps in flight, and how fast it starts them.

Two strategies with one interface: :class:`FixedConcurrency` (``max_in_flight``
requests at once, as fast as they complete) and :class:`AdaptiveConcurrency`,
which adapts to what the service accepts: additive increase while requests
succeed, multiplicative decrease on throttling. Knows no Beam; the clock is
injected. Not thread-safe: the send step calls it from its bundle thread only.

Implementation note: Beam 2.77's ``apache_beam.io.components`` was weighed and
not used. Its ``AdaptiveThrottler`` (client-side throttling from the SRE book)
drops or delays a request at random once requests exceed ``overload_ratio``
times the successes, so it lets through refusals up to that ratio by design,
sleeps a fixed 5 s on the calling thread, and takes neither the clock nor the
randomness injected; its ``EnvoyRateLimiter`` needs an external Envoy rate-limit
service over gRPC. The writer keeps Beam's ``cumulativeThrottlingSeconds``
counter name (``ThrottlingSignaler`` reports the same).
"""

from __future__ import annotations

import collections
import math
from typing import Deque, Optional

from beam_batchput.core.clock import SYSTEM_CLOCK, Clock

__all__ = ["AdaptiveConcurrency", "FixedConcurrency"]

# The smallest additive increase, in requests per second per second.
_MIN_STEP = 0.2
# The share of requests throttled at random (not by a quota the writer
# overshoots) that the decrease allows for.
_TOLERATED_SHARE = 0.25
# A share of throttled requests since the last cut that cuts again at once.
_HEAVY_SHARE = 0.3
_HEAVY_SAMPLE = 10


class FixedConcurrency:
    """``max_in_flight`` requests at once, started as soon as a slot is free.

    Args:
        max_in_flight: Requests in flight at most.
    """

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return self.max_in_flight

    def ticket(self) -> int:
        """Marks a request as started; returns its ticket for :meth:`completed`."""
        return 0

    def next_start(self) -> float:
        """The earliest clock time the next request may start (0: now)."""
        return 0.0

    def completed(self, ticket: int, latency: float, throttled: bool) -> None:
        """Takes the outcome of a request: its latency and whether it was throttled."""


class AdaptiveConcurrency(FixedConcurrency):
    """AIMD on the rate of requests, and the requests in flight that rate needs.

    Until the service first throttles, it behaves as :class:`FixedConcurrency`.
    On a throttled request the target rate drops to ``decrease`` times the rate
    it was sent at over the last ``window_seconds`` (once per round:
    requests started before the previous decrease cannot decrease it again,
    nor can any within half a window of it);
    each accepted request then raises it additively, by ``increase`` of the
    rate at the last decrease per second of successes. Requests in flight are
    ``ceil(2 * rate * latency)`` between 1 and ``max_in_flight``, and starts are
    paced to the rate by a token bucket of ``burst_seconds``, so a target below
    one request per latency still holds and a burst after a pause goes at once.

    Implementation note: AIMD on the in-flight count alone cannot keep below a
    token-bucket quota once one request per round trip is already too many, and
    with a few requests in flight each halving costs a large share of the
    quota; a rate taken from what was actually sent, probed upward slowly,
    keeps both the refusals and the lost throughput to a few percent.

    Args:
        max_in_flight: Requests in flight at most.
        decrease: Multiplicative decrease, in (0, 1).
        increase: Additive increase per second, as a share of the rate at the
            last decrease.
        window_seconds: How far back the sent and accepted rates are measured.
        burst_seconds: Starts saved up while idle, in seconds of the rate, that
            may go at once (a service's token bucket allows as much).
        clock: The clock (its monotonic time).
    """

    def __init__(self, max_in_flight: int, *, decrease: float = 0.9, increase: float = 0.05,
                 window_seconds: float = 2.0, burst_seconds: float = 1.0,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(max_in_flight)
        if not 0.0 < decrease < 1.0:
            raise ValueError("decrease must lie in (0, 1), got %r" % (decrease,))
        if not increase > 0.0:
            raise ValueError("increase must be positive, got %r" % (increase,))
        self._decrease = decrease
        self._increase = increase
        self._window = window_seconds
        self._clock = clock.monotonic
        self._rate = math.inf  # requests per second; inf until the first throttling
        self._step = 0.0  # additive increase per second
        self._latency = 0.0  # smoothed seconds per request
        self._accepted: Deque[float] = collections.deque()
        self._starts: Deque[float] = collections.deque()
        self._started: Optional[float] = None  # the first start
        self._tickets = 0
        self._round = 0  # tickets below this were started before the last decrease
        self._tokens = 0.0  # starts allowed at once (a bucket of burst_seconds' worth)
        self._stamp = 0.0
        self._burst_seconds = burst_seconds
        self._last_cut = -math.inf
        self._since_cut = 0  # requests completed since the last cut
        self._throttled_since_cut = 0
        self._cut_spacing = window_seconds / 2.0
        self.throttled_requests = 0
        self.decreases = 0

    @property
    def rate(self) -> float:
        """The target rate in requests per second (inf: not limited yet)."""
        return self._rate

    @property
    def limit(self) -> int:
        if math.isinf(self._rate) or self._latency <= 0.0:
            return self.max_in_flight
        # Twice what the rate needs at the mean latency: the pacing holds the
        # rate, the slack absorbs slow answers.
        return max(1, min(self.max_in_flight, math.ceil(2.0 * self._rate * self._latency)))

    def ticket(self) -> int:
        now = self._clock()
        if self._started is None:
            self._started = now
        if not math.isinf(self._rate):
            self._refill(now)
            self._tokens -= 1.0
        self._starts.append(now)
        self._tickets += 1
        return self._tickets

    def next_start(self) -> float:
        if math.isinf(self._rate):
            return 0.0
        now = self._clock()
        self._refill(now)
        return now if self._tokens >= 1.0 else now + (1.0 - self._tokens) / self._rate

    def _refill(self, now: float) -> None:
        if not math.isinf(self._rate):
            size = max(1.0, self._rate * self._burst_seconds)
            self._tokens = min(size, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def completed(self, ticket: int, latency: float, throttled: bool) -> None:
        now = self._clock()
        self._latency = latency if self._latency <= 0.0 else 0.8 * self._latency + 0.2 * latency
        self._since_cut += 1
        if throttled:
            self.throttled_requests += 1
            self._throttled_since_cut += 1
            # Within half a window of a cut, only heavy throttling cuts again.
            heavy = (self._since_cut >= _HEAVY_SAMPLE
                     and self._throttled_since_cut > _HEAVY_SHARE * self._since_cut)
            if ticket > self._round and (heavy or now - self._last_cut >= self._cut_spacing):
                self._cut(now)
            return
        self._accepted.append(now)
        self._trim(now)
        if not math.isinf(self._rate):
            # ``step`` per second: at ``rate`` successes a second, step / rate each.
            self._rate += self._step / self._rate

    def _cut(self, now: float) -> None:
        self._trim(now)
        started = now if self._started is None else self._started
        span = min(self._window, max(now - started, 1e-3))
        # Implementation note: the rate sent at, not only the rate accepted:
        # a writer with little to send accepts little, and cutting to that
        # after throttling it did not cause would starve it.
        # Past the accepted rate by more than a random share of throttling
        # would explain, though, the sent rate is overshoot: that is cut away.
        accepted = len(self._accepted) / span
        sent = min(max(len(self._accepted), len(self._starts)) / span,
                   accepted / (1.0 - _TOLERATED_SHARE))
        current = self._rate
        if math.isinf(current):
            current = self.max_in_flight / max(self._latency, 1e-3)
        if sent > 0.0:
            target = self._decrease * min(current, sent)
        else:
            target = 0.5 * current
        # Never below one request per window: the service must hear from us to recover.
        self._rate = max(target, 1.0 / self._window)
        self._step = max(self._increase * self._rate, _MIN_STEP)
        self._round = self._tickets
        self._since_cut = self._throttled_since_cut = 0
        self._tokens, self._stamp = min(self._tokens, 0.0), now
        self._last_cut = now
        self.decreases += 1

    def _trim(self, now: float) -> None:
        for times in (self._accepted, self._starts):
            while times and times[0] < now - self._window:
                times.popleft()
