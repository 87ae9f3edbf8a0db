"""The dead-letter threshold's settings and the rate caps shared per writer: what is accepted,
what is refused (naming the setting), and one cap object per writer and settings."""

import pytest
from apache_beam.transforms.window import FixedWindows

from beam_batchput.core.dead_letters import validate_threshold
from beam_batchput.core.ratecap import RateCap, shared_caps
from tests.unit.test_sendloop import FakeClock


@pytest.mark.parametrize("threshold", [None, 0, 0.0, 0.5, 1, 1.0])
def test_a_threshold_of_none_or_a_ratio_from_0_to_1_is_accepted(threshold):
    validate_threshold(threshold, None)
    if threshold is not None:
        validate_threshold(threshold, FixedWindows(60))


@pytest.mark.parametrize("threshold", [-0.01, 1.01, True, False, "0.5", float("nan")])
def test_any_other_threshold_is_refused_naming_the_setting(threshold):
    with pytest.raises(ValueError, match="dead_letter_threshold must be None or a ratio"):
        validate_threshold(threshold, None)


def test_threshold_windowing_must_be_a_window_fn_and_needs_a_threshold():
    with pytest.raises(ValueError, match="threshold_windowing must be None or a WindowFn"):
        validate_threshold(0.5, 60)
    with pytest.raises(ValueError, match="threshold_windowing=.* needs a dead_letter_threshold"):
        validate_threshold(None, FixedWindows(60))


def test_a_rate_below_one_a_second_waits_a_whole_interval_between_units():
    clock = FakeClock()
    cap = RateCap(0.5, clock=clock)  # the burst: one second's worth, at least one unit
    assert [cap.reserve(1.0) for _ in range(3)] == [0.0, 2.0, 4.0]
    with pytest.raises(ValueError, match="rate must be positive"):
        RateCap(0.0)


def test_caps_are_shared_per_writer_and_settings_and_cap_both_requests_and_items():
    clock = FakeClock()
    caps = shared_caps("test-shared-writer", 1.0, 10.0, clock=clock)
    assert shared_caps("test-shared-writer", 1.0, 10.0, clock=clock) is caps
    assert shared_caps("test-shared-writer", 2.0, 10.0, clock=clock) is not caps
    assert shared_caps("test-other-writer", 1.0, 10.0, clock=clock) is not caps
    # One request a second (burst 1), ten items a second (burst 10): a request
    # of 20 items may start once its items are there (1 s); the next one, of one
    # item, once both its request (1 s) and its item (1.1 s) are.
    assert [caps.reserve(20), caps.reserve(1)] == [1.0, 1.1]
