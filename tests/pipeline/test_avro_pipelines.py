"""The Avro pipelines: files → writer → dead letters → redrive, every record accounted for."""

import glob
import json
import os
import time

import apache_beam as beam
import fastavro
import pytest
from apache_beam.testing.util import assert_that, equal_to

from beam_batchput.avro import load_schema
from pipelines import avro_to_service, redrive
from tests import fakes
from tests.beam_helpers import pipeline

NOW = int(time.time())


def read_letters(folder):
    letters = []
    for path in glob.glob(os.path.join(folder, "*.avro")):
        with open(path, "rb") as handle:
            letters.extend(fastavro.reader(handle))
    return letters


def test_avro_files_to_sitewise_then_redrive_after_the_cause_is_fixed(tmp_path):
    records = [{"property_alias": "/r/%d" % (n % 4), "value": float(n),
                "timestamp": (NOW - 100 + n) * 1_000_000} for n in range(40)]
    records.append({"property_alias": "/r/bad", "value": 5e12, "timestamp": NOW * 1_000_000})
    with open(tmp_path / "in.avro", "wb") as handle:
        fastavro.writer(handle, load_schema("sitewise_record"), records)
    dlq, again = str(tmp_path / "dlq"), str(tmp_path / "again")

    # First run: /r/3 does not exist yet.
    fakes.reset("first")
    options = avro_to_service.AvroToServiceOptions(
        ["--avro_input", str(tmp_path / "*.avro"), "--service", "sitewise",
         "--dead_letter_output", dlq])
    with pipeline() as p:
        out = avro_to_service.build(p, options, client_factory=fakes.FakeClientFactory(
            "first", fakes.SiteWiseEntryErrors({"/r/3": ["ResourceNotFoundException"] * 3})))
        assert_that(out["written"] | beam.combiners.Count.Globally(), equal_to([30]))
    letters = read_letters(dlq)
    assert sorted((l["resource"], l["error_code"]) for l in letters) == sorted(
        [("/r/3", "ResourceNotFoundException")] * 10 + [("/r/bad", "ValueOutOfRange")])

    # The cause is fixed; redrive only the not-found ones.
    fakes.reset("second")
    options = redrive.RedriveOptions(["--dead_letters", os.path.join(dlq, "*.avro"),
                                      "--redrive_output", again,
                                      "--error_codes", "ResourceNotFoundException"])
    with pipeline() as p:
        out = redrive.build(p, options, client_factory=fakes.FakeClientFactory(
            "second", fakes.accept_all))
        assert_that(out["written"] | beam.Map(lambda r: json.loads(r.record)["value"]),
                    equal_to([float(n) for n in range(3, 40, 4)]), label="redriven")
        assert_that(out["failed"] | beam.Map(lambda d: (d.error_code, d.error_message[:300])), equal_to([]), label="none failed")
    sent = [v["value"]["doubleValue"] for c in fakes.calls("second")
            for e in c["kwargs"]["entries"] for v in e["propertyValues"]]
    assert sorted(sent) == [float(n) for n in range(3, 40, 4)]
    assert read_letters(again) == []


@pytest.mark.parametrize("argv,message", [
    ([], "--avro_input"),
    (["--avro_input", "x", "--service", "nope", "--dead_letter_output", "o"], "unknown service"),
    (["--avro_input", "x", "--service", "sitewise"], "--dead_letter_output"),
    (["--avro_input", "x", "--service", "sitewise", "--dead_letter_output", "o",
      "--watch_interval_seconds", "-1"], "watch_interval_seconds"),
    (["--avro_input", "x", "--service", "sitewise", "--dead_letter_output", "o",
      "--max_in_flight", "0"], "max_in_flight"),
])
def test_avro_pipeline_options_are_checked(argv, message):
    with pytest.raises(ValueError, match=message):
        avro_to_service.AvroToServiceOptions(argv).validated()


@pytest.mark.parametrize("argv,message", [
    (["--redrive_output", "o"], "--dead_letters"),
    (["--dead_letters", "x", "--redrive_output", "o", "--services", "s3"], "unknown service"),
    (["--dead_letters", "x", "--redrive_output", "o", "--stages", "later"], "unknown stage"),
])
def test_redrive_options_are_checked(argv, message):
    with pytest.raises(ValueError, match=message):
        redrive.RedriveOptions(argv).validated()


def test_a_watched_folder_is_read_in_streaming(tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for part in range(2):
        with open(incoming / ("part-%d.avro" % part), "wb") as handle:
            fastavro.writer(handle, load_schema("sitewise_record"), [
                {"property_alias": "/watch/%d" % part, "value": float(n),
                 "timestamp": (NOW - 50 + n) * 1_000_000} for n in range(5)])
    fakes.reset("watch")
    options = avro_to_service.AvroToServiceOptions([
        "--avro_input", str(incoming / "*.avro"), "--service", "sitewise",
        "--dead_letter_output", str(tmp_path / "dlq"), "--watch_interval_seconds", "0.5",
        "--watch_for_seconds", "2", "--max_buffering_seconds", "0.5"])
    # The watch is a splittable source: the DirectRunner's streaming engine
    # cannot run it, its portable engine can (see README, Runners).
    with beam.Pipeline(runner="FnApiRunner", options=options) as p:
        avro_to_service.build(p, options, client_factory=fakes.FakeClientFactory(
            "watch", fakes.accept_all))
    sent = sorted((e["propertyAlias"], v["value"]["doubleValue"])
                  for c in fakes.calls("watch") for e in c["kwargs"]["entries"]
                  for v in e["propertyValues"])
    assert sent == sorted(("/watch/%d" % part, float(n)) for part in range(2) for n in range(5))
