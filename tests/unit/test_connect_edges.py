"""Connect: the read-back (ListDataTableValues) requests, checked against the botocore model and
followed over pages."""

import botocore.session
import botocore.validate
import pytest

from beam_batchput.core.service import InvalidRecord
from beam_batchput.services.connect import ConnectDataTableService

from tests.unit.test_connect import build, record

LIST_VALUES = botocore.session.get_session().get_service_model("connect").operation_model(
    "ListDataTableValues").input_shape


class PagedValues:
    """Answers ListDataTableValues in two pages; the record's value is on the second."""

    def __init__(self, value):
        self.requests = []
        self._value = value

    def list_data_table_values(self, **kwargs):
        self.requests.append(kwargs)
        if len(self.requests) == 1:
            return {"Values": [], "NextToken": "page-2"}
        return {"Values": [self._value]}


def test_the_read_back_follows_the_next_token_with_valid_requests():
    service, (request,), (kwargs,) = build([record()])
    (sent,) = kwargs["Values"]
    client = PagedValues(dict(sent))
    assert [held for _, held in service.held(client, request.items)] == [True]
    for asked in client.requests:
        report = botocore.validate.ParamValidator().validate(asked, LIST_VALUES)
        assert not report.has_errors(), report.generate_report()
    first, second = client.requests
    assert first["PrimaryAttributeValues"] == [
        {"AttributeName": "queue", "Values": ["billing"]},
        {"AttributeName": "region", "Values": ["eu"]}]
    assert "NextToken" not in first and second == dict(first, NextToken="page-2")


def test_an_attribute_name_of_127_characters_is_accepted_and_of_128_refused():
    # AttributeName: 1-127 characters.
    service = ConnectDataTableService()
    assert service.item(record(attribute_name="a" * 127)).payload["AttributeName"] == "a" * 127
    with pytest.raises(InvalidRecord) as raised:
        service.item(record(attribute_name="a" * 128))
    assert raised.value.code == "InvalidLength"
    assert service.item(record(primary_values={"q" * 127: "billing"}))


def test_a_successful_value_the_request_did_not_carry_confirms_nothing():
    service, (request,), (kwargs,) = build([record()])
    (sent,) = kwargs["Values"]
    stranger = dict(sent, AttributeName="other")
    assert list(service.confirmed(request, {"Successful": [stranger, sent]})) == list(
        request.items)
