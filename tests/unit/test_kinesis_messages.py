"""The reasons Kinesis refusals give: each refused record's code, message and target,
word for word as a dead letter carries them; the settings' errors; and the message of an
answer that does not hold one result per record."""

import pytest

from beam_batchput.core.packing import pack
from beam_batchput.core.service import Failure, Unmatched
from beam_batchput.services.kinesis import KinesisService
from tests.refusals import refusal

MIB = 1024 * 1024


def _record(**fields):
    record = {"stream_name": "s1", "partition_key": "k", "data": b"x"}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


_REFUSED = [
    (_record(stream_name=...), "InvalidRecord",
     "give exactly one of 'stream_name' and 'stream_arn'", ""),
    (_record(stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/s1"), "InvalidRecord",
     "give exactly one of 'stream_name' and 'stream_arn'", ""),
    (_record(stream_name="s s"), "InvalidPattern",
     "field 'stream_name'='s s' does not match [a-zA-Z0-9_.-]+", ""),
    (_record(stream_name="s" * 129), "InvalidLength",
     "field 'stream_name' has 129 characters, at most 128 allowed", ""),
    (_record(stream_name=..., stream_arn="arn:bad"), "InvalidPattern",
     "field 'stream_arn'='arn:bad' does not match arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+", ""),
    (_record(stream_name=..., stream_arn="a" * 2049), "InvalidLength",
     "field 'stream_arn' has 2049 characters, at most 2048 allowed", ""),
    (_record(partition_key=...), "MissingField", "field 'partition_key' is required", "s1"),
    (_record(partition_key=""), "InvalidLength",
     "field 'partition_key' must have at least 1 characters", "s1"),
    (_record(partition_key="k" * 257), "InvalidLength",
     "field 'partition_key' has 257 characters, at most 256 allowed", "s1"),
    (_record(explicit_hash_key=1.5), "InvalidType",
     "field 'explicit_hash_key' must be a decimal string or an int, got float", "s1"),
    (_record(explicit_hash_key=True), "InvalidType",
     "field 'explicit_hash_key' must be a decimal string or an int, got bool", "s1"),
    (_record(explicit_hash_key="01"), "InvalidValue",
     "field 'explicit_hash_key'='01' must be an integer from 0 to 2**128-1 in decimal", "s1"),
    (_record(explicit_hash_key=2 ** 128), "InvalidValue",
     "field 'explicit_hash_key'='340282366920938463463374607431768211456' must be an integer "
     "from 0 to 2**128-1 in decimal", "s1"),
    (_record(explicit_hash_key="-1"), "InvalidValue",
     "field 'explicit_hash_key'='-1' must be an integer from 0 to 2**128-1 in decimal", "s1"),
    (_record(explicit_hash_key="9" * 100), "InvalidValue",
     "field 'explicit_hash_key'='%s' must be an integer from 0 to 2**128-1 in decimal"
     % ("9" * 64), "s1"),
    (_record(data=b"x" * MIB), "PayloadTooLarge",
     "data plus partition key is 1048577 bytes, more than max_record_bytes=1048576", "s1"),
    (_record(data=...), "MissingField", "field 'data' is required", "s1"),
    (_record(data=5), "InvalidType",
     "field 'data' must be bytes, text, a dict or a list, got int", "s1"),
    (_record(colour=1), "UnknownField",
     "unknown field(s) colour; expected some of data, explicit_hash_key, partition_key, "
     "stream_arn, stream_name", ""),
]


@pytest.mark.parametrize("record, code, message, resource", _REFUSED)
def test_each_refusal_names_its_field_limit_and_value(record, code, message, resource):
    assert refusal(KinesisService(), record) == (code, message, resource)


def test_a_record_of_exactly_max_record_bytes_with_its_key_is_taken():
    item = KinesisService().item(_record(data=b"x" * (MIB - 1)))
    assert item.size == MIB


@pytest.mark.parametrize("hash_key", [0, "0", 2 ** 128 - 1, str(2 ** 128 - 1)])
def test_hash_keys_at_either_end_of_the_range_are_sent_as_decimal_text(hash_key):
    item = KinesisService().item(_record(explicit_hash_key=hash_key))
    assert item.payload["ExplicitHashKey"] == str(hash_key)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_record_bytes": 0}, "max_record_bytes must be a positive integer, got 0"),
    ({"max_request_bytes": "x"}, "max_request_bytes must be a positive integer, got 'x'"),
    ({"max_record_bytes": 10 * MIB + 1},
     "max_record_bytes must be at most 10485760 bytes (the PutRecords limit), got 10485761"),
    ({"max_request_bytes": 10 * MIB + 1},
     "max_request_bytes must be at most 10485760 bytes (the PutRecords limit), got 10485761"),
    ({"max_record_bytes": 2048, "max_request_bytes": 1024},
     "max_record_bytes (2048) must not exceed max_request_bytes (1024)"),
])
def test_a_refused_setting_is_named_with_its_value_and_limit(kwargs, message):
    with pytest.raises(ValueError) as raised:
        KinesisService(**kwargs)
    assert str(raised.value) == message


def test_the_largest_settings_are_taken():
    service = KinesisService(max_record_bytes=10 * MIB, max_request_bytes=10 * MIB)
    assert (service.max_record_bytes, service.limits.max_request_bytes) == (10 * MIB, 10 * MIB)


@pytest.mark.parametrize("response, found", [
    ({"Records": [{"SequenceNumber": "1", "ShardId": "s"}]}, 1),
    ({"Records": "nonsense"}, 0),
    ({}, 0),
])
def test_an_answer_without_one_result_per_record_says_how_many_it_held(response, found):
    service = KinesisService()
    items = [service.item(_record(data=b"%d" % n)) for n in range(2)]
    (request,) = pack(items, service.limits, service.entry_id)
    assert list(service.failures(request, response)) == [Unmatched(
        "ResultCountMismatch", "the response holds %d results for 2 records sent" % found,
        tuple(request.items))]
    assert list(service.confirmed(request, response)) == []


def test_a_refused_record_without_a_message_is_failed_with_its_code_and_no_text():
    service = KinesisService()
    (item,) = [service.item(_record())]
    (request,) = pack([item], service.limits, service.entry_id)
    response = {"Records": [{"ErrorCode": "ProvisionedThroughputExceededException"}]}
    assert list(service.failures(request, response)) == [
        Failure(item, "ProvisionedThroughputExceededException", "")]
