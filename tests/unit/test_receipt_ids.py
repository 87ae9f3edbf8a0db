"""What a receipt names for each service: the item id and target of a record taken,
written out here, and derived ids (IoT Events message ids, DataZone client tokens) that
stay the same from one run to the next (a replay must send a message or request under the
id it had)."""

import pytest

from beam_batchput.core.packing import pack
from beam_batchput.services.connect import ConnectDataTableService
from beam_batchput.services.datazone import DataZoneService
from beam_batchput.services.iotevents import IoTEventsService, derived_message_id
from beam_batchput.services.kinesis import KinesisService
from beam_batchput.services.sitewise import SiteWiseService
from beam_batchput.services.twinmaker import TwinMakerService
from tests.clocks import FakeClock

NOW = 1_700_000_000
ASSET = "a1b2c3d4-0000-4000-8000-000000000001"
PROP = "a1b2c3d4-0000-4000-8000-000000000002"

_IDS = [
    (SiteWiseService(clock=FakeClock(NOW)),
     {"property_alias": "/farm/t1", "value": 1.5, "timestamp": NOW - 0.25},
     "/farm/t1@1699999999.750000000", "/farm/t1"),
    (SiteWiseService(clock=FakeClock(NOW)),
     {"property_alias": "/farm/t1", "value": 1.5, "timestamp": NOW - 1, "quality": "BAD"},
     "/farm/t1@1699999999.000000000", "/farm/t1"),
    (SiteWiseService(clock=FakeClock(NOW)),
     {"asset_id": ASSET, "property_id": PROP, "value": 7, "timestamp": NOW},
     "%s/%s@1700000000.000000000" % (ASSET, PROP), "%s/%s" % (ASSET, PROP)),
    (SiteWiseService(clock=FakeClock(NOW)),
     {"property_alias": "/farm/t1", "value": None, "value_type": "STRING",
      "quality": "UNCERTAIN", "timestamp": "2023-11-14T22:13:19.5Z"},
     "/farm/t1@1699999999.500000000", "/farm/t1"),
    (TwinMakerService(),
     {"workspace_id": "ws1", "entity_id": "pump-1", "component_name": "telemetry",
      "property_name": "rpm", "value": 1.5, "timestamp": 1_700_000_000.25},
     "pump-1/telemetry/rpm@2023-11-14T22:13:20.250000000Z", "ws1/pump-1/telemetry/rpm"),
    (TwinMakerService(),
     {"workspace_id": "ws1", "entity_id": "pump-1", "component_path": "a/b",
      "property_name": "rpm", "value": {"k": [1, "x"]},
      "timestamp": "2023-11-14T22:13:20.123456789Z"},
     "pump-1/a/b/rpm@2023-11-14T22:13:20.123456789Z", "ws1/pump-1/a/b/rpm"),
    (ConnectDataTableService(),
     {"instance_id": "inst-1", "data_table_id": "tbl-1", "attribute_name": "colour",
      "value": "red", "primary_values": {"site": "b", "id": "7"}},
     "tbl-1/id=7,site=b/colour", "inst-1/tbl-1"),
    (ConnectDataTableService(),
     {"instance_id": "inst-1", "data_table_id": "tbl-1", "attribute_name": "colour",
      "value": "red"},
     "tbl-1//colour", "inst-1/tbl-1"),
    (DataZoneService(),
     {"domain_id": "dzd_abc", "entity_type": "ASSET", "entity_id": "asset1",
      "form_name": "Metrics", "type_identifier": "amazon.datazone.Metric",
      "timestamp": 1_700_000_000.0015},
     "dzd_abc/ASSET/asset1/Metrics@2023-11-14T22:13:20.002Z", "dzd_abc/ASSET/asset1/Metrics"),
    (IoTEventsService(), {"input_name": "in1", "payload": "hi", "message_id": "m1"},
     "m1", "in1"),
    (IoTEventsService(), {"input_name": "in1", "payload": {"a": 1}, "timestamp": NOW + 0.0005},
     "219bd60fa70f57cd07028c8481ca681d", "in1"),
    (KinesisService(),
     {"stream_name": "s1", "partition_key": "k", "data": "hé", "explicit_hash_key": 5},
     "09192c775a62abcf1f60d974816414b1", "s1"),
]


@pytest.mark.parametrize("service, record, item_id, resource", _IDS)
def test_a_receipt_names_the_value_and_its_target(service, record, item_id, resource):
    item = service.item(record)
    assert (item.item_id, item.resource) == (item_id, resource)


def test_a_derived_message_id_counts_the_element_timestamp_and_stays_fixed():
    service = IoTEventsService()
    item = service.item({"input_name": "in1", "payload": {"a": 1}, "timestamp": NOW + 0.0005})
    assert item.payload["timestamp"] == {"timeInMillis": 1_700_000_000_001}
    item.event_time = 1_700_000_000_000_000
    stamped = service.with_event_time(item)
    assert stamped.item_id == stamped.payload["messageId"] == "6ddd84a6ed73d7f9cc14e412fd7e5617"
    assert service.shard_key(stamped) == "6ddd84a6ed73d7f9cc14e412fd7e5617"


def test_a_given_message_id_is_kept_whatever_the_element_timestamp():
    service = IoTEventsService()
    item = service.item({"input_name": "in1", "payload": "hi", "message_id": "m1"})
    item.event_time = 1_700_000_000_000_000
    assert service.with_event_time(item).payload["messageId"] == "m1"


def test_datazone_sends_the_form_at_the_millisecond_with_content_as_compact_json():
    item = DataZoneService().item({
        "domain_id": "dzd_abc", "entity_type": "LISTING", "entity_id": "l1",
        "form_name": "Metrics", "type_identifier": "amazon.datazone.Metric",
        "timestamp": 1_700_000_000.0015, "content": {"b": 1, "a": 2}, "type_revision": "3"})
    assert item.payload == {"formName": "Metrics", "typeIdentifier": "amazon.datazone.Metric",
                            "timestamp": 1_700_000_000.002, "typeRevision": "3",
                            "content": '{"a":2,"b":1}'}
    assert item.scope == ("dzd_abc", "LISTING", "l1")


def test_kinesis_sends_text_as_utf8_and_counts_the_key_in_the_size():
    item = KinesisService().item({"stream_arn": "arn:aws:kinesis:us-east-1:123456789012:"
                                                "stream/s1", "partition_key": "ké",
                                  "data": "hé"})
    assert item.payload == {"Data": b"h\xc3\xa9", "PartitionKey": "ké"}
    assert (item.scope, item.size) == (
        ("StreamARN", "arn:aws:kinesis:us-east-1:123456789012:stream/s1"), 6)


def _form(timestamp):
    return {"domain_id": "dzd_abc", "entity_type": "ASSET", "entity_id": "asset1",
            "form_name": "Metrics", "type_identifier": "amazon.datazone.Metric",
            "timestamp": timestamp}


@pytest.mark.parametrize("timestamp, sent, token", [
    # Whole seconds go as an int: the client token hashes the form as sent.
    (1_700_000_000, 1_700_000_000,
     "c3050aae16b5c9b4e76cf3e05e8b5aabeb4f339ff9b851ab58c2a6a7d280d1af"),
    # 1,699,999,999,698 ms is a multiple of 1,001: the milliseconds still go.
    (1_699_999_999.698, 1_699_999_999.698,
     "a738fcc68edcb3a8660aa421276707d81432e59fa3d4a3bfbcea013f66725280"),
])
def test_a_datazone_request_carries_the_same_client_token_every_time(timestamp, sent, token):
    service = DataZoneService()
    (request,) = pack([service.item(_form(timestamp))], service.limits, service.entry_id)
    body = service.build_request(request.scope, request.entries)
    (form,) = body["forms"]
    assert (form["timestamp"], type(form["timestamp"])) == (sent, type(sent))
    assert body["clientToken"] == token



def test_derived_message_id_gives_the_id_the_writer_sends():
    # Input name, payload, message time (ms) and element time (µs) of the record above.
    assert derived_message_id("in1", b'{"a":1}', 1_700_000_000_001,
                              1_700_000_000_000_000) == "6ddd84a6ed73d7f9cc14e412fd7e5617"
    # Each of the four counts.
    assert len({derived_message_id(*parts) for parts in [
        ("in1", b'{"a":1}', 1_700_000_000_001, 1_700_000_000_000_000),
        ("in2", b'{"a":1}', 1_700_000_000_001, 1_700_000_000_000_000),
        ("in1", b'{"a":2}', 1_700_000_000_001, 1_700_000_000_000_000),
        ("in1", b'{"a":1}', None, 1_700_000_000_000_000),
        ("in1", b'{"a":1}', 1_700_000_000_001, 0)]}) == 5
