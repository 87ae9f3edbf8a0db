"""Avro in and out: schemas, the streaming dead-letter sink, reading files."""

import glob
import json
import os
import time

import apache_beam as beam
import fastavro
import pytest
from apache_beam.io import fileio
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from beam_batchput import DeadLetter, WriteToSiteWise
from beam_batchput.avro import (
    SCHEMA_NAMES,
    ReadAvroRecords,
    WriteDeadLettersToAvro,
    dead_letter_from_avro,
    load_schema,
    record_from_dead_letter,
)
from beam_batchput.core.records import record_to_json
from tests import fakes
from tests.beam_helpers import pipeline

NOW = int(time.time())


def letter(n, service="iotsitewise"):
    return DeadLetter(record=json.dumps({"n": n}), service=service, error_code="Code%d" % (n % 3),
                      error_message="m", stage="entry", attempts=1, resource="/r/%d" % n,
                      failed_at="2026-01-01T00:00:00+00:00")


def read_all(folder):
    found = []
    for path in sorted(glob.glob(os.path.join(folder, "*.avro"))):
        with open(path, "rb") as handle:
            found.extend((os.path.basename(path), r) for r in fastavro.reader(handle))
    return found


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_shipped_schema_loads(name):
    assert load_schema(name)["type"] == "record"


def test_unknown_schema_names_are_refused():
    with pytest.raises(ValueError, match="unknown schema"):
        load_schema("nope")


def test_bytes_survive_the_dead_letter_record():
    record = {"input_name": "in", "payload": b"\x00\xffraw"}
    restored = record_from_dead_letter(letter(0)._replace(record=record_to_json(record)))
    assert restored == record


def test_batch_dead_letters_land_in_window_files(tmp_path):
    letters = [window.TimestampedValue(letter(n), 960 + 30 * n) for n in range(6)]
    with pipeline() as p:
        _ = p | beam.Create(letters) | WriteDeadLettersToAvro(str(tmp_path), window_seconds=60)
    found = read_all(str(tmp_path))
    assert sorted(dead_letter_from_avro(r) for _, r in found) == sorted(letter(n) for n in range(6))
    # 6 letters 30 s apart from 00:16:00: three 60 s windows, one file each.
    assert {name for name, _ in found} == {
        "dead_letters-19700101T%s00Z-19700101T%s00Z-pane-0-00000-of-00001.avro" % (a, b)
        for a, b in (("0016", "0017"), ("0017", "0018"), ("0018", "0019"))}


def test_streaming_dead_letters_across_windows_and_late_ones_are_all_written(tmp_path):
    stream = (TestStream()
              .advance_watermark_to(0)
              .add_elements([window.TimestampedValue(letter(n), 10 + n) for n in range(3)])
              .advance_watermark_to(70)
              .add_elements([window.TimestampedValue(letter(n), 65 + n) for n in range(3, 5)])
              .advance_watermark_to(200)
              # Arrives after its window (0-60) closed: a late pane, not a loss.
              .add_elements([window.TimestampedValue(letter(9), 30)])
              .advance_watermark_to_infinity())
    with pipeline(streaming=True) as p:
        _ = p | stream | WriteDeadLettersToAvro(str(tmp_path), window_seconds=60)
    found = read_all(str(tmp_path))
    assert sorted(dead_letter_from_avro(r) for _, r in found) == sorted(
        letter(n) for n in (0, 1, 2, 3, 4, 9))
    late = [name for name, r in found if r["record"] == json.dumps({"n": 9})]
    assert late and "-pane-1-" in late[0], late


def write_avro(path, schema_name, records):
    with open(path, "wb") as handle:
        fastavro.writer(handle, load_schema(schema_name), records)


def test_avro_records_are_writer_input_and_bad_files_become_dead_letters(tmp_path):
    good = [{"property_alias": "/avro/%d" % n, "value": float(n),
             "timestamp": (NOW - 60 + n) * 1_000_000} for n in range(5)]
    good[0]["timestamp"] = __import__("datetime").datetime.fromtimestamp(
        NOW - 60, __import__("datetime").timezone.utc)
    write_avro(str(tmp_path / "good.avro"), "sitewise_record", good)
    (tmp_path / "corrupt.avro").write_bytes(b"Obj\x01garbage that is not avro")
    write_avro(str(tmp_path / "wrong.avro"), "iotevents_record",
               [{"input_name": "in", "payload": b"{}"}])
    fakes.reset("avro-in")
    with pipeline() as p:
        read = (p | fileio.MatchFiles(str(tmp_path / "*.avro"))
                | ReadAvroRecords(schema_name="sitewise_record", service="iotsitewise"))
        result = read["records"] | WriteToSiteWise(
            client_factory=fakes.FakeClientFactory("avro-in", fakes.accept_all))
        assert_that(result.written | beam.Map(lambda r: r.resource),
                    equal_to(["/avro/%d" % n for n in range(5)]), label="written")
        assert_that(read["failed"] | beam.Map(lambda d: (os.path.basename(d.resource), d.error_code)),
                    equal_to([("corrupt.avro", "CorruptAvroFile"),
                              ("wrong.avro", "SchemaMismatch")]), label="failed")
