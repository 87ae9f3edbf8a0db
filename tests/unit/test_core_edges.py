"""Small core behaviours the pipeline tests do not reach: clocks, JSON of odd records,
the transform's argument checks, the throttled-time counter's fractions."""

import datetime
import decimal
import json

import pytest

from beam_batchput.core.clock import SYSTEM_CLOCK, CallableClock, Clock
from beam_batchput.core.metrics import WriterMetrics
from beam_batchput.core.records import record_to_json
from beam_batchput.core.sender import SendOutcome
from beam_batchput.core.write import AwsBatchWrite
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock


def test_clocks_are_equal_by_type_and_state():
    assert Clock() == Clock() and hash(Clock()) == hash(Clock())
    assert FakeClock(5.0) == FakeClock(5.0) and FakeClock(5.0) != FakeClock(6.0)
    assert Clock() != FakeClock(0.0) and Clock() != object()
    assert repr(SYSTEM_CLOCK) == "Clock()"


def test_a_callable_clock_uses_its_callables_and_falls_back_to_its_base():
    base, slept = FakeClock(100.0), []
    clock = CallableClock(base, sleep=slept.append, wall=lambda: 42.0)
    clock.sleep(1.5)
    assert (clock.time(), slept, base.sleeps) == (42.0, [1.5], [])
    bare = CallableClock(base)
    bare.sleep(2.0)
    assert (bare.time(), base.sleeps, bare.monotonic()) == (100.0, [2.0], 2.0)


class _Row:
    """A row-like object (not a tuple) that offers ``_asdict``."""

    def _asdict(self):
        return {"x": 1, "y": 2}


def test_records_of_any_type_become_json_the_dead_letter_can_carry():
    record = {"b": b"\x00\xff", "t": datetime.datetime(2024, 1, 2, 3, 4, 5),
              "d": datetime.date(2024, 1, 2), "n": decimal.Decimal("1.10"),
              "p": _Row(), "s": frozenset([3]), "u": (4, 5), "o": object}
    assert json.loads(record_to_json(record)) == {
        "b": {"$base64": "AP8="}, "t": "2024-01-02T03:04:05", "d": "2024-01-02", "n": "1.10",
        "p": {"x": 1, "y": 2}, "s": [3], "u": [4, 5], "o": repr(object)}


@pytest.mark.parametrize("kwargs, message", [
    ({"service": "iotsitewise"}, "service must be a Service"),
    ({"service": SiteWiseService(), "fail_fast": 1}, "fail_fast must be a bool"),
    ({"service": SiteWiseService(), "client": object(), "region_name": "eu-west-1"},
     "cannot be combined with region_name"),
])
def test_the_transform_refuses_bad_arguments_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AwsBatchWrite(**kwargs)


def test_throttled_seconds_carry_their_fraction_to_the_next_outcome():
    metrics = WriterMetrics("iotsitewise")
    counted = []
    metrics.throttled_seconds = type("Counter", (), {"inc": lambda self, n: counted.append(n)})()
    for seconds in (0.6, 0.6, 0.9, 0.0):
        metrics.record(SendOutcome(throttled_seconds=seconds))
    assert counted == [1, 1]
    assert metrics._throttled_carry == pytest.approx(0.1)
