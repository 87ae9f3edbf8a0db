"""User rate caps: at most so many requests (and items) per second, for sharing a quota.

A cap is a token bucket the send step waits on before it starts a request. Caps
with the same settings for the same writer are shared by every send step of a
worker process, so the cap holds per process whatever the runner's threading.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

from beam_batchput.core.clock import SYSTEM_CLOCK, Clock

__all__ = ["RateCap", "RequestRateCaps", "shared_caps"]


class RateCap:
    """At most ``rate`` units per second, after a burst of ``burst`` units.

    :meth:`reserve` never refuses: it books the units and says when they are
    available, so a request larger than the burst waits its turn instead of
    never going out. Thread-safe.

    Args:
        rate: Units per second.
        burst: Bucket size; None means one second's worth (at least 1).
        clock: The clock (its monotonic time).
    """

    def __init__(self, rate: float, burst: Optional[float] = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive, got %r" % (rate,))
        self.rate = float(rate)
        self._size = float(burst) if burst is not None else max(1.0, self.rate)
        self._clock = clock.monotonic
        self._tokens = self._size
        self._stamp = self._clock()
        self._lock = threading.Lock()

    def reserve(self, units: float) -> float:
        """Books ``units``; returns the clock time from which they may be used."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._size, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= units
            if self._tokens >= 0:
                return now
            return now - self._tokens / self.rate


class RequestRateCaps:
    """The request cap and the item cap of one writer (either may be absent).

    Args:
        requests_per_second: Requests per second at most, or None.
        items_per_second: Items (records) per second at most, or None.
        clock: The clock (its monotonic time).
    """

    def __init__(self, requests_per_second: Optional[float], items_per_second: Optional[float],
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._requests = RateCap(requests_per_second, clock=clock) if requests_per_second else None
        self._items = RateCap(items_per_second, clock=clock) if items_per_second else None

    def __bool__(self) -> bool:
        return self._requests is not None or self._items is not None

    def reserve(self, items: int) -> float:
        """Books one request of ``items``; returns the clock time it may start."""
        start = 0.0
        if self._requests is not None:
            start = max(start, self._requests.reserve(1.0))
        if self._items is not None:
            start = max(start, self._items.reserve(float(items)))
        return start


_SHARED: Dict[Tuple[str, Optional[float], Optional[float], Clock], RequestRateCaps] = {}
_SHARED_LOCK = threading.Lock()


def shared_caps(key: str, requests_per_second: Optional[float],
                items_per_second: Optional[float],
                clock: Clock = SYSTEM_CLOCK) -> RequestRateCaps:
    """The caps of writer ``key`` with these settings and clock, one object per process.

    The caps read ``clock``, the writer's own, so that their times compare with
    the send loop's.
    """
    with _SHARED_LOCK:
        slot = (key, requests_per_second, items_per_second, clock)
        caps = _SHARED.get(slot)
        if caps is None:
            caps = _SHARED[slot] = RequestRateCaps(requests_per_second, items_per_second,
                                                   clock=clock)
        return caps
