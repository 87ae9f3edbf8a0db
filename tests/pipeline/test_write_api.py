"""The public transform's construction: the clock, its deprecated seams, state names."""

import importlib
import sys
import time
import warnings

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from beam_batchput import WriteToSiteWise
from beam_batchput.core.clock import SYSTEM_CLOCK, CallableClock
from tests import fakes
from tests.beam_helpers import pipeline
from tests.clocks import FakeClock

NOW = int(time.time())


def test_the_deprecated_seams_map_onto_the_clock_with_a_warning():
    sleeps = []
    with pytest.warns(DeprecationWarning, match="_sleep and _clock are deprecated"):
        writer = WriteToSiteWise(_sleep=sleeps.append, _clock=lambda: 42.0)
    clock = writer._clock
    assert isinstance(clock, CallableClock) and clock.time() == 42.0
    clock.sleep(3)
    assert sleeps == [3]
    assert writer._service.clock is clock  # the time-window check reads it too


def test_without_a_clock_the_system_clock_is_used_and_nothing_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        writer = WriteToSiteWise()
    assert writer._clock is SYSTEM_CLOCK


def test_a_clock_must_be_a_clock():
    with pytest.raises(ValueError, match="clock must be"):
        WriteToSiteWise(clock=time.time)


def test_the_old_transforms_module_still_imports_with_a_warning():
    sys.modules.pop("beam_batchput.core.transforms", None)
    with pytest.warns(DeprecationWarning, match="core.transforms is deprecated"):
        module = importlib.import_module("beam_batchput.core.transforms")
    from beam_batchput import AwsBatchWrite

    assert module.AwsBatchWrite is AwsBatchWrite


def test_the_clock_decides_the_time_window_of_sitewise():
    fakes.reset("window")
    old = {"property_alias": "/w", "value": 1.0, "timestamp": NOW - 600}
    with pipeline() as p:
        # Ten days on, the record is more than 7 days old: refused by the clock's time.
        result = p | beam.Create([old]) | WriteToSiteWise(
            clock=FakeClock(NOW + 10 * 86400),
            client_factory=fakes.FakeClientFactory("window", fakes.accept_all))
        assert_that(result.failed | beam.Map(lambda d: d.error_code),
                    equal_to(["TimestampOutOfRange"]))


def test_two_identical_writers_in_one_pipeline_get_state_names_of_their_own():
    p = beam.Pipeline()
    records = p | beam.Create([1])
    first, second = WriteToSiteWise(), WriteToSiteWise()
    tags = [first._state_tag(records), second._state_tag(records)]
    again = WriteToSiteWise()._state_tag(beam.Pipeline() | beam.Create([1]))
    assert tags[0] != tags[1]
    assert again == tags[0]  # the same pipeline code names them alike on every run


def _split(record):
    yield beam.pvalue.TaggedOutput("a" if record["value"] < 3 else "b", record)


def test_two_identical_writers_fed_by_one_step_each_send_their_records():
    fakes.reset("same-a")
    fakes.reset("same-b")
    data = [{"property_alias": "/s/%d" % n, "value": float(n), "timestamp": NOW - 60}
            for n in range(5)]
    with pipeline() as p:
        routed = p | beam.Create(data) | beam.ParDo(_split).with_outputs("a", "b")
        for name in ("a", "b"):
            _ = routed[name] | name.upper() >> WriteToSiteWise(
                client_factory=fakes.FakeClientFactory("same-" + name, fakes.accept_all))
    sent = {name: sorted(e["propertyAlias"] for c in fakes.calls("same-" + name)
                         for e in c["kwargs"]["entries"]) for name in ("a", "b")}
    assert sent == {"a": ["/s/0", "/s/1", "/s/2"], "b": ["/s/3", "/s/4"]}


def test_without_receipts_written_stays_empty_and_refusals_still_dead_letter():
    fakes.reset("no-receipts")
    good = [{"property_alias": "/r/%d" % (n % 3), "value": float(n), "timestamp": NOW - 60 + n}
            for n in range(25)]
    refused = {"property_alias": "/r/refused", "value": 1.0, "timestamp": NOW}
    invalid = {"property_alias": "/r/0", "value": 1e11, "timestamp": NOW}
    behaviour = fakes.SiteWiseEntryErrors({"/r/refused": ["ResourceNotFoundException"]})
    with pipeline() as p:
        result = p | beam.Create(good + [refused, invalid]) | WriteToSiteWise(
            receipts="none", client_factory=fakes.FakeClientFactory("no-receipts", behaviour))
        assert_that(result.written, equal_to([]), label="written")
        assert_that(result.failed | beam.Map(lambda d: (d.resource, d.stage, d.error_code)),
                    equal_to([("/r/refused", "entry", "ResourceNotFoundException"),
                              ("/r/0", "validation", "ValueOutOfRange")]), label="failed")
    sent = sorted(v["value"]["doubleValue"] for c in fakes.calls("no-receipts")
                  for e in c["kwargs"]["entries"] for v in e["propertyValues"])
    assert sent == sorted([float(n) for n in range(25)] + [1.0])  # every valid record sent


def test_receipts_take_only_the_documented_values():
    with pytest.raises(ValueError, match="receipts must be one of 'per_record', 'none'"):
        WriteToSiteWise(receipts="summary")
