"""Every writer end to end: real boto3 over HTTP to the emulator, then read back."""

import base64
import json
import time

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that

from beam_batchput import (
    WriteToConnectDataTable,
    WriteToDataZone,
    WriteToIoTEvents,
    WriteToSiteWise,
    WriteToTwinMaker,
)
from tests.beam_helpers import Collect, pipeline

NOW = int(time.time())
INSTANCE = "7f8e9d0c-1b2a-4c3d-8e4f-5a6b7c8d9e0f"


pytestmark = pytest.mark.usefixtures("emulator_credentials")


def run_writer(writer, records, endpoint_url):
    """Runs the writer; returns (receipt item ids, dead-letter (resource, stage, code))."""
    key = writer.__name__
    with pipeline() as p:
        result = p | beam.Create(records) | writer(region_name="us-east-1",
                                                   endpoint_url=endpoint_url)
        assert_that(result.written | beam.Map(lambda r: r.item_id), Collect(key + "w"),
                    label="written")
        assert_that(result.failed | beam.Map(lambda d: (d.resource, d.stage, d.error_code)),
                    Collect(key + "f"), label="failed")
    return sorted(Collect.pop(key + "w")), sorted(Collect.pop(key + "f"))


def test_sitewise_every_written_point_reads_back(emulator_factory, aws_client):
    aliases = ["/e2e/t%d/power" % t for t in range(3)]
    emulator = emulator_factory(config={"iotsitewise": {"property_aliases": aliases}})
    records = [{"property_alias": a, "value": float(n), "timestamp": NOW - 300 + n}
               for a in aliases for n in range(25)]
    records += [{"property_alias": "/e2e/t9/power", "value": 1.0, "timestamp": NOW},
                {"property_alias": "/e2e/t0/power", "value": 1e11, "timestamp": NOW}]
    written, failed = run_writer(WriteToSiteWise, records, emulator.endpoint_url)
    assert len(written) == 75
    assert failed == [("/e2e/t0/power", "validation", "ValueOutOfRange"),
                      ("/e2e/t9/power", "entry", "ResourceNotFoundException")]
    client = aws_client("iotsitewise", emulator.endpoint_url)
    for a in aliases:
        history = client.get_asset_property_value_history(
            propertyAlias=a, startDate=NOW - 400, endDate=NOW + 60, maxResults=100)
        values = sorted(v["value"]["doubleValue"] for v in history["assetPropertyValueHistory"])
        assert values == [float(n) for n in range(25)]


def test_twinmaker_values_read_back(emulator_factory):
    emulator = emulator_factory(config={"iottwinmaker": {"workspaces": {"plant": {"entities": {
        "pump-1": {"components": {"telemetry": ["flow"]}}}}}}})
    records = [{"workspace_id": "plant", "entity_id": "pump-1", "component_name": "telemetry",
                "property_name": "flow", "value": float(n), "timestamp": NOW - 100 + n}
               for n in range(23)]
    records.append({"workspace_id": "plant", "entity_id": "pump-2", "component_name": "telemetry",
                    "property_name": "flow", "value": 1.0, "timestamp": NOW})
    written, failed = run_writer(WriteToTwinMaker, records, emulator.endpoint_url)
    assert len(written) == 23
    assert [(stage, code) for _, stage, code in failed] == [("entry", "ResourceNotFoundException")]
    stored = emulator.snapshot()["iottwinmaker"]["values"]["plant/pump-1/telemetry/flow"]
    assert sorted(v["value"]["doubleValue"] for v in stored) == [float(n) for n in range(23)]


def test_datazone_forms_read_back_and_unknown_entity_dead_letters(emulator_factory):
    emulator = emulator_factory(config={"datazone": {"domains": {"dzd_e2e": {"entities": {
        "asset01": "ASSET"}}}}})
    records = [{"domain_id": "dzd_e2e", "entity_type": "ASSET", "entity_id": "asset01",
                "form_name": "quality", "type_identifier": "amazon.datazone.DataQualityResultFormType",
                "timestamp": NOW - 100 + n, "content": {"n": n}} for n in range(14)]
    records.append(dict(records[0], entity_id="asset99"))
    written, failed = run_writer(WriteToDataZone, records, emulator.endpoint_url)
    assert len(written) == 14
    assert [(stage, code) for _, stage, code in failed] == [("request", "ResourceNotFoundException")]
    stored = emulator.snapshot()["datazone"]["dataPoints"]["dzd_e2e/ASSET/asset01"]
    assert sorted(json.loads(f["content"])["n"] for f in stored) == list(range(14))


def test_connect_values_read_back(emulator_factory):
    emulator = emulator_factory(config={"connect": {"instances": {INSTANCE: {"data_tables": {
        "routing": {"attributes": {"queue": {"type": "TEXT", "primary": True},
                                   "priority": {"type": "TEXT"}}}}}}}})
    records = [{"instance_id": INSTANCE, "data_table_id": "routing", "attribute_name": "priority",
                "value": "p%d" % n, "primary_values": {"queue": "q%02d" % n}} for n in range(30)]
    records.append(dict(records[0], attribute_name="colour", primary_values={"queue": "qx"}))
    written, failed = run_writer(WriteToConnectDataTable, records, emulator.endpoint_url)
    assert len(written) == 30
    assert [stage for _, stage, _ in failed] == ["entry"]
    stored = emulator.snapshot()["connect"]["values"]["%s/routing" % INSTANCE]
    assert sorted(v["Value"] for v in stored) == sorted("p%d" % n for n in range(30))


def test_iotevents_messages_read_back_once_each(emulator_factory):
    emulator = emulator_factory(config={"iotevents-data": {"inputs": ["pressureInput"]}})
    records = [{"input_name": "pressureInput", "payload": {"sensor": n, "kpa": 100 + n}}
               for n in range(27)]
    records.append({"input_name": "missingInput", "payload": b"{}"})
    written, failed = run_writer(WriteToIoTEvents, records, emulator.endpoint_url)
    assert len(written) == 27 and len(set(written)) == 27
    assert [(stage, code) for _, stage, code in failed] == [("entry", "ResourceNotFoundException")]
    stored = emulator.snapshot()["iotevents-data"]["messages"]["pressureInput"]
    payloads = sorted(json.loads(base64.b64decode(m["payload"]))["sensor"] for m in stored)
    assert payloads == list(range(27))
    for entry in emulator.requests():
        if entry["operation"] == "BatchPutMessage" and entry["status"] == 200:
            assert len(entry["request"]["messages"]) <= 10
