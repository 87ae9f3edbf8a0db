"""Shared field reading at its edges: zones with minutes, the last year ISO-8601 text carries,
float subclasses (at and past the bounds of epoch seconds), Beam timestamps, a zone without
an offset, and the target named when a timestamp is refused."""

import datetime

import pytest
from apache_beam.utils.timestamp import Timestamp

from beam_batchput.core.service import InvalidRecord
from beam_batchput.services._fields import (
    epoch_nanos,
    format_iso,
    parse_iso_nanos,
    to_epoch_nanos,
)
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


@pytest.mark.parametrize("seconds, nanos", [
    (Seconds(1e12), 10 ** 21), (Seconds(-1e12), -10 ** 21),
    # Microseconds kept whole, as for a float (1.999999 is 1.99999899999... in binary).
    (Seconds(1.999999), 1_999_999_000), (Seconds(-0.5), -SECOND // 2),
])
def test_a_float_subclass_at_the_bounds_reads_as_its_float(seconds, nanos):
    assert to_epoch_nanos(seconds, "timestamp") == nanos == to_epoch_nanos(float(seconds),
                                                                          "timestamp")


@pytest.mark.parametrize("seconds", [Seconds(1e12 + 0.5), Seconds(-1e12 - 0.5),
                                     Seconds("inf"), Seconds("nan")])
def test_a_float_subclass_past_the_bounds_is_not_epoch_seconds(seconds):
    with pytest.raises(InvalidRecord) as raised:
        to_epoch_nanos(seconds, "timestamp")
    assert (raised.value.code, raised.value.message) == (
        "InvalidTimestamp", "field 'timestamp'=%r is not epoch seconds" % (seconds,))


class _NoOffset(datetime.tzinfo):
    """A zone that knows no offset: a datetime in it is naive, though it has a tzinfo."""

    def utcoffset(self, moment):
        return None


def test_a_datetime_whose_zone_has_no_offset_is_naive():
    moment = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=_NoOffset())
    with pytest.raises(InvalidRecord) as raised:
        to_epoch_nanos(moment, "timestamp")
    assert (raised.value.code, raised.value.message) == (
        "InvalidTimestamp", "field 'timestamp' is a naive datetime; give it a timezone")
    # Where a naive time is read as UTC (times a service echoes), so is this one.
    assert epoch_nanos(moment) == NOW * SECOND
