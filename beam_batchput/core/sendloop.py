"""The send step's engine: requests in flight under an adaptive limit, pooled retries.

Requests start in worker threads, at most as many at once as the concurrency
strategy allows and no faster than the user's rate caps. Each answer settles
what it can; the entries to retry wait in a pool per (scope, window) until
their backoff passes, and are then packed together, with the other entries
waiting there, into full requests. Throttled entries are retried while their
throttling budget lasts, other retryable failures while their attempts and
time budget last. :meth:`SendLoop.submit` holds its caller back while too much
is pending (backpressure); :meth:`SendLoop.drain` returns once nothing is in
flight or waiting. Knows no Beam: it runs on the bundle's thread, yields
(:class:`~beam_batchput.core.sender.SendOutcome`, window) pairs, and takes its clock
and randomness injected.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import math
from typing import Any, Callable, Deque, Dict, Hashable, Iterator, List, Optional, Tuple

from beam_batchput.core.backoff import ExponentialBackoff
from beam_batchput.core.botocore_throttling import ThrottleMeter
from beam_batchput.core.clock import SYSTEM_CLOCK, Clock
from beam_batchput.core.concurrency import FixedConcurrency
from beam_batchput.core.config import RetryConfig
from beam_batchput.core.packing import pack, split_full
from beam_batchput.core.ratecap import RequestRateCaps
from beam_batchput.core.records import Stage
from beam_batchput.core.sender import RequestSender, SendOutcome, Settled
from beam_batchput.core.service import Item, Request, Service

__all__ = ["SendLoop"]

# The share of a request's entries throttled that slows the writer down.
_ENTRY_THROTTLING_SHARE = 0.5


@dataclasses.dataclass
class _Track:
    """What the loop knows of one item until it is settled."""

    attempts: int = 0
    failures: int = 0  # failed sends other than throttled ones
    throttles: int = 0
    error_seconds: float = 0.0  # of those sends and their backoffs
    first_throttle: Optional[float] = None


@dataclasses.dataclass
class _Done:
    outcome: SendOutcome
    to_retry: List[Tuple[Item, str, str, bool]]
    latency: float
    hidden_throttles: int
    hidden_seconds: float
    body_bytes: int


class _PoolGroup:
    """Entries of one (scope, window) waiting for their retry."""

    def __init__(self) -> None:
        self.waiting: Dict[int, Tuple[float, Item]] = {}
        # Requests failed whole, resent as they were: a replay of one keeps
        # its idempotency token (DataZone's clientToken derives from content).
        self.whole: List[Tuple[float, Request]] = []

    def __bool__(self) -> bool:
        return bool(self.waiting or self.whole)

    def add(self, item: Item, ready_at: float) -> None:
        self.waiting[id(item)] = (ready_at, item)

    def next_event(self, now: float, linger: float) -> float:
        times = [t for t, _ in self.waiting.values()]
        if self.whole:
            return min([t for t, _ in self.whole]
                       + ([self._next_partial(now, linger, times)] if times else []))
        return self._next_partial(now, linger, times)

    @staticmethod
    def _next_partial(now: float, linger: float, times: List[float]) -> float:
        ready = [t for t in times if t <= now]
        return min(ready) + linger if ready else min(times)

    def release(self, service: Service, now: float, linger: float) -> List[Request]:
        """The requests failed whole that are due, the full requests among the
        entries due, and the partial one once the oldest entry due has waited
        ``linger`` for others to fill it."""
        due = [request for t, request in self.whole if t <= now]
        self.whole = [(t, request) for t, request in self.whole if t > now]
        ready = [(t, item) for t, item in self.waiting.values() if t <= now]
        if not ready:
            return due
        limits, entry_id = service.limits, service.entry_id
        full, leftover = split_full([item for _, item in ready], limits, entry_id)
        released = [item for request in full for item in request.items]
        if leftover and min(self.waiting[id(i)][0] for i in leftover) + linger <= now:
            partial = pack(leftover, limits, entry_id)
            full += partial
            released += leftover
        for item in released:
            del self.waiting[id(item)]
        return due + full


class SendLoop:
    """Sends requests of one send step; see the module docstring.

    Args:
        service: The service description.
        sender: Sends one request once (:meth:`RequestSender.attempt`).
        client: The client the workers call.
        executor: Runs the sends (at least ``concurrency.max_in_flight`` workers).
        concurrency: :class:`~beam_batchput.core.concurrency.FixedConcurrency`
            or :class:`~beam_batchput.core.concurrency.AdaptiveConcurrency`.
        retry: Attempts, backoff and the two time budgets.
        caps: The user's rate caps (may be empty).
        max_pending_items: Items queued, in flight and waiting for a retry
            beyond which :meth:`submit` waits.
        clock: The clock: monotonic time and sleep.
        random: ``random.random`` for the backoff jitter.
        meter: Counts throttling inside botocore's own retries.
    """

    def __init__(self, service: Service, sender: RequestSender, client: Any,
                 executor: concurrent.futures.Executor, concurrency: FixedConcurrency,
                 retry: RetryConfig, *, caps: Optional[RequestRateCaps] = None,
                 max_pending_items: int = 1000,
                 clock: Clock = SYSTEM_CLOCK,
                 random: Optional[Callable[[], float]] = None,
                 meter: Optional[ThrottleMeter] = None) -> None:
        self._service = service
        self._sender = sender
        self._client = client
        self._executor = executor
        self._concurrency = concurrency
        self._retry = retry
        self._caps = caps or RequestRateCaps(None, None)
        self._max_pending = max_pending_items
        self._clock = clock.monotonic
        self._sleep = clock.sleep
        self._backoff = ExponentialBackoff(retry.initial_backoff_seconds,
                                           retry.max_backoff_seconds, random=random)
        self._meter = meter or ThrottleMeter(clock)
        # Implementation note: a partial retry request waits this long after
        # its first entry is due, for entries of other requests to fill it
        # (ten first backoffs: retries of a second of sending meet).
        self._linger = min(retry.max_backoff_seconds, 10 * retry.initial_backoff_seconds)
        self._ready: Deque[Tuple[Request, Any]] = collections.deque()
        self._head_start: Optional[float] = None  # booked start of the head request
        self._in_flight: Dict[concurrent.futures.Future, Tuple[Request, Any, int]] = {}
        self._pool: Dict[Tuple[Hashable, Any], _PoolGroup] = {}
        self._tracks: Dict[int, _Track] = {}
        self._pending_items = 0
        self._carry = SendOutcome()

    # The bundle thread's interface

    @property
    def limit(self) -> int:
        """Requests that may be in flight now (the adaptive limit)."""
        return self._concurrency.limit

    @property
    def idle(self) -> bool:
        """Nothing queued, in flight or waiting for a retry."""
        return not (self._ready or self._in_flight or self._pool)

    def submit(self, request: Request, window: Any) -> Iterator[Tuple[SendOutcome, Any]]:
        """Queues ``request``; yields what completes meanwhile; waits while too much is pending."""
        for item in request.items:
            self._tracks[id(item)] = _Track()
        self._pending_items += len(request.items)
        self._ready.append((request, window))
        yield from self._pump()
        while self._pending_items > self._max_pending and not self.idle:
            self._wait()
            yield from self._pump()
        yield from self._flush_carry()

    def drain(self) -> Iterator[Tuple[SendOutcome, Any]]:
        """Sends and retries until nothing is in flight or waiting; yields every outcome."""
        yield from self._pump()
        while not self.idle:
            self._wait()
            yield from self._pump()
        yield from self._flush_carry()

    # Internals

    def _pump(self) -> Iterator[Tuple[SendOutcome, Any]]:
        while True:
            done = [f for f in self._in_flight if f.done()]
            for future in done:
                yield self._harvest(future)
            self._release()
            started = self._start_ready()
            if not done and not started:
                return

    def _release(self) -> None:
        now = self._clock()
        for key in list(self._pool):
            group = self._pool[key]
            window = key[1]
            for request in group.release(self._service, now, self._linger):
                self._ready.append((request, window))
            if not group:
                del self._pool[key]

    def _start_ready(self) -> int:
        started = 0
        while self._ready and len(self._in_flight) < self._concurrency.limit:
            request, window = self._ready[0]
            now = self._clock()
            if self._head_start is None:
                start = self._concurrency.next_start()
                if self._caps:
                    start = max(start, self._caps.reserve(len(request.items)))
                self._head_start = start
            if self._head_start > now:
                return started
            self._ready.popleft()
            self._head_start = None
            attempts = {}
            for item in request.items:
                track = self._tracks[id(item)]
                track.attempts += 1
                attempts[id(item)] = track.attempts
            ticket = self._concurrency.ticket()
            future = self._executor.submit(self._work, request, attempts)
            self._in_flight[future] = (request, window, ticket)
            started += 1
        return started

    def _work(self, request: Request, attempts: Dict[int, int]) -> _Done:
        """One send, on a worker thread."""
        self._meter.take()
        start = self._clock()
        outcome, to_retry = self._sender.attempt(self._client, request, attempts)
        latency = self._clock() - start
        hidden, waited, body = self._meter.take()
        return _Done(outcome, to_retry, latency, hidden, waited, body)

    def _harvest(self, future: concurrent.futures.Future) -> Tuple[SendOutcome, Any]:
        request, window, ticket = self._in_flight.pop(future)
        key = (request.scope, window)
        done: _Done = future.result()  # a RequestFailedError (fail-fast) propagates here
        outcome = done.outcome
        now = self._clock()
        throttled = [r for r in done.to_retry if r[3]]
        whole_throttled = bool(outcome.request_errors and throttled)
        # botocore counted the final throttled answer too when it gave up on it.
        hidden = max(0, done.hidden_throttles - (1 if whole_throttled else 0))
        # Implementation note: a few entries throttled in an accepted request
        # are a busy resource (e.g. one SiteWise property), retried after their
        # backoff; most of them throttled is an account's data-point quota, as
        # much a signal to slow down as a whole request refused.
        slow_down = (whole_throttled or hidden > 0
                     or len(throttled) >= _ENTRY_THROTTLING_SHARE * len(request.items))
        self._concurrency.completed(ticket, done.latency, slow_down)
        outcome.throttled_requests += hidden + (1 if throttled else 0)
        outcome.throttled_items += len(throttled)
        outcome.throttled_seconds += done.hidden_seconds
        outcome.latencies.append(done.latency)
        outcome.bytes_sent += done.body_bytes or sum(item.size for item in request.items)
        longest_throttle_wait = 0.0
        group = None
        whole = bool(outcome.request_errors) and len(done.to_retry) == len(request.items)
        again: List[Item] = []
        latest = now
        for item, code, message, is_throttling in done.to_retry:
            track = self._tracks[id(item)]
            if is_throttling:
                track.throttles += 1
                track.first_throttle = track.first_throttle if track.first_throttle is not None \
                    else now
                delay = self._backoff.delay(track.throttles)
                spent = now + delay - track.first_throttle
                exhausted = spent > self._retry.max_throttled_seconds
            else:
                track.failures += 1
                delay = self._backoff.delay(track.failures)
                # Implementation note: the error budget counts the failed sends
                # and their backoffs, not time queued behind throttling.
                track.error_seconds += done.latency + delay
                exhausted = (track.failures >= self._retry.max_attempts
                             or track.error_seconds > self._retry.max_retry_seconds)
            if exhausted:
                outcome.failed.append(Settled(item, track.attempts, code, message,
                                              Stage.RETRIES_EXHAUSTED))
                continue
            if is_throttling:
                longest_throttle_wait = max(longest_throttle_wait, delay)
            outcome.retried_items += 1
            if group is None:
                group = self._pool.setdefault(key, _PoolGroup())
            if whole:
                again.append(item)
                latest = max(latest, now + delay)
            else:
                group.add(item, now + delay)
        if again:
            if len(again) == len(request.items):
                group.whole.append((latest, request))
            else:  # some records ran out of budget: the rest go on together
                for item in again:
                    group.add(item, latest)
        outcome.throttled_seconds += longest_throttle_wait
        for settled in outcome.written + outcome.failed:
            self._tracks.pop(id(settled.item), None)
        self._pending_items -= len(outcome.written) + len(outcome.failed)
        return outcome, window

    def _wait(self) -> None:
        """Waits for a completion, a due retry or the next allowed start."""
        now = self._clock()
        wake = math.inf
        for group in self._pool.values():
            wake = min(wake, group.next_event(now, self._linger))
        if self._ready and len(self._in_flight) < self._concurrency.limit:
            wake = min(wake, self._head_start if self._head_start is not None else now)
        if self._in_flight:
            timeout = None if math.isinf(wake) else max(0.0, wake - now)
            concurrent.futures.wait(list(self._in_flight), timeout=timeout,
                                    return_when=concurrent.futures.FIRST_COMPLETED)
        elif not math.isinf(wake) and wake > now:
            self._sleep(wake - now)
            if self._ready:  # held back by pacing or a rate cap: time throttled
                self._carry.throttled_seconds += wake - now

    def _flush_carry(self) -> Iterator[Tuple[SendOutcome, Any]]:
        if self._carry.throttled_seconds:
            carry, self._carry = self._carry, SendOutcome()
            yield carry, None
