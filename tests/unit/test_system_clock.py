"""The system clock: a dead letter's time in UTC whatever the machine's zone, and sleeps that
wait."""

import time

from beam_batchput.core.clock import Clock


class _At(Clock):
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_the_iso_time_is_utc_with_its_offset():
    assert _At(0).now_iso() == "1970-01-01T00:00:00+00:00"
    assert _At(1_700_000_000.25).now_iso() == "2023-11-14T22:13:20.250000+00:00"


def test_the_system_clock_sleeps_the_seconds_asked():
    started = time.monotonic()
    Clock().sleep(0.02)
    assert time.monotonic() - started >= 0.02
