"""Shared field reading at its edges: zones with minutes, the last year ISO-8601 text carries,
float subclasses, Beam timestamps, and the target named when a timestamp is refused."""

import pytest
from apache_beam.utils.timestamp import Timestamp

from beam_batchput.core.service import InvalidRecord
from beam_batchput.services._fields import format_iso, parse_iso_nanos, to_epoch_nanos
from beam_batchput.services.sitewise import SiteWiseService
from tests.clocks import FakeClock

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
SECOND = 1_000_000_000


@pytest.mark.parametrize("text", ["2023-11-15T03:43:20+05:30", "2023-11-15T03:43:20+0530",
                                  "2023-11-14T18:43:20-03:30", "2023-11-14T22:58:20+00:45"])
def test_zones_with_minutes_read_as_the_same_instant(text):
    assert to_epoch_nanos(text, "timestamp") == NOW * SECOND
    assert parse_iso_nanos(text) == NOW * SECOND


def test_the_last_second_of_year_9999_is_written_and_the_next_is_not():
    last = 253402300799  # 9999-12-31T23:59:59Z
    assert format_iso(last * SECOND) == "9999-12-31T23:59:59Z"
    assert format_iso((last + 1) * SECOND) is None
    assert format_iso(-62135596800 * SECOND) == "0001-01-01T00:00:00Z"


class Seconds(float):
    """A float subclass, as numpy's float64 is."""


def test_a_float_subclass_reads_as_the_float_it_is():
    assert to_epoch_nanos(Seconds(NOW + 0.25), "timestamp") == NOW * SECOND + SECOND // 4
    assert to_epoch_nanos(Seconds(NOW + 0.25), "timestamp") == to_epoch_nanos(
        NOW + 0.25, "timestamp")


def test_a_beam_timestamp_reads_to_its_microseconds():
    moment = Timestamp(micros=NOW * 1_000_000 + 7)
    assert to_epoch_nanos(moment, "timestamp") == NOW * SECOND + 7_000


def test_a_timestamp_text_without_a_zone_is_refused_naming_the_record_target():
    with pytest.raises(InvalidRecord) as raised:
        SiteWiseService(clock=FakeClock(NOW)).item(
            {"property_alias": "/p", "value": 1.5, "timestamp": "2023-11-14T22:13:20"})
    assert (raised.value.code, raised.value.resource) == ("InvalidTimestamp", "/p")
