"""Avro round trips against the emulator: records → Avro → writer → emulator, and
dead letters → Avro → fastavro → redrive → emulator, every record accounted for."""

import datetime
import glob
import json
import os
import time

import fastavro
import pytest

from beam_batchput import registry
from beam_batchput.avro import load_schema
from beam_batchput.writers import WRITERS
from pipelines import avro_to_service, redrive
from tests.beam_helpers import pipeline
from tests.contract.cases import CASES

NOW = int(time.time())


pytestmark = pytest.mark.usefixtures("emulator_credentials")


def as_avro(record, schema_name):
    """A contract record in the shape its Avro schema holds."""
    out = dict(record)
    if "timestamp" in out and out["timestamp"] is not None:
        out["timestamp"] = datetime.datetime.fromtimestamp(out["timestamp"], datetime.timezone.utc)
    if schema_name == "iotevents_record":
        out["payload"] = json.dumps(out["payload"], sort_keys=True).encode()
    if schema_name == "datazone_record":
        out["content"] = json.dumps(out["content"], sort_keys=True)
    if schema_name == "kinesis_record":
        out["data"] = json.dumps(out["data"], sort_keys=True).encode()
    return out


def write_avro_records(path, case, count):
    """``count`` valid records of ``case``, written to ``path`` with the writer's schema."""
    schema = WRITERS[case.service_name].schema
    records = [as_avro(case.valid(i, NOW - 600), schema) for i in range(count)]
    with open(path, "wb") as handle:
        fastavro.writer(handle, load_schema(schema), records)


# Kinesis, which the emulator does not serve, has its round trip against moto
# in test_kinesis_moto.py.
@pytest.mark.parametrize("case", [c for c in CASES if registry.spec(c.name).emulator_handler],
                         ids=lambda c: c.name)
def test_every_writer_takes_records_read_from_its_avro_schema(case, tmp_path, emulator):
    info = WRITERS[case.service_name]
    write_avro_records(tmp_path / "in.avro", case, 12)
    options = avro_to_service.AvroToServiceOptions([
        "--avro_input", str(tmp_path / "in.avro"), "--service", info.short_name,
        "--dead_letter_output", str(tmp_path / "dlq"), "--endpoint_url", emulator.endpoint_url,
        "--region_name", "us-east-1"])
    with pipeline() as p:
        avro_to_service.build(p, options)
    stored = emulator.snapshot()[case.service_name]
    count = sum(len(rows) for inner in stored.values() for rows in inner.values())
    assert count == 12
    assert glob.glob(str(tmp_path / "dlq" / "*.avro")) == []


def test_dead_letters_redriven_after_the_resource_exists_are_all_stored(tmp_path, emulator_factory):
    aliases = ["/rt/p%d" % n for n in range(4)]
    records = [{"property_alias": aliases[n % 4], "value": float(n),
                "timestamp": datetime.datetime.fromtimestamp(NOW - 100 + n, datetime.timezone.utc)}
               for n in range(40)]
    records.append({"property_alias": "/rt/bad", "value": 5e12,
                    "timestamp": datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc)})
    with open(tmp_path / "in.avro", "wb") as handle:
        fastavro.writer(handle, load_schema("sitewise_record"), records)

    before = emulator_factory(config={"iotsitewise": {"property_aliases": aliases[:3]}})
    dlq = str(tmp_path / "dlq")
    with pipeline() as p:
        avro_to_service.build(p, avro_to_service.AvroToServiceOptions([
            "--avro_input", str(tmp_path / "in.avro"), "--service", "sitewise",
            "--dead_letter_output", dlq, "--endpoint_url", before.endpoint_url,
            "--region_name", "us-east-1"]))
    stored_before = before.snapshot()["iotsitewise"]["values"]
    letters = []
    for path in glob.glob(os.path.join(dlq, "*.avro")):
        with open(path, "rb") as handle:
            letters.extend(fastavro.reader(handle))
    assert sorted((l["resource"], l["error_code"]) for l in letters) == sorted(
        [("/rt/p3", "ResourceNotFoundException")] * 10 + [("/rt/bad", "ValueOutOfRange")])
    assert sum(len(v) for v in stored_before.values()) == 30

    after = emulator_factory(config={"iotsitewise": {"property_aliases": aliases}})
    again = str(tmp_path / "again")
    with pipeline() as p:
        redrive.build(p, redrive.RedriveOptions([
            "--dead_letters", os.path.join(dlq, "*.avro"), "--redrive_output", again,
            "--endpoint_url", after.endpoint_url, "--region_name", "us-east-1"]))
    stored_after = after.snapshot()["iotsitewise"]["values"]
    assert sorted(v["value"]["doubleValue"] for v in stored_after["/rt/p3"]) == [
        float(n) for n in range(3, 40, 4)]
    relapsed = []
    for path in glob.glob(os.path.join(again, "*.avro")):
        with open(path, "rb") as handle:
            relapsed.extend(fastavro.reader(handle))
    # The invalid record fails again, with the same reason; nothing else does.
    assert [(l["resource"], l["error_code"]) for l in relapsed] == [("/rt/bad", "ValueOutOfRange")]
    # Every one of the 41 records: 30 + 10 stored, 1 dead-lettered again.
    assert sum(len(v) for v in stored_before.values()) + len(stored_after["/rt/p3"]) + len(relapsed) == 41
