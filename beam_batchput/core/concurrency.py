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
import random as _random
from typing import Callable, Deque, Optional, Tuple

from beam_batchput.core.clock import SYSTEM_CLOCK, Clock

__all__ = ["AdaptiveConcurrency", "FixedConcurrency"]

# The fewest requests the sent and accepted rates are measured over (a
# slow writer's window reaches back further than ``window_seconds``).
_MIN_SAMPLE = 50
# A share of throttled requests since the last cut that cuts again at once.
_HEAVY_SHARE = 0.3
_HEAVY_SAMPLE = 10
# Each throttled answer that does not cut (one of the same round) takes this
# share off the rate.
_PER_REFUSAL = 0.05
# The fewest requests in which the increase wins a cut back.
_RECOVERY_REQUESTS = 3.0
# The rate at most doubles per accepted answer.
_MAX_GROWTH = 2.0


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

    Until the service first throttles, requests in flight start at one and grow
    by one per accepted answer up to ``max_in_flight`` (a slow start: a writer
    joining others on a full quota costs it one refusal, not a burst of
    ``max_in_flight``). On a throttled request the target rate drops to
    ``decrease`` times the rate the service accepted of this writer, measured
    over the last ``window_seconds`` and at least its last 50 requests (once
    per round: requests started before the previous decrease cannot decrease
    it again, nor can any within half a window of it unless 30 % of at least
    10 requests since were refused, in which case the share of those accepted
    scales the rate first); each throttled answer that does not cut takes 5 %
    off the rate. The rate then grows back along the larger of two curves in
    the seconds since the cut with something to send: a line of ``increase``
    requests per second per second (the same for every writer) and a cubic
    ``W + cubic * (t - K) ** 3`` that returns to the rate ``W`` the cut came
    from after ``K`` seconds, stays near it, then probes past it faster and
    faster. Both are slowed for a writer so slow that it would win a cut back
    in fewer than three requests, and the rate at most doubles per accepted
    answer. It never falls below ``min_rate``. Requests in flight are
    ``ceil(2 * rate * latency)`` between 1 and ``max_in_flight``, and starts are
    paced to the rate by a token bucket of ``burst_seconds``, so a target below
    one request per latency still holds (a rate of 0.25 is one start every
    four seconds on average) and a burst after a pause goes at once. Each start
    needs a random number of tokens, one on average (uniform in [0, 2)), so the
    gaps between starts vary around ``1 / rate``.

    Implementation note: AIMD on the in-flight count alone cannot keep below a
    token-bucket quota once one request per round trip is already too many, and
    with a few requests in flight each halving costs a large share of the
    quota; a rate taken from what was actually accepted, probed upward slowly,
    keeps both the refusals and the lost throughput to a few percent.

    Writers sharing one quota (several workers) each see only their own
    answers. Cutting to what each was accepted brings their sum under the quota
    in one round. Shares can converge only if the increase does not grow with
    the rate: with an increase proportional to the rate (the earlier rule, 5 %
    of it per second) every split of the quota was as stable as any other. The
    line is the same for every writer, so a cut, proportional to the rate,
    costs a large writer more than the line gives back (Chiu and Jain's
    argument for AIMD), and a writer meeting more of an overshoot's refusals
    gives back more. The cubic is the curve of TCP CUBIC, which botocore's
    ``adaptive`` retry mode also follows (there with a constant of 0.4 and a
    cut to 0.7): it lets a writer left alone on a quota (the others done) take
    the freed share in seconds instead of the minute the line would need, and
    it is flat near the rate of the last cut, where the refusals are. Measured
    (BENCHMARKS.md), this pulls shares together in a simulated token bucket,
    whose requests arrive at random, but not on the emulator while starts were
    paced at even gaps: each writer met about as many refusals whatever its
    rate (a refusal depends on where its starts fall between the bucket's
    refills), so the larger writers were not the ones cut more. Random gaps
    restore the chance of a refusal per request, the same for every writer.
    Throttling that does not depend on the rate (a share of requests
    refused at random) reads as a quota too, and slows the writer towards its
    floor: AWS throttles by token buckets, which this is built for.

    Args:
        max_in_flight: Requests in flight at most.
        decrease: Multiplicative decrease, in (0, 1).
        increase: Additive increase in requests per second per second of
            sending (positive).
        cubic: The cubic's constant in requests per second per second cubed
            (positive).
        min_rate: The lowest target rate in requests per second (positive):
            ``N`` writers at the floor send ``N * min_rate`` requests a second.
        window_seconds: How far back the sent and accepted rates are measured
            (further for a writer that sent fewer than 50 requests in it).
        burst_seconds: Starts saved up while idle, in seconds of the rate, that
            may go at once (a service's token bucket allows as much).
        clock: The clock (its monotonic time).
        random: ``random.random`` for the gaps between starts (by default a
            generator of its own, so writers in different processes differ).
    """

    def __init__(self, max_in_flight: int, *, decrease: float = 0.9, increase: float = 0.3,
                 cubic: float = 0.03, min_rate: float = 0.25, window_seconds: float = 2.0,
                 burst_seconds: float = 1.0, clock: Clock = SYSTEM_CLOCK,
                 random: Optional[Callable[[], float]] = None) -> None:
        super().__init__(max_in_flight)
        if not 0.0 < decrease < 1.0:
            raise ValueError("decrease must lie in (0, 1), got %r" % (decrease,))
        for name, value in (("increase", increase), ("cubic", cubic), ("min_rate", min_rate)):
            if not value > 0.0:
                raise ValueError("%s must be positive, got %r" % (name, value))
        self._decrease = decrease
        self._increase = increase
        self._cubic = cubic
        self._min_rate = min_rate
        self._window = window_seconds
        self._clock = clock.monotonic
        self._rate = math.inf  # requests per second; inf until the first throttling
        self._slow_start = 1  # requests in flight allowed until the first throttling
        self._latency = 0.0  # smoothed seconds per request
        self._accepted: Deque[float] = collections.deque()
        self._starts: Deque[float] = collections.deque()
        self._started: Optional[float] = None  # the first start
        # Time with a request in flight or waiting for its start: rates are
        # measured over it, so a writer that waited for input between bursts
        # is not taken for a slow one.
        self._flying = 0
        self._busy_since: Optional[float] = None
        self._busy: Deque[Tuple[float, float]] = collections.deque()  # past busy spans
        self._busy_closed = 0.0  # seconds of all closed busy spans
        self._busy_end = -math.inf  # end of the last closed one
        self._tickets = 0
        self._round = 0  # tickets below this were started before the last decrease
        self._tokens = 0.0  # starts allowed at once (a bucket of burst_seconds' worth)
        # The tokens the next start needs: 1 on average, drawn in [0, 2).
        self._random = random or _random.Random().random  # nosec B311 # send pacing jitter
        self._need = 1.0
        self._stamp = 0.0
        self._burst_seconds = burst_seconds
        self._last_cut = -math.inf
        self._since_cut = 0  # requests completed since the last cut
        self._throttled_since_cut = 0
        self._cut_spacing = window_seconds / 2.0
        # The growth after the last cut: from the rate ``_from``, busy seconds
        # counted from ``_busy_at_cut``, the line's slope and the cubic's
        # constant and return time.
        self._from = 0.0
        self._busy_at_cut = 0.0
        self._slope = increase
        self._constant = cubic
        self._return = 0.0
        self.throttled_requests = 0
        self.decreases = 0

    @property
    def rate(self) -> float:
        """The target rate in requests per second (inf: not limited yet)."""
        return self._rate

    @property
    def limit(self) -> int:
        if math.isinf(self._rate):
            return min(self.max_in_flight, self._slow_start)
        if self._latency <= 0.0:
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
            self._need = 2.0 * self._random()
        self._starts.append(now)
        if self._busy_since is None:
            self._busy_since = now
        self._flying += 1
        self._tickets += 1
        return self._tickets

    def next_start(self) -> float:
        now = self._clock()
        if self._busy_since is None:  # a request waits for its start: busy
            self._busy_since = now
        if math.isinf(self._rate):
            return 0.0
        self._refill(now)
        return now if self._tokens >= self._need else now + (self._need - self._tokens) / self._rate

    def _refill(self, now: float) -> None:
        # Only once the rate is finite. The bucket holds at least what the
        # next start needs (else a slow writer needing 1.5 tokens of a bucket
        # of 1 would never start).
        size = max(1.0, self._rate * self._burst_seconds, self._need)
        self._tokens = min(size, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def completed(self, ticket: int, latency: float, throttled: bool) -> None:
        now = self._clock()
        self._flying = max(0, self._flying - 1)
        if not self._flying:
            # The span since the first of these requests started (a clock that
            # did not move while it was out: its latency back).
            begin = min(now - latency, now if self._busy_since is None else self._busy_since)
            if self._busy and begin <= self._busy[-1][1]:
                begin = min(begin, self._busy.pop()[0])
            self._busy.append((begin, now))
            self._busy_closed += now - max(begin, self._busy_end)
            self._busy_end = now
            self._busy_since = None
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
            else:  # the rate is finite: the first throttled answer always cuts
                # Implementation note: a writer sending more meets more of the
                # refusals of one overshoot; each takes a little off, so the
                # larger writers give back more.
                self._rate = max(self._min_rate, self._rate * (1.0 - _PER_REFUSAL))
                self._from *= 1.0 - _PER_REFUSAL
            return
        self._accepted.append(now)
        self._trim(now)
        if math.isinf(self._rate):
            self._slow_start += 1
            return
        busy = self._busy_total(now) - self._busy_at_cut
        # ``slope`` per second: at ``rate`` successes a second, slope / rate each.
        line = self._rate + self._slope / self._rate
        curve = self._from + self._constant * (busy - self._return) ** 3
        self._rate = min(_MAX_GROWTH * self._rate, max(line, curve))

    def _cut(self, now: float) -> None:
        self._trim(now)
        started = now if self._started is None else self._started
        oldest = self._starts[0] if self._starts else now
        # The last window (since the first start, if later), or further back
        # to the oldest start kept.
        since = min(oldest, max(now - self._window, started))
        span = max(self._busy_time(since, now), 1e-3)
        # Implementation note: the cut goes to the rate the service accepted
        # of this writer, not to the rate it sent at. Writers sharing a quota
        # all see about the same share refused, so each cutting to what it was
        # accepted brings their sum under the quota in one round; a cut to the
        # rate sent left the sum over the quota until every one of them had
        # been refused. A writer with little to send is accepted what it
        # sends, so it is not starved either. At least _MIN_SAMPLE requests:
        # a slow writer's two-second count is too noisy to cut by.
        accepted = sum(1 for t in self._accepted if t >= since) / span
        sent = max(accepted, sum(1 for t in self._starts if t >= since) / span)
        current = self._rate
        if math.isinf(current):
            current = min(self.max_in_flight, self._slow_start) / max(self._latency, 1e-3)
        if self._since_cut >= _HEAVY_SAMPLE and not math.isinf(self._rate):
            # The answers since the last cut say what share of that rate the
            # service takes (the window may still hold a burst it allowed).
            # (Laplace's rule: one more accepted than seen, for a small sample.)
            accepted_since = self._since_cut - self._throttled_since_cut
            current *= (accepted_since + 1.0) / (self._since_cut + 1.0)
        if accepted > 0.0:
            target = self._decrease * min(current, accepted)
        else:
            # All refused: the starts in the span (at least the one that
            # brought this answer) say what was sent.
            target = 0.5 * min(current, sent)
        self._rate = max(target, self._min_rate)
        self._grow_from(self._rate / self._decrease, now)
        self._round = self._tickets
        self._since_cut = self._throttled_since_cut = 0
        self._tokens, self._stamp = min(self._tokens, 0.0), now
        self._last_cut = now
        self.decreases += 1

    def _grow_from(self, rate: float, now: float) -> None:
        """Sets the growth curves after a cut from ``rate``."""
        # Implementation note: a cut of (1 - decrease) * rate is won back in
        # (1 - decrease) * rate / slope seconds on the line and in ``return``
        # seconds on the cubic; a writer sends rate * that many requests
        # meanwhile. Each refusal costs a request, so at least
        # _RECOVERY_REQUESTS of them: at rates of a request a second or less
        # both curves slow down (else the line alone, at 0.3 requests per
        # second per second, would refuse a writer of 0.25 every other
        # request).
        depth = (1.0 - self._decrease) * rate
        self._from = rate
        self._busy_at_cut = self._busy_total(now)
        self._slope = min(self._increase, depth * rate / _RECOVERY_REQUESTS)
        self._constant = min(self._cubic, depth * rate ** 3 / _RECOVERY_REQUESTS ** 3)
        self._return = (depth / self._constant) ** (1.0 / 3.0)

    def _busy_total(self, now: float) -> float:
        """Seconds with a request in flight or waiting for its start, ever."""
        total = self._busy_closed
        if self._busy_since is not None:
            total += max(0.0, now - max(self._busy_since, self._busy_end))
        return total

    def _busy_time(self, since: float, now: float) -> float:
        """Seconds between ``since`` and ``now`` with a request in flight or waiting
        for its start."""
        total = sum(max(0.0, end - max(begin, since)) for begin, end in self._busy)
        if self._busy_since is not None:
            total += max(0.0, now - max(self._busy_since, since))
        return total

    def _trim(self, now: float) -> None:
        # The last ``window_seconds``, and at least the last _MIN_SAMPLE times.
        for times in (self._accepted, self._starts):
            while len(times) > _MIN_SAMPLE and times[0] < now - self._window:
                times.popleft()
        oldest = self._starts[0] if self._starts else now
        while self._busy and self._busy[0][1] < oldest:
            self._busy.popleft()
