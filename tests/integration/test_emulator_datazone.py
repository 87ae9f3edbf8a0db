"""Amazon DataZone over HTTP: PostTimeSeriesDataPoints and ListTimeSeriesDataPoints."""

from __future__ import annotations

import datetime
import json

import pytest
from botocore.exceptions import ClientError

from beam_batchput.emulator import FaultConfig

DOMAIN, ASSET = "dzd_abc123", "asset01"
MOMENT = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
CONFIG = {"datazone": {"domains": {DOMAIN: {"entities": {ASSET: "ASSET",
                                                         "listing01": "LISTING"}}}}}


def form(name="quality", score=0.9, moment=MOMENT):
    return {"formName": name, "typeIdentifier": "amazon.datazone.DataQualityResultFormType",
            "timestamp": moment, "content": json.dumps({"passingPercentage": score})}


@pytest.fixture
def datazone(emulator_factory, aws_client):
    def build(**kwargs):
        emulator = emulator_factory(**kwargs)
        return emulator, aws_client("datazone", emulator.endpoint_url)
    return build


def post(client, forms, **overrides):
    kwargs = dict(domainIdentifier=DOMAIN, entityIdentifier=ASSET, entityType="ASSET",
                  forms=forms)
    kwargs.update(overrides)
    return client.post_time_series_data_points(**kwargs)


def error_code(raised):
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"][
        "HTTPStatusCode"]


def test_posted_forms_are_echoed_with_ids_201_and_listed_back(datazone):
    emulator, client = datazone(config=CONFIG)
    answer = post(client, [form(score=0.5), form(score=0.7, moment=MOMENT.replace(hour=13))])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (answer["domainId"], answer["entityId"], answer["entityType"]) == (DOMAIN, ASSET,
                                                                             "ASSET")
    assert all(f["id"] for f in answer["forms"])
    assert answer["forms"][0]["timestamp"] == MOMENT
    items = client.list_time_series_data_points(domainIdentifier=DOMAIN, entityIdentifier=ASSET,
                                                entityType="ASSET", formName="quality")["items"]
    assert [json.loads(i["contentSummary"])["passingPercentage"] for i in items] == [0.5, 0.7]
    assert [i["id"] for i in items] == [f["id"] for f in answer["forms"]]
    assert len(emulator.snapshot()["datazone"]["dataPoints"]["%s/ASSET/%s" % (DOMAIN, ASSET)]) == 2


def test_same_client_token_returns_the_first_answer_without_writing_twice(datazone):
    emulator, client = datazone()
    first = post(client, [form()], clientToken="batch-0001")
    again = post(client, [form()], clientToken="batch-0001")
    assert again["forms"] == first["forms"]
    assert len(emulator.snapshot()["datazone"]["dataPoints"]["%s/ASSET/%s" % (DOMAIN, ASSET)]) == 1
    post(client, [form()], clientToken="batch-0002")
    assert len(emulator.snapshot()["datazone"]["dataPoints"]["%s/ASSET/%s" % (DOMAIN, ASSET)]) == 2


def test_a_client_token_reused_with_other_forms_is_a_conflict(datazone):
    _, client = datazone()
    post(client, [form(score=0.1)], clientToken="batch-0001")
    with pytest.raises(ClientError) as raised:
        post(client, [form(score=0.2)], clientToken="batch-0001")
    assert error_code(raised) == ("ConflictException", 409)


@pytest.mark.parametrize("overrides", [
    pytest.param({"domainIdentifier": "dzd_other"}, id="unknown domain"),
    pytest.param({"entityIdentifier": "asset99"}, id="unknown entity"),
    pytest.param({"entityIdentifier": "listing01"}, id="wrong entity type"),
])
def test_with_a_config_unknown_resources_fail_whole_with_not_found(datazone, overrides):
    emulator, client = datazone(config=CONFIG)
    with pytest.raises(ClientError) as raised:
        post(client, [form()], **overrides)
    assert error_code(raised) == ("ResourceNotFoundException", 404)
    assert not any(emulator.snapshot()["datazone"].values())


@pytest.mark.parametrize("forms, overrides", [
    pytest.param([form()], {"domainIdentifier": "abc"}, id="domain pattern"),
    pytest.param([dict(form(), content="x" * 500_001)], {}, id="content over 500000"),
    pytest.param([dict(form(), content="not json")], {}, id="content not JSON"),
    pytest.param([dict(form(), typeIdentifier=".starts.with.dot")], {}, id="type pattern"),
    pytest.param([form()], {"clientToken": "has space"}, id="clientToken pattern"),
])
def test_invalid_requests_fail_whole_with_validation_exception(datazone, forms, overrides):
    _, client = datazone()
    with pytest.raises(ClientError) as raised:
        post(client, forms, **overrides)
    assert error_code(raised) == ("ValidationException", 400)


def test_per_entry_fault_rates_are_refused_for_datazone(emulator):
    with pytest.raises(ValueError, match="datazone"):
        emulator.set_faults("datazone", FaultConfig(entry_retryable_error_rate=0.5))
