"""Clocks for tests: time that moves only when the test says so."""

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
