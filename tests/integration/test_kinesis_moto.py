"""WriteToKinesis against moto's server, an implementation of Kinesis written elsewhere.

Records are read back with ListShards, GetShardIterator and GetRecords.
"""

import json

import apache_beam as beam
import boto3
import pytest
from apache_beam.testing.util import assert_that

from beam_batchput import WriteToKinesis
from beam_batchput.pipelines import avro_to_service
from tests.beam_helpers import Collect, pipeline
from tests.contract.cases import KINESIS
from tests.integration.test_avro_round_trips import write_avro_records

try:
    from moto.server import ThreadedMotoServer
except ImportError as missing:  # pragma: no cover - the test extra installs it
    ThreadedMotoServer = None
    _MISSING = str(missing)

pytestmark = pytest.mark.usefixtures("emulator_credentials")
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture
def moto_endpoint():
    """A moto server on a free loopback port, stopped at teardown."""
    if ThreadedMotoServer is None:
        pytest.fail("moto's server is needed (pip install 'moto[server]', in the test "
                    "extra): %s" % _MISSING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield "http://%s:%d" % (host, port)
    finally:
        server.stop()


def _client(endpoint):
    return boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _read_back(client, stream):
    """Every record of every shard: (shard id, partition key, data bytes)."""
    found = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            found += [(shard["ShardId"], r["PartitionKey"], r["Data"]) for r in page["Records"]]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return found


def _run(records, endpoint, **kwargs):
    """Runs the writer; returns (receipts' records, dead letters' (resource, stage, code)).

    One request at a time: moto's shard assigns a sequence number as "the last
    one plus one" without a lock (its own note: "not safe for concurrency"), so
    two requests at once to one shard can overwrite each other's records.
    """
    with pipeline() as p:
        result = p | beam.Create(records) | WriteToKinesis(
            region_name=REGION, endpoint_url=endpoint, max_in_flight=1, **kwargs)
        assert_that(result.written | beam.Map(lambda r: (r.resource, r.record)),
                    Collect("kinesis-w"), label="written")
        assert_that(result.failed | beam.Map(lambda d: (d.resource, d.stage, d.error_code)),
                    Collect("kinesis-f"), label="failed")
    return sorted(Collect.pop("kinesis-w")), sorted(Collect.pop("kinesis-f"))


def test_records_by_name_and_arn_read_back_once_each_and_bad_ones_are_dead_lettered(
        moto_endpoint):
    client = _client(moto_endpoint)
    client.create_stream(StreamName="orders", ShardCount=2)
    client.create_stream(StreamName="audit", ShardCount=1)
    arn = "arn:aws:kinesis:%s:%s:stream/audit" % (REGION, ACCOUNT)
    orders = [{"stream_name": "orders", "partition_key": "customer-%d" % (n % 37),
               "data": {"order": n, "total": n * 1.5}} for n in range(1100)]
    audit = [{"stream_arn": arn, "partition_key": "k", "data": "line %d" % n} for n in range(30)]
    audit.append({"stream_arn": arn, "partition_key": "bin", "data": b"\x00\xff\x10"})
    bad = [{"stream_name": "orders", "partition_key": "", "data": "x"},
           {"stream_name": "orders", "partition_key": "p", "data": "x",
            "explicit_hash_key": str(2 ** 128)}]
    missing = [{"stream_name": "nowhere", "partition_key": "p", "data": "x"}]
    written, failed = _run(orders + audit + bad + missing, moto_endpoint)

    assert len(written) == len(orders) + len(audit)
    assert failed == [("nowhere", "request", "ResourceNotFoundException"),
                      ("orders", "validation", "InvalidLength"),
                      ("orders", "validation", "InvalidValue")]
    stored_orders = _read_back(client, "orders")
    assert sorted(json.loads(data)["order"] for _, _, data in stored_orders) == list(range(1100))
    keys = {json.loads(data)["order"]: key for _, key, data in stored_orders}
    assert all(keys[n] == "customer-%d" % (n % 37) for n in range(1100))
    assert len({shard for shard, _, _ in stored_orders}) == 2  # spread by partition key
    stored_audit = sorted(data for _, _, data in _read_back(client, "audit"))
    assert stored_audit == sorted([b"\x00\xff\x10"] + [b"line %d" % n for n in range(30)])


def test_explicit_hash_keys_choose_the_shard(moto_endpoint):
    client = _client(moto_endpoint)
    client.create_stream(StreamName="routed", ShardCount=4)
    shards = {s["ShardId"]: int(s["HashKeyRange"]["StartingHashKey"])
              for s in client.list_shards(StreamName="routed")["Shards"]}
    records = [{"stream_name": "routed", "partition_key": "same", "data": {"to": shard},
                "explicit_hash_key": str(start)} for shard, start in shards.items()]
    written, failed = _run(records, moto_endpoint)
    assert failed == [] and len(written) == 4
    assert sorted((shard, json.loads(data)["to"]) for shard, _, data in
                  _read_back(client, "routed")) == sorted((s, s) for s in shards)


def test_large_records_pack_under_the_request_budget(moto_endpoint):
    # Implementation note: moto keeps the limits of before 2025 (1 MiB per
    # record, 5 MiB per request) while the current API reference allows a 10
    # MiB request: the setting brings the writer to moto's budget.
    client = _client(moto_endpoint)
    client.create_stream(StreamName="big", ShardCount=1)
    blob = 1024 * 1024 - 16
    records = [{"stream_name": "big", "partition_key": "p%02d" % n,
                "data": bytes([n]) * blob} for n in range(7)]
    written, failed = _run(records, moto_endpoint, max_request_bytes=5 * 1024 * 1024)
    assert failed == [] and len(written) == 7
    stored = _read_back(client, "big")
    assert sorted(data[0] for _, _, data in stored) == list(range(7))
    assert all(len(data) == blob for _, _, data in stored)


def test_records_read_from_the_avro_schema_are_written(moto_endpoint, tmp_path):
    client = _client(moto_endpoint)
    for n in range(2):
        client.create_stream(StreamName="contract-%d" % n, ShardCount=1)
    write_avro_records(tmp_path / "in.avro", KINESIS, 12)
    options = avro_to_service.AvroToServiceOptions([
        "--avro_input", str(tmp_path / "in.avro"), "--service", "kinesis",
        "--dead_letter_output", str(tmp_path / "dlq"), "--endpoint_url", moto_endpoint,
        "--region_name", REGION, "--max_in_flight", "1"])
    with pipeline() as p:
        avro_to_service.build(p, options)
    stored = _read_back(client, "contract-0") + _read_back(client, "contract-1")
    assert sorted(json.loads(data)["i"] for _, _, data in stored) == list(range(12))
    assert not list(tmp_path.glob("dlq/*.avro"))
