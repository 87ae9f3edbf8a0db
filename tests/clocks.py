"""Clocks for tests: time that moves only when the test says so."""

import threading

from beam_batchput.core.clock import Clock


class FakeClock(Clock):
    """Wall time fixed at ``now`` (seconds); monotonic time moves by the sleeps, which return at once.

    Picklable, so a writer given one takes it to its workers.
    """

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.elapsed = 0.0
        self.sleeps = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds


class HeldClock(Clock):
    """System time, but a sleep lasts until :meth:`release` (at most ``limit``
    seconds); once released, sleeps are the system's again.

    Given to the emulator, an injected delay (``latency_ms``, a slow answer)
    holds the answer back until the test releases it: no answer can beat a
    client's read timeout, however loaded the machine. Not picklable: for the
    emulator, which runs in the test's process.
    """

    def __init__(self, limit: float = 120.0) -> None:
        self._released = threading.Event()
        self._entered = threading.Condition()
        self._limit = limit
        self.held = 0

    def sleep(self, seconds: float) -> None:
        with self._entered:
            self.held += 1
            self._entered.notify_all()
        if self._released.is_set():
            super().sleep(seconds)
        else:
            self._released.wait(self._limit)

    def wait_held(self, count: int, timeout: float = 60.0) -> bool:
        """Waits until ``count`` sleeps have begun; whether they had in ``timeout`` seconds."""
        with self._entered:
            return self._entered.wait_for(lambda: self.held >= count, timeout)

    def release(self) -> None:
        """Ends every sleep held; the ones to come last their ``seconds``."""
        self._released.set()
