"""Kinesis records: validation, limits, position matching, retry classes, one real client."""

import base64
import json
import random

import botocore.session
import botocore.validate
import pytest

from beam_batchput import RetryConfig, Stage
from beam_batchput.core.packing import pack
from beam_batchput.core.sender import RequestSender
from beam_batchput.core.service import InvalidRecord
from beam_batchput.core.verdict import NOT_CONFIRMED_CODE, UNMATCHED_ERROR_CODE, settle_response
from beam_batchput.services import kinesis
from beam_batchput.services.kinesis import (
    DEFAULT_MAX_RECORD_BYTES,
    MAX_RECORDS_PER_REQUEST,
    RESULT_COUNT_MISMATCH_CODE,
    KinesisService,
)
from beam_batchput.writers import WriteToKinesis
from tests import fakes
from tests.clocks import FakeClock
from tests.model_checks import constraint_violations

MODEL = botocore.session.get_session().get_service_model("kinesis")
OPERATION = MODEL.operation_model("PutRecords")
ARN = "arn:aws:kinesis:eu-west-1:123456789012:stream/orders"


def record(**fields):
    base = {"stream_name": "orders", "partition_key": "k1", "data": b"\x00\xffbinary"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def refused(service, rec):
    with pytest.raises(InvalidRecord) as caught:
        service.item(rec)
    return caught.value.code


def assert_valid_request(kwargs):
    """Within the model: botocore's own checks and the ones it skips (max, pattern)."""
    shape = OPERATION.input_shape
    report = botocore.validate.ParamValidator().validate(kwargs, shape)
    assert not report.has_errors(), report.generate_report()
    assert constraint_violations(kwargs, shape) == []


def test_the_limits_match_the_model():
    records = OPERATION.input_shape.members["Records"]
    entry = records.member.members
    assert records.metadata["max"] == MAX_RECORDS_PER_REQUEST == 500
    assert entry["Data"].metadata["max"] == kinesis.MAX_RECORD_BYTES == 10 * 1024 * 1024
    assert entry["PartitionKey"].metadata == {"min": 1, "max": 256}
    assert kinesis.MAX_STREAM_NAME_LENGTH == OPERATION.input_shape.members[
        "StreamName"].metadata["max"]
    assert kinesis.MAX_STREAM_ARN_LENGTH == OPERATION.input_shape.members[
        "StreamARN"].metadata["max"]
    # The stream's own record limit: UpdateMaxRecordSize takes 1024-10240 KiB.
    size = MODEL.shape_for("MaxRecordSizeInKiB").metadata
    assert size == {"min": 1024, "max": 10240}
    assert DEFAULT_MAX_RECORD_BYTES == size["min"] * 1024
    assert KinesisService().limits.max_request_bytes == 10 * 1024 * 1024


def test_data_bytes_text_and_json_and_the_size_counts_the_partition_key():
    service = KinesisService()
    as_bytes = service.item(record())
    assert as_bytes.payload == {"Data": b"\x00\xffbinary", "PartitionKey": "k1"}
    assert as_bytes.scope == ("StreamName", "orders") and as_bytes.resource == "orders"
    text = service.item(record(data="héllo", partition_key="ключ"))
    assert text.payload["Data"] == "héllo".encode("utf-8")
    assert text.size == len("héllo".encode()) + len("ключ".encode())
    as_json = service.item(record(data={"b": 1, "a": [1, 2]}))
    assert as_json.payload["Data"] == b'{"a":[1,2],"b":1}'
    assert service.item(record(data=b"")).size == 2  # empty data is allowed (min 0)


def test_stream_name_or_arn_exactly_one():
    service = KinesisService()
    by_arn = service.item(record(stream_name=None, stream_arn=ARN))
    assert by_arn.scope == ("StreamARN", ARN)
    assert refused(service, record(stream_arn=ARN)) == "InvalidRecord"
    assert refused(service, record(stream_name=None)) == "InvalidRecord"
    assert refused(service, record(stream_name="has space")) == "InvalidPattern"
    assert refused(service, record(stream_name="s" * 129)) == "InvalidLength"
    assert refused(service, record(stream_name=None,
                                   stream_arn="arn:aws:sqs:eu-west-1:1:q")) == "InvalidPattern"
    # The model allows 2,048 characters of ARN.
    long_arn = ARN + "x" * (2048 - len(ARN))
    assert service.item(record(stream_name=None, stream_arn=long_arn)).scope[1] == long_arn
    assert refused(service, record(stream_name=None, stream_arn=long_arn + "x")) == \
        "InvalidLength"


def test_partition_keys_are_1_to_256_characters_of_valid_text():
    service = KinesisService()
    assert service.item(record(partition_key="é" * 256)).size == 512 + 8
    assert refused(service, record(partition_key="é" * 257)) == "InvalidLength"
    assert refused(service, record(partition_key="")) == "InvalidLength"
    assert refused(service, record(partition_key=None)) == "MissingField"
    assert refused(service, record(partition_key=7)) == "InvalidType"
    assert refused(service, record(partition_key="a\ud800")) == "InvalidEncoding"


def test_bad_data_and_unknown_fields_are_refused():
    service = KinesisService()
    assert refused(service, record(data=None)) == "MissingField"
    assert refused(service, record(data=12)) == "InvalidType"
    assert refused(service, record(data="\udfff")) == "InvalidEncoding"
    assert refused(service, record(data={"x": float("nan")})) == "InvalidJson"
    assert refused(service, record(sequence_number_for_ordering="1")) == "UnknownField"


def test_explicit_hash_keys_are_128_bit_decimals():
    service = KinesisService()
    top = 2 ** 128 - 1
    assert service.item(record(explicit_hash_key=str(top))).payload["ExplicitHashKey"] == str(top)
    assert service.item(record(explicit_hash_key=0)).payload["ExplicitHashKey"] == "0"
    for bad in (str(2 ** 128), "01", "-1", "1.5", ""):
        assert refused(service, record(explicit_hash_key=bad)) == "InvalidValue", bad
    assert refused(service, record(explicit_hash_key=True)) == "InvalidType"
    assert "ExplicitHashKey" not in service.item(record()).payload


def test_records_over_the_record_limit_are_refused_before_sending():
    service = KinesisService(max_record_bytes=1024 * 1024)
    key = "k" * 10
    assert service.item(record(partition_key=key, data=b"x" * (1024 * 1024 - 10)))
    with pytest.raises(InvalidRecord, match="1048577 bytes") as caught:
        service.item(record(partition_key=key, data=b"x" * (1024 * 1024 - 9)))
    assert caught.value.code == "PayloadTooLarge" and caught.value.resource == "orders"
    raised = KinesisService(max_record_bytes=10 * 1024 * 1024)
    assert raised.item(record(data=b"x" * (5 * 1024 * 1024))).size == 5 * 1024 * 1024 + 2


@pytest.mark.parametrize("kwargs, match", [
    ({"max_record_bytes": 10 * 1024 * 1024 + 1}, "max_record_bytes must be at most"),
    ({"max_request_bytes": 0}, "max_request_bytes"),
    ({"max_request_bytes": 10 * 1024 * 1024 + 1},
     r"max_request_bytes must be at most 10485760 bytes \(the PutRecords limit\)"),
    ({"max_record_bytes": True}, "max_record_bytes"),
    ({"max_record_bytes": 2048, "max_request_bytes": 1024}, "must not exceed"),
])
def test_settings_are_checked_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KinesisService(**kwargs)
    with pytest.raises(ValueError, match=match):
        WriteToKinesis(**kwargs)


def test_requests_stay_within_500_records_the_byte_budget_and_one_stream():
    service = KinesisService(max_record_bytes=4096, max_request_bytes=64 * 1024)
    rng = random.Random(3)
    records = [record(stream_name="s%d" % (i % 3), partition_key="p%d" % i,
                      data=b"x" * rng.randrange(0, 4000)) for i in range(1500)]
    items = [service.item(r) for r in records]
    requests = pack(items, service.limits, service.entry_id)
    assert sum(len(r.items) for r in requests) == 1500
    for request in requests:
        kwargs = service.build_request(request.scope, request.entries)
        assert_valid_request(kwargs)
        assert set(kwargs) == {"StreamName", "Records"}
        assert len(kwargs["Records"]) <= 500
        assert sum(len(r["Data"]) + len(r["PartitionKey"]) for r in kwargs["Records"]) <= 65536
        assert {it.scope for it in request.items} == {("StreamName", kwargs["StreamName"])}
    by_arn = service.item(record(stream_name=None, stream_arn=ARN, explicit_hash_key="42"))
    (request,) = pack([by_arn], service.limits, service.entry_id)
    kwargs = service.build_request(request.scope, request.entries)
    assert_valid_request(kwargs)
    assert kwargs == {"StreamARN": ARN, "Records": [
        {"Data": b"\x00\xffbinary", "PartitionKey": "k1", "ExplicitHashKey": "42"}]}


def test_ids_and_packing_are_stable_across_orders():
    service = KinesisService()
    records = [record(partition_key="p%d" % (i % 7), data={"i": i}) for i in range(1200)]
    shuffled = list(records)
    random.Random(1).shuffle(shuffled)

    def sent(recs):
        items = [service.item(r) for r in recs]
        return [service.build_request(r.scope, r.entries)
                for r in pack(items, service.limits, service.entry_id)]

    assert sent(records) == sent(shuffled)
    assert service.item(records[0]).item_id == service.item(dict(records[0])).item_id
    assert service.item(records[0]).item_id != service.item(records[7]).item_id
    # The same data is another record on another stream, key or hash key.
    ids = {service.item(record(**change)).item_id for change in (
        {}, {"stream_name": "other"}, {"partition_key": "k2"},
        {"explicit_hash_key": "1"}, {"explicit_hash_key": "2"})}
    assert len(ids) == 5


def _request(n, **fields):
    service = KinesisService()
    items = [service.item(record(partition_key="p%03d" % i, data={"i": i}, **fields))
             for i in range(n)]
    (request,) = pack(items, service.limits, service.entry_id)
    return service, request


def test_results_are_matched_by_position():
    service, request = _request(4)
    results = [{"SequenceNumber": "1", "ShardId": "shardId-0"},
               {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"},
               {"SequenceNumber": "2", "ShardId": "shardId-0"},
               {"ErrorCode": "InternalFailure", "ErrorMessage": "oops"}]
    verdict = settle_response(service, request, {"FailedRecordCount": 2, "Records": results})
    items = request.items
    assert verdict.written == [items[0], items[2]]
    assert verdict.failed == [(items[1], "ProvisionedThroughputExceededException", "slow"),
                              (items[3], "InternalFailure", "oops")]


def test_a_result_without_a_sequence_number_is_never_a_success():
    service, request = _request(3)
    response = {"Records": [{"SequenceNumber": "1"}, {}, {"ShardId": "shardId-0"}]}
    verdict = settle_response(service, request, response)
    assert verdict.written == [request.items[0]]
    assert [(item, code) for item, code, _ in verdict.failed] == [
        (request.items[1], NOT_CONFIRMED_CODE), (request.items[2], NOT_CONFIRMED_CODE)]


@pytest.mark.parametrize("response", [
    {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"}] * 2},
    {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"}] * 4},
    {"FailedRecordCount": 0},
    {"Records": None},
])
def test_an_answer_of_another_length_places_no_record(response):
    service, request = _request(3)
    (unmatched,) = service.failures(request, response)
    assert unmatched.code == RESULT_COUNT_MISMATCH_CODE
    assert list(unmatched.candidates) == request.items
    verdict = settle_response(service, request, response)
    assert verdict.written == [] and verdict.unmatched_errors == 1
    assert [item for item, _, _ in verdict.failed] == request.items
    assert {code for _, code, _ in verdict.failed} == {UNMATCHED_ERROR_CODE}


def test_retry_classes_follow_the_model():
    service = KinesisService()
    errors = {shape.name for shape in OPERATION.error_shapes}
    retryable = {"ProvisionedThroughputExceededException", "InternalFailureException",
                 "KMSThrottlingException"}
    assert retryable <= errors
    for code in errors:
        assert service.is_retryable(code) == (code in retryable), code
        assert (code in service.non_retryable_codes) == (code not in retryable), code
    for code in ("ProvisionedThroughputExceededException", "InternalFailure"):  # per record
        assert service.is_retryable(code)
    assert service.is_throttling("KMSThrottlingException")
    assert service.is_throttling("ProvisionedThroughputExceededException")
    assert not service.is_throttling("InternalFailure")


def _kinesis_client():
    return botocore.session.get_session().create_client(
        "kinesis", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="test", aws_secret_access_key="test")


class _Answers:
    """Answers PutRecords from a plan per call: record index -> per-record error
    code, or (status, error type) for a whole-request error."""

    def __init__(self, plans):
        self.plans = list(plans)

    def __call__(self, request):
        body = json.loads(request.body)
        plan = self.plans.pop(0) if self.plans else {}
        if isinstance(plan, tuple):
            status, code = plan
            return status, json.dumps({"__type": code, "message": "injected"}).encode()
        results = []
        for position, entry in enumerate(body["Records"]):
            code = plan.get(json.loads(base64.b64decode(entry["Data"]))["i"])
            results.append({"ErrorCode": code, "ErrorMessage": "injected"} if code else
                           {"SequenceNumber": str(1000 + position), "ShardId": "shardId-0"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return 200, json.dumps({"FailedRecordCount": failed, "Records": results}).encode()


def _send(plans, n=5, **retry):
    client = _kinesis_client()
    sent = fakes.answer_each(client, _Answers(plans))
    service, request = _request(n)
    sender = RequestSender(service, RetryConfig(**retry), clock=FakeClock(), random=lambda: 1.0)
    outcome = sender.send(client, request)
    bodies = [json.loads(r.body) for r in sent]
    indices = [[json.loads(base64.b64decode(r["Data"]))["i"] for r in body["Records"]]
               for body in bodies]
    return outcome, indices, bodies


def test_a_real_client_retries_only_the_positions_that_failed():
    plans = [{1: "ProvisionedThroughputExceededException", 3: "InternalFailure"},
             {3: "ProvisionedThroughputExceededException"}]
    outcome, indices, bodies = _send(plans)
    assert indices == [[0, 1, 2, 3, 4], [1, 3], [3]]
    assert all(body["StreamName"] == "orders" for body in bodies)
    assert sorted(s.attempts for s in outcome.written) == [1, 1, 1, 2, 3]
    assert outcome.failed == [] and outcome.retried_items == 3


def test_throttled_records_are_dead_lettered_when_the_attempts_run_out():
    plans = [{2: "ProvisionedThroughputExceededException"}] * 3
    outcome, indices, _ = _send(plans, max_attempts=3)
    assert indices == [[0, 1, 2, 3, 4], [2], [2]]
    (failed,) = outcome.failed
    assert (failed.code, failed.stage, failed.attempts) == (
        "ProvisionedThroughputExceededException", Stage.RETRIES_EXHAUSTED, 3)
    assert outcome.throttled_seconds > 0


def test_kms_throttling_of_the_whole_request_is_retried():
    outcome, indices, _ = _send([(400, "KMSThrottlingException")])
    assert indices == [[0, 1, 2, 3, 4]] * 2
    assert len(outcome.written) == 5 and outcome.request_errors == 1


@pytest.mark.parametrize("code", ["KMSAccessDeniedException", "KMSNotFoundException",
                                  "ResourceNotFoundException", "AccessDeniedException",
                                  "KMSDisabledException"])
def test_denied_and_missing_streams_or_keys_dead_letter_the_request_at_once(code):
    outcome, indices, _ = _send([(400, code)])
    assert indices == [[0, 1, 2, 3, 4]]
    assert outcome.written == []
    assert {(s.code, s.stage, s.attempts) for s in outcome.failed} == {(code, Stage.REQUEST, 1)}


def test_a_request_refused_as_invalid_is_halved_until_the_bad_record_stands_alone():
    def respond(request):
        body = json.loads(request.body)
        numbers = [json.loads(base64.b64decode(r["Data"]))["i"] for r in body["Records"]]
        if 2 in numbers:  # e.g. over the stream's own MaxRecordSize
            return 400, b'{"__type": "InvalidArgumentException", "message": "too big"}'
        return 200, json.dumps({"FailedRecordCount": 0, "Records": [
            {"SequenceNumber": str(n), "ShardId": "shardId-0"} for n in numbers]}).encode()

    client = _kinesis_client()
    sent = fakes.answer_each(client, respond)
    service, request = _request(5)
    outcome = RequestSender(service, RetryConfig(), clock=FakeClock(),
                            random=lambda: 1.0).send(client, request)
    assert len(outcome.written) == 4
    (refused,) = outcome.failed
    assert json.loads(refused.item.payload["Data"])["i"] == 2
    assert (refused.code, refused.stage) == ("InvalidArgumentException", Stage.REQUEST)
    assert len(sent) > 2  # halves, not one request per record from the start
