"""DataZone records: validation, payloads, packing, client tokens (cases from the API reference)."""

import datetime
import json
import random
import re

import botocore.session
import pytest

from beam_batchput.core.packing import pack
from beam_batchput.core.service import InvalidRecord
from beam_batchput.services.datazone import DEFAULT_MAX_REQUEST_BYTES, DataZoneService
from tests import fakes
from tests.unit.test_twinmaker import assert_valid_request

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
MODEL = botocore.session.get_session().get_service_model("datazone")
SHAPE = MODEL.operation_model("PostTimeSeriesDataPoints").input_shape
QUALITY = "amazon.datazone.DataQualityResultFormType"
RESULT = {"passingPercentage": 100.0, "evaluationsCount": 1,
          "evaluations": [{"types": ["Completeness"], "description": "ColumnLength",
                           "status": "PASS"}]}


def record(**fields):
    base = {"domain_id": "dzd_4p9n6sw4qt9xgn", "entity_type": "ASSET",
            "entity_id": "57kbr2qq9q3bw7", "form_name": "quality", "type_identifier": QUALITY,
            "timestamp": NOW, "content": json.dumps(RESULT)}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def test_a_record_becomes_one_form():
    item = DataZoneService().item(record(type_revision="3"))
    assert item.payload == {"formName": "quality", "typeIdentifier": QUALITY,
                            "typeRevision": "3", "timestamp": NOW,
                            "content": json.dumps(RESULT)}
    assert item.scope == ("dzd_4p9n6sw4qt9xgn", "ASSET", "57kbr2qq9q3bw7")
    assert item.group is None
    assert item.item_id == (
        "dzd_4p9n6sw4qt9xgn/ASSET/57kbr2qq9q3bw7/quality@2023-11-14T22:13:20.000Z")
    assert item.resource == "dzd_4p9n6sw4qt9xgn/ASSET/57kbr2qq9q3bw7/quality"
    assert item.size == len(json.dumps(item.payload, sort_keys=True, separators=(",", ":")))


@pytest.mark.parametrize("content,sent", [
    ('{"b": 1, "a": 2}', '{"b": 1, "a": 2}'),  # text goes as given
    ({"b": 1, "a": [1.5, None]}, '{"a":[1.5,null],"b":1}'),  # compact, keys sorted
    ([1, "x"], '[1,"x"]'),
    ({"name": "prüfung"}, '{"name":"prüfung"}'),
    (json.dumps("x" * 499_998), json.dumps("x" * 499_998)),  # 500,000 chars
])
def test_content_is_sent_as_json_text(content, sent):
    assert DataZoneService().item(record(content=content)).payload["content"] == sent


def test_content_is_optional_as_in_the_model():
    assert "content" not in DataZoneService().item(record(content=...)).payload
    assert "content" not in DataZoneService().item(record(content=None)).payload


@pytest.mark.parametrize("timestamp,seconds,stamp", [
    (NOW, NOW, "2023-11-14T22:13:20.000Z"),
    (NOW + 0.25, NOW + 0.25, "2023-11-14T22:13:20.250Z"),
    (NOW + 0.0019, NOW + 0.002, "2023-11-14T22:13:20.002Z"),  # rounded to milliseconds
    (NOW + 0.001, NOW + 0.001, "2023-11-14T22:13:20.001Z"),  # despite float noise
    (datetime.datetime(2023, 11, 15, 0, 13, 20, 500000,
                       tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     NOW + 0.5, "2023-11-14T22:13:20.500Z"),
    ("2023-11-14T22:13:20Z", NOW, "2023-11-14T22:13:20.000Z"),
])
def test_timestamps_travel_as_epoch_seconds_in_milliseconds(timestamp, seconds, stamp):
    item = DataZoneService().item(record(timestamp=timestamp))
    assert item.payload["timestamp"] == seconds
    assert item.item_id.endswith("@" + stamp)


@pytest.mark.parametrize("fields,code", [
    ({"domain_id": ...}, "MissingField"),
    ({"entity_type": ...}, "MissingField"),
    ({"entity_id": ...}, "MissingField"),
    ({"form_name": ...}, "MissingField"),
    ({"type_identifier": ...}, "MissingField"),
    ({"timestamp": ...}, "MissingField"),
    ({"extra": 1}, "UnknownField"),
    ({"domain_id": "4p9n6sw4qt9xgn"}, "InvalidPattern"),
    ({"domain_id": "dzd_" + "a" * 37}, "InvalidPattern"),
    ({"domain_id": "dzd_a.b"}, "InvalidPattern"),
    ({"domain_id": 7}, "InvalidType"),
    ({"entity_type": "asset"}, "InvalidValue"),
    ({"entity_type": "GLOSSARY"}, "InvalidValue"),
    ({"entity_id": "e" * 37}, "InvalidPattern"),
    ({"entity_id": "a/b"}, "InvalidPattern"),
    ({"entity_id": ""}, "InvalidLength"),
    ({"form_name": ""}, "InvalidLength"),
    ({"form_name": "f" * 129}, "InvalidLength"),
    ({"form_name": "line\nbreak"}, "InvalidCharacters"),
    ({"type_identifier": ".amazon"}, "InvalidPattern"),
    ({"type_identifier": "amazon."}, "InvalidPattern"),
    ({"type_identifier": "amazon-datazone"}, "InvalidPattern"),
    ({"type_identifier": "ämazon"}, "InvalidPattern"),
    ({"type_identifier": "a" * 386}, "InvalidLength"),
    ({"type_revision": ""}, "InvalidLength"),
    ({"type_revision": "r" * 65}, "InvalidLength"),
    ({"type_revision": 3}, "InvalidType"),
    ({"content": "not json"}, "InvalidJson"),
    ({"content": ""}, "InvalidJson"),
    ({"content": {"x": float("nan")}}, "InvalidJson"),
    ({"content": {"x": object()}}, "InvalidJson"),
    ({"content": 5}, "InvalidType"),
    ({"content": b"{}"}, "InvalidType"),
    ({"content": json.dumps("x" * 499_999)}, "InvalidLength"),
    ({"content": {"x": "y" * 500_000}}, "InvalidLength"),
    ({"timestamp": datetime.datetime(2023, 11, 14)}, "InvalidTimestamp"),
    ({"timestamp": "yesterday"}, "InvalidTimestamp"),
    ({"timestamp": 3e11}, "InvalidTimestamp"),  # after the year 9999
    ({"timestamp": True}, "InvalidType"),
])
def test_invalid_records_are_refused_with_a_specific_code(fields, code):
    with pytest.raises(InvalidRecord) as raised:
        DataZoneService().item(record(**fields))
    assert raised.value.code == code


def build(records, service=None):
    service = service or DataZoneService()
    items = [service.item(r) for r in records]
    requests = pack(items, service.limits, service.entry_id)
    return service, requests, [service.build_request(r.scope, r.entries) for r in requests]


def test_requests_validate_against_the_botocore_model():
    records = [record(form_name="f%d" % n, timestamp=NOW + n / 10, type_revision=str(n))
               for n in range(4)] + [record(entity_type="LISTING", content=...)]
    _, _, requests = build(records, DataZoneService(max_forms_per_request=10))
    assert len(requests) == 2
    for kwargs in requests:
        assert_valid_request(kwargs, SHAPE)
        assert re.fullmatch(r"[\x21-\x7E]{1,128}", kwargs["clientToken"])
    asset = next(r for r in requests if r["entityType"] == "ASSET")
    assert (asset["domainIdentifier"], asset["entityIdentifier"]) == (
        "dzd_4p9n6sw4qt9xgn", "57kbr2qq9q3bw7")
    assert [f["formName"] for f in asset["forms"]] == ["f0", "f1", "f2", "f3"]


def test_requests_hold_one_entity_and_at_most_the_configured_forms():
    records = [record(entity_id="entity_%d" % (n % 3), form_name="f%d" % n, timestamp=NOW + n)
               for n in range(65)]
    _, requests, requests_kwargs = build(records, DataZoneService(max_forms_per_request=10))
    assert sum(len(r.items) for r in requests) == 65
    assert len(requests) == 9  # 22, 22, 21 forms: 3 requests per entity
    for request, kwargs in zip(requests, requests_kwargs):
        assert len(kwargs["forms"]) <= 10
        assert {item.scope for item in request.items} == {request.scope}
        assert sum(item.size for item in request.items) <= DEFAULT_MAX_REQUEST_BYTES


def test_the_byte_budget_splits_large_forms():
    big = {"blob": "x" * 400_000}
    records = [record(form_name="f%d" % n, content=big) for n in range(5)]
    _, requests, _ = build(records, DataZoneService(max_forms_per_request=10))
    assert [len(r.items) for r in requests] == [2, 2, 1]
    for request in requests:
        assert sum(item.size for item in request.items) <= DEFAULT_MAX_REQUEST_BYTES


def test_a_form_over_the_byte_budget_still_goes_alone():
    service = DataZoneService(max_forms_per_request=10, max_request_bytes=100)
    _, requests, _ = build([record(form_name="a"), record(form_name="b")], service)
    assert [len(r.items) for r in requests] == [1, 1]


def test_packing_and_client_tokens_are_deterministic_under_shuffling():
    records = [record(entity_id="entity_%d" % (n % 2), form_name="f%d" % (n % 5),
                      timestamp=NOW + n) for n in range(40)]
    _, _, first = build(records)
    for seed in range(5):
        shuffled = list(records)
        random.Random(seed).shuffle(shuffled)
        assert build(shuffled)[2] == first
    assert len({kwargs["clientToken"] for kwargs in first}) == len(first)


@pytest.mark.parametrize("change", [
    {"content": json.dumps({"passingPercentage": 99.0})},
    {"timestamp": NOW + 0.001},
    {"form_name": "other"},
    {"type_revision": "2"},
    {"entity_id": "another_entity"},
    {"entity_type": "LISTING"},
    {"domain_id": "dzd_other"},
])
def test_the_client_token_changes_with_any_content(change):
    (_, _, (same,)), (_, _, (changed,)) = build([record()]), build([record(**change)])
    assert same["clientToken"] == build([record()])[2][0]["clientToken"]
    assert changed["clientToken"] != same["clientToken"]


@pytest.mark.parametrize("forms,budget", [(1, None), (3, 5000), (50, 10 * 1024 * 1024)])
def test_limits_follow_the_constructor(forms, budget):
    service = DataZoneService(max_forms_per_request=forms, max_request_bytes=budget)
    assert (service.limits.max_entries, service.limits.max_values_per_entry,
            service.limits.max_request_bytes) == (forms, 1, budget)
    _, requests, _ = build([record(form_name="f%d" % n) for n in range(7)], service)
    assert all(len(r.items) <= forms for r in requests)
    assert DataZoneService().limits.max_entries == 1


def test_by_default_each_form_has_its_own_client_token_whatever_it_is_packed_with():
    # A replay after a restore packs records differently; DataZone recognises only the
    # clientToken, so by default a form is sent alone and its token depends on it only.
    forms = [record(form_name="f%d" % n, timestamp=NOW + n) for n in range(4)]
    first, second = build(forms[:3])[2], build(forms[1:])[2]
    assert [len(kw["forms"]) for kw in first + second] == [1] * 6
    tokens = {kw["forms"][0]["formName"]: kw["clientToken"] for kw in first}
    assert len(set(tokens.values())) == 3
    again = {kw["forms"][0]["formName"]: kw["clientToken"] for kw in second}
    assert (again["f1"], again["f2"]) == (tokens["f1"], tokens["f2"])
    assert again["f3"] not in tokens.values()
    # Several forms a request: the token is the request's, so another packing changes it.
    batched = DataZoneService(max_forms_per_request=10)
    together, apart = build(forms[:2], batched)[2], build(forms[1:2], batched)[2]
    assert together[0]["clientToken"] != apart[0]["clientToken"]


@pytest.mark.parametrize("kwargs,name", [
    ({"max_forms_per_request": 0}, "max_forms_per_request"),
    ({"max_forms_per_request": -1}, "max_forms_per_request"),
    ({"max_forms_per_request": 2.5}, "max_forms_per_request"),
    ({"max_forms_per_request": "10"}, "max_forms_per_request"),
    ({"max_forms_per_request": True}, "max_forms_per_request"),
    ({"max_forms_per_request": None}, "max_forms_per_request"),
    ({"max_request_bytes": 0}, "max_request_bytes"),
    ({"max_request_bytes": 1e6}, "max_request_bytes"),
])
def test_bad_configuration_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DataZoneService(**kwargs)


def test_a_created_response_has_no_failures():
    service, (request,), (kwargs,) = build([record(form_name="a"), record(form_name="b")],
                                           DataZoneService(max_forms_per_request=10))
    response = {"ResponseMetadata": {"HTTPStatusCode": 201}, "domainId": kwargs["domainIdentifier"],
                "entityId": kwargs["entityIdentifier"], "entityType": "ASSET",
                "forms": [dict(form, id="dp%d" % n) for n, form in enumerate(kwargs["forms"])]}
    assert list(service.failures(request, response)) == []


def test_one_entitys_forms_share_a_shard():
    service = DataZoneService()
    keys = {service.shard_key(service.item(record(form_name="f%d" % n, timestamp=NOW + n)))
            for n in range(20)}
    assert len(keys) == 1
    assert service.shard_key(service.item(record(entity_id="other"))) not in keys


@pytest.mark.parametrize("code,retryable", [
    ("ThrottlingException", True), ("InternalServerException", True),
    ("ServiceQuotaExceededException", False), ("ValidationException", False),
    ("UnauthorizedException", False), ("AccessDeniedException", False),
    ("ResourceNotFoundException", False), ("ConflictException", False),
])
def test_retry_table(code, retryable):
    assert DataZoneService().is_retryable(code) is retryable


def test_every_modelled_error_is_classified():
    operation = MODEL.operation_model("PostTimeSeriesDataPoints")
    modelled = {shape.name for shape in operation.error_shapes}
    service = DataZoneService()
    assert {code for code in modelled if service.is_retryable(code)} == {
        "ThrottlingException", "InternalServerException"}
    assert service.is_throttling("ThrottlingException")


def test_service_names_its_operation():
    service = DataZoneService()
    assert (service.name, service.operation, service.method) == (
        "datazone", "PostTimeSeriesDataPoints", "post_time_series_data_points")


def test_botocore_sends_our_client_token_and_millisecond_timestamps():
    """A real client, answered in its before-send hook: nothing leaves the process."""
    _, _, (kwargs,) = build([record(timestamp=NOW + 0.25)])
    client = botocore.session.get_session().create_client(
        "datazone", region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test")
    sent = fakes.answer_in_process(client, 201, b"{}")
    client.post_time_series_data_points(**kwargs)
    client.post_time_series_data_points(**kwargs)
    bodies = [json.loads(request.body) for request in sent]
    assert [b["clientToken"] for b in bodies] == [kwargs["clientToken"]] * 2  # no fresh UUID
    assert bodies[0]["forms"][0]["timestamp"] == NOW + 0.25
    assert sent[0].url.endswith(
        "/v2/domains/dzd_4p9n6sw4qt9xgn/entities/ASSET/57kbr2qq9q3bw7/time-series-data-points")
