"""The one source of time: monotonic time, wall time and sleep.

Every part that reads or waits on time takes a :class:`Clock`: the sender's
retry budget and backoff sleeps, the processing-time bound of the batching
step, a dead letter's ``failed_at``, services' time-window checks (SiteWise
accepts timestamps from 7 days back to 10 minutes ahead) and the emulator.
Tests pass a clock of their own instead of patching ``time``.
"""

from __future__ import annotations

import datetime
import time
from typing import Callable, Optional

__all__ = ["SYSTEM_CLOCK", "CallableClock", "Clock"]


class Clock:
    """The system's clock; subclass it to control time in tests.

    A clock travels to the workers with the transform, so a subclass must be
    picklable (a module-level class with picklable attributes).
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for durations and deadlines."""
        return time.monotonic()

    def time(self) -> float:
        """Wall time: seconds since the epoch, UTC."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Waits ``seconds``."""
        time.sleep(seconds)

    def now_iso(self) -> str:
        """Wall time as ISO-8601 UTC text, e.g. a dead letter's ``failed_at``."""
        return datetime.datetime.fromtimestamp(self.time(), datetime.timezone.utc).isoformat()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return "%s()" % type(self).__name__


#: The clock used when none is given.
SYSTEM_CLOCK = Clock()


class CallableClock(Clock):
    """A clock from plain callables, for the deprecated ``clock=``/``_sleep=`` arguments.

    Args:
        base: What the callables not given fall back to.
        sleep: Waits a number of seconds.
        wall: Wall time in seconds since the epoch.
    """

    def __init__(self, base: Clock = SYSTEM_CLOCK, *,
                 sleep: Optional[Callable[[float], None]] = None,
                 wall: Optional[Callable[[], float]] = None) -> None:
        self._base = base
        self._sleep = sleep
        self._wall = wall

    def time(self) -> float:
        return self._wall() if self._wall is not None else self._base.time()

    def sleep(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._base.sleep(seconds)

    def monotonic(self) -> float:
        return self._base.monotonic()
