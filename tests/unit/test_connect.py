"""Connect data table records: validation, requests, packing, duplicates, error mapping."""

import json
import random

import botocore.session
import botocore.validate
import pytest

from beam_batchput.core.packing import pack
from beam_batchput.core.service import Failure, InvalidRecord, Unmatched
from beam_batchput.services.connect import (
    DEFAULT_MAX_VALUES_PER_REQUEST,
    DUPLICATE_VALUE_CODE,
    UNKNOWN_FAILURE_CODE,
    ConnectDataTableService,
)
from tests import fakes
from tests.model_checks import constraint_violations

MODEL = botocore.session.get_session().get_service_model("connect")
OPERATION = MODEL.operation_model("BatchCreateDataTableValue")
SHAPE = OPERATION.input_shape
INSTANCE = "a1b2c3d4-0000-4000-8000-000000000001"


def assert_valid_request(kwargs):
    """Passes botocore's own validation and the constraints it skips."""
    report = botocore.validate.ParamValidator().validate(kwargs, SHAPE)
    assert not report.has_errors(), report.generate_report()
    assert constraint_violations(kwargs, SHAPE) == []


def record(**fields):
    base = {"instance_id": INSTANCE, "data_table_id": "routing", "attribute_name": "priority",
            "value": "5", "primary_values": {"queue": "billing", "region": "eu"}}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def build(records, service=None):
    service = service or ConnectDataTableService()
    requests = pack([service.item(r) for r in records], service.limits, service.entry_id)
    return service, requests, [service.build_request(r.scope, r.entries) for r in requests]


BILLING_EU = [{"AttributeName": "queue", "Value": "billing"},
              {"AttributeName": "region", "Value": "eu"}]


@pytest.mark.parametrize("fields,value", [
    ({}, {"PrimaryValues": BILLING_EU, "AttributeName": "priority", "Value": "5"}),
    # A list of pairs, in any order, is the same record.
    ({"primary_values": [["region", "eu"], ("queue", "billing")]},
     {"PrimaryValues": BILLING_EU, "AttributeName": "priority", "Value": "5"}),
    # The default record of a table without primary attributes.
    ({"primary_values": ...}, {"AttributeName": "priority", "Value": "5"}),
    ({"primary_values": None}, {"AttributeName": "priority", "Value": "5"}),
    ({"primary_values": {}}, {"AttributeName": "priority", "Value": "5"}),
    ({"lock_version": {"Value": "3", "PrimaryValues": "7"}},
     {"PrimaryValues": BILLING_EU, "AttributeName": "priority", "Value": "5",
      "LockVersion": {"Value": "3", "PrimaryValues": "7"}}),
    ({"lock_version": {"data_table": "1", "attribute": 2, "value": None}},
     {"PrimaryValues": BILLING_EU, "AttributeName": "priority", "Value": "5",
      "LockVersion": {"DataTable": "1", "Attribute": "2"}}),
    ({"lock_version": None},
     {"PrimaryValues": BILLING_EU, "AttributeName": "priority", "Value": "5"}),
    ({"value": ""}, {"PrimaryValues": BILLING_EU, "AttributeName": "priority", "Value": ""}),
    # DataTableName allows Unicode letters, numbers, spaces and -_.:=@'|
    ({"attribute_name": "Priorität 2", "primary_values": {"queue:name=x@y'z|w-v_u.t": "東京"}},
     {"PrimaryValues": [{"AttributeName": "queue:name=x@y'z|w-v_u.t", "Value": "東京"}],
      "AttributeName": "Priorität 2", "Value": "5"}),
])
def test_a_record_becomes_one_value_of_one_request(fields, value):
    _, _, (kwargs,) = build([record(**fields)])
    assert kwargs == {"InstanceId": INSTANCE, "DataTableId": "routing", "Values": [value]}
    assert_valid_request(kwargs)


def test_item_names_its_table_record_and_attribute():
    item = ConnectDataTableService().item(record())
    assert item.item_id == "routing/queue=billing,region=eu/priority"
    assert item.resource == INSTANCE + "/routing"
    assert item.scope == (INSTANCE, "routing")
    assert item.group is None
    assert item.size == len(json.dumps(item.payload, separators=(",", ":")).encode())


def test_table_arns_with_a_version_alias_are_accepted():
    arn = "arn:aws:connect:us-east-1:123456789012:instance/%s/data-table/dt1:$LATEST" % INSTANCE
    _, _, (kwargs,) = build([record(data_table_id=arn)])
    assert kwargs["DataTableId"] == arn
    assert_valid_request(kwargs)


@pytest.mark.parametrize("fields,code", [
    ({"instance_id": ...}, "MissingField"),
    ({"data_table_id": ...}, "MissingField"),
    ({"attribute_name": ...}, "MissingField"),
    ({"value": ...}, "MissingField"),
    ({"extra": 1}, "UnknownField"),
    ({"instance_id": 7}, "InvalidType"),
    ({"instance_id": ""}, "InvalidLength"),
    ({"instance_id": "i" * 101}, "InvalidLength"),
    ({"instance_id": "i\n1"}, "InvalidCharacters"),
    ({"data_table_id": "t" * 257}, "InvalidLength"),
    ({"data_table_id": "routing\x00"}, "InvalidCharacters"),
    ({"attribute_name": 3}, "InvalidType"),
    ({"attribute_name": ""}, "InvalidLength"),
    ({"attribute_name": "a" * 128}, "InvalidLength"),
    ({"attribute_name": "a/b"}, "InvalidPattern"),
    ({"attribute_name": "a#b"}, "InvalidPattern"),
    ({"attribute_name": "tab\there"}, "InvalidPattern"),
    ({"value": 5}, "InvalidType"),
    ({"value": True}, "InvalidType"),
    ({"primary_values": "queue=billing"}, "InvalidType"),
    ({"primary_values": 5}, "InvalidType"),
    ({"primary_values": [["queue", "billing", "extra"]]}, "InvalidPrimaryValues"),
    ({"primary_values": ["queue"]}, "InvalidPrimaryValues"),
    ({"primary_values": [{"queue": "billing"}]}, "InvalidPrimaryValues"),
    ({"primary_values": [["queue", "a"], ["queue", "b"]]}, "InvalidPrimaryValues"),
    ({"primary_values": {"queue": 1}}, "InvalidType"),
    ({"primary_values": {"queue": None}}, "InvalidType"),
    ({"primary_values": {1: "a"}}, "InvalidType"),
    ({"primary_values": {"": "a"}}, "InvalidLength"),
    ({"primary_values": {"q" * 128: "a"}}, "InvalidLength"),
    ({"primary_values": {"que/ue": "a"}}, "InvalidPattern"),
    ({"lock_version": "3"}, "InvalidType"),
    ({"lock_version": {"Record": "3"}}, "InvalidValue"),
    ({"lock_version": {"Value": "3", "value": "4"}}, "InvalidValue"),
    ({"lock_version": {"Value": 1.5}}, "InvalidType"),
    ({"lock_version": {"Value": True}}, "InvalidType"),
])
def test_invalid_records_are_refused_with_a_specific_code(fields, code):
    with pytest.raises(InvalidRecord) as raised:
        ConnectDataTableService().item(record(**fields))
    assert raised.value.code == code


def test_refusals_name_the_table_once_it_is_known():
    with pytest.raises(InvalidRecord) as raised:
        ConnectDataTableService().item(record(attribute_name="a/b"))
    assert raised.value.resource == INSTANCE + "/routing"


def test_requests_validate_against_the_botocore_model():
    records = [record(data_table_id="t%d" % (n % 2), primary_values={"queue": "q%d" % n},
                      attribute_name=name, value=str(n), lock_version={"Value": str(n)})
               for n in range(30) for name in ("priority", "hours")]
    _, requests, calls = build(records)
    assert sum(len(c["Values"]) for c in calls) == 60
    for kwargs in calls:
        assert_valid_request(kwargs)


def test_the_helper_catches_what_botocore_does_not():
    kwargs = {"InstanceId": "i" * 101, "DataTableId": "t",
              "Values": [{"AttributeName": "a/b", "Value": "v"}]}
    assert not botocore.validate.ParamValidator().validate(kwargs, SHAPE).has_errors()
    assert len(constraint_violations(kwargs, SHAPE)) == 2


def test_requests_hold_one_table_and_at_most_the_configured_values():
    records = [record(data_table_id="t%d" % (n % 3), primary_values={"queue": "q%d" % n})
               for n in range(100)]
    for service, most in ((None, DEFAULT_MAX_VALUES_PER_REQUEST),
                          (ConnectDataTableService(max_values_per_request=7), 7)):
        _, requests, calls = build(records, service)
        assert all(len(c["Values"]) <= most for c in calls)
        assert all(len({i.scope for i in r.items}) == 1 for r in requests)
        assert sorted(i.item_id for r in requests for i in r.items) == sorted(
            ConnectDataTableService().item(r).item_id for r in records)
        per_table = {}
        for kwargs in calls:
            per_table[kwargs["DataTableId"]] = per_table.get(kwargs["DataTableId"], 0) + 1
        assert per_table == {t: -(-34 // most) if t == "t0" else -(-33 // most)
                             for t in ("t0", "t1", "t2")}


def test_packing_is_deterministic_under_shuffling():
    records = [record(data_table_id="t%d" % (n % 2), primary_values={"queue": "q%d" % n},
                      value=str(n)) for n in range(60)]
    _, _, first = build(records)
    for seed in range(5):
        shuffled = list(records)
        random.Random(seed).shuffle(shuffled)
        assert build(shuffled)[2] == first


@pytest.mark.parametrize("value", [25, 1, 1000])
def test_limits_follow_the_constructor(value):
    limits = ConnectDataTableService(max_values_per_request=value).limits
    assert (limits.max_entries, limits.max_values_per_entry, limits.max_request_bytes) == (
        value, 1, None)


def test_the_default_is_documented_and_per_instance():
    assert ConnectDataTableService().limits.max_entries == DEFAULT_MAX_VALUES_PER_REQUEST == 25
    ConnectDataTableService(max_values_per_request=3)
    assert ConnectDataTableService.limits.max_entries == DEFAULT_MAX_VALUES_PER_REQUEST


@pytest.mark.parametrize("value", [0, -1, 2.5, "25", True, None])
def test_bad_configuration_names_the_parameter(value):
    with pytest.raises(ValueError, match="max_values_per_request"):
        ConnectDataTableService(max_values_per_request=value)


# The response names values by (primary values, attribute name), in any order.

def failed(primary, attribute, message):
    return {"PrimaryValues": [{"AttributeName": n, "Value": v} for n, v in primary],
            "AttributeName": attribute, "Message": message}


def test_failed_values_map_back_to_exactly_their_records():
    records = [record(primary_values={"queue": q, "region": r}, attribute_name=a)
               for q in ("billing", "sales") for r in ("eu", "us") for a in ("priority", "hours")]
    service, (request,), (kwargs,) = build(records)
    response = {"Successful": [], "Failed": [
        failed([("region", "us"), ("queue", "sales")], "hours",
               "ThrottlingException: Rate exceeded; retry the value."),
        failed([("queue", "billing"), ("region", "eu")], "priority",
               "Value 'high' is not a valid NUMBER."),
        failed([("queue", "nobody")], "priority", "Not in the request."),
    ]}
    outcomes = list(service.failures(request, response))
    found = {f.item.item_id: (f.code, f.message) for f in outcomes if isinstance(f, Failure)}
    assert found == {
        "routing/queue=sales,region=us/hours": (
            "ThrottlingException", "ThrottlingException: Rate exceeded; retry the value."),
        "routing/queue=billing,region=eu/priority": (
            UNKNOWN_FAILURE_CODE, "Value 'high' is not a valid NUMBER."),
    }
    # The Failed entry naming no value sent is kept, with every value it could be.
    (unplaced,) = [f for f in outcomes if isinstance(f, Unmatched)]
    assert "nobody" in unplaced.message
    assert {item.item_id for item in unplaced.candidates} == {
        item.item_id for item in request.items}


def test_a_default_record_failure_matches_a_value_without_primary_values():
    service, (request,), _ = build([record(primary_values=...), record()])
    response = {"Successful": [], "Failed": [failed([], "priority", "Internal error")]}
    (failure,) = service.failures(request, response)
    assert failure.item.item_id == "routing//priority"
    assert failure.code == "InternalServiceException"


def test_a_response_without_failures_yields_no_errors():
    service, (request,), _ = build([record(), record(attribute_name="hours")])
    assert list(service.failures(request, {"Successful": [], "Failed": []})) == []
    assert list(service.failures(request, {})) == []


@pytest.mark.parametrize("message,code,retryable", [
    # Messages that lead with an exception name (as the emulator writes them).
    ("ThrottlingException: Rate exceeded; retry the value.", "ThrottlingException", True),
    ("InternalServiceException: The value could not be written; retry.",
     "InternalServiceException", True),
    ("InvalidRequestException: The value failed validation.", "InvalidRequestException", False),
    ("AccessDeniedException: Not authorized to write this value.", "AccessDeniedException",
     False),
    ("ConflictException: A different value exists.", "ConflictException", False),
    # Messages that only say what happened.
    ("Rate exceeded", "ThrottlingException", True),
    ("Request was throttled, try again later", "ThrottlingException", True),
    ("An internal error occurred", "InternalServiceException", True),
    ("Internal service failure", "InternalServiceException", True),
    ("InternalError: try again", "InternalServiceException", True),
    ("internal server error", "InternalServiceException", True),
    ("InternalServerError", "InternalServiceException", True),
    ("The service is temporarily unavailable", "ServiceUnavailableException", True),
    ("Value does not satisfy the validation rule MaxLength", UNKNOWN_FAILURE_CODE, False),
    ("Primary values do not match the table's primary attributes", UNKNOWN_FAILURE_CODE, False),
    ("", UNKNOWN_FAILURE_CODE, False),
])
def test_failed_messages_give_a_code_and_its_retry_class(message, code, retryable):
    service, (request,), _ = build([record()])
    response = {"Failed": [failed([("queue", "billing"), ("region", "eu")], "priority",
                                  message)]}
    (failure,) = service.failures(request, response)
    assert (failure.code, service.is_retryable(failure.code)) == (code, retryable)


# Two records for one value (same primary values and attribute) never share a request.

def test_identical_records_are_sent_once_and_share_the_outcome():
    service, (request,), (kwargs,) = build([record(), record(), record(attribute_name="hours")])
    assert len(request.items) == 3
    assert [v["AttributeName"] for v in kwargs["Values"]] == ["hours", "priority"]
    assert list(service.failures(request, {"Successful": [], "Failed": []})) == []
    response = {"Failed": [failed([("queue", "billing"), ("region", "eu")], "priority",
                                  "Rate exceeded")]}
    failures = list(service.failures(request, response))
    assert [(f.item.payload["AttributeName"], f.code) for f in failures] == [
        ("priority", "ThrottlingException")] * 2
    assert failures[0].item is not failures[1].item


def test_a_different_value_for_the_same_cell_fails_without_being_sent():
    records = [record(value="5"), record(value="7", primary_values=[["region", "eu"],
                                                                    ["queue", "billing"]])]
    outcomes = set()
    for order in (records, records[::-1]):
        service, (request,), (kwargs,) = build(order)
        assert len(kwargs["Values"]) == 1
        (failure,) = service.failures(request, {"Successful": [], "Failed": []})
        assert failure.code == DUPLICATE_VALUE_CODE
        assert not service.is_retryable(failure.code)
        assert failure.item.payload["Value"] != kwargs["Values"][0]["Value"]
        outcomes.add((kwargs["Values"][0]["Value"], failure.item.payload["Value"]))
    assert outcomes == {("5", "7")}  # the same one is sent, whatever the arrival order


def test_a_different_lock_version_is_a_different_record():
    service, (request,), (kwargs,) = build([record(), record(lock_version={"Value": "2"})])
    assert len(kwargs["Values"]) == 1
    (failure,) = service.failures(request, {"Failed": []})
    assert failure.code == DUPLICATE_VALUE_CODE


def test_records_for_one_value_share_a_shard():
    service = ConnectDataTableService()
    same = {service.shard_key(service.item(r)) for r in (
        record(value="1"), record(value="2"),
        record(primary_values=[["region", "eu"], ["queue", "billing"]]))}
    assert len(same) == 1
    assert service.shard_key(service.item(record(attribute_name="hours"))) not in same


# Whole-request errors, classified by the core from the service's table.

@pytest.mark.parametrize("code,retryable", [
    ("ThrottlingException", True), ("InternalServiceException", True),
    ("ServiceUnavailableException", True),
    ("InvalidRequestException", False), ("InvalidParameterException", False),
    ("AccessDeniedException", False), ("ResourceNotFoundException", False),
    ("ConflictException", False), ("DuplicateResourceException", False),
    ("ServiceQuotaExceededException", False), (DUPLICATE_VALUE_CODE, False),
    (UNKNOWN_FAILURE_CODE, False),
])
def test_retry_table(code, retryable):
    assert ConnectDataTableService().is_retryable(code) is retryable


def test_every_modelled_error_is_classified():
    service = ConnectDataTableService()
    modelled = {shape.name for shape in OPERATION.error_shapes}
    assert {code for code in modelled if service.is_retryable(code)} == {
        "ThrottlingException", "InternalServiceException"}
    assert service.is_throttling("ThrottlingException")


def test_service_names_its_operation():
    service = ConnectDataTableService()
    assert (service.name, service.operation, service.method) == (
        "connect", "BatchCreateDataTableValue", "batch_create_data_table_value")
    assert OPERATION.name == service.operation


def test_botocore_puts_the_table_in_the_path_and_the_values_in_the_body():
    """A real client, answered in its before-send hook: nothing leaves the process."""
    _, _, (kwargs,) = build([record(data_table_id="routing table")])
    client = botocore.session.get_session().create_client(
        "connect", region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test")
    sent = fakes.answer_in_process(client, 200, b'{"Successful": [], "Failed": []}')
    response = client.batch_create_data_table_value(**kwargs)
    assert response["Failed"] == []
    assert sent[0].url.endswith("/data-tables/%s/routing%%20table/values/create" % INSTANCE)
    assert json.loads(sent[0].body) == {"Values": kwargs["Values"]}
