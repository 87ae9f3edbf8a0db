"""Opt-in tests against real AWS: skipped unless asked for and configured.

Set ``BEAM_BATCHPUT_AWS_TESTS=1``, AWS credentials in the standard chain,
``AWS_REGION``, and for each service the resource it may write to:

- ``BEAM_BATCHPUT_SITEWISE_ALIAS``: a SiteWise property alias of type DOUBLE;
- ``BEAM_BATCHPUT_TWINMAKER``: ``workspace/entity/component/property`` (a DOUBLE time series);
- ``BEAM_BATCHPUT_DATAZONE``: ``domainId/ASSET|LISTING/entityId/formName/typeIdentifier``;
- ``BEAM_BATCHPUT_CONNECT``: ``instanceId/dataTableId/attribute/primaryAttribute``;
- ``BEAM_BATCHPUT_IOTEVENTS_INPUT``: an IoT Events input name.

Each test writes a few records and expects receipts for all of them and no
dead letters; SiteWise and TwinMaker are read back.

The replay tests settle what AWS answers when a request that was already
stored is sent again (a retry after a timeout): they send the writer's own
request twice, name the answer (the emulator's ``replay_answer`` that models
it), and then check the writer gives receipts, not dead letters, for values
AWS holds exactly as sent.
"""

import os
import time
import uuid

import apache_beam as beam
import boto3
import pytest
from apache_beam.testing.util import assert_that
from botocore.exceptions import ClientError

from beam_batchput import (
    WriteToConnectDataTable,
    WriteToDataZone,
    WriteToIoTEvents,
    WriteToSiteWise,
    WriteToTwinMaker,
)
from tests.beam_helpers import Collect, pipeline

pytestmark = pytest.mark.aws


def _require(variable):
    if os.environ.get("BEAM_BATCHPUT_AWS_TESTS") != "1":
        pytest.skip("real-AWS tests are opt-in: set BEAM_BATCHPUT_AWS_TESTS=1")
    if boto3.Session().get_credentials() is None:
        pytest.skip("no AWS credentials in the standard chain")
    if not os.environ.get("AWS_REGION"):
        pytest.skip("AWS_REGION is not set")
    value = os.environ.get(variable)
    if not value:
        pytest.skip("%s is not set: no resource to write to" % variable)
    return value


def _write(writer, records):
    key = uuid.uuid4().hex
    with pipeline() as p:
        result = p | beam.Create(records) | writer(region_name=os.environ["AWS_REGION"])
        assert_that(result.written | beam.Map(lambda r: r.item_id), Collect(key + "w"), label="w")
        assert_that(result.failed | beam.Map(lambda d: (d.error_code, d.error_message)),
                    Collect(key + "f"), label="f")
    return Collect.pop(key + "w"), Collect.pop(key + "f")


def test_sitewise_points_are_stored():
    alias = _require("BEAM_BATCHPUT_SITEWISE_ALIAS")
    now = int(time.time())
    written, failed = _write(WriteToSiteWise, [
        {"property_alias": alias, "value": float(n), "timestamp": now - 60 + n} for n in range(12)])
    assert failed == [] and len(written) == 12
    history = boto3.client("iotsitewise").get_asset_property_value_history(
        propertyAlias=alias, startDate=now - 61, endDate=now + 1)
    assert len(history["assetPropertyValueHistory"]) >= 12


def test_twinmaker_values_are_stored():
    workspace, entity, component, prop = _require("BEAM_BATCHPUT_TWINMAKER").split("/")
    now = int(time.time())
    written, failed = _write(WriteToTwinMaker, [
        {"workspace_id": workspace, "entity_id": entity, "component_name": component,
         "property_name": prop, "value": float(n), "timestamp": now - 60 + n} for n in range(12)])
    assert failed == [] and len(written) == 12


def test_datazone_forms_are_posted():
    domain, kind, entity, form, type_id = _require("BEAM_BATCHPUT_DATAZONE").split("/")
    written, failed = _write(WriteToDataZone, [
        {"domain_id": domain, "entity_type": kind, "entity_id": entity, "form_name": form,
         "type_identifier": type_id, "timestamp": time.time() - n, "content": {"n": n}}
        for n in range(3)])
    assert failed == [] and len(written) == 3


def test_connect_values_are_created():
    instance, table, attribute, primary = _require("BEAM_BATCHPUT_CONNECT").split("/")
    run = uuid.uuid4().hex[:8]
    written, failed = _write(WriteToConnectDataTable, [
        {"instance_id": instance, "data_table_id": table, "attribute_name": attribute,
         "value": "v%d" % n, "primary_values": {primary: "%s-%d" % (run, n)}} for n in range(3)])
    assert failed == [] and len(written) == 3


def test_iotevents_messages_are_accepted():
    input_name = _require("BEAM_BATCHPUT_IOTEVENTS_INPUT")
    written, failed = _write(WriteToIoTEvents, [
        {"input_name": input_name, "payload": {"n": n, "run": uuid.uuid4().hex}} for n in range(5)])
    assert failed == [] and len(written) == 5


def _replayed(service, records):
    """Sends the writer's request for ``records`` twice; returns both answers
    (a response, or the ClientError code)."""
    from beam_batchput.core.packing import pack

    client = boto3.client(service.name, region_name=os.environ["AWS_REGION"])
    (request,) = pack([service.item(r) for r in records], service.limits, service.entry_id)
    kwargs = service.build_request(request.scope, request.entries)
    answers = []
    for _ in range(2):
        try:
            answers.append(getattr(client, service.method)(**kwargs))
        except ClientError as error:
            answers.append(error.response["Error"]["Code"])
    return answers


def test_connect_replay_answer_is_one_the_writer_handles():
    from beam_batchput.services.connect import ConnectDataTableService

    instance, table, attribute, primary = _require("BEAM_BATCHPUT_CONNECT").split("/")
    run = uuid.uuid4().hex[:8]
    records = [{"instance_id": instance, "data_table_id": table, "attribute_name": attribute,
                "value": "v%d" % n, "primary_values": {primary: "%s-r%d" % (run, n)}}
               for n in range(2)]
    first, second = _replayed(ConnectDataTableService(), records)
    assert isinstance(first, dict) and len(first["Successful"]) == 2, first
    if isinstance(second, str):
        answer = "exception" if second == "DuplicateResourceException" else second
    elif len(second.get("Successful") or ()) == 2:
        answer = "success"
    else:
        answer = "failed"
    print("connect replay_answer:", answer, second)
    assert answer in ("success", "failed", "exception"), (
        "Connect answers a replay in a way the emulator does not model: %r" % (second,))
    written, failed = _write(WriteToConnectDataTable, records)
    assert failed == [] and len(written) == 2


def test_twinmaker_replay_answer_is_one_the_writer_handles():
    from beam_batchput.services.twinmaker import TwinMakerService

    workspace, entity, component, prop = _require("BEAM_BATCHPUT_TWINMAKER").split("/")
    now = time.time()
    records = [{"workspace_id": workspace, "entity_id": entity, "component_name": component,
                "property_name": prop, "value": float(n), "timestamp": now - 30 + n / 10}
               for n in range(3)]
    first, second = _replayed(TwinMakerService(), records)
    assert isinstance(first, dict) and not first.get("errorEntries"), first
    if isinstance(second, dict) and not second.get("errorEntries"):
        answer = "overwrite"
    else:
        answer = "conflict"
    print("iottwinmaker replay_answer:", answer, second)
    written, failed = _write(WriteToTwinMaker, records)
    assert failed == [] and len(written) == 3
